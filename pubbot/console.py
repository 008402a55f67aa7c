"""The console chat room: stdin lines are chat from 'you' in #console."""

from __future__ import annotations

from typing import Callable, Optional

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from zope.interface import implementer

from .interfaces import IChatService

log = Logger()

#: Longest console line read; longer lines are cut with a log line.
MAX_LINE = 16384


@implementer(IHalfCloseableProtocol)
class ConsoleProtocol(Protocol):
    """Splits stdin into lines (any bytes, any length) for the service."""

    def __init__(self, service: "ConsoleService"):
        self.service = service
        self._buffer = b""
        self._discarding = False

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_LINE:
                    log.warn("console line longer than {max} bytes cut", max=MAX_LINE)
                    if not self._discarding:
                        self._line(self._buffer[:MAX_LINE])
                    self._discarding = True
                    self._buffer = b""
                return
            line, self._buffer = self._buffer[:end], self._buffer[end + 1:]
            if self._discarding:
                self._discarding = False
                continue
            self._line(line[:MAX_LINE])

    def _line(self, raw: bytes) -> None:
        text = raw.rstrip(b"\r").decode("utf-8", "replace").replace("\0", "")
        self.service.line_received(text)

    def readConnectionLost(self) -> None:
        if self._buffer and not self._discarding:
            self._line(self._buffer)
        self._buffer = b""
        self.service.input_ended()

    def writeConnectionLost(self) -> None:
        pass

    def connectionLost(self, reason=None) -> None:
        self.service.input_ended()


@implementer(IChatService)
class ConsoleService(Service):
    """
    A chat room on a terminal. Replies print as C{<pubbot> text}, notices as
    C{-pubbot- text}, actions as C{* pubbot text}; text for another target is
    shown with it (C{[#other] <pubbot> text}). End of input waits for the
    replies under way, then calls C{on_end} (stopping the reactor).
    """

    network = "console"
    protocol = "console"
    channel = "#console"
    user = "you"

    def __init__(self, bot, make_stdio: Callable, on_end: Callable[[], None]):
        self.name = "console"
        self.bot = bot
        self.nick = bot.settings.irc.nick
        self.command_prefix = bot.settings.irc.command_prefix
        self._make_stdio = make_stdio
        self._on_end = on_end
        self._transport = None
        self._pending: set[Deferred] = set()
        self._ended = False
        self.input_paused = False

    def startService(self) -> None:
        super().startService()
        self.bot.register_chat(self)
        self._proto = ConsoleProtocol(self)
        self._transport = self._make_stdio(self._proto)
        if self.input_paused:
            self._transport.pauseProducing()

    def pause_input(self) -> None:
        """Stop reading what is typed until L{resume_input} (see Bot.hold_input)."""
        self.input_paused = True
        if self._transport is not None:
            self._transport.pauseProducing()

    def resume_input(self) -> None:
        self.input_paused = False
        if self._transport is not None:
            self._transport.resumeProducing()

    def stopService(self):
        super().stopService()
        self.bot.unregister_chat(self)

    def line_received(self, text: str) -> None:
        if not text.strip():
            return
        d = self.bot.chat_line(self.network, self.channel, self.user, text,
                               hostmask="you!you@console", account=None)
        self._pending.add(d)
        d.addErrback(lambda f: log.failure("console line failed", f))
        d.addBoth(lambda r: self._pending.discard(d))

    def input_ended(self) -> None:
        if self._ended:
            return
        self._ended = True
        DeferredList(list(self._pending)).addCallback(lambda _: self._on_end())

    # IChatService

    def send(self, target: str, text: str, kind: str = "say", person: Optional[str] = None) -> None:
        fmt = {"notice": "-%s- %s", "action": "* %s %s"}.get(kind, "<%s> %s")
        where = "" if target == self.channel else "[%s] " % (target,)
        out = []
        for line in text.split("\n"):
            line = "".join(c for c in line if c >= " " or c == "\t")
            if line:
                out.append(where + fmt % (self.nick, line))
        if out and self._transport is not None:
            self._transport.write(("\n".join(out) + "\n").encode("utf-8"))

    def roster(self, channel: str) -> list:
        return [self.user, self.nick] if channel == self.channel else []


def start_stdio(reactor) -> Callable:
    """A factory connecting a protocol to this process's stdin/stdout."""
    from twisted.internet.stdio import StandardIO

    def make(protocol):
        return StandardIO(protocol, reactor=reactor)

    return make


def divert_log_file(path: str) -> Optional[object]:
    """
    Point twistd's stdout logging at C{path} so the room stays readable: it
    opens its log observer on C{sys.stdout} after makeService returns, while
    the room writes to file descriptor 1 directly.
    """
    import sys
    handle = open(path, "a", encoding="utf-8")
    sys.stdout = handle
    return handle
