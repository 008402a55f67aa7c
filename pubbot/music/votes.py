"""
Skip votes: one at a time, counted per person, timed out on the injected clock.

A vote passes when its skip votes minus its noskip votes reach C{needed}.
It lapses C{timeout} seconds after its last counted vote. A person has one
vote: voting the other way moves it, voting the same way again changes
nothing (and does not keep the vote alive).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Optional

#: Outcome kinds.
STARTED = "started"      # a new vote, with this first ballot
JOINED = "joined"        # a new ballot in the running vote
SWITCHED = "switched"    # a ballot moved to the other side
REPEATED = "repeated"    # the same ballot again: nothing changed
PASSED = "passed"        # this ballot made the vote pass (the vote is over)
NO_VOTE = "no_vote"      # noskip with no vote running
BUSY = "busy"            # skip N while a vote for another count runs


@dataclass
class Vote:
    """A vote to skip C{count} tracks, started at C{place} (e.g. (protocol, channel))."""

    count: int
    place: Any
    ballots: dict = field(default_factory=dict)

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
    vote: Optional[Vote]


class SkipVotes:
    """
    The skip vote of one player. C{on_timeout(vote)} is called when a vote
    lapses; C{clock} is an IReactorTime.
    """

    def __init__(self, clock: Any, needed: int, timeout: float,
                 on_timeout: Callable[[Vote], None]):
        if needed < 1 or timeout <= 0:
            raise ValueError("needed must be >= 1 and timeout > 0")
        self._clock = clock
        self.needed = needed
        self.timeout = timeout
        self._on_timeout = on_timeout
        self.current: Optional[Vote] = None
        self._timer: Any = None

    def skip(self, person: Hashable, count: Optional[int] = None, place: Any = None) -> Outcome:
        """C{person} votes to skip (C{count} tracks, default 1 or the running vote's)."""
        if count is not None and count < 1:
            raise ValueError("count must be >= 1")
        vote = self.current
        if vote is None:
            vote = self.current = Vote(count or 1, place)
            kind = STARTED
        elif count is not None and count != vote.count:
            return Outcome(BUSY, vote)
        else:
            previous = vote.ballots.get(person)
            if previous == 1:
                return Outcome(REPEATED, vote)
            kind = SWITCHED if previous == -1 else JOINED
        vote.ballots[person] = 1
        return self._counted(vote, kind)

    def noskip(self, person: Hashable) -> Outcome:
        """C{person} votes against the running vote."""
        vote = self.current
        if vote is None:
            return Outcome(NO_VOTE, None)
        previous = vote.ballots.get(person)
        if previous == -1:
            return Outcome(REPEATED, vote)
        vote.ballots[person] = -1
        return self._counted(vote, SWITCHED if previous == 1 else JOINED)

    def _counted(self, vote: Vote, kind: str) -> Outcome:
        if vote.margin >= self.needed:
            self.cancel()
            return Outcome(PASSED, vote)
        self._arm()
        return Outcome(kind, vote)

    def _arm(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.reset(self.timeout)
        else:
            self._timer = self._clock.callLater(self.timeout, self._lapse)

    def _lapse(self) -> None:
        vote, self.current, self._timer = self.current, None, None
        if vote is not None:
            self._on_timeout(vote)

    def cancel(self) -> Optional[Vote]:
        """End the running vote (if any) silently; returns it."""
        vote, self.current = self.current, None
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        return vote
