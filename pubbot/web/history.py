"""
What changed over time, kept by the bot itself for the dashboard's charts.

Every C{interval} seconds (10) a L{History} takes one sample from what the
bot already counts: chat lines in per channel (from the live feed's
counters), calls and mean latency per plugin (the dispatcher's stats), lag,
reconnects and output queue depth per network (the chat services, read as
/status reads them). Samples go into a ring buffer of C{size} (360: an
hour), and each series is capped (L{MAX_SERIES} channels, plugins or
networks; the rest are summed as C{other}), so memory is bounded whatever
the chat does. C{/history} serves them as columns, ready for uPlot.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from .status import connection

log = Logger()

#: Most series per chart; the rest are summed into "other".
MAX_SERIES = 12
OTHER = "other"


def _capped(values: dict) -> dict:
    """C{values} with at most L{MAX_SERIES} keys: the largest, and the rest summed as L{OTHER}."""
    if len(values) <= MAX_SERIES:
        return values
    ranked = sorted(values.items(), key=lambda kv: (-(kv[1] or 0), kv[0]))
    kept = dict(ranked[:MAX_SERIES - 1])
    kept[OTHER] = sum(v or 0 for _, v in ranked[MAX_SERIES - 1:])
    return kept


class History:
    """A ring buffer of samples of C{bot} (and its live C{feed}'s counters)."""

    def __init__(self, bot: Any, feed: Any, clock: Any, interval: float = 10.0, size: int = 360):
        self.bot = bot
        self.feed = feed
        self.clock = clock
        self.interval = interval
        self.samples: deque[dict] = deque(maxlen=size)
        self._last_lines: dict = {}
        self._last_calls: dict = {}
        self._last_reconnects: dict = {}
        self._loop: LoopingCall | None = None

    def start(self) -> None:
        if self._loop is None:
            self._last_lines = dict(self.feed.lines_by_channel)
            self._last_calls = self._calls()
            self._last_reconnects = {n: c["reconnects"] or 0 for n, c in self._connections().items()}
            self._loop = LoopingCall(self.sample)
            self._loop.clock = self.clock
            self._loop.start(self.interval, now=False)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def _calls(self) -> dict:
        return {name: (s.calls, s.seconds) for name, s in list(self.bot.dispatcher.stats.items())}

    def _connections(self) -> dict:
        services = list(self.bot.chat_services.items())
        return {network: connection(network, service) for network, service in services}

    def sample(self) -> None:
        """Take one sample: what changed since the last, and the gauges now. Never raises."""
        try:
            self.samples.append(self._sample())
        except Exception:
            log.failure("web: taking a history sample failed")

    def _sample(self) -> dict:
        minutes = self.interval / 60.0
        lines = dict(self.feed.lines_by_channel)
        per_minute = {("%s %s" % key).strip(): (count - self._last_lines.get(key, 0)) / minutes
                      for key, count in lines.items() if count != self._last_lines.get(key, 0)}
        self._last_lines = lines
        calls = self._calls()
        plugins = {}
        for name, (count, seconds) in calls.items():
            before_count, before_seconds = self._last_calls.get(name, (0, 0.0))
            if count > before_count:
                plugins[name] = ((count - before_count) / minutes,
                                 (seconds - before_seconds) / (count - before_count) * 1000.0)
        self._last_calls = calls
        connections = self._connections()
        reconnects = {n: c["reconnects"] or 0 for n, c in connections.items()}
        rates = _capped({name: rate for name, (rate, _) in plugins.items()})
        last = self._last_reconnects
        sample = {
            "t": self.clock.seconds(),
            "lines": _capped(per_minute),
            "calls": rates,
            "latency": {name: ms for name, (_, ms) in plugins.items() if name in rates},
            "lag": _capped({n: c["lag"] * 1000.0 for n, c in connections.items() if c["lag"] is not None}),
            "reconnects": _capped({n: count - last.get(n, 0) for n, count in reconnects.items()}),
            "queue": _capped({n: c["throttle_depth"] or 0 for n, c in connections.items()}),
        }
        self._last_reconnects = reconnects
        return sample

    def columns(self) -> dict:
        """
        Each chart as uPlot wants it: C{{"t": [times], chart: {"series":
        [names], "data": [[value or None per time] per name]}}}.
        """
        samples = list(self.samples)
        out: dict[str, Any] = {"interval": self.interval, "size": self.samples.maxlen,
                               "t": [s["t"] for s in samples]}
        for chart in ("lines", "calls", "latency", "lag", "reconnects", "queue"):
            names = sorted({name for s in samples for name in s[chart]})
            out[chart] = {"series": names,
                          "data": [[s[chart].get(name) for s in samples] for name in names]}
        return out
