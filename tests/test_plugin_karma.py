"""karma: ++ and --, never on oneself, rate limited, lookups and rankings."""

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.core.dispatch import ContentFilter, joined_contents
from pubbot.core.message import Message
from pubbot.plugins.karma import _CHANGE, KARMA_KEY, _thing, karma, karma_query
from pubbot.testing import Harness


def let_through(content_filter, texts):
    """The positions of C{texts}, one batch, that the dispatcher lets a handler with C{content_filter} see."""
    batch = [Message("chat.irc.#c.chat", {"content": t}) for t in texts]
    return set(ContentFilter(content_filter).select(batch, joined_contents(batch)))


def changes_karma(text):
    """Would karma change something for C{text} (its checks, without the limits)?"""
    return ("++" in text or "--" in text) and any(
        _thing(found.group("group") or found.group("word")) for found in _CHANGE.finditer(text))


class KarmaTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(karma, karma_query)

    def score(self, thing):
        return self.successResultOf(self.bot.store.hget(KARMA_KEY, thing))

    def test_up_and_down(self):
        self.assertEqual(self.bot.reply("tea++"), "tea's karma is now 1.")
        self.assertEqual(self.bot.reply("Mondays-- seriously", source="bob"), "mondays' karma is now -1.")
        self.assertEqual(self.bot.reply("tea++ for real", source="carol"), "tea's karma is now 2.")
        self.assertEqual(self.score("tea"), 2)

    def test_grouped_and_punctuated_things(self):
        self.bot.reply("(free coffee)++ and c++ and node.js--")
        self.assertEqual(self.score("free coffee"), 1)
        self.assertEqual(self.score("c"), 1)
        self.assertEqual(self.score("node.js"), -1)

    def test_not_karma(self):
        for line in ("run it with --verbose", "x+++", "a -- b", "foo--bar", "i ++ j", "++", "<-- look"):
            self.assertIsNone(self.bot.reply(line), line)
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(KARMA_KEY)), {})

    def test_not_on_oneself(self):
        self.assertEqual(self.bot.reply("alice++"), "alice: you can't change your own karma!")
        self.assertEqual(self.bot.reply("ALICE--"), "alice: you can't change your own karma!")
        self.assertEqual(self.bot.reply("me++", account="Me"), "alice: you can't change your own karma!")
        self.assertIsNone(self.score("alice"))
        self.assertIsNone(self.score("me"))
        self.assertEqual(self.bot.reply("alice++", source="bob"), "alice's karma is now 1.")

    def test_same_thing_once_per_ten_minutes(self):
        self.bot.reply("tea++")
        self.bot.clock.advance(60)
        self.assertEqual(self.bot.reply("tea++"), "alice: you can change tea's karma again in 9:00.")
        self.assertEqual(self.bot.reply("tea++", source="bob", hostmask="bob!b@b"), "tea's karma is now 2.")
        self.bot.clock.advance(540)
        self.assertEqual(self.bot.reply("tea--"), "tea's karma is now 1.")

    def test_per_person_limit(self):
        for i in range(5):
            self.bot.reply("thing%d++" % i)
        self.assertEqual(self.bot.reply("more++"), "Slow down, alice: karma again in 1:00.")
        self.assertIsNone(self.score("more"))
        self.bot.clock.advance(60)
        self.assertEqual(self.bot.reply("more++"), "more's karma is now 1.")

    def test_a_nick_change_does_not_escape_the_limits(self):
        self.bot.reply("tea++", source="alice", hostmask="alice!a@home")
        self.assertIn("again in", self.bot.reply("tea++", source="alice_", hostmask="alice_!a@home"))

    def test_at_most_three_changes_per_line(self):
        self.assertEqual(self.bot.reply("a++ b++ a++ c++ d++ e++"),
                         "a's karma is now 1. b's karma is now 1. c's karma is now 1.")
        self.assertIsNone(self.score("d"))

    def test_huge_line(self):
        reply = self.bot.reply("x" * 100000 + "++ " + "y++ " * 50000 + "\x00\r\n")
        self.assertEqual(reply, "y's karma is now 1.")

    def test_control_characters_in_groups_are_cleaned(self):
        self.bot.reply("(evil\x01thing)++")
        self.assertEqual(self.score("evil thing"), 1)

    def test_ignored_in_private(self):
        self.assertIsNone(self.bot.reply("tea++", private=True))
        self.assertIsNone(self.score("tea"))

    def test_lookup(self):
        self.bot.reply("tea++")
        self.assertEqual(self.bot.reply("!karma TEA"), "tea's karma is 1.")
        self.assertEqual(self.bot.reply("pubbot: karma coffee"), "coffee has no karma.")
        self.assertEqual(self.bot.reply("!karma " + "x" * 100), "Karma is for things of 1 to 64 characters.")

    def test_lookup_of_a_thing_named_top(self):
        self.bot.reply("top++")
        self.assertEqual(self.bot.reply("!karma (top)"), "top's karma is 1.")

    def test_top_and_bottom(self):
        self.assertEqual(self.bot.reply("!karma top"), "Nobody has any karma yet.")
        scores = {"a": 5, "b": 3, "c": 1, "d": -1, "e": -4, "f": 2, "g": 4, "zero": 0}
        for thing, score in scores.items():
            self.bot.store.hset(KARMA_KEY, thing, score)
        self.assertEqual(self.bot.reply("!karma top"), "Best karma: a (5), g (4), b (3), f (2), c (1).")
        self.assertEqual(self.bot.reply("!karma"), "Best karma: a (5), g (4), b (3), f (2), c (1).")
        # The worst are the negative scores only, however few.
        self.assertEqual(self.bot.reply("!karma bottom"), "Worst karma: e (-4), d (-1).")

    def test_best_never_lists_a_negative_score(self):
        for thing, score in {"mondays": -3, "rain": -1}.items():
            self.bot.store.hset(KARMA_KEY, thing, score)
        self.assertEqual(self.bot.reply("!karma top"), "Nothing has positive karma yet.")
        self.assertEqual(self.bot.reply("!karma bottom"), "Worst karma: mondays (-3), rain (-1).")
        self.bot.store.hset(KARMA_KEY, "tea", 2)
        self.assertEqual(self.bot.reply("!karma worst"), "Worst karma: mondays (-3), rain (-1).")
        self.assertEqual(self.bot.reply("!karma best"), "Best karma: tea (2).")
        self.bot.store.hset(KARMA_KEY, "mondays", 0)
        self.bot.store.hset(KARMA_KEY, "rain", 0)
        self.assertEqual(self.bot.reply("!karma bottom"), "Nothing has negative karma yet.")

    def test_possessives(self):
        self.assertEqual(self.bot.reply("mondays--"), "mondays' karma is now -1.")
        self.assertEqual(self.bot.reply("mondays--"), "alice: you can change mondays' karma again in 10:00.")
        self.assertEqual(self.bot.reply("!karma mondays"), "mondays' karma is -1.")
        self.assertEqual(self.bot.reply("(free coffee)++"), "free coffee's karma is now 1.")

    def test_change_reply_yields_to_other_replies(self):
        from pubbot.api import parse_chat_text

        @parse_chat_text("tea")
        def other(msg):
            return {"content": "tea!"}
        bot = Harness(karma, other)
        self.assertEqual(bot.reply("tea++"), "tea!")
        self.assertEqual(self.successResultOf(bot.store.hget(KARMA_KEY, "tea")), 1)


class KarmaPatternProperties(SynchronousTestCase):
    @given(st.text(max_size=300))
    def test_things_are_bounded(self, text):
        for found in _CHANGE.finditer(text):
            thing = found.group("group") or found.group("word")
            self.assertLessEqual(len(thing), 64)
            self.assertIn(found.group("op"), ("++", "--"))

    @given(st.from_regex(r"[a-z][a-z0-9]{0,20}", fullmatch=True), st.sampled_from(["++", "--"]))
    def test_a_word_then_op_is_found(self, word, op):
        found = _CHANGE.search("well %s%s indeed" % (word, op))
        self.assertEqual((found.group("word"), found.group("op")), (word, op))


# Runs of separator, thing and operator, so most lines change something (or nearly).
_KARMA_TEXT = st.lists(st.tuples(
    st.sampled_from([" ", "", "\n", "(", ")", ".", "x", "+"]),
    st.sampled_from(["tea", "c", "(a b)", "x.y", "a-", "a.", "\u00e9", "\u0660", "_", "()", "(a\nb)"]),
    st.sampled_from(["++", "--", "+", "-", ""])), max_size=4).map(lambda runs: "".join(map("".join, runs)))


class KarmaFilterTests(SynchronousTestCase):
    @settings(max_examples=1000)
    @given(st.lists(_KARMA_TEXT, max_size=6))
    def test_the_filter_lets_through_every_line_karma_changes(self, texts):
        changed = {i for i, text in enumerate(texts) if changes_karma(text)}
        self.assertLessEqual(changed, let_through(karma.content_filter, texts))

    def test_chatter_is_filtered_out(self):
        self.assertEqual(let_through(karma.content_filter, ["a - b", "c +", "well", "x -> y"]), set())
        self.assertEqual(let_through(karma.content_filter, ["a - b", "(a b)++", "well", "x.y--"]), {1, 3})

    def test_a_change_in_a_batch_of_chatter(self):
        h = Harness(karma, karma_query)
        lines = ["hello", "tea++ indeed", "a -- b", "(free coffee)--"]
        h.bot.bus.submit_many([h.bot.chat_message("irc", "#pubbot", "ann", t, False, {}) for t in lines])
        self.assertEqual([text for _, text, _ in h.sent],
                         ["tea's karma is now 1.", "free coffee's karma is now -1."])
