"""seen and tell: last activity (batched to the store) and notes delivered on the next line."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins import core, seen as seen_module
from pubbot.plugins.seen import SEEN_PREFIX, seen, tell
from pubbot.testing import Harness


class CountingStore:
    """Counts writes to a real store: wraps its hset."""

    def __init__(self, harness):
        self.hsets = 0
        store = harness.store
        original = store.hset

        def hset(*args):
            self.hsets += 1
            return original(*args)
        store.hset = hset


class SeenTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(seen, core.help)

    def ask(self, nick, **kwargs):
        kwargs.setdefault("source", "asker")
        return self.bot.reply("!seen " + nick, **kwargs)

    def test_spoke(self):
        self.bot.reply("hello all", source="Alice")
        self.bot.clock.advance(300)
        self.assertEqual(self.ask("alice"), "Alice was last seen 5:00 ago in #pubbot, saying: hello all")
        self.assertEqual(self.bot.reply("pubbot: seen ALICE?", source="bob"),
                         "Alice was last seen 5:00 ago in #pubbot, saying: hello all")

    def test_unknown_self_and_me(self):
        self.assertEqual(self.ask("zed"), "I haven't seen zed.")
        self.assertEqual(self.ask("Asker"), "That's you, asker!")
        self.assertEqual(self.ask("PubBot"), "I'm right here.")

    def test_joins_and_leaves(self):
        self.bot.join("bob", channel="#a")
        self.bot.clock.advance(5)
        self.assertEqual(self.ask("bob"), "bob was last seen 5s ago joining #a.")
        self.bot.event("#a", "leave", source="bob", kind="part", reason="lunch")
        self.assertEqual(self.ask("bob"), "bob was last seen 0s ago leaving #a (lunch).")
        self.bot.event("#a", "leave", source="bob", kind="quit", reason="Ping timeout")
        self.assertEqual(self.ask("bob"), "bob was last seen 0s ago quitting (Ping timeout).")
        self.bot.event("#a", "leave", source="bob", kind="kick", reason=None)
        self.assertEqual(self.ask("bob"), "bob was last seen 0s ago being kicked from #a.")

    def test_private_lines_are_not_recorded(self):
        self.bot.reply("public", source="alice")
        self.bot.reply("a secret", source="alice", private=True)
        self.assertEqual(self.ask("alice"), "alice was last seen 0s ago in #pubbot, saying: public")

    def test_private_question(self):
        self.bot.reply("hi", source="alice")
        self.assertEqual(self.bot.reply("seen alice", source="bob", private=True),
                         "alice was last seen 0s ago in #pubbot, saying: hi")

    def test_batched_writes(self):
        counter = CountingStore(self.bot)
        for i in range(100):
            self.bot.reply("line %d" % i, source="alice")
            self.bot.reply("line %d" % i, source="bob")
        self.assertEqual(counter.hsets, 0)
        self.assertEqual(self.ask("alice"), "alice was last seen 0s ago in #pubbot, saying: line 99")
        self.bot.clock.advance(10)  # [seen] flush_seconds
        self.assertEqual(counter.hsets, 3)  # alice, bob, asker
        stored = self.successResultOf(self.bot.store.hget(SEEN_PREFIX + "irc", "alice"))
        self.assertEqual((stored["nick"], stored["text"], stored["event"]), ("alice", "line 99", "said"))
        self.bot.clock.advance(100)
        self.assertEqual(counter.hsets, 3)  # nothing new, nothing written
        self.assertEqual(self.ask("alice"), "alice was last seen 1:50 ago in #pubbot, saying: line 99")
        self.bot.clock.advance(10)
        self.assertEqual(counter.hsets, 4)  # the asker's new line

    def test_flush_interval_from_config(self):
        bot = Harness(seen, config={"seen": {"flush_seconds": 2}})
        bot.reply("x", source="alice")
        bot.clock.advance(2)
        self.assertIsNotNone(self.successResultOf(bot.store.hget(SEEN_PREFIX + "irc", "alice")))

    def test_many_speakers_flush_early(self):
        self.patch(seen_module, "MAX_PENDING", 50)
        for i in range(60):
            self.bot.reply("x", source="p%d" % i)
        keys = self.successResultOf(self.bot.store.hgetall(SEEN_PREFIX + "irc"))
        self.assertGreaterEqual(len(keys), 50)

    def test_stop_flushes_and_a_restart_remembers(self):
        self.bot.reply("before", source="alice")
        self.bot.stop()
        self.bot.bot.start()
        self.bot.clock.advance(60)
        self.assertEqual(self.ask("alice"), "alice was last seen 1:00 ago in #pubbot, saying: before")

    def test_hostile_lines(self):
        self.bot.reply("a\r\nQUIT\x01 " + "x" * 100000, source="alice")
        reply = self.ask("alice")
        self.assertTrue(reply.startswith("alice was last seen 0s ago in #pubbot, saying: a QUIT x"))
        self.assertLess(len(reply), 300)
        self.assertNotIn("\r", reply)
        self.assertIsNone(self.ask("y" * 1000))
        self.assertEqual(self.ask("\x01evil"), "I haven't seen evil.")

    def test_corrupt_store_record(self):
        self.bot.store.hset(SEEN_PREFIX + "irc", "bob", "nonsense")
        self.assertEqual(self.ask("bob"), "I haven't seen bob.")

    def test_shown_by_help(self):
        self.assertIn("!seen <nick>: Says when and where", self.bot.reply("!help seen"))


class TellTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(tell, core.ping, core.help)

    def notes_sent(self):
        return [s for s in self.bot.sent if "asked me" in s[1]]

    def test_delivered_when_they_next_speak(self):
        self.assertEqual(self.bot.reply("!tell Bob the tests pass"),
                         "OK alice, I'll tell Bob when they next speak.")
        self.bot.clock.advance(125)
        self.assertIsNone(self.bot.reply("morning", source="carol"))
        self.assertEqual(self.notes_sent(), [])
        self.bot.reply("morning", source="BOB")
        self.assertEqual(self.notes_sent(),
                         [("#pubbot", "BOB: alice asked me 2:05 ago to tell you: the tests pass", "say")])
        self.bot.reply("again", source="bob")
        self.assertEqual(len(self.notes_sent()), 1)
        self.assertEqual(self.successResultOf(self.bot.store.keys("tell:")), [])

    def test_delivery_does_not_take_the_reply(self):
        self.bot.reply("pubbot: tell bob: hi")
        self.assertEqual(self.bot.reply("!ping", source="bob"), "pong")
        self.assertEqual(len(self.notes_sent()), 1)

    def test_privately(self):
        self.assertEqual(self.bot.reply("!tell bob privately psst"),
                         "OK alice, I'll tell bob privately when they next speak.")
        self.bot.reply("hi", source="bob", channel="#elsewhere")
        self.assertEqual(self.notes_sent(), [("bob", "bob: alice asked me 0s ago to tell you: psst", "say")])

    def test_delivered_where_they_speak(self):
        self.bot.reply("!tell bob one")
        self.bot.reply("hi", source="bob", channel="#elsewhere")
        self.assertEqual(self.notes_sent()[0][0], "#elsewhere")

    def test_left_in_private_and_delivered_privately_when_they_speak_privately(self):
        self.assertIn("I'll tell bob", self.bot.reply("tell bob secret", private=True))
        self.bot.reply("hello bot", source="bob", private=True)
        self.assertEqual(self.notes_sent()[0][0], "bob")

    def test_refusals(self):
        self.assertEqual(self.bot.reply("!tell alice hi"), "You can tell yourself that, alice!")
        self.assertEqual(self.bot.reply("!tell pubbot hi"), "I'm listening already, alice.")
        self.assertEqual(self.bot.reply("!tell #chan hi"),
                         "alice: I can't tell #chan anything; that's not a nick.")
        self.assertEqual(self.bot.reply("!tell b@d hi"),
                         "alice: I can't tell b@d anything; that's not a nick.")
        self.assertIsNone(self.bot.reply("!tell bob"))
        self.assertEqual(self.bot.reply("!tell bob " + "x" * 500),
                         "alice: that note is too long; 400 characters at most.")
        self.assertEqual(self.successResultOf(self.bot.store.keys("tell:")), [])

    def test_per_sender_limit(self):
        for i in range(5):
            self.assertIn("I'll tell", self.bot.reply("!tell p%d hi" % i))
        self.assertEqual(self.bot.reply("!tell p9 hi"),
                         "Slow down, alice: you can leave another note in 1:00:00.")
        self.assertIn("I'll tell", self.bot.reply("!tell p9 hi", source="carol"))
        self.bot.clock.advance(3600)
        self.assertIn("I'll tell", self.bot.reply("!tell p9 hi"))

    def test_limits_from_config(self):
        bot = Harness(tell, config={"tell": {"per_sender": 1, "per_sender_seconds": 60, "max_pending": 2}})
        self.assertIn("I'll tell", bot.reply("!tell bob 1"))
        self.assertIn("Slow down", bot.reply("!tell bob 2"))
        self.assertIn("I'll tell", bot.reply("!tell bob 2", source="carol"))
        self.assertEqual(bot.reply("!tell bob 3", source="dave"),
                         "dave: bob already has 2 notes waiting; that's enough.")

    def test_a_few_notes_per_line(self):
        for i in range(5):
            self.bot.clock.advance(1)
            self.bot.reply("!tell bob note %d" % i, source="s%d" % i)
        self.bot.reply("hi", source="bob")
        self.assertEqual([n[1][-6:] for n in self.notes_sent()], ["note 0", "note 1", "note 2"])
        self.bot.reply("hi", source="bob")
        self.assertEqual([n[1][-6:] for n in self.notes_sent()][3:], ["note 3", "note 4"])

    def test_persisted_across_a_restart(self):
        self.bot.reply("!tell bob later")
        self.bot.stop()
        self.bot.bot.start()
        self.bot.reply("back", source="bob")
        self.assertEqual(len(self.notes_sent()), 1)

    def test_notes_from_another_process_show_up_after_a_reload(self):
        self.bot.store.hset("tell:irc:bob", "x", {"from": "zoe", "text": "from afar", "at": 0})
        self.bot.reply("hi", source="bob")
        self.assertEqual(self.notes_sent(), [])
        self.bot.clock.advance(60)
        self.bot.reply("hi", source="bob")
        self.assertEqual(len(self.notes_sent()), 1)

    def test_hostile_note(self):
        self.bot.reply("!tell bob a\r\nQUIT :x\x01ACTION\x00 %(nick)s %s")
        self.bot.reply("hi", source="bob")
        self.assertEqual(self.notes_sent()[0][1],
                         "bob: alice asked me 0s ago to tell you: a QUIT :x ACTION %(nick)s %s")

    def test_corrupt_notes_are_dropped(self):
        self.bot.store.hset("tell:irc:bob", "bad", "nonsense")
        self.bot.reply("!tell bob fine")
        self.bot.reply("hi", source="bob")
        self.assertEqual(len(self.notes_sent()), 1)
        self.assertEqual(self.successResultOf(self.bot.store.keys("tell:")), [])

    def test_telling_while_a_note_waits(self):
        self.bot.reply("!tell bob one")
        self.assertEqual(self.bot.reply("!tell carol two", source="bob"),
                         "OK bob, I'll tell carol when they next speak.")
        self.assertEqual(len(self.notes_sent()), 1)

    def test_shown_by_help(self):
        self.assertIn("!tell <nick> [privately] <message>: Leaves a note", self.bot.reply("!help tell"))
