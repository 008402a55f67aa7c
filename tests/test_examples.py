"""Every built-in plugin's examples (@example) run, as help shows them."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command, example
from pubbot.core.help import matches
from pubbot.plugins import core, education, fun, karma, seen
from pubbot.testing import check_examples


class BuiltinExampleTests(SynchronousTestCase):
    def test_core(self):
        self.assertEqual(check_examples(core), 6)

    def test_education(self):
        self.assertEqual(check_examples(education), 6)

    def test_fun(self):
        self.assertEqual(check_examples(fun), 2)

    def test_karma(self):
        self.assertEqual(check_examples(karma), 3)

    def test_seen_and_tell(self):
        self.assertEqual(check_examples(seen), 2)


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
