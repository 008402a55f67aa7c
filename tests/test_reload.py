"""!reload and the config re-read on SIGHUP: plugins and settings change without leaving IRC."""

import os
import sys
import textwrap

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.loader import load_handlers
from pubbot.plugins import core
from pubbot.reload import Reconfigurer
from pubbot.testing import Harness, make_settings

V1 = '''
from pubbot.api import command, every

@command("hot")
def hot(msg):
    """Says how hot it is."""
    return "v1"

@every(10)
def tick(bot):
    bot.state.setdefault("ticks", []).append("v1")
'''

V2 = V1.replace('"v1"', '"v2"').replace('.append("v1")', '.append("v2")')


class ReloadTests(SynchronousTestCase):
    def setUp(self):
        self.dir = self.mktemp()
        os.makedirs(self.dir)
        self.write(V1)
        self.addCleanup(sys.modules.pop, "pubbot.plugins.hotreload", None)
        config = {"plugins": {"paths": [self.dir], "admins": ["root"]}}
        handlers = load_handlers([self.dir])
        self.h = Harness(*[h for h in handlers if h.name in ("hot", "tick")], core.reload, config=config)

    def write(self, text):
        with open(os.path.join(self.dir, "hotreload.py"), "w") as f:
            f.write(textwrap.dedent(text))

    def reload(self, name="hotreload", who="root"):
        return self.h.reply("!reload " + name, source=who, account=who)

    def test_swaps_handlers_and_jobs_at_once(self):
        self.assertEqual(self.h.reply("!hot"), "v1")
        self.h.clock.advance(10)
        self.write(V2)
        self.assertEqual(self.reload(), "Reloaded hotreload: 2 handlers; commands !hot; jobs tick.")
        self.assertEqual(self.h.reply("!hot"), "v2")
        self.h.clock.advance(10)
        self.assertEqual(self.h.bot.state["ticks"], ["v1", "v2"])  # the old job is gone, the new one runs
        self.assertEqual([h.name for h in self.h.bot.handlers].count("hot"), 1)
        report = self.h.bot.jobs.report()
        self.assertEqual([(j["name"], j["runs"]) for j in report], [("tick", 2)])

    def test_a_broken_new_version_leaves_the_old_one_running(self):
        self.write("def broken(:\n")
        answer = self.reload()
        self.assertTrue(answer.startswith("Not reloaded: SyntaxError: "), answer)
        self.assertEqual(self.h.reply("!hot"), "v1")
        self.write("raise RuntimeError('no database')\n")
        self.h.clock.advance(60)  # (the refusal's window; the job runs)
        self.assertEqual(self.reload(), "Not reloaded: RuntimeError: no database.")
        self.assertEqual(self.h.reply("!hot"), "v1")
        self.h.clock.advance(10)
        self.assertEqual(self.h.bot.state["ticks"], ["v1", "v1"])  # the old job goes on
        self.assertEqual(len(self.flushLoggedErrors(SyntaxError, RuntimeError)), 2)

    def test_a_new_version_failing_to_start_leaves_the_old_one(self):
        self.write(V2 + textwrap.dedent('''
            from pubbot.api import Handler, CHAT_LINES

            class Bad(Handler):
                def start(self, bot):
                    raise ValueError("cannot start")

            bad = Bad(lambda msg: None, [CHAT_LINES], name="bad")
        '''))
        self.assertEqual(self.reload(), "Not reloaded: bad failed to start: ValueError: cannot start.")
        self.assertEqual(self.h.reply("!hot"), "v1")
        self.h.clock.advance(10)
        self.assertEqual(self.h.bot.state["ticks"], ["v1"])  # the new job was started and stopped again
        self.assertEqual(len(self.h.bot.jobs.report()), 1)
        self.flushLoggedErrors(ValueError)

    def test_only_admins_and_not_built_ins(self):
        self.assertEqual(self.reload(who="eve"), "Sorry eve, only admins can use reload.")
        self.assertEqual(self.reload("core"), "Not reloaded: core is built in: it changes with pubbot itself "
                                              "(restart).")
        self.h.clock.advance(60)
        self.assertEqual(self.reload("nosuch"), "Not reloaded: I know no plugin 'nosuch'.")

    def test_a_new_drop_in_is_loaded(self):
        with open(os.path.join(self.dir, "newone.py"), "w") as f:
            f.write("from pubbot.api import command\n\n"
                    "@command('fresh')\ndef fresh(msg):\n    return 'new'\n")
        self.addCleanup(sys.modules.pop, "pubbot.plugins.newone", None)
        self.assertEqual(self.reload("newone"), "Reloaded newone: 1 handler; commands !fresh.")
        self.assertEqual(self.h.reply("!fresh"), "new")

    def test_a_plugin_disabled_by_its_name_on_sighup(self):
        # its handlers' names are not the plugin's: the name still stops its commands and jobs
        path = self.mktemp()
        config = '[plugins]\npaths = ["%s"]\nadmins = ["root"]\n' % (self.dir,)
        with open(path, "w") as f:
            f.write(config + 'disabled = ["hotreload"]\n')
        r = Reconfigurer(self.h.bot, path)
        self.h.bot.later(5, sys.modules["pubbot.plugins.hotreload"].hot.func, None)
        self.assertEqual(r.reconfigure(), [])
        self.assertIsNone(self.h.reply("!hot"))
        self.assertEqual(self.h.bot.jobs.report(), [])
        self.assertEqual(self.h.bot.jobs._later, set())  # its bot.later runs stopped with it
        self.assertEqual(self.reload(), "Not reloaded: hotreload is disabled ([plugins] disabled).")
        with open(path, "w") as f:
            f.write(config)
        r.reconfigure()
        self.assertEqual(self.h.reply("!hot"), "v1")
        self.assertEqual([j["name"] for j in self.h.bot.jobs.report()], ["tick"])

    def test_a_changed_settings_table_is_read_for_the_new_code(self):
        table = textwrap.dedent('''
            from dataclasses import dataclass
            from pubbot.api import checks, command, key, section

            @section("hot")
            @dataclass(frozen=True)
            class HotSettings:
                city: str = key("London")
                %s

            @command("hot")
            def hot(msg):
                return " ".join(str(getattr(msg.bot.settings.hot, f, "-")) for f in ("city", "days"))
        ''')
        self.write(table % ("",))
        self.reload()
        config = {"plugins": {"paths": [self.dir], "admins": ["root"]}, "hot": {"city": "Paris"}}
        self.h.bot.apply_settings(make_settings(config, sys.modules["pubbot.plugins.hotreload"]))
        self.assertEqual(self.h.reply("!hot"), "Paris -")
        self.write(table % ("days: int = key(3)",))  # a new key: the file's values kept, it at its default
        self.h.clock.advance(60)
        self.assertEqual(self.reload(), "Reloaded hotreload: 1 handler; commands !hot.")
        self.assertEqual(self.h.reply("!hot"), "Paris 3")
        self.write(table.replace('key("London")', 'key("London", checks.one_of("Rome"))') % ("",))
        self.h.clock.advance(60)
        self.assertEqual(self.reload(), "Not reloaded: the new code refuses the config: [hot] city must be "
                                        "one of Rome, not 'Paris'.")
        self.assertEqual(self.h.reply("!hot"), "Paris 3")

    def test_later_runs_of_the_old_module_are_cancelled(self):
        module = sys.modules["pubbot.plugins.hotreload"]
        self.h.bot.later(5, module.hot.func, None)
        self.h.bot.later(5, lambda: None)  # another module's: kept
        self.write(V2)
        self.reload()
        self.assertEqual(len(self.h.bot.jobs._later), 1)


class ReconfigureTests(SynchronousTestCase):
    def setUp(self):
        self.path = self.mktemp()
        self.write('[plugins]\nadmins = ["root"]\n')

    def write(self, text):
        with open(self.path, "w") as f:
            f.write(text)

    def test_disabled_plugins_and_permissions_apply_live(self):
        h = Harness(core.ping, core.version)
        r = Reconfigurer(h.bot, self.path)
        self.write('[plugins]\ndisabled = ["ping"]\n[permissions]\nversion = "admin"\n')
        self.assertEqual(r.reconfigure(), [])
        self.assertIsNone(h.reply("!ping"))
        self.assertEqual(h.reply("!version"), "Sorry alice, only admins can use version.")
        self.write('[plugins]\ndisabled = []\n')
        r.reconfigure()
        self.assertEqual(h.reply("!ping"), "pong")
        self.assertIn("pubbot", h.reply("!version"))

    def test_a_plugin_enabled_live_with_its_table(self):
        sections = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "sections")
        self.addCleanup(sys.modules.pop, "pubbot.plugins.weather", None)
        config = {"plugins": {"paths": [sections], "disabled": ["weather"]}}
        h = Harness(core.ping, config=config)
        r = Reconfigurer(h.bot, self.path)
        self.write('[plugins]\npaths = ["%s"]\n[weather]\ncity = "Paris"\n' % (sections,))
        self.assertEqual(r.reconfigure(), [])
        self.assertEqual(h.bot.settings.weather.city, "Paris")
        self.assertEqual(h.reply("!weather"), "Paris: sunny for 3 days")
        self.write('[plugins]\npaths = ["%s"]\ndisabled = ["weather"]\n[weather]\ncity = "Rome"\n'
                   % (sections,))
        self.assertEqual(r.reconfigure(), [])  # refused, as at start: the old config stays
        self.assertEqual(h.bot.settings.weather.city, "Paris")

    def test_a_plugin_whose_table_changed_starts_again_to_read_it(self):
        from pubbot.plugins import seen
        h = Harness(seen.tell, config={"tell": {"per_sender": 1}})
        self.assertEqual(seen.tell.limits._limits[0][1].limit, 1)
        self.write('[tell]\nper_sender = 7\n')
        Reconfigurer(h.bot, self.path).reconfigure()
        self.assertEqual(seen.tell.limits._limits[0][1].limit, 7)
        self.assertIs(seen.tell.bot, h.bot)

    def test_a_bad_file_keeps_the_old_settings(self):
        h = Harness(core.ping)
        before = h.bot.settings
        self.write('[plugins]\ntimeout = "soon"\n')
        self.assertEqual(Reconfigurer(h.bot, self.path).reconfigure(), [])
        self.assertIs(h.bot.settings, before)

    def test_what_cannot_change_is_logged_and_kept(self):
        h = Harness(core.ping)
        self.write('[store]\npath = "elsewhere.sqlite"\n[irc]\ncommand_prefix = "?"\n')
        self.assertEqual(Reconfigurer(h.bot, self.path).reconfigure(), ["[store]"])
        self.assertEqual(h.bot.settings.store.path, "pubbot.sqlite")
        self.assertEqual(h.bot.settings.irc.command_prefix, "?")


class IrcReconfigureTests(SynchronousTestCase):
    """The IRC service takes up channels, throttle and prefix; its server and nick stay."""

    def test_channels_throttle_prefix(self):
        from twisted.internet.testing import StringTransport

        from pubbot.config.settings import parse
        from pubbot.core.bot import Bot
        from pubbot.irc.service import IRCService
        from pubbot.store.memory import MemoryStore

        clock = Clock()
        settings = parse({"irc": {"server": "tcp:127.0.0.1:6667", "channels": ["#a", "#b key"]}})
        bot = Bot(settings, clock, MemoryStore(clock))
        service = IRCService(bot, clock)
        bot.register_chat(service)
        protocol = service.factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        service.current, service.connected = protocol, True
        transport.clear()
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[irc]\nserver = "tcp:10.0.0.1:6667"\nnick = "other"\nchannels = ["#b key", "#c"]\n'
                    'command_prefix = "?"\n[irc.throttle]\nburst = 9\n')
        fixed = Reconfigurer(bot, path).reconfigure()
        self.assertEqual(fixed, ["[irc] server", "[irc] nick"])
        self.assertEqual(service.settings.server, "tcp:127.0.0.1:6667")
        self.assertEqual(service.settings.nick, "pubbot")
        self.assertEqual(service.wanted_channels, [("#b", "key"), ("#c", None)])
        self.assertEqual(service.throttle.burst, 9)
        self.assertEqual(bot.command_prefix("irc"), "?")
        clock.advance(5)
        sent = transport.value().decode()
        self.assertIn("JOIN #c\r\n", sent)
        self.assertIn("PART #a bye\r\n", sent)
        self.assertNotIn("#b", sent)
        self.assertFalse(transport.disconnecting)


class SighupTests(SynchronousTestCase):
    def test_sighup_rereads_the_config_on_the_reactor_thread(self):
        import signal

        class Reactor:
            def __init__(self):
                self.calls = []

            def callFromThread(self, f, *args):
                self.calls.append(f)

        from pubbot.reload import ReconfigureService
        h = Harness(core.ping)
        reactor = Reactor()
        reconfigurer = Reconfigurer(h.bot, None)
        service = ReconfigureService(reconfigurer, reactor)
        before = signal.getsignal(signal.SIGHUP)
        service.startService()
        try:
            os.kill(os.getpid(), signal.SIGHUP)
            self.assertEqual(reactor.calls, [reconfigurer.reconfigure])
        finally:
            service.stopService()
        self.assertEqual(signal.getsignal(signal.SIGHUP), before)

    def test_the_service_maker_offers_reload_and_sighup(self):
        from twisted.internet.testing import MemoryReactorClock

        from pubbot import tap
        options = tap.Options()
        options["divert_log"] = False
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[irc]\nserver = "tcp:127.0.0.1:6667"\n[web]\nendpoint = ""\n')
        options.parseOptions(["--config", path])
        top = tap.makeService(options, MemoryReactorClock())
        self.addCleanup(top.bot.store.close)
        self.assertEqual(top.getServiceNamed("reconfigure").reconfigurer.path, path)
        self.assertIsNotNone(top.bot.reloader)
