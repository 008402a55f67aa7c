"""help, ping, version, uptime."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command
from pubbot.plugins import core
from pubbot.testing import Harness, check_examples


@command("dropped", usage="<x>")
def dropped(msg):
    """A drop-in's command."""


def make(i):
    @command("cmd%03d" % i)
    def f(msg):
        """A generated command."""
    f.func.__module__ = "generated%02d" % (i // 10)
    return f


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

    def test_help_names_plugins_and_their_commands_including_dropins(self):
        text = self.bot.reply("!help", private=True)
        self.assertEqual(text, "core: !help !ping !uptime !version; test_core_plugins: !dropped; "
                               "!help <command> or <plugin> for more.")

    def test_help_answers_in_the_channel_within_the_reply_cap(self):
        bot = Harness(core.help, *[make(i) for i in range(200)], config={"irc": {"max_reply_lines": 2}})
        text = bot.reply("!help", source="carol")
        lines = text.split("\n")
        self.assertEqual(len(lines), 2)
        self.assertTrue(all(len(line) <= 300 for line in lines))
        self.assertTrue(lines[-1].endswith("… !help <command> or <plugin> for more."), lines[-1])
        self.assertEqual([(target, kind) for target, _, kind in bot.sent], [("#pubbot", "say")])

    def test_help_lines_fit_a_wire_line_in_bytes_whatever_the_script(self):
        # IRC splits a line by bytes: 300 Cyrillic characters are 600 bytes, two lines past the cap
        def russian(i):
            @command("\u043a\u043e\u043c\u0430\u043d\u0434\u0430%03d" % i)
            def f(msg):
                """A command (its description, set below, is long)."""
            f.description = "\u041a\u043e\u043c\u0430\u043d\u0434\u0430 " * 60
            f.func.__module__ = "\u043f\u043b\u0430\u0433\u0438\u043d%02d" % (i // 10)
            return f
        bot = Harness(core.help, *[russian(i) for i in range(100)], config={"irc": {"max_reply_lines": 3}})
        for asked in ("!help", "!help \u043a\u043e\u043c\u0430\u043d\u0434\u0430001",
                      "!help \u043f\u043b\u0430\u0433\u0438\u043d01"):
            lines = bot.reply(asked, source="carol").split("\n")
            self.assertLessEqual(len(lines), 3, asked)
            self.assertLessEqual(max(len(line.encode("utf-8")) for line in lines), 300, asked)
            bot.clock.advance(60)

    def test_help_for_one_command(self):
        self.assertEqual(self.bot.reply("!help ping"), "!ping: Answers pong: am I alive?\ne.g. !ping → pong")
        self.assertEqual(self.bot.reply("!help !ping"), "!ping: Answers pong: am I alive?\ne.g. !ping → pong")
        self.assertEqual(self.bot.reply("!help dropped"), "!dropped <x>: A drop-in's command.")
        self.assertEqual(self.bot.reply("!help nosuch"),
                         "I know no command or plugin 'nosuch'; say !help for the list.")
        self.assertEqual(self.bot.reply("!help caf\u00e9"),
                         "I know no command or plugin 'caf\u00e9'; say !help for the list.")

    def test_help_for_one_plugin(self):
        self.assertEqual(self.bot.reply("!help core").split("\n"), [
            "!help [command|plugin]: The plugins and their commands; "
            "'help <command>' or 'help <plugin>' for one.",
            "!ping: Answers pong: am I alive?", "!version: Says which pubbot, Twisted and Python this is.",
            "!uptime: Says how long I have been running."])

    def test_help_shows_what_a_command_needs(self):
        bot = Harness(core.help, core.ping, config={"permissions": {"ping": "op"}})
        self.assertEqual(bot.reply("!help ping").split("\n")[0], "!ping [op]: Answers pong: am I alive?")

    def test_bad_arguments_answer_the_usage_line_once_a_minute(self):
        self.assertEqual(self.bot.reply("!help me please"), "Usage: !help [command|plugin]")
        self.assertIsNone(self.bot.reply("!help me please"))
        self.assertEqual(self.bot.reply("!ping you", source="bob"), "Usage: !ping")
        self.bot.clock.advance(60)
        self.assertEqual(self.bot.reply("!help me please"), "Usage: !help [command|plugin]")
        # a remark addressed to the bot is not a command given wrong
        self.assertIsNone(self.bot.reply("pubbot: ping me later", source="dan"))

    def test_the_examples_run(self):
        self.assertEqual(check_examples(core), 6)
