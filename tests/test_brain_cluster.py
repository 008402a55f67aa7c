"""
One brain for a cluster (pubbot.brain.shared): harnesses sharing one memory
store stand for the processes of a cluster; the one whose jobs run is the
IRC owner (the writer).
"""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.brain import shared
from pubbot.brain.host import InlineModel
from pubbot.brain.model import TrigramModel, line_trigrams
from pubbot.brain.shared import FLOOR, HEAD, JOURNAL, MARK, TAIL, Follower, Journal, with_mark
from pubbot.plugins.brain import NO_SENSE, Brain
from pubbot.store import Encoded, encode
from pubbot.store.memory import MemoryStore
from pubbot.testing import Harness

from .support.brain import CHATTER

ADMIN = {"plugins": {"admins": ["boss"]}}


def unique_lines(prefix, n):
    return ["%s%d one%d two%d three%d" % (prefix, i, i, i, i) for i in range(n)]


class Cluster:
    """Harnesses on one store: C{owner()} makes one of them the IRC owner."""

    def __init__(self, test, n=2, config=None):
        self.store = None
        self.bots = []
        self.brains = []
        for _ in range(n):
            self.add(config)
        test.addCleanup(self.stop)
        self.owner(0)

    def add(self, config=None):
        brain = Brain(shared=True)
        bot = Harness(brain, config=config, store=self.store)
        if self.store is None:
            self.store = bot.store
        self.bots.append(bot)
        self.brains.append(brain)
        return bot, brain

    def advance(self, seconds):
        for bot in self.bots:
            bot.clock.advance(seconds)

    def owner(self, index):
        for i, bot in enumerate(self.bots):
            bot.bot.jobs.owner = (lambda: True) if i == index else (lambda: False)

    def stop(self):
        for bot, brain in zip(self.bots, self.brains, strict=True):
            if brain.bot is not None:
                bot.stop()


def counts(brain):
    return dict(brain.model.trigrams())


def fresh_load(store, max_trigrams=200000):
    """The one brain as a new process loads it from the store."""
    model = TrigramModel(max_trigrams)
    follower = Follower(store, None)
    Harness._now(Deferred.fromCoroutine(follower.load(InlineModel(model))))
    return dict(model.trigrams()), follower


def expected(lines):
    out = {}
    for line in lines:
        for t in line_trigrams(line):
            out[t] = out.get(t, 0) + 1
    return out


class ClusterBrainTests(SynchronousTestCase):

    def test_single_process_has_no_journal(self):
        brain = Brain()
        bot = Harness(brain)
        self.assertIsNone(brain.follower)
        bot.reply("hello there world")
        self.assertEqual(Harness._now(bot.store.keys("brain:journal")), [])
        self.assertEqual(len(brain.model), 4)

    def test_owner_journals_and_every_process_answers_from_the_same_model(self):
        c = Cluster(self)
        a, b = c.bots
        for line in CHATTER:
            a.reply(line)
        # Nothing learned in the handler: the journal holds it; the worker answers from it.
        self.assertIn("cheese", b.reply("pubbot: tell me about cheese").split())
        self.assertIn("pub", a.reply("pubbot: the pub").split())
        self.assertEqual(counts(c.brains[0]), counts(c.brains[1]))
        self.assertEqual(counts(c.brains[0]), expected(CHATTER))
        self.assertEqual(c.brains[1].status()["journal"],
                         {"position": len(CHATTER), "pending_lines": 0, "dropped_lines": 0, "skipped": 0})

    def test_ignored_senders_and_channels_where_the_brain_is_off_are_not_journaled(self):
        from pubbot.plugins.ignore import IgnoreGate

        config = {"channels": {"#work": {"disabled": ["brain"]}}, "ignore": {"bots": ["otherbot"]}}
        brains = [Brain(shared=True) for _ in range(2)]
        bots = [Harness(brains[0], IgnoreGate(), config=config)]
        bots.append(Harness(brains[1], IgnoreGate(), config=config, store=bots[0].store))
        for i, bot in enumerate(bots):
            bot.bot.jobs.owner = (lambda: True) if i == 0 else (lambda: False)
            self.addCleanup(bot.stop)
        a, b = bots
        a.reply("spam spam lovely spam", source="otherbot")
        a.reply("work work busy work", channel="#work")
        a.reply("cheese cheese lovely cheese")
        b.reply("pubbot: hello")  # the worker follows the journal
        self.assertEqual(counts(brains[1]), expected(["cheese cheese lovely cheese"]))
        a.clock.advance(1)  # the owner follows it too
        self.assertEqual(counts(brains[0]), counts(brains[1]))

    def test_lines_read_by_either_process_are_learned_once_in_the_one_brain(self):
        c = Cluster(self)
        a, b = c.bots
        said_a, said_b = unique_lines("a", 30), unique_lines("b", 30)
        for x, y in zip(said_a, said_b, strict=True):
            a.reply(x)
            b.reply(y)  # read by another process (say, the owner before a failover)
        c.advance(a.settings.brain.flush_seconds)
        want = expected(said_a + said_b)
        self.assertEqual(counts(c.brains[0]), want)
        self.assertEqual(counts(c.brains[1]), want)
        stored, _ = fresh_load(c.store)
        self.assertEqual(stored, want)

    def test_an_answer_waits_for_an_entry_on_its_way(self):
        c = Cluster(self)
        a, b = c.bots
        number = Harness._now(c.store.incr(HEAD))  # numbered; the owner is writing it
        asked = b.say("pubbot: tell me about zebras")
        b.clock.advance(shared.ANSWER_STEP)
        Harness._now(c.store.hset(JOURNAL, str(number), {"l": ["zebras have stripes"]}))
        b.clock.advance(shared.ANSWER_STEP)
        self.assertIn("zebras", Harness._now(asked).lines[0].split())

    def test_only_the_owner_writes_shards(self):
        c = Cluster(self)
        a, b = c.bots
        c.owner(1)
        a.reply("alpha beta gamma")
        c.advance(a.settings.brain.flush_seconds)
        shards = [k for k in Harness._now(c.store.keys("brain:shard:"))]
        self.assertTrue(shards)
        for key in shards:
            self.assertIn(MARK, Harness._now(c.store.get(key)))
        c.owner(0)
        c.brains[1].flush()
        self.assertGreaterEqual(Harness._now(c.store.get(FLOOR)), 1)

    def test_owner_dies_mid_flush_and_the_new_owner_loses_nothing_and_counts_nothing_twice(self):
        c = Cluster(self)
        a, b = c.bots
        first = unique_lines("early", 40)
        for line in first:
            a.reply(line)
        b.reply("pubbot: early3")  # the worker follows
        # The owner writes a few shards only, then hears more, then dies.
        c.advance(shared.FOLLOW_SECONDS)
        owner = c.brains[0]
        self.assertEqual(owner.follower.position, 40)
        Harness._now(Deferred.fromCoroutine(owner.follower.save(owner.host, lambda: True, max_shards=3,
                                                                rounds=1)))
        marks = {Harness._now(c.store.get(k))[MARK] for k in Harness._now(c.store.keys("brain:shard:"))}
        self.assertEqual(marks, {40})
        self.assertIsNone(Harness._now(c.store.get(FLOOR)))  # not all written
        later = unique_lines("late", 40)
        for line in later:
            a.reply(line)
        c.brains[0].bot = None  # dead: no more flushes, nothing more said
        c.brains[0]._follow_loop.stop()
        c.brains[0]._loop.stop()
        # A process that starts now (shards marked differently, the rest in the journal).
        stored, _ = fresh_load(c.store)
        self.assertEqual(stored, expected(first + later))
        # The worker becomes the owner, follows and writes.
        c.owner(1)
        self.assertIn("late5", b.reply("pubbot: late5").split())
        c.advance(b.settings.brain.flush_seconds)
        self.assertEqual(counts(c.brains[1]), expected(first + later))
        stored, follower = fresh_load(c.store)
        self.assertEqual(stored, expected(first + later))
        self.assertEqual(follower.position, Harness._now(c.store.get(HEAD)))

    def test_unlearn_reaches_every_process(self):
        c = Cluster(self, config=ADMIN)
        a, b = c.bots
        for line in CHATTER:
            a.reply(line)
        answer = b.reply("pubbot: unlearn cheese", account="boss")
        self.assertRegex(answer, r"^Forgotten: \d+ trigrams with cheese\.$")
        self.assertEqual(a.reply("pubbot: cheese"), NO_SENSE)
        self.assertEqual(b.reply("pubbot: cheese"), NO_SENSE)
        self.assertEqual(counts(c.brains[0]), counts(c.brains[1]))

    def test_a_number_without_its_entry_is_skipped_after_a_while(self):
        c = Cluster(self)
        a, b = c.bots
        a.reply("before the hole")
        Harness._now(c.store.incr(HEAD))  # an appender died between the number and the entry
        a.reply("after the hole")
        # Not yet: the entry may still come (an answer waits a moment for it).
        asked = b.say("pubbot: after")
        b.clock.advance(shared.ANSWER_WAIT)
        b.clock.advance(shared.ANSWER_STEP)
        self.assertEqual(list(Harness._now(asked).lines), [NO_SENSE])
        c.advance(shared.HOLE_SECONDS + 1)
        self.assertIn("hole", b.reply("pubbot: after").split())
        self.assertEqual(c.brains[1].follower.skipped, 1)

    def test_the_journal_is_trimmed_and_a_process_far_behind_loads_anew(self):
        self.patch(shared, "KEEP", 2)
        c = Cluster(self)
        a, b = c.bots
        b_brain = c.brains[1]
        b_brain._follow_loop.stop()  # far behind
        b_brain.follower.host = None
        lines = unique_lines("x", 10)
        for line in lines:
            a.reply(line)
        c.advance(shared.FOLLOW_SECONDS)  # the owner follows
        c.brains[0].flush()
        floor = Harness._now(c.store.get(FLOOR))
        self.assertEqual(floor, 10)
        self.assertEqual(Harness._now(c.store.get(TAIL)), 8)
        self.assertIsNone(Harness._now(c.store.hget(JOURNAL, "8")))
        self.assertIsNotNone(Harness._now(c.store.hget(JOURNAL, "9")))
        b_brain.follower.host = b_brain.host
        b_brain.follower.position = 3
        b.reply("pubbot: x1")  # entry 4 is gone: load anew
        self.assertFalse(b_brain.loaded)
        b_brain.flush()
        self.assertTrue(b_brain.loaded)
        self.assertEqual(counts(b_brain), expected(lines))

    def test_a_failed_load_is_retried_on_an_empty_model(self):
        c = Cluster(self)
        a, _ = c.bots
        lines = unique_lines("y", 20)
        for line in lines:
            a.reply(line)
        c.advance(shared.FOLLOW_SECONDS)
        c.brains[0].flush()  # half the shards
        a.stop()

        class FlakyStore(MemoryStore):
            shards_read = 0

            def get(self, key):
                if key.startswith("brain:shard:"):
                    self.shards_read += 1
                    if self.shards_read == 2:  # the store goes away in the middle of the load
                        return fail(ConnectionError("store away"))
                return MemoryStore.get(self, key)

        store = FlakyStore(Clock())
        for key in Harness._now(c.store.keys("")):
            kind = "hash" if key == JOURNAL else "string"
            if kind == "hash":
                for field, value in Harness._now(c.store.hgetall(key)).items():
                    Harness._now(store.hset(key, field, value))
            else:
                Harness._now(store.set(key, Harness._now(c.store.get(key))))
        Harness._now(store.hset(JOURNAL, "21", {"l": ["zulu yankee xray"]}))
        Harness._now(store.incr(HEAD))
        brain = Brain(shared=True)
        bot = Harness(brain, store=store)
        self.addCleanup(bot.stop)
        self.assertFalse(brain.loaded)
        bot.clock.advance(bot.settings.brain.flush_seconds)
        self.assertTrue(brain.loaded)
        self.assertEqual(counts(brain), expected(lines + ["zulu yankee xray"]))
        self.assertEqual(len(self.flushLoggedErrors(ConnectionError)), 1)

    def test_shards_carry_their_mark(self):
        self.assertEqual(with_mark({"a b c": 2}, 7), {"a b c": 2, MARK: 7})
        self.assertEqual(with_mark({}, 7), {MARK: 7})
        text = with_mark(Encoded(encode({"a b c": 2, "d e f": 1})), 9).text
        self.assertEqual(json.loads(text), {"a b c": 2, "d e f": 1, MARK: 9})
        self.assertEqual(json.loads(with_mark(Encoded("{}"), 3).text), {MARK: 3})

    def test_the_journal_waits_for_the_store(self):
        clock = Clock()

        class FlakyStore(MemoryStore):
            failures = 2

            def incr(self, key, amount=1):
                if self.failures:
                    self.failures -= 1
                    return fail(ConnectionError("store away"))
                return MemoryStore.incr(self, key, amount)

        store = FlakyStore(clock)
        journal = Journal(store, clock)
        journal.learn(["one line"])
        journal.learn(["two lines"])
        self.assertEqual(journal.pending_lines, 2)
        clock.advance(shared.RETRY_SECONDS)
        clock.advance(shared.RETRY_SECONDS)
        self.assertEqual(journal.pending_lines, 0)
        # In order, each once, whatever the failures.
        self.assertEqual(Harness._now(store.hget(JOURNAL, "1")), {"l": ["one line"]})
        self.assertEqual(Harness._now(store.hget(JOURNAL, "2")), {"l": ["two lines"]})
        self.assertEqual(Harness._now(store.get(HEAD)), 2)


def _run(coroutine):
    return Harness._now(Deferred.fromCoroutine(coroutine))


#: A model of 16 shards (every shard is written now and then), never full in these tests.
SMALL = 1000


class Process:
    """One process's follower and model, on the shared store."""

    def __init__(self, store, clock):
        self.follower = Follower(store, clock)
        self.load()

    def load(self):
        """Load anew on an empty model (as the plugin does, also when what it needs was trimmed)."""
        self.model = TrigramModel(SMALL)
        _run(self.follower.load(InlineModel(self.model)))

    def follow(self):
        Harness._now(self.follower.sync())
        if self.follower.host is None:  # trimmed past it
            self.load()

    def save(self, max_shards):
        host = self.follower.host
        if max_shards is None:
            return _run(self.follower.save(host, lambda: True))
        return _run(self.follower.save(host, lambda: True, max_shards=max_shards, rounds=1))


steps = st.lists(st.one_of(
    st.tuples(st.just("say"), st.integers(1, 5)),
    st.tuples(st.just("follow"), st.integers(0, 2)),
    st.tuples(st.just("save"), st.sampled_from([1, 2, 5, None])),
    st.tuples(st.just("owner"), st.integers(0, 2)),
    st.tuples(st.just("restart"), st.integers(0, 2)),
), max_size=40)


class ExactlyOnceProperties(SynchronousTestCase):

    @settings(max_examples=100, deadline=None)
    @given(steps, st.integers(0, 2))
    def test_whatever_happens_every_line_is_in_the_one_brain_once(self, plan, keep):
        self.patch(shared, "KEEP", keep)
        clock = Clock()
        store = MemoryStore(clock)
        procs = [Process(store, clock) for _ in range(3)]
        owner = 0
        said = []
        for op, arg in plan:
            if op == "say":  # the owner reads and journals lines
                lines = ["%s w%d v%d" % ("s%d" % len(said), len(said) % 3, i) for i in range(arg)]
                said += lines
                procs[owner].follower.journal.learn(lines)
            elif op == "follow":
                procs[arg].follow()
            elif op == "save":
                procs[owner].save(arg)
            elif op == "owner":
                owner = arg
            else:
                procs[arg] = Process(store, clock)
        want = expected(said)
        self.assertLess(len(want), SMALL)
        self.assertEqual(fresh_load(store, SMALL)[0], want)
        for p in procs:
            _run(p.follower.catch_up())
            if p.follower.host is None:
                p.load()
            self.assertEqual(dict(p.model.trigrams()), want)
        procs[owner].save(None)
        self.assertEqual(fresh_load(store, SMALL)[0], want)

    def test_a_new_owner_behind_the_floor_writes_nothing_until_it_caught_up(self):
        clock = Clock()
        store = MemoryStore(clock)
        a, b = Process(store, clock), Process(store, clock)
        first = ["one two three four five six seven eight nine ten eleven twelve"]
        second = ["one two three four five six seven eight nine ten eleven twelve thirteen"]
        a.follower.journal.learn(first)
        b.follow()
        a.follower.journal.learn(second)
        a.follow()
        self.assertGreater(a.save(None), 0)
        self.assertEqual(Harness._now(store.get(FLOOR)), 2)
        # b, behind the floor, becomes the owner: its shards would take the store back.
        self.assertEqual(b.save(None), 0)
        self.assertEqual(fresh_load(store, SMALL)[0], expected(first + second))
        b.follow()
        self.assertGreater(b.save(None), 0)
        self.assertEqual(fresh_load(store, SMALL)[0], expected(first + second))
