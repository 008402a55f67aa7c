"""
A scriptable hostile IRC server for tests and benchmarks: real TCP on a free
loopback port, one L{Script} deciding what each connection gets.

The default L{Script} is a small, honest server: it answers C{CAP LS} with
nothing, registers the client after NICK and USER (001, 005, end of MOTD),
echoes JOINs with a NAMES reply, answers PING and counts every line the
client sends. Hostile scripts override one hook or play I{floods} after the
welcome: iterators of steps, C{bytes} to send or a C{float} of seconds to
wait (see L{FLOODS}: huge and malformed lines, bad UTF-8, JOINs for
channels the client never joined, a BATCH that never ends, 005 floods, a
line of 1 MB without a newline, lines without CR LF, CTCP requests,
invites, kicks and join errors...).

Sending follows the client's pace (a push producer: nothing is written
while its socket is full) and everything is bounded whatever a script
yields: a flood stops after C{max_bytes} or C{max_seconds}, input lines are
cut at 64 KiB, the counts kept are capped. So an "endless" script never
outlives its test.

The server also measures the client: it sends C{PING} every C{ping_every}
seconds after the welcome and records how long each C{PONG} took
(C{server.pong_delays}): a client whose reactor is stalled answers late.
Scripts that must not answer or be answered (L{NeverPong}) say so.

::

    server = HostileIRCServer(reactor, Battery(["huge_lines", "bad_utf8"]))
    self.addCleanup(server.stop)
    ...start a bot on server.endpoint...
    peer = await server.next_peer()
    await peer.welcomed
    await peer.played              # every flood of the battery was sent
    await peer.ask("!ping", "pong")   # still answering
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import deferLater
from zope.interface import implementer

Step = bytes | float
Flood = Callable[["Peer"], Iterator[Step]]

SERVER = b"hostile.test"
#: Longest line from the client kept (the rest of it is dropped).
MAX_INPUT_LINE = 64 * 1024
#: Most lines from the client kept in C{Peer.lines} (all are counted).
MAX_KEPT = 20000
CHUNK = 16 * 1024


def parse(line: bytes) -> tuple[str, list[str]]:
    """A client's line -> (COMMAND, params); forgiving (it is the client under test)."""
    text = line.decode("utf-8", "replace")
    if text.startswith("@"):
        text = text.partition(" ")[2]
    if text.startswith(":"):
        text = text.partition(" ")[2]
    head, colon, trailing = text.partition(" :")
    words = head.split()
    if not words:
        return "", []
    params = words[1:] + ([trailing] if colon else [])
    return words[0].upper(), params


class Script:
    """What a connection gets: an honest server unless a hook says otherwise."""

    #: Answer the client's PINGs.
    answer_pings = True
    #: Send our own PINGs after the welcome and time the PONGs.
    measure = True

    def connected(self, peer: Peer) -> None:
        """The client connected."""

    def line(self, peer: Peer, command: str, params: list[str]) -> None:
        """One line from the client (after it was counted)."""
        handler = getattr(self, "on_" + command.lower(), None) if command.isalpha() else None
        if handler is not None:
            handler(peer, params)

    def welcome(self, peer: Peer) -> None:
        """Registration is complete (001 sent): play L{floods}."""
        floods = list(self.floods(peer))
        if floods:
            peer.play(floods)
        else:
            peer.played.callback(None)

    def floods(self, peer: Peer) -> Iterable[Flood]:
        """What to send after the welcome, in order."""
        return ()

    # the honest server

    def on_cap(self, peer: Peer, params: list[str]) -> None:
        sub = params[0].upper() if params else ""
        if sub == "LS":
            peer.cap_negotiating = True
            peer.send(b":%s CAP * LS :" % SERVER)
        elif sub == "REQ":
            peer.send(b":%s CAP * NAK :%s" % (SERVER, (params[-1] if len(params) > 1 else "").encode()))
        elif sub == "END":
            peer.cap_negotiating = False
            peer.maybe_register()

    def on_nick(self, peer: Peer, params: list[str]) -> None:
        if not params:
            return
        old = peer.nick
        peer.nick = params[0]
        if peer.registered:
            peer.send(b":%s!%s@bot.test NICK :%s" % (old.encode(), peer.user.encode(), peer.nick.encode()))
        else:
            peer.maybe_register()

    def on_user(self, peer: Peer, params: list[str]) -> None:
        peer.user = params[0] if params else "user"
        peer.maybe_register()

    def on_ping(self, peer: Peer, params: list[str]) -> None:
        if self.answer_pings:
            peer.send(b":%s PONG %s :%s" % (SERVER, SERVER, (params[-1] if params else "").encode()))

    def on_pong(self, peer: Peer, params: list[str]) -> None:
        peer.ponged(params[-1] if params else "")

    def on_join(self, peer: Peer, params: list[str]) -> None:
        if not params:
            return
        for channel in params[0].split(","):
            peer.channels.add(channel)
            me = peer.mask()
            peer.send(b":%s JOIN %s" % (me, channel.encode()))
            peer.send(b":%s 353 %s = %s :@%s alice" % (SERVER, peer.nick.encode(), channel.encode(),
                                                     peer.nick.encode()))
            peer.send(b":%s 366 %s %s :End of NAMES" % (SERVER, peer.nick.encode(), channel.encode()))

    def on_quit(self, peer: Peer, params: list[str]) -> None:
        peer.transport.loseConnection()

    def registration(self, peer: Peer) -> list[bytes]:
        nick = peer.nick.encode()
        return [b":%s 001 %s :Welcome %s" % (SERVER, nick, peer.mask()),
                b":%s 005 %s CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=ascii NICKLEN=30 :are supported"
                % (SERVER, nick),
                b":%s 376 %s :End of MOTD" % (SERVER, nick)]


@implementer(IPushProducer)
class Peer(Protocol):
    """One client connection."""

    def __init__(self, server: HostileIRCServer):
        self.server = server
        self.reactor = server.reactor
        self.script = server.script
        self._buffer = b""
        self._skipping = False
        self.nick = "*"
        self.user = ""
        self.cap_negotiating = False
        self.registered = False
        self.channels: set[str] = set()
        #: Lines from the client (the first L{MAX_KEPT}) and counts by command.
        self.lines: list[tuple[str, list[str]]] = []
        self.counts: Counter = Counter()
        self.bytes_in = 0
        self.sent = 0
        self.welcomed: Deferred = Deferred()
        self.played: Deferred = Deferred()
        self.lost: Deferred = Deferred()
        #: The client closed the connection (we did not).
        self.closed_by_client = False
        self._we_closed = False
        self._waiters: list[tuple[Callable[[str, list[str]], bool], Deferred]] = []
        self._floods: list[Flood] = []
        self._steps: Iterator[Step] | None = None
        self._flood_started = 0.0
        self._flood_sent = 0
        self._paused = False
        self._pumping = False
        self._pending = None
        self._ping_call = None
        self._pings: dict[str, float] = {}
        self._ping_count = 0

    # connection

    def connectionMade(self) -> None:
        self.server.peers.append(self)
        self.server.open.add(self)
        self.transport.registerProducer(self, True)
        self.script.connected(self)
        waiting, self.server.waiting_peer = self.server.waiting_peer, []
        for d in waiting:
            d.callback(self)

    def connectionLost(self, reason=connectionDone) -> None:
        self.closed_by_client = not self._we_closed
        for call in (self._pending, self._ping_call):
            if call is not None and call.active():
                call.cancel()
        self._pending = self._ping_call = None
        self._steps = None
        self.server.open.discard(self)
        for d in (self.welcomed, self.played):
            if not d.called:
                d.errback(ConnectionError("the client disconnected"))
                d.addErrback(lambda f: None)  # nobody may be waiting
        self.lost.callback(None)
        waiting, self.server.waiting_closed = self.server.waiting_closed, []
        if not self.server.open:
            for d in waiting:
                d.callback(None)
        else:
            self.server.waiting_closed = waiting

    def close(self) -> None:
        self._we_closed = True
        self.transport.loseConnection()

    def abort(self) -> None:
        self._we_closed = True
        self.transport.abortConnection()

    # output

    def send(self, line: bytes) -> None:
        """One line (CR LF added), written at once (not paced)."""
        self.raw(line + b"\r\n")

    def raw(self, data: bytes) -> None:
        self.sent += len(data)
        self.transport.write(data)

    def mask(self) -> bytes:
        return b"%s!%s@bot.test" % (self.nick.encode(), (self.user or "user").encode())

    # input

    def dataReceived(self, data: bytes) -> None:
        self.bytes_in += len(data)
        data = self._buffer + data
        lines = data.split(b"\n")
        self._buffer = lines.pop()
        if len(self._buffer) > MAX_INPUT_LINE:
            self._buffer = b""
            self._skipping = True
        for raw in lines:
            if self._skipping:
                self._skipping = False
                continue
            command, params = parse(raw.rstrip(b"\r")[:MAX_INPUT_LINE])
            if not command:
                continue
            self.counts[command] += 1
            if len(self.lines) < MAX_KEPT:
                self.lines.append((command, params))
            self.script.line(self, command, params)
            for entry in list(self._waiters):
                predicate, d = entry
                if predicate(command, params):
                    self._waiters.remove(entry)
                    d.callback((command, params))
            if self.transport is None or not self.transport.connected:
                return

    def maybe_register(self) -> None:
        if self.registered or self.cap_negotiating or self.nick == "*" or not self.user:
            return
        self.registered = True
        for line in self.script.registration(self):
            self.send(line)
        if self.script.measure and self.server.ping_every:
            self._ping_call = self.reactor.callLater(self.server.ping_every, self._ping)
        self.welcomed.callback(self)
        self.script.welcome(self)

    def heard(self, predicate: Callable[[str, list[str]], bool], timeout: float = 30.0) -> Deferred:
        """Fires with the first line from now on that C{predicate(command, params)} accepts."""
        d: Deferred = Deferred()
        entry = (predicate, d)
        self._waiters.append(entry)

        def expire() -> None:
            if entry in self._waiters:
                self._waiters.remove(entry)
                d.errback(TimeoutError("no such line from the client in %g s" % (timeout,)))
        call = self.reactor.callLater(timeout, expire)
        d.addBoth(lambda r: (call.cancel() if call.active() else None, r)[1])
        return d

    async def ask(self, text: str, answer: str, channel: str = "#pubbot", nick: str = "alice",
                  timeout: float = 30.0) -> tuple[str, list[str]]:
        """C{nick} says C{text} in C{channel}; the client's PRIVMSG or NOTICE holding C{answer}."""
        d = self.heard(lambda c, p: c in ("PRIVMSG", "NOTICE") and bool(p) and answer in p[-1], timeout)
        self.send(b":%s!%s@people.test PRIVMSG %s :%s" % (nick.encode(), nick.encode(), channel.encode(),
                                                       text.encode()))
        return await d

    # liveness: our PINGs, timed

    def _ping(self) -> None:
        self._ping_call = None
        if self.transport is None or not self.transport.connected:
            return
        self._ping_count += 1
        token = "t%d" % (self._ping_count,)
        if len(self._pings) < 100:
            self._pings[token] = self.reactor.seconds()
        self.send(b"PING :" + token.encode())
        self._ping_call = self.reactor.callLater(self.server.ping_every, self._ping)

    def ponged(self, token: str) -> None:
        sent = self._pings.pop(token, None)
        if sent is not None:
            self.server.pong_delays.append(self.reactor.seconds() - sent)

    # floods, paced by the client's reading

    def play(self, floods: Iterable[Flood]) -> Deferred:
        """Send C{floods} in order (after any still playing); fires once all were sent."""
        if self.played.called:
            self.played = Deferred()
        played = self.played
        self._floods += list(floods)
        if self._steps is None:
            self._next_flood()
        return played

    def _next_flood(self) -> None:
        if not self._floods:
            self._steps = None
            if not self.played.called and self.registered:
                self.played.callback(None)
            return
        flood = self._floods.pop(0)
        self._steps = iter(flood(self))
        self._flood_started = self.reactor.seconds()
        self._flood_sent = 0
        self._pump()

    def _pump(self) -> None:
        self._pending = None
        if self._pumping:
            return
        self._pumping = True
        try:
            server = self.server
            while not self._paused and self._steps is not None:
                if self.transport is None or not self.transport.connected:
                    return
                step = None
                if self.reactor.seconds() - self._flood_started <= server.max_seconds \
                        and self._flood_sent < server.max_bytes:
                    step = next(self._steps, None)
                if step is None:
                    self._next_flood()
                    continue
                if isinstance(step, float):
                    self._pending = self.reactor.callLater(step, self._pump)
                    return
                step = step[:server.max_bytes - self._flood_sent]
                self._flood_sent += len(step)
                self.raw(step)
        finally:
            self._pumping = False

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._pending is None:
            self._pump()

    def stopProducing(self) -> None:
        self._steps = None


class HostileIRCServer:
    """
    The server on 127.0.0.1 (a free port), giving each connection C{script}
    (assign C{server.script} to change what the next connection gets).
    C{peers} lists every connection so far, C{open} those still open.
    """

    def __init__(self, reactor, script: Script | None = None, max_bytes: int = 64 * 1024 * 1024,
                 max_seconds: float = 20.0, ping_every: float = 0.25):
        self.reactor = reactor
        self.script = script or Script()
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.ping_every = ping_every
        self.peers: list[Peer] = []
        self.open: set[Peer] = set()
        self.pong_delays: list[float] = []
        self.waiting_peer: list[Deferred] = []
        self.waiting_closed: list[Deferred] = []
        factory = Factory.forProtocol(lambda: Peer(self))
        factory.noisy = False
        self.port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.number = self.port.getHost().port

    @property
    def endpoint(self) -> str:
        """The client endpoint string for pubbot's C{[irc] server}."""
        return "tcp:127.0.0.1:%d" % (self.number,)

    def peer(self, index: int) -> Deferred:
        """Fires with the C{index}th connection (0 is the first), once it is made."""
        if index < len(self.peers):
            return succeed(self.peers[index])
        d: Deferred = Deferred()
        self.waiting_peer.append(d)
        return d.addCallback(lambda _: self.peer(index))

    def next_peer(self) -> Deferred:
        """Fires with the next connection made from now."""
        return self.peer(len(self.peers))

    @property
    def worst_pong(self) -> float:
        return max(self.pong_delays, default=0.0)

    def closed(self) -> Deferred:
        if not self.open:
            return succeed(None)
        d: Deferred = Deferred()
        self.waiting_closed.append(d)
        return d

    async def stop(self) -> None:
        if self.port is None:
            return
        port, self.port = self.port, None
        await maybeDeferred(port.stopListening)
        for peer in list(self.open):
            peer.abort()
        await self.closed()
        for _ in range(3):
            await deferLater(self.reactor, 0, lambda: None)


# floods: each a function of the peer returning its steps

def _lines(lines: Iterable[bytes]) -> Iterator[bytes]:
    """Lines (CR LF added) grouped into chunks of about L{CHUNK} bytes."""
    batch: list[bytes] = []
    size = 0
    for line in lines:
        batch.append(line + b"\r\n")
        size += len(line) + 2
        if size >= CHUNK:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


def huge_lines(count: int = 200) -> Flood:
    """Lines over every limit (tags, body, 64 KiB) and malformed ones, with a good line among them."""
    def flood(peer: Peer) -> Iterator[Step]:
        nick = peer.nick.encode()
        shapes = [
            b":a!a@h PRIVMSG #pubbot :" + b"x" * 600,
            b"@" + b"k=" + b"v" * 9000 + b" :a!a@h PRIVMSG #pubbot :hi",
            b"@" + b";".join(b"t%d=%d" % (i, i) for i in range(2000)) + b" :a!a@h PRIVMSG #pubbot :x",
            b":a!a@h PRIVMSG #pubbot :" + b"y" * 70000,
            b":", b"@", b"@ ", b": ", b":a", b"::::", b"@=;=;= :a PRIVMSG", b"PRIVMSG", b"PRIVMSG #pubbot",
            b":a!a@h PRIVMSG", b":a!a@h JOIN", b":a!a@h KICK #pubbot", b":a!a@h MODE #pubbot +oooo",
            b":srv 353 " + nick, b":srv 005 " + nick, b"CAP", b":srv CAP " + nick + b" ACK",
            b":a!a@h PRIVMSG #pubbot " + b" ".join(b"p%d" % i for i in range(400)),
            b":a!a@h PRIVMSG #pubbot :\x00nul inside", b"\x00\x00\x00", b" " * 400, b"\t" * 400,
            b":a!a@h NICK", b":a!a@h QUIT", b":srv 001", b"AUTHENTICATE " + b"A" * 4000,
            b":srv 354 " + nick + b" 152", b":srv 352 " + nick, b":a!a@h CHGHOST", b"BATCH",
        ]
        for _i in range(count):
            yield from _lines(shapes)
    return flood


def bad_utf8(count: int = 2000) -> Flood:
    """Chat in bytes that are not UTF-8: Latin-1, overlong forms, surrogates, truncated sequences."""
    samples = [b"caf\xe9", b"\xc0\xaf\xc0\xaf", b"\xed\xa0\x80\xed\xbf\xbf", b"\xe2\x82", b"\xff\xfe\xfd",
               b"\xf8\x88\x80\x80\x80", b"ok \xf0\x9f\x98", b"\x80" * 300, b"\xc3\x28" * 100]

    def flood(peer: Peer) -> Iterator[Step]:
        def lines() -> Iterator[bytes]:
            for i in range(count):
                text = samples[i % len(samples)]
                who = b"n\xe9ck%d" % (i % 7,) if i % 3 == 0 else b"bob"
                yield b":" + who + b"!u@h PRIVMSG #pubbot :" + text
                yield b":bob!u@h PRIVMSG #pub\xffbot :" + text
        yield from _lines(lines())
    return flood


def foreign_joins(count: int = 20000, own: int = 3000) -> Flood:
    """JOINs by others for channels the client is not in, and C{own} forced joins of the client itself."""
    def flood(peer: Peer) -> Iterator[Step]:
        mask = peer.mask()

        def lines() -> Iterator[bytes]:
            for i in range(count):
                yield b":joiner%d!j@h JOIN #never%d" % (i, i)
                yield b":srv 353 %s = #never%d :a%d b%d c%d" % (peer.nick.encode(), i, i, i, i)
            for i in range(own):
                yield b":" + mask + b" JOIN #forced%d" % (i,)
        yield from _lines(lines())
    return flood


def endless_batch(count: int = 50000) -> Flood:
    """BATCH starts that never end (distinct references), and chat inside them."""
    def flood(peer: Peer) -> Iterator[Step]:
        def lines() -> Iterator[bytes]:
            for i in range(count):
                yield b":srv BATCH +r%d netjoin" % (i,)
                yield b"@batch=r%d :m%d!u@h PRIVMSG #pubbot :inside a batch" % (i, i % 50)
        yield from _lines(lines())
    return flood


def isupport_flood(count: int = 20000) -> Flood:
    """005 lines without end: many distinct tokens, long values, casemapping flips."""
    def flood(peer: Peer) -> Iterator[Step]:
        nick = peer.nick.encode()

        def lines() -> Iterator[bytes]:
            for i in range(count):
                tokens = b" ".join(b"TOK%d_%d=%s" % (i, j, b"v" * 50) for j in range(12))
                mapping = (b"rfc1459", b"ascii", b"strict-rfc1459")[i % 3]
                yield b":srv 005 %s %s CASEMAPPING=%s :are supported" % (nick, tokens, mapping)
        yield from _lines(lines())
    return flood


def megaline(size: int = 1024 * 1024) -> Flood:
    """One line of C{size} bytes without a newline, then (after a pause) an ordinary line ends it."""
    def flood(peer: Peer) -> Iterator[Step]:
        yield b":a!a@h PRIVMSG #pubbot :"
        left = size
        while left > 0:
            yield b"m" * min(CHUNK, left)
            left -= CHUNK
        yield 0.2
        yield b"\r\n"
    return flood


def no_crlf(count: int = 2000) -> Flood:
    """Lines ended by LF alone, then by CR alone (never a line end: one long line), then CR LF again."""
    def flood(peer: Peer) -> Iterator[Step]:
        yield b"".join(b":a!a@h PRIVMSG #pubbot :lf only %d\n" % (i,) for i in range(count))
        yield b"".join(b":a!a@h PRIVMSG #pubbot :cr only %d\r" % (i,) for i in range(count))
        yield b"\r\n"
    return flood


def cap_flood(count: int = 20000) -> Flood:
    """CAP NEW/DEL/ACK/LS lines for capabilities in numbers no server has."""
    def flood(peer: Peer) -> Iterator[Step]:
        nick = peer.nick.encode()

        def lines() -> Iterator[bytes]:
            for i in range(count):
                names = b" ".join(b"cap%d-%d=%s" % (i, j, b"x" * 30) for j in range(10))
                yield b":srv CAP %s NEW :%s" % (nick, names)
                yield b":srv CAP %s ACK :%s" % (nick, names)
                yield b":srv CAP %s LS * :%s" % (nick, names)
        yield from _lines(lines())
    return flood


def ctcp_flood(count: int = 20000) -> Flood:
    """CTCP requests from many senders, to the bot and the channel: known, unknown, unterminated, huge."""
    def flood(peer: Peer) -> Iterator[Step]:
        nick = peer.nick.encode()
        shapes = (b"VERSION", b"PING %d", b"TIME", b"CLIENTINFO", b"DCC SEND x 1 2 3", b"PING " + b"9" * 400,
                  b"version", b"", b"\x01\x01", b"FINGER")

        def lines() -> Iterator[bytes]:
            for i in range(count):
                body = shapes[i % len(shapes)]
                if b"%d" in body:
                    body = body % (i,)
                end = b"" if i % 7 == 0 else b"\x01"
                target = nick if i % 3 else b"#pubbot"
                yield b":c%d!u@h PRIVMSG %s :\x01%s%s" % (i % 500, target, body, end)
        yield from _lines(lines())
    return flood


def server_chatter(count: int = 20000) -> Flood:
    """
    What a server may say about the client as often as it likes: invites,
    kicks from channels it never wanted, join errors, withdrawn
    capabilities, FAIL replies, malformed STS policies offered.
    """
    def flood(peer: Peer) -> Iterator[Step]:
        nick = peer.nick.encode()
        shapes = (b":u%d!u@h INVITE " + nick + b" #inv%d", b":op%d!o@h KICK #kick%d " + nick + b" :out",
                  b":srv 474 " + nick + b" #ban%d%d :Cannot join channel (+b)",
                  b":srv CAP " + nick + b" DEL :cap%d-%d", b":srv FAIL JOIN UNKNOWN_ERROR #x%d :reason %d",
                  b":srv CAP " + nick + b" NEW :sts=port=x%d,duration=%d")
        yield from _lines(shapes[i % len(shapes)] % (i, i) for i in range(count))
    return flood


def ping_flood(count: int = 200000) -> Flood:
    """PINGs without end, while not reading the answers (the client's PONGs must not pile up in it)."""
    def flood(peer: Peer) -> Iterator[Step]:
        peer.transport.pauseProducing()  # stop reading the client
        try:
            yield from _lines(b"PING :%s%d" % (b"p" * 200, i) for i in range(count))
        finally:
            if peer.transport is not None:
                peer.transport.resumeProducing()
    return flood


def pause(seconds: float) -> Flood:
    def flood(peer: Peer) -> Iterator[Step]:
        yield seconds
    return flood


#: The floods by name (a battery is a list of them).
FLOODS: dict[str, Flood] = {
    "huge_lines": huge_lines(),
    "bad_utf8": bad_utf8(),
    "foreign_joins": foreign_joins(),
    "endless_batch": endless_batch(),
    "isupport_flood": isupport_flood(),
    "megaline": megaline(),
    "no_crlf": no_crlf(),
    "cap_flood": cap_flood(),
    "ctcp_flood": ctcp_flood(),
    "server_chatter": server_chatter(),
}


# scripts

class Battery(Script):
    """An honest registration, then the named floods (or flood functions) in order."""

    def __init__(self, floods: Iterable[str | Flood]):
        self._floods = [FLOODS[f] if isinstance(f, str) else f for f in floods]

    def floods(self, peer: Peer) -> Iterable[Flood]:
        return self._floods


class NickAlwaysTaken(Script):
    """Every NICK is answered with 433: the client never registers."""

    def on_nick(self, peer: Peer, params: list[str]) -> None:
        nick = (params[0] if params else "").encode()
        peer.send(b":%s 433 * %s :Nickname is already in use" % (SERVER, nick))


class EndlessCapLs(Script):
    """C{CAP LS} is answered by continuation lines (C{CAP * LS *}) without end."""

    def on_cap(self, peer: Peer, params: list[str]) -> None:
        if params and params[0].upper() == "LS":
            peer.cap_negotiating = True

            def flood(peer: Peer) -> Iterator[Step]:
                i = 0
                while True:
                    i += 1
                    yield b"".join(b":%s CAP * LS * :c%d-%d=%s\r\n" % (SERVER, i, j, b"v" * 40)
                                   for j in range(100))
            peer.play([flood])
        else:
            super().on_cap(peer, params)


class ErrorWithoutClose(Script):
    """After the welcome, C{ERROR}, and the socket is kept open (the client must close it)."""

    def welcome(self, peer: Peer) -> None:
        peer.send(b"ERROR :Closing Link: hostile (but not closing)")
        peer.played.callback(None)


class NeverPong(Script):
    """Registers the client, then ignores its PINGs (and sends none): a server that went silent."""

    answer_pings = False
    measure = False
