"""Sliding-window rate limits on the injected clock.

Only accepted attempts are recorded: a refused attempt never extends the
window (the original bot's limiter kept a busy channel muted forever).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable


class RateLimiter:
    """At most C{limit} accepted attempts per C{window} seconds, per key."""

    def __init__(self, clock, limit: int, window: float, max_keys: int = 10000):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self._clock = clock
        self.limit = limit
        self.window = window
        self._max_keys = max_keys
        self._events: dict[Hashable, deque] = {}

    def _recent(self, key: Hashable) -> deque | None:
        events = self._events.get(key)
        if events is None:
            return None
        horizon = self._clock.seconds() - self.window
        while events and events[0] <= horizon:
            events.popleft()
        if not events:
            del self._events[key]
            return None
        return events

    def would_allow(self, key: Hashable = None) -> bool:
        events = self._recent(key)
        return events is None or len(events) < self.limit

    def record(self, key: Hashable = None) -> None:
        events = self._recent(key)
        if events is None:
            if len(self._events) >= self._max_keys:
                self._prune()
            events = self._events[key] = deque()
        events.append(self._clock.seconds())

    def allow(self, key: Hashable = None) -> bool:
        """Record and return True if under the limit, else return False."""
        if not self.would_allow(key):
            return False
        self.record(key)
        return True

    def retry_after(self, key: Hashable = None) -> float:
        """Seconds until C{key} may try again (0 if it may now)."""
        events = self._recent(key)
        if events is None or len(events) < self.limit:
            return 0.0
        # The attempt that must expire to leave room (record() may go past the limit).
        return max(0.0, events[len(events) - self.limit] + self.window - self._clock.seconds())

    def _prune(self) -> None:
        for key in list(self._events):
            self._recent(key)
        while len(self._events) >= self._max_keys:
            self._events.pop(next(iter(self._events)))


class Limits:
    """
    Per person, per channel and global limits checked together: an attempt
    is accepted (and recorded in each) only if every limit allows it.
    Each limit is C{(count, seconds)} or None for no limit.
    """

    def __init__(self, clock, person=None, channel=None, overall=None):
        self._limits = [(kind, RateLimiter(clock, *spec)) for kind, spec in
                        (("person", person), ("channel", channel), ("overall", overall)) if spec]

    def _key(self, kind: str, person: Hashable, channel: Hashable) -> Hashable:
        return {"person": person, "channel": channel, "overall": None}[kind]

    def allow(self, person: Hashable = None, channel: Hashable = None) -> bool:
        if not all(limiter.would_allow(self._key(kind, person, channel))
                   for kind, limiter in self._limits):
            return False
        for kind, limiter in self._limits:
            limiter.record(self._key(kind, person, channel))
        return True

    def retry_after(self, person: Hashable = None, channel: Hashable = None) -> float:
        return max([limiter.retry_after(self._key(kind, person, channel))
                    for kind, limiter in self._limits] or [0.0])
