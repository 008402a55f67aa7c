"""pubbot.util.patterns: Python's regex syntax on RE2, exactly; work bounds for both engines."""

import random
import re
import sys

from hypothesis import assume, given
from hypothesis import strategies as st
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase

from pubbot.util import patterns
from pubbot.util.patterns import LIMIT, LinearPattern, Unsupported, bounded, linear, work_bound

# The old command pattern of "when" (education), as api.command built it before: the
# issue's example, 0.4 s of CPU for one 510-byte line of whitespace runs.
OLD_TEACH = (r"(?:when)(?:\s+(?:someone\s+says\s+(?P<phrase>.+?)\s+reply\s+(?P<response>.+?)"
             r"(?:\s+\[(?P<percent>\d{1,3}(?:\.\d+)?)%\])?))?\s*\Z")


def same(test, regex, flags, text):
    """C{regex} on RE2 finds what Python's re finds in C{text}: the spans, groups and groupdict."""
    ours, theirs = linear(regex, flags), re.compile(regex, flags)
    for method in ("search", "match", "fullmatch"):
        a, b = getattr(ours, method)(text), getattr(theirs, method)(text)
        test.assertEqual(a is None, b is None, (method, regex, flags, text))
        if a is not None:
            test.assertEqual((a.span(), a.groups(), a.groupdict()), (b.span(), b.groups(), b.groupdict()),
                             (method, regex, flags, text))
    if _may_backtrack_past_empty(theirs):
        return
    test.assertEqual([m.span() for m in ours.finditer(text)], [m.span() for m in theirs.finditer(text)],
                     (regex, flags, text))
    test.assertEqual(ours.sub("<\\g<0>>", text), theirs.sub("<\\g<0>>", text), (regex, flags, text))
    test.assertEqual(ours.split(text), theirs.split(text), (regex, flags, text))


def _may_backtrack_past_empty(pattern):
    """
    Could Python's re, after an empty match, backtrack into a non-empty one
    at the same place (the one documented difference of iterating)? Only
    when it can match empty and has a lazy quantifier or an alternation.
    """
    tree = re._parser.parse(pattern.pattern, pattern.flags)
    return tree.getwidth()[0] == 0 and ("MIN_REPEAT" in str(tree) or "BRANCH" in str(tree))


# A grammar of patterns over a small alphabet rich in case-folding traps.
_ALPHABET = "abAB iI\u0131\u0130sS\u017fkK\u212a\u00e9\u00c9\n-_1\u0661\u3000"
_atoms = st.sampled_from([
    "a", "b", "i", "I", "\u0131", "\u0130", "s", "k", "\u00e9", " ", "-", r"\-", ".", r"\w", r"\W", r"\d",
    r"\D", r"\s", r"\S", "[ab]", "[^a]", "[a-z]", "[^i]", r"[\w-]", r"[^\s?]", r"[\d\s]", "[A-Z0-9]",
    r"[\W_]", r"[^\W\d]", "^", "$", r"\A", r"\Z", r"\x{}".replace("{}", "61"),
])


def _patterns():
    def extend(children):
        return st.one_of(
            st.lists(children, min_size=2, max_size=4).map("".join),
            st.lists(children, min_size=2, max_size=3).map(lambda alts: "(?:%s)" % "|".join(alts)),
            children.map(lambda p: "(%s)" % p),
            st.tuples(st.sampled_from("xyz"), children).map(lambda t: "(?P<%s>%s)" % t),
            st.tuples(children, st.sampled_from(["*", "+", "?", "*?", "+?", "??", "{2}", "{1,3}", "{0,2}?"])
                      ).map(lambda t: "(?:%s)%s" % t),
            children.map(lambda p: "(?i:%s)" % p),
        )
    return st.recursive(_atoms, extend, max_leaves=8)


_FLAGS = st.sampled_from([0, re.IGNORECASE, re.DOTALL, re.MULTILINE, re.IGNORECASE | re.DOTALL, re.ASCII,
                          re.ASCII | re.IGNORECASE, re.IGNORECASE | re.MULTILINE])


class TranslationTests(SynchronousTestCase):
    @given(_patterns(), _FLAGS, st.text(_ALPHABET, max_size=10))
    def test_finds_what_python_finds(self, regex, flags, text):
        try:
            re.compile(regex, flags)
        except re.error:
            assume(False)
        # The one difference: $ without MULTILINE is only the very end (Python's: also before a final \n).
        assume(not (text.endswith("\n") and "$" in regex and not flags & re.MULTILINE))
        same(self, regex, flags, text)

    def test_iterating_over_empty_matches(self):
        # RE2's own Python module gives this empty match twice.
        self.assertEqual([m.span() for m in linear("a|$").finditer("1")], [(1, 1)])
        self.assertEqual(linear("x*").sub("-", "abxd"), "-a-b--d-")
        self.assertEqual(linear("x*").sub("-", "abxd", count=2), "-a-bxd")
        self.assertEqual(linear("x*").split("axbc"), ["", "a", "", "b", "c", ""])
        self.assertEqual(linear(r"(\d)").findall("a1b2\u0663"), ["1", "2", "\u0663"])
        # The documented difference: Python backtracks into "a" after the empty match at 0.
        self.assertEqual([m.span() for m in linear("a*?").finditer("aa")], [(0, 0), (1, 1), (2, 2)])
        self.assertEqual([m.span() for m in re.finditer("a*?", "aa")],
                         [(0, 0), (0, 1), (1, 1), (1, 2), (2, 2)])

    def test_pos_and_endpos(self):
        p, q = linear(r"^\w"), re.compile(r"^\w")
        for args in [(1,), (0, 1), (2, 1), (5,), (1, 99)]:
            ours, theirs = p.search("ab\u00e9c", *args), q.search("ab\u00e9c", *args)
            self.assertEqual(ours and ours.span(), theirs and theirs.span(), args)
        m = linear(r"\w+").search("\u00e9t\u00e9 caf\u00e9", 4, 7)
        self.assertEqual((m.span(), m.group(), m.pos, m.endpos), ((4, 7), "caf", 4, 7))
        self.assertEqual([f.span() for f in linear("b").finditer("abab", 2)], [(3, 4)])

    def test_categories_are_pythons(self):
        rng = random.Random(16)
        points = list(range(0x800)) + [rng.randrange(0x800, sys.maxunicode + 1) for _ in range(3000)]
        text = "".join(chr(p) for p in points if not 0xD800 <= p <= 0xDFFF)
        for category in (r"\w", r"\W", r"\d", r"\D", r"\s", r"\S", r"[\w-]", r"[^\s,]"):
            for flags in (0, re.ASCII):
                ours, theirs = linear(category, flags), re.compile(category, flags)
                self.assertEqual([m.start() for m in ours.finditer(text)],
                                 [m.start() for m in theirs.finditer(text)], (category, flags))

    def test_case_folds_as_python(self):
        letters = ("iI\u0131\u0130sS\u017fkK\u212a\u00df\u1e9e\u03c3\u03c2\u03a3\u00b5\u039c\u03bc"
                   "\u01c4\u01c5\u01c6\u1e60\u1e9b\u0398\u03d1\u03b8\u2126\u03c9")
        for a in letters:
            for regex in (re.escape(a), "[%s]" % a, "[^%s]" % a, "[a-z]", "[^a-z]", r"[\w]"):
                for flags in (re.IGNORECASE, re.IGNORECASE | re.ASCII):
                    for b in letters:
                        same(self, regex, flags, b)

    def test_named_groups_and_match_api(self):
        p = linear(r"(?P<key>\w+)=(?P<value>\w*)(?P<rest>;)?")
        m = p.search("x: foo=bar")
        self.assertEqual(m.groupdict(), {"key": "foo", "value": "bar", "rest": None})
        self.assertEqual(m.groupdict(""), {"key": "foo", "value": "bar", "rest": ""})
        self.assertEqual((m.start("value"), m.end("key"), m.span("key"), m.span()), (7, 6, (3, 6), (3, 10)))
        self.assertEqual((m["key"], m.group("key", "value"), m.group(0), m.lastgroup), ("foo", ("foo", "bar"),
                                                                                        "foo=bar", "value"))
        self.assertEqual(p.groupindex, {"key": 1, "value": 2, "rest": 3})
        self.assertEqual(p.groups, 3)
        self.assertRaises(IndexError, m.start, "nope")
        self.assertEqual(p.sub(lambda found: found.group("key").upper(), "a=1 b=2"), "A B")
        self.assertEqual(p.sub(r"\g<value>:\1", "a=1 b=2"), "1:a 2:b")
        self.assertEqual(p.findall("a=1 b=2"), [("a", "1", ""), ("b", "2", "")])
        self.assertEqual(linear(",").split("a,b,c", 1), ["a", "b,c"])
        self.assertIs(m.re, p)
        self.assertEqual((p.pattern, p.flags & re.IGNORECASE),
                         (r"(?P<key>\w+)=(?P<value>\w*)(?P<rest>;)?", 0))

    def test_offsets_count_characters(self):
        m = linear(r"(?P<w>\w+)$").search("\u00e9t\u00e9 \u3000 \U0001F600 caf\u00e9")
        self.assertEqual((m.span("w"), m.group("w")), ((8, 12), "caf\u00e9"))

    def test_lone_surrogates_never_raise(self):
        p = linear(r"x(?P<mid>.)y")
        m = p.search("a x\ud800y b")
        self.assertEqual((m.span(), m.group("mid")), ((2, 5), "\ufffd"))
        self.assertEqual([f.span() for f in p.finditer("x\udfffy x\u00e9y")], [(0, 3), (4, 7)])

    def test_python_flags_and_inline_flags_are_kept(self):
        p = linear(r"(?s)a.b", re.IGNORECASE)
        self.assertEqual(p.flags & (re.DOTALL | re.IGNORECASE), re.DOTALL | re.IGNORECASE)
        self.assertIsNotNone(p.match("A\nB"))
        self.assertIsNotNone(linear(linear("a.b"), re.DOTALL).match("a\nb"))
        self.assertIsNotNone(linear(re.compile("^b", re.M)).search("a\nb"))

    def test_what_re2_cannot_mean_is_refused(self):
        for regex, flags, why in [
                (r"(?<!\w)x", 0, "lookbehind"), (r"x(?=y)", 0, "lookahead"), (r"x(?!y)", 0, "lookahead"),
                (r"(a)\1", 0, "backreference"), (r"(?P<a>x)(?P=a)", 0, "backreference"),
                (r"(a)?(?(1)b|c)", 0, "conditional"), (r"(?>ab)", 0, "atomic"), (r"a*+", 0, "possessive"),
                (r"\bword\b", 0, "\\b"), (r"\Bx", 0, "\\b"), ("a{1001}", 0, "RE2 refused")]:
            with self.assertRaises(Unsupported) as caught:
                linear(regex, flags)
            self.assertIn(why, str(caught.exception), regex)
        self.assertRaises(Unsupported, linear, rb"bytes")
        self.assertRaises(re.error, linear, r"(unclosed")
        self.assertIsNotNone(linear(r"\bword\b", re.ASCII).search("a word."))


class FixedStartTests(SynchronousTestCase):
    def test_leading_literals_and_whitespace(self):
        fixed_start = patterns.fixed_start
        self.assertEqual(fixed_start(r"do\s+you\s*know\s(?P<x>.+)"), r"do\s{1,}you")
        self.assertEqual(fixed_start(r"a.b"), "a")
        self.assertEqual(fixed_start(r"(?P<x>\S+)"), "")
        self.assertEqual(fixed_start(r"x|y"), "")
        self.assertEqual(fixed_start(r"c\+\+ (?:is)"), r"c\+\+\ is")
        for pattern, text in [(r"say\s+(?P<x>.+)", "say  hi"), (r"c\+\+ \w", "c++ x")]:
            self.assertTrue(re.match(fixed_start(pattern), text))


class WorkBoundTests(SynchronousTestCase):
    def test_the_issues_pattern_is_unbounded_on_re_and_linear_on_re2(self):
        self.assertIsNone(work_bound(re.compile(OLD_TEACH, re.IGNORECASE | re.DOTALL), 512))
        fixed = linear(OLD_TEACH, re.IGNORECASE | re.DOTALL)
        self.assertLessEqual(work_bound(fixed, 512), LIMIT)
        # Linear: twice the line, twice the bound.
        self.assertEqual(work_bound(fixed, 1023), 2 * work_bound(fixed, 511))

    def test_backtracking_bounds(self):
        bound = work_bound
        self.assertIsNone(bound(re.compile(r"(a+)+b"), 512))
        self.assertIsNone(bound(re.compile(r"(?:a|a)*b"), 512))
        self.assertGreater(bound(re.compile(r".+?\s*\Z"), 512), LIMIT)  # quadratic
        self.assertLessEqual(bound(re.compile(r"\?$", re.M), 512), 512 * 4)
        self.assertLessEqual(bound(re.compile(" is ", re.I), 512), 513 * 6)
        self.assertLessEqual(bound(re.compile(r"(?<!\w)x{0,63}y(?!\w)"), 512), LIMIT)
        self.assertIsNotNone(bound(re.compile(r"(\w{1,8})\1"), 512))
        # A longer line is more work; the bound grows with it.
        self.assertLess(bound(re.compile(r"a[bc]{0,9}d"), 100), bound(re.compile(r"a[bc]{0,9}d"), 200))

    def test_ambiguity_multiplies(self):
        """Every alternative counts as a way on (conservative): k ambiguous repeats cost 2**k."""
        small, big = (work_bound(re.compile("(?:a|a){0,%d}b" % k), 512) for k in (10, 20))
        self.assertGreater(big, small * 2 ** 9)
        self.assertIsNone(work_bound(re.compile("(?:a|a){0,60}b"), 512))

    def test_bounded_refuses_what_it_cannot_bound(self):
        self.assertIsInstance(bounded(r"(?<![\w.])\w{1,8}\+\+"), re.Pattern)
        self.assertRaises(Unsupported, bounded, r"(?<!\w)\w+\+\+\s*\Z")
        self.assertRaises(Unsupported, bounded, r"(a+)+b")


class CompilePolicyTests(SynchronousTestCase):
    def test_re2_when_it_can(self):
        with capturedLogs() as events:
            found = patterns.compile(r"hello\s+(?P<who>\w+)", owner="myplugin.greet")
        self.assertIsInstance(found, LinearPattern)
        self.assertEqual(events, [])

    def test_falls_back_to_re_with_a_warning_naming_plugin_and_pattern(self):
        for regex, risk in [(r"(?<!\w)hi(?!\w)", "its work is bounded"),
                            (r"(?<!x)(a+)+b", "NOT bounded")]:
            with capturedLogs() as events:
                found = patterns.compile(regex, owner="myplugin.greet")
            self.assertIsInstance(found, re.Pattern)
            self.assertEqual(found.pattern, regex)
            [event] = events
            self.assertEqual(event["log_level"], LogLevel.warn)
            self.assertEqual((event["owner"], event["pattern"]), ("myplugin.greet", regex))
            self.assertIn("lookbehind", event["reason"])
            self.assertIn(risk, event["risk"])

    def test_with_flags_keeps_the_engine(self):
        self.assertIsInstance(patterns.with_flags(linear("a$"), re.MULTILINE), LinearPattern)
        self.assertTrue(patterns.with_flags(linear("a$"), re.MULTILINE).search("a\nb"))
        kept = patterns.with_flags(re.compile(r"(?<!b)a$"), re.MULTILINE)
        self.assertIsInstance(kept, re.Pattern)
        self.assertTrue(kept.flags & re.MULTILINE)
