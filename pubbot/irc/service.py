"""
The IRC chat service: the long-lived side of the IRC connection.

L{IRCService} is the C{irc} child of pubbot's MultiService and the bot's
L{IChatService} for protocol C{irc}. It owns a C{ClientService} (exponential
backoff with jitter, about 1 s up to 5 minutes, reset only after a
connection has stayed registered for L{STABLE_SECONDS}) and everything that
outlives one connection: nick, rosters, ISUPPORT, capabilities, the output
throttle, counters for the dashboard. L{start_connection} and
L{stop_connection} start and stop just the connection (for a process that
gains or loses IRC ownership).

C{source_id} on chat messages is the sender's services account name when
they are logged in (account-tag, extended-join, account-notify or WHOX), else
None: pubbot keeps no profile database of its own.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any, cast

from twisted.application.internet import ClientService
from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import Factory
from twisted.logger import Logger, LogLevel
from zope.interface import implementer

from ..config.settings import ConfigError, secret
from ..core.events import ChatEvent, IChatEvents
from ..core.interfaces import IChannelModeration, IChannelSummary, IChatService, IChatStatus, IInputFlow
from ..util.boundedlog import BoundedLog
from ..util.ratelimit import Limits
from .caps import Capabilities
from .endpoint import IRCEndpoint, ServerError, parse_server
from .isupport import ISupport
from .lines import LineError, build
from .protocol import IRCProtocol, nick_fallback
from .registration import SaslConfig
from .roster import Roster
from .state import ConnectionState
from .sts import StsPolicies
from .text import split_bytes, split_lines
from .throttle import Throttle
from .tlsopts import TLSSettings, TLSSetupError

#: A connection registered this long resets the reconnect backoff.
STABLE_SECONDS = 60.0
INITIAL_DELAY = 1.0
MAX_DELAY = 300.0
#: Host part assumed for our own prefix before the server tells us (the usual maximum).
HOST_GUESS = 63
#: Kick reasons and topics, at most (characters), unless the server says less (KICKLEN, TOPICLEN).
MAX_MODERATION_TEXT = 390
#: A ban mask or nick given to MODE, at most.
MAX_MODE_ARGUMENT = 200
#: Bad input lines logged per minute (the rest are counted).
BAD_LINE_LOGS = 10
#: Seconds between writes of the STS policy: a server can offer it on
#: every CAP NEW; the latest offer waits and is written then.
STS_WRITE_EVERY = 60.0


def _int_token(value: str | None, most: int) -> int:
    """An ISUPPORT number (KICKLEN...) capped at C{most}; C{most} when absent or not a number."""
    try:
        n = int(value or "")
    except ValueError:
        return most
    return min(n, most) if n > 0 else most


def one_line_text(text: str, most: int) -> str:
    """C{text} as one line of at most C{most} characters: runs of whitespace, CR and LF made one space."""
    text = "".join(c if c >= " " and c != "\x7f" else " " for c in text)
    return " ".join(text.split())[:most].rstrip()


def read_what_arrived(transport: Any, most: int = 64) -> None:
    """
    Read what the server already sent (it waits in the socket) before this
    connection closes: a former owner resuming from a freeze hands those
    lines over instead of losing them. At most C{most} reads; TLS too (the
    TCP connection under it is read, and feeds it).
    """
    import select
    tcp = transport
    while not hasattr(tcp, "doRead") and getattr(tcp, "transport", None) is not None:
        tcp = tcp.transport
    socket = getattr(tcp, "socket", None)
    if socket is None or not hasattr(tcp, "doRead"):
        return
    for _ in range(most):
        try:
            readable, _w, _x = select.select([socket], [], [], 0)
        except (OSError, ValueError):
            return
        if not readable or getattr(tcp, "disconnected", False):
            return
        if tcp.doRead() is not None:  # the connection ended
            return


class IRCFactory(Factory):
    noisy = False  # the service logs each connection itself

    def __init__(self, service: IRCService):
        self.service = service

    def buildProtocol(self, addr) -> IRCProtocol:
        protocol = IRCProtocol(self.service)
        protocol.factory = self
        return protocol


@implementer(IChatService, IInputFlow, IChatStatus, IChannelSummary, IChannelModeration)
class IRCService(Service):
    """
    The bot's IRC presence. Read by the dashboard: C{connected}, C{network},
    C{nick}, C{lag}, C{channels()}, C{lines_in}, C{lines_out}, C{reconnects},
    C{throttle_depth()}.
    """

    protocol = "irc"

    def __init__(self, bot, reactor, rng: random.Random | None = None, endpoint=None, *,
                 network: str = "irc", settings=None):
        self.bot = bot
        #: Where what the network says goes (the bot).
        self.sink: IChatEvents = bot
        self.clock = reactor
        self.network = network
        #: Its log lines say which network they are about (namespace pubbot.irc.NAME).
        self.log = Logger(namespace="pubbot.irc." + network)
        self.name = "irc" if network == bot.settings.irc.name else "irc-" + network  # type: ignore[assignment]
        self.settings = settings = settings if settings is not None else bot.settings.irc
        self.command_prefix = settings.command_prefix
        self.random = rng or random.Random()
        try:
            server = parse_server(settings.server)
            tls = TLSSettings(settings.tls_ca, settings.tls_fingerprints, settings.client_cert)
        except (ServerError, TLSSetupError) as e:
            raise ConfigError(str(e)) from None
        self.policies = StsPolicies(bot.store)
        #: The STS policy offered since the last write (host, port, duration),
        #: the timer of its write, and when the last one was written.
        self._sts_offer: tuple[str, int, int] | None = None
        self._sts_call: Any = None
        self._sts_written: float | None = None
        self.endpoint = endpoint or IRCEndpoint(reactor, server, tls, self.policies)
        self.factory = IRCFactory(self)
        self.client = ClientService(self.endpoint, self.factory, retryPolicy=self._retry_delay,
                                    clock=reactor)
        self.throttle = Throttle(reactor, settings.throttle.burst, settings.throttle.per_second,
                                 settings.throttle.enabled,
                                 max_per_person=2 + 2 * max(settings.max_reply_lines,
                                                            settings.max_private_lines))
        #: Lines the output queues had no room for.
        self.output_dropped = 0
        self._stopping_connection = False
        sasl = settings.sasl
        self.sasl_username = sasl.username or settings.nick
        self.sasl_password = secret(sasl.password, sasl.password_env)
        self.sasl_mechanisms = [m for m in sasl.mechanisms
                                if (m == "EXTERNAL" and tls.client_cert is not None)
                                or (m != "EXTERNAL" and self.sasl_password)]
        self.sasl_configured = bool(self.sasl_mechanisms)
        self.sasl: SaslConfig | None = SaslConfig(
            tuple(self.sasl_mechanisms), self.sasl_username, self.sasl_password,
            sasl.allow_plaintext) if self.sasl_configured else None
        self.nickserv_password = secret(settings.nickserv_password, settings.nickserv_password_env)
        self.nick_candidates = (settings.nick,) + tuple(settings.alt_nicks)
        self.wanted_channels = []
        for entry in settings.channels:
            name, _, key = entry.partition(" ")
            self.wanted_channels.append((name, key.strip() or None))
        self.ctcp_limits = Limits(reactor, person=(2, 30.0), overall=(6, 30.0))
        #: CTCP requests left unanswered by the limits.
        self.ctcp_refused = 0
        #: What the server, or people on it, can make us log as often as they
        #: like (bad lines, invites, kicks, join errors, CTCP refused, full
        #: output queues...): at most BAD_LINE_LOGS lines a minute of each
        #: kind (see L{note}); the rest are counted here by kind.
        self.logs = BoundedLog(reactor, self.log, BAD_LINE_LOGS)
        self.unlogged: Counter[str] = self.logs.unlogged

        #: The current connection's state, else the last one's (for the dashboard).
        self.state = ConnectionState(settings.nick, reactor.seconds)
        self.connected = False
        self.lines_in = 0
        self.lines_out = 0
        self.reconnects = 0
        self.bad_lines = 0
        self.sasl_failures = 0
        self.current: IRCProtocol | None = None
        self.retry_now = False
        self._failures = 0
        self._connections = 0
        self._stable_call = None
        self._rejoins: dict[str, Any] = {}
        #: Reading from the server is paused (see Bot.hold_input).
        self.input_paused = False
        #: When reading last resumed (the clock's seconds), or None.
        self.input_resumed_at: float | None = None

    # the connection's state

    @property
    def nick(self) -> str:
        return self.state.nick

    @property
    def folded_nick(self) -> str:
        return self.state.folded_nick

    @property
    def isupport(self) -> ISupport:
        return self.state.isupport

    @property
    def caps(self) -> Capabilities:
        return self.state.caps

    @property
    def rosters(self) -> Roster:
        return self.state.rosters

    @property
    def hostmask(self) -> str | None:
        return self.state.hostmask

    @property
    def account(self) -> str | None:
        return self.state.account

    @property
    def lag(self) -> float | None:
        return self.state.lag if self.current is not None else None

    @property
    def server_network(self) -> str | None:
        """The network's own name for itself (ISUPPORT NETWORK), for the dashboard."""
        return self.state.server_network

    def nick_fallback(self, index: int) -> str:
        return nick_fallback(self.settings.nick, self.settings.alt_nicks, index,
                             self.state.isupport.nicklen, self.random)

    # lifecycle

    def startService(self) -> None:
        super().startService()
        self.bot.register_chat(self)
        self.start_connection()

    def stopService(self) -> Deferred:
        super().stopService()
        self.bot.unregister_chat(self)
        if self._sts_call is not None:  # (an offer is waiting: written now)
            self._sts_call.cancel()
            self._write_sts_policy()
        return self.stop_connection()

    def start_connection(self) -> None:
        """Start connecting (and reconnecting) to the server."""
        self._stopping_connection = False
        if not self.client.running:
            self.client.startService()

    def stop_connection(self, reason: str = "pubbot stopping") -> Deferred:
        """Say QUIT and drop the connection; no reconnecting until L{start_connection}."""
        for call in self._rejoins.values():
            if call.active():
                call.cancel()
        self._rejoins.clear()
        if not self.client.running:
            return succeed(None)
        self._stopping_connection = True
        current = self.current
        if current is not None and current.transport is not None:
            read_what_arrived(current.transport)
            current.send_now("QUIT", reason)
        return self.client.stopService()

    def _retry_delay(self, attempt: int) -> float:
        if self.retry_now:
            self.retry_now = False
            return 0.0
        base = min(INITIAL_DELAY * 2.0 ** min(self._failures, 30), MAX_DELAY)
        self._failures += 1
        # tenths of a second: ClientService's log line then reads "in 2.3 seconds"
        return round(min(MAX_DELAY, base * (1.0 + 0.25 * self.random.random())), 1)

    def _stable(self) -> None:
        self._stable_call = None
        self._failures = 0

    # flow control (Bot.hold_input)

    def pause_input(self) -> None:
        """Stop reading from the server (it keeps what it sends meanwhile) until L{resume_input}."""
        self.input_paused = True
        current = self.current
        if current is not None and current.transport is not None:
            cast(IPushProducer, current.transport).pauseProducing()

    def resume_input(self) -> None:
        self.input_paused = False
        self.input_resumed_at = self.clock.seconds()
        current = self.current
        if current is not None and current.transport is not None and not current.writes_blocked:
            cast(IPushProducer, current.transport).resumeProducing()

    # connection events (from the protocol)

    def connection_made(self, protocol: IRCProtocol) -> None:
        if self._connections:
            self.reconnects += 1
        self._connections += 1
        self.current = protocol
        self.state = protocol.state
        self.throttle.attach(protocol.write)
        if self.input_paused:
            cast(IPushProducer, protocol.transport).pauseProducing()
        tls, host, port = self.endpoint.last
        self.log.info("connection to {host} port {port} open ({security})", host=host, port=port,
                 security="TLS" if protocol.tls else "plain text")

    def registered(self, protocol: IRCProtocol) -> None:
        self.connected = True
        self._stable_call = self.clock.callLater(STABLE_SECONDS, self._stable)
        self.log.info("registered as {nick}", nick=self.nick)

    def connection_lost(self, protocol: IRCProtocol, reason) -> None:
        if self.current is not protocol:
            return
        self.current = None
        self.connected = False
        if self._stable_call is not None and self._stable_call.active():
            self._stable_call.cancel()
        self._stable_call = None
        for call in self._rejoins.values():
            if call.active():
                call.cancel()
        self._rejoins.clear()
        dropped = self.throttle.detach()
        self.state.rosters.clear()
        message = reason.getErrorMessage() if reason is not None else "closed"
        self.log.info("connection lost: {reason}{dropped}", reason=message,
                 dropped=" (%d queued lines dropped)" % dropped if dropped else "")
        if protocol.tls and not protocol.heard_anything and not self._stopping_connection:
            tls, host, port = self.endpoint.last
            self.log.warn("the TLS handshake with {host} port {port} failed: if that is a plain-text "
                          "port, use tcp:{host}:{port} (plain text) or the server's TLS port "
                          "(usually 6697)", host=host, port=port)

    def upgrade_to_tls(self, port: int) -> None:
        """STS: the next connection is TLS on C{port}, at once."""
        self.endpoint.upgrade_port = port
        self.retry_now = True

    def keep_sts_policy(self, duration: int) -> None:
        """
        Remember the STS policy offered on this TLS connection: written at
        once, or, within L{STS_WRITE_EVERY} of the last write, when that
        time is up (the latest offer then).
        """
        host = self.endpoint.server.host
        if host is None:
            return
        self._sts_offer = (host, self.endpoint.last[2] or 6697, duration)
        if self._sts_call is not None:  # (a write is due: it takes this offer)
            return
        last = self._sts_written
        wait = 0.0 if last is None else last + STS_WRITE_EVERY - self.clock.seconds()
        if wait <= 0:
            self._write_sts_policy()
        else:
            self._sts_call = self.clock.callLater(wait, self._write_sts_policy)

    def _write_sts_policy(self) -> None:
        offer, self._sts_offer = self._sts_offer, None
        self._sts_call = None
        if offer is None:
            return
        self._sts_written = self.clock.seconds()
        d = self.policies.save(*offer)
        d.addErrback(lambda f: self.log.failure("storing the STS policy failed", f))

    def may_log(self, kind: str) -> bool:
        """May a line of C{kind} be logged now (at most BAD_LINE_LOGS a minute)? Counts it if so."""
        return self.logs.may_log(kind)

    def note(self, kind: str, level: LogLevel, format: str, **fields: Any) -> None:
        """Log what the server or someone on it caused, within L{may_log}'s bound for C{kind}."""
        self.logs.note(kind, level, format, **fields)

    @property
    def bad_lines_unlogged(self) -> int:
        """Bad lines dropped without a log line (past the bound)."""
        return self.unlogged["bad-line"]

    def joined(self, channel: str) -> None:
        call = self._rejoins.pop(channel, None)
        if call is not None and call.active():
            call.cancel()
        if self._wanted(channel):
            self.log.info("joined {channel}", channel=channel)
        else:  # the server put us there: as often as it likes
            self.note("joined", LogLevel.info, "joined {channel} (the server's doing)", channel=channel[:100])

    def _wanted(self, channel: str) -> list[str | None]:
        """The keys of C{channel} among the channels we want (configured, or by command); [] if none."""
        fold = self.isupport.fold
        return [k for name, k in self.wanted_channels if fold(name) == fold(channel)]

    def schedule_rejoin(self, channel: str) -> None:
        """Join C{channel} again after C{rejoin_delay} if we want it."""
        wanted = self._wanted(channel)
        if not wanted:
            return  # a channel the server put us in, or one of a hostile server's KICKs
        key = wanted[-1]
        old = self._rejoins.pop(channel, None)
        if old is not None and old.active():
            old.cancel()
        self._rejoins[channel] = self.clock.callLater(self.settings.rejoin_delay, self._rejoin, channel, key)

    def _rejoin(self, channel: str, key: str | None) -> None:
        self._rejoins.pop(channel, None)
        if self.current is not None and self.connected:
            self.log.info("rejoining {channel}", channel=channel)  # (only channels we want)
            self.current.join(channel, key)

    def bad_line(self, reason: str, raw: bytes) -> None:
        self.bad_lines += 1
        self.note("bad-line", LogLevel.warn, "dropped a line from the server ({reason}): {start!r}",
                  reason=reason, start=raw[:80])

    # to the bot

    def chat_events(self, events: list[ChatEvent]) -> None:
        """What one read from the server held, up to the bot as one batch."""
        d = self.sink.chat_events(self.network, events)
        d.addErrback(lambda f: self.log.failure("dispatching what {network} said failed", f,
                                                network=self.network))

    # IChatService

    def _valid_target(self, target: str) -> bool:
        return (0 < len(target) <= 200 and target[0] != ":"
                and not any(c in target for c in " ,\r\n\0\x07"))

    def text_budget(self, command: str, target: str, action: bool = False) -> int:
        """Bytes of text that fit one line after the server prepends our prefix."""
        if self.hostmask:
            prefix = len(self.hostmask.encode("utf-8"))
        else:
            prefix = len(self.nick.encode("utf-8")) + 2 + len(self.settings.username) + 1 + 1 + HOST_GUESS
        overhead = 1 + prefix + 1 + len(command) + 1 + len(target.encode("utf-8")) + 2 + 2
        if action:
            overhead += 9  # \x01ACTION ... \x01
        return max(64, self.isupport.linelen - overhead)

    def send(self, target: str, text: str, kind: str = "say", person: str | None = None) -> None:
        """
        Send C{text} to C{target}: each line of it (CR, LF and NUL never reach
        the wire) split by bytes to fit, at most C{[irc] max_reply_lines}
        lines to a channel (C{max_private_lines} to a nick) and then one line
        saying how many more were dropped; all through the throttle, in the
        queue of C{person} (who asked: the nick a reply is for), else of
        C{target}, so that people take turns.
        """
        if not self._valid_target(target):
            self.log.warn("not sending to invalid target {target!r}", target=target[:100])
            return
        protocol = self.current
        if protocol is None or not self.connected:
            self.log.warn("not connected to IRC; dropped a message to {target}", target=target)
            return
        action = kind == "action"
        command = "NOTICE" if kind == "notice" else "PRIVMSG"
        budget = self.text_budget(command, target, action)
        pieces: list[bytes] = []
        for line in split_lines(text):
            pieces.extend(split_bytes(line.encode("utf-8", "replace"), budget))
        channel = self.isupport.is_channel(target)
        cap = self.settings.max_reply_lines if channel else self.settings.max_private_lines
        dropped = len(pieces) - cap
        if dropped > 0:
            del pieces[cap:]
        head = b"%s %s :" % (command.encode("ascii"), target.encode("utf-8"))
        if action:
            head += b"\x01ACTION "
        tail = b"\x01\r\n" if action else b"\r\n"
        throttle = self.throttle
        key = self.isupport.fold(person) if person else target
        bounded = person is not None
        refused = 0
        for piece in pieces:
            refused += not throttle.send(head + piece + tail, key, bounded)
        if dropped > 0:
            # a pointer to the rest: a private answer has room for more lines than a channel's
            more_in_private = channel and cap < self.settings.max_private_lines
            where = ": ask me in private for the rest" if more_in_private else ""
            refused += not throttle.send(build(
                "NOTICE" if kind == "notice" else "PRIVMSG", target,
                "(%d more line%s dropped%s)" % (dropped, "" if dropped == 1 else "s", where)), key, bounded)
        if refused:
            self.output_dropped += refused
            self.note("output-full", LogLevel.warn,
                      "output queue full for {key}: dropped {count} line(s) to {target}",
                      key=key[:50], count=refused, target=target[:50])

    # control from chat (pubbot.admin): names and text are checked there and here

    def join_channel(self, name: str, key: str | None = None) -> bool:
        """JOIN C{name} (with C{key}) now when connected; False when C{name} is no channel name here."""
        if not self._valid_target(name) or not self.isupport.is_channel(name) or (
                key is not None and not self._valid_target(key)):
            return False
        if self.current is not None and self.connected:
            self.current.join(name, key)
        return True

    def part_channel(self, name: str, reason: str = "") -> bool:
        """PART C{name} now when connected; False when C{name} is no channel name here."""
        if not self._valid_target(name) or not self.isupport.is_channel(name):
            return False
        call = self._rejoins.pop(name, None)
        if call is not None and call.active():
            call.cancel()
        if self.current is not None and self.connected:
            reason = " ".join(reason.replace("\0", " ").split())[:200]
            if reason:
                self.current.send("PART", name, reason)
            else:
                self.current.send("PART", name)
        return True

    def change_nick(self, nick: str) -> bool:
        """Ask for the nick C{nick} now (until the next connection); False when it cannot be a nick."""
        if (not self._valid_target(nick) or self.isupport.is_channel(nick)
                or any(c in nick for c in "!@*?:") or nick[0] in "0123456789-"):
            return False
        if self.current is not None and self.connected:
            self.current.send("NICK", nick)
        return True

    # moderation (pubbot.moderation): the plugin checks the bot's modes first

    def _live_channel(self, channel: str) -> bool:
        return (self._valid_target(channel) and self.isupport.is_channel(channel)
                and self.current is not None and self.connected)

    def _moderate(self, command: str, *params: str) -> bool:
        if self.current is None:
            return False
        try:
            self.current.send(command, *params)
        except LineError:
            return False
        return True

    def kick(self, channel: str, nick: str, reason: str = "") -> bool:
        """KICK C{nick} out of C{channel} (C{reason} made one line, cut to KICKLEN)."""
        if not self._live_channel(channel) or not self._valid_target(nick) or self.isupport.is_channel(nick):
            return False
        reason = one_line_text(reason, _int_token(self.isupport.raw.get("KICKLEN"), MAX_MODERATION_TEXT))
        return self._moderate("KICK", channel, nick, *([reason] if reason else []))

    def mode(self, channel: str, change: str, argument: str) -> bool:
        """MODE C{channel} C{change} C{argument}: C{change} a sign and a list or prefix mode of the server."""
        letter, isupport = change[1:], self.isupport
        if (not self._live_channel(channel) or len(change) != 2 or change[0] not in "+-"
                or not letter.isalpha() or letter not in isupport.chanmodes[0] + isupport.prefix_modes
                or not self._valid_target(argument) or len(argument) > MAX_MODE_ARGUMENT):
            return False
        return self._moderate("MODE", channel, change, argument)

    def set_topic(self, channel: str, text: str) -> bool:
        """TOPIC C{channel} C{text} (made one line, cut to TOPICLEN); an empty text clears it."""
        if not self._live_channel(channel):
            return False
        text = one_line_text(text, _int_token(self.isupport.raw.get("TOPICLEN"), MAX_MODERATION_TEXT))
        return self._moderate("TOPIC", channel, text)

    def quiet_mode(self, mask: str) -> tuple[str, str] | None:
        """How this server quiets C{mask} (see L{ISupport.quiet_mode})."""
        return self.isupport.quiet_mode(mask)

    def hostmask_of(self, nick: str) -> str | None:
        user = self.rosters.users.get(nick)
        return user.hostmask if user is not None and user.host else None

    def hand_over(self) -> list:
        """
        Take what waits in the throttle (this process stops being the owner):
        [(target, text, kind)] of the lines to people and channels, in order,
        for the next owner to send; the rest (JOIN...) is of no use to it.
        """
        out = []
        for raw in self.throttle.take():
            try:
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                command, target, text = line.split(" ", 2)
            except ValueError:
                continue
            if command not in ("PRIVMSG", "NOTICE") or not text.startswith(":"):
                continue
            text, kind = text[1:], "notice" if command == "NOTICE" else "say"
            if text.startswith("\x01ACTION ") and text.endswith("\x01"):
                text, kind = text[8:-1], "action"
            out.append((target, text, kind))
        return out

    def say(self, target: str, text: str) -> None:
        self.send(target, text, "say")

    def notice(self, target: str, text: str) -> None:
        self.send(target, text, "notice")

    def action(self, target: str, text: str) -> None:
        self.send(target, text, "action")

    def reconfigure(self, settings) -> None:
        """
        Take up changed settings of this network on the live connection
        (see L{pubbot.reload.Reconfigurer}, which keeps the keys a
        connection cannot change): channels joined and parted, the
        throttle, reply caps, command prefix and timers.
        """
        old_wanted = {self.isupport.fold(name): name for name, _ in self.wanted_channels}
        self.settings = settings
        self.command_prefix = settings.command_prefix
        t, throttle = settings.throttle, self.throttle
        throttle.burst, throttle.per_second, throttle.enabled = t.burst, t.per_second, t.enabled
        self.throttle.max_per_person = 2 + 2 * max(settings.max_reply_lines, settings.max_private_lines)
        wanted = []
        for entry in settings.channels:
            name, _, key = entry.partition(" ")
            wanted.append((name, key.strip() or None))
        self.wanted_channels = wanted
        fold = self.isupport.fold
        now = {fold(name) for name, _ in wanted}
        live = self.current is not None and self.connected
        for name, key in wanted:
            if fold(name) not in old_wanted:
                self.log.info("joining {channel} (config reloaded)", channel=name)
                if live and self.current is not None:
                    self.current.join(name, key)
        for folded, name in old_wanted.items():
            if folded not in now:
                call = self._rejoins.pop(name, None)
                if call is not None and call.active():
                    call.cancel()
                self.log.info("leaving {channel} (config reloaded)", channel=name)
                if live and self.current is not None:
                    self.current.send("PART", name, "bye")

    def roster(self, channel: str) -> list:  # type: ignore[override]
        return self.rosters.nicks(channel)

    def modes(self, channel: str, nick: str) -> str:
        """C{nick}'s live prefix modes in C{channel} (C{"o"}, C{"v"}, ...), for permissions."""
        return self.rosters.modes(channel, nick)

    # dashboard

    def channels(self) -> dict:
        return {name: self.rosters.entries(name) for name in self.rosters.channels}

    def channel_summary(self, max_channels: int, max_members: int) -> dict:
        """
        The dashboard's bounded view, at a cost bounded by the limits, not
        the rosters: C{{"count": channels, "channels": {name: (members,
        [the first max_members entries])}}} for the first C{max_channels}.
        """
        rosters = self.rosters
        shown = {}
        for name, chan in rosters.channels.first(max_channels):
            shown[name] = (len(chan.members), rosters.entries(name, max_members))
        return {"count": len(rosters.channels), "channels": shown}

    def throttle_depth(self) -> int:
        return self.throttle.depth()
