"""The chat brain: its model (learning, eviction, generation, shards) and the plugin."""

import random
import sys
import tracemalloc

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import IBatchHandler, IHandler
from pubbot.brain.model import (
    EDGE,
    MAX_WORD,
    MAX_WORDS,
    TrigramModel,
    parse_shard_key,
    shard_count,
    shard_key,
)
from pubbot.plugins import brain as brain_module
from pubbot.plugins.brain import LOAD_WAIT, NO_SENSE, REPLY_WEIGHT, WARMING_UP, Brain
from pubbot.plugins.core import ping
from pubbot.store.memory import MemoryStore
from pubbot.testing import Harness

from .support.brain import CHATTER

ADMIN = {"plugins": {"admins": ["boss"]}}



def stored_shards(store):
    """The shards in a memory store (read past any failure injected into keys())."""
    keys = Harness._now(MemoryStore.keys(store, "brain:shard:"))
    return {k: Harness._now(store.get(k)) for k in keys}


def copy_store(source, target):
    for key in Harness._now(source.keys("")):
        Harness._now(target.set(key, Harness._now(source.get(key))))
    return target


class CountingStore(MemoryStore):
    """A memory store that records the name of every call made to it."""

    def __init__(self, clock):
        super().__init__(clock)
        self.calls = []


def _counting(name):
    def call(self, *args, **kwargs):
        self.calls.append(name)
        return getattr(MemoryStore, name)(self, *args, **kwargs)
    return call


for _name in ("get", "set", "delete", "incr", "expire", "sadd", "srem", "smembers",
              "hset", "hget", "hdel", "hgetall", "hincr", "keys"):
    setattr(CountingStore, _name, _counting(_name))


class ModelTests(SynchronousTestCase):

    def test_learns_padded_trigrams(self):
        model = TrigramModel()
        self.assertEqual(model.learn("hello there world"), 4)
        self.assertEqual(model.count(EDGE, EDGE, "hello"), 1)
        self.assertEqual(model.count(EDGE, "hello", "there"), 1)
        self.assertEqual(model.count("hello", "there", "world"), 1)
        self.assertEqual(model.count("there", "world", EDGE), 1)
        self.assertEqual(model.learn("hello there world"), 0)
        self.assertEqual(model.count("hello", "there", "world"), 2)
        self.assertEqual(len(model), 4)

    def test_nothing_to_learn(self):
        model = TrigramModel()
        for text in ("", "   ", "\t\r\n", "bob:"):
            self.assertEqual(model.learn(text), 0)
        self.assertEqual(len(model), 0)

    def test_address_is_not_learned(self):
        model = TrigramModel()
        model.learn("bob: the pub is open")
        self.assertEqual(model.count(EDGE, EDGE, "the"), 1)
        self.assertEqual(model.count(EDGE, EDGE, "bob:"), 0)

    def test_huge_line_is_capped(self):
        model = TrigramModel()
        words = ["w%d" % i for i in range(10000)]
        model.learn(" ".join(words) + " " + "x" * 100000)
        self.assertEqual(len(model), MAX_WORDS + 1)
        self.assertEqual(model.count("w62", "w63", EDGE), 1)

    def test_long_words_and_urls_are_skipped(self):
        model = TrigramModel()
        model.learn("look at https://example.com/x and %s here" % ("z" * (MAX_WORD + 1),))
        self.assertEqual(model.count("at", "and", "here"), 1)
        self.assertFalse(any("://" in w or len(w) > MAX_WORD
                             for t, _ in model.trigrams() for w in t))

    def test_size_is_bounded(self):
        model = TrigramModel(max_trigrams=100)
        rng = random.Random(3)
        for _ in range(2000):
            model.learn(" ".join("w%d" % rng.randrange(500) for _ in range(8)))
            self.assertLessEqual(len(model), 100)
        self.assertGreater(model.removed, 1000)

    def test_eviction_keeps_what_is_repeated(self):
        """CLOCK with decay: a phrase said often survives a flood of one-off chatter."""
        model = TrigramModel(max_trigrams=60)
        for _ in range(8):
            model.learn("good morning everyone")
        for i in range(300):
            model.learn("noise%d noise%d" % (i, i + 1))
            model.learn("good morning everyone")
        self.assertGreater(model.count(EDGE, "good", "morning"), 0)
        self.assertGreater(model.count("good", "morning", "everyone"), 0)
        self.assertEqual(model.count(EDGE, "noise0", "noise1"), 0)

    def test_reply_is_seeded_from_the_words(self):
        model = TrigramModel()
        for line in CHATTER:
            model.learn(line)
        for seed in range(20):
            reply = model.reply("what about cheese?", random.Random(seed))
            self.assertIn("cheese", reply.split())

    def test_reply_goes_backwards_and_forwards(self):
        model = TrigramModel()
        model.learn("one two three four five")
        self.assertEqual(model.reply("three", random.Random(0)), "one two three four five")

    def test_reply_is_deterministic(self):
        model = TrigramModel()
        for line in CHATTER * 3:
            model.learn(line)
        replies = {model.reply("the pub", random.Random(7)) for _ in range(5)}
        self.assertEqual(len(replies), 1)

    def test_knows_nothing(self):
        model = TrigramModel()
        self.assertIsNone(model.reply("anything", random.Random(0)))
        self.assertIsNone(model.reply("", random.Random(0)))
        model.learn("some words here")
        self.assertIsNone(model.reply("unrelated things", random.Random(0)))
        self.assertEqual(model.reply("", random.Random(0)), "some words here")

    def test_case_and_punctuation_do_not_matter(self):
        model = TrigramModel()
        model.learn("Cheese, glorious cheese")
        self.assertIsNotNone(model.reply("CHEESE!", random.Random(0)))

    def test_reply_strips_control_characters(self):
        model = TrigramModel()
        model.learn("\x01ACTION evil\x01 \x03" + "4red \x00text")
        reply = model.reply("evil", random.Random(0))
        self.assertTrue(reply)
        self.assertFalse(any(ord(c) < 32 or c == "\x7f" for c in reply))

    def test_new_learning_is_used_after_a_reply(self):
        model = TrigramModel()
        model.learn("alpha beta gamma")
        self.assertIsNone(model.reply("delta", random.Random(0)))
        model.learn("delta epsilon")
        self.assertEqual(model.reply("delta", random.Random(0)), "delta epsilon")

    def test_evicted_trigrams_are_not_generated(self):
        model = TrigramModel(max_trigrams=4)
        model.learn("alpha beta gamma")
        self.assertTrue(model.reply("beta", random.Random(0)))
        model.learn("delta epsilon zeta")
        self.assertEqual(model.count("alpha", "beta", "gamma"), 0)
        self.assertIsNone(model.reply("beta", random.Random(0)))

    def test_unlearn(self):
        model = TrigramModel()
        for line in CHATTER:
            model.learn(line)
        before = len(model)
        removed = model.unlearn(["Cheese"])
        self.assertGreater(removed, 0)
        self.assertEqual(len(model), before - removed)
        self.assertIsNone(model.reply("cheese", random.Random(0)))
        self.assertFalse(any("cheese" in t for t, _ in model.trigrams()))
        self.assertEqual(model.unlearn(["cheese"]), 0)
        self.assertEqual(model.unlearn(["", " "]), 0)

    def test_unlearned_trigrams_do_not_confuse_eviction(self):
        model = TrigramModel(max_trigrams=10)
        model.learn("a b c d e f")
        model.unlearn(["c"])
        for i in range(50):
            model.learn("x%d y%d" % (i, i))
            self.assertLessEqual(len(model), 10)

    def test_shards_round_trip(self):
        model = TrigramModel()
        for line in CHATTER:
            model.learn(line)
        shards = model.take_dirty()
        self.assertTrue(shards)
        self.assertEqual(model.take_dirty(), {})
        copy = TrigramModel()
        for shard, data in shards.items():
            self.assertEqual(copy.load_shard(shard, data), 0)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))
        self.assertEqual(copy.take_dirty(), {})

    def test_only_changed_shards_are_handed_over(self):
        model = TrigramModel()
        for i in range(500):
            model.learn("line %d of %d things" % (i, i * 7))
        model.take_dirty()
        model.learn("line 3 of 21 things")
        changed = model.take_dirty()
        self.assertLessEqual(len(changed), 6)
        self.assertLess(sum(len(v) for v in changed.values()), 6 * 20)

    def test_evicted_shards_are_rewritten(self):
        model = TrigramModel(max_trigrams=5)
        model.learn("a b c d")
        first = model.take_dirty()
        model.learn("e f g h")
        second = model.take_dirty()
        store = dict(first)
        store.update(second)
        copy = TrigramModel(max_trigrams=5)
        for shard, data in store.items():
            copy.load_shard(shard, data)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))

    def test_bounded_handover(self):
        model = TrigramModel()
        for i in range(300):
            model.learn("word%d other%d thing%d" % (i, i, i))
        store = {}
        rounds = 0
        while model.has_dirty():
            shards = model.take_dirty(max_shards=50)
            self.assertLessEqual(len(shards), 50)
            store.update(shards)
            rounds += 1
        self.assertGreater(rounds, 5)
        copy = TrigramModel()
        for shard, data in store.items():
            copy.load_shard(shard, data)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))

    def test_churn_is_refiled(self):
        """When most dirty trigrams were evicted, everything left is refiled; the store still matches."""
        model = TrigramModel(max_trigrams=20)
        store = {}
        for round_ in range(3):
            for i in range(1000):
                model.learn("r%d w%d x%d" % (round_, i, i))
            self.assertGreaterEqual(model.removed, 3000 * (round_ + 1) - 20)
            handed = set()
            while model.has_dirty():
                shards = model.take_dirty(max_shards=7)
                handed.update(shards)
                store.update(shards)
            # The refiling path: every shard is written afresh (or deleted).
            self.assertEqual(handed, set(range(model.shards)))
            store = {s: d for s, d in store.items() if d}
            copy = TrigramModel(max_trigrams=20)
            for shard, data in store.items():
                copy.load_shard(shard, data)
            self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))

    def test_dirty_tracking_is_bounded(self):
        """Churn with no hand-over: what is kept for the next one stays bounded."""
        model = TrigramModel(max_trigrams=10)
        # Words interned beforehand, so that the interpreter's table of
        # interned strings does not grow (or move) while measuring.
        words = [sys.intern("%s%d" % (w, i)) for i in range(40000) for w in "ab"]
        lines = ["a%d b%d" % (i, i) for i in range(40000)]
        tracemalloc.start()
        try:
            for i in range(2000):
                model.learn(lines[i])
            settled, _ = tracemalloc.get_traced_memory()
            grown = 0
            for i in range(2000, 40000):
                model.learn(lines[i])
                if i % 97 == 0:
                    grown = max(grown, tracemalloc.get_traced_memory()[0] - settled)
        finally:
            tracemalloc.stop()
        del words
        # Unbounded, 38,000 lines' dead trigrams would take megabytes.
        self.assertLess(grown, 250000)
        self.assertTrue(model.has_dirty())
        store = {}
        while model.has_dirty():
            store.update(model.take_dirty(max_shards=5))
        copy = TrigramModel(max_trigrams=10)
        for shard, data in store.items():
            copy.load_shard(shard, data)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))

    def test_load_merges_counts(self):
        model = TrigramModel()
        model.learn("a b")
        shards = model.take_dirty()
        other = TrigramModel()
        other.learn("a b")
        for shard, data in shards.items():
            other.load_shard(shard, data)
        self.assertEqual(other.count("a", "b", EDGE), 2)

    def test_load_skips_malformed_entries(self):
        model = TrigramModel()
        bad = {"a b": 1, "a b c d": 1, "x  y": 1, "   ": 1, "a\tb c": 1, "a b c": "1",
               "a b e": 0, "a b f": True, "a b g": 2.5, 7: 1, " x y": 3}
        self.assertEqual(model.load_shard(0, bad), 10)
        self.assertEqual(dict(model.trigrams()), {(EDGE, "x", "y"): 3})
        self.assertEqual(model.load_shard(0, ["not", "a", "dict"]), 1)
        self.assertEqual(model.load_shard(0, None), 1)

    def test_misfiled_trigrams_move(self):
        """Shards written with another shard count (max_trigrams changed) are refiled."""
        big = TrigramModel(max_trigrams=10 ** 6)
        for line in CHATTER:
            big.learn(line)
        shards = big.take_dirty()
        small = TrigramModel(max_trigrams=100)
        self.assertNotEqual(big.shards, small.shards)
        for shard, data in shards.items():
            small.load_shard(shard, data)
        rewritten = small.take_dirty()
        store = dict(shards)
        store.update(rewritten)
        store = {s: d for s, d in store.items() if d}
        self.assertTrue(all(s < small.shards for s in store))
        again = TrigramModel(max_trigrams=100)
        for shard, data in store.items():
            again.load_shard(shard, data)
        self.assertEqual(dict(again.trigrams()), dict(big.trigrams()))

    def test_shard_keys(self):
        self.assertEqual(parse_shard_key(shard_key(300)), 300)
        self.assertIsNone(parse_shard_key("brain:shard:zz"))
        self.assertIsNone(parse_shard_key("other"))
        self.assertEqual(shard_count(1), 16)
        self.assertEqual(shard_count(200000), 4096)

    @given(st.lists(st.text(max_size=80), max_size=30), st.integers(min_value=1, max_value=40))
    def test_any_text_is_safe_and_bounded(self, lines, limit):
        model = TrigramModel(max_trigrams=limit)
        for line in lines:
            model.learn(line)
            self.assertLessEqual(len(model), limit)
        copy = TrigramModel(max_trigrams=limit)
        for shard, data in model.take_dirty().items():
            self.assertEqual(copy.load_shard(shard, data), 0)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))
        for line in lines:
            reply = model.reply(line, random.Random(0))
            if reply is not None:
                self.assertTrue(reply)
                self.assertFalse(any(ord(c) < 32 for c in reply))


class PluginTests(SynchronousTestCase):

    def harness(self, *others, config=None, store=None, seed=0):
        brain = Brain()
        bot = Harness(brain, *others, config=config, seed=seed)
        if store is not None:
            # Restart on the given store.
            bot.stop()
            bot.bot.store = store
            bot.bot.start()
        return bot, brain

    def test_interfaces(self):
        self.assertTrue(verifyObject(IHandler, brain_module.brain))
        self.assertTrue(verifyObject(IBatchHandler, brain_module.brain))
        self.assertTrue(verifyObject(IPlugin, brain_module.brain))

    def test_learns_chatter_and_answers(self):
        bot, brain = self.harness()
        for line in CHATTER:
            self.assertIsNone(bot.reply(line))
        reply = bot.reply("pubbot: tell me about cheese")
        self.assertIn("cheese", reply.split())
        result = bot._now(bot.say("pubbot: cheese"))
        self.assertEqual(result.weight, REPLY_WEIGHT)

    def test_makes_no_sense(self):
        bot, brain = self.harness()
        self.assertEqual(bot.reply("pubbot: quantum chromodynamics"), NO_SENSE)
        bot.reply("hello everyone")
        self.assertEqual(bot.reply("pubbot: quantum chromodynamics"), NO_SENSE)

    def test_does_not_learn_what_is_not_chatter(self):
        bot, brain = self.harness(config={"brain": {"ignore": ["otherbot"]}})
        bot.reply("pubbot: secret words addressed")
        bot.reply("!secret command words")
        bot.reply("secret private words", private=True)
        bot.reply("secret bot words", source="OtherBot")
        self.assertEqual(len(brain.model), 0)
        self.assertEqual(bot.reply("pubbot: secret"), NO_SENSE)

    def test_other_plugins_win(self):
        bot, brain = self.harness(ping)
        bot.reply("ping pong ping")
        self.assertEqual(bot.reply("pubbot: ping"), "pong")

    def test_deterministic_under_seed(self):
        replies = set()
        for _ in range(3):
            bot, brain = self.harness(seed=42)
            for line in CHATTER * 2:
                bot.reply(line)
            replies.add(bot.reply("pubbot: the pub"))
        self.assertEqual(len(replies), 1)

    def test_writes_are_batched_on_the_clock(self):
        bot, brain = self.harness()
        store = CountingStore(bot.clock)
        bot.bot.store = store
        for i in range(1000):
            bot.reply("line number %d is here" % (i % 10))
        self.assertEqual(store.calls, [])
        self.assertEqual(stored_shards(store), {})
        bot.clock.advance(bot.settings.brain.flush_seconds)
        writes = [c for c in store.calls if c in ("set", "delete")]
        self.assertTrue(writes)
        self.assertLessEqual(len(writes), brain.model.shards)
        self.assertTrue(stored_shards(store))
        store.calls.clear()
        bot.clock.advance(bot.settings.brain.flush_seconds)
        self.assertEqual([c for c in store.calls if c in ("set", "delete")], [])

    def test_persists_across_restarts(self):
        bot, brain = self.harness()
        for line in CHATTER:
            bot.reply(line)
        bot.stop()  # flushes
        self.assertTrue(stored_shards(bot.store))
        again, brain2 = self.harness(store=bot.store)
        self.assertTrue(brain2.loaded)
        self.assertEqual(dict(brain2.model.trigrams()), dict(brain.model.trigrams()))
        self.assertIn("cheese", again.reply("pubbot: cheese").split())

    def test_a_load_retried_after_failing_part_way_counts_no_shard_twice(self):
        bot, brain = self.harness()
        for line in CHATTER:
            bot.reply(line)
        bot.stop()  # flushes
        want = dict(brain.model.trigrams())

        class FlakyStore(MemoryStore):
            shards_read = 0

            def get(self, key):
                if key.startswith("brain:shard:"):
                    self.shards_read += 1
                    if self.shards_read == 3:  # the store goes away in the middle of the load
                        return fail(ConnectionError("store away"))
                return MemoryStore.get(self, key)

        store = FlakyStore(bot.clock)
        for key in Harness._now(bot.store.keys("")):
            Harness._now(store.set(key, Harness._now(bot.store.get(key))))
        self.assertGreater(len(stored_shards(bot.store)), 3)
        again, brain2 = self.harness(store=store)
        self.assertFalse(brain2.loaded)
        again.clock.advance(again.settings.brain.flush_seconds)  # the retry
        self.assertTrue(brain2.loaded)
        self.assertEqual(dict(brain2.model.trigrams()), want)
        self.assertEqual(len(self.flushLoggedErrors(ConnectionError)), 1)

    def test_lines_learned_while_loading_are_kept(self):
        bot, brain = self.harness()
        bot.reply("alpha beta gamma")
        bot.stop()
        store = bot.store
        release = Deferred()

        class SlowStore(MemoryStore):
            def keys(self, prefix=""):
                d = super().keys(prefix)
                return release.addCallback(lambda _: d)

        slow = copy_store(store, SlowStore(bot.clock))
        again, brain2 = self.harness(store=slow)
        self.assertFalse(brain2.loaded)
        # a question before the model loads waits for it, then says so when it takes too long
        asked = again.say("pubbot: alpha", source="ann")
        self.assertNoResult(asked)
        again.clock.advance(LOAD_WAIT)
        self.assertEqual(self.successResultOf(asked).lines, (WARMING_UP % ("ann",),))
        again.reply("alpha beta gamma")
        again.clock.advance(60)
        self.assertFalse(brain2.loaded)
        waiting = again.say("pubbot: alpha", source="bob")
        self.assertNoResult(waiting)
        release.callback(None)
        self.assertTrue(brain2.loaded)
        self.assertEqual(brain2.model.count("alpha", "beta", "gamma"), 2)
        self.assertNotIn(NO_SENSE, self.successResultOf(waiting).lines)  # answered from the loaded model
        again.clock.advance(60)
        reloaded = TrigramModel()
        for key, data in stored_shards(slow).items():
            reloaded.load_shard(parse_shard_key(key), data)
        self.assertEqual(reloaded.count("alpha", "beta", "gamma"), 2)

    def test_failed_load_never_overwrites_the_stored_model(self):
        bot, brain = self.harness()
        bot.reply("alpha beta gamma")
        bot.stop()
        store = bot.store
        broken = {"on": True}

        class FlakyStore(MemoryStore):
            def keys(self, prefix=""):
                if broken["on"]:
                    return fail(OSError("disk on fire"))
                return super().keys(prefix)

        flaky = copy_store(store, FlakyStore(bot.clock))
        again, brain2 = self.harness(store=flaky)
        again.reply("delta epsilon")
        for _ in range(6):
            again.clock.advance(5)
        self.assertFalse(brain2.loaded)
        self.assertEqual(len(self.flushLoggedErrors(IOError)), 7)
        before = stored_shards(flaky)
        self.assertEqual(before, stored_shards(store))
        broken["on"] = False
        again.clock.advance(5)
        self.assertTrue(brain2.loaded)
        self.assertEqual(brain2.model.count("alpha", "beta", "gamma"), 1)
        self.assertEqual(brain2.model.count("delta", "epsilon", EDGE), 1)

    def test_flushes_are_bounded_and_stop_writes_everything(self):
        import pubbot.plugins.brain as module
        from pubbot.plugins.brain import FLUSH_SHARDS
        self.patch(module, "FLUSH_ROUNDS", 2)
        bot, brain = self.harness()
        for i in range(3000):
            bot.reply("word%d other%d thing%d" % (i, i, i))
        bot.clock.advance(5)
        # Two rounds of at most FLUSH_SHARDS (a shard may be written in both).
        self.assertGreater(len(stored_shards(bot.store)), FLUSH_SHARDS)
        self.assertLessEqual(len(stored_shards(bot.store)), 2 * FLUSH_SHARDS)
        self.assertTrue(brain.model.has_dirty())
        bot.stop()
        self.assertFalse(brain.model.has_dirty())
        copy = TrigramModel()
        for key, data in stored_shards(bot.store).items():
            copy.load_shard(parse_shard_key(key), data)
        self.assertEqual(dict(copy.trigrams()), dict(brain.model.trigrams()))

    def test_take_dirty_files_a_bounded_number_of_trigrams(self):
        model = TrigramModel()
        for i in range(100):
            model.learn("alpha%d beta%d gamma%d" % (i, i, i))
        first = model.take_dirty(max_trigrams=10)
        self.assertLessEqual(sum(len(v) for v in first.values()), 10)
        self.assertTrue(model.has_dirty())
        while model.has_dirty():
            model.take_dirty(max_trigrams=10)
        copy = TrigramModel()
        model.mark_all_dirty()
        for shard, data in model.take_dirty().items():
            copy.load_shard(shard, data)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))

    def test_partial_filing_survives_eviction(self):
        # Trigrams filed in one round and evicted before the next must not
        # break building the next round's shards.
        model = TrigramModel(50)
        for i in range(40):
            model.learn("alpha%d beta%d gamma%d" % (i, i, i))
        model.take_dirty(max_trigrams=10)
        for i in range(200):
            model.learn("delta%d eps%d zeta%d" % (i, i, i))
        while model.has_dirty():
            model.take_dirty(max_shards=4, max_trigrams=10)
        copy = TrigramModel(50)
        model.mark_all_dirty()
        for shard, data in model.take_dirty().items():
            copy.load_shard(shard, data)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))

    def test_a_round_writes_its_shards_at_once(self):
        """A round's writes are all made before any is answered; a failed one is handed over again."""
        from pubbot.plugins.brain import save_model
        model = TrigramModel()
        for i in range(200):
            model.learn("alpha%d beta%d gamma%d" % (i, i, i))
        while model.has_dirty():
            model.take_dirty()
        model.mark_all_dirty()
        held = {}

        class HeldStore:
            def set(self, key, value, ttl=None):
                held[key] = Deferred()
                return held[key]

            def delete(self, key):
                return self.set(key, None)

        saving = Deferred.fromCoroutine(save_model(model, HeldStore(), 4, 1000, rounds=1))
        self.assertEqual(len(held), 4)
        first, *rest = sorted(held)
        for key in rest:
            held[key].callback(None)
        self.assertNoResult(saving)
        held[first].errback(OSError("disk full"))
        self.failureResultOf(saving, IOError)
        again = model.take_dirty()
        self.assertIn(parse_shard_key(first), again)
        self.assertFalse({parse_shard_key(key) for key in rest} & set(again))

    def test_failed_save_is_retried(self):
        bot, brain = self.harness()
        failing = {"on": True}
        store = bot.store
        original = store.set

        def set_(key, value, ttl=None):
            if failing["on"]:
                return fail(OSError("store down"))
            return original(key, value, ttl)

        store.set = set_
        bot.reply("alpha beta gamma")
        bot.clock.advance(5)
        self.assertEqual(len(self.flushLoggedErrors(IOError)), 1)
        self.assertEqual(stored_shards(store), {})
        failing["on"] = False
        bot.clock.advance(5)
        copy = TrigramModel()
        for key, data in stored_shards(store).items():
            copy.load_shard(parse_shard_key(key), data)
        self.assertEqual(dict(copy.trigrams()), dict(brain.model.trigrams()))

    def test_unlearn_by_admin(self):
        bot, brain = self.harness(config=ADMIN)
        for line in CHATTER:
            bot.reply(line)
        reply = bot.reply("pubbot: unlearn cheese", account="boss")
        self.assertRegex(reply, r"^Forgotten: \d+ trigrams with cheese\.$")
        self.assertEqual(bot.reply("pubbot: cheese"), NO_SENSE)
        self.assertEqual(bot.reply("pubbot: unlearn cheese", account="boss"),
                         "I knew nothing about cheese.")
        self.assertEqual(bot.reply("pubbot: unlearn", account="boss"),
                         "Unlearn what? Say: unlearn <words>")
        bot.clock.advance(5)
        self.assertFalse(any("cheese" in field for data in stored_shards(bot.store).values()
                             for field in data))

    def test_unlearn_refused_for_others(self):
        bot, brain = self.harness(config=ADMIN)
        for line in CHATTER:
            bot.reply(line)
        # The nick of an admin's account is not enough.
        reply = bot.reply("pubbot: unlearn cheese", source="boss")
        self.assertEqual(reply, "boss: only admins can make me unlearn things.")
        self.assertIn("cheese", bot.reply("pubbot: cheese").split())

    def test_bounded_by_config(self):
        bot, brain = self.harness(config={"brain": {"max_trigrams": 30}})
        for i in range(200):
            bot.reply("word%d word%d word%d" % (i, i + 1, i + 2))
        self.assertLessEqual(len(brain.model), 30)

    def test_hostile_lines(self):
        bot, brain = self.harness()
        bot.reply("x" * 1000000)
        bot.reply("a " * 500000)
        bot.reply("\x00\x01\r\n\x1b[31m bad \udcff bytes")
        self.assertLessEqual(len(brain.model), 2 * MAX_WORDS + 10)
        reply = bot.reply("pubbot: bad")
        self.assertTrue(reply)
        self.assertFalse(any(ord(c) < 32 for c in reply))
        bot.clock.advance(5)
        self.assertTrue(stored_shards(bot.store))

    def test_help_lists_unlearn(self):
        from pubbot.plugins.core import help
        bot, brain = self.harness(help)
        self.assertIn("unlearn <words>", bot.reply("pubbot: help unlearn"))


class BatchTests(SynchronousTestCase):
    # Chatter, lines addressed to the bot, a command, a private line, an
    # ignored bot and an admin's unlearn, mixed.
    LINES = [("ann", CHATTER[0]), ("bob", CHATTER[1]), ("ann", "pubbot: cheese"), ("cat", "!ping me"),
             ("bob", "private cheese words"), ("OtherBot", "bot cheese words"), ("ann", CHATTER[2]),
             ("ann", CHATTER[3]), ("boss", "pubbot: unlearn toast"), ("bob", CHATTER[4]),
             ("cat", "pubbot: the pub"), ("ann", "")]

    def harness(self):
        brain = Brain()
        h = Harness(brain, config={"plugins": {"admins": ["boss"]}, "brain": {"ignore": ["otherbot"]}})
        return brain, h

    def messages(self, h):
        return [h.bot.chat_message("irc", "#pubbot", source, text, text.startswith("private"),
                                   {"account": source}) for source, text in self.LINES]

    def run_with(self, batched):
        brain, h = self.harness()
        messages = self.messages(h)
        if batched:
            answers = brain.handle_many(messages)
        else:
            answers = [(i, value) for i, value in enumerate(map(brain.handle, messages)) if value is not None]
        return answers, dict(brain.model.trigrams()), brain.model.added

    def test_a_batch_learns_and_answers_as_the_lines_one_by_one(self):
        answers, trigrams, added = self.run_with(batched=True)
        self.assertEqual((answers, trigrams, added), self.run_with(batched=False))
        self.assertEqual([i for i, _ in answers], [2, 4, 8, 10])
        self.assertIn("cheese", answers[0][1]["content"].split())
        self.assertTrue(answers[2][1]["content"].startswith("Forgotten:"))
        words = {word for trigram in trigrams for word in trigram}
        self.assertLessEqual({"toast", "butter"}, words)  # unlearned, then learned again
        self.assertFalse({"me", "private", "bot"} & words)

    def test_lines_before_an_addressed_line_are_learned_before_it_is_answered(self):
        brain, h = self.harness()
        h.bot.bus.submit_many([h.bot.chat_message("irc", "#pubbot", "ann", text, False, {})
                               for text in ("pubbot: cheese", CHATTER[0], "pubbot: cheese")])
        self.assertEqual(h.sent[0], ("#pubbot", NO_SENSE, "say"))
        self.assertIn("cheese", h.sent[1][1].split())

    def test_one_learn_many_a_run_of_chatter(self):
        brain, h = self.harness()
        runs = []
        learn_many = brain.model.learn_many
        self.patch(brain.model, "learn_many", lambda texts: runs.append(list(texts)) or learn_many(texts))
        messages = self.messages(h)
        brain.handle_many(messages)
        self.assertEqual(runs, [CHATTER[:2], CHATTER[2:4], [CHATTER[4]], [""]])
        runs.clear()
        brain.handle_many(messages[:2])
        self.assertEqual(runs, [CHATTER[:2]])

    def test_a_failure_loses_only_its_part_of_the_batch(self):
        brain, h = self.harness()
        answer = brain.answer

        def failing(msg):
            if msg.content == "cheese":
                raise ZeroDivisionError()
            return answer(msg)
        self.patch(brain, "answer", failing)
        answers = brain.handle_many(self.messages(h))
        self.assertEqual([i for i, _ in answers], [4, 8, 10])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.patch(brain.model, "learn_many", lambda texts: 1 / 0)
        answers = brain.handle_many(self.messages(h))
        self.assertEqual([i for i, _ in answers], [4, 8, 10])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 5)  # four runs and the answer
