"""The brain's model: learn_many against learn, and persistence without per-trigram bookkeeping."""

import random
import tracemalloc

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.brain.model import EDGE, MAX_WORD, MAX_WORDS, TrigramModel

# A small vocabulary (so trigrams repeat and small models evict), with the
# words learning treats specially.
VOCABULARY = ["a", "b", "c", "the", "pub", "cheese", "Cheese!", "bob:", "ann:", ":", "x" * MAX_WORD,
              "y" * (MAX_WORD + 1), "http://example.com/x", "a://b", "://", "caf\u00e9", "\u65e5\u672c",
              "\U0001f37a", "\udcff", "\x01ACTION", "\x00"]

words = st.lists(st.sampled_from(VOCABULARY), max_size=12)
separators = st.sampled_from([" ", "  ", "\t", " \r\n "])


@st.composite
def lines(draw):
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.sampled_from(["", " ", "\t\r\n", "bob:", "bob: ", " bob:  "]))
    if kind == 1:
        return draw(st.text(max_size=60))
    if kind == 2:  # past MAX_WORDS
        count = MAX_WORDS + draw(st.integers(-2, 5))
        return " ".join(draw(st.sampled_from(VOCABULARY[:6])) for _ in range(count))
    return draw(separators).join(draw(words))


texts = st.lists(lines(), max_size=40)


def state(model):
    return list(model.trigrams()), len(model), model.added, model.removed


def flush(model, store, max_shards=None, max_trigrams=None, rounds=None):
    """Write what take_dirty hands over into C{store} as save_model would; returns the shards handed over."""
    handed = []
    done = 0
    while True:
        shards = model.take_dirty(max_shards, max_trigrams)
        handed.extend(shards)
        for shard, data in shards.items():
            if data:
                store[shard] = data
            else:
                store.pop(shard, None)
        done += 1
        if not model.has_dirty() or (rounds is not None and done >= rounds):
            return handed


def reloaded(store, max_trigrams):
    copy = TrigramModel(max_trigrams)
    for shard, data in store.items():
        if copy.load_shard(shard, data):
            raise AssertionError("malformed entries handed over")
    return dict(copy.trigrams())


def batches(items, sizes):
    out, at = [], 0
    for size in sizes:
        out.append(items[at:at + size])
        at += size
    out.append(items[at:])
    return out


class LearnManyTests(SynchronousTestCase):

    @settings(max_examples=300, deadline=None)
    @given(texts, st.lists(st.integers(0, 15), max_size=8), st.integers(1, 60), texts)
    def test_same_as_learning_line_by_line(self, lines, sizes, limit, more):
        one = TrigramModel(max_trigrams=limit)
        many = TrigramModel(max_trigrams=limit)
        new_one = sum(one.learn(text) for text in lines)
        new_many = sum(many.learn_many(batch) for batch in batches(lines, sizes))
        self.assertEqual(new_many, new_one)
        self.assertEqual(state(many), state(one))
        # The eviction queues match too: what is learned next evicts the same.
        for text in more:
            one.learn(text)
        many.learn_many(iter(more))
        self.assertEqual(state(many), state(one))
        self.assertEqual(many.take_dirty(), one.take_dirty())
        self.assertEqual(many.has_dirty(), one.has_dirty())

    def test_batches_and_rules(self):
        model = TrigramModel()
        self.assertEqual(model.learn_many([]), 0)
        self.assertEqual(model.learn_many(["", "  ", "bob:"]), 0)
        self.assertEqual(model.learn_many(iter(["hello there", "bob: hello there", "hi"])), 5)
        self.assertEqual(model.count(EDGE, EDGE, "hello"), 2)
        self.assertEqual(model.count("hello", "there", EDGE), 2)
        self.assertEqual(model.count(EDGE, "hi", EDGE), 1)
        self.assertEqual(model.count("there", EDGE, EDGE), 0)  # nothing spans two lines
        self.assertEqual(model.count(EDGE, EDGE, "bob:"), 0)
        model.learn_many(["see http://x.io now", "then %s it" % ("z" * (MAX_WORD + 1),), "ok"])
        self.assertEqual(model.count("see", "now", EDGE), 1)
        self.assertEqual(model.count(EDGE, "then", "it"), 1)
        model.learn_many([" ".join("w%d" % i for i in range(200)), "ok"])
        self.assertEqual(model.count("w62", "w63", EDGE), 1)
        self.assertEqual(model.count("w63", "w64", EDGE), 0)

    def test_short_urls_are_skipped(self):
        model = TrigramModel()
        model.learn("see http://x.io now")
        model.learn("a://b")
        self.assertEqual(dict(model.trigrams()), {(EDGE, EDGE, "see"): 1, (EDGE, "see", "now"): 1,
                                                  ("see", "now", EDGE): 1})

    def test_eviction_is_exact_when_nearly_full(self):
        rng = random.Random(5)
        chatter = [" ".join("w%d" % rng.randrange(300) for _ in range(rng.randrange(1, 9)))
                   for _ in range(3000)]
        one, many = TrigramModel(500), TrigramModel(500)
        for text in chatter:
            one.learn(text)
        for i in range(0, len(chatter), 100):
            many.learn_many(chatter[i:i + 100])
        self.assertGreater(one.removed, 1000)
        self.assertEqual(state(many), state(one))


class PersistenceTests(SynchronousTestCase):

    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.tuples(st.sampled_from(["learn", "learn_many", "unlearn", "flush", "fail", "load"]),
                              texts, st.integers(1, 9), st.integers(1, 40)), max_size=12),
           st.integers(1, 80))
    def test_the_store_matches_the_model(self, steps, limit):
        """Whatever happens between rounds of take_dirty, a full flush leaves the store equal to the model."""
        model = TrigramModel(max_trigrams=limit)
        store: dict = {}
        for action, lines, shards, trigrams in steps:
            if action == "learn":
                for text in lines:
                    model.learn(text)
            elif action == "learn_many":
                model.learn_many(lines)
            elif action == "unlearn":
                model.unlearn(" ".join(lines).split()[:2])
            elif action == "flush":
                flush(model, store, shards, trigrams, rounds=shards)
            elif action == "fail":  # a round handed over but not written
                model.mark_dirty(model.take_dirty(shards, trigrams))
            else:  # restart: a fresh model loads the store, learns meanwhile
                model = TrigramModel(max_trigrams=limit)
                for text in lines[:3]:
                    model.learn(text)
                for shard, data in store.items():
                    model.load_shard(shard, data)
        flush(model, store, 3, 5)
        self.assertFalse(model.has_dirty())
        self.assertEqual(reloaded(store, limit), dict(model.trigrams()))
        self.assertEqual(model.take_dirty(), {})

    def check_only_increases_are_found(self, lines, limit=200000):
        model = TrigramModel(max_trigrams=limit)
        chatter = ["line %d of %d things" % (i, i * 7) for i in range(500)]
        model.learn_many(chatter)
        store: dict = {}
        flush(model, store)
        self.assertEqual(reloaded(store, model.max_trigrams), dict(model.trigrams()))
        added = model.added
        known = ["line 3 of 21 things"] * lines
        model.learn_many(known)
        self.assertEqual(model.added, added)  # no new trigram
        self.assertTrue(model.has_dirty())
        handed = flush(model, store, 4, 50)
        self.assertEqual(reloaded(store, model.max_trigrams), dict(model.trigrams()))
        self.assertEqual(model.count("line", "3", "of"), lines + 1)
        self.assertEqual(store, {s: d for s, d in store.items() if d})
        return set(handed), store

    def test_an_increased_count_is_handed_over(self):
        # Few lines: their trigrams' shards and no others.
        handed, store = self.check_only_increases_are_found(1)
        self.assertLessEqual(len(handed), 6)
        self.assertTrue(any(d.get("line 3 of") == 2 for d in store.values()))

    def test_an_increased_count_is_found_past_the_kept_lines(self):
        # So many lines that they are not kept: the shards' sums find them.
        lines = 4000  # 6 trigrams a line, more than a model of 4,000 keeps
        handed, store = self.check_only_increases_are_found(lines, limit=4000)
        self.assertLessEqual(len(handed), 6)
        self.assertTrue(any(d.get("line 3 of") == lines + 1 for d in store.values()))

    def test_unlearned_trigrams_leave_the_store(self):
        model = TrigramModel()
        model.learn_many(["line %d of %d things" % (i, i * 7) for i in range(300)] + ["unique zebra words"])
        store: dict = {}
        flush(model, store)
        self.assertEqual(model.unlearn(["zebra"]), 3)
        handed = flush(model, store, 4, 50)
        self.assertLessEqual(len(handed), 3)
        self.assertEqual(reloaded(store, model.max_trigrams), dict(model.trigrams()))

    def test_loading_onto_what_was_handed_over_hands_it_over_again(self):
        model = TrigramModel()
        model.learn("alpha beta gamma")
        first = model.take_dirty()  # not written (say): the store has older copies
        older = {shard: {field: 5 for field in data} for shard, data in first.items()}
        for shard, data in older.items():
            model.load_shard(shard, data)
        self.assertEqual(model.count("alpha", "beta", "gamma"), 6)
        again = model.take_dirty()
        self.assertEqual(set(again), set(first))
        self.assertTrue(all(n == 6 for data in again.values() for n in data.values()))

    def test_loaded_shards_are_not_written_back(self):
        """Loading sets each shard's sum as stored: a later check of the sums finds only what changed."""
        model = TrigramModel(max_trigrams=4000)
        model.learn_many(["line %d of %d things" % (i, i * 7) for i in range(500)])
        store: dict = {}
        flush(model, store)
        again = TrigramModel(max_trigrams=4000)
        for shard, data in store.items():
            again.load_shard(shard, data)
        self.assertEqual(again.take_dirty(), {})
        again.learn_many(["line 3 of 21 things"] * 4000)  # past what is kept: the sums are checked
        handed = flush(again, store, 4, 50)
        self.assertLessEqual(len(handed), 6)
        self.assertEqual(reloaded(store, 4000), dict(again.trigrams()))

    def test_halved_counts_are_handed_over(self):
        model = TrigramModel(max_trigrams=6)
        for _ in range(4):
            model.learn("a b c")
        store: dict = {}
        flush(model, store)
        model.learn("d e f")  # evicts: halves the a b c trigrams' counts, drops some
        self.assertGreater(model.removed, 0)
        flush(model, store, 1, 1)
        self.assertEqual(reloaded(store, 6), dict(model.trigrams()))

    def test_a_trigram_evicted_and_learned_again_is_stored_once(self):
        """Filed, evicted and filed again (listed twice in its shard): stored once, listed once after."""
        model = TrigramModel(max_trigrams=4)
        model.learn("a b")  # three trigrams
        store: dict = {}
        flush(model, store)
        model.learn("c d")  # evicts a b's trigrams (seen once each)
        model.learn("a b")  # new again, while still listed in their shards
        self.assertEqual(model.count("a", "b", EDGE), 1)
        flush(model, store, 1, 1)
        self.assertEqual(reloaded(store, 4), dict(model.trigrams()))
        listed = [t for member in model._members.values() for t in member]
        self.assertEqual(sorted(listed), sorted(t for t, _ in model.trigrams()))

    def test_nothing_changed_ends_at_once(self):
        model = TrigramModel()
        self.assertFalse(model.has_dirty())
        self.assertEqual(model.take_dirty(32, 1000), {})
        self.assertFalse(model.has_dirty())
        model.learn_many(["some words here"] * 3)
        self.assertTrue(model.has_dirty())
        flush(model, {}, 32, 1000)
        self.assertFalse(model.has_dirty())
        self.assertEqual(model.take_dirty(32, 1000), {})

    def test_a_check_of_the_sums_ends(self):
        """After a flood, the check of every shard's sum is spread over calls, and ends."""
        model = TrigramModel(max_trigrams=20000)
        rng = random.Random(1)
        vocabulary = ["w%d" % i for i in range(12)]
        chatter = [" ".join(rng.choice(vocabulary) for _ in range(8)) for _ in range(6000)]
        model.learn_many(chatter)
        store: dict = {}
        flush(model, store)
        model.learn_many(chatter[:3000])  # past what is kept: the sums are checked
        self.assertEqual(model.added, len(model))
        calls = 0
        while model.has_dirty():
            shards = model.take_dirty(2, 10)
            self.assertLessEqual(len(shards), 2)
            store.update(shards)
            calls += 1
            self.assertLess(calls, 10000)
        self.assertGreater(calls, model.shards // 4)
        self.assertEqual(reloaded(store, 20000), dict(model.trigrams()))

    def test_saturated_learning_does_not_grow(self):
        """Once the vocabulary is saturated, learning and flushing take no more memory."""
        rng = random.Random(2)
        vocabulary = ["w%d" % i for i in range(25)]
        chatter = [" ".join(rng.choice(vocabulary) for _ in range(rng.randrange(3, 12))) for _ in range(3000)]
        model = TrigramModel(max_trigrams=50000)
        store: dict = {}
        for _ in range(3):
            model.learn_many(chatter)
            flush(model, store, 32, 1000)
        tracemalloc.start()
        try:
            settled, _ = tracemalloc.get_traced_memory()
            grown = 0
            for _ in range(6):
                for i in range(0, len(chatter), 300):
                    model.learn_many(chatter[i:i + 300])
                    grown = max(grown, tracemalloc.get_traced_memory()[0] - settled)
                flush(model, store, 32, 1000)
        finally:
            tracemalloc.stop()
        # The word lists kept for the next hand-over are all that comes and goes.
        self.assertLess(grown, 1500000)
        self.assertEqual(reloaded(store, 50000), dict(model.trigrams()))
