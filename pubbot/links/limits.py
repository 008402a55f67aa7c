"""
Caps on the response headers pubbot's HTTP clients accept.

Twisted's client parser bounds only the length of one line (16 KiB): a
server may send header lines (or informational C{1xx} responses) without
end, and they all pile up in memory until the request's timeout. Here the
connection is wrapped before the HTTP protocol sees a byte: the head of
each response (status lines, header lines, blank lines, across any
C{1xx} responses before the real one) may have at most C{max_lines} lines
and C{max_bytes} bytes. Past either, the connection is aborted and the
request fails with L{HeadersTooLarge} (inside twisted's
C{ResponseFailed}). Body size and total time are the caller's to cap (see
L{pubbot.links.fetch}).

Use L{LimitedPool} in place of C{HTTPConnectionPool}.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import connectionDone
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.web.client import HTTPConnectionPool
from zope.interface import implementer

#: Most lines in a response's head (status and header lines, blank lines, 1xx responses).
MAX_HEADER_LINES = 128
#: Most bytes in a response's head.
MAX_HEADER_BYTES = 64 * 1024


class HeadersTooLarge(Exception):
    """A response's head went past a cap; the message says which."""


class _HeadScanner:
    """Counts the lines and bytes of response heads; O(lines) per chunk, lines capped."""

    def __init__(self, max_lines: int, max_bytes: int):
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self.reset()

    def reset(self) -> None:
        self.scanning = True
        self.lines = 0
        self.size = 0
        self._status = True  # the next line is a status line
        self._informational = False
        self._line = b""  # the start (at most 16 bytes) of the current line
        self._line_length = 0

    def feed(self, data: bytes) -> str | None:
        """Scan C{data}; return what was exceeded, or None. Stops scanning at a head's end."""
        start = 0
        while self.scanning:
            newline = data.find(b"\n", start)
            end = len(data) if newline < 0 else newline
            if len(self._line) < 16:
                self._line += data[start:min(end, start + 16 - len(self._line))]
            self._line_length += end - start
            self.size += end - start + (newline >= 0)
            if self.size > self.max_bytes:
                return "response headers over %d bytes" % (self.max_bytes,)
            if newline < 0:
                return None
            self.lines += 1
            if self.lines > self.max_lines:
                return "more than %d response header lines" % (self.max_lines,)
            self._end_of_line()
            start = newline + 1
        return None

    def _end_of_line(self) -> None:
        line, length = self._line, self._line_length
        self._line, self._line_length = b"", 0
        blank = length == 0 or (length == 1 and line == b"\r")
        if self._status:
            self._status = False
            # "HTTP/1.1 1xx": an informational response; another head follows.
            self._informational = line.startswith(b"HTTP/") and line[9:10] == b"1"
        elif blank:
            if self._informational:
                self._status = True
            else:
                self.scanning = False


class _GuardedProtocol(ProtocolWrapper):
    """Sits between the transport and the HTTP client protocol, counting response heads."""

    factory: _GuardFactory

    def __init__(self, factory: _GuardFactory, wrapped: Any):
        super().__init__(factory, wrapped)
        self.scanner = _HeadScanner(factory.max_lines, factory.max_bytes)
        self.problem: HeadersTooLarge | None = None

    def write(self, data: bytes) -> None:
        # A new request on a persistent connection: a new response head will follow.
        if not self.scanner.scanning:
            self.scanner.reset()
        super().write(data)

    def writeSequence(self, data) -> None:
        if not self.scanner.scanning:
            self.scanner.reset()
        super().writeSequence(data)

    def dataReceived(self, data: bytes) -> None:
        if self.problem is not None:
            return
        if self.scanner.scanning:
            problem = self.scanner.feed(data)
            if problem is not None:
                self.problem = HeadersTooLarge(problem)
                transport: Any = self.transport
                transport.abortConnection()
                return
        super().dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.problem is not None:
            reason = Failure(self.problem)
        super().connectionLost(reason)


class _GuardFactory(WrappingFactory[_GuardedProtocol]):
    protocol = _GuardedProtocol  # type: ignore[assignment]
    noisy = False

    def __init__(self, wrapped: Any, max_lines: int, max_bytes: int):
        super().__init__(wrapped)
        self.max_lines = max_lines
        self.max_bytes = max_bytes


@implementer(IStreamClientEndpoint)
class GuardedEndpoint:
    """An endpoint whose connections' response heads are capped (see the module docstring)."""

    def __init__(self, endpoint: Any, max_lines: int = MAX_HEADER_LINES,
                 max_bytes: int = MAX_HEADER_BYTES):
        self._endpoint = endpoint
        self.max_lines = max_lines
        self.max_bytes = max_bytes

    def connect(self, factory: Any) -> Deferred:
        guard = _GuardFactory(factory, self.max_lines, self.max_bytes)
        return self._endpoint.connect(guard).addCallback(lambda wrapper: wrapper.wrappedProtocol)

    def __repr__(self) -> str:
        return "<GuardedEndpoint %r>" % (self._endpoint,)


class LimitedPool(HTTPConnectionPool):
    """An C{HTTPConnectionPool} whose new connections go through L{GuardedEndpoint}."""

    max_lines = MAX_HEADER_LINES
    max_bytes = MAX_HEADER_BYTES

    def getConnection(self, key: Any, endpoint: Any) -> Deferred:
        return super().getConnection(key, GuardedEndpoint(endpoint, self.max_lines, self.max_bytes))
