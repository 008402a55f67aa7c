"""The console chat room, through a StringTransport standing in for stdio."""

from twisted.internet.defer import Deferred
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import handler
from pubbot.console import MAX_LINE, ConsoleService
from pubbot.interfaces import IChatService
from pubbot.plugins import core
from pubbot.testing import Harness


class ConsoleTests(SynchronousTestCase):
    def setUp(self):
        self.harness = Harness(core.ping, network="console-fake")
        self.bot = self.harness.bot
        self.transport = StringTransport()
        self.ended = []
        self.service = ConsoleService(self.bot, self.connect, lambda: self.ended.append(True))
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
        late = ConsoleService(self.bot, self.connect, lambda: None)
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
