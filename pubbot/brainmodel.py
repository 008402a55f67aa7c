"""
The chat brain's model: word trigrams counted in memory.

Learning a line is the hot path (every line of chatter goes through it): a
C{str.split}, the line's trigrams as tuples, and C-level counting into one
dict. No store calls, no regexes, no per-word Python work.

Generation needs indexes (what follows a pair, what precedes it, which
trigrams have a given middle word). They are brought up to date only when
someone talks to the brain, from the trigrams added since the last time
(new keys sit at the end of the counts dict), and entries that were evicted
meanwhile are checked against the counts as they are used.

Size is bounded at C{max_trigrams}. Eviction is the CLOCK (second chance)
algorithm with count decay: trigrams queue in the order they were first
seen; when the model is full the oldest is looked at: seen once, it goes;
seen more often, its count is halved and it goes to the back of the queue.
Chatter heard once falls out first, well-worn phrases stay while they are
repeated, and each eviction costs O(1) amortised.

Persistence is by shards: each trigram lives in one of C{shards} store
strings (about L{SHARD_SIZE} trigrams each when the model is full) chosen by a
stable hash. L{TrigramModel.take_dirty} hands over the shards changed since it
was last called, ready for the store; a few lines of chatter rewrite a few
small shards, not the whole model.
"""

from __future__ import annotations

import string
import zlib
from sys import intern
from collections import _count_elements, deque  # type: ignore[attr-defined]
from itertools import islice
from typing import Any, Iterable, Iterator, Mapping, Optional

Trigram = tuple[str, str, str]

#: Marks the start and end of a sentence (a word is never empty).
EDGE = ""
#: Longest word learned; longer "words" (base64, hashes...) are skipped.
MAX_WORD = 40
#: Most words learned from one line.
MAX_WORDS = 64
#: Most words in a generated sentence, each way from its seed.
MAX_REPLY_WORDS = 30
#: Trigrams per store shard, roughly, when the model is full.
SHARD_SIZE = 64

_PUNCTUATION = string.punctuation + "\u2018\u2019\u201c\u201d\u2026\u00ab\u00bb\u00bf\u00a1"
_CONTROL = dict.fromkeys(list(range(0x20)) + [0x7F])

#: Words too common to seed a reply when the speaker said anything better.
STOPWORDS = frozenset("""
a about all am an and any are as at be been but by can could did do does for from had has
have he her him his how i if in into is it its just me my no not of on or our she so than
that the their them then there they this to too up us was we were what when where which who
why will with would you your yes ok
""".split())


def normalise(word: str) -> str:
    """The form words are matched by: lower case, control characters and outer punctuation stripped."""
    word = word.translate(_CONTROL)
    bare = word.strip(_PUNCTUATION).lower()
    return bare or word.lower()


def trigram_field(trigram: Trigram) -> str:
    """A trigram as a store field: words never contain spaces."""
    return " ".join(trigram)


def shard_count(max_trigrams: int) -> int:
    """How many shards a model of this size is stored in: a power of two."""
    n = 16
    while n * SHARD_SIZE < max_trigrams and n < 65536:
        n *= 2
    return n


def shard_of(field: str, shards: int) -> int:
    """The shard a trigram's field is stored in: a hash stable across processes."""
    return zlib.crc32(field.encode("utf-8", "surrogatepass")) % shards


def _parse_field(field: Any) -> Optional[Trigram]:
    """The trigram a store field holds, or None when it is not a valid one."""
    if not isinstance(field, str):
        return None
    parts = field.split(" ")
    if len(parts) != 3 or field.split() != [p for p in parts if p]:
        return None
    a, b, c = parts
    if not b and (a or not c):  # only ("", "", first word) has an empty middle
        return None
    return a, b, c


def shard_key(shard: int) -> str:
    """The store key of a shard."""
    return "%s%04x" % (SHARD_PREFIX, shard)


#: The store keys of the shards start with this.
SHARD_PREFIX = "brain:shard:"


def parse_shard_key(key: str) -> Optional[int]:
    """The shard number in a store key, or None when it is not a shard's key."""
    if not key.startswith(SHARD_PREFIX):
        return None
    try:
        return int(key[len(SHARD_PREFIX):], 16)
    except ValueError:
        return None


class TrigramModel:
    """
    Word trigrams with counts, bounded at C{max_trigrams}. L{EDGE} pads both
    ends of every sentence: C{"hi there"} is C{("", "", "hi")},
    C{("", "hi", "there")} and C{("hi", "there", "")}.
    """

    def __init__(self, max_trigrams: int = 200000):
        if max_trigrams < 1:
            raise ValueError("max_trigrams must be at least 1")
        self.max_trigrams = max_trigrams
        self._counts: dict[Trigram, int] = {}
        self._hand: deque[Trigram] = deque()
        self._dirty: set[Trigram] = set()
        self._dirty_shards: set[int] = set()
        self._refile = False
        self.shards = shard_count(max_trigrams)
        self._members: dict[int, dict[Trigram, str]] = {}
        #: How many trigrams were ever added; how many were removed.
        self.added = 0
        self.removed = 0
        # Generation indexes, see _sync_index.
        self._after: dict[tuple[str, str], dict[str, None]] = {}
        self._before: dict[tuple[str, str], dict[str, None]] = {}
        self._middles: dict[str, dict[Trigram, None]] = {}
        self._norms: dict[str, str] = {}
        self._indexed = 0
        self._index_garbage = 0

    def __len__(self) -> int:
        return len(self._counts)

    # learning: the hot path

    def learn(self, text: str) -> int:
        """Learn the trigrams of one line; returns how many were new."""
        # Interned, so the counts, the dirty set and the shard index share
        # one string per word instead of keeping a copy from every line.
        words = list(map(intern, text.split()))
        if not words:
            return 0
        if words[0][-1] == ":":
            # "nick: hello": learn what was said, not whom to.
            del words[0]
            if not words:
                return 0
        if len(text) > MAX_WORD and (max(map(len, words)) > MAX_WORD or "://" in text):
            words = [w for w in words if len(w) <= MAX_WORD and "://" not in w]
            if not words:
                return 0
        if len(words) > MAX_WORDS:
            del words[MAX_WORDS:]
        padded = [EDGE, EDGE]
        padded += words
        padded.append(EDGE)
        trigrams = list(zip(padded, padded[1:], padded[2:]))
        counts = self._counts
        before = len(counts)
        _count_elements(counts, trigrams)
        self._dirty.update(trigrams)
        new = len(counts) - before
        if new:
            self._admit(new)
        return new

    def _admit(self, new: int) -> None:
        """Queue the C{new} trigrams just added for eviction; evict past the bound."""
        counts = self._counts
        self.added += new
        # New keys are the last ones in the dict.
        self._hand.extend(islice(reversed(counts), new))
        if len(counts) > self.max_trigrams:
            self._evict()

    def _evict(self) -> None:
        counts = self._counts
        hand = self._hand
        dirty = self._dirty
        while len(counts) > self.max_trigrams and hand:
            trigram = hand.popleft()
            n = counts.get(trigram)
            if n is None:
                continue  # unlearned since it was queued
            dirty.add(trigram)
            if n > 1:
                counts[trigram] = n >> 1
                hand.append(trigram)
            else:
                del counts[trigram]
                self.removed += 1
                self._index_garbage += 1
        if len(dirty) > 2 * self.max_trigrams + 1000:
            # Churn faster than flushes: forget which trigrams changed (bounding
            # memory) and refile the whole model at the next take_dirty.
            self._dirty = set()
            self._refile = True

    def count(self, w1: str, w2: str, w3: str) -> int:
        """How often C{w3} followed C{w1 w2} (L{EDGE} for a sentence's ends)."""
        return self._counts.get((w1, w2, w3), 0)

    def trigrams(self) -> Iterator[tuple[Trigram, int]]:
        return iter(list(self._counts.items()))

    # unlearning

    def unlearn(self, words: Iterable[str]) -> int:
        """Forget every trigram containing one of C{words} (as normalised); returns how many."""
        targets = {normalise(w) for w in words if w.strip()}
        if not targets:
            return 0
        norms: dict[str, bool] = {}

        def hit(word: str) -> bool:
            found = norms.get(word)
            if found is None:
                found = norms[word] = bool(word) and normalise(word) in targets
            return found

        gone = [t for t in self._counts if hit(t[0]) or hit(t[1]) or hit(t[2])]
        for t in gone:
            del self._counts[t]
        self._dirty.update(gone)
        if gone:
            self.removed += len(gone)
            self._hand = deque(t for t in self._hand if t in self._counts)
            self._index_garbage += len(gone)
        return len(gone)

    # generation

    def _index(self, trigram: Trigram) -> None:
        a, b, c = trigram
        following = self._after.get((a, b))
        if following is None:
            self._after[(a, b)] = {c: None}
        else:
            following[c] = None
        if a:
            preceding = self._before.get((b, c))
            if preceding is None:
                self._before[(b, c)] = {a: None}
            else:
                preceding[a] = None
        if b:
            key = self._norms.get(b)
            if key is None:
                key = self._norms[b] = normalise(b)
            middles = self._middles.get(key)
            if middles is None:
                self._middles[key] = {trigram: None}
            else:
                middles[trigram] = None

    def _sync_index(self) -> None:
        """Index the trigrams added since the last call (rebuild when mostly stale)."""
        counts = self._counts
        new = self.added - self._indexed
        if new > len(counts) or self._index_garbage > len(counts) // 2 + 100:
            self._after, self._before, self._middles, self._norms = {}, {}, {}, {}
            self._index_garbage = 0
            fresh: Iterable[Trigram] = counts
        else:
            fresh = list(islice(reversed(counts), new))
        for trigram in fresh:
            self._index(trigram)
        self._indexed = self.added

    def _pick(self, weights: Mapping[str, int], rng) -> str:
        words = list(weights)
        if len(words) == 1:
            return words[0]
        return rng.choices(words, weights=list(weights.values()))[0]

    def _forward(self, a: str, b: str, rng) -> list:
        """The words after C{a b}, to a sentence end."""
        counts = self._counts
        out: list = []
        for _ in range(MAX_REPLY_WORDS):
            weights = {c: n for c in self._after.get((a, b), ()) if (n := counts.get((a, b, c)))}
            if not weights:
                break
            c = self._pick(weights, rng)
            if c == EDGE:
                break
            out.append(c)
            a, b = b, c
        return out

    def _backward(self, a: str, b: str, rng) -> list:
        """The words before C{b}: C{a} and what came before it, back to a sentence start."""
        counts = self._counts
        out: list = []
        for _ in range(MAX_REPLY_WORDS):
            if a == EDGE:
                break
            out.append(a)
            weights = {x: n for x in self._before.get((a, b), ()) if (n := counts.get((x, a, b)))}
            if not weights:
                break
            a, b = self._pick(weights, rng), a
        out.reverse()
        return out

    def sentence(self, rng, seed: Optional[str] = None) -> Optional[str]:
        """
        One sentence through a trigram whose middle word is C{seed} (as
        normalised), or from a sentence start when C{seed} is None. None when
        the model knows nothing to say.
        """
        self._sync_index()
        if seed is None:
            words = self._forward(EDGE, EDGE, rng)
            return " ".join(words) if words else None
        counts = self._counts
        live = {t: n for t in self._middles.get(seed, ()) if (n := counts.get(t))}
        if not live:
            return None
        a, b, c = rng.choice(list(live))
        words = self._backward(a, b, rng) + [b]
        if c != EDGE:
            words.append(c)
            words.extend(self._forward(b, c, rng))
        return " ".join(words)

    def known(self, words: Iterable[str]) -> list:
        """The normalised forms of C{words} the model can seed a sentence with."""
        self._sync_index()
        counts = self._counts
        seen: list = []
        for w in words:
            n = normalise(w)
            if n not in seen and any(t in counts for t in self._middles.get(n, ())):
                seen.append(n)
        return seen

    def reply(self, text: str, rng, tries: int = 8) -> Optional[str]:
        """
        A sentence seeded from the words of C{text}, or None when the model
        knows none of them. Several candidates are made; the one mentioning
        most of the given words wins (then the one nearest a dozen words
        long, then the first), so the result depends only on the model and
        C{rng}.
        """
        words = text.split()
        if not words:
            best = self.sentence(rng, None)
        else:
            seeds = self.known(words)
            if not seeds:
                return None
            keywords = [s for s in seeds if s not in STOPWORDS] or seeds
            best, best_score = None, None
            for _ in range(tries):
                candidate = self.sentence(rng, rng.choice(keywords))
                if candidate is None:
                    continue
                said = candidate.split()
                mentioned = len({normalise(w) for w in said}.intersection(seeds))
                score = (mentioned, candidate != text, -abs(len(said) - 12))
                if best_score is None or score > best_score:
                    best, best_score = candidate, score
        if best is None:
            return None
        return best.translate(_CONTROL).strip() or None

    # persistence

    def take_dirty(self, max_shards: Optional[int] = None,
                   max_trigrams: Optional[int] = None) -> dict[int, dict[str, int]]:
        """
        The shards changed since the last call, as C{{shard: {field:
        count}}}: fresh dicts, safe to hand to another thread. An empty
        shard means its store key should be deleted. With C{max_shards},
        at most that many are handed over, and with C{max_trigrams} at most
        that many changed trigrams are filed into their shards; the rest
        wait for the next call (see L{has_dirty}), which bounds the work of
        one call so the reactor is never held for long.
        """
        counts = self._counts
        n = self.shards
        if max_trigrams is not None and len(self._dirty) > max_trigrams and not self._refile \
                and len(self._dirty) <= len(counts) + 1000:
            pop = self._dirty.pop
            dirty = {pop() for _ in range(max_trigrams)}
        else:
            dirty, self._dirty = self._dirty, set()
        if self._refile or len(dirty) > len(counts) + 1000:
            # Mostly churn (evicted trigrams): refiling what is left is cheaper.
            self._refile = False
            self._members = members = {}
            for trigram in counts:
                field = trigram_field(trigram)
                s = shard_of(field, n)
                member = members.get(s)
                if member is None:
                    member = members[s] = {}
                member[trigram] = field
            self._dirty_shards.update(range(n))
        else:
            members = self._members
            shards = self._dirty_shards
            for trigram in dirty:
                field = trigram_field(trigram)
                s = shard_of(field, n)
                if trigram in counts:
                    member = members.get(s)
                    if member is None:
                        member = members[s] = {}
                    member[trigram] = field
                elif s in members:
                    members[s].pop(trigram, None)
                shards.add(s)
        pending = sorted(self._dirty_shards)
        if max_shards is not None and len(pending) > max_shards:
            pending = pending[:max_shards]
            self._dirty_shards.difference_update(pending)
        else:
            self._dirty_shards = set()
        # A trigram evicted since it was filed may still be listed (its own
        # filing is pending in the dirty set, which will re-mark its shard).
        get = counts.get
        return {s: {field: n for t, field in members.get(s, {}).items() if (n := get(t)) is not None}
                for s in pending}

    def has_dirty(self) -> bool:
        """Is anything left for L{take_dirty} to hand over?"""
        return bool(self._dirty or self._dirty_shards or self._refile)

    def mark_dirty(self, shards: Iterable[int]) -> None:
        """Hand these shards over again at the next L{take_dirty} (a write failed)."""
        self._dirty_shards.update(shards)

    def mark_all_dirty(self) -> None:
        """Hand every trigram over at the next L{take_dirty} (writing a fresh copy)."""
        self._dirty.update(self._counts)
        self._dirty_shards.update(range(self.shards))

    def load_shard(self, shard: int, data: Any) -> int:
        """
        Merge a stored shard into the model; counts add up with what was
        learned meanwhile. Malformed entries are skipped: returns how many.
        """
        if not isinstance(data, dict):
            return 1
        counts = self._counts
        members = self._members
        bad = 0
        before = len(counts)
        for field, n in data.items():
            trigram = _parse_field(field)
            if trigram is None or isinstance(n, bool) or not isinstance(n, int) or n < 1:
                bad += 1
                continue
            counts[trigram] = counts.get(trigram, 0) + n
            s = shard_of(field, self.shards)
            if s != shard:  # filed in another shard (the size changed): move it
                self._dirty.add(trigram)
                self._dirty_shards.add(shard)
            member = members.get(s)
            if member is None:
                member = members[s] = {}
            member[trigram] = field
        new = len(counts) - before
        if new:
            self._admit(new)
        return bad
