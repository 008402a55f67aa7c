"""Every built-in plugin's examples (@example) run, as help shows them."""

import importlib
import pkgutil

from twisted.trial.unittest import SynchronousTestCase

import pubbot.plugins
from pubbot.api import command, example
from pubbot.core.help import matches
from pubbot.plugins import channels, core, education, feeds, fun, karma, reminders, seen, whoami
from pubbot.testing import check_examples


class BuiltinExampleTests(SynchronousTestCase):
    def test_core(self):
        self.assertEqual(check_examples(core), 6)

    def test_channels(self):
        self.assertEqual(check_examples(channels), 2)

    def test_education(self):
        self.assertEqual(check_examples(education), 6)

    def test_fun(self):
        self.assertEqual(check_examples(fun), 2)

    def test_karma(self):
        self.assertEqual(check_examples(karma), 3)

    def test_seen_and_tell(self):
        self.assertEqual(check_examples(seen), 2)

    def test_whoami_reminders_feeds(self):
        self.assertEqual(check_examples(whoami), 1)
        self.assertEqual(check_examples(reminders), 4)
        self.assertEqual(check_examples(feeds), 2)

    def test_every_built_in_plugin(self):
        names = [m.name for m in pkgutil.iter_modules(pubbot.plugins.__path__)]
        ran = {name: check_examples(importlib.import_module("pubbot.plugins." + name)) for name in names}
        self.assertEqual(sorted(name for name, count in ran.items() if count), [
            "channels", "core", "education", "feeds", "fun", "karma", "moderation", "reminders", "seen",
            "whoami"])


class CheckExamplesTests(SynchronousTestCase):
    def test_a_wrong_example_fails_naming_it(self):
        import types
        module = types.ModuleType("wrong")

        @command("echo", args=r"(?P<text>.+)")
        @example("!echo hi", "hi")
        @example("!echo there", "nope")
        def echo(msg, text=None):
            return text

        module.echo = echo
        with self.assertRaises(AssertionError) as e:
            check_examples(module)
        self.assertIn("echo: '!echo there' answered 'there', not 'nope'", str(e.exception))
        self.assertEqual([s for s, _ in echo.examples], ["!echo hi", "!echo there"])  # the order written

    def test_ellipsis_matches_any_text(self):
        self.assertTrue(matches("Paris: 12°C, rain", "Paris: ..."))
        self.assertTrue(matches("a.b", "a.b"))
        self.assertFalse(matches("a.b", "a.c"))
        self.assertTrue(matches("x (y) z", "x (...) z"))
        self.assertFalse(matches("x y", "x (...) z"))
