"""
The IRC client protocol: one per connection, thin.

Why not C{twisted.words.protocols.irc.IRCClient}: nearly everything the bot
needs would have to be overridden (its strict UTF-8 decoding raises on
Latin-1 lines, it parses no message tags, has no CAP, SASL or STS, wraps
text by characters rather than bytes, keeps channel state in the protocol,
and its line framing drops the whole connection on one long line).

The protocol frames and decodes lines (L{pubbot.irc.text.decode}: UTF-8,
falling back per line) and parses each once (L{pubbot.irc.lines}; the
tags are kept as their text and parsed when read). Every line then goes, in order, to the connection's
L{ConnectionState} (what is true: capabilities, ISUPPORT, nicks, rosters;
it turns chat, joins and leaves into events), to the L{Registration}
machine, and to the protocol's own reaction, if any (PONG, joining after
the MOTD, WHO after a join, nick regain, CTCP replies, rejoin after a
kick). The events of one read go up as one batch through the chat service
(L{IRCService.chat_events}), whatever the commands, in order. The protocol
knows its service only: never the bot, the bus or messages.
"""

from __future__ import annotations

import contextlib
import email.utils
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.interfaces import IPushProducer, ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.logger import LogLevel
from zope.interface import implementer

from ..version import __version__
from .lines import MAX_TAGS_BYTES, Line, LineError, build, parse
from .registration import Registration
from .state import WHOX_TOKEN, ConnectionState
from .text import decode
from .throttle import OWN

if TYPE_CHECKING:  # pragma: no cover
    from .service import IRCService


#: The longest line accepted: 8191 bytes of tags plus a 512-byte line (CR LF excluded).
MAX_LINE = MAX_TAGS_BYTES + 1 + 510
#: Seconds to finish registration (CAP, SASL, welcome) before giving up.
REGISTRATION_TIMEOUT = 120.0
#: Seconds after the welcome to wait for the end of the MOTD before joining anyway.
JOIN_FALLBACK = 10.0
#: Seconds after the server's ERROR (or our QUIT) before the connection is cut.
CLOSE_TIMEOUT = 3.0
CTCP_CLIENTINFO = "ACTION CLIENTINFO PING TIME VERSION"
_JOIN_ERRORS = {"403": "no such channel", "405": "too many channels", "471": "channel is full",
                "473": "invite only", "474": "banned", "475": "bad channel key",
                "477": "registered users only"}


class IRCProtocol(Protocol):
    """One IRC connection, driven by lines from the server."""

    def __init__(self, service: IRCService):
        self.service = service
        self.log = service.log
        self.clock = service.clock
        self._buffer = b""
        self._discarding = False
        self._heard = False
        #: Did any byte arrive on this connection (TLS: after the handshake)?
        self.heard_anything = False
        self._ping_extended = False
        self.tls = False
        self._joined = False
        self._ping_call = None
        self._ping_sent = 0.0
        self._ping_token = ""
        self._pings = 0
        self._timers: list = []
        self._closing = False
        #: The transport holds more unsent data than its buffer size (the server is not reading).
        self.writes_blocked = False
        self._backpressure_logged = False
        self.state = ConnectionState(service.settings.nick, self.clock.seconds)
        self.registration: Registration | None = None
        #: Lines go to the registration machine (after 001, only CAP lines do).
        self._registering = False

    @property
    def registered(self) -> bool:
        return self.state.registered and not self._closing

    @property
    def sasl_done(self) -> bool:
        return self.registration is not None and self.registration.sasl_done

    # connection

    def connectionMade(self) -> None:
        try:
            self._start()
        except Exception:
            # Never a dead service: the connection is dropped, and reconnected with backoff.
            self.log.failure("starting the IRC connection failed; dropping it to retry later")
            self._closing = True
            self.transport.abortConnection()  # type: ignore[union-attr]

    def _start(self) -> None:
        self.tls = ISSLTransport.providedBy(self.transport)
        service = self.service
        self._watch_backlog()
        service.connection_made(self)
        self.registration = Registration(
            self.state, self, service.nick_fallback, service.settings.username,
            service.settings.realname, service.sasl, self.tls, service.endpoint.server.host, self.log)
        self._registering = True
        self.registration.start()
        self._ping_call = self.clock.callLater(service.settings.ping_interval, self._ping)
        self._later(REGISTRATION_TIMEOUT, self._registration_timeout)

    def connectionLost(self, reason=None) -> None:
        for call in self._timers + [self._ping_call]:
            if call is not None and call.active():
                call.cancel()
        self._timers = []
        self._ping_call = None
        self.service.connection_lost(self, reason)

    def _watch_backlog(self) -> None:
        """
        A server that does not read what we write is not read either: our
        replies (PONGs to a PING flood, say) never pile up in memory. The
        socket's transport says when its unsent data passes its buffer
        size (for TLS, the TCP transport under it: TLS itself would wait
        for a producer to go before closing).
        """
        transport = self.transport
        inner = getattr(transport, "transport", None) if self.tls else transport
        register = getattr(inner, "registerProducer", None)
        if register is None or getattr(inner, "producer", None) is not None:
            return
        with contextlib.suppress(RuntimeError):  # (a producer of someone else's: no backlog watch)
            register(_Backpressure(self), True)

    def writes_backed_up(self, backed_up: bool) -> None:
        """The transport's buffer of unsent lines went over its size (or back under it)."""
        self.writes_blocked = backed_up
        transport = self.transport
        if transport is None or self._closing:
            return
        if backed_up:
            if not self._backpressure_logged:
                self._backpressure_logged = True
                self.log.warn("the server is not reading what we send; not reading it either until it does")
            transport.pauseProducing()  # type: ignore[attr-defined]
        elif not self.service.input_paused:
            transport.resumeProducing()  # type: ignore[attr-defined]

    def _later(self, delay: float, f: Callable, *args: object):
        call = self.clock.callLater(delay, f, *args)
        self._timers = [c for c in self._timers if c.active()]
        self._timers.append(call)
        return call

    def disconnect(self, reason: str, abort: bool = False) -> None:
        """Close this connection; the service's ClientService reconnects with backoff."""
        if self._closing or self.transport is None:
            return
        self._closing = True
        if abort:
            self.transport.abortConnection()  # type: ignore[attr-defined]
            return
        self.send_now("QUIT", reason)
        self.transport.loseConnection()
        self._later(CLOSE_TIMEOUT, self._abort)

    def _abort(self) -> None:
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    # output (also the registration machine's RegistrationIO)

    def write(self, data: bytes) -> None:
        """Put one encoded line on the wire (the throttle calls this)."""
        self.transport.write(data)  # type: ignore[union-attr]
        self.service.lines_out += 1

    def send(self, command: str, *params: str, key: str = OWN) -> None:
        """Queue a line behind the throttle (in C{key}'s queue: the bot's own by default)."""
        self.service.throttle.send(build(command, *params), key)

    def send_now(self, command: str, *params: str, charge: bool = True) -> None:
        """Send ahead of the throttle queue (registration, PONG, QUIT); PONGs go uncharged."""
        self.service.throttle.send_now(build(command, *params), charge)

    def fail(self, reason: str, sasl: bool = False) -> None:
        if sasl:
            self.service.sasl_failures += 1
        else:
            self.log.warn("registration failed: {reason}; disconnecting to retry later", reason=reason)
        self.disconnect(reason)

    def upgrade(self, port: int) -> None:
        self.service.upgrade_to_tls(port)
        self.disconnect("upgrading to TLS")

    def keep_sts_policy(self, duration: int) -> None:
        self.service.keep_sts_policy(duration)

    def note(self, kind: str, level: LogLevel, format: str, **fields: Any) -> None:
        self.service.note(kind, level, format, **fields)

    # input

    def dataReceived(self, data: bytes) -> None:
        self._heard = self.heard_anything = True
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        rest = lines.pop()
        if self._discarding:
            if lines:
                del lines[0]  # the tail of an oversized line
                self._discarding = False
            else:
                rest = b""  # still inside it
        if len(rest) > MAX_LINE:
            # (only the lines before it in this read are whole: they are kept)
            self.service.bad_line("longer than %d bytes" % MAX_LINE, rest)
            self._discarding = True
            rest = b""
        self._buffer = rest
        try:
            for raw in lines:
                self.line_received(raw)
                if self._closing:
                    return
        finally:
            # Whatever the read held (chat, joins, leaves), up as one batch, in order.
            state = self.state
            events = state.events
            if events:
                state.events = []
                self.service.chat_events(events)
            if state.ctcp_requests:
                self._answer_ctcp()

    def line_received(self, raw: bytes) -> None:
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        if not raw:
            return
        service = self.service
        if len(raw) > 510 and self._too_long(raw):
            service.bad_line("longer than the protocol allows", raw)
            return
        if b"\0" in raw:
            service.bad_line("contains NUL", raw)
            return
        try:
            line = parse(decode(raw))
        except LineError as e:
            service.bad_line(str(e), raw)
            return
        service.lines_in += 1
        try:
            self.state.apply(line)
            if self._registering or line.command == "CAP":
                self.registration.receive(line)  # type: ignore[union-attr]
            react = _REACTIONS.get(line.command)
            if react is not None:
                react(self, line)
        except (IndexError, ValueError) as e:
            service.bad_line("unexpected %s (%s)" % (line.command, e), raw)
        except Exception:
            service.bad_lines += 1
            if service.may_log("bad-line"):
                self.log.failure("handling {command} failed", command=line.command)

    def _too_long(self, raw: bytes) -> bool:
        """Whether C{raw} (over 510 bytes) is longer than the server's line length allows."""
        if raw[0] == 64:  # @tags
            space = raw.find(b" ")
            rest = len(raw) - space - 1
            return space < 0 or space > MAX_TAGS_BYTES or rest > self.state.isupport.linelen - 2
        return len(raw) > self.state.isupport.linelen - 2

    # liveness

    def _ping(self) -> None:
        self._heard = False
        self._ping_extended = False
        self._pings += 1
        self._ping_token = "pubbot-%d" % self._pings
        self._ping_sent = self.clock.seconds()
        self.send_now("PING", self._ping_token)
        self._ping_call = self.clock.callLater(self.service.settings.ping_timeout, self._ping_check)

    def _ping_check(self) -> None:
        if not self._heard and not self._ping_extended and self._unread_since(self._ping_sent):
            # The reply may be waiting unread (Bot.hold_input): wait once more.
            self._ping_extended = True
            self._ping_call = self.clock.callLater(self.service.settings.ping_timeout, self._ping_check)
            return
        if not self._heard:
            self.log.warn("no reply from the server in {timeout} s; dropping the connection",
                     timeout=self.service.settings.ping_timeout * (2 if self._ping_extended else 1))
            self._ping_call = None
            self.disconnect("ping timeout", abort=True)
            return
        due = self._ping_sent + self.service.settings.ping_interval - self.clock.seconds()
        self._ping_call = self.clock.callLater(max(0.0, due), self._ping)

    def _unread_since(self, when: float) -> bool:
        """Reading from the server was paused at some time since C{when}."""
        resumed = self.service.input_resumed_at
        return self.service.input_paused or (resumed is not None and resumed >= when)

    def _registration_timeout(self) -> None:
        if not self.state.registered:
            self.log.warn("registration did not finish in {timeout} s; dropping the connection",
                     timeout=REGISTRATION_TIMEOUT)
            self.disconnect("registration timeout", abort=True)

    # reactions to lines (after the state and the registration machine took them)

    def _on_ping(self, line: Line) -> None:
        self.send_now("PONG", line.params[0] if line.params else "", charge=False)

    def _on_pong(self, line: Line) -> None:
        if line.params and line.params[-1] == self._ping_token:
            self.state.lag = self.clock.seconds() - self._ping_sent

    def _on_error(self, line: Line) -> None:
        self.log.warn("server error: {message}; closing the connection",
                 message=line.params[0][:300] if line.params else "")
        if self._closing or self.transport is None:
            return
        self._closing = True
        self.transport.loseConnection()
        self._later(CLOSE_TIMEOUT, self._abort)

    def welcomed(self) -> None:
        self._registering = False
        self.service.registered(self)
        self._later(JOIN_FALLBACK, self._end_of_motd)

    def _end_of_motd(self, line: Line | None = None) -> None:
        if self._joined or not self.state.registered or self._closing:
            return
        self._joined = True
        service = self.service
        isupport = self.state.isupport
        if not self.has_wanted_nick() and isupport.monitor is not None:
            self.send("MONITOR", "+", service.settings.nick)
        if not self.sasl_done and service.nickserv_password:
            self._identify()
        limit = isupport.channellen
        for name, key in service.wanted_channels:
            if limit and len(name) > limit:
                self.log.warn("not joining {channel}: the server allows channel names of {limit} characters",
                         channel=name, limit=limit)
                continue
            self.join(name, key)

    def join(self, name: str, key: str | None = None) -> None:
        if key:
            self.send("JOIN", name, key)
        else:
            self.send("JOIN", name)

    def has_wanted_nick(self) -> bool:
        state = self.state
        return state.folded_nick == state.isupport.fold(self.service.settings.nick)

    def _identify(self) -> None:
        service = self.service
        # The password goes only to the wire (never to a log).
        self.send("PRIVMSG", "NickServ",
                  "IDENTIFY %s %s" % (service.settings.nick, service.nickserv_password))

    def _regain(self) -> None:
        if self.state.registered and not self.has_wanted_nick():
            self.send("NICK", self.service.settings.nick)

    def _on_monitor_offline(self, line: Line) -> None:  # RPL_MONOFFLINE
        fold = self.state.isupport.fold
        wanted = fold(self.service.settings.nick)
        if any(fold(n.partition("!")[0]) == wanted for n in line.params[-1].split(",")):
            self._regain()

    def _on_nick(self, line: Line) -> None:
        state = self.state
        fold = state.isupport.fold
        if fold(line.params[0]) == state.folded_nick:  # ours (the state has taken it)
            if self.has_wanted_nick():
                # (a server can change our nick back and forth as often as it likes)
                self.service.note("regained-nick", LogLevel.info, "regained nick {nick}", nick=state.nick)
                if state.isupport.monitor is not None:
                    self.send("MONITOR", "-", state.nick)
                if not self.sasl_done and self.service.nickserv_password:
                    self._identify()
        elif line.nick is not None and fold(line.nick) == fold(self.service.settings.nick):
            self._regain()

    def _on_quit(self, line: Line) -> None:
        fold = self.state.isupport.fold
        if line.nick is not None and fold(line.nick) == fold(self.service.settings.nick):
            self._regain()

    def _on_join(self, line: Line) -> None:
        if not self.state.is_own(line.nick):
            return
        channel = line.params[0]
        self.service.joined(channel)
        if self.state.isupport.whox:
            self.send("WHO", channel, "%tcuhnfa," + WHOX_TOKEN)
        else:
            self.send("WHO", channel)

    def _on_kick(self, line: Line) -> None:
        channel, victim = line.params[0], line.params[1]
        if self.state.is_own(victim):
            reason = line.params[2] if len(line.params) > 2 else ""
            self.service.note("kicked", LogLevel.warn, "kicked from {channel} by {by}: {reason}",
                              channel=channel[:100], by=(line.nick or "?")[:64], reason=reason[:200])
            self.service.schedule_rejoin(channel)

    def _on_invite(self, line: Line) -> None:
        if len(line.params) >= 2 and self.state.is_own(line.params[0]):
            self.service.note("invited", LogLevel.info, "{nick} invited us to {channel}",
                              nick=(line.nick or "?")[:64], channel=line.params[1][:100])

    def _on_join_error(self, line: Line) -> None:
        channel = line.params[1] if len(line.params) > 1 else "?"
        self.service.note("join-error", LogLevel.warn, "cannot join {channel}: {reason}",
                          channel=channel[:100], reason=_JOIN_ERRORS.get(line.command, line.command))

    def _on_cap(self, line: Line) -> None:
        if len(line.params) >= 3 and line.params[1].upper() == "DEL":
            self.service.note("cap-del", LogLevel.info, "server withdrew capabilities: {caps}",
                              caps=line.params[-1][:200])

    def _answer_ctcp(self) -> None:
        """Answer the CTCP requests the read held (see L{ConnectionState.ctcp_requests})."""
        requests, self.state.ctcp_requests = self.state.ctcp_requests, []
        if self._closing:
            return
        for nick, command, arg in requests:
            try:
                self._ctcp(nick, command, arg)
            except Exception:
                self.log.failure("answering CTCP {command} failed", command=command)

    def _ctcp(self, nick: str, command: str, arg: str) -> None:
        if command not in ("VERSION", "PING", "TIME", "CLIENTINFO"):
            return
        service = self.service
        if not service.ctcp_limits.allow(person=self.state.isupport.fold(nick)):
            service.ctcp_refused += 1
            service.note("ctcp", LogLevel.info,
                         "CTCP {command} from {nick} not answered (rate limit; {refused} so far)",
                         command=command[:32], nick=nick[:64], refused=service.ctcp_refused)
            return
        if command == "VERSION":
            reply = "VERSION pubbot %s (Twisted)" % (__version__,)
        elif command == "PING":
            reply = "PING " + "".join(c for c in arg if c >= " ")[:64]
        elif command == "TIME":
            reply = "TIME " + email.utils.formatdate(self.clock.seconds(), usegmt=True)
        else:
            reply = "CLIENTINFO " + CTCP_CLIENTINFO
        self.send("NOTICE", nick, "\x01%s\x01" % reply.rstrip(), key=self.state.folded(nick))

    def _on_standard_reply(self, line: Line) -> None:
        self.service.note("standard-reply", LogLevel.info, "server says {command} {text}",
                          command=line.command, text=" ".join(line.params)[:300])


@implementer(IPushProducer)
class _Backpressure:
    """What the transport tells when its buffer of unsent data is full, and empty again."""

    def __init__(self, protocol: IRCProtocol):
        self.protocol = protocol

    def pauseProducing(self) -> None:
        self.protocol.writes_backed_up(True)

    def resumeProducing(self) -> None:
        self.protocol.writes_backed_up(False)

    def stopProducing(self) -> None:
        pass


_REACTIONS: dict[str, Callable[[IRCProtocol, Line], None]] = {
    "PING": IRCProtocol._on_ping,
    "PONG": IRCProtocol._on_pong,
    "ERROR": IRCProtocol._on_error,
    "376": IRCProtocol._end_of_motd,
    "422": IRCProtocol._end_of_motd,
    "731": IRCProtocol._on_monitor_offline,
    "NICK": IRCProtocol._on_nick,
    "QUIT": IRCProtocol._on_quit,
    "JOIN": IRCProtocol._on_join,
    "KICK": IRCProtocol._on_kick,
    "INVITE": IRCProtocol._on_invite,
    "CAP": IRCProtocol._on_cap,
    "FAIL": IRCProtocol._on_standard_reply,
    "WARN": IRCProtocol._on_standard_reply,
}
_REACTIONS.update({code: IRCProtocol._on_join_error for code in _JOIN_ERRORS})


def nick_fallback(base: str, alternatives: tuple, index: int, nicklen: int | None,
                  rng: random.Random) -> str:
    """The nick to try after C{index} refusals: alternatives, then C{_} suffixes, then digits."""
    candidates = (base,) + tuple(alternatives)
    if index < len(candidates):
        return candidates[index]
    extra = index - len(candidates) + 1
    limit = nicklen or 30
    if extra <= 3:
        return (base[:max(1, limit - extra)] + "_" * extra)[:limit]
    return (base[:max(1, limit - 4)] + "%04d" % rng.randrange(10000))[:limit]
