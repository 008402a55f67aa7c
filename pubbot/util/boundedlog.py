"""
Log lines that others can cause at will, bounded: a server's odd lines,
refused clients, links nobody may fetch. Each kind is logged at most
C{per_minute} times a minute; the rest are counted, so nothing is lost but
the repetition, and a flood cannot fill the disk at its own pace.

    logs = BoundedLog(reactor, log, per_minute=10)
    logs.note("rejected", LogLevel.warn, "rejected a command: {error}", error=e)
    logs.unlogged["rejected"]   # how many were not written

A caller that writes its own line, with how many were held back since the
last one of its kind, asks L{BoundedLog.admit}.

The clock (a reactor or a L{twisted.internet.task.Clock}) is injected.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from twisted.logger import Logger, LogLevel

from .ratelimit import RateLimiter


class BoundedLog:
    """At most C{per_minute} lines a minute of each kind on C{log}; C{unlogged} counts the rest by kind."""

    def __init__(self, clock: Any, log: Logger, per_minute: int = 10):
        self.log = log
        self.per_minute = per_minute
        self.unlogged: Counter[str] = Counter()
        self._limits = RateLimiter(clock, per_minute, 60.0)
        #: Lines not written since the last one written, by kind.
        self._held: Counter[str] = Counter()

    def may_log(self, kind: str) -> bool:
        """May a line of C{kind} be written now? Counted as written if so (the caller writes it)."""
        return self._limits.allow(kind)

    def admit(self, kind: str) -> int | None:
        """
        May a line of C{kind} be written now (the caller writes it)? None
        when not (it is counted); else how many of C{kind} were not written
        since the last one that was, for the caller's line to say.
        """
        if self._limits.allow(kind):
            return self._held.pop(kind, 0)
        self.unlogged[kind] += 1
        self._held[kind] += 1
        return None

    def note(self, kind: str, level: LogLevel, format: str, **fields: Any) -> bool:
        """Write C{format} at C{level} within C{kind}'s bound, else count it; whether it was written."""
        if self.admit(kind) is None:
            return False
        self.log.emit(level, format, **fields)
        return True
