"""
A token-bucket throttle on the injected clock, pacing every line the bot
sends, fair between the people and places the lines are for.

The bucket holds up to C{burst} tokens and refills at C{per_second}; a line
costs one token. The defaults (5 lines at once, then 1 a second) stay under
the excess-flood limits of common servers (ngircd, InspIRCd, Solanum,
UnrealIRCd).

Lines wait in one queue per key (who caused them: the person a reply is
for, else the place), and the queues take turns, a line each: one person's
long answers never hold back another's reply by more than a line per
other waiting key. A person's key may hold at most C{max_per_person}
lines (the bot's own lines and announcements to a place are bounded by the
whole throttle's C{max_queue} only); lines past either are dropped and
counted.
Protocol lines (PONG, CAP, AUTHENTICATE, QUIT) go ahead of every queue;
their cost in tokens is bounded, and PONGs cost none (a server PINGing
many times a second must not silence the bot).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

#: The key of the bot's own lines (JOIN, WHO, NICK, MODE...).
OWN = ""


#: Tokens a drain may be short of a whole one by rounding alone.
_SLACK = 1e-9


class Throttle:
    """Paces byte strings to C{write}. Disabled, it writes at once."""

    def __init__(self, clock, burst: int, per_second: float, enabled: bool = True,
                 write: Callable[[bytes], None] | None = None, max_queue: int = 2000,
                 max_per_person: int = 12):
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be >= 1 and per_second > 0")
        self._clock = clock
        self.burst = burst
        self.per_second = per_second
        self.enabled = enabled
        self.write = write
        self.max_queue = max_queue
        self.max_per_person = max_per_person
        self._tokens = float(burst)
        self._stamp = clock.seconds()
        #: Waiting lines by key; the dict's order is the turn order.
        self._queues: dict[str, deque[bytes]] = {}
        self._depth = 0
        self._call = None
        self.dropped = 0

    def depth(self) -> int:
        """Lines waiting."""
        return self._depth

    def _refill(self) -> None:
        now = self._clock.seconds()
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.per_second)
        self._stamp = now

    def send(self, data: bytes, key: str = OWN, person: bool = False) -> bool:
        """
        Queue one line for C{key} (C{person}: a person's, so bounded); False
        (and counted in C{dropped}) when there is no room.
        """
        if not self.enabled:
            if self.write is not None:
                self.write(data)
            return True
        if self._depth:
            return self._enqueue(data, key, person)
        self._refill()
        if self._tokens >= 1.0 and self.write is not None:
            self._tokens -= 1.0
            self.write(data)
            return True
        if not self._enqueue(data, key, person):
            return False
        self._schedule()
        return True

    def _enqueue(self, data: bytes, key: str, person: bool) -> bool:
        queue = self._queues.get(key)
        if self._depth >= self.max_queue or (
                person and queue is not None and len(queue) >= self.max_per_person):
            self.dropped += 1
            return False
        if queue is None:
            queue = self._queues[key] = deque()
        queue.append(data)
        self._depth += 1
        return True

    def send_now(self, data: bytes, charge: bool = True) -> None:
        """
        Write ahead of the queues (CAP, AUTHENTICATE, QUIT); it still costs
        a token, but the bucket's debt is bounded (at most C{burst} tokens
        short), so no number of such lines silences the queues for longer
        than C{2 * burst / per_second}. With C{charge} false (PONG: the
        server chose how often to ask) it costs nothing: a server PINGing
        faster than the refill rate would otherwise starve every queue.
        """
        if self.write is not None:
            self.write(data)
        if self.enabled and charge:
            self._refill()
            self._tokens = max(-float(self.burst), self._tokens - 1.0)

    def _schedule(self) -> None:
        if self._call is not None or not self._depth or self.write is None:
            return
        wait = max(0.0, (1.0 - self._tokens) / self.per_second)
        self._call = self._clock.callLater(wait, self._drain)

    def _drain(self) -> None:
        self._call = None
        self._refill()
        queues = self._queues
        # A token is due when the call comes, but float sums may leave it a
        # hair short: without the slack, that would schedule a call ~1e-16 s
        # ahead, which at the clock's magnitude is now again, for ever.
        while self._depth and self._tokens >= 1.0 - _SLACK and self.write is not None:
            key = next(iter(queues))
            queue = queues.pop(key)
            self._tokens -= 1.0
            self._depth -= 1
            self.write(queue.popleft())
            if queue:
                queues[key] = queue  # to the back of the turn order
        self._schedule()

    def attach(self, write: Callable[[bytes], None]) -> None:
        """Start writing to C{write}: a new connection, so a full bucket."""
        self.write = write
        self._tokens = float(self.burst)
        self._stamp = self._clock.seconds()
        self._schedule()

    def take(self) -> list:
        """Empty the queues: the lines they held, each queue's in order (to hand over, not drop)."""
        lines = [line for queue in self._queues.values() for line in queue]
        self._queues.clear()
        self._depth = 0
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        return lines

    def detach(self) -> int:
        """Stop writing (connection lost); drop the queues and return how many lines they held."""
        self.write = None
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        dropped = self._depth
        self._queues.clear()
        self._depth = 0
        return dropped
