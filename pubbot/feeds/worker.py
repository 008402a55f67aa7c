"""
Feeds parsed in a process of their own, with a deadline that really stops it.

feedparser is CPU work on a stranger's bytes: in the bot's process (or a
thread of it) nothing could stop a parse that takes too long. L{parse_feed}
runs C{python -m pubbot.feeds.worker}, writes the body to its stdin and
reads the entries as JSON from its stdout; past C{timeout} seconds the
process is killed and the poll fails with L{FeedError}. The child limits
itself too (address space and CPU seconds), and its output is read up to a
bound.

    python -m pubbot.feeds.worker < feed.xml     # prints the entries as JSON
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from typing import Any

from .parse import MAX_FEED_BYTES, Entry, FeedError, entries

#: Seconds a parse may take before its process is killed.
TIMEOUT = 10.0
#: Most bytes of output read back (100 entries of bounded fields fit well).
MAX_OUTPUT = 256 * 1024
#: The child's own limits: address space (bytes) and CPU seconds.
MEMORY_LIMIT = 512 * 1024 * 1024
CPU_LIMIT = 15


def parse_feed(reactor: Any, body: bytes, timeout: float = TIMEOUT, argv: list[str] | None = None) -> Any:
    """Fires with the L{Entry}s of C{body}, or fails with L{FeedError} (bad feed, too slow, crashed)."""
    from twisted.internet.defer import Deferred
    from twisted.internet.protocol import ProcessProtocol

    done: Deferred = Deferred()

    class Parser(ProcessProtocol):
        def __init__(self) -> None:
            self.out: list[bytes] = []
            self.size = 0
            self.timer: Any = None
            self.why = ""

        def connectionMade(self) -> None:
            assert self.transport is not None
            self.transport.write(body)
            self.transport.closeStdin()
            self.timer = reactor.callLater(timeout, self.kill, "took more than %gs" % (timeout,))

        def outReceived(self, data: bytes) -> None:
            self.size += len(data)
            if self.size > MAX_OUTPUT:
                self.kill("said more than %d bytes" % (MAX_OUTPUT,))
                return
            self.out.append(data)

        def kill(self, why: str) -> None:
            self.why = why
            if self.transport is not None:
                with contextlib.suppress(Exception):  # already gone
                    self.transport.signalProcess("KILL")

        def processEnded(self, reason: Any) -> None:
            if self.timer is not None and self.timer.active():
                self.timer.cancel()
            if done.called:
                return
            if self.why:
                done.errback(FeedError("the parser " + self.why))
                return
            try:
                done.callback(_read_output(b"".join(self.out)))
            except FeedError as e:
                done.errback(e)

    command = argv or [sys.executable, "-m", "pubbot.feeds.worker"]
    # the child imports this very pubbot, installed or not
    home = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [home, os.environ.get("PYTHONPATH")])))
    reactor.spawnProcess(Parser(), command[0], command, env=env, childFDs={0: "w", 1: "r", 2: 2})
    return done


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


def _limit_self() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT))


def main() -> int:
    _limit_self()
    body = sys.stdin.buffer.read(MAX_FEED_BYTES + 1)
    try:
        found = entries(body)
    except FeedError as e:
        json.dump({"error": str(e)}, sys.stdout)
        return 0
    json.dump([[e.id, e.title, e.link] for e in found], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
