"""
A plugin package installed with pip (tests/data/plugin_package): loaded from
the entry-point group pubbot.plugins by name, its table checked, a broken
entry logged with its distribution's name; in-process and through twistd.

The package is built and installed once, offline (no index, no build
isolation: setuptools and wheel come from the test environment), into a
scratch directory put on the path.
"""

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from pubbot.config.settings import ConfigError
from pubbot.loader import load_plugins

from .support.logs import capture_logs
from .support.servers import ROOT, bot_env, twistd_argv

PACKAGE = os.path.join(ROOT, "tests", "data", "plugin_package")
_installed: list = []


def installed() -> str:
    """The directory pip installed the example package into (built on first use)."""
    if _installed:
        if isinstance(_installed[0], Exception):
            raise _installed[0]
        return _installed[0]
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
    except ImportError as e:
        _installed.append(SkipTest("building a package offline needs setuptools and wheel (the test "
                                   "extra): %s" % (e,)))
        raise _installed[0] from e
    scratch = tempfile.mkdtemp(prefix="pubbot-plugin-package-")
    atexit.register(shutil.rmtree, scratch, True)
    source = os.path.join(scratch, "src")
    shutil.copytree(PACKAGE, source)  # pip builds in the tree: keep the checkout clean
    target = os.path.join(scratch, "site")
    out = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation",
                          "--no-deps", "--disable-pip-version-check", "--target", target, source],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise AssertionError("pip install failed:\n" + out.stdout + out.stderr)
    _installed.append(target)
    return target


class InstalledPluginTests(SynchronousTestCase):
    def setUp(self):
        target = installed()
        sys.path.insert(0, target)
        self.addCleanup(self.forget, target)
        self.events = capture_logs(self)

    def forget(self, target):
        if target in sys.path:
            sys.path.remove(target)
        for name in [n for n in sys.modules if n == "pubbot_example" or n.startswith("pubbot_example.")]:
            del sys.modules[name]

    def test_loaded_by_its_entry_name(self):
        plugins = load_plugins()
        self.flushLoggedErrors(ImportError)  # the broken one: see below
        self.assertEqual(plugins.modules["example"].__name__, "pubbot_example")
        names = [h.name for h in plugins.handlers]
        self.assertIn("example", names)
        self.assertLess(names.index("vcs"), names.index("example"))  # after the built-ins
        self.assertIn(("example", "example"), [(d.name, d.owner) for d in plugins.sections])
        self.assertNotIn("broken", plugins.modules)

    def test_a_broken_one_is_logged_with_its_distribution_and_skipped(self):
        load_plugins()
        self.assertEqual(len(self.flushLoggedErrors(ImportError)), 1)
        [event] = [e for e in self.events if e.get("plugin") == "broken"]
        self.assertEqual((event["distribution"], event["module"]),
                         ("pubbot-example", "pubbot_example.broken"))
        self.assertIn("ImportError: pubbot_example.broken is broken on purpose", event["error"])

    def test_disabled_by_name(self):
        plugins = load_plugins(disabled=["example"])
        self.flushLoggedErrors(ImportError)
        self.assertNotIn("example", [h.name for h in plugins.handlers])
        self.assertEqual(plugins.disabled, {"example": "example"})
        self.assertNotIn("example", [d.name for d in plugins.sections])

    def test_named_by_its_entry_in_help_and_reload(self):
        from pubbot.plugins import core
        from pubbot.testing import Harness
        plugins = load_plugins()
        self.flushLoggedErrors(ImportError)
        mine = [h for h in plugins.handlers if h.name == "example"]
        h = Harness(*mine, core.help, core.reload, config={"plugins": {"admins": ["root"]}})
        self.assertIn("example: !example", h.reply("!help"))
        self.assertEqual(h.reply("!help example"),
                         "!example: Says [example] greeting, [example] times times.")
        self.assertEqual(h.reply("!reload example", source="root", account="root"),
                         "Reloaded example: 1 handler; commands !example.")
        self.assertEqual(h.reply("!example"), "hello from a package")
        # and off in one channel by that name
        h = Harness(*mine, config={"channels": {"#quiet": {"disabled": ["example"]}}})
        self.assertIsNone(h.reply("!example", channel="#quiet"))
        self.assertEqual(h.reply("!example"), "hello from a package")

    def test_reload_reads_the_whole_package_again(self):
        # A copy of the installed package (the shared one stays as built) whose helper module changes.
        from pubbot.plugins import core
        from pubbot.testing import Harness
        copy = os.path.join(self.mktemp(), "site")
        shutil.copytree(installed(), copy)
        self.forget(installed())
        sys.path.insert(0, copy)
        self.addCleanup(self.forget, copy)
        plugins = load_plugins()
        self.flushLoggedErrors(ImportError)
        h = Harness(*[p for p in plugins.handlers if p.name == "example"], core.reload,
                    config={"plugins": {"admins": ["root"]}, "example": {"times": 2}})
        self.assertEqual(h.reply("!example"), "hello from a package hello from a package")
        # a module of the package the new code does not import (another plugin's, say) stays as it was
        other = sys.modules["pubbot_example.other"] = types.ModuleType("pubbot_example.other")
        wording = os.path.join(copy, "pubbot_example", "wording.py")
        with open(wording, "w") as f:
            f.write("def repeat(greeting, times):\n    return ' / '.join([greeting.upper()] * times)\n")
        later = os.stat(wording).st_mtime + 10  # (the bytecode cache goes by the file's time)
        os.utime(wording, (later, later))
        self.assertEqual(h.reply("!reload example", source="root", account="root"),
                         "Reloaded example: 1 handler; commands !example.")
        self.assertEqual(h.reply("!example"), "HELLO FROM A PACKAGE / HELLO FROM A PACKAGE")
        self.assertIs(sys.modules["pubbot_example.other"], other)
        # a helper that no longer imports: the running code and its modules stay
        with open(wording, "w") as f:
            f.write("raise ImportError('half-written')\n")
        os.utime(wording, (later + 10, later + 10))
        self.assertIn("Not reloaded", h.reply("!reload example", source="root", account="root"))
        self.flushLoggedErrors(ImportError)
        self.assertEqual(h.reply("!example"), "HELLO FROM A PACKAGE / HELLO FROM A PACKAGE")
        self.assertEqual(sys.modules["pubbot_example.wording"].repeat("a", 2), "A / A")
        self.assertIs(sys.modules["pubbot_example.other"], other)

    def config(self, text):
        from pubbot.tap import load_config
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        try:
            return load_config(path)
        finally:
            self.flushLoggedErrors(ImportError)

    def test_its_table_is_read_and_checked(self):
        settings, _ = self.config("[example]\ngreeting = 'hi'\ntimes = 2\n")
        self.assertEqual((settings.example.greeting, settings.example.times), ("hi", 2))
        with self.assertRaises(ConfigError) as e:
            self.config("[example]\ntimes = 'two'\n")
        self.assertEqual(str(e.exception), "[example] times must be an integer, not a string")
        with self.assertRaises(ConfigError) as e:
            self.config("[plugins]\ndisabled = ['example']\n[example]\ntimes = 2\n")
        self.assertEqual(str(e.exception), "[example]: plugin example is disabled")

    def test_not_installed_without_the_package(self):
        self.forget(installed())
        with self.assertRaises(ConfigError) as e:
            self.config("[example]\ntimes = 2\n")
        self.assertEqual(str(e.exception), "[example]: plugin example is not installed")


class InstalledPluginProcessTests(SynchronousTestCase):
    """twistd and pubbot config check, with the package on the path of a process of their own."""

    def setUp(self):
        self.env = bot_env(PYTHONPATH=os.pathsep.join([ROOT, installed()]))
        self.cwd = os.path.abspath(self.mktemp())
        os.makedirs(self.cwd)

    def write(self, text):
        path = os.path.join(self.cwd, "bot.toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_answers_in_the_console_room(self):
        config = self.write('[example]\ngreeting = "hi"\ntimes = 2\n'
                            '[web]\nendpoint = "tcp:0:interface=127.0.0.1"\n'
                            '[store]\npath = "%s"\n' % os.path.join(self.cwd, "store.sqlite"))
        out = subprocess.run(twistd_argv("--pidfile=", "-n", "pubbot", "--config", config),
                             input="!example\n", capture_output=True, text=True, env=self.env, cwd=self.cwd,
                             timeout=120)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertEqual(out.stdout.splitlines(), ["<pubbot> hi hi"])
        with open(os.path.join(self.cwd, "pubbot.log")) as f:
            log = f.read()
        self.assertIn("installed plugin broken of pubbot-example", log)

    def check(self, text):
        return subprocess.run([sys.executable, "-m", "pubbot.cli", "config", "check", self.write(text)],
                              capture_output=True, text=True, env=self.env, cwd=self.cwd, timeout=120)

    def test_config_check_loads_it(self):
        out = self.check("[example]\ntimes = 3\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout)["example"], {"greeting": "hello from a package", "times": 3})
        warnings = out.stderr.splitlines()
        self.assertEqual(len(warnings), 1, warnings)
        self.assertTrue(warnings[0].startswith("pubbot: warning: installed plugin broken of pubbot-example "
                                               "(pubbot_example.broken) failed to import"), warnings)
        out = self.check("[example]\ntimes = -\n")
        self.assertEqual(out.returncode, 1)
        out = self.check("[example]\ntimes = 'x'\n")
        self.assertEqual((out.returncode, out.stderr.splitlines()[-1]),
                         (1, "pubbot: [example] times must be an integer, not a string"))
