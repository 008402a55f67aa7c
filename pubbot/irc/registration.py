"""
Registration on an IRC connection as an explicit state machine (sans-IO).

L{Registration} sends C{CAP LS 302}, NICK and USER, then moves through one
phase object at a time, each handling only the lines that matter to it:

- L{ListingCaps}: the server's capability listing; STS upgrades a plain
  connection; then the wanted capabilities are requested (or, with nothing
  to request, negotiation ends);
- L{RequestingCaps}: until every request is ACKed or NAKed;
- L{Authenticating}: SASL, one configured mechanism after another;
- L{AwaitingWelcome}: C{CAP END} sent, until 001;
- L{Registered}: later C{CAP NEW} offers are requested too;
- L{Failed}: nothing more (the connection is being dropped).

Before 001, every phase takes a refused nick (432/433/436/437) by trying the
next one, and takes an early 001 (a server without CAP). The machine reads
the L{ConnectionState} (already fed the line) and acts only through its
L{RegistrationIO}, so each phase is tested with lines alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.logger import Logger, LogLevel

from . import sts as stsmod
from .caps import request_lines
from .lines import Line
from .sasl import Mechanism, PayloadReader, SaslError, encode_payload, make_mechanism
from .state import ConnectionState

log = Logger()

NICK_ERRORS = frozenset({"432", "433", "436", "437"})
#: Nick refusals answered before registration; a server refusing every nick
#: gets no more tries than this (the connection is dropped and retried later).
MAX_NICK_TRIES = 30
#: C{CAP LS} lines taken before the listing must have ended (real servers send a few).
MAX_LS_LINES = 100


class RegistrationIO(Protocol):
    """What the registration machine does to its connection."""

    def send_now(self, command: str, *params: str) -> None:
        """Send ahead of the output queue (registration lines)."""

    def send(self, command: str, *params: str) -> None:
        """Send behind the output queue (after registration)."""

    def fail(self, reason: str, sasl: bool = False) -> None:
        """Registration cannot succeed (C{sasl}: because of SASL): drop the connection, to retry later."""

    def upgrade(self, port: int) -> None:
        """STS: reconnect with TLS on C{port}."""

    def keep_sts_policy(self, duration: int) -> None:
        """STS on a TLS connection: remember the policy for C{duration} seconds."""

    def note(self, kind: str, level: LogLevel, format: str, **fields: Any) -> None:
        """Log what the server can make happen as often as it likes (bounded per C{kind})."""

    def welcomed(self) -> None:
        """001 arrived: we are on the network."""


@dataclass(frozen=True)
class SaslConfig:
    """SASL as configured: mechanisms in order of preference, credentials, policy."""

    mechanisms: tuple[str, ...]
    username: str
    password: str
    allow_plaintext: bool = False

    def usable(self, tls: bool) -> tuple[str, ...]:
        """The mechanisms that may be tried: never PLAIN in clear unless allowed."""
        if tls or self.allow_plaintext:
            return self.mechanisms
        return tuple(m for m in self.mechanisms if m != "PLAIN")


class Phase:
    """One phase of registration; the base handles what every phase before 001 takes."""

    def receive(self, reg: Registration, line: Line) -> None:
        command = line.command
        if command == "001":
            reg.welcome()
        elif command in NICK_ERRORS:
            reg.next_nick()

    def __repr__(self) -> str:
        return type(self).__name__


class ListingCaps(Phase):
    def receive(self, reg: Registration, line: Line) -> None:
        if line.command == "CAP" and len(line.params) >= 2 and line.params[1].upper() == "LS":
            reg.ls_lines += 1
            if reg.state.caps_listed:
                reg.listed()
            elif reg.ls_lines >= MAX_LS_LINES:
                reg.fail("the server's capability list does not end (%d lines)" % (reg.ls_lines,))
            return
        if line.command == "421" and len(line.params) >= 2 and line.params[1].upper() == "CAP":
            reg.phase = reg.phases.awaiting_welcome  # no CAP at all: NICK and USER are enough
            return
        super().receive(reg, line)


class RequestingCaps(Phase):
    def receive(self, reg: Registration, line: Line) -> None:
        if line.command == "CAP" and len(line.params) >= 2:
            sub = line.params[1].upper()
            if sub == "NAK":  # (a server may say it again and again until registration times out)
                reg.io.note("cap-nak", LogLevel.info, "server refused capabilities: {caps}",
                            caps=line.params[-1][:200])
            if sub in ("ACK", "NAK") and not reg.state.caps.pending:
                reg.caps_settled()
            return
        super().receive(reg, line)


class Authenticating(Phase):
    def receive(self, reg: Registration, line: Line) -> None:
        handler = _SASL_LINES.get(line.command)
        if handler is not None:
            handler(reg, line)
        else:
            super().receive(reg, line)


class AwaitingWelcome(Phase):
    pass


class Registered(Phase):
    def receive(self, reg: Registration, line: Line) -> None:
        if line.command == "CAP" and len(line.params) >= 2 and line.params[1].upper() == "NEW":
            reg.offered(reg.state.caps_new)


class Failed(Phase):
    def receive(self, reg: Registration, line: Line) -> None:
        pass


class _Phases:
    """The phase objects (stateless: one set per machine keeps repr and identity simple)."""

    def __init__(self) -> None:
        self.listing_caps = ListingCaps()
        self.requesting_caps = RequestingCaps()
        self.authenticating = Authenticating()
        self.awaiting_welcome = AwaitingWelcome()
        self.registered = Registered()
        self.failed = Failed()


class Registration:
    """
    Registers one connection. C{nick_for(index)} is the nick to try after
    C{index} refusals; C{sasl} is None when SASL is not configured;
    C{sts_host} is the server's host name (None: STS does not apply).
    """

    def __init__(self, state: ConnectionState, io: RegistrationIO, nick_for: Callable[[int], str],
                 username: str, realname: str, sasl: SaslConfig | None = None,
                 tls: bool = False, sts_host: str | None = None, logger: Logger | None = None):
        self.log = logger or log
        self.state = state
        self.io = io
        self.nick_for = nick_for
        self.username = username
        self.realname = realname
        self.sasl = sasl
        self.tls = tls
        self.sts_host = sts_host
        self.phases = _Phases()
        self.phase: Phase = self.phases.listing_caps
        self.nick_tries = 0
        self.ls_lines = 0
        self.sasl_done = False
        self._queue: list[str] = []
        self._offered: set[str] | None = None
        self.mechanism: Mechanism | None = None
        self._reader: PayloadReader | None = None
        self._cap_end_sent = False

    @property
    def done(self) -> bool:
        return self.phase is self.phases.registered

    def start(self) -> None:
        io = self.io
        io.send_now("CAP", "LS", "302")
        self.state.nick = self.nick_for(0)
        io.send_now("NICK", self.state.nick)
        io.send_now("USER", self.username, "0", "*", self.realname)

    def receive(self, line: Line) -> None:
        """Take a line (after the state has taken it)."""
        self.phase.receive(self, line)

    # transitions

    def fail(self, reason: str, sasl: bool = False) -> None:
        self.phase = self.phases.failed
        self.mechanism = None
        self.io.fail(reason, sasl)

    def welcome(self) -> None:
        if self.sasl is not None and not self.sasl_done:
            self.sasl_failed("the server registered us without SASL")
            return
        self.phase = self.phases.registered
        self.io.welcomed()

    def next_nick(self) -> None:
        self.nick_tries += 1
        if self.nick_tries > MAX_NICK_TRIES:
            self.fail("the server refused %d nicks" % (MAX_NICK_TRIES,))
            return
        self.state.nick = self.nick_for(self.nick_tries)
        # Paced by the output queue: a server refusing every nick gets a
        # line a second at most, not a storm.
        self.io.send("NICK", self.state.nick)

    def _sts(self, value: str | None) -> bool:
        """Apply an offered sts value; True when this connection is closing for a TLS upgrade."""
        policy = stsmod.parse_value(value)
        if policy is None or self.sts_host is None:
            if value is not None:  # (CAP NEW can offer one on every line)
                self.io.note("sts-malformed", LogLevel.warn, "ignoring a malformed STS policy {value!r}",
                             value=value[:100])
            return False
        if not self.tls:
            if policy.port is None:
                return False
            self.log.info("server {host} requires TLS (STS): reconnecting on port {port}",
                     host=self.sts_host, port=policy.port)
            self.phase = self.phases.failed
            self.io.upgrade(policy.port)
            return True
        if policy.duration is not None:
            self.io.keep_sts_policy(policy.duration)
        return False

    def listed(self) -> None:
        caps = self.state.caps
        if "sts" in caps.available and self._sts(caps.available["sts"]):
            return
        names = caps.wanted(caps.available, sasl=self.sasl is not None)
        if self.sasl is not None and "sasl" not in names:
            self.sasl_failed("the server does not offer SASL")
            return
        self.phase = self.phases.requesting_caps
        for arg in request_lines(names):
            caps.pending.add(arg)
            self.io.send_now("CAP", "REQ", arg)
        if not caps.pending:
            self.caps_settled()

    def caps_settled(self) -> None:
        if self.sasl is None:
            self.end_caps()
            return
        if "sasl" not in self.state.caps.enabled:
            self.sasl_failed("the server refused the sasl capability")
            return
        self.phase = self.phases.authenticating
        advertised = self.state.caps.available.get("sasl")
        self._offered = set(advertised.upper().split(",")) if advertised else None
        usable = self.sasl.usable(self.tls)
        if len(usable) < len(self.sasl.mechanisms):
            self.log.warn("SASL PLAIN not tried: it would send the password in clear on this plain-text "
                     "connection (set [irc.sasl] allow_plaintext = true to allow it)")
        self._queue = [m for m in usable if self._offered is None or m in self._offered]
        self.next_mechanism()

    def end_caps(self) -> None:
        if not self._cap_end_sent:
            self._cap_end_sent = True
            self.io.send_now("CAP", "END")
        if self.phase is not self.phases.registered:
            self.phase = self.phases.awaiting_welcome

    def offered(self, added: dict[str, str | None]) -> None:
        """CAP NEW after registration: request what we want of it."""
        if "sts" in added and self._sts(added["sts"]):
            return
        caps = self.state.caps
        for arg in request_lines(caps.wanted(added, sasl=False)):
            caps.pending.add(arg)
            self.io.send("CAP", "REQ", arg)

    # SASL

    def next_mechanism(self) -> None:
        assert self.sasl is not None
        if self._queue:
            name = self._queue.pop(0)
            self.mechanism = make_mechanism(name, self.sasl.username, self.sasl.password)
            self._reader = PayloadReader()
            self.log.info("SASL: trying {mechanism}", mechanism=name)
            self.io.send_now("AUTHENTICATE", name)
            return
        self.mechanism = None
        offered = ",".join(sorted(self._offered)) if self._offered else "unknown"
        self.sasl_failed("no configured mechanism was accepted (server offers %s)" % offered)

    def sasl_failed(self, reason: str) -> None:
        self.log.error("SASL authentication failed ({reason}); not connecting without it: "
                  "disconnecting to retry later", reason=reason)
        self.fail("SASL failed", sasl=True)

    def _authenticate(self, line: Line) -> None:
        if self.mechanism is None or self._reader is None or not line.params:
            return
        try:
            payload = self._reader.feed(line.params[0])
            if payload is None:
                return
            response = self.mechanism.respond(payload)
        except SaslError as e:
            self.io.send_now("AUTHENTICATE", "*")
            self.sasl_failed("%s: %s" % (self.mechanism.name, e))
            return
        for chunk in encode_payload(response):
            self.io.send_now("AUTHENTICATE", chunk)

    def _succeeded(self, line: Line) -> None:  # 903
        mechanism = self.mechanism
        if mechanism is None:
            return
        try:
            mechanism.verify_done()
        except SaslError as e:
            self.sasl_failed("%s: %s" % (mechanism.name, e))
            return
        self.log.info("SASL {mechanism} succeeded", mechanism=mechanism.name)
        self.mechanism = None
        self.sasl_done = True
        self.end_caps()

    def _mechanism_failed(self, line: Line) -> None:  # 904
        if self.mechanism is None:
            return
        self.log.warn("SASL {mechanism} failed: {message}", mechanism=self.mechanism.name,
                 message=line.params[-1][:200] if line.params else "")
        self.next_mechanism()

    def _refused(self, line: Line) -> None:  # 902, 905, 906, 907
        self.sasl_failed("%s %s" % (line.command, line.params[-1][:200] if line.params else ""))

    def _mechanisms(self, line: Line) -> None:  # 908 RPL_SASLMECHS
        if len(line.params) >= 2:
            self._offered = set(line.params[1].upper().split(","))
            self._queue = [m for m in self._queue if m in self._offered]


_SASL_LINES: dict[str, Callable[[Registration, Line], None]] = {
    "AUTHENTICATE": Registration._authenticate,
    "903": Registration._succeeded,
    "904": Registration._mechanism_failed,
    "902": Registration._refused,
    "905": Registration._refused,
    "906": Registration._refused,
    "907": Registration._refused,
    "908": Registration._mechanisms,
}
