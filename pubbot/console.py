"""
The console chat room: stdin lines are chat from 'you' in #console.

On a terminal the room opens with a banner (L{banner}): the version, who
you are to the bot and whether that is an admin, where the dashboard is or
why it is off, two things to try and how to quit. Piped input gets no
banner, so its output is only the bot's replies.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.interfaces import IHalfCloseableProtocol
from twisted.internet.protocol import Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .core.interfaces import IChatService, IChatStatus, IInputFlow
from .core.message import Message
from .util.people import is_admin
from .version import __version__

log = Logger()

#: Longest console line read; longer lines are cut with a log line.
MAX_LINE = 16384


@implementer(IHalfCloseableProtocol)
class ConsoleProtocol(Protocol):
    """Splits stdin into lines (any bytes, any length) for the service."""

    def __init__(self, service: ConsoleService):
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


@implementer(IChatService, IInputFlow, IChatStatus)
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
    hostmask = "you!you@console"

    def __init__(self, bot, make_stdio: Callable, on_end: Callable[[], None],
                 show_banner: bool | None = None):
        self.name = "console"
        self.bot = bot
        self.nick = bot.settings.irc.nick
        self.command_prefix = bot.settings.irc.command_prefix
        self._make_stdio = make_stdio
        self._on_end = on_end
        self._transport: Any = None
        self._pending: set[Deferred] = set()
        self._ended = False
        self.input_paused = False
        #: Whether to print the banner: by default when stdin is a terminal.
        self.show_banner = _stdin_is_a_terminal() if show_banner is None else show_banner

    def startService(self) -> None:
        super().startService()
        self.bot.register_chat(self)
        self._proto = ConsoleProtocol(self)
        self._transport = self._make_stdio(self._proto)
        if self.input_paused:
            self._transport.pauseProducing()
        if self.show_banner:
            self.dashboard().addCallback(self._write_banner)

    def dashboard(self) -> Deferred:
        """
        Fires with the dashboard's line of the banner: its address, or why it
        is off. The web service (a sibling named "web") says whether it could
        listen once it has tried.
        """
        endpoint = self.bot.settings.web.endpoint
        if not endpoint:
            return succeed("The dashboard is off: [web] endpoint is empty in the config.")
        from .web.service import WebService

        web = _sibling(self, "web")
        if not isinstance(web, WebService):
            return succeed("The dashboard is off: no web service runs with this room.")
        token = " (with the [web] token)" if self.bot.settings.web.token else ""

        def described(port) -> str:
            if port is None or isinstance(port, Failure):
                return ("The dashboard is off: it could not listen on %s (is the port taken? %s says why)."
                        % (endpoint, self.bot.settings.console.log_file or "the log"))
            host = port.getHost()
            address = getattr(host, "host", None)
            if address is None:
                return "The dashboard is at %s%s." % (endpoint, token)
            if address in ("0.0.0.0", "::"):
                address = "localhost"  # every interface: this machine's browser finds it there
            elif ":" in address:
                address = "[%s]" % (address,)
            return "The dashboard is at http://%s:%s/%s." % (address, host.port, token)

        result: Deferred = Deferred()

        def tried(port):
            result.callback(described(port))
            return port

        web.listening.addBoth(tried)
        return result

    def _write_banner(self, dashboard: str) -> None:
        if self._transport is not None:
            lines = banner(self.bot, self.hostmask, self.user, dashboard)
            self._transport.write(("".join("-!- %s\n" % (line,) for line in lines)).encode("utf-8"))

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
                               hostmask=self.hostmask, account=None)
        self._pending.add(d)
        d.addErrback(lambda f: log.failure("console line failed", f))
        d.addBoth(lambda r: self._pending.discard(d))

    def input_ended(self) -> None:
        if self._ended:
            return
        self._ended = True
        DeferredList(list(self._pending)).addCallback(lambda _: self._on_end())

    # IChatService

    def send(self, target: str, text: str, kind: str = "say", person: str | None = None) -> None:
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

    # IChatStatus: one room, always there while the service runs

    server_network = None
    lines_in = lines_out = reconnects = lag = None

    @property
    def connected(self) -> bool:
        return bool(self.running)

    def channels(self) -> dict:
        return {self.channel: self.roster(self.channel)}

    def throttle_depth(self) -> None:
        return None


def banner(bot, hostmask: str, user: str, dashboard: str) -> list[str]:
    """The console room's opening lines."""
    settings = bot.settings
    nick, prefix = settings.irc.nick, settings.irc.command_prefix
    me = Message("chat.console.#console.chat", {"source": user, "hostmask": hostmask, "account": None,
                                                 "protocol": "console"})
    if is_admin(me, settings.plugins.admins):
        admin = ("You are an admin here, as whoever runs the bot on its terminal: you can teach me "
                 "replies. On IRC, admins are the accounts or user@host masks in [plugins] admins.")
    else:
        admin = "You are not an admin here."
    return [
        "pubbot %s: the console room %s. Type a line and press Enter to chat with %s." % (
            __version__, ConsoleService.channel, nick),
        "You are %s; %s sees you as %s." % (user, nick, hostmask),
        admin,
        dashboard,
        "Try: %s" % ("   ".join(suggestions(bot, nick, prefix)) or "%shelp" % (prefix,)),
        "Quit with Ctrl-D.",
    ]


#: What the banner suggests trying, by the plugin it needs (the first two loaded are shown).
_SUGGESTIONS = (
    ("karma", "tea++"),
    ("factoid", "%(nick)s: coffee is hot, then coffee?"),
    ("seen", "%(prefix)sseen %(nick)s"),
    ("ping", "%(prefix)sping"),
    ("help", "%(prefix)shelp"),
)


def suggestions(bot, nick: str, prefix: str, count: int = 2) -> list[str]:
    names = {h.name for h in bot.handlers}
    found: Iterable[str] = (text % {"nick": nick, "prefix": prefix}
                            for name, text in _SUGGESTIONS if name in names)
    return list(found)[:count]


def _sibling(service: Service, name: str):
    """The service named C{name} beside C{service} in its parent, or None."""
    parent = service.parent
    if parent is None:
        return None
    try:
        return parent.getServiceNamed(name)
    except KeyError:
        return None


def _stdin_is_a_terminal() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def start_stdio(reactor) -> Callable:
    """A factory connecting a protocol to this process's stdin/stdout."""
    from twisted.internet.stdio import StandardIO

    def make(protocol):
        return StandardIO(protocol, reactor=reactor)

    return make


def divert_log_file(path: str) -> object | None:
    """
    Point twistd's stdout logging at C{path} so the room stays readable: it
    opens its log observer on C{sys.stdout} after makeService returns, while
    the room writes to file descriptor 1 directly.
    """
    import sys
    handle = open(path, "a", encoding="utf-8")  # noqa: SIM115 - the caller closes it
    sys.stdout = handle
    return handle
