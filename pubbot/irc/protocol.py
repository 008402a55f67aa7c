"""
The IRC client protocol: one per connection, thin, stateless beyond the connection.

Why not C{twisted.words.protocols.irc.IRCClient}: nearly everything the bot
needs would have to be overridden (its strict UTF-8 decoding raises on
Latin-1 lines, it parses no message tags, has no CAP, SASL or STS, wraps
text by characters rather than bytes, keeps channel state in the protocol,
and its line framing drops the whole connection on one long line). What
remains is small, so this protocol is written directly on
L{twisted.internet.protocol.Protocol} and keeps its per-line path lean.

The protocol frames and decodes lines (L{pubbot.irc.text.decode}: UTF-8,
falling back per line), parses them (L{pubbot.irc.lines}), runs
registration (CAP LS 302, SASL, nick fallback), answers PING, pings a quiet
server and drops a dead one, and turns chat into bot messages. Everything
that outlives a connection (nick, rosters, ISUPPORT, capabilities, counters,
the throttle) lives on the L{pubbot.irc.service.IRCService}.
"""

from __future__ import annotations

import email.utils
import random
from datetime import datetime
from typing import TYPE_CHECKING, Optional

from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Protocol
from twisted.logger import Logger

from ..chat import addressed
from ..message import Message
from ..topics import chat_topic
from ..version import __version__
from . import sts as stsmod
from .caps import request_lines
from .lines import MAX_TAGS_BYTES, Line, LineError, build, parse, split_source
from .sasl import Mechanism, PayloadReader, SaslError, encode_payload, make_mechanism
from .text import decode

if TYPE_CHECKING:  # pragma: no cover
    from .service import IRCService

log = Logger()

#: The longest line accepted: 8191 bytes of tags plus a 512-byte line (CR LF excluded).
MAX_LINE = MAX_TAGS_BYTES + 1 + 510
#: Seconds to finish registration (CAP, SASL, welcome) before giving up.
REGISTRATION_TIMEOUT = 120.0
#: Seconds after the welcome to wait for the end of the MOTD before joining anyway.
JOIN_FALLBACK = 10.0
WHOX_TOKEN = "152"
CTCP_CLIENTINFO = "ACTION CLIENTINFO PING TIME VERSION"
_NICK_ERRORS = ("432", "433", "436", "437")
_JOIN_ERRORS = {"403": "no such channel", "405": "too many channels", "471": "channel is full",
                "473": "invite only", "474": "banned", "475": "bad channel key",
                "477": "registered users only"}


class SaslFailed(Exception):
    pass


def parse_server_time(value: str) -> Optional[float]:
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None


class IRCProtocol(Protocol):
    """One IRC connection, driven by lines from the server."""

    _handlers: dict = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._collect()

    @classmethod
    def _collect(cls) -> None:
        handlers = {}
        for klass in reversed(cls.__mro__):
            for name, value in vars(klass).items():
                if name.startswith("irc_") and callable(value):
                    handlers[name[4:]] = value
        cls._handlers = handlers

    def __init__(self, service: "IRCService"):
        self.service = service
        self.clock = service.clock
        self._buffer = b""
        self._discarding = False
        self._heard = False
        self._ping_extended = False
        self.tls = False
        self.registered = False
        self._ls_done = False
        self._cap_end_sent = False
        self._sasl_queue: list[str] = []
        self._sasl_offered: Optional[set] = None
        self._mechanism: Optional[Mechanism] = None
        self._reader: Optional[PayloadReader] = None
        self.sasl_done = False
        self._nick_index = 0
        self._joined = False
        self._ping_call = None
        self._ping_sent = 0.0
        self._ping_token = ""
        self._pings = 0
        self._timers: list = []
        self._closing = False
        self._batch: list = []
        #: Recent nicks seen in chat, folded by C{self._fold}.
        self._folded: dict[str, str] = {}
        self._fold = service.isupport.fold
        #: Chat topics by channel (as written in chat).
        self._topics: dict[str, str] = {}

    # connection

    def connectionMade(self) -> None:
        self.tls = ISSLTransport.providedBy(self.transport)
        service = self.service
        service.connection_made(self)
        self.send_now("CAP", "LS", "302")
        service.nick = service.nick_candidates[0]
        self.send_now("NICK", service.nick)
        self.send_now("USER", service.settings.username, "0", "*", service.settings.realname)
        self._ping_call = self.clock.callLater(service.settings.ping_interval, self._ping)
        self._later(REGISTRATION_TIMEOUT, self._registration_timeout)

    def connectionLost(self, reason=None) -> None:
        for call in self._timers + [self._ping_call]:
            if call is not None and call.active():
                call.cancel()
        self._timers = []
        self._ping_call = None
        self.service.connection_lost(self, reason)

    def _later(self, delay: float, f, *args):
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
        else:
            self.send_now("QUIT", reason)
            self.transport.loseConnection()

    # output

    def write(self, data: bytes) -> None:
        """Put one encoded line on the wire (the throttle calls this)."""
        self.transport.write(data)  # type: ignore[union-attr]
        self.service.lines_out += 1

    def send(self, command: str, *params: str) -> None:
        """Queue a line behind the throttle."""
        self.service.throttle.send(build(command, *params))

    def send_now(self, command: str, *params: str) -> None:
        """Send ahead of the throttle queue (registration, PONG, QUIT)."""
        self.service.throttle.send_now(build(command, *params))

    # input

    def dataReceived(self, data: bytes) -> None:
        self._heard = True
        if self._buffer:
            data = self._buffer + data
        lines = data.split(b"\n")
        rest = lines.pop()
        if len(rest) > MAX_LINE:
            if not self._discarding:
                self.service.bad_line("longer than %d bytes" % MAX_LINE, rest)
            self._discarding = True
            rest = b""
        self._buffer = rest
        # Plain channel chat (nearly every line on a busy network) is read by
        # a chat reader (see _chat_reader) and its messages dispatched as one
        # batch per read; any other line first sends the batch on, so
        # everything keeps its order.
        self._batch = []
        chat = None
        try:
            for raw in lines:
                if self._discarding:
                    self._discarding = False  # the tail of an oversized line
                    continue
                if chat is None:
                    chat = self._chat_reader()
                if chat(raw):
                    continue
                chat = None  # this line may change what the reader took as given
                if self._batch:
                    self._publish_batch()
                self.line_received(raw)
                if self._closing:
                    return
        finally:
            if self._batch:
                self._publish_batch()

    def _publish_batch(self) -> None:
        batch = self._batch
        self._batch = []
        self.service.lines_in += len(batch)
        self.service.publish_lines(batch)

    def _chat_reader(self):
        """
        A function reading C{:nick!user@host PRIVMSG #channel :text}, without
        tags, CTCP or anything odd, into a chat message (as
        C{bot.chat_message} makes it) added to the batch; it returns False
        for any other line (left to L{line_received}, which handles all
        lines).

        What it needs of the service, the bot and the settings is read once
        here, for a run of chat lines: between two of them no other code
        runs (the batch is published, and other lines handled, only after
        the reader is done with), so none of it can change meanwhile.
        """
        service = self.service
        bot = service.bot
        chantypes = service.isupport.chantypes
        fold = service.isupport.fold
        if self._fold is not fold:
            self._fold = fold
            self._folded.clear()
        folded_cache = self._folded
        own = service.folded_nick
        get_user = service.rosters.users.get_folded
        account_tag = "account-tag" in service.caps.enabled
        network = service.network
        # Addressing (C{nick: text}) and the command prefix, as Bot.chat_message reads them.
        nick_of_bot = bot.nick(network)
        prefix = bot.settings.irc.command_prefix
        address = addressed
        topics = self._topics
        seconds = self.clock.seconds
        append = self._batch.append
        new_message = Message.__new__

        def read(raw: bytes) -> bool:
            # (Cheapest first; a CR ending the line is left on it until the
            # text is cut, as no test before that can see it.)
            size = len(raw)
            if not raw or raw[0] != 58 or (size > 510 and (size > 511 or raw[510] != 13)):
                return False  # no ":source" or too long
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                line = decode(raw)
            if "\0" in line:  # (a NUL byte decodes to NUL either way)
                return False
            space = line.find(" ")
            if not line.startswith("PRIVMSG ", space + 1):
                return False
            start = space + 9
            end = line.find(" ", start)
            if end < 0 or line[end + 1:end + 2] != ":":
                return False
            target = line[start:end]
            text = line[end + 2:-1] if line[-1] == "\r" else line[end + 2:]
            if target[:1] not in chantypes or text[:1] == "\x01" or not text:
                return False
            bang = line.find("!")  # the first "!", which must be in the source
            if not 0 < bang < space or "@" not in line[bang:space]:
                return False
            nick = line[1:bang]
            folded = folded_cache.get(nick)
            if folded is None:
                if len(folded_cache) >= 4096:
                    folded_cache.clear()
                folded = folded_cache[nick] = fold(nick)
            if folded == own:
                service.lines_in += 1
                return True  # echo-message: our own line
            u = get_user(folded)
            if account_tag:
                account = None  # no account tag: not logged in
                if u is not None:
                    u.account = None
            else:
                account = u.account if u is not None else None
            content, direct, command = address(text, nick_of_bot, prefix)
            topic = topics.get(target)
            if topic is None:
                if len(topics) >= 4096:
                    topics.clear()
                topic = topics[target] = chat_topic(network, target, "chat")
            message = new_message(Message)
            message.topic = topic
            # The fields in the order bot.chat_message gives them.
            message.fields = {
                "account": account, "hostmask": line[1:space], "tags": {}, "time": seconds(),
                "action": False, "source_id": account, "network": network, "protocol": "irc", "channel": target,
                "source": nick, "content": content, "direct": direct, "command": command,
                "private": False}
            message.bot = bot
            append(message)
            return True

        return read

    def line_received(self, raw: bytes) -> None:
        if raw[-1:] == b"\r":
            raw = raw[:-1]
        if not raw:
            return
        service = self.service
        if len(raw) > 510:
            if raw[0] == 64:  # @tags
                space = raw.find(b" ")
                rest = len(raw) - space - 1
                if space < 0 or space > MAX_TAGS_BYTES or rest > service.isupport.linelen - 2:
                    service.bad_line("longer than the protocol allows", raw)
                    return
            elif len(raw) > service.isupport.linelen - 2:
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
        handler = self._handlers.get(line.command)
        if handler is not None:
            try:
                handler(self, line)
            except (IndexError, ValueError) as e:
                service.bad_line("unexpected %s (%s)" % (line.command, e), raw)
            except Exception:
                service.bad_lines += 1
                if service.bad_line_logs.allow():
                    log.failure("handling {command} failed", command=line.command)

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
            log.warn("no reply from the server in {timeout} s; dropping the connection",
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
        if not self.registered:
            log.warn("registration did not finish in {timeout} s; dropping the connection",
                     timeout=REGISTRATION_TIMEOUT)
            self.disconnect("registration timeout", abort=True)

    def irc_PING(self, line: Line) -> None:
        self.send_now("PONG", line.params[0] if line.params else "")

    def irc_PONG(self, line: Line) -> None:
        if line.params and line.params[-1] == self._ping_token:
            self.service.lag = self.clock.seconds() - self._ping_sent

    def irc_ERROR(self, line: Line) -> None:
        log.warn("server error: {message}", message=line.params[0][:300] if line.params else "")

    # capabilities

    def irc_CAP(self, line: Line) -> None:
        params = line.params
        if len(params) < 3:
            raise ValueError("too few parameters")
        sub = params[1].upper()
        caps = self.service.caps
        if sub == "LS":
            more = len(params) >= 4 and params[2] == "*"
            if caps.ls_line(params[-1], more) and not self._ls_done:
                self._ls_done = True
                self._after_ls()
        elif sub == "ACK":
            caps.ack(params[-1])
            self._caps_settled()
        elif sub == "NAK":
            caps.nak(params[-1])
            log.info("server refused capabilities: {caps}", caps=params[-1][:200])
            self._caps_settled()
        elif sub == "NEW":
            added = caps.new(params[-1])
            if "sts" in added and self._sts(added["sts"], reconnect=True):
                return
            wanted = caps.wanted(added, sasl=False)
            for arg in request_lines(wanted):
                caps.pending.add(arg)
                self.send("CAP", "REQ", arg)
        elif sub == "DEL":
            gone = caps.delete(params[-1])
            log.info("server withdrew capabilities: {caps}", caps=" ".join(sorted(gone))[:200])

    def _after_ls(self) -> None:
        service = self.service
        caps = service.caps
        if "sts" in caps.available and self._sts(caps.available["sts"], reconnect=True):
            return
        names = caps.wanted(caps.available, sasl=service.sasl_configured)
        if service.sasl_configured and "sasl" not in names:
            self._sasl_fail("the server does not offer SASL")
            return
        for arg in request_lines(names):
            caps.pending.add(arg)
            self.send_now("CAP", "REQ", arg)
        self._caps_settled()

    def _caps_settled(self) -> None:
        if self.registered or self._cap_end_sent or self.service.caps.pending or not self._ls_done:
            return
        if self.service.sasl_configured:
            if self._mechanism is not None or self.sasl_done:
                return
            if "sasl" not in self.service.caps.enabled:
                self._sasl_fail("the server refused the sasl capability")
                return
            self._start_sasl()
            return
        self._cap_end()

    def _cap_end(self) -> None:
        if not self._cap_end_sent:
            self._cap_end_sent = True
            self.send_now("CAP", "END")

    def _sts(self, value: Optional[str], reconnect: bool) -> bool:
        """Apply an sts value; True when this connection is closing for a TLS upgrade."""
        policy = stsmod.parse_value(value)
        service = self.service
        host = service.endpoint.server.host
        if policy is None or host is None:
            if value is not None:
                log.warn("ignoring a malformed STS policy {value!r}", value=value[:100])
            return False
        if not self.tls:
            if policy.port is None:
                return False
            log.info("server {host} requires TLS (STS): reconnecting on port {port}",
                     host=host, port=policy.port)
            service.endpoint.upgrade_port = policy.port
            service.retry_now = True
            self.disconnect("upgrading to TLS")
            return True
        if policy.duration is not None:
            port = service.endpoint.last[2] or 6697
            d = service.policies.save(host, port, policy.duration)
            d.addErrback(lambda f: log.failure("storing the STS policy failed", f))
        return False

    # SASL

    def _start_sasl(self) -> None:
        service = self.service
        advertised = service.caps.available.get("sasl")
        self._sasl_offered = set(advertised.upper().split(",")) if advertised else None
        self._sasl_queue = [m for m in service.sasl_mechanisms
                            if self._sasl_offered is None or m in self._sasl_offered]
        self._next_mechanism()

    def _next_mechanism(self) -> None:
        service = self.service
        while self._sasl_queue:
            name = self._sasl_queue.pop(0)
            self._mechanism = make_mechanism(name, service.sasl_username, service.sasl_password)
            self._reader = PayloadReader()
            log.info("SASL: trying {mechanism}", mechanism=name)
            self.send_now("AUTHENTICATE", name)
            return
        self._mechanism = None
        offered = ",".join(sorted(self._sasl_offered)) if self._sasl_offered else "unknown"
        self._sasl_fail("no configured mechanism was accepted (server offers %s)" % offered)

    def irc_AUTHENTICATE(self, line: Line) -> None:
        if self._mechanism is None or self._reader is None or not line.params:
            return
        try:
            payload = self._reader.feed(line.params[0])
            if payload is None:
                return
            response = self._mechanism.respond(payload)
        except SaslError as e:
            self.send_now("AUTHENTICATE", "*")
            self._sasl_fail("%s: %s" % (self._mechanism.name, e))
            return
        for chunk in encode_payload(response):
            self.send_now("AUTHENTICATE", chunk)

    def irc_900(self, line: Line) -> None:
        if len(line.params) >= 3:
            self.service.account = line.params[2]
            if line.params[1] and "@" in line.params[1]:
                self.service.hostmask = line.params[1]
            log.info("logged in as {account}", account=line.params[2])

    def irc_901(self, line: Line) -> None:
        self.service.account = None

    def irc_903(self, line: Line) -> None:
        mechanism = self._mechanism
        if mechanism is None:
            return
        try:
            mechanism.verify_done()
        except SaslError as e:
            self._sasl_fail("%s: %s" % (mechanism.name, e))
            return
        log.info("SASL {mechanism} succeeded", mechanism=mechanism.name)
        self._mechanism = None
        self.sasl_done = True
        self._cap_end()

    def irc_904(self, line: Line) -> None:
        if self._mechanism is None:
            return
        log.warn("SASL {mechanism} failed: {message}", mechanism=self._mechanism.name,
                 message=line.params[-1][:200] if line.params else "")
        self._next_mechanism()

    def irc_908(self, line: Line) -> None:
        if len(line.params) >= 2:
            self._sasl_offered = set(line.params[1].upper().split(","))
            self._sasl_queue = [m for m in self._sasl_queue if m in self._sasl_offered]

    def _sasl_numeric_fail(self, line: Line) -> None:
        if self._mechanism is None and self.sasl_done:
            return
        self._sasl_fail("%s %s" % (line.command, line.params[-1][:200] if line.params else ""))

    irc_902 = irc_905 = irc_906 = irc_907 = _sasl_numeric_fail

    def _sasl_fail(self, reason: str) -> None:
        self._mechanism = None
        self.service.sasl_failures += 1
        log.error("SASL authentication failed ({reason}); not connecting without it: "
                  "disconnecting to retry later", reason=reason)
        self.disconnect("SASL failed")

    # registration and nicks

    def irc_001(self, line: Line) -> None:
        service = self.service
        if service.sasl_configured and not self.sasl_done:
            self._sasl_fail("the server registered us without SASL")
            return
        self.registered = True
        if line.params:
            service.nick = line.params[0]
            words = line.params[-1].split(" ")
            if "!" in words[-1] and "@" in words[-1]:
                service.hostmask = words[-1]
        service.registered(self)
        self._later(JOIN_FALLBACK, self._end_of_motd)

    def irc_005(self, line: Line) -> None:
        if len(line.params) >= 2:
            self.service.isupport_changed(line.params[1:-1])

    def _end_of_motd(self, line: Optional[Line] = None) -> None:
        if self._joined or not self.registered:
            return
        self._joined = True
        service = self.service
        if not service.nick_is_wanted() and service.isupport.monitor is not None:
            self.send("MONITOR", "+", service.settings.nick)
        if not self.sasl_done and service.nickserv_password:
            self._identify()
        limit = service.isupport.channellen
        for name, key in service.wanted_channels:
            if limit and len(name) > limit:
                log.warn("not joining {channel}: the server allows channel names of {limit} characters",
                         channel=name, limit=limit)
                continue
            self.join(name, key)

    irc_376 = irc_422 = _end_of_motd

    def join(self, name: str, key: Optional[str] = None) -> None:
        if key:
            self.send("JOIN", name, key)
        else:
            self.send("JOIN", name)

    def _identify(self) -> None:
        service = self.service
        # The password goes only to the wire (never to a log).
        self.send("PRIVMSG", "NickServ",
                  "IDENTIFY %s %s" % (service.settings.nick, service.nickserv_password))

    def _nick_error(self, line: Line) -> None:
        service = self.service
        if self.registered:
            return  # a regain attempt failed; keep the current nick
        self._nick_index += 1
        service.nick = service.nick_fallback(self._nick_index)
        self.send_now("NICK", service.nick)

    irc_432 = irc_433 = irc_436 = irc_437 = _nick_error

    def _regain(self) -> None:
        service = self.service
        if self.registered and not service.nick_is_wanted():
            self.send("NICK", service.settings.nick)

    def irc_731(self, line: Line) -> None:  # RPL_MONOFFLINE
        fold = self.service.isupport.fold
        wanted = fold(self.service.settings.nick)
        if any(fold(n.partition("!")[0]) == wanted for n in line.params[-1].split(",")):
            self._regain()

    def irc_NICK(self, line: Line) -> None:
        service = self.service
        old, new = line.nick, line.params[0]
        if old is None or not new:
            raise ValueError("NICK without source or nick")
        fold = service.isupport.fold
        service.rosters.nick_change(old, new)
        if fold(old) == service.folded_nick:
            service.nick = new
            if service.nick_is_wanted():
                log.info("regained nick {nick}", nick=new)
                if service.isupport.monitor is not None:
                    self.send("MONITOR", "-", new)
                if not self.sasl_done and service.nickserv_password:
                    self._identify()
        elif fold(old) == fold(service.settings.nick):
            self._regain()

    # channels and rosters

    def _own(self, nick: Optional[str]) -> bool:
        return nick is not None and self.service.isupport.fold(nick) == self.service.folded_nick

    def irc_JOIN(self, line: Line) -> None:
        service = self.service
        channel = line.params[0]
        nick, user, host = split_source(line.source or "")
        if not nick or not channel:
            raise ValueError("JOIN without source or channel")
        u = service.rosters.join(channel, nick, user, host)
        if len(line.params) >= 3 and "extended-join" in service.caps.enabled:
            u.account = None if line.params[1] == "*" else line.params[1]
            u.realname = line.params[2]
        elif "account" in line.tags:
            u.account = line.tags["account"]
        if self._own(nick):
            service.joined(channel, line.source)
            if service.isupport.whox:
                self.send("WHO", channel, "%tcuhnfa," + WHOX_TOKEN)
            else:
                self.send("WHO", channel)
            return
        service.publish_event(channel, "join", source=nick, hostmask=line.source,
                              account=u.account, source_id=u.account)

    def irc_PART(self, line: Line) -> None:
        service = self.service
        channel = line.params[0]
        nick = line.nick
        if nick is None:
            raise ValueError("PART without source")
        reason = line.params[1] if len(line.params) > 1 else ""
        if self._own(nick):
            service.left(channel)
            return
        u = service.rosters.users.get(nick)
        account = u.account if u else None
        service.rosters.part(channel, nick)
        service.publish_event(channel, "leave", source=nick, hostmask=line.source, account=account,
                              source_id=account, kind="part", reason=reason)

    def irc_KICK(self, line: Line) -> None:
        service = self.service
        channel, victim = line.params[0], line.params[1]
        reason = line.params[2] if len(line.params) > 2 else ""
        if self._own(victim):
            log.warn("kicked from {channel} by {by}: {reason}", channel=channel, by=line.nick,
                     reason=reason[:200])
            service.left(channel)
            service.schedule_rejoin(channel)
            return
        u = service.rosters.users.get(victim)
        account = u.account if u else None
        hostmask = u.hostmask if u else None
        service.rosters.part(channel, victim)
        service.publish_event(channel, "leave", source=victim, hostmask=hostmask, account=account,
                              source_id=account, kind="kick", reason=reason, by=line.nick)

    def irc_QUIT(self, line: Line) -> None:
        service = self.service
        nick = line.nick
        if nick is None:
            raise ValueError("QUIT without source")
        reason = line.params[0] if line.params else ""
        u = service.rosters.users.get(nick)
        account = u.account if u else None
        for channel in service.rosters.quit(nick):
            service.publish_event(channel, "leave", source=nick, hostmask=line.source, account=account,
                                  source_id=account, kind="quit", reason=reason)
        if service.isupport.fold(nick) == service.isupport.fold(service.settings.nick):
            self._regain()

    def irc_MODE(self, line: Line) -> None:
        service = self.service
        isupport = service.isupport
        params = line.params
        if len(params) < 2 or not isupport.is_channel(params[0]):
            return
        channel = params[0]
        args = params[2:]
        adding = True
        for mode in params[1]:
            if mode == "+":
                adding = True
            elif mode == "-":
                adding = False
            elif isupport.mode_takes_param(mode, adding):
                if not args:
                    return
                arg = args.pop(0)
                index = isupport.prefix_modes.find(mode)
                if index >= 0:
                    service.rosters.set_prefix(channel, arg, isupport.prefix_symbols[index], adding)

    def irc_353(self, line: Line) -> None:  # RPL_NAMREPLY
        if len(line.params) >= 3:
            self.service.rosters.names(line.params[-2], line.params[-1].split())

    def irc_366(self, line: Line) -> None:  # RPL_ENDOFNAMES
        if len(line.params) >= 2:
            self.service.rosters.end_of_names(line.params[1])

    def irc_352(self, line: Line) -> None:  # RPL_WHOREPLY: me chan user host server nick flags :hops real
        p = line.params
        if len(p) >= 7:
            u = self.service.rosters.users.get(p[5])
            if u is not None:
                u.user, u.host, u.away = p[2], p[3], "G" in p[6]

    def irc_354(self, line: Line) -> None:  # WHOX: me token chan user host nick flags account
        p = line.params
        if len(p) >= 8 and p[1] == WHOX_TOKEN:
            u = self.service.rosters.users.get(p[5])
            if u is not None:
                u.user, u.host, u.away = p[3], p[4], "G" in p[6]
                u.account = None if p[7] in ("0", "*") else p[7]

    def irc_ACCOUNT(self, line: Line) -> None:
        u = self.service.rosters.users.get(line.nick or "")
        if u is not None and line.params:
            u.account = None if line.params[0] == "*" else line.params[0]

    def irc_AWAY(self, line: Line) -> None:
        u = self.service.rosters.users.get(line.nick or "")
        if u is not None:
            u.away = bool(line.params)

    def irc_CHGHOST(self, line: Line) -> None:
        if len(line.params) < 2:
            raise ValueError("CHGHOST needs user and host")
        nick = line.nick or ""
        u = self.service.rosters.users.get(nick)
        if u is not None:
            u.user, u.host = line.params[0], line.params[1]
        if self._own(nick):
            self.service.hostmask = "%s!%s@%s" % (nick, line.params[0], line.params[1])

    def irc_396(self, line: Line) -> None:  # RPL_VISIBLEHOST: me host :is now your displayed host
        if len(line.params) >= 2 and self.service.hostmask:
            prefix = self.service.hostmask.rpartition("@")[0]
            self.service.hostmask = prefix + "@" + line.params[1]

    def irc_SETNAME(self, line: Line) -> None:
        u = self.service.rosters.users.get(line.nick or "")
        if u is not None and line.params:
            u.realname = line.params[0]

    def irc_INVITE(self, line: Line) -> None:
        if len(line.params) >= 2 and self._own(line.params[0]):
            log.info("{nick} invited us to {channel}", nick=line.nick, channel=line.params[1][:100])

    def _join_error(self, line: Line) -> None:
        channel = line.params[1] if len(line.params) > 1 else "?"
        log.warn("cannot join {channel}: {reason}", channel=channel[:100],
                 reason=_JOIN_ERRORS.get(line.command, line.command))

    irc_403 = irc_405 = irc_471 = irc_473 = irc_474 = irc_475 = irc_477 = _join_error

    # chat

    def irc_PRIVMSG(self, line: Line) -> None:
        params = line.params
        if len(params) < 2:
            raise ValueError("PRIVMSG needs a target and text")
        service = self.service
        nick = line.nick
        if nick is None or self._own(nick):
            return  # echo-message: our own line
        target, text = params[0], params[1]
        action = False
        if text[:1] == "\x01":
            body = text[1:-1] if text.endswith("\x01") and len(text) > 1 else text[1:]
            command, _, arg = body.partition(" ")
            command = command.upper()
            if command != "ACTION":
                self._ctcp(nick, command, arg)
                return
            action, text = True, arg
        isupport = service.isupport
        chantypes = isupport.chantypes
        if target[:1] in chantypes:
            channel = target
        elif len(target) > 1 and target[0] in isupport.prefix_symbols and target[1] in chantypes:
            channel = target[1:]  # STATUSMSG (@#chan)
        else:
            channel = None
        tags = line.tags
        if "account-tag" in service.caps.enabled:
            account = tags.get("account") or None
            u = service.rosters.users.get(nick)
            if u is not None:
                u.account = account
        else:
            u = service.rosters.users.get(nick)
            account = u.account if u is not None else None
        when = tags.get("time")
        stamp = parse_server_time(when) if when else None
        service.publish_line(channel if channel is not None else nick, nick, text,
                             private=channel is None, account=account, hostmask=line.source,
                             tags=dict(tags) if tags else {},
                             time=stamp if stamp is not None else self.clock.seconds(),
                             action=action, source_id=account)

    def _ctcp(self, nick: str, command: str, arg: str) -> None:
        if command not in ("VERSION", "PING", "TIME", "CLIENTINFO"):
            return
        service = self.service
        if not service.ctcp_limits.allow(person=service.isupport.fold(nick)):
            log.info("CTCP {command} from {nick} not answered (rate limit)", command=command, nick=nick)
            return
        if command == "VERSION":
            reply = "VERSION pubbot %s (Twisted)" % (__version__,)
        elif command == "PING":
            reply = "PING " + "".join(c for c in arg if c >= " ")[:64]
        elif command == "TIME":
            reply = "TIME " + email.utils.formatdate(self.clock.seconds(), usegmt=True)
        else:
            reply = "CLIENTINFO " + CTCP_CLIENTINFO
        self.send("NOTICE", nick, "\x01%s\x01" % reply.rstrip())

    def irc_BATCH(self, line: Line) -> None:
        pass  # lines inside batches are handled one by one

    def _standard_reply(self, line: Line) -> None:
        log.info("server says {kind} {text}", kind=line.command,
                 text=" ".join(line.params)[:300])

    irc_FAIL = irc_WARN = _standard_reply


IRCProtocol._collect()


def nick_fallback(base: str, alternatives: tuple, index: int, nicklen: Optional[int],
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
