"""
Reactor stalls, measured: a L{LoopingCall} that should tick every
C{interval} seconds records how late each tick is.

The reactor thread runs everything (IRC, PING replies, plugins), so any
work that holds it shows up here as a gap between ticks. Use it around a
hostile battery in a benchmark or an integration test::

    watch = StallWatch(reactor, interval=0.005)
    watch.start()
    ...                      # run the hostile inputs
    watch.stop()
    print(watch.worst)       # the longest stall, in seconds

The reactor (or a L{twisted.internet.task.Clock}) is injected.
"""

from __future__ import annotations

from twisted.internet.task import LoopingCall


class StallWatch:
    """
    Ticks every C{interval} seconds on C{reactor}; C{worst} is the longest
    stall seen (a gap between ticks minus C{interval}, never negative) and
    C{worst_gap} the longest gap itself. C{ticks} counts the ticks.
    """

    def __init__(self, reactor, interval: float = 0.01):
        if interval <= 0:
            raise ValueError("interval must be > 0")
        self._reactor = reactor
        self.interval = interval
        self.ticks = 0
        self.worst_gap = 0.0
        #: reactor time when the longest gap ended
        self.worst_at: float | None = None
        self._last: float | None = None
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor

    @property
    def worst(self) -> float:
        """The longest stall seen so far, in seconds."""
        return max(0.0, self.worst_gap - self.interval)

    @property
    def running(self) -> bool:
        return self._loop.running

    def start(self) -> None:
        """Start ticking (the first tick is now)."""
        self._last = None
        self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        """Stop ticking; the time since the last tick counts as a gap too."""
        if self._loop.running:
            self._tick()
            self._loop.stop()

    def reset(self) -> None:
        """Forget what was seen (keeps ticking if running)."""
        self.ticks = 0
        self.worst_gap = 0.0
        self.worst_at = None
        self._last = self._reactor.seconds() if self._loop.running else None

    def _tick(self) -> None:
        now = self._reactor.seconds()
        if self._last is not None:
            gap = now - self._last
            if gap > self.worst_gap:
                self.worst_gap = gap
                self.worst_at = now
        self._last = now
        self.ticks += 1
