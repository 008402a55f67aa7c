"""seen and tell: last activity (batched to the store) and notes delivered on the next line."""

from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.core.interfaces import IBatchHandler
from pubbot.core.message import Message
from pubbot.plugins import core
from pubbot.plugins import seen as seen_module
from pubbot.plugins.seen import SEEN_PREFIX, Seen, Tell, seen, tell
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


def chat(bot, source, text, private=False, **fields):
    return bot.chat_message("irc", source if private else "#pubbot", source, text, private, fields)


def answered(case, answers):
    """(position, reply text) for each answer, its Deferred fired."""
    out = []
    for i, value in answers:
        if isinstance(value, Deferred):
            value = case.successResultOf(value)
        if value is not None:
            out.append((i, value["content"]))
    return out


def one_by_one(handler, messages):
    return [(i, value) for i, value in enumerate(map(handler.handle, messages)) if value is not None]


class SeenBatchTests(SynchronousTestCase):
    def messages(self, bot):
        return [chat(bot, "alice", "hello"), chat(bot, "bob", "!seen alice"),
                chat(bot, "carol", "!seen dave"), chat(bot, "Dave", "hi all"),
                chat(bot, "dave", "secret", private=True),
                chat(bot, "erin", "pubbot: seen DAVE?"), chat(bot, "erin", "seen it"),
                Message("chat.irc.#pubbot.join",
                        {"network": "irc", "protocol": "irc", "channel": "#pubbot", "source": "fay"}, bot),
                chat(bot, "gus", "!seen fay"),
                Message("chat.irc.#pubbot.leave", {"network": "irc", "protocol": "irc", "channel": "#pubbot",
                                                   "source": "fay", "kind": "quit", "reason": "bye"}, bot),
                chat(bot, "hal", "!seen fay"), chat(bot, "alice", "again")]

    def run_with(self, batched):
        handler = Seen()
        h = Harness(handler)
        messages = self.messages(h.bot)
        answers = handler.handle_many(messages) if batched else one_by_one(handler, messages)
        return answered(self, answers), dict(handler._pending)

    def test_provides_the_batch_interface(self):
        self.assertTrue(verifyObject(IBatchHandler, seen))

    def test_a_batch_notes_and_answers_as_the_messages_one_by_one(self):
        answers, pending = self.run_with(batched=True)
        self.assertEqual((answers, pending), self.run_with(batched=False))
        self.assertEqual([i for i, _ in answers], [1, 2, 5, 8, 10])
        self.assertIn("I haven't seen dave.", answers[1][1])
        self.assertIn("saying: hi all", answers[2][1])
        self.assertIn("quitting (bye)", answers[4][1])
        self.assertEqual(pending[("irc", "alice")][4], "again")

    def test_a_batch_through_the_dispatcher(self):
        h = Harness(seen, core.help)
        h.bot.bus.submit_many([chat(h.bot, "alice", "one"), chat(h.bot, "bob", "two"),
                               chat(h.bot, "carol", "!seen ALICE"), chat(h.bot, "alice", "three")])
        self.assertEqual(h.sent, [("#pubbot", "alice was last seen 0s ago in #pubbot, saying: one", "say")])
        self.assertEqual(h.reply("!seen alice", source="bob"),
                         "alice was last seen 0s ago in #pubbot, saying: three")

    def test_a_line_without_every_chat_field_is_noted_too(self):
        def noted(batched):
            handler = Seen()
            h = Harness(handler)
            # no channel, no private
            partial = {"network": "irc", "protocol": "irc", "source": "Zed", "content": "hi"}
            messages = [chat(h.bot, "alice", "one"), Message("chat.irc.#pubbot.chat", partial, h.bot),
                        chat(h.bot, "bob", "two")]
            answers = handler.handle_many(messages) if batched else one_by_one(handler, messages)
            return answers, dict(handler._pending)
        self.assertEqual(noted(batched=True), noted(batched=False))
        self.assertEqual(noted(batched=True)[1][("irc", "zed")][1:], ("Zed", None, "said", "hi"))

    def test_a_bad_line_loses_only_itself(self):
        handler = Seen()
        h = Harness(handler)
        messages = [chat(h.bot, "alice", "one"), chat(h.bot, "bob", "two"), chat(h.bot, "carol", "!seen bob")]
        bad = Message("chat.irc.#pubbot.chat",
                      {"network": "irc", "protocol": "irc", "source": 5, "content": "?"}, h.bot)
        messages.insert(1, bad)
        answers = answered(self, handler.handle_many(messages))
        self.assertEqual(answers, [(3, "bob was last seen 0s ago in #pubbot, saying: two")])
        self.assertEqual(sorted(nick for _, nick in handler._pending), ["alice", "bob", "carol"])
        self.assertEqual(len(self.flushLoggedErrors(AttributeError)), 1)


class TellBatchTests(SynchronousTestCase):
    def harness(self):
        handler = Tell()
        h = Harness(handler, core.ping)
        h.reply("!tell bob one", source="alice")
        h.reply("!tell dave two", source="erin")
        return handler, h

    def messages(self, bot):
        return [chat(bot, "carol", "hi"), chat(bot, "BOB", "morning"),
                chat(bot, "alice", "!tell frank later"), chat(bot, "frank", "hey"), chat(bot, "bob", "again"),
                chat(bot, "gus", "pubbot: tell bob more"), chat(bot, "dave", "psst", private=True),
                chat(bot, "bob", "third"), chat(bot, "frank", "again")]

    def run_with(self, batched):
        handler, h = self.harness()
        messages = self.messages(h.bot)
        answers = handler.handle_many(messages) if batched else one_by_one(handler, messages)
        return answered(self, answers), h.sent, handler.waiting

    def test_provides_the_batch_interface(self):
        self.assertTrue(verifyObject(IBatchHandler, tell))

    def test_a_batch_delivers_and_takes_notes_as_the_lines_one_by_one(self):
        answers, sent, waiting = self.run_with(batched=True)
        self.assertEqual((answers, sent, waiting), self.run_with(batched=False))
        notes = [(target, text) for target, text, _ in sent if "asked me" in text]
        self.assertEqual(notes, [("#pubbot", "BOB: alice asked me 0s ago to tell you: one"),
                                 ("#pubbot", "frank: alice asked me 0s ago to tell you: later"),
                                 ("dave", "dave: erin asked me 0s ago to tell you: two"),
                                 ("#pubbot", "bob: gus asked me 0s ago to tell you: more")])
        self.assertEqual([i for i, _ in answers], [2, 5])

    def test_a_batch_costs_nothing_without_notes_or_commands(self):
        handler = Tell()
        h = Harness(handler)
        # Lines without the fields a delivery would read: not looked at.
        bare = [Message("chat.irc.#pubbot.chat", {"content": "x", "command": None}, h.bot)] * 100
        self.assertIsNone(handler.handle_many(bare))
        self.assertEqual(handler.waiting, {})

    def test_a_line_that_fails_loses_only_its_answer(self):
        handler, h = self.harness()
        observe = handler._observe

        def failing(msg, limits):
            if msg.content == "boom":
                raise ZeroDivisionError()
            return observe(msg, limits)
        self.patch(handler, "_observe", failing)
        answers = answered(self, handler.handle_many([chat(h.bot, "bob", "boom"), chat(h.bot, "dave", "hi"),
                                                      chat(h.bot, "carol", "!tell bob x")]))
        self.assertEqual(answers, [(2, "OK carol, I'll tell bob when they next speak.")])
        self.assertEqual([text for _, text, _ in h.sent if "asked me" in text],
                         ["dave: erin asked me 0s ago to tell you: two"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class NaturalTellTests(SynchronousTestCase):
    """Notes said the way people say them (the corpus in tests/data/phrasing has many more)."""

    def setUp(self):
        self.bot = Harness(tell)

    def test_that_is_not_part_of_the_note(self):
        self.bot.reply("pubbot: tell bob that the tests pass")
        self.bot.reply("hi", source="bob")
        self.assertEqual([text for _, text, _ in self.bot.sent if "asked me" in text],
                         ["bob: alice asked me 0s ago to tell you: the tests pass"])

    def test_to_and_about_read_on(self):
        self.bot.reply("pubbot: tell bob to call me")
        self.bot.clock.advance(1)
        self.bot.reply("pubbot: tell bob about the party", source="carol", hostmask="carol!c@c")
        self.bot.reply("hi", source="bob")
        self.assertEqual([text for _, text, _ in self.bot.sent if "asked me" in text],
                         ["bob: alice asked me 1s ago to tell you to call me",
                          "bob: carol asked me 0s ago to tell you about the party"])

    def test_pronouns_are_not_nicks(self):
        self.assertIsNone(self.bot.reply("pubbot: tell me a joke"))
        self.assertIsNone(self.bot.reply("pubbot: tell us a story"))
        self.assertIsNone(self.bot.reply("pubbot: tell you what, later"))
        self.assertEqual(self.bot.reply("pubbot: tell him hi"),
                         "alice: who is 'him'? Notes are for a nick: tell <nick> <message>.")
        self.assertEqual(self.bot._now(self.bot.store.keys("tell:")), [])

    def test_one_note_in_words(self):
        bot = Harness(tell, config={"tell": {"max_pending": 1}})
        bot.reply("!tell bob one")
        self.assertEqual(bot.reply("!tell bob two", source="carol", hostmask="carol!c@c"),
                         "carol: bob already has 1 note waiting; that's enough.")
