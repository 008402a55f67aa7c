"""@require, [permissions] and @rate: who may use a command, and how often."""

import re

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command, rate, require
from pubbot.config.settings import ConfigError, parse
from pubbot.irc.casemap import folder
from pubbot.irc.roster import Roster
from pubbot.testing import Harness


class Spy:
    """A pattern that records the texts it is asked to match."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.texts = []

    def match(self, text):
        self.texts.append(text)
        return self.pattern.match(text)


@command("kick", args=r"(?P<nick>\S+)(?:\s+(?P<reason>.+))?", usage="<nick> [reason]")
@require("op")
def kick(msg, nick, reason=None):
    """Ops: kicks someone."""
    return "kicked %s" % (nick,)


@command("topic", args=r"(?P<text>.+)", usage="<text>")
@require("voice")
def topic(msg, text):
    """Voiced people: sets the topic."""
    return "topic: %s" % (text,)


@require("admin")
@command("quit")
def quit_(msg):
    """Admins: leaves (require above @command works too)."""
    return "bye"


@command("roll")
@rate(user=2, channel=(4, 100), per=60)
def roll(msg):
    """Rolls a die."""
    return "4"


ADMINS = {"plugins": {"admins": ["root"]}}


NO_OPS = "Sorry %s, kick needs ops (+o) in #pubbot."


class RequireTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(kick, topic, quit_, config=ADMINS)

    def test_ops_may_and_others_are_told_what_is_needed(self):
        self.assertEqual(self.h.reply("!kick bob", source="eve"), NO_OPS % "eve")
        self.h.give_modes("carol", "o")
        self.assertEqual(self.h.reply("!kick bob", source="carol"), "kicked bob")
        self.h.give_modes("vic", "v")
        self.assertEqual(self.h.reply("!kick bob", source="vic"), NO_OPS % "vic")

    def test_modes_are_read_live_and_per_channel(self):
        self.h.give_modes("carol", "o")
        self.assertEqual(self.h.reply("!kick bob", source="carol", channel="#other"),
                         "Sorry carol, kick needs ops (+o) in #other.")
        self.h.give_modes("carol", "")
        self.assertIsNone(self.h.reply("!kick bob", source="carol"))  # refused, and told a minute ago
        self.h.clock.advance(60)
        self.assertEqual(self.h.reply("!kick bob", source="carol"), NO_OPS % "carol")

    def test_voice_passes_for_voice_and_op_and_admins_pass_everything(self):
        self.h.give_modes("vic", "v")
        self.h.give_modes("olga", "o")
        self.assertEqual(self.h.reply("!topic hi", source="vic"), "topic: hi")
        self.assertEqual(self.h.reply("!topic hi", source="olga"), "topic: hi")
        self.assertEqual(self.h.reply("!topic hi", source="eve"),
                         "Sorry eve, topic needs voice (+v) or ops in #pubbot.")
        self.assertEqual(self.h.reply("!kick bob", source="root", account="root"), "kicked bob")
        self.assertEqual(self.h.reply("!quit", source="root", account="root"), "bye")

    def test_admin_is_by_account_or_host_never_by_nick(self):
        self.assertEqual(self.h.reply("!quit", source="root"), "Sorry root, only admins can use quit.")
        h = Harness(quit_, config={"plugins": {"admins": ["ops@trusted.example"]}})
        self.assertEqual(h.reply("!quit", source="x", hostmask="x!ops@trusted.example"), "bye")

    def test_in_private_only_admins_pass_a_channel_requirement(self):
        self.h.give_modes("carol", "o")
        self.assertEqual(self.h.reply("!kick bob", source="carol", private=True),
                         "Sorry carol, kick needs ops (+o) in a channel (ask there).")
        self.assertEqual(self.h.reply("!kick bob", source="root", account="root", private=True), "kicked bob")

    def test_checked_before_the_arguments_are_read(self):
        spy = Spy(kick.pattern)
        kick.pattern = spy
        try:
            self.h.reply("!kick " + "x " * 200, source="eve")
            self.assertEqual(spy.texts, [])
            self.h.give_modes("carol", "o")
            self.h.reply("!kick bob", source="carol")
            self.assertEqual(spy.texts, ["kick bob"])
        finally:
            kick.pattern = spy.pattern

    def test_the_config_raises_or_lowers_a_requirement(self):
        h = Harness(kick, quit_, config={"permissions": {"kick": "anyone", "Quit": "voice"}})
        self.assertEqual(h.reply("!kick bob", source="eve"), "kicked bob")
        self.assertEqual(h.reply("!quit", source="eve"),
                         "Sorry eve, quit needs voice (+v) or ops in #pubbot.")
        h.give_modes("vic", "v")
        self.assertEqual(h.reply("!quit", source="vic"), "bye")
        h = Harness(kick, config={"permissions": {"kick": "admin"}, **ADMINS})
        h.give_modes("carol", "o")
        self.assertEqual(h.reply("!kick bob", source="carol"), "Sorry carol, only admins can use kick.")

    def test_bad_levels_are_refused(self):
        self.assertRaises(ValueError, require, "god")
        with self.assertRaises(ConfigError) as e:
            parse({"permissions": {"kick": "god"}})
        self.assertEqual(str(e.exception),
                         "[permissions] kick must be one of anyone, voice, op, admin, not 'god'")
        self.assertRaises(ConfigError, parse, {"permissions": ["kick"]})


class RateTests(SynchronousTestCase):
    def test_per_user_and_per_channel_and_refusals_do_not_extend_the_window(self):
        h = Harness(roll)
        self.assertEqual(h.reply("!roll", source="a"), "4")
        h.clock.advance(10)
        self.assertEqual(h.reply("!roll", source="a"), "4")
        self.assertEqual(h.reply("!roll", source="a"), "a: slow down; roll again in 50s.")
        for _ in range(5):
            self.assertIsNone(h.reply("!roll", source="a"))  # told once; not counted
        h.clock.advance(50)
        self.assertEqual(h.reply("!roll", source="a"), "4")  # the first use left the window
        # four a channel per 100s: a (t=0, 10, 60) and b
        self.assertEqual(h.reply("!roll", source="b"), "4")
        self.assertEqual(h.reply("!roll", source="c"), "c: slow down; roll again in 40s.")
        self.assertEqual(h.reply("!roll", source="c", channel="#elsewhere"), "4")

    def test_bad_declarations(self):
        self.assertRaises(ValueError, rate)
        self.assertRaises(ValueError, rate, user=0)
        self.assertRaises(ValueError, rate, user=(1, 0))


class RosterModeTests(SynchronousTestCase):
    def test_modes_of_a_member(self):
        r = Roster(folder("rfc1459"), "~&@%+", "qaohv")
        r.join("#c", "Carol")
        r.names("#c", ["@+carol", "%hal", "dave"])
        r.end_of_names("#c")
        self.assertEqual(r.modes("#C", "CAROL"), "ov")
        self.assertEqual(r.modes("#c", "hal"), "h")
        self.assertEqual(r.modes("#c", "dave"), "")
        self.assertEqual(r.modes("#c", "nobody"), "")
        self.assertEqual(r.modes("#nowhere", "carol"), "")
        r.set_prefix("#c", "dave", "@", True)
        self.assertEqual(r.modes("#c", "dave"), "o")


@command("ban", args=r"(?P<nick>\S+)\s+(?P<minutes>\d+)", usage="<nick> <minutes>")
@require("op")
def ban(msg, nick=None, minutes=None):
    """Ops: bans someone for a while."""
    return "banned %s for %s minutes" % (nick, minutes)


class UsageTests(SynchronousTestCase):
    def test_the_refusal_comes_before_the_usage_line(self):
        h = Harness(ban)
        self.assertEqual(h.reply("!ban bob soon", source="eve"), "Sorry eve, ban needs ops (+o) in #pubbot.")
        h.give_modes("olga", "o")
        self.assertEqual(h.reply("!ban bob soon", source="olga"), "Usage: !ban <nick> <minutes>")
        self.assertTrue(re.match(r"banned bob", h.reply("!ban bob 5", source="olga")))


class UnenforcedTests(SynchronousTestCase):
    def test_words_no_command_checks_are_logged_at_start(self):
        from twisted.logger import capturedLogs

        from pubbot.plugins import seen
        with capturedLogs() as events:
            Harness(kick, seen.seen, config={"permissions": {"kick": "voice", "seen": "op", "nosuch": "op"}})
        words = [e["word"] for e in events if "[permissions]" in e.get("log_format", "")]
        self.assertEqual(words, ["nosuch", "seen"])
