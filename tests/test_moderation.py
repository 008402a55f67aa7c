"""
The moderation plugin through pubbot.testing: every command, who may use
it (ops and admins; [permissions] changes it), the bot's own ops, ChanServ
mode, masks and their limits, timed bans lifted by the job (after a
restart too) and their cap, and orders from a process without the
connection.
"""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from pubbot.config.settings import ConfigError
from pubbot.moderation import Action, Moderator, TimedBans, glob_match, mask_problem
from pubbot.moderation.actions import GIVE_UP_SECONDS, ORDERS_KEY
from pubbot.moderation.timed import BANS_KEY
from pubbot.plugins import moderation
from pubbot.store.memory import MemoryStore
from pubbot.testing import Harness, make_settings

HANDLERS = tuple(getattr(moderation, name) for name in dir(moderation)
                 if hasattr(getattr(moderation, name), "handle"))


def harness(config: dict | None = None, store=None, bot_op: bool = True) -> Harness:
    h = Harness(*HANDLERS, config=config, store=store)
    h.give_modes("olga", "o")
    h.give_modes("vic", "v")
    h.give_modes("troll", "")
    h.give_modes("pubbot", "o" if bot_op else "")
    h.chat.hostmasks.update({"troll": "troll!t@bad.example", "pubbot": "pubbot!bot@bot.example"})
    return h


def entries(h: Harness) -> dict:
    return h._now(h.store.hgetall(BANS_KEY))


class RefusalTests(SynchronousTestCase):
    def test_someone_without_ops_gets_the_standard_refusal(self):
        h = harness()
        for said in ("!kick troll", "!ban troll", "!unban troll", "!quiet troll", "!unquiet troll",
                     "!topic hi", "!op", "!deop", "!voice", "!devoice", "!bans"):
            word = said.split()[0][1:]
            self.assertEqual(h.reply(said, source="vic"),
                             "Sorry vic, %s needs ops (+o) in #pubbot." % (word,))
        self.assertEqual(h.chat.moderated, [])

    def test_permissions_are_checked_before_the_arguments(self):
        h = harness()
        self.assertEqual(h.reply("!kick", source="troll"), "Sorry troll, kick needs ops (+o) in #pubbot.")
        self.assertEqual(h.reply("!kick", source="olga"), "Usage: !kick nick [reason]")

    def test_an_admin_without_ops_may(self):
        h = harness({"plugins": {"admins": ["boss"]}})
        h.reply("!kick troll", source="boss", account="boss")
        self.assertEqual(h.chat.moderated, ["KICK #pubbot troll requested by boss"])

    def test_permissions_can_lower_a_command(self):
        h = harness({"permissions": {"voice": "voice", "kick": "voice"}})
        h.reply("!kick troll bye", source="vic")
        h.reply("!voice", source="vic")
        self.assertEqual(h.chat.moderated, ["KICK #pubbot troll bye", "MODE #pubbot +v vic"])
        self.assertEqual(h.reply("!ban troll", source="vic"), "Sorry vic, ban needs ops (+o) in #pubbot.")

    def test_the_bot_needs_ops_itself(self):
        h = harness(bot_op=False)
        for said in ("!kick troll", "!ban troll 1h", "!unban troll", "!quiet troll", "!topic hi", "!op vic"):
            self.assertEqual(h.reply(said, source="olga"), "I need ops in #pubbot to do that.")
        self.assertEqual(h.chat.moderated, [])
        self.assertEqual(entries(h), {})
        h.give_modes("pubbot", "v")  # voice is not enough
        self.assertEqual(h.reply("!kick troll", source="olga"), "I need ops in #pubbot to do that.")
        h.give_modes("pubbot", "a")  # protected/admin is
        h.reply("!kick troll", source="olga")
        self.assertEqual(h.chat.moderated, ["KICK #pubbot troll requested by olga"])

    def test_only_in_the_channel(self):
        h = harness({"plugins": {"admins": ["boss"]}})
        self.assertEqual(h.reply("!kick troll", source="boss", account="boss", private=True),
                         "boss: say that in the channel to moderate.")
        self.assertEqual(h.chat.moderated, [])

    def test_not_where_there_are_no_channels_to_moderate(self):
        h = Harness(*HANDLERS, network="console", config={"plugins": {"admins": ["boss"]}})
        self.assertEqual(h.reply("!kick troll", source="boss", account="boss", channel="#console"),
                         "I cannot moderate channels on console.")
        self.assertEqual(h.chat.moderated, [])


class CommandTests(SynchronousTestCase):
    def setUp(self):
        self.h = harness()

    def say(self, text: str) -> str | None:
        return self.h.reply(text, source="olga")

    def test_kick(self):
        self.assertIsNone(self.say("!kick troll   flooding\x07 the channel"))
        self.assertIsNone(self.say("!kick TROLL"))
        self.assertEqual(self.h.chat.moderated, ["KICK #pubbot troll flooding the channel",
                                                 "KICK #pubbot TROLL requested by olga"])

    def test_kick_refuses_the_bot_the_absent_and_bad_nicks(self):
        self.assertEqual(self.say("!kick pubbot"), "olga: not me.")
        self.assertEqual(self.say("!kick nobody"), "olga: nobody is not in #pubbot.")
        self.assertEqual(self.say("!kick #chan"), "olga: '#chan' cannot be a nick.")
        self.assertEqual(self.say("!kick a*b"), "olga: 'a*b' cannot be a nick.")
        self.assertEqual(self.h.chat.moderated, [])

    def test_a_long_reason_is_cut(self):
        self.say("!kick troll " + "y" * 2000)
        (line,) = self.h.chat.moderated
        self.assertEqual(line, "KICK #pubbot troll " + "y" * moderation.MAX_TEXT)

    def test_ban_a_nick_by_its_host_and_a_mask_as_given(self):
        self.assertEqual(self.say("!ban troll"), "Banned *!*@bad.example.")
        self.assertEqual(self.say("!ban spam*!*@*.example.net"), "Banned spam*!*@*.example.net.")
        self.assertEqual(self.h.chat.moderated, ["MODE #pubbot +b *!*@bad.example",
                                                 "MODE #pubbot +b spam*!*@*.example.net"])
        self.assertEqual(entries(self.h), {})  # not timed

    def test_ban_refuses_what_is_no_mask(self):
        self.assertEqual(self.say("!ban ghost"),
                         "olga: I do not know ghost's host; give a mask (nick!user@host).")
        self.assertEqual(self.say("!ban *!*@*"), "olga: that mask matches everyone.")
        self.assertEqual(self.say("!ban foo@bar"), "olga: a mask is nick!user@host (* and ? match anything).")
        self.assertEqual(self.say("!ban a!b@c,d"), "olga: a mask has no commas or control characters.")
        self.assertEqual(self.say("!ban a!b@" + "c" * 200), "olga: a mask is at most 100 characters.")
        self.assertEqual(self.say("!ban *!*@bot.example"), "olga: *!*@bot.example matches me.")
        self.assertEqual(self.say("!ban pubbot"), "olga: not me.")
        self.assertEqual(self.say("!ban"), "Usage: !ban nick|mask [duration]")
        self.assertEqual(self.h.chat.moderated, [])

    def test_unban_forgets_a_timed_ban(self):
        self.say("!ban troll 1h")
        self.assertEqual(self.say("!unban *!*@BAD.example"), "Unbanned *!*@BAD.example.")
        self.assertEqual(self.say("!unban troll"), "Unbanned *!*@bad.example.")
        self.assertEqual(self.h.chat.moderated[1:], ["MODE #pubbot -b *!*@BAD.example",
                                                     "MODE #pubbot -b *!*@bad.example"])
        self.assertEqual(entries(self.h), {})
        self.assertEqual(self.say("!unban"), "Usage: !unban nick|mask")

    def test_what_would_hit_the_bot_may_be_lifted(self):
        self.assertEqual(self.say("!quiet *!*@bot.example"), "olga: *!*@bot.example matches me.")
        self.assertEqual(self.say("!unquiet *!*@bot.example"), "*!*@bot.example may speak again.")
        self.assertEqual(self.say("!unban pubbot"), "Unbanned *!*@bot.example.")
        self.assertEqual(self.h.chat.moderated,
                         ["MODE #pubbot -q *!*@bot.example", "MODE #pubbot -b *!*@bot.example"])

    def test_quiet_with_the_servers_mode(self):
        self.assertEqual(self.say("!quiet troll"), "Quieted *!*@bad.example.")
        self.h.chat.quiet = "~m:"
        self.assertEqual(self.say("!quiet a!b@c"), "Quieted a!b@c.")
        self.assertEqual(self.say("!unquiet a!b@c"), "a!b@c may speak again.")
        self.h.chat.quiet = ""
        self.assertEqual(self.say("!quiet troll"),
                         "This server has no quiet mode (no +q list mode, no mute extban).")
        self.assertEqual(self.h.chat.moderated, ["MODE #pubbot +q *!*@bad.example",
                                                 "MODE #pubbot +b ~m:a!b@c", "MODE #pubbot -b ~m:a!b@c"])

    def test_topic(self):
        self.assertIsNone(self.say("!topic  Welcome!\x07 Be   nice. "))
        self.assertEqual(self.say("!topic"), "Usage: !topic text")
        self.say("!topic " + "t" * 1000)
        self.assertEqual(self.h.chat.moderated[0], "TOPIC #pubbot Welcome! Be nice.")
        self.assertEqual(len(self.h.chat.moderated[1]), len("TOPIC #pubbot ") + moderation.MAX_TEXT)

    def test_op_deop_voice_devoice(self):
        for said in ("!op", "!op vic", "!deop", "!voice troll", "!devoice troll"):
            self.assertIsNone(self.say(said))
        self.assertEqual(self.h.chat.moderated, ["MODE #pubbot +o olga", "MODE #pubbot +o vic",
                                                 "MODE #pubbot -o olga", "MODE #pubbot +v troll",
                                                 "MODE #pubbot -v troll"])

    def test_status_refusals(self):
        self.assertEqual(self.say("!deop pubbot"), "olga: not me.")
        self.assertEqual(self.say("!devoice PUBBOT"), "olga: not me.")
        self.assertEqual(self.say("!op nobody"), "olga: nobody is not in #pubbot.")
        self.assertEqual(self.say("!voice a!b"), "olga: 'a!b' cannot be a nick.")
        self.assertEqual(self.say("!op a b"), "Usage: !op [nick]")
        self.assertEqual(self.h.chat.moderated, [])


class TimedBanTests(SynchronousTestCase):
    def test_lifted_by_the_job_when_due(self):
        h = harness()
        self.assertEqual(h.reply("!ban troll 1h", source="olga"), "Banned *!*@bad.example for 1h.")
        (entry,) = entries(h).values()
        self.assertEqual((entry["channel"], entry["mask"], entry["by"]),
                         ("#pubbot", "*!*@bad.example", "olga"))
        self.assertEqual(entry["until"], h.clock.seconds() + 3600)
        h.clock.advance(3570)
        self.assertEqual(h.chat.moderated, ["MODE #pubbot +b *!*@bad.example"])
        h.clock.advance(30)
        self.assertEqual(h.chat.moderated,
                         ["MODE #pubbot +b *!*@bad.example", "MODE #pubbot -b *!*@bad.example"])
        self.assertEqual(entries(h), {})
        h.clock.advance(300)
        self.assertEqual(len(h.chat.moderated), 2)

    def test_survives_a_restart(self):
        store = None
        first = harness()
        store = first.store
        first.reply("!ban troll 10m", source="olga")
        first.stop()
        second = harness(store=store)
        second.clock.advance(first.clock.seconds() - second.clock.seconds() + 600)
        self.assertEqual(second.chat.moderated, ["MODE #pubbot -b *!*@bad.example"])

    def test_banning_again_replaces_the_time_and_a_ban_for_good_ends_it(self):
        h = harness()
        h.reply("!ban troll 1h", source="olga")
        h.reply("!ban troll 2h", source="olga")
        (entry,) = entries(h).values()
        self.assertEqual(entry["until"], h.clock.seconds() + 7200)
        h.reply("!ban troll", source="olga")
        self.assertEqual(entries(h), {})
        h.clock.advance(3 * 3600)
        self.assertNotIn("MODE #pubbot -b *!*@bad.example", h.chat.moderated)

    def test_durations_and_their_limit(self):
        h = harness({"moderation": {"longest_ban": "1d"}})
        self.assertEqual(h.reply("!ban troll 2d", source="olga"),
                         "olga: a duration is like 30m, 12h or 7d, at most 1d.")
        self.assertEqual(h.reply("!ban troll soon", source="olga"),
                         "olga: a duration is like 30m, 12h or 7d, at most 1d.")
        self.assertEqual(h.reply("!ban troll 1d", source="olga"), "Banned *!*@bad.example for 1d.")
        self.assertEqual(h.reply("!ban troll 1h extra", source="olga"), "Usage: !ban nick|mask [duration]")

    def test_a_default_duration(self):
        h = harness({"moderation": {"ban_duration": "15m"}})
        self.assertEqual(h.reply("!ban troll", source="olga"), "Banned *!*@bad.example for 15m.")
        h.clock.advance(900)
        self.assertEqual(h.chat.moderated[-1], "MODE #pubbot -b *!*@bad.example")

    def test_a_cap_per_channel(self):
        h = harness({"moderation": {"max_timed_bans": 2}})
        h.reply("!ban a!b@one 1h", source="olga")
        h.reply("!ban a!b@two 1h", source="olga")
        self.assertEqual(h.reply("!ban a!b@three 1h", source="olga"),
                         "olga: #pubbot has 2 timed bans already (the most); ban without a duration, "
                         "or unban some.")
        self.assertEqual(h.reply("!ban a!b@two 3h", source="olga"), "Banned a!b@two for 3h.")  # a replacement
        self.assertEqual(h.reply("!ban a!b@three", source="olga"), "Banned a!b@three.")  # for good: no cap
        h.give_modes("olga", "o", channel="#other")
        h.give_modes("pubbot", "o", channel="#other")
        self.assertEqual(h.reply("!ban a!b@three 1h", source="olga", channel="#other"),
                         "Banned a!b@three for 1h.")
        self.assertEqual(len(entries(h)), 3)

    def test_bans_lists_the_channels_timed_bans(self):
        h = harness({"moderation": {"max_timed_bans": 20}})
        self.assertEqual(h.reply("!bans", source="olga"), "No timed bans in #pubbot.")
        h.reply("!ban troll 2h", source="olga")
        h.reply("!ban spam!*@* 30m", source="olga")
        h.clock.advance(60)
        self.assertEqual(h.reply("!bans", source="olga"),
                         "#pubbot: 2 timed bans: spam!*@* (29:00 left, by olga), "
                         "*!*@bad.example (1:59:00 left, by olga).")
        # another channel's and a ban for good are not listed; the list is bounded
        h.give_modes("olga", "o", channel="#other")
        h.give_modes("pubbot", "o", channel="#other")
        h.reply("!ban a!b@elsewhere 1h", source="olga", channel="#other")
        h.reply("!ban a!b@forever", source="olga")
        for i in range(12):
            h.reply("!ban a!b@host%d 1d" % (i,), source="olga")
        listed = h.reply("!bans", source="olga")
        self.assertTrue(listed.startswith("#pubbot: 14 timed bans: spam!*@* (29:00 left"), listed)
        self.assertTrue(listed.endswith(" and 4 more."), listed)
        self.assertNotIn("elsewhere", listed)
        self.assertNotIn("forever", listed)
        self.assertEqual(h.reply("!bans", source="olga", channel="#other"),
                         "#other: 1 timed ban: a!b@elsewhere (1:00:00 left, by olga).")

    def test_bans_is_for_ops_in_the_channel(self):
        h = harness()
        self.assertEqual(h.reply("!bans", source="vic"), "Sorry vic, bans needs ops (+o) in #pubbot.")
        admin = harness({"plugins": {"admins": ["boss"]}})
        self.assertEqual(admin.reply("!bans", source="boss", account="boss", private=True),
                         "boss: say that in the channel whose bans you want.")

    def test_not_lifted_without_ops_until_given_up(self):
        h = harness()
        h.reply("!ban troll 1m", source="olga")
        h.give_modes("pubbot", "")
        h.clock.advance(3600)
        self.assertEqual(h.chat.moderated, ["MODE #pubbot +b *!*@bad.example"])
        self.assertEqual(len(entries(h)), 1)  # tried again later
        h.give_modes("pubbot", "o")
        h.clock.advance(30)
        self.assertEqual(h.chat.moderated[-1], "MODE #pubbot -b *!*@bad.example")
        h.reply("!ban troll 1m", source="olga")
        h.give_modes("pubbot", "")
        h.clock.advance(60 + GIVE_UP_SECONDS + 60)
        self.assertEqual(entries(h), {})
        self.assertEqual(h.chat.moderated[-1], "MODE #pubbot +b *!*@bad.example")


class ChanServTests(SynchronousTestCase):
    def setUp(self):
        self.h = harness({"moderation": {"chanserv": True}}, bot_op=False)

    def test_every_command_goes_to_chanserv_without_ops_of_its_own(self):
        for said in ("!kick troll go away", "!ban troll", "!ban ghost", "!unban a!b@c", "!quiet troll",
                     "!unquiet troll", "!topic Hello there", "!op", "!deop vic", "!voice troll",
                     "!devoice troll"):
            self.h.reply(said, source="olga")
        self.assertEqual([text for target, text, kind in self.h.sent if target == "ChanServ"], [
            "KICK #pubbot troll go away", "BAN #pubbot *!*@bad.example", "BAN #pubbot ghost",
            "UNBAN #pubbot a!b@c", "QUIET #pubbot *!*@bad.example", "UNQUIET #pubbot *!*@bad.example",
            "TOPIC #pubbot Hello there", "OP #pubbot olga", "DEOP #pubbot vic", "VOICE #pubbot troll",
            "DEVOICE #pubbot troll"])
        self.assertEqual(self.h.chat.moderated, [])

    def test_a_timed_ban_is_lifted_through_chanserv(self):
        self.h.reply("!ban troll 1h", source="olga")
        self.h.clock.advance(3600)
        self.assertEqual([text for target, text, kind in self.h.sent if target == "ChanServ"],
                         ["BAN #pubbot *!*@bad.example", "UNBAN #pubbot *!*@bad.example"])

    def test_another_services_nick(self):
        h = harness({"moderation": {"chanserv": True, "chanserv_nick": "CS"}})
        h.reply("!op", source="olga")
        self.assertIn(("CS", "OP #pubbot olga", "say"), h.sent)


class WorkerTests(SynchronousTestCase):
    """A process without the connection leaves the order in the store; the owner's job carries it out."""

    def test_an_order_from_a_worker(self):
        owner = harness()
        worker = Harness(*HANDLERS, store=owner.store)
        worker.clock.advance(owner.clock.seconds() - worker.clock.seconds())
        worker.chat.remote = True  # type: ignore[attr-defined]  # the owner's stand-in (RemoteChat)
        for nick, modes in (("pubbot", "o"), ("olga", "o"), ("troll", "")):
            worker.give_modes(nick, modes)
        self.assertIsNone(worker.reply("!kick troll out", source="olga"))
        self.assertEqual(worker.reply("!ban a!b@c", source="olga"), "Banned a!b@c.")
        self.assertEqual(worker.reply("!ban troll", source="olga"),
                         "olga: I do not know troll's host; give a mask (nick!user@host).")
        self.assertEqual((owner.chat.moderated, worker.chat.moderated), ([], []))
        owner.clock.advance(2)
        self.assertEqual(owner.chat.moderated, ["KICK #pubbot troll out", "MODE #pubbot +b a!b@c"])
        self.assertEqual(owner._now(owner.store.hgetall(ORDERS_KEY % ("irc",))), {})
        owner.clock.advance(10)
        self.assertEqual(len(owner.chat.moderated), 2)

    def test_stale_or_malformed_orders_are_dropped(self):
        owner = harness()
        key = ORDERS_KEY % ("irc",)
        now = owner.clock.seconds()
        kick = ["kick", "#pubbot", "troll", ""]
        owner._now(owner.store.hset(key, "old", {"at": now - 600, "action": kick}))
        owner._now(owner.store.hset(key, "bad", {"at": now, "action": ["explode"] + kick[1:]}))
        owner._now(owner.store.hset(key, "odd", "text"))
        owner.clock.advance(2)
        self.assertEqual(owner.chat.moderated, [])
        self.assertEqual(owner._now(owner.store.hgetall(key)), {})


class PartsTests(SynchronousTestCase):
    def test_masks(self):
        self.assertIsNone(mask_problem("nick!user@host.example"))
        self.assertIsNone(mask_problem("*!*@192.0.2.*"))
        for bad in ("nick", "a@b!c", "a!b", "a b!c@d", "a!b@c\x00", ":a!b@c", "*!*@*", "?!*@*"):
            self.assertIsNotNone(mask_problem(bad), bad)

    def test_glob_match(self):
        self.assertTrue(glob_match("*!*@BOT.example", "pubbot!bot@bot.example"))
        self.assertTrue(glob_match("p?bbot!*@*", "pubbot!bot@x"))
        self.assertTrue(glob_match("*", ""))
        self.assertFalse(glob_match("*!*@other", "pubbot!bot@bot.example"))
        self.assertFalse(glob_match("a?", "a"))
        # many stars on a long text: bounded work, no blow-up
        self.assertFalse(glob_match("*a" * 50 + "b", "a" * 100))

    @given(st.text(alphabet="ab*?", max_size=8), st.text(alphabet="abAB", max_size=8))
    def test_glob_match_agrees_with_a_regex(self, pattern, text):
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        expected = re.fullmatch(regex, text, re.IGNORECASE | re.DOTALL) is not None
        self.assertEqual(glob_match(pattern, text), expected)

    @given(st.text(max_size=120))
    def test_an_accepted_mask_is_safe_on_the_wire(self, mask):
        if mask_problem(mask) is None:
            self.assertLessEqual(len(mask), 100)
            self.assertFalse(any(c.isspace() or c < " " or c in ",\x7f" for c in mask), mask)
            self.assertEqual((mask.count("!"), mask.count("@")), (1, 1))

    def test_a_chanserv_line(self):
        self.assertEqual(Action("kick", "#c", "n", "why not").chanserv_line(), "KICK #c n why not")
        self.assertEqual(Action("op", "#c", "n").chanserv_line(), "OP #c n")
        self.assertIsNone(Action.from_list(["kick", "#c", "n"]))
        self.assertEqual(Action.from_list(["ban", "#c", "m", ""]), Action("ban", "#c", "m"))

    def test_the_book_forgets_malformed_entries(self):
        h = Harness()
        store = MemoryStore(h.clock)
        h._now(store.hset(BANS_KEY, "x", {"network": "irc"}))
        self.assertEqual(h._now(Deferred.fromCoroutine(TimedBans(store).entries())), [])

    def test_settings_are_checked(self):
        for bad in ({"ban_duration": "forever"}, {"longest_ban": "0s"}, {"max_timed_bans": 0},
                    {"chanserv_nick": "Chan Serv"}):
            self.assertRaises(ConfigError, make_settings, {"moderation": bad}, moderation)
        settings = make_settings({"moderation": {"ban_duration": "1h"}}, moderation)
        self.assertEqual(settings.moderation.ban_duration, "1h")
        self.assertFalse(Moderator(Harness().bot, settings.moderation).settings.chanserv)
