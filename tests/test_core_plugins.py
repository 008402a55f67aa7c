"""help, ping, version, uptime."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command
from pubbot.plugins import core
from pubbot.testing import Harness


@command("dropped", usage="<x>")
def dropped(msg):
    """A drop-in's command."""


class CorePluginTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(core.help, core.ping, core.version, core.uptime, dropped)

    def test_ping_by_prefix_and_address(self):
        self.assertEqual(self.bot.reply("!ping"), "pong")
        self.assertEqual(self.bot.reply("pubbot: ping"), "pong")
        self.assertIsNone(self.bot.reply("ping"))

    def test_version(self):
        self.assertIn("pubbot", self.bot.reply("!version"))
        self.assertIn("Twisted", self.bot.reply("!version"))

    def test_uptime_on_injected_clock(self):
        self.assertEqual(self.bot.reply("!uptime"), "I have been up for 0s.")
        self.bot.clock.advance(3 * 86400 + 2 * 3600 + 3 * 60 + 4)
        self.assertEqual(self.bot.reply("!uptime"), "I have been up for 3 days, 2:03:04.")

    def test_help_lists_every_trigger_including_dropins(self):
        text = self.bot.reply("!help", private=True)
        self.assertIn("!ping: Answers pong", text)
        self.assertIn("!dropped <x>: A drop-in's command.", text)
        self.assertEqual(len(text.split("\n")), 5)

    def test_help_in_channel_sends_privately(self):
        text = self.bot.reply("!help", source="carol")
        self.assertIn("carol", text)
        target, listing, kind = self.bot.sent[0]
        self.assertEqual((target, kind), ("carol", "notice"))
        self.assertIn("!uptime", listing)

    def test_help_for_one_command(self):
        self.assertEqual(self.bot.reply("!help ping"), "!ping: Answers pong: am I alive?")
        self.assertEqual(self.bot.reply("!help !ping"), "!ping: Answers pong: am I alive?")
        self.assertEqual(self.bot.reply("!help nosuch"),
                         "I know no command 'nosuch'; say !help for the list.")
        self.assertEqual(self.bot.reply("!help caf\u00e9"),
                         "I know no command 'caf\u00e9'; say !help for the list.")

    def test_help_count_in_words(self):
        bot = Harness(core.help)
        self.assertEqual(bot.reply("!help", source="carol"),
                         "carol: I've sent you the one thing I answer to.")
        self.assertEqual(self.bot.reply("!help", source="carol"),
                         "carol: I've sent you the 5 things I answer to.")
