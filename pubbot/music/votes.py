"""
Skip votes: one at a time, counted per person, timed out on the injected clock.

A vote passes when its skip votes minus its noskip votes reach C{needed}.
It lapses C{timeout} seconds after its last counted vote. A person has one
vote: voting the other way moves it, voting the same way again changes
nothing (and does not keep the vote alive).

The vote lives in the bot's store (a hash at C{music:vote}), so when the
Redis bus spreads chat lines over several processes they all count the same
vote. Whoever deletes the hash ends the vote (a delete reports whether the
key existed), so exactly one process skips, or announces the timeout: the
one whose ballot was the last, when its timer fires. The hash expires
C{GRACE} seconds after the timeout, in case that process died.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

log = Logger()

#: Store key of the running vote.
VOTE_KEY = "music:vote"
#: Seconds a vote outlives its timeout in the store.
GRACE = 30.0

#: Outcome kinds.
STARTED = "started"      # a new vote, with this first ballot
JOINED = "joined"        # a new ballot in the running vote
SWITCHED = "switched"    # a ballot moved to the other side
REPEATED = "repeated"    # the same ballot again: nothing changed
PASSED = "passed"        # this ballot made the vote pass (the vote is over)
NO_VOTE = "no_vote"      # noskip with no vote running
BUSY = "busy"            # skip N while a vote for another count runs

_BALLOT = "ballot:"


@dataclass
class Vote:
    """A vote to skip C{count} tracks, started at C{place} (e.g. (network, channel))."""

    count: int
    place: Any
    ballots: dict = field(default_factory=dict)
    nonce: str = ""

    @property
    def yes(self) -> int:
        return sum(1 for b in self.ballots.values() if b > 0)

    @property
    def no(self) -> int:
        return sum(1 for b in self.ballots.values() if b < 0)

    @property
    def margin(self) -> int:
        return self.yes - self.no


@dataclass(frozen=True)
class Outcome:
    kind: str
    vote: Vote | None


def vote_from_hash(data: Any) -> Vote | None:
    """The L{Vote} a store hash holds (None when empty); odd values are skipped."""
    if not isinstance(data, dict) or not data:
        return None
    count = data.get("count")
    count = count if isinstance(count, int) and not isinstance(count, bool) and count >= 1 else 1
    place = data.get("place")
    place = tuple(place) if isinstance(place, list) and len(place) == 2 else None
    ballots = {name[len(_BALLOT):]: (1 if value > 0 else -1) for name, value in data.items()
               if name.startswith(_BALLOT) and isinstance(value, int) and value}
    nonce = data.get("nonce")
    return Vote(count, place, ballots, nonce if isinstance(nonce, str) else "")


class SkipVotes:
    """
    The skip vote of one player, in C{store} (an IStore). C{on_timeout(vote)}
    is called when a vote lapses; C{clock} is an IReactorTime. The methods
    are coroutines; store failures propagate.
    """

    def __init__(self, store: Any, clock: Any, needed: int, timeout: float,
                 on_timeout: Callable[[Vote], None], key: str = VOTE_KEY):
        if needed < 1 or timeout <= 0:
            raise ValueError("needed must be >= 1 and timeout > 0")
        self.store = store
        self._clock = clock
        self.needed = needed
        self.timeout = timeout
        self._on_timeout = on_timeout
        self.key = key
        self._timer: Any = None

    async def current(self) -> Vote | None:
        """The running vote, or None."""
        return vote_from_hash(await self.store.hgetall(self.key))

    async def skip(self, person: str, count: int | None = None, place: Any = None) -> Outcome:
        """C{person} votes to skip (C{count} tracks, default 1 or the running vote's)."""
        if count is not None and count < 1:
            raise ValueError("count must be >= 1")
        vote = await self.current()
        if vote is None:
            await self.store.hset(self.key, "count", count or 1)
            await self.store.hset(self.key, "place", list(place) if place is not None else None)
            kind = STARTED
        elif count is not None and count != vote.count:
            return Outcome(BUSY, vote)
        else:
            previous = vote.ballots.get(person)
            if previous == 1:
                return Outcome(REPEATED, vote)
            kind = SWITCHED if previous == -1 else JOINED
        return await self._cast(person, 1, kind)

    async def noskip(self, person: str) -> Outcome:
        """C{person} votes against the running vote."""
        vote = await self.current()
        if vote is None:
            return Outcome(NO_VOTE, None)
        previous = vote.ballots.get(person)
        if previous == -1:
            return Outcome(REPEATED, vote)
        return await self._cast(person, -1, SWITCHED if previous == 1 else JOINED)

    async def _cast(self, person: str, side: int, kind: str) -> Outcome:
        nonce = uuid.uuid4().hex
        await self.store.hset(self.key, _BALLOT + person, side)
        await self.store.hset(self.key, "nonce", nonce)
        await self.store.expire(self.key, self.timeout + GRACE)
        vote = await self.current()
        if vote is None:  # ended meanwhile elsewhere
            return Outcome(NO_VOTE, None)
        if vote.margin >= self.needed:
            self._disarm()
            if await self.store.delete(self.key):
                return Outcome(PASSED, vote)
            return Outcome(kind, vote)  # another process passed it at the same moment
        self._disarm()
        self._timer = self._clock.callLater(self.timeout, self._lapse, nonce)
        return Outcome(kind, vote)

    def _disarm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _lapse(self, nonce: str) -> None:
        self._timer = None
        d = Deferred.fromCoroutine(self._expire(nonce))
        d.addErrback(lambda f: log.failure("could not end the lapsed skip vote", f))

    async def _expire(self, nonce: str) -> None:
        vote = await self.current()
        if vote is None or vote.nonce != nonce:
            return  # ended, or someone voted since (their timer runs)
        if await self.store.delete(self.key):
            self._on_timeout(vote)

    async def cancel(self) -> Vote | None:
        """End the running vote (if any) silently; returns it."""
        self._disarm()
        vote = await self.current()
        if vote is not None:
            await self.store.delete(self.key)
        return vote

    def stop(self) -> None:
        """Forget this process's timer (the bot is stopping); the vote stays in the store."""
        self._disarm()
