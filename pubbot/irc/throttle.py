"""
A token-bucket throttle on the injected clock, pacing every line the bot sends.

The bucket holds up to C{burst} tokens and refills at C{per_second}; a line
costs one token. Lines wait in a FIFO queue while the bucket is empty. The
defaults (5 lines at once, then 1 a second) stay under the excess-flood limits
of common servers (ngircd, InspIRCd, Solanum, UnrealIRCd).
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Optional


class Throttle:
    """Paces byte strings to C{write}. Disabled, it writes at once."""

    def __init__(self, clock, burst: int, per_second: float, enabled: bool = True,
                 write: Optional[Callable[[bytes], None]] = None, max_queue: int = 10000):
        if burst < 1 or per_second <= 0:
            raise ValueError("burst must be >= 1 and per_second > 0")
        self._clock = clock
        self.burst = burst
        self.per_second = per_second
        self.enabled = enabled
        self.write = write
        self.max_queue = max_queue
        self._tokens = float(burst)
        self._stamp = clock.seconds()
        self._queue: deque[bytes] = deque()
        self._call = None
        self.dropped = 0

    def depth(self) -> int:
        """Lines waiting."""
        return len(self._queue)

    def _refill(self) -> None:
        now = self._clock.seconds()
        if now > self._stamp:
            self._tokens = min(float(self.burst), self._tokens + (now - self._stamp) * self.per_second)
        self._stamp = now

    def send(self, data: bytes) -> bool:
        """Queue one line; False (and counted in C{dropped}) when the queue is full."""
        if not self.enabled:
            if self.write is not None:
                self.write(data)
            return True
        if self._queue:
            if len(self._queue) >= self.max_queue:
                self.dropped += 1
                return False
            self._queue.append(data)
            return True
        self._refill()
        if self._tokens >= 1.0 and self.write is not None:
            self._tokens -= 1.0
            self.write(data)
            return True
        self._queue.append(data)
        self._schedule()
        return True

    def send_now(self, data: bytes) -> None:
        """Write ahead of the queue (PONG, QUIT); it still costs a token."""
        if self.write is not None:
            self.write(data)
        if self.enabled:
            self._refill()
            self._tokens -= 1.0

    def _schedule(self) -> None:
        if self._call is not None or not self._queue or self.write is None:
            return
        wait = max(0.0, (1.0 - self._tokens) / self.per_second)
        self._call = self._clock.callLater(wait, self._drain)

    def _drain(self) -> None:
        self._call = None
        self._refill()
        while self._queue and self._tokens >= 1.0 and self.write is not None:
            self._tokens -= 1.0
            self.write(self._queue.popleft())
        self._schedule()

    def attach(self, write: Callable[[bytes], None]) -> None:
        """Start writing to C{write}: a new connection, so a full bucket."""
        self.write = write
        self._tokens = float(self.burst)
        self._stamp = self._clock.seconds()
        self._schedule()

    def detach(self) -> int:
        """Stop writing (connection lost); drop the queue and return how many lines it held."""
        self.write = None
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        dropped = len(self._queue)
        self._queue.clear()
        return dropped
