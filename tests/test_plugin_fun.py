"""blame (from the roster) and the christmas countdown (on the injected clock)."""

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.core.dispatch import ContentFilter, joined_contents
from pubbot.core.message import Message
from pubbot.plugins import core
from pubbot.plugins.fun import blame, christmas, christmas_mentions
from pubbot.testing import Harness


def let_through(content_filter, texts):
    """The positions of C{texts}, one batch, that the dispatcher lets a handler with C{content_filter} see."""
    batch = [Message("chat.irc.#c.chat", {"content": t}) for t in texts]
    return set(ContentFilter(content_filter).select(batch, joined_contents(batch)))


def at(*when):
    return datetime(*when, tzinfo=UTC).timestamp()


def harness(*when, tz="UTC"):
    return Harness(christmas, christmas_mentions, blame, core.help, start_time=at(*when),
                   config={"fun": {"timezone": tz}})


class BlameTests(SynchronousTestCase):
    def setUp(self):
        self.bot = harness(2026, 6, 1)

    def test_blames_someone_in_the_channel_but_never_itself(self):
        self.bot.chat.rosters["#pubbot"] = ["alice", "bob", "carol", "PubBot"]
        blamed = {self.bot.reply("!blame") for _ in range(40)}
        self.assertEqual(blamed, {"It's all your fault, alice!", "It's all bob's fault!",
                                  "It's all carol's fault!"})

    def test_possessives(self):
        self.bot.chat.rosters["#pubbot"] = ["James", "alice"]
        blamed = {self.bot.reply("!blame", source="James") for _ in range(20)}
        self.assertEqual(blamed, {"It's all your fault, James!", "It's all alice's fault!"})
        self.assertEqual({self.bot.reply("!blame") for _ in range(20)},
                         {"It's all James' fault!", "It's all your fault, alice!"})

    def test_the_console_room_never_says_you_s(self):
        """The console's user is called 'you': blaming them is 'your fault', not 'you's fault'."""
        self.bot.chat.rosters["#pubbot"] = ["you", "pubbot"]
        self.assertEqual(self.bot.reply("!blame", source="you"), "It's all your fault!")

    def test_deterministic_with_a_seeded_random_source(self):
        rosters = {"#pubbot": ["alice", "bob", "carol"]}
        picks = []
        for _ in range(2):
            bot = harness(2026, 6, 1)
            bot.chat.rosters.update(rosters)
            picks.append([bot.reply("pubbot: blame") for _ in range(5)])
        self.assertEqual(picks[0], picks[1])

    def test_nobody_else_here(self):
        self.assertEqual(self.bot.reply("!blame"), "It's all my fault!")
        self.bot.chat.rosters["#pubbot"] = ["pubbot"]
        self.assertEqual(self.bot.reply("!blame"), "It's all my fault!")

    def test_in_private(self):
        self.bot.chat.rosters["#pubbot"] = ["alice", "bob"]
        self.assertEqual(self.bot.reply("blame", private=True), "It's all my fault!")

    def test_only_the_command(self):
        self.bot.chat.rosters["#pubbot"] = ["alice"]
        self.assertIsNone(self.bot.reply("blame the network"))
        self.assertEqual(self.bot.reply("!blame the network"), "Usage: !blame")


class ChristmasTests(SynchronousTestCase):
    def test_countdown(self):
        self.assertEqual(harness(2026, 12, 13, 12).reply("!christmas"), "Only 12 days 'til Christmas!")
        self.assertEqual(harness(2026, 12, 24, 12).reply("!christmas"), "Only 1 day 'til Christmas!")
        self.assertEqual(harness(2026, 12, 25, 0, 1).reply("!christmas"), "It's Christmas! \\o/")
        self.assertEqual(harness(2026, 12, 26).reply("!christmas"), "Only 364 days 'til Christmas!")
        self.assertEqual(harness(2027, 3, 1).reply("!christmas"), "Only 299 days 'til Christmas!")

    def test_follows_the_injected_clock(self):
        bot = harness(2026, 12, 23, 23, 59)
        self.assertEqual(bot.reply("!christmas"), "Only 2 days 'til Christmas!")
        bot.clock.advance(60)
        self.assertEqual(bot.reply("!christmas"), "Only 1 day 'til Christmas!")
        bot.clock.advance(86400)
        self.assertEqual(bot.reply("!christmas"), "It's Christmas! \\o/")

    def test_timezone(self):
        self.assertEqual(harness(2026, 12, 24, 23, 30).reply("!christmas"), "Only 1 day 'til Christmas!")
        self.assertEqual(harness(2026, 12, 24, 23, 30, tz="Europe/Berlin").reply("!christmas"),
                         "It's Christmas! \\o/")
        self.assertEqual(harness(2026, 12, 25, 3, tz="America/New_York").reply("!christmas"),
                         "Only 1 day 'til Christmas!")

    def test_host_time_when_no_timezone(self):
        bot = Harness(christmas, start_time=at(2026, 7, 1, 12))
        self.assertRegex(bot.reply("!christmas"), r"^Only 17\d days 'til Christmas!$")

    def test_mentions_in_season(self):
        bot = harness(2026, 12, 1, 12)
        self.assertEqual(bot.reply("Christmas shopping, ugh"), "Only 24 days 'til Christmas!")
        self.assertIsNone(bot.reply("christmas again"))  # once per channel every 6 hours
        self.assertEqual(bot.reply("CHRISTMAS!", channel="#other"), "Only 24 days 'til Christmas!")
        bot.clock.advance(6 * 3600)
        self.assertEqual(bot.reply("about christmas"), "Only 24 days 'til Christmas!")

    def test_mentions_out_of_season_or_not_the_word(self):
        self.assertIsNone(harness(2026, 7, 1).reply("christmas in july!"))
        self.assertIsNone(harness(2026, 12, 27).reply("christmas was nice"))
        self.assertIsNone(harness(2026, 12, 1).reply("how christmassy"))

    def test_the_command_does_not_use_up_the_mention(self):
        bot = harness(2026, 12, 1, 12)
        bot.reply("!christmas")
        self.assertEqual(bot.reply("christmas"), "Only 24 days 'til Christmas!")

    def test_shown_by_help(self):
        text = harness(2026, 1, 1).reply("!help fun", private=True)
        self.assertIn("!christmas: Counts the days until Christmas.", text)
        self.assertIn("!blame: Finds someone in the channel to blame.", text)


class MentionFilterTests(SynchronousTestCase):
    @given(st.lists(st.lists(st.sampled_from(["c", "C", "hristmas", "HRISTMAS", "hRISTmas", "Christ", "mas",
                                              " ", "\n", "!"]), max_size=6).map("".join), max_size=6))
    def test_the_filter_lets_through_every_line_checked_for_a_mention(self, texts):
        checked = {i for i, text in enumerate(texts) if "hristmas" in text or "HRISTMAS" in text}
        self.assertLessEqual(checked, let_through(christmas_mentions.content_filter, texts))

    def test_a_mention_in_a_batch_of_chatter(self):
        h = harness(2026, 12, 20)
        lines = ["hello", "is it CHRISTMAS yet", "christmas!", "xmas"]
        h.bot.bus.submit_many([h.bot.chat_message("irc", "#pubbot", "ann", t, False, {}) for t in lines])
        self.assertEqual(h.sent, [("#pubbot", "Only 5 days 'til Christmas!", "say")])
