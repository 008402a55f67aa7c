"""
The chat brain's model: word trigrams counted in memory.

Learning is the hot path (every line of chatter goes through it).
L{TrigramModel.learn_many} takes a batch of lines: one C{str.split} and a
few list operations a line, then every trigram of the batch is made and
counted into one dict at C level. No store calls, no regexes, no per-word
or per-trigram Python work, and nothing recorded per trigram for
persistence (see below).

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
small shards, not the whole model. It finds them without any bookkeeping
per learned trigram:

 - new trigrams are the last keys of the counts dict (C{added} says how
   many), filed into their shards when handed over;
 - evicted, halved and unlearned trigrams are queued as it happens (that
   is per-trigram Python work already) and their shards marked;
 - learning otherwise only increases counts. While little is learned, the
   word lists of the lines learned are kept (a few pointers a trigram, at
   most L{RECENT_SHARE} of C{max_trigrams} trigrams) and their trigrams'
   shards marked when handed over. When more is learned than that between
   two hand-overs, they are dropped and the shards are checked instead: the
   sum of each shard's counts is kept from its last hand-over, and a shard
   whose sum grew is handed over again.

All of it is done in rounds bounded by C{take_dirty}'s limits.
"""

from __future__ import annotations

import string
import sys
import zlib
from collections import _count_elements, deque  # type: ignore[attr-defined]
from itertools import compress, islice, repeat
from sys import intern

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time, to keep the learner process small
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from typing import Any

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
#: Trigram occurrences learned between two hand-overs whose word lists are
#: kept to find the shards they changed, as a share of C{max_trigrams}; past
#: it the shards' sums are checked instead (see L{TrigramModel.take_dirty}).
RECENT_SHARE = 0.5
#: Counts summed by the shard check for one unit of C{take_dirty}'s
#: C{max_trigrams} budget (a unit is about the cost of filing one trigram).
SCAN_RATIO = 4

# Line separator in a batch's word list (see TrigramModel.learn_many), and
# the selectors that keep a line of n words' n + 1 trigrams and drop the one
# spanning the separator. Bytes, not tuples of ints: a batch's selectors are
# kept with its words while little is learned (see TrigramModel._keep), one
# byte a trigram instead of a pointer.
_SEPARATOR = (EDGE, EDGE)
_KEEP = [b"\x01" * (n + 1) + b"\x00" for n in range(MAX_WORDS + 1)]

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


def _parse_field(field: Any) -> Trigram | None:
    """The trigram a store field holds, or None when it is not a valid one."""
    if not isinstance(field, str):
        return None
    parts = field.split(" ")
    if len(parts) != 3 or field.split() != [p for p in parts if p]:
        return None
    a, b, c = parts
    if not b and (a or not c):  # only ("", "", first word) has an empty middle
        return None
    return intern(a), intern(b), intern(c)


def _words(text: str) -> list | None:
    """The words of a line that are learned (not yet interned), or None when there are none."""
    words = text.split()
    if not words:
        return None
    if words[0][-1] == ":":
        # "nick: hello": learn what was said, not whom to.
        del words[0]
        if not words:
            return None
    if "://" in text or (len(text) > MAX_WORD and max(map(len, words)) > MAX_WORD):
        words = [w for w in words if len(w) <= MAX_WORD and "://" not in w]
        if not words:
            return None
    if len(words) > MAX_WORDS:
        del words[MAX_WORDS:]
    return words


def line_trigrams(text: str) -> list:
    """The trigrams L{TrigramModel.learn} counts for one line (not interned), in order."""
    words = _words(text)
    if words is None:
        return []
    padded = [EDGE, EDGE, *words, EDGE]
    return list(zip(padded, padded[1:], padded[2:], strict=False))


def shard_key(shard: int) -> str:
    """The store key of a shard."""
    return "%s%04x" % (SHARD_PREFIX, shard)


#: The store keys of the shards start with this.
SHARD_PREFIX = "brain:shard:"


def _batch(texts: Sequence[str]) -> tuple[list, bytearray]:
    """
    The word list of L{TrigramModel.learn_many}'s batch and which of its
    trigrams to keep: each line's words, then (EDGE, EDGE). zip over it
    makes every line's trigrams, padded as in learn, plus one (last word,
    EDGE, EDGE) spanning the separator, which _KEEP drops.
    """
    split = str.split
    big = [EDGE, EDGE]
    keep = bytearray()
    try:
        for text in texts:
            words = split(text)
            if words[0][-1] == ":":
                del words[0]
                if not words:
                    continue
            keep += _KEEP[len(words)]
            big += words
            big += _SEPARATOR
        careful = max(map(len, big)) > MAX_WORD or "://" in "\n".join(texts)
    except IndexError:  # an empty line, or one of more than MAX_WORDS words
        careful = True
    if careful:
        # Lines to skip, words to drop (long ones, URLs), lines to cut
        # short (or "://" in an address already dropped, or across two
        # lines): the careful way.
        big = [EDGE, EDGE]
        keep = bytearray()
        for text in texts:
            kept = _words(text)
            if kept is not None:
                big += kept
                big += _SEPARATOR
                keep += _KEEP[len(kept)]
    return big, keep


def parse_shard_key(key: str) -> int | None:
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
        #: How many trigrams were ever added; how many were removed.
        self.added = 0
        self.removed = 0
        # Persistence, see the module docstring and take_dirty. Every trigram
        # in the counts is filed in _members (shard: [trigram], the counts'
        # own key objects, in the order filed), or waits in _unfiled, or is
        # one of the last added - _filed keys of the counts. A list, not a
        # set, for memory: a trigram evicted since it was filed may still be
        # listed, or listed twice once learned again; handing its shard over
        # drops both. Its store field is made again then, not kept.
        self.shards = shard_count(max_trigrams)
        self._members: dict[int, list[Trigram]] = {}
        #: The sum of each shard's counts when it was last handed over (or loaded).
        self._sums: dict[int, int] = {}
        self._dirty_shards: set[int] = set()
        self._filed = 0
        self._unfiled: list[Trigram] = []
        #: Evicted, halved or unlearned since: their shards are to be marked.
        self._changed: list[Trigram] = []
        self._changed_cap = 2 * self.shards + 256
        #: The word lists learned since (with the selectors of their trigrams,
        #: None when all are, and how many), while _buffering; _recent_n
        #: trigrams in all; _recent_at of the first one were dealt with.
        self._recent: deque[tuple[list, bytearray | None, int]] = deque()
        self._recent_n = 0
        self._recent_at = 0
        self._recent_cap = max(1024, int(max_trigrams * RECENT_SHARE))
        self._buffering = True
        #: The next shard to check during a pass over the shards' sums.
        self._cursor: int | None = None
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
        words = _words(text)
        if words is None:
            return 0
        # Interned, so the counts and the shard index share one string per
        # word instead of keeping a copy from every line, and lookups
        # compare words by identity.
        padded = [EDGE, EDGE, *map(intern, words), EDGE]
        counts = self._counts
        before = len(counts)
        _count_elements(counts, zip(padded, padded[1:], padded[2:], strict=False))
        if self._buffering:
            self._keep(padded, None, len(padded) - 2)
        new = len(counts) - before
        if new:
            self._admit(new)
        return new

    def learn_many(self, texts: Iterable[str]) -> int:
        """
        Learn the trigrams of several lines, in order; returns how many were
        new. The same as L{learn} on each line in turn, for less work a line:
        the words of all the lines go in one list (a separator between lines),
        and all their trigrams are counted at once. When that could make the
        model evict (it is nearly full), the lines are learned one by one so
        that eviction happens exactly as it would have.
        """
        if not isinstance(texts, (list, tuple)):
            texts = list(texts)
        if len(texts) < 2:
            return self.learn(texts[0]) if texts else 0
        counts = self._counts
        room = self.max_trigrams - len(counts)
        if room <= 0:
            return self._learn_each(texts)
        big, keep = _batch(texts)
        if len(big) == 2:
            return 0
        # len(keep) also counts the trigram dropped at each separator.
        if len(keep) > room and len(keep) - keep.count(0) > room:
            # Could evict before the last line: a line at a time.
            return self._learn_each(texts)
        big = list(map(intern, big))
        before = len(counts)
        _count_elements(counts, compress(zip(big, big[1:], big[2:], strict=False), keep))
        if self._buffering:
            self._keep(big, keep, len(keep) - keep.count(0))
        new = len(counts) - before
        if new:
            self._admit(new)
        return new

    def _learn_each(self, texts: Iterable[str]) -> int:
        learn = self.learn
        return sum(map(learn, texts))

    def _keep(self, words: list, keep: bytearray | None, n: int) -> None:
        """Keep a learned word list (see _recent) while little was learned; past the cap, stop."""
        self._recent.append((words, keep, n))
        self._recent_n += n
        if self._recent_n > self._recent_cap:
            # Checking every shard's sum is cheaper now (see take_dirty).
            self._buffering = False
            self._recent.clear()
            self._recent_n = self._recent_at = 0

    def _admit(self, new: int) -> None:
        """Queue the C{new} trigrams just added for eviction; evict past the bound."""
        counts = self._counts
        self.added += new
        # New keys are the last ones in the dict; they queue in that order.
        if new == 1:
            self._hand.append(next(reversed(counts)))
        else:
            fresh = list(islice(reversed(counts), new))
            fresh.reverse()
            self._hand.extend(fresh)
        if len(counts) > self.max_trigrams:
            self._evict()

    def _evict(self) -> None:
        counts = self._counts
        hand = self._hand
        changed = self._changed
        while len(counts) > self.max_trigrams and hand:
            trigram = hand.popleft()
            n = counts.get(trigram)
            if n is None:
                continue  # unlearned since it was queued
            changed.append(trigram)
            if n > 1:
                counts[trigram] = n >> 1
                hand.append(trigram)
            else:
                del counts[trigram]
                self.removed += 1
                self._index_garbage += 1
        if len(changed) > self._changed_cap:
            self._mark_everything()

    def _mark_everything(self) -> None:
        """
        Hand every shard over (with the counts as they are then): what was
        noted as changed so far is covered, and dropped. Churn faster than
        the hand-overs touches nearly every shard anyway; this bounds the
        memory it takes to follow it.
        """
        self._dirty_shards.update(range(self.shards))
        self._changed.clear()
        self._recent.clear()
        self._recent_n = self._recent_at = 0
        self._buffering = True
        self._cursor = None

    def count(self, w1: str, w2: str, w3: str) -> int:
        """How often C{w3} followed C{w1 w2} (L{EDGE} for a sentence's ends)."""
        return self._counts.get((w1, w2, w3), 0)

    def trigrams(self) -> Iterator[tuple[Trigram, int]]:
        """Every trigram with its count, oldest first (a copy: the model may change meanwhile)."""
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
        if gone:
            self.removed += len(gone)
            self._hand = deque(t for t in self._hand if t in self._counts)
            self._index_garbage += len(gone)
            self._changed += gone
            if len(self._changed) > self._changed_cap:
                self._mark_everything()
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

    def sentence(self, rng, seed: str | None = None) -> str | None:
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

    def reply(self, text: str, rng, tries: int = 8) -> str | None:
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

    def _mark_recent(self, budget: int) -> int:
        """L{take_dirty}: mark the shards of lines learned recently; returns the budget left."""
        counts = self._counts
        n = self.shards
        marked = self._dirty_shards
        crc32 = zlib.crc32
        recent = self._recent
        while recent and budget > 0:
            words, keep, count = recent[0]
            at = self._recent_at
            total = len(words) - 2
            k = min(budget, total - at)
            some = words[at:at + k + 2]
            trigrams: Iterable[Trigram] = zip(some, some[1:], some[2:], strict=False)
            if keep is not None:
                trigrams = compress(trigrams, keep[at:at + k])
            marked.update({crc32(" ".join(t).encode("utf-8", "surrogatepass")) % n
                           for t in set(trigrams) if t in counts})
            budget -= k
            if at + k >= total:
                recent.popleft()
                self._recent_n -= count
                self._recent_at = 0
            else:
                self._recent_at = at + k
        return budget

    def _scan_sums(self, budget: int, max_shards: int | None) -> None:
        """L{take_dirty}: go on with the pass that checks every shard's sum, for C{budget}."""
        if self._cursor is None and not self._buffering:
            # What was learned before the pass starts, the pass finds;
            # what is learned during it is kept track of again.
            self._cursor = 0
            self._buffering = True
        cursor = self._cursor
        if cursor is None:
            return
        n = self.shards
        marked = self._dirty_shards
        members = self._members
        get = self._counts.get
        sums = self._sums
        allowance = budget * SCAN_RATIO
        while cursor < n:
            member = members.get(cursor)
            if member is not None and cursor not in marked:
                if sum(map(get, member, repeat(0))) != sums.get(cursor, 0):
                    marked.add(cursor)
                allowance -= len(member)
            cursor += 1
            if allowance <= 0 or (max_shards is not None and len(marked) >= max_shards):
                break
        self._cursor = cursor if cursor < n else None

    def take_dirty(self, max_shards: int | None = None,
                   max_trigrams: int | None = None) -> dict[int, dict[str, int]]:
        """
        The shards changed since the last call, as C{{shard: {field:
        count}}}: fresh dicts, safe to hand to another thread. An empty
        shard means its store key should be deleted.

        With C{max_shards}, at most that many are handed over. With
        C{max_trigrams}, at most about that many trigrams are dealt with to
        find the changed shards: new ones filed into their shards, evicted,
        halved, unlearned and recently learned ones looked up; what is left
        of that budget checks shards' sums (L{SCAN_RATIO} counts a unit, and
        only until C{max_shards} shards are found). The rest waits for the
        next call (see L{has_dirty}); each call makes some progress. That
        bounds the work of one call so the reactor is never held for long
        (but for one C-level copy of the counts' keys when the whole model
        was replaced since the last call). Without limits, everything is
        done in one call.
        """
        counts = self._counts
        n = self.shards
        marked = self._dirty_shards
        members = self._members
        budget = sys.maxsize if max_trigrams is None else max(1, max_trigrams)
        crc32 = zlib.crc32

        # New trigrams: file them.
        budget -= self.file_new(budget)

        # Evicted, halved or unlearned: mark their shards.
        changed = self._changed
        if changed and budget > 0:
            batch = changed[-budget:]
            del changed[-budget:]
            budget -= len(batch)
            marked.update({crc32(" ".join(t).encode("utf-8", "surrogatepass")) % n for t in set(batch)})

        # Counts increased by lines learned recently: mark their shards.
        budget = self._mark_recent(budget)

        # Too much learned to keep track of: check every shard's sum, a
        # pass over the shards spread over as many calls as it takes.
        if budget > 0:
            self._scan_sums(budget, max_shards)

        # Hand over.
        if max_shards is not None and len(marked) > max_shards:
            pending = sorted(islice(marked, max_shards))
            marked.difference_update(pending)
        else:
            pending = sorted(marked)
            marked.clear()
        get = counts.get
        sums = self._sums
        out: dict[int, dict[str, int]] = {}
        for s in pending:
            member = members.get(s)
            data: dict[str, int] = {}
            if member:
                # A trigram evicted since it was filed may still be listed,
                # or listed twice: keep each one in the counts once.
                data = {" ".join(t): c for t in member if (c := get(t)) is not None}
                if len(data) != len(member):
                    members[s] = list(dict.fromkeys([t for t in member if t in counts]))
            if data:
                sums[s] = sum(data.values())
            else:
                members.pop(s, None)
                sums.pop(s, None)
            out[s] = data
        return out

    def file_new(self, limit: int | None = None) -> int:
        """
        File up to C{limit} of the trigrams added since they were last
        filed into their shards (marking those shards changed), as
        L{take_dirty} does first; returns how many were looked at. Cheap
        when nothing was added, so it can follow each batch learned,
        spreading the filing over the batches that added the trigrams.
        """
        self._queue_new()
        unfiled = self._unfiled
        if not unfiled:
            return 0
        budget = sys.maxsize if limit is None else max(1, limit)
        counts = self._counts
        members = self._members
        marked = self._dirty_shards
        n = self.shards
        crc32 = zlib.crc32
        batch = unfiled[-budget:]
        del unfiled[-budget:]
        for trigram in batch:
            if trigram in counts:  # else evicted or unlearned since
                s = crc32(" ".join(trigram).encode("utf-8", "surrogatepass")) % n
                member = members.get(s)
                if member is None:
                    members[s] = [trigram]
                else:
                    member.append(trigram)
                marked.add(s)
        return len(batch)

    def _queue_new(self) -> None:
        """Queue the trigrams added since the last call for filing (see take_dirty)."""
        fresh = self.added - self._filed
        if fresh:
            counts = self._counts
            if len(self._unfiled) + fresh >= len(counts):
                self._unfiled = list(counts)
            else:
                self._unfiled += islice(reversed(counts), fresh)
            self._filed = self.added

    def has_dirty(self) -> bool:
        """
        Might L{take_dirty} have more to hand over? True while something
        changed is not handed over yet, and also during a check of the
        shards' sums (which may find nothing). Calling take_dirty until this
        is False ends unless lines are learned meanwhile; when nothing
        changed since the last hand-over it is False at once.
        """
        return bool(self._dirty_shards or self._unfiled or self._changed or self._recent
                    or self.added != self._filed or not self._buffering or self._cursor is not None)

    def mark_dirty(self, shards: Iterable[int]) -> None:
        """Hand these shards over again at the next L{take_dirty} (a write failed)."""
        self._dirty_shards.update(shards)

    def mark_all_dirty(self) -> None:
        """Hand every shard, so every trigram, over at the next L{take_dirty} (writing a fresh copy)."""
        self._dirty_shards.update(range(self.shards))

    def load_shard(self, shard: int, data: Any) -> int:
        """
        Merge a stored shard into the model; counts add up with what was
        learned meanwhile (their shards are handed over again, as are
        trigrams stored in another shard than theirs: the size changed).
        Malformed entries are skipped: returns how many.
        """
        if not isinstance(data, dict):
            return 1
        counts = self._counts
        members = self._members
        marked = self._dirty_shards
        n = self.shards
        # What was learned before is filed as usual; what is loaded here is
        # filed now.
        self._queue_new()
        bad = 0
        stored = 0
        before = len(counts)
        for field, c in data.items():
            trigram = _parse_field(field)
            if trigram is None or isinstance(c, bool) or not isinstance(c, int) or c < 1:
                bad += 1
                continue
            s = shard_of(field, n)
            old = counts.get(trigram)
            if old is None:
                counts[trigram] = c
                if s == shard:
                    stored += c  # as the store has it
                else:  # filed in another shard (the size changed): move it
                    marked.add(s)
                    marked.add(shard)
            else:
                counts[trigram] = old + c
                marked.add(s)
                if s != shard:
                    marked.add(shard)
            member = members.get(s)
            if member is None:
                members[s] = [trigram]
            else:
                member.append(trigram)
        if stored:
            self._sums[shard] = self._sums.get(shard, 0) + stored
        new = len(counts) - before
        if new:
            self._admit(new)
        self._filed = self.added
        return bad
