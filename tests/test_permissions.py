"""@require, [permissions] and @rate: who may use a command, and how often."""

import re

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command, handler, rate, require
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
        self.assertEqual(words, ["nosuch"])  # seen's guard checks it, as kick's does


class TriggerCommandTests(SynchronousTestCase):
    """[permissions] and @require for commands not made by @command: natural phrasings, bare words."""

    def test_the_handlers_declare_their_words(self):
        from zope.interface.verify import verifyObject

        from pubbot.api import ICommandWords
        from pubbot.plugins import brain, links, music, seen
        handlers = (seen.seen, seen.tell, music.skip, music.np, links.links, brain.brain, kick)
        for each in handlers:
            self.assertTrue(verifyObject(ICommandWords, each), each)
        self.assertEqual([h.guards[0].word for h in handlers],
                         ["seen", "tell", "skip", "np", "lastlink", "unlearn", "kick"])
        self.assertEqual(brain.brain.guards[0].requirement, "admin")

    def test_seen_raised_to_op_covers_every_phrasing(self):
        from pubbot.plugins import seen
        h = Harness(seen.seen, config={"permissions": {"seen": "op"}})
        refused = "Sorry eve, seen needs ops (+o) in #pubbot."
        self.assertEqual(h.reply("!seen bob", source="eve"), refused)
        self.assertIsNone(h.reply("!seen bob", source="eve"))  # told a minute ago
        h.clock.advance(60)
        self.assertEqual(h.reply("pubbot: have you seen bob?", source="eve"), refused)
        h.clock.advance(60)
        self.assertEqual(h.reply("pubbot: has anyone seen bob lately?", source="eve"), refused)
        h.clock.advance(60)
        # not the question: no refusal
        self.assertIsNone(h.reply("pubbot: have you seen the film yesterday", source="eve"))
        self.assertIsNone(h.reply("seen bob", source="eve"))  # not addressed
        h.give_modes("olga", "o")
        self.assertEqual(h.reply("pubbot: have you seen bob?", source="olga"), "I haven't seen bob.")
        self.assertEqual(h.reply("!seen bob", source="olga"), "I haven't seen bob.")

    def test_seen_is_checked_before_the_nick_is_read(self):
        from pubbot.plugins import seen
        h = Harness(seen.seen, config={"permissions": {"seen": "op"}})
        pattern = seen._SEEN
        spy = Spy(pattern)
        seen._SEEN = spy
        try:
            self.assertIn("needs ops", h.reply("!seen " + "x" * 5000, source="eve"))
            self.assertEqual(spy.texts, [])
        finally:
            seen._SEEN = pattern

    def test_require_on_a_handler_with_one_word(self):
        from pubbot.plugins import seen
        h = Harness(require("voice")(seen.Seen()))
        self.assertEqual(h.reply("!seen bob", source="eve"),
                         "Sorry eve, seen needs voice (+v) or ops in #pubbot.")
        h.give_modes("vic", "v")
        self.assertEqual(h.reply("!seen bob", source="vic"), "I haven't seen bob.")
        plain = handler(subscribe=["chat.*.*.chat"])(lambda msg: None)
        self.assertRaises(TypeError, require("op"), plain)  # answers no command word

    def test_rate_on_a_handler_with_one_word(self):
        from pubbot.plugins import seen
        h = Harness(rate(user=1)(seen.Seen()))
        self.assertEqual(h.reply("!seen bob", source="eve"), "I haven't seen bob.")
        self.assertEqual(h.reply("pubbot: have you seen bob?", source="eve"),
                         "eve: slow down; seen again in 60s.")

    def test_skip_raised_to_voice_prefixed_addressed_and_bare(self):
        from pubbot.plugins import music
        h = Harness(music.skip, music.np, config={"permissions": {"skip": "voice"}})
        refused = "Sorry eve, skip needs voice (+v) or ops in #pubbot."
        self.assertEqual(h.reply("!skip", source="eve"), refused)
        h.clock.advance(60)
        self.assertEqual(h.reply("skip", source="eve"), refused)  # the bare word
        h.clock.advance(60)
        self.assertIsNone(h.reply("skip it, let's go to lunch", source="eve"))  # chatter, not the command
        self.assertEqual(h.reply("pubbot: skip 2", source="eve"), refused)
        h.give_modes("vic", "v")
        self.assertEqual(h.reply("skip", source="vic"), "No music player is configured.")
        self.assertEqual(h.reply("!np", source="eve"), "No music player is configured.")  # np is open

    def test_tell_raised_to_admin_leaves_delivery_and_tell_me_alone(self):
        from pubbot.plugins import seen
        h = Harness(seen.Tell(), config={"permissions": {"tell": "admin"}, **ADMINS})
        self.assertEqual(h.reply("!tell bob hi", source="eve"), "Sorry eve, only admins can use tell.")
        self.assertIsNone(h.reply("pubbot: tell me about cheese", source="mallory"))  # education's
        self.assertEqual(h.reply("!tell bob hi", source="root", account="root"),
                         "OK root, I'll tell bob when they next speak.")
        h.reply("hello", source="bob")
        self.assertIn(("#pubbot", "bob: root asked me 0s ago to tell you: hi", "say"), h.sent)

    def test_lastlink_raised_to_op(self):
        from pubbot.plugins.links import Links
        h = Harness(Links(), config={"permissions": {"lastlink": "op"}})
        self.assertEqual(h.reply("!lastlink", source="eve"), "Sorry eve, lastlink needs ops (+o) in #pubbot.")
        h.give_modes("olga", "o")
        self.assertEqual(h.reply("!lastlink", source="olga"), "I have seen no links in #pubbot yet.")

    def test_unlearn_is_for_admins_unless_lowered(self):
        from pubbot.plugins.brain import Brain
        h = Harness(Brain(), config=ADMINS)
        self.assertEqual(h.reply("pubbot: unlearn cheese", source="eve"),
                         "eve: only admins can make me unlearn things.")
        self.assertEqual(h.reply("!unlearn cheese", source="root", account="root"),
                         "I knew nothing about cheese.")
        h = Harness(Brain(), config={"permissions": {"unlearn": "anyone"}})
        self.assertEqual(h.reply("pubbot: unlearn cheese", source="eve"), "I knew nothing about cheese.")
        h = Harness(Brain(), config={"permissions": {"unlearn": "op"}})
        self.assertEqual(h.reply("!unlearn cheese", source="eve"),
                         "Sorry eve, unlearn needs ops (+o) in #pubbot.")

    def test_help_shows_the_levels_and_no_word_is_unenforced(self):
        from twisted.logger import capturedLogs

        from pubbot.plugins import core, links, music, seen
        table = {"seen": "op", "skip": "voice", "tell": "admin", "lastlink": "op"}
        with capturedLogs() as events:
            h = Harness(core.help, seen.seen, seen.tell, music.skip, links.links,
                        config={"permissions": table})
        self.assertEqual([e for e in events if "[permissions]" in e.get("log_format", "")], [])
        self.assertEqual(h.reply("!help seen"), "!seen <nick> [op]: Says when and where someone last spoke, "
                                                "joined or left.\ne.g. !seen bob → I haven't seen bob.")
        self.assertTrue(h.reply("!help skip").startswith("!skip [N] [voice]: "))
        self.assertTrue(h.reply("!help tell").startswith("!tell <nick> [privately] <message> [admin]: "))
        self.assertTrue(h.reply("!help lastlink").startswith("!lastlink [op]: "))
