"""
Before a new IRC owner connects: is the bot's nick still on the server?

A former owner that froze (SIGSTOP, a paused VM) keeps its TCP connection,
so the server still shows the bot although its lease is gone. The new
owner asks the server first, without registering (so it is never seen as
a user): it sends C{NICK <nick>} and a C{PING}; a 433/436 reply before the
answer to the PING means the nick is taken. It waits while it is, up to
C{[redis] takeover_wait} seconds (the frozen process lets go when it wakes,
or the server times it out), so two bots are never on the network at once.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import deferLater
from twisted.logger import Logger

log = Logger()

#: Bytes of server chatter a probe reads at most.
MAX_READ = 65536


class NickProbe(Protocol):
    """
    Fires C{result} once the connection is closed: True (nick in use),
    False (free) or None (no answer).
    """

    transport: ITCPTransport

    def __init__(self, nick: str, result: Deferred, clock):
        self.nick = nick
        self.result = result
        self.clock = clock
        self.buffer = b""
        self.read = 0
        self.answer: bool | None = None
        self.closing = None

    def connectionMade(self) -> None:
        self.transport.write(b"NICK %s\r\nPING :pubbot-probe\r\n" % self.nick.encode("utf-8"))

    def dataReceived(self, data: bytes) -> None:
        self.read += len(data)
        self.buffer += data
        while b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            self.line(line.rstrip(b"\r").decode("utf-8", "replace"))
            if self.answer is not None:
                return
        if self.read > MAX_READ:
            self.finish(None)

    def line(self, line: str) -> None:
        words = line.split()
        if line.startswith(":"):
            words = words[1:]
        if not words:
            return
        command = words[0].upper()
        if command in ("433", "436"):
            self.finish(True)
        elif command in ("PONG", "451", "421") or (command == "ERROR"):
            # The server answered what came after NICK without objecting to it.
            self.finish(False if command != "ERROR" else None)
        elif command == "PING" and len(words) > 1:
            self.transport.write(b"PONG %s\r\n" % words[1].encode("utf-8"))

    def finish(self, value: bool | None) -> None:
        # An unregistered connection still holds the nick it asked for: say
        # QUIT and let the server close, so the nick is free when we answer.
        if self.answer is None:
            self.answer = value
            if self.transport is not None:
                self.transport.write(b"QUIT :probe\r\n")
                self.closing = self.clock.callLater(2.0, self.transport.abortConnection)

    def connectionLost(self, reason=None) -> None:
        if self.closing is not None and self.closing.active():
            self.closing.cancel()
        if not self.result.called:
            self.result.callback(self.answer)


async def nick_in_use(endpoint, nick: str, reactor, timeout: float = 10.0) -> bool | None:
    """True if C{nick} is on the server behind C{endpoint}, False if free, None if unknown."""
    result: Deferred = Deferred()
    factory = Factory.forProtocol(lambda: NickProbe(nick, result, reactor))
    factory.noisy = False
    connecting = endpoint.connect(factory)
    def unknown(_failure) -> None:
        if not result.called:
            result.callback(None)

    connecting.addErrback(unknown)
    result.addTimeout(timeout, reactor, onTimeoutCancel=lambda *_: None)
    try:
        return await result
    finally:
        if not connecting.called:
            connecting.cancel()
        else:
            connecting.addCallback(_drop).addErrback(lambda f: None)


def _drop(protocol) -> None:
    if protocol is not None and protocol.transport is not None and protocol.transport.connected:
        protocol.transport.abortConnection()


async def wait_for_nick(endpoint, nick: str, reactor, limit: float, still_wanted,
                        every: float = 2.0, network: str = "irc") -> None:
    """
    Wait while C{nick} is in use on the server of C{network}, at most
    C{limit} seconds, or until C{still_wanted()} turns false (the lease was lost).
    """
    if limit <= 0:
        return
    started = reactor.seconds()
    said = False
    while still_wanted():
        in_use = await nick_in_use(endpoint, nick, reactor)
        if not in_use:
            if said:
                log.info("the nick {nick} is free now on {network}; connecting", nick=nick, network=network)
            return
        waited = reactor.seconds() - started
        if waited >= limit:
            log.warn("the nick {nick} is still in use on {network} after {seconds:.0f}s; connecting anyway",
                     nick=nick, network=network, seconds=waited)
            return
        if not said:
            said = True
            log.warn("the nick {nick} is still on {network} (a frozen former owner?); "
                     "waiting up to {limit:.0f}s for it to go before connecting", nick=nick, network=network,
                     limit=limit)
        await deferLater(reactor, every, lambda: None)
