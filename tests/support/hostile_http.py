"""
A hostile HTTP server for tests: real TCP on a free loopback port, each path
a scripted behaviour (endless headers, a slow drip, a huge or never-ending
body, a bad charset, pathological HTML...).

A behaviour is a function of the request returning an iterator of steps:
C{bytes} to send, or a C{float} of seconds to wait. Sending follows the
client's pace (the server is a push producer: it stops writing while the
client's socket is full), and every script is bounded twice over, whatever
it yields: the connection is closed after C{max_bytes} sent or
C{max_seconds} elapsed. So an "endless" behaviour never outlives its test.

::

    server = HostileHTTPServer(reactor)
    server.route("/forever", endless_headers())
    self.addCleanup(server.stop)
    await fetcher.fetch(server.url("/forever"))
    server.stats["/forever"].sent      # bytes written to that path's clients
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import deferLater
from zope.interface import implementer

Step = bytes | float
Behaviour = Callable[["Request"], Iterator[Step]]

#: Most bytes of a request read (the request line and headers); the rest is ignored.
MAX_REQUEST = 64 * 1024
CHUNK = 16 * 1024


@dataclass
class Request:
    method: bytes
    path: bytes
    headers: dict


@dataclass
class Stats:
    connections: int = 0
    sent: int = 0
    open: int = 0
    #: why each finished connection ended: "done", "client closed", "max_bytes", "max_seconds"
    endings: list | None = None

    def __post_init__(self) -> None:
        if self.endings is None:
            self.endings = []


def status(code: int = 200, reason: bytes = b"OK") -> bytes:
    return b"HTTP/1.1 %d %s\r\n" % (code, reason)


def response(body: bytes, content_type: bytes = b"text/html; charset=utf-8", code: int = 200,
             headers: tuple = ()) -> Behaviour:
    """An ordinary, complete response (the body may be anything hostile)."""
    def script(request: Request) -> Iterator[Step]:
        head = status(code) + b"Content-Type: " + content_type + b"\r\n"
        head += b"Content-Length: %d\r\nConnection: close\r\n" % (len(body),)
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        yield head + b"\r\n"
        for i in range(0, len(body), CHUNK):
            yield body[i:i + CHUNK]
    return script


def bad_charset(label: str, body: bytes = b"<title>caf\xc3\xa9</title>", in_meta: bool = False) -> Behaviour:
    """A page declaring the codec C{label} (see L{unusual_charsets}) in its Content-Type, or its C{<meta>}."""
    if in_meta:
        return response(b"<meta charset=" + label.encode("ascii") + b">" + body, b"text/html")
    return response(body, b"text/html; charset=" + label.encode("ascii"))


def huge_body(size: int, content_type: bytes = b"text/html", start: bytes = b"<html>") -> Behaviour:
    """A response announcing and sending C{size} bytes (C{start}, then spaces), streamed."""
    def script(request: Request) -> Iterator[Step]:
        yield status() + b"Content-Type: " + content_type + b"\r\nContent-Length: %d\r\n\r\n" % (size,)
        yield start[:size]
        left = size - len(start[:size])
        filler = b" " * CHUNK
        while left > 0:
            yield filler[:left]
            left -= CHUNK
    return script


def endless_headers(line: bytes = b"X-Pad: " + b"p" * 90) -> Behaviour:
    """A status line, then header lines without end, as fast as the client reads."""
    def script(request: Request) -> Iterator[Step]:
        yield status()
        batch = (line + b"\r\n") * max(1, CHUNK // (len(line) + 2))
        while True:
            yield batch
    return script


def many_headers(count: int, body: bytes = b"<title>many headers</title>") -> Behaviour:
    """C{count} distinct short headers, then a small page."""
    def script(request: Request) -> Iterator[Step]:
        yield status() + b"Content-Type: text/html\r\n"
        for start in range(0, count, 500):
            yield b"".join(b"X-H%d: v\r\n" % (i,) for i in range(start, min(count, start + 500)))
        yield b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (len(body),) + body
    return script


def long_header_line(size: int) -> Behaviour:
    """One header line of C{size} bytes."""
    def script(request: Request) -> Iterator[Step]:
        yield status() + b"X-Long: "
        left = size
        while left > 0:
            yield b"l" * min(CHUNK, left)
            left -= CHUNK
        yield b"\r\nContent-Length: 0\r\n\r\n"
    return script


def drip(prefix: bytes, interval: float, byte: bytes = b"x") -> Behaviour:
    """C{prefix}, then one byte every C{interval} seconds, without end."""
    def script(request: Request) -> Iterator[Step]:
        if prefix:
            yield prefix
        while True:
            yield interval
            yield byte
    return script


def drip_headers(interval: float = 1.0) -> Behaviour:
    """Response headers at one byte per C{interval} seconds, never finished."""
    return drip(status(), interval, b"a")


def drip_body(interval: float = 1.0, content_type: bytes = b"text/html") -> Behaviour:
    """Headers at once, then the body at one byte per C{interval} seconds, never finished."""
    return drip(status() + b"Content-Type: " + content_type + b"\r\n\r\n<html>", interval, b" ")


def endless_body(content_type: bytes = b"text/html", chunk: bytes = b" " * CHUNK) -> Behaviour:
    """Headers, then a body without end (no length: it ends when the connection does)."""
    def script(request: Request) -> Iterator[Step]:
        yield status() + b"Content-Type: " + content_type + b"\r\nConnection: close\r\n\r\n"
        while True:
            yield chunk
    return script


def interim_forever() -> Behaviour:
    """Informational C{100 Continue} responses without end, never the real one."""
    def script(request: Request) -> Iterator[Step]:
        while True:
            yield b"HTTP/1.1 100 Continue\r\n\r\n" * 64
    return script


def silence() -> Behaviour:
    """Accept the connection and say nothing."""
    def script(request: Request) -> Iterator[Step]:
        while True:
            yield 3600.0
    return script


@implementer(IPushProducer)
class _Connection(Protocol):
    def __init__(self, server: HostileHTTPServer):
        self.server = server
        self.received = b""
        self.script: Iterator[Step] | None = None
        self.stats: Stats | None = None
        self.paused = False
        self.sending = False
        self.ended: str | None = None
        self.sent = 0
        self.started = 0.0
        self.pending = None  # a delayed call

    def connectionMade(self) -> None:
        self.server.connections.add(self)
        self.transport.registerProducer(self, True)
        self.started = self.server.reactor.seconds()

    def dataReceived(self, data: bytes) -> None:
        if self.script is not None:
            return
        self.received += data[:MAX_REQUEST - len(self.received)]
        end = self.received.find(b"\r\n\r\n")
        if end < 0:
            if len(self.received) >= MAX_REQUEST:
                self.transport.abortConnection()
            return
        lines = self.received[:end].split(b"\r\n")
        method, _, rest = lines[0].partition(b" ")
        path = rest.rpartition(b" ")[0] or rest
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        key = path.split(b"?", 1)[0].decode("latin-1")
        behaviour = self.server.routes.get(key)
        self.stats = self.server.stats.setdefault(key, Stats())
        self.stats.connections += 1
        self.stats.open += 1
        if behaviour is None:
            behaviour = response(b"not here", b"text/plain", 404)
        self.script = iter(behaviour(Request(method, path, headers)))
        self._send()

    def _send(self) -> None:
        self.pending = None
        if self.sending or self.ended is not None or self.script is None:
            return
        self.sending = True
        try:
            while not self.paused and self.ended is None:
                if self.server.reactor.seconds() - self.started > self.server.max_seconds:
                    self._end("max_seconds")
                    return
                step = next(self.script, None)
                if step is None:
                    self._end("done")
                    return
                if isinstance(step, float):
                    self.pending = self.server.reactor.callLater(step, self._send)
                    return
                step = step[:self.server.max_bytes - self.sent]
                self.sent += len(step)
                if self.stats is not None:
                    self.stats.sent += len(step)
                self.transport.write(step)
                if self.sent >= self.server.max_bytes:
                    self._end("max_bytes")
                    return
        finally:
            self.sending = False

    def _end(self, why: str) -> None:
        if self.ended is None:
            self.ended = why
            if self.pending is not None and self.pending.active():
                self.pending.cancel()
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    # IPushProducer: the client's socket is full, or has room again

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        if self.pending is None:
            self._send()

    def stopProducing(self) -> None:
        self._end("client closed")

    def connectionLost(self, reason=connectionDone) -> None:
        if self.ended is None:
            self.ended = "client closed"
        if self.pending is not None and self.pending.active():
            self.pending.cancel()
        self.server.connections.discard(self)
        if self.stats is not None:
            self.stats.open -= 1
            self.stats.endings.append(self.ended)
        if not self.server.connections:
            waiting, self.server.waiting = self.server.waiting, []
            for d in waiting:
                d.callback(None)


class HostileHTTPServer:
    """
    The server on 127.0.0.1 (a free port). C{routes} maps a path (without
    query) to a behaviour; unknown paths get a 404. C{stats} has a L{Stats}
    per path once a request came for it.
    """

    def __init__(self, reactor, routes: dict | None = None, max_bytes: int = 64 * 1024 * 1024,
                 max_seconds: float = 30.0):
        self.reactor = reactor
        self.routes: dict[str, Behaviour] = dict(routes or {})
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.stats: dict[str, Stats] = {}
        self.connections: set = set()
        self.waiting: list = []
        factory = Factory.forProtocol(lambda: _Connection(self))
        factory.noisy = False
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.number = self.port.getHost().port

    def route(self, path: str, behaviour: Behaviour) -> str:
        """Serve C{behaviour} at C{path}; returns its URL."""
        self.routes[path] = behaviour
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return "http://%s:%d%s" % (host, self.number, path)

    def closed(self) -> Deferred:
        """Fires once no connection is open."""
        if not self.connections:
            return succeed(None)
        d: Deferred = Deferred()
        self.waiting.append(d)
        return d

    async def stop(self) -> None:
        if self.port is None:
            return
        port, self.port = self.port, None
        await maybeDeferred(port.stopListening)
        for connection in list(self.connections):
            connection.transport.abortConnection()
        await self.closed()
        for _ in range(3):  # let the clients' ends notice
            await deferLater(self.reactor, 0, lambda: None)


# pathological pages: (name, body) pairs of about C{size} bytes, each ending
# with a "</title>" so that a parser working "up to each </title>" parses it all

def hostile_pages(size: int = 1024 * 1024) -> list:
    """Pages that made an HTML parser quadratic or worse, each about C{size} bytes."""
    def fill(unit: bytes, prefix: bytes = b"<html>", suffix: bytes = b"</title>") -> bytes:
        return prefix + unit * max(1, (size - len(prefix) - len(suffix)) // len(unit)) + suffix

    return [
        ("titles in comments", fill(b"<!--<title>x</title>", b"", b"")),
        ("unclosed comment", fill(b"<title>x</title>", b"<html><!--")),
        ("many <", fill(b"<")),
        ("unclosed tags", fill(b"<div ")),
        ("attribute run", fill(b"x=1 ", b"<html><a ")),
        ("unclosed quote", fill(b"a", b"<html><a x='")),
        ("end tags", fill(b"</title>", b"")),
        ("svg titles", fill(b"<title>x</title>", b"<svg>")),
        ("nested", fill(b"<div>")),
        ("tiny tags", fill(b"<a>")),
        ("character references", fill(b"&#", b"<title>")),
        ("entities", fill(b"&amp", b"<title>")),
        ("cdata", fill(b"<![CDATA[")),
        ("bang", fill(b"<!")),
        ("processing instructions", fill(b"<?")),
        ("script never closed", fill(b"</scrip", b"<script>")),
        ("quotes in tags", fill(b"<a b='' c=\"\">")),
        ("many titles", fill(b"<title></title>", b"")),
    ]


def unusual_charsets() -> list:
    """(charset, body) pairs declaring codecs that are not page encodings (or are costly)."""
    big = 256 * 1024
    return [
        ("utf-7", b"+" + b"A" * big),
        ("punycode", b"-" + b"99zz" * (big // 4)),
        ("idna", b"a." * (big // 2)),
        ("rot13", b"<title>x</title>"),
        ("hex", b"41" * 100),
        ("uu", b"begin 644 x\n"),
        ("zlib", b"x\x9c"),
        ("bz2", b"BZh9"),
        ("base64", b"QQ==" * 100),
        ("quopri", b"=41" * 100),
        ("unicode_escape", b"\\N{" * 1000),
        ("raw_unicode_escape", b"\\u0041" * 100),
        ("undefined", b"x"),
        ("mbcs", b"x"),
        ("charmap", b"x"),
        ("string_escape", b"x"),
    ]
