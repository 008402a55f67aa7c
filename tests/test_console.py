"""The console chat room, through a StringTransport standing in for stdio."""

from twisted.application.service import MultiService
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import handler
from pubbot.console import MAX_LINE, ConsoleService
from pubbot.core.interfaces import IChatService
from pubbot.plugins import core, education, fun, karma
from pubbot.testing import Harness
from pubbot.version import __version__
from pubbot.web.service import WebService


class ConsoleTests(SynchronousTestCase):
    def setUp(self):
        self.harness = Harness(core.ping, network="console-fake")
        self.bot = self.harness.bot
        self.transport = StringTransport()
        self.ended = []
        self.service = ConsoleService(self.bot, self.connect, lambda: self.ended.append(True),
                                      show_banner=False)
        self.service.startService()

    def connect(self, protocol):
        protocol.makeConnection(self.transport)
        self.protocol = protocol
        return self.transport

    def output(self):
        return self.transport.value().decode("utf-8")

    def test_provides_chat_service(self):
        self.assertTrue(verifyObject(IChatService, self.service))

    def test_input_pauses_while_the_bot_holds_it(self):
        self.bot.hold_input("brain")
        self.assertEqual(self.transport.producerState, "paused")
        self.bot.release_input("brain")
        self.assertEqual(self.transport.producerState, "producing")
        self.bot.hold_input("brain")
        late = ConsoleService(self.bot, self.connect, lambda: None, show_banner=False)
        self.transport = StringTransport()
        late.startService()  # registered, then its stdio made: paused from the start
        self.assertEqual(self.transport.producerState, "paused")

    def test_line_gets_reply(self):
        self.protocol.dataReceived(b"!ping\n")
        self.assertEqual(self.output(), "<pubbot> pong\n")

    def test_topic_and_fields(self):
        seen = []

        @handler(subscribe=["chat.console.#console.chat"])
        def spy(msg):
            seen.append(msg)
        self.bot.add_handler(spy)
        self.protocol.dataReceived(b"hello\r\n")
        self.assertEqual(seen[0].source, "you")
        self.assertEqual(seen[0].channel, "#console")
        self.assertEqual(seen[0].content, "hello")

    def test_notice_action_and_other_target(self):
        self.service.send("#console", "a\nb", "notice")
        self.service.send("#console", "waves", "action")
        self.service.send("#elsewhere", "hi")
        self.assertEqual(self.output(), "-pubbot- a\n-pubbot- b\n* pubbot waves\n[#elsewhere] <pubbot> hi\n")

    def test_control_characters_not_printed(self):
        self.service.send("#console", "evil\x1b[2Jclear\x07")
        self.assertEqual(self.output(), "<pubbot> evil[2Jclear\n")

    def test_bad_utf8_and_nul(self):
        seen = []
        self.bot.add_handler(handler(subscribe=["chat.#"])(lambda m: seen.append(m.content)))
        self.protocol.dataReceived(b"caf\xe9 \x00ok\n")
        self.assertEqual(seen, ["caf\ufffd ok"])

    def test_oversized_line_cut_not_fatal(self):
        seen = []
        self.bot.add_handler(handler(subscribe=["chat.#"])(lambda m: seen.append(len(m.content))))
        self.protocol.dataReceived(b"x" * (MAX_LINE * 3))
        self.protocol.dataReceived(b"rest-of-long-line\n!ping\n")
        self.assertEqual(seen, [MAX_LINE, len("!ping")])
        self.assertIn("<pubbot> pong", self.output())

    def test_end_of_input_waits_for_pending_replies(self):
        waiting = Deferred()
        self.bot.add_handler(handler(subscribe=["chat.#"])(lambda m: waiting))
        self.protocol.dataReceived(b"slow\n")
        self.protocol.readConnectionLost()
        self.assertEqual(self.ended, [])
        waiting.callback({"content": "done"})
        self.assertEqual(self.ended, [True])
        self.assertIn("<pubbot> done", self.output())

    def test_last_line_without_newline(self):
        self.protocol.dataReceived(b"!ping")
        self.protocol.readConnectionLost()
        self.assertEqual(self.output(), "<pubbot> pong\n")
        self.assertEqual(self.ended, [True])


class TakenPortReactor(MemoryReactorClock):
    """A reactor on which port 8080 is taken, as by another program."""

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if port == 8080:
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))
        return super().listenTCP(port, factory, backlog, interface)


class FirstMinuteTests(SynchronousTestCase):
    """The console room's first minute, as a newcomer sees it (the README's default config)."""

    def room(self, reactor, config=None, web=True):
        self.harness = Harness(core.help, core.ping, karma.karma, karma.karma_query, education.responder,
                               education.factoid, education.recall, fun.blame, config=config)
        self.transport = StringTransport()
        top = MultiService()
        self.console = ConsoleService(self.harness.bot, self.connect, lambda: None, show_banner=True)
        self.console.setServiceParent(top)
        if web:
            WebService(self.harness.bot, reactor).setServiceParent(top)
        top.startService()
        self.addCleanup(top.stopService)
        return self.transport

    def connect(self, protocol):
        protocol.makeConnection(self.transport)
        self.protocol = protocol
        return self.transport

    def type(self, *lines):
        for line in lines:
            self.protocol.dataReceived(line.encode("utf-8") + b"\n")
            self.harness.clock.advance(10)

    def test_transcript_of_the_first_minute(self):
        transport = self.room(MemoryReactorClock())
        self.type("tea++", "pubbot: coffee is hot", "coffee?", "!blame", "!karma top", "!ping")
        self.assertEqual(transport.value().decode("utf-8").splitlines(), [
            "-!- pubbot %s: the console room #console. Type a line and press Enter to chat with pubbot."
            % (__version__,),
            "-!- You are you; pubbot sees you as you!you@console.",
            "-!- You are an admin here, as whoever runs the bot on its terminal: you can teach me "
            "replies. On IRC, admins are the accounts or user@host masks in [plugins] admins.",
            "-!- The dashboard is at http://localhost:8080/.",
            "-!- Try: tea++   pubbot: coffee is hot, then coffee?",
            "-!- Quit with Ctrl-D.",
            "<pubbot> tea's karma is now 1.",
            "<pubbot> OK, coffee is hot.",
            "<pubbot> coffee is hot",
            "<pubbot> It's all your fault!",
            "<pubbot> Best karma: tea (1).",
            "<pubbot> pong",
        ])

    def test_the_port_is_taken(self):
        transport = self.room(TakenPortReactor())
        self.assertIn("-!- The dashboard is off: it could not listen on tcp:8080:interface=127.0.0.1 "
                      "(is the port taken? pubbot.log says why).",
                      transport.value().decode("utf-8").splitlines())

    def test_no_dashboard_configured(self):
        transport = self.room(MemoryReactorClock(), config={"web": {"endpoint": ""}}, web=False)
        self.assertIn("-!- The dashboard is off: [web] endpoint is empty in the config.",
                      transport.value().decode("utf-8").splitlines())

    def test_the_console_operator_is_an_admin_and_only_there(self):
        transport = self.room(MemoryReactorClock())
        self.harness.bot.add_handler(education.teach)
        self.type("!when someone says hiya reply hello there", "hiya")
        self.assertEqual(transport.value().decode("utf-8").splitlines()[-1], "<pubbot> hello there")
        # the same user@host on IRC is no admin unless [plugins] admins says so
        from pubbot.util.people import is_admin
        on_irc = self.harness.bot.chat_message("irc", "#pubbot", "you", "x", False,
                                               {"hostmask": "you!you@console", "account": None})
        self.assertFalse(is_admin(on_irc))

    def test_suggestions_follow_the_plugins_loaded(self):
        harness = Harness(core.ping)
        transport = StringTransport()
        console = ConsoleService(harness.bot, lambda p: (p.makeConnection(transport), transport)[1],
                                 lambda: None, show_banner=True)
        console.startService()
        lines = transport.value().decode("utf-8").splitlines()
        self.assertIn("-!- Try: !ping", lines)
        self.assertIn("-!- The dashboard is off: no web service runs with this room.", lines)

    def test_piped_input_gets_no_banner(self):
        harness = Harness(core.ping)
        transport = StringTransport()
        console = ConsoleService(harness.bot, lambda p: (p.makeConnection(transport), transport)[1],
                                 lambda: None, show_banner=False)
        console.startService()
        self.assertEqual(transport.value(), b"")
