"""twistd integration: the plugin, makeService's children, the console room end to end."""

import io
import os
import subprocess
import sys

from twisted.application.service import IServiceCollection
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from pubbot import tap

from .support.config import DROPINS, SECTIONS, write_config
from .support.servers import bot_env, twistd_argv


class MakeServiceTests(SynchronousTestCase):
    def options(self, *args):
        options = tap.Options()
        options["divert_log"] = False
        options.parseOptions(list(args))
        return options

    def test_console_by_default(self):
        reactor = MemoryReactorClock()
        options = self.options()
        self.assertTrue(options.console_mode())
        top = tap.makeService(options, reactor)
        self.assertEqual(top.name, "pubbot")
        names = [s.name for s in IServiceCollection(top)]
        self.assertIn("bus", names)
        self.assertIn("console", names)
        self.assertNotIn("irc", names)
        top.bot.store.close()

    def test_music_commands_only_with_a_music_source(self):
        top = tap.makeService(self.options(), MemoryReactorClock())
        names = {h.name for h in top.bot.handlers}
        self.assertIn("ping", names)
        self.assertFalse([name for name in names if name.startswith("music_")])
        top.bot.store.close()
        path = write_config(self.mktemp(), '[music]\nsource = "mpd:tcp:127.0.0.1:6600"\n')
        top = tap.makeService(self.options("--config", path), MemoryReactorClock())
        self.assertIn("music_skip", {h.name for h in top.bot.handlers})
        top.bot.store.close()

    def test_console_flag_overrides_irc(self):
        path = write_config(self.mktemp(), '[irc]\nserver = "tcp:127.0.0.1:6667"\n')
        self.assertFalse(self.options("--config", path).console_mode())
        self.assertTrue(self.options("--config", path, "--console").console_mode())

    def test_one_irc_service_per_network(self):
        path = write_config(self.mktemp(), '[irc]\nserver = "tcp:127.0.0.1:6667"\nnick = "first"\n'
                            '[networks.libera]\nserver = "tcp:127.0.0.1:6668"\nchannels = ["#x"]\n'
                            '[networks.oftc]\nserver = "tcp:127.0.0.1:6669"\n')
        top = tap.makeService(self.options("--config", path), MemoryReactorClock())
        irc = [s for s in IServiceCollection(top) if s.name.startswith("irc")]
        self.assertEqual([(s.name, s.network, s.settings.server, s.settings.nick, s.settings.channels)
                          for s in irc],
                         [("irc", "irc", "tcp:127.0.0.1:6667", "first", ("#pubbot",)),
                          ("irc-libera", "libera", "tcp:127.0.0.1:6668", "pubbot", ("#x",)),
                          ("irc-oftc", "oftc", "tcp:127.0.0.1:6669", "pubbot", ("#pubbot",))])
        self.assertNotIn("console", [s.name for s in IServiceCollection(top)])
        top.bot.store.close()

    def test_networks_without_a_first_one(self):
        path = write_config(self.mktemp(), '[irc]\nname = "home"\n'
                            '[networks.libera]\nserver = "tcp:127.0.0.1:6668"\n')
        options = self.options("--config", path)
        self.assertFalse(options.console_mode())
        self.assertTrue(self.options("--config", path, "--console").console_mode())
        top = tap.makeService(options, MemoryReactorClock())
        self.assertEqual([(s.name, s.network) for s in IServiceCollection(top) if s.name.startswith("irc")],
                         [("irc-libera", "libera")])
        top.bot.store.close()

    def test_a_network_that_cannot_start_names_its_table(self):
        path = write_config(self.mktemp(), '[store]\npath = ":memory:"\n'
                            '[networks.libera]\nserver = "tls:127.0.0.1:6697"\n'
                            'tls_ca = "/nonexistent/ca.pem"\n')
        err = io.StringIO()
        self.patch(sys, "stderr", err)
        with self.assertRaises(SystemExit) as e:
            tap.makeService(self.options("--config", path), MemoryReactorClock())
        self.assertEqual(e.exception.code, 1)
        self.assertTrue(err.getvalue().startswith("pubbot: [networks.libera] tls_ca /nonexistent/ca.pem"),
                        err.getvalue())

    def test_plugins_loaded_from_config(self):
        path = write_config(self.mktemp(), '[plugins]\npaths = ["%s"]\ndisabled = ["uptime"]\n' % DROPINS)
        top = tap.makeService(self.options("--config", path), MemoryReactorClock())
        names = [h.name for h in top.bot.handlers]
        self.assertIn("my_chat_handler", names)
        self.assertNotIn("uptime", names)
        top.bot.store.close()

    def test_bad_config_exits(self):
        path = write_config(self.mktemp(), "[irc]\nnick = 5\n")
        with self.assertRaises(SystemExit) as e:
            self.options("--config", path)
        self.assertEqual(e.exception.code, 1)


class TwistdTests(SynchronousTestCase):
    """Real twistd processes running this checkout."""

    def scratch(self):
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    def test_twistd_help_lists_pubbot_when_installed(self):
        # No PYTHONPATH and a scratch cwd: only an installed pubbot is seen,
        # as after the README's install (tox installs the package the same way).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run(twistd_argv("--help"), capture_output=True, text=True, env=env,
                             cwd=self.scratch(), timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("pubbot", out.stdout)
        self.assertIn("the community chat bot", out.stdout)

    def test_version(self):
        from pubbot.version import __version__
        out = subprocess.run(twistd_argv("-n", "pubbot", "--version"), capture_output=True, text=True,
                             env=bot_env(), cwd=self.scratch(), timeout=60)
        self.assertEqual((out.returncode, out.stdout), (0, "pubbot %s\n" % (__version__,)), out.stderr)

    def test_console_room_end_to_end(self):
        cwd = self.scratch()
        config = write_config(os.path.join(cwd, "bot.toml"), (
            '[plugins]\npaths = ["%s"]\n[web]\nendpoint = "tcp:0:interface=127.0.0.1"\n'
            '[store]\npath = "%s"\n') % (DROPINS, os.path.join(cwd, "store.sqlite")))
        out = subprocess.run(
            twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
            input="!ping\nfoo=1, bar=2\n!help ping\n", capture_output=True, text=True,
            env=bot_env(), cwd=cwd, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        lines = out.stdout.splitlines()
        self.assertEqual(lines[0], "<pubbot> pong")
        self.assertEqual(lines[1], '<pubbot> Foo was "1", bar was "2"')
        self.assertIn("<pubbot> !ping: Answers pong: am I alive?", lines)
        # Logs went to the log file, not into the room.
        self.assertTrue(all(line.startswith("<pubbot> ") for line in lines), lines)
        with open(os.path.join(cwd, "pubbot.log")) as f:
            self.assertIn("pubbot", f.read())

    def test_a_dropin_with_a_settings_table_in_the_console_room(self):
        cwd = self.scratch()
        config = write_config(os.path.join(cwd, "bot.toml"), (
            '[plugins]\npaths = ["%s"]\n[weather]\ncity = "Paris"\ndays = 2\n'
            '[web]\nendpoint = "tcp:0:interface=127.0.0.1"\n[store]\npath = "%s"\n') % (
            SECTIONS, os.path.join(cwd, "store.sqlite")))
        out = subprocess.run(
            twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
            input="!weather\n!weather Oslo\n", capture_output=True, text=True,
            env=bot_env(), cwd=cwd, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["<pubbot> Paris: sunny for 2 days",
                                                   "<pubbot> Oslo: sunny for 2 days"])

    def test_a_bad_key_of_a_dropins_table_stops_twistd(self):
        cwd = self.scratch()
        config = write_config(os.path.join(cwd, "bot.toml"),
                              '[plugins]\npaths = ["%s"]\n[weather]\ndays = 0\n' % (SECTIONS,))
        out = subprocess.run(twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
                             capture_output=True, text=True, env=bot_env(), cwd=cwd, timeout=120)
        self.assertEqual((out.returncode, out.stderr.strip()),
                         (1, "pubbot: [weather] days must be greater than 0"))
        self.assertNotIn("Traceback", out.stdout + out.stderr)


class PipedConsoleTests(SynchronousTestCase):
    def scratch(self):
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        return path

    def run_room(self, cwd, text):
        config = write_config(os.path.join(cwd, "bot.toml"), (
            '[web]\nendpoint = ""\n[store]\npath = "%s"\n') % (os.path.join(cwd, "store.sqlite"),))
        out = subprocess.run(twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
                             input=text, capture_output=True, text=True, env=bot_env(), cwd=cwd, timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        return out.stdout.splitlines()

    def test_replies_come_in_the_order_the_lines_were_said(self):
        # store-backed answers (factoids, karma: a thread's round trip) between immediate ones
        said = ("pubbot: what is coffee?\n!ping\npubbot: coffee is good\n!version\ncoffee?\n"
                "tea++\n!uptime\n!karma tea\n")
        first = self.run_room(self.scratch(), said)
        self.assertEqual([line.split(" ", 2)[1] for line in first],
                         ["I", "pong", "OK,", "pubbot", "coffee", "tea's", "I", "tea's"], first)
        self.assertEqual(self.run_room(self.scratch(), said), first)


class BusServiceTests(SynchronousTestCase):
    def test_start_freezes_what_was_built_for_the_collector(self):
        import gc

        from pubbot.testing import Harness
        bot = Harness().bot
        gc.unfreeze()
        self.addCleanup(gc.unfreeze)
        service = tap.BusService(bot)
        service.startService()
        self.assertGreater(gc.get_freeze_count(), 0)
        service.stopService()

    def test_freezing_can_be_turned_off(self):
        import gc

        from pubbot.testing import Harness
        gc.unfreeze()
        service = tap.BusService(Harness().bot, freeze_gc=False)
        service.startService()
        self.assertEqual(gc.get_freeze_count(), 0)
        service.stopService()
