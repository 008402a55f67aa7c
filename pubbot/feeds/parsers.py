"""
The bot's side of parsing feeds in processes of their own.

feedparser is CPU work on a stranger's bytes: in the bot's process (or a
thread of it) nothing could stop a parse that takes too long.
L{FeedParsers.parse} runs C{python -m pubbot.feeds.worker}, writes the body
to its stdin and reads the entries as JSON from its stdout; past C{timeout}
seconds the process is killed and the parse fails with L{FeedError}. Its
output is read up to a bound. L{FeedParsers.stop} kills what still runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.protocol import ProcessProtocol

from .parse import Entry, FeedError

#: Seconds a parse may take before its process is killed.
TIMEOUT = 10.0
#: Most bytes of output read back (100 entries of bounded fields fit well).
MAX_OUTPUT = 256 * 1024


class _Parse(ProcessProtocol):
    """One parse: C{done} fires with the entries or a L{FeedError}; C{ended} when the process is gone."""

    def __init__(self, reactor: Any, body: bytes, timeout: float) -> None:
        self.reactor = reactor
        self.body = body
        self.timeout = timeout
        self.done: Deferred = Deferred(lambda d: self.kill("was cancelled"))
        self.ended: Deferred = Deferred()
        self.out: list[bytes] = []
        self.size = 0
        self.timer: Any = None
        self.why = ""

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.body)
        self.transport.closeStdin()
        self.timer = self.reactor.callLater(self.timeout, self.kill, "took more than %gs" % (self.timeout,))

    def outReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_OUTPUT:
            self.kill("said more than %d bytes" % (MAX_OUTPUT,))
            return
        self.out.append(data)

    def kill(self, why: str) -> None:
        self.why = self.why or why
        self._stop_timer()
        if self.transport is not None:
            with contextlib.suppress(Exception):  # already gone
                self.transport.signalProcess("KILL")

    def _stop_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()

    def processEnded(self, reason: Any) -> None:
        self._stop_timer()
        self.ended.callback(None)
        if self.done.called:
            return
        if self.why:
            self.done.errback(FeedError("the parser " + self.why))
            return
        try:
            self.done.callback(_read_output(b"".join(self.out)))
        except FeedError as e:
            self.done.errback(e)


class FeedParsers:
    """Starts the parse processes of one poller, and stops them all (a stopping bot leaves none behind)."""

    def __init__(self, reactor: Any, timeout: float = TIMEOUT, argv: list[str] | None = None) -> None:
        self.reactor = reactor
        self.timeout = timeout
        self.argv = argv or [sys.executable, "-m", "pubbot.feeds.worker"]
        self.live: set[_Parse] = set()

    def parse(self, body: bytes) -> Deferred:
        """Fires with the L{Entry}s of C{body}, or fails with L{FeedError} (bad feed, too slow, crashed)."""
        parse = _Parse(self.reactor, body, self.timeout)
        self.live.add(parse)
        parse.ended.addCallback(lambda _: self.live.discard(parse))
        # the child imports this very pubbot, installed or not
        home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")])))
        self.reactor.spawnProcess(parse, self.argv[0], self.argv, env=env, childFDs={0: "w", 1: "r", 2: 2})
        return parse.done

    def stop(self) -> Deferred:
        """Kill what still runs; fires when every process has ended."""
        waits = []
        for parse in list(self.live):
            parse.kill("was stopped")
            waits.append(parse.ended)
        return DeferredList(waits)


def parse_feed(reactor: Any, body: bytes, timeout: float = TIMEOUT,
               argv: list[str] | None = None) -> Deferred:
    """One parse in a process of its own (L{FeedParsers.parse})."""
    return FeedParsers(reactor, timeout, argv).parse(body)


def _read_output(data: bytes) -> list[Entry]:
    try:
        found = json.loads(data)
    except ValueError:
        raise FeedError("the parser gave no answer") from None
    if isinstance(found, dict) and isinstance(found.get("error"), str):
        raise FeedError(found["error"][:200])
    if not isinstance(found, list):
        raise FeedError("the parser's answer was not a list")
    out = []
    for item in found:
        if not (isinstance(item, list) and len(item) == 3 and all(isinstance(v, str) for v in item)):
            raise FeedError("the parser's answer had a bad entry")
        out.append(Entry(*item))
    return out
