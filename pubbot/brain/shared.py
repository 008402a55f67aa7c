"""
One brain for a cluster: with a Redis store (several processes of one bot)
every chat line is learned exactly once into one model, every process
answers from that model, and nothing learned is lost when a process dies.

- The journal (L{Journal}). The IRC owner is the one process reading chat,
  so it sees each line once (C{Bot.heard_observers}, before the line goes on
  the bus); it appends the lines the brain learns, in order, to a journal in
  the store: entry C{n} is the field C{n} of the hash L{JOURNAL} (the counter
  L{HEAD} hands the numbers out), C{{"l": [lines]}}, or C{{"u": [words]}} for
  an admin's unlearn (appended by whichever process handled it).
- Replicas (L{Follower}). Every process learns the journal's entries, in
  journal order, into its own model (every L{FOLLOW_SECONDS}, and just
  before it answers), so every process holds the same model and answers
  from it. Learning stays off the handlers: they only answer.
- Snapshot. Only the IRC owner (C{bot.jobs.owner()}) writes the model's
  shards to the store, each with L{MARK}: the last journal entry its counts
  include. A flush that leaves nothing unwritten at entry C{n} sets
  L{FLOOR} to C{n} (every shard holds every entry up to it); entries more
  than L{KEEP} below the floor are trimmed (L{TAIL}).
- Loading (start, a new learner, a new owner) reads the shards and the
  floor, then replays the journal from the floor, counting an entry's
  trigrams only into shards whose mark is below it: exactly once, wherever
  a former owner's flush stopped. A process that dies (the owner too) loses
  nothing learned: it is all in the journal, and in every other replica.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    DeferredLock,
    maybeDeferred,
    succeed,
)
from twisted.internet.task import deferLater
from twisted.logger import Logger

from ..store import Encoded
from ..store.redis import RedisStore
from .host import resolved
from .model import line_trigrams, shard_count, shard_of
from .stored import MARK, merge_shards, write_changed

log = Logger()

#: The journal: a hash of {entry number: entry}.
JOURNAL = "brain:journal"
#: The last entry number handed out (a counter).
HEAD = "brain:journal:head"
#: Every stored shard holds every entry up to this one.
FLOOR = "brain:journal:floor"
#: Entries up to this one are trimmed from the journal.
TAIL = "brain:journal:tail"
#: Seconds between two looks at the journal when not asked anything.
FOLLOW_SECONDS = 0.5
#: Entries read at once (a round waits until a learner process has learned them: at
#: most FETCH * ENTRY_LINES lines are on their way to it, well under its backlog bound).
FETCH = 64
#: Characters of lines handed to the model in one round, about at most: a learner
#: process never gets more than that ahead (far under its backlog bound, past
#: which it would drop lines).
ROUND_CHARS = 4 * 1024 * 1024
#: Seconds an entry number may stay without its entry (its appender died
#: between taking the number and writing the entry) before it is skipped.
HOLE_SECONDS = 30.0
#: Entries kept below the floor, for processes that are behind.
KEEP = 1000
#: Lines waiting to be appended (the store is away), at most; past it they are dropped.
MAX_PENDING = 100000
#: Most lines in one entry.
ENTRY_LINES = 1000
#: Seconds between two tries at appending while the store fails.
RETRY_SECONDS = 1.0
#: Seconds an answer waits at most for entries numbered before the question was
#: asked but not written yet (the owner is writing them); and the step of that wait.
ANSWER_WAIT = 1.0
ANSWER_STEP = 0.01
#: Unlearn results kept for the process that asked (by entry number).
UNLEARNS_KEPT = 64


def shared_store(store: Any) -> bool:
    """Whether C{store} is shared by the processes of a cluster (Redis): the brain is then one."""
    return isinstance(store, RedisStore)


def with_mark(payload: Any, mark: int) -> Any:
    """A shard's value as a cluster stores it: counts and L{MARK} (an empty one is kept, with its mark)."""
    if isinstance(payload, Encoded):
        text = payload.text
        inner = text.strip()[1:-1].strip()
        return Encoded('{"%s":%d%s}' % (MARK, mark, "," + inner if inner else ""))
    data = dict(payload)
    data[MARK] = mark
    return data


def _int(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


async def _settled(pending: list) -> None:
    """Wait for what the model was asked (logging failures)."""
    for ok, result in await DeferredList([d for d in pending if isinstance(d, Deferred)], consumeErrors=True):
        if not ok:
            log.failure("brain: learning from the journal failed", result)


class Journal:
    """Appends the brain's journal entries in order, retrying while the store fails."""

    def __init__(self, store, clock):
        self.store = store
        self.clock = clock
        #: [entry, Deferred fired with its number or None], in order.
        self._pending: list = []
        self._lines = 0
        self.dropped = 0
        self.appended = 0
        self._running = False
        self._failing = False
        self.closed = False

    @property
    def pending_lines(self) -> int:
        return self._lines

    def learn(self, texts: list) -> None:
        """Append lines to learn (fire and forget)."""
        if self.closed:
            return
        if self._lines + len(texts) > MAX_PENDING:
            if not self.dropped:
                log.error("brain: {count} lines wait for the store; lines are dropped, not learned",
                          count=self._lines)
            self.dropped += len(texts)
            return
        self._pending.append([{"l": list(texts)}, None])
        self._lines += len(texts)
        self._kick()

    def unlearn(self, words: list) -> Deferred:
        """Append an unlearn; fires with its entry number once appended."""
        d: Deferred = Deferred()
        self._pending.append([{"u": list(words)}, d])
        self._kick()
        return d

    def _kick(self) -> None:
        if not self._running:
            self._running = True
            d = Deferred.fromCoroutine(self._run())
            d.addErrback(lambda f: f.trap(CancelledError))
            d.addErrback(lambda f: log.failure("brain: the journal's appender crashed", f))

    def _next(self) -> tuple:
        """The next entry to append: the lines waiting (up to an unlearn) as one, or that unlearn."""
        first = self._pending[0]
        if "u" in first[0]:
            return first[0], first[1], 1, 0
        lines: list = []
        taken = 0
        for entry, _ in self._pending:
            if "l" not in entry or (lines and len(lines) + len(entry["l"]) > ENTRY_LINES):
                break
            lines += entry["l"]
            taken += 1
        return {"l": lines}, None, taken, len(lines)

    async def _run(self) -> None:
        try:
            while self._pending and not self.closed:
                entry, waiter, taken, count = self._next()
                number = await self._retry(self.store.incr, HEAD)
                await self._retry(self.store.hset, JOURNAL, str(number), entry)
                del self._pending[:taken]
                self._lines -= count
                self.appended += 1
                if waiter is not None:
                    waiter.callback(number)
        finally:
            self._running = False

    async def _retry(self, op: Callable[..., Any], *args: Any) -> Any:
        while True:
            try:
                result = await maybeDeferred(op, *args)
                if self._failing:
                    self._failing = False
                    log.info("brain: appending to the journal again")
                return result
            except Exception as e:
                if self.closed:
                    raise CancelledError("the brain stopped") from e
                if not self._failing:
                    self._failing = True
                    log.warn("brain: cannot append to the journal ({error}); retrying", error=e)
                await deferLater(self.clock, RETRY_SECONDS, lambda: None)

    async def close(self, seconds: float = 5.0) -> None:
        """Give what waits up to C{seconds} to be appended, then stop."""
        waited = 0.0
        while self._pending and waited < seconds:
            await deferLater(self.clock, 0.05, lambda: None)
            waited += 0.05
        if self._pending:
            log.warn("brain: {count} lines were not journaled before stopping", count=self._lines)
        self.closed = True
        for _, waiter in self._pending:
            if waiter is not None and not waiter.called:
                waiter.errback(RuntimeError("the brain stopped before the unlearn was journaled"))
        self._pending = []


class Follower:
    """
    A process's model kept up with the journal, loaded from the stored
    shards and the journal, and written back (with marks) while this
    process is the writer. See the module docstring.
    """

    def __init__(self, store, clock):
        self.store = store
        self.clock = clock
        self.journal = Journal(store, clock)
        #: The model followed (an IBrainModel), None until loaded.
        self.host: Any = None
        #: The last journal entry the model includes.
        self.position = 0
        self.floor = 0
        self.marks: dict[int, int] = {}
        #: Entries up to this one are learned shard by shard (some shards hold them already).
        self.last_mark = 0
        self.shards = 16
        #: Trigrams removed by recent unlearns, by entry number.
        self.unlearned: dict[int, int] = {}
        #: Called when entries this model still needed were trimmed: it must be loaded anew.
        self.on_trimmed: Callable[[], Any] = lambda: None
        self.skipped = 0
        self._hole: tuple[int, float] | None = None
        self._lock = DeferredLock()

    # loading

    async def load(self, host) -> tuple[int, int]:
        """Load C{host} from the stored shards and the journal; returns (shards read, bad entries)."""
        await self._lock.acquire()
        try:
            self.host = None
            return await self._load(host)
        finally:
            self._lock.release()

    async def _load(self, host) -> tuple[int, int]:
        store = self.store
        floor = _int(await store.get(FLOOR))
        read, bad, marks = await merge_shards(host, store)
        self.floor, self.marks = floor, marks
        self.last_mark = max(marks.values(), default=0)
        self.position = floor
        self.shards = shard_count(host.max_trigrams)
        self._hole = None
        self.host = host
        head = _int(await store.get(HEAD))
        while self.position < head and await self._round():
            pass
        return read, bad

    # following

    def sync(self, head: int | None = None) -> Deferred:
        """
        Learn what the journal holds beyond the model now (up to C{head}, the
        last entry number, when just read); fires with whether anything was.
        """
        return self._lock.run(lambda: Deferred.fromCoroutine(self._round(head)))

    async def catch_up(self, seconds: float = ANSWER_WAIT) -> None:
        """
        Follow until the model includes every entry numbered now, waiting up
        to C{seconds} for entries on their way (numbered, not written yet):
        an answer then includes every line the owner journaled before the
        question was asked.
        """
        head = _int(await self.store.get(HEAD))
        deadline = self.clock.seconds() + seconds
        known: int | None = head
        while self.host is not None and self.position < head:
            progressed = await self.sync(known)
            known = None
            if not progressed:
                if self.clock.seconds() >= deadline or self.host is None:
                    return
                await deferLater(self.clock, ANSWER_STEP, lambda: None)

    async def sync_to(self, number: int, rounds: int = 8) -> bool:
        """Follow until entry C{number} is learned (a few rounds at most); whether it is."""
        for _ in range(rounds):
            if self.host is None or self.position >= number or not await self.sync():
                break
        return self.host is not None and self.position >= number

    async def _round(self, head: int | None = None) -> bool:
        host = self.host
        if host is None:
            return False
        start = self.position
        numbers, got = await self._fetch(start, head)
        if not numbers or host is not self.host or self.position != start:
            return False
        pending: list = []
        deltas: dict[int, dict[str, int]] = {}
        budget = ROUND_CHARS
        try:
            for n, (ok, entry) in zip(numbers, got, strict=True):
                if budget <= 0:
                    break  # the rest next round
                if not ok:
                    log.warn("brain: could not read journal entry {n}: {error}", n=n,
                             error=entry.getErrorMessage())
                    break
                if entry is None:
                    self._settle(deltas, pending)
                    if not await self._missing(n) or host is not self.host:
                        break
                    continue
                if isinstance(entry, dict) and isinstance(entry.get("u"), list):
                    self._settle(deltas, pending)
                    if not await self._unlearn(host, n, entry["u"]):
                        break
                    continue
                budget -= self._learn(n, entry, deltas, pending)
        finally:
            self._settle(deltas, pending)
        if self.position > start and host is self.host:
            # Every line handed over is learned before the next round.
            pending.append(host.size())
        await _settled(pending)
        return self.position > start

    async def _fetch(self, start: int, head: int | None) -> tuple[list, list]:
        """The entry numbers after C{start} (up to L{FETCH} of them) and what reading each gave."""
        store = self.store
        if head is None:
            head = _int(await store.get(HEAD))
        if head <= start:
            return [], []
        numbers = list(range(start + 1, min(head, start + FETCH) + 1))
        got = await DeferredList([maybeDeferred(store.hget, JOURNAL, str(n)) for n in numbers],
                                 consumeErrors=True)
        return numbers, got

    async def _unlearn(self, host, n: int, words: list) -> bool:
        """Apply the unlearn of entry C{n}; whether to go on (the model is the same)."""
        self.position = n
        count = await resolved(host.unlearn([w for w in words if isinstance(w, str)]))
        self.unlearned[n] = count
        while len(self.unlearned) > UNLEARNS_KEPT:
            del self.unlearned[min(self.unlearned)]
        return host is self.host and self.position == n

    def _learn(self, n: int, entry: Any, deltas: dict, pending: list) -> int:
        """Learn entry C{n}'s lines (by shard while some shards hold it already); how many characters."""
        self._hole = None
        lines = entry.get("l") if isinstance(entry, dict) else None
        texts = [t for t in lines if isinstance(t, str) and t] if isinstance(lines, list) else []
        if lines is None:
            log.warn("brain: journal entry {n} is malformed; skipped", n=n)
        if texts and n <= self.last_mark:
            floor, marks, shards = self.floor, self.marks, self.shards
            for text in texts:
                for trigram in line_trigrams(text):
                    field = " ".join(trigram)
                    s = shard_of(field, shards)
                    if max(marks.get(s, 0), floor) < n:
                        counts = deltas.setdefault(s, {})
                        counts[field] = counts.get(field, 0) + 1
        elif texts:
            self._settle(deltas, pending)
            self.host.learn(texts)
        self.position = n
        return sum(map(len, texts))

    def _settle(self, deltas: dict, pending: list) -> None:
        """Hand the counts gathered shard by shard to the model (at once: no wait in between)."""
        if not deltas:
            return
        host = self.host
        for shard, counts in deltas.items():
            pending.append(host.load_shard(shard, counts))
        # Learned here, not read from the store: to be written.
        pending.append(host.mark_dirty(list(deltas)))
        deltas.clear()

    async def _missing(self, n: int) -> bool:
        """Entry C{n} is not there: whether to go on past it (skipped)."""
        tail = _int(await self.store.get(TAIL))
        if n <= tail:
            log.error("brain: journal entries this process still needed were trimmed (it is far "
                      "behind); loading the model anew")
            self.host = None
            self.on_trimmed()
            return False
        now = self.clock.seconds()
        if self._hole is None or self._hole[0] != n:
            self._hole = (n, now)
            return False
        if now - self._hole[1] < HOLE_SECONDS:
            return False
        log.warn("brain: journal entry {n} never came (its appender died); skipped", n=n)
        self.skipped += 1
        self._hole = None
        self.position = n
        return True

    # writing

    async def save(self, host, writer: Callable[[], bool], max_shards: int | None = None,
                   max_trigrams: int | None = None, rounds: int | None = None) -> int:
        """
        While C{writer()} (this process holds the IRC lease), write the
        shards C{host} changed, each with its mark, as
        L{pubbot.plugins.brain.save_model} does; when nothing is left
        unwritten, move the floor up and trim the journal. Returns how many
        shards were written.
        """
        store = self.store
        if host is not self.host or not writer():
            return 0
        floor = _int(await store.get(FLOOR))
        if self.position < floor:
            return 0  # a former writer got further: follow first
        written = 0
        round_ = 0
        while True:
            if host is not self.host or not writer():
                return written
            # each shard with the mark of what the model includes as take_dirty is asked
            marked = partial(with_mark, mark=self.position)
            written += await write_changed(host, store, max_shards, max_trigrams, marked)
            round_ += 1
            at = self.position
            if not await resolved(host.has_dirty()):
                if at > floor and writer():
                    await store.set(FLOOR, at)
                    await self._trim(at)
                return written
            if max_shards is not None and rounds is not None and round_ >= rounds:
                return written

    async def _trim(self, floor: int) -> None:
        """Drop the entries more than L{KEEP} below C{floor} (the tail is moved first: see L{_missing})."""
        store = self.store
        upto = floor - KEEP
        tail = _int(await store.get(TAIL))
        if upto <= tail:
            return
        await store.set(TAIL, upto)
        for start in range(tail + 1, upto + 1, 1000):
            await store.hdel(JOURNAL, *[str(n) for n in range(start, min(upto, start + 999) + 1)])

    def close(self) -> Deferred:
        """Stop following; what waits to be journaled gets a few seconds."""
        self.host = None
        if not self.journal._pending:
            self.journal.closed = True
            return succeed(None)
        return Deferred.fromCoroutine(self.journal.close())
