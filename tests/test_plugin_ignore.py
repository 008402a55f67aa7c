"""
The ignore list: commands, refusals, bad arguments, the cap, expiry, the
bot tag and [ignore] bots, admins' commands still heard, handlers that
hear ignored lines, and a change made in one process seen by another
sharing the store.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot import ignore as ignoremod
from pubbot.api import Handler, command
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.core.message import Message
from pubbot.ignore import ENTRIES_KEY, Gate, Matcher, mask_problem
from pubbot.ignore.durations import parse_duration
from pubbot.plugins.ignore import ignore, ignore_gate
from pubbot.testing import Harness

CONFIG = {"plugins": {"admins": ["root"]}, "ignore": {"bots": ["otherbot"], "max_entries": 5}}


@command("echo", args=r"(?P<text>.+)")
def echo(msg, text=None):
    """Says it back."""
    return text


@command("purge", admin=True)
def purge(msg):
    """An admin command."""
    return "purged"


class Listener(Handler):
    hears_ignored = True

    def __init__(self):
        self.heard = []
        super().__init__(lambda msg: self.heard.append(msg.fields["content"]), ["chat.*.*.chat"],
                         name="listener")


class IgnoreTests(SynchronousTestCase):
    def setUp(self):
        self.listener = Listener()
        self.bot = Harness(ignore_gate, ignore, echo, purge, self.listener, config=CONFIG)
        self.addCleanup(self.bot.stop)

    def admin(self, text):
        return self.bot.reply(text, source="root", account="root")

    def test_add_list_del(self):
        self.assertEqual(self.bot.reply("!echo hi", source="spammer"), "hi")
        self.assertEqual(self.admin("!ignore add *!*@spam.example flooding"), "Ignoring *!*@spam.example.")
        self.assertIsNone(self.bot.reply("!echo hi", source="spammer", hostmask="spammer!x@spam.example"))
        self.assertEqual(self.bot.reply("!echo hi", source="fine"), "hi")
        self.assertEqual(self.admin("!ignore add mallory 1h"), "Ignoring mallory for 1:00:00.")
        self.assertIsNone(self.bot.reply("!echo hi", source="m", account="Mallory"))
        listed = self.admin("!ignore list")
        self.assertTrue(listed.startswith("Ignored (2): *!*@spam.example (by root: flooding); "
                                          "mallory (by root, 1:00:00 left)"), listed)
        self.assertEqual(self.admin("!ignore del *!*@SPAM.example"),
                         "No longer ignoring *!*@SPAM.example.")
        self.assertEqual(self.bot.reply("!echo back", source="spammer", hostmask="spammer!x@spam.example"),
                         "back")
        self.assertEqual(self.admin("!ignore del nobody"), "nobody is not on the ignore list.")

    def test_entries_expire(self):
        self.admin("!ignore add mallory 10m")
        self.assertIsNone(self.bot.reply("!echo hi", source="m", account="mallory"))
        self.bot.clock.advance(600)
        self.bot.clock.advance(ignoremod.REFRESH_SECONDS)
        self.assertEqual(self.bot.reply("!echo hi", source="m", account="mallory"), "hi")
        self.assertEqual(self.admin("!ignore list"), "Nobody is ignored.")
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(ENTRIES_KEY)), {})

    def test_bots_are_ignored_by_default(self):
        # (on IRC, "bot" is true for a line carrying the bot or draft/bot tag: see the state's tests)
        self.assertIsNone(self.bot.reply("!echo loop", source="anybot", bot=True))
        self.assertIsNone(self.bot.reply("!echo loop", source="OtherBot"))
        self.assertEqual(self.bot.reply("!echo human", source="human", bot=False), "human")
        # a message made without the field (an older process's, a test's) is read by its tags
        self.assertIsNone(self.bot.reply("!echo loop", source="anybot", tags={"draft/bot": ""}))
        self.assertEqual(self.bot.reply("!echo human", source="human", tags={"time": "x"}), "human")
        self.assertEqual(self.bot.reply("!echo human", source="human", bot=False, tags={"bot": ""}), "human")

    def test_the_bot_tag_can_be_heard(self):
        bot = Harness(ignore_gate, echo, config={"ignore": {"bot_tag": False}})
        self.assertEqual(bot.reply("!echo hi", source="anybot", bot=True), "hi")
        bot.stop()

    def test_admins_commands_still_work(self):
        self.admin("!ignore add root")
        self.assertIsNone(self.admin("!echo hi"))
        self.assertEqual(self.admin("!purge"), "purged")
        self.assertEqual(self.admin("!ignore del root"), "No longer ignoring root.")
        # an ignored non-admin is not even refused
        self.admin("!ignore add eve")
        self.assertIsNone(self.bot.reply("!purge", source="eve", account="eve"))

    def test_some_handlers_hear_ignored_lines(self):
        self.admin("!ignore add eve")
        self.bot.reply("spam spam", source="eve", account="eve")
        self.assertIn("spam spam", self.listener.heard)

    def test_refused_to_others(self):
        refusal = "Sorry eve, only admins can use ignore."
        self.assertEqual(self.bot.reply("!ignore add bob", source="eve"), refusal)
        self.assertIsNone(self.bot.reply("!ignore list", source="eve"))  # refusals: one a minute
        self.bot.clock.advance(60)
        self.assertEqual(self.bot.reply("!ignore list", source="eve"), refusal)
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(ENTRIES_KEY)), {})

    def test_bad_arguments(self):
        usage = ("Usage: !ignore add <account|nick!user@host> [duration] [reason] | "
                 "del <account|mask> | list")
        for text in ("!ignore", "!ignore add", "!ignore frob x", "!ignore del", "!ignore list x"):
            self.assertEqual(self.admin(text), usage, text)
        self.assertEqual(self.admin("!ignore add *!*@*"), "root: that mask would ignore everyone.")
        self.assertEqual(self.admin("!ignore add a@b"),
                         "root: a mask is nick!user@host (with * and ?), such as *!*@spam.example.")
        self.assertEqual(self.admin("!ignore add bad*account"), "root: an account name has no spaces or "
                         "wildcards (use a nick!user@host mask for those).")

    def test_a_bad_duration_is_refused_not_taken_as_a_reason(self):
        # "0s" or "10000000d" never makes an ignore for good with the duration as its reason
        for word in ("0s", "10000000d", "400d", "0H0M"):
            self.assertEqual(self.admin("!ignore add troll %s spam" % (word,)), "root: a duration is like "
                             "30m, 12h or 7d, at most a year; %s is not one." % (word,))
        self.assertEqual(self.admin("!ignore list"), "Nobody is ignored.")
        self.assertEqual(self.admin("!ignore add troll 2h30M spam"), "Ignoring troll for 2:30:00.")
        self.assertEqual(self.admin("!ignore add other 3rd time"), "Ignoring other.")

    def test_each_network_has_its_own_list(self):
        # accounts and hosts are each network's own, as admins are: mallory on "far" may be someone else
        config = {"plugins": {"admins": ["root", "far:root"]},
                  "networks": {"far": {"server": "tcp:far.example:6667", "channels": ["#pubbot"]}}}
        bot = Harness(ignore_gate, ignore, echo, config=config)
        self.addCleanup(bot.stop)

        def echo_from(network, **fields):
            return bot.reply("!echo hi", source="m", network=network, **fields)

        def admin(network, text):
            return bot.reply(text, source="root", account="root", network=network)

        self.assertEqual(admin("irc", "!ignore add mallory"), "Ignoring mallory.")
        self.assertEqual(admin("far", "!ignore add *!*@spam.example"), "Ignoring *!*@spam.example.")
        self.assertIsNone(echo_from("irc", account="mallory"))
        self.assertEqual(echo_from("far", account="mallory"), "hi")
        self.assertIsNone(echo_from("far", hostmask="m!x@spam.example"))
        self.assertEqual(echo_from("irc", hostmask="m!x@spam.example"), "hi")
        self.assertTrue(admin("irc", "!ignore list").startswith("Ignored (1): mallory"))
        self.assertTrue(admin("far", "!ignore list").startswith("Ignored (1): *!*@spam.example"))
        self.assertEqual(admin("far", "!ignore del mallory"), "mallory is not on the ignore list.")
        self.assertEqual(admin("irc", "!ignore del mallory"), "No longer ignoring mallory.")
        self.assertEqual(echo_from("irc", account="mallory"), "hi")

    def test_the_list_is_bounded(self):
        for i in range(5):
            self.assertEqual(self.admin("!ignore add user%d" % i), "Ignoring user%d." % i)
        self.assertEqual(self.admin("!ignore add one-more"),
                         "The ignore list is full (5 entries); remove some first.")
        self.assertEqual(self.admin("!ignore add user1 1h renewed"), "Ignoring user1 for 1:00:00.")
        long_reason = self.admin("!ignore add user2 " + "x" * 1000)
        self.assertEqual(long_reason, "Ignoring user2.")
        entry = self.successResultOf(self.bot.store.hget(ENTRIES_KEY, "user2"))
        self.assertLessEqual(len(entry["reason"]), ignoremod.MAX_REASON)

    def test_another_process_sees_the_change(self):
        # a second bot on the same store (as two processes share Redis) reads the change on its next refresh
        other = Bot(self.bot.settings, self.bot.clock, self.bot.store)
        other.add_handler(echo)
        gate = Gate(other, self.bot.settings.ignore)
        other.dispatcher.gate = gate
        gate.start()
        self.addCleanup(gate.stop)
        self.admin("!ignore add mallory")
        msg = other.chat_message("irc", "#pubbot", "m", "!echo hi", False, {"account": "mallory"})
        self.assertEqual(self.successResultOf(other.dispatcher.publish(msg))[0].value, "hi")
        self.bot.clock.advance(ignoremod.REFRESH_SECONDS)
        msg = other.chat_message("irc", "#pubbot", "m", "!echo hi", False, {"account": "mallory"})
        self.assertEqual(self.successResultOf(other.dispatcher.publish(msg)), [])


class MatcherTests(SynchronousTestCase):
    def test_masks(self):
        m = Matcher([{"mask": "*!*@*.spam.example"}, {"mask": "bad?!*@*"}, {"mask": "Acc"}], 0.0,
                    bot_tag=False)
        self.assertTrue(m.ignores({"source": "x", "hostmask": "x!y@a.SPAM.example"}))
        self.assertTrue(m.ignores({"source": "bad1", "hostmask": "bad1!y@host"}))
        self.assertFalse(m.ignores({"source": "bad12", "hostmask": "bad12!y@host"}))
        self.assertTrue(m.ignores({"source": "z", "account": "ACC"}))
        self.assertFalse(m.ignores({"source": "z", "hostmask": "z!y@spam.example.org"}))
        self.assertFalse(m.ignores({"content": "no source"}))

    def test_scan_is_ignores_of_each_line(self):
        # Matcher.scan (the gate's batch call) reads only the bot field when that is all there is to check
        lines = [{"source": "a", "bot": True}, {"source": "b", "bot": False}, {"source": "c"},
                 {"source": "d", "bot": True, "account": "Acc"}, {"bot": True},
                 {"source": "f", "tags": {"bot": ""}}, {"source": "g", "bot": False, "tags": {"bot": ""}},
                 {"source": "Bot1", "hostmask": "Bot1!u@h"},
                 {"source": "e", "hostmask": "e!u@x.spam.example"}]
        messages = [Message("chat.irc.#c.chat", f) for f in lines]
        for matcher in (Matcher([], 0.0), Matcher([], 0.0, bot_tag=False), Matcher([], 0.0, bots=["bot1"]),
                        Matcher([{"mask": "acc"}], 0.0, bot_tag=False),
                        Matcher([{"mask": "*!*@*.spam.example"}], 0.0)):
            self.assertEqual(matcher.scan(messages), [i for i, f in enumerate(lines) if matcher.ignores(f)])
        self.assertEqual(Matcher([], 0.0).scan(messages), [0, 3, 5])

    def test_regex_characters_are_literal(self):
        m = Matcher([{"mask": "a.b!*@(x)+"}], 0.0, bot_tag=False)
        self.assertTrue(m.ignores({"source": "a.b", "hostmask": "a.b!u@(x)+"}))
        self.assertFalse(m.ignores({"source": "axb", "hostmask": "axb!u@(x)+"}))
        self.assertFalse(m.ignores({"source": "a.b", "hostmask": "a.b!u@xx"}))

    def test_a_full_list_matches_in_linear_time(self):
        # 200 masks are one RE2 program: no backtracking on hostile host names
        masks = [{"mask": "*a*a*a*!*@*%d*" % i} for i in range(200)]
        m = Matcher(masks, 0.0)
        self.assertFalse(m.ignores({"source": "a", "hostmask": "a" * 60 + "!" + "a" * 60 + "@" + "a" * 120}))

    @settings(derandomize=True, max_examples=200)
    @given(st.text(max_size=80))
    def test_mask_problem_never_raises(self, text):
        problem = mask_problem(text)
        if problem is None:
            Matcher([{"mask": text}], 0.0)

    def test_durations(self):
        self.assertEqual(parse_duration("2h30m"), 9000.0)
        self.assertEqual(parse_duration("1W"), 604800.0)
        for bad in ("", "0s", "10", "h", "1y", "9999999d", "1h 2m", "-1h"):
            self.assertIsNone(parse_duration(bad), bad)

    def test_settings(self):
        self.assertEqual(parse({}).ignore.bot_tag, True)
        with self.assertRaises(ValueError):
            parse({"ignore": {"bots": ["bad nick"]}})


class ContractTests(SynchronousTestCase):
    def test_handlers_provide_ihandler(self):
        from zope.interface.verify import verifyObject

        from pubbot.core.interfaces import IHandler
        for h in (ignore_gate, ignore):
            self.assertTrue(verifyObject(IHandler, h))

    def test_patterns_are_bounded(self):
        from pubbot.plugins import ignore as module
        from pubbot.testing import check_patterns
        check_patterns(module)
