"""Reminders: times people type, fired once by the cluster, bounded, late when the bot was away."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins.reminders import Reminders, remind, tz
from pubbot.reminders.book import MAX_PER_PERSON, ReminderBook
from pubbot.reminders.when import WhenError, parse_when, zone_of
from pubbot.testing import Harness, fit

NOW = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


class WhenTests(SynchronousTestCase):
    def test_durations_and_times_of_day(self):
        london = zone_of("Europe/London")
        self.assertEqual(parse_when("in 2h30m take the bread out", NOW, london),
                         (NOW + 9000, "take the bread out"))
        self.assertEqual(parse_when("in 1 day, 3 hours and 2m to call", NOW, london), (NOW + 97320, "call"))
        self.assertEqual(parse_when("at 09:55 standup", NOW, london), (1700042100.0, "standup"))
        self.assertEqual(parse_when("tomorrow at 9pm dinner", NOW, london), (1700082000.0, "dinner"))
        # the person's zone: 09:55 in Tokyo is 00:55 UTC
        self.assertEqual(parse_when("at 09:55 x", NOW, zone_of("Asia/Tokyo"))[0], 1700009700.0)

    def test_refusals(self):
        for text in ("at 25:00 x", "in 400 days x", "soon x", "in 5m", "in 5 mangoes x", "at 13pm x"):
            with self.assertRaises(WhenError, msg=text):
                parse_when(text, NOW, zone_of("UTC"))

    @given(st.text(alphabet="in at 0123456789hmsd:,pmtomorrow ", max_size=600))
    def test_any_line_gives_a_time_or_a_reason(self, text):
        try:
            due, rest = parse_when(fit(text, 512), NOW, zone_of("UTC"))
        except WhenError:
            return
        self.assertTrue(NOW < due <= NOW + 366 * 86400)
        self.assertTrue(rest)


class ReminderTests(SynchronousTestCase):
    def bot(self, **config):
        return Harness(Reminders(), remind, tz, config={"plugins": {"admins": ["root"]}, **config},
                       start_time=NOW)

    def test_remind_me_fires_once_at_its_time(self):
        h = self.bot()
        self.assertEqual(h.reply("!remind me in 10m tea", source="ann"), "OK ann, reminder 1 in 10:00.")
        h.clock.advance(595)
        self.assertEqual(h.sent[-1][1], "OK ann, reminder 1 in 10:00.")
        h.clock.advance(10)
        self.assertEqual(h.sent[-1], ("#pubbot", "ann: reminder: tea", "say"))
        h.clock.advance(600)
        self.assertEqual(sum("reminder: tea" in text for _, text, _ in h.sent), 1)

    def test_a_channel_from_inside_it_and_admins_anywhere(self):
        h = self.bot()
        self.assertIn("only from inside it", h.reply("!remind #elsewhere in 1m spam", source="eve"))
        self.assertIn("reminder 1", h.reply("!remind #pubbot in 1m standup", source="ann"))
        self.assertIn("reminder 2", h.reply("!remind #ops in 1m deploy", account="root"))
        h.clock.advance(65)
        self.assertIn(("#pubbot", "Reminder from ann: standup", "say"), h.sent)
        self.assertIn(("#ops", "Reminder from alice: deploy", "say"), h.sent)

    def test_a_channel_on_another_network(self):
        h = Harness(Reminders(), remind, start_time=NOW, config={
            "plugins": {"admins": ["root"]},
            "networks": {"far": {"server": "tcp:far.example:6667", "channels": ["#ops"]}}})
        self.assertIn("reminder 1", h.reply("!remind #ops@far in 1m deploy", account="root"))
        self.assertIn("only from inside it", h.reply("!remind #pubbot@far in 1m spam", source="eve"))
        self.assertEqual(h.reply("!remind #a,#b in 1m spam", account="root"),
                         "alice: #a,#b is not a channel's name.")
        self.assertEqual(h.reply("!remind #a\x07b in 1m spam", account="root"),
                         "alice: #a b is not a channel's name.")
        h.clock.advance(65)
        self.assertIn(("#ops", "Reminder from alice: deploy", "say"), h.chats["far"].sent)
        self.assertFalse([s for s in h.sent if "deploy" in s[1] and s[0] != "#pubbot"])

    def test_list_cancel_and_the_bound(self):
        h = self.bot()
        for i in range(MAX_PER_PERSON):
            h.reply("!remind me in %dm thing %d" % (i + 1, i))
        self.assertIn("you have %d reminders waiting" % (MAX_PER_PERSON,), h.reply("!remind me in 1h more"))
        self.assertEqual(len(h.reply("!remind list").split("\n")), 10)
        self.assertEqual(h.reply("!remind cancel 3"), "alice: reminder 3 cancelled.")
        self.assertIn("no reminder 3", h.reply("!remind cancel 3"))
        self.assertIn("no reminder 4", h.reply("!remind cancel 4", source="bob", hostmask="bob!b@other"))
        self.assertIn("Say: !remind me", h.reply("!remind bogus"))

    def test_time_zones(self):
        h = self.bot(reminders={"timezone": "Asia/Tokyo"})
        self.assertEqual(h.reply("!tz"), "alice: your times are in Asia/Tokyo.")
        self.assertIn("no time zone", h.reply("!tz ../../etc/passwd"))
        self.assertEqual(h.reply("!tz Europe/London"), "alice: OK, your times are in Europe/London.")
        h.reply("!remind me at 23:00 sleep")
        self.assertIn("23:00 GMT: sleep", h.reply("!remind list"))

    def test_time_zones_kept_for_a_bounded_number_of_people(self):
        from pubbot.reminders import book
        self.patch(book, "MAX_ZONES", 3)
        h = self.bot()
        for nick in ("a1", "a2", "a3"):
            self.assertIn("OK", h.reply("!tz Europe/Paris", source=nick, hostmask=nick + "!u@" + nick))
        # a fourth person is refused; the three can still change theirs
        self.assertIn("the time zones of 3 people already; yours stays UTC",
                      h.reply("!tz Asia/Tokyo", source="a4", hostmask="a4!u@a4"))
        self.assertEqual(h.reply("!tz", source="a4", hostmask="a4!u@a4"), "a4: your times are in UTC.")
        self.assertIn("OK", h.reply("!tz Asia/Tokyo", source="a2", hostmask="a2!u@a2"))
        self.assertEqual(len(self.successResultOf(h.store.hgetall(book.ZONES_KEY))), 3)

    def test_fired_once_by_the_cluster_and_late_after_a_restart(self):
        one = self.bot()
        two = Harness(Reminders(), remind, store=one.store, start_time=NOW)  # another process, same store
        one.reply("!remind me in 1m tea", source="ann")
        two.clock.advance(61)  # the other process looks first: it fires, and only it
        self.assertIn(("#pubbot", "ann: reminder: tea", "say"), two.sent)
        one.clock.advance(61)
        self.assertEqual(self.successResultOf(ReminderBook(one.bot).check()), 0)
        self.assertEqual(sum("reminder: tea" in text for _, text, _ in one.sent + two.sent), 1)
        # due while every process was down: fired when one is back, marked late
        one.reply("!remind me in 1m coffee", source="ann")
        one.bot.stop()
        two.bot.stop()
        back = Harness(Reminders(), remind, store=one.store, start_time=one.clock.seconds() + 3600)
        self.assertIn("ann: reminder: coffee (late: it was due at 2023-11-14 22:15 UTC", back.sent[-1][1])
