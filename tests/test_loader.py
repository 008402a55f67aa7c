"""Plugin discovery with twisted.plugin: built-ins, drop-ins, broken drop-ins."""

import os
import shutil

from twisted.logger import formatEvent
from twisted.trial.unittest import SynchronousTestCase

from pubbot.loader import load_handlers, load_plugins
from pubbot.testing import Harness

from .support.logs import capture_logs

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


class LoaderTests(SynchronousTestCase):
    def copy(self, name):
        """A private copy of a test drop-in directory."""
        path = os.path.abspath(self.mktemp())
        shutil.copytree(os.path.join(DATA, name), path)
        return path

    def test_builtins_found(self):
        names = [h.name for h in load_handlers()]
        for name in ("help", "ping", "version", "uptime"):
            self.assertIn(name, names)

    def test_unconfigured_features_have_no_handlers(self):
        names = [h.name for h in load_handlers(unconfigured=["music"])]
        self.assertIn("ping", names)
        self.assertNotIn("music_skip", names)
        self.assertIn("music_skip", [h.name for h in load_handlers()])

    def test_seed_examples_as_dropins(self):
        handlers = load_handlers([self.copy("dropins")])
        names = [h.name for h in handlers]
        self.assertIn("my_chat_handler", names)
        self.assertIn("my_other_handler", names)
        bot = Harness(*handlers)
        self.assertEqual(bot.reply("foo=1, bar=2"), 'Foo was "1", bar was "2"')
        self.assertEqual(bot.reply("hello"), "You set something in irc")

    def test_no_dropin_cache_written(self):
        """Nothing is written into the user's plugin folder, nor into pubbot's own."""
        import pubbot.plugins

        def listing(directory):
            return {name: os.stat(os.path.join(directory, name)).st_mtime_ns
                    for name in os.listdir(directory)}

        path = self.copy("dropins")
        builtin = os.path.dirname(os.path.abspath(pubbot.plugins.__file__))
        before, builtin_before = listing(path), listing(builtin)
        names = [h.name for h in load_handlers([path])]
        self.assertIn("my_chat_handler", names)
        self.assertEqual(listing(path), before)
        self.assertNotIn("dropin.cache", listing(builtin))
        self.assertEqual({n: t for n, t in listing(builtin).items() if n != "__pycache__"},
                         {n: t for n, t in builtin_before.items() if n != "__pycache__"})

    def test_only_plugin_providers_taken(self):
        """Module attributes that are not IPlugin and IHandler providers (imports, helpers) are left."""
        path = os.path.abspath(self.mktemp())
        os.makedirs(path)
        with open(os.path.join(path, "imports_core.py"), "w") as f:
            f.write("from pubbot.plugins.core import ping as also_ping\n"
                    "from pubbot.api import command\n"
                    "helper = object()\n\n"
                    "@command('extra')\ndef extra(msg):\n    return {'content': 'x'}\n")
        handlers = load_handlers([path])
        names = [h.name for h in handlers]
        self.assertEqual(names.count("ping"), 1)
        self.assertEqual(names[-1], "extra")

    def test_disabled_by_name(self):
        names = [h.name for h in load_handlers([self.copy("dropins")], disabled=["my_other_handler", "ping"])]
        self.assertNotIn("my_other_handler", names)
        self.assertNotIn("ping", names)
        self.assertIn("my_chat_handler", names)

    def test_disabled_by_plugin_name(self):
        # a module's name disables all its handlers, also when one of them has that name
        names = [h.name for h in load_handlers([self.copy("dropins")], disabled=["seed_examples", "seen"])]
        self.assertNotIn("my_chat_handler", names)
        self.assertNotIn("my_other_handler", names)
        self.assertNotIn("seen", names)
        self.assertNotIn("tell", names)  # of the module seen, which has a handler called seen
        plugins = load_plugins(disabled=["feeds"])  # its job and commands too, and its table is refused
        self.assertFalse({"feeds", "poll_feeds", "feed_add"} & {h.name for h in plugins.handlers})
        self.assertEqual(plugins.disabled, {"feeds": "feeds"})
        names = [h.name for h in load_handlers(disabled=["tell"])]  # a handler's name: only it
        self.assertIn("seen", names)
        self.assertNotIn("tell", names)

    def test_a_name_that_is_no_plugin_or_handler_is_warned_about(self):
        events = capture_logs(self)
        load_plugins(disabled=["brian", "tell"], installed=False)
        texts = [formatEvent(e) for e in events if "disables nothing" in formatEvent(e)]
        self.assertEqual(texts, ["[plugins] disabled: 'brian' is no plugin or handler; it disables nothing "
                                 "(did you mean 'brain'?)"])

    def test_sections_of_the_plugins(self):
        from pubbot.loader import load_plugins
        plugins = load_plugins([os.path.join(DATA, "sections")])
        self.assertEqual([(d.name, d.owner) for d in plugins.sections],
                         [("brain", "brain"), ("logs", "chatlogs"), ("feeds", "feeds"), ("fun", "fun"),
                          ("greet", "greet"), ("ignore", "ignore"), ("links", "links"),
                          ("moderation", "moderation"), ("reminders", "reminders"), ("seen", "seen"),
                          ("tell", "seen"), ("vcs", "vcs"), ("weather", "weather")])
        self.assertEqual(plugins.disabled, {})
        plugins = load_plugins([os.path.join(DATA, "sections")], disabled=["weather", "greet"])
        self.assertEqual(plugins.disabled, {"weather": "weather", "greet": "greet"})

    def test_a_section_named_like_a_core_table_is_skipped(self):
        path = self.copy("dropins")
        with open(os.path.join(path, "grabby.py"), "w") as f:
            f.write("from dataclasses import dataclass\nfrom pubbot.api import key, section\n\n"
                    "@section('irc')\n@dataclass(frozen=True)\nclass Irc:\n    nick: str = key('x')\n\n"
                    "@section('music')\n@dataclass(frozen=True)\nclass Music:\n    x: str = key('x')\n")
        from pubbot.loader import load_plugins
        captured = capture_logs(self)
        plugins = load_plugins([path])
        self.assertNotIn("irc", [d.name for d in plugins.sections])
        self.assertNotIn("music", [d.name for d in plugins.sections])
        text = " ".join(captured.texts())
        self.assertIn("plugin grabby declares [irc], which the core has; its section is skipped", text)
        self.assertIn("plugin grabby declares [music], which pubbot has", text)

    def test_broken_dropin_logged_with_file_name_and_skipped(self):
        log = capture_logs(self)
        path = self.copy("broken")
        handlers = load_handlers([path])
        self.flushLoggedErrors(RuntimeError)
        names = [h.name for h in handlers]
        self.assertIn("fine", names)
        self.assertIn("ping", names)
        texts = [formatEvent(e) for e in log]
        self.assertTrue(any(os.path.join(path, "broken_plugin.py") in t and "skipped" in t for t in texts),
                        texts)
        self.assertEqual(Harness(*handlers).reply("!fine"), "still fine")

    def test_missing_directory_logged(self):
        log = capture_logs(self)
        handlers = load_handlers(["/nonexistent/pubbot/plugins"])
        self.assertIn("ping", [h.name for h in handlers])
        self.assertTrue(any("does not exist" in formatEvent(e) for e in log))

    def test_duplicate_names_skipped(self):
        path = self.copy("dropins")
        other = os.path.abspath(self.mktemp())
        shutil.copytree(os.path.join(DATA, "dropins"), other)
        handlers = load_handlers([path, other])
        names = [h.name for h in handlers]
        self.assertEqual(names.count("my_chat_handler"), 1)
