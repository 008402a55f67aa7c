"""
ZeroMQ, for programs that are not pubbot plugins (txzmq on the reactor).

- C{[zmq] publish}: a PUB socket sending every bus message as two frames,
  the topic (so subscribers filter by topic prefix, e.g. C{chat.irc.}) and
  a JSON body C{{"topic": ..., "fields": {...}}}.
- C{[zmq] commands}: a PULL socket taking one-frame JSON commands,
  C{{"command": "say" | "notice" | "action", "channel": "#pubbot",
  "text": "hello"}} (optional C{"network"}: a network's name, default the
  first network; C{"protocol"} is read as C{"network"} for older clients).

Both bind to loopback by default. Off loopback they need CURVE: the
server's key pair (C{curve_public_key}, C{curve_secret_key}) and the
public keys of the clients let in (C{curve_clients}, checked by a ZAP
handler). In a scaled-out bot the IRC owner runs them.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.logger import Logger, LogLevel

from ..config.networks import first_network, network_name_problem
from ..core.message import json_default
from ..util.boundedlog import BoundedLog

log = Logger()

#: Longest command accepted (bytes) and longest text in one.
MAX_COMMAND = 8192
MAX_TEXT = 2048
#: Messages queued per subscriber before the PUB socket drops (ZeroMQ's high-water mark).
HIGH_WATER = 10000

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
#: Log lines a minute at most for each kind of refusal (a rejected command,
#: a refused or malformed ZAP request, a failed publish); the rest are
#: counted in L{ZmqService.unlogged}.
REFUSAL_LOGS = 10


def is_loopback(address: str) -> bool:
    """True for C{ipc://}, C{inproc://} and C{tcp://} on a loopback address."""
    scheme, _, rest = address.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp":
        return False
    host = rest.rsplit(":", 1)[0].strip("[]")
    if host in ("localhost", "lo"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", an interface name or a host name


class CommandError(ValueError):
    """A command from the PULL socket that is not acceptable; the message says why."""


def parse_command(frames: list, default_network: str = "irc") -> tuple[str, str, str, str]:
    """
    (network, channel, text, kind) from a command's frames, or
    L{CommandError}. One frame of UTF-8 JSON; one line of text; a channel.
    """
    if len(frames) != 1:
        raise CommandError("a command is one frame, not %d" % len(frames))
    raw = frames[0]
    if len(raw) > MAX_COMMAND:
        raise CommandError("command longer than %d bytes" % MAX_COMMAND)
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise CommandError("command is not UTF-8") from None
    except ValueError:
        raise CommandError("command is not JSON") from None
    if not isinstance(data, dict):
        raise CommandError("command is not a JSON object")
    kind = data.get("command")
    if kind not in ("say", "notice", "action"):
        raise CommandError("unknown command %r (say, notice, action)" % (kind,))
    channel, text = data.get("channel"), data.get("text")
    network = data.get("network", data.get("protocol", default_network))
    if not isinstance(network, str) or (network != "console" and network_name_problem(network)):
        raise CommandError("bad network %r" % (network,))
    if not isinstance(channel, str) or not channel or channel[0] not in "#&+!" \
            or any(c in channel for c in " ,\r\n\0\a") or len(channel) > 200:
        raise CommandError("bad channel %r" % (channel,))
    if not isinstance(text, str) or not text.strip():
        raise CommandError("no text")
    if any(c in text for c in "\r\n\0"):
        raise CommandError("text must be one line (no CR, LF or NUL)")
    if len(text) > MAX_TEXT:
        raise CommandError("text longer than %d characters" % MAX_TEXT)
    return network, channel, text, kind


def encode_message(message) -> list:
    """The two PUB frames of a bus message: topic, JSON body."""
    body = json.dumps({"topic": message.topic, "fields": message.fields}, default=json_default)
    return [message.topic.encode("utf-8"), body.encode("utf-8")]


class ZmqService(Service):
    """The PUB firehose and the PULL command socket of C{[zmq]} settings."""

    name = "zmq"

    def __init__(self, bot, reactor, settings):
        self.bot = bot
        self.reactor = reactor
        self.settings = settings
        self.factory: Any = None
        self.pub: Any = None
        self.pull: Any = None
        self.zap: Any = None
        self.published = 0
        self.dropped = 0
        self.commands = 0
        self.rejected = 0
        self._logs = BoundedLog(reactor, log, REFUSAL_LOGS)
        #: Refusals not logged (past L{REFUSAL_LOGS} a minute), by kind.
        self.unlogged: Counter[str] = self._logs.unlogged
        #: Where a command naming no network goes: the first network.
        self.default_network = first_network(bot.settings)

    def startService(self) -> None:
        super().startService()
        from txzmq import ZmqFactory
        s = self.settings
        self.factory = ZmqFactory()
        self.factory.reactor = self.reactor
        try:
            if s.curve_secret_key:
                self._check_keys()
                self.zap = _zap_handler(self.factory, s.curve_clients, self.note)
            if s.publish:
                self.pub = self._bind(_pub_class(), s.publish)
                self.bot.dispatcher.observers.append(self.on_message)
            if s.commands:
                self.pull = self._bind(_pull_class(self), s.commands)
        except Exception as e:  # a socket that cannot bind must not take the bot down
            log.error("ZeroMQ is off: {error}", error=e)
            self._close()

    def stopService(self) -> None:
        super().stopService()
        self._close()

    def _close(self) -> None:
        if self.on_message in self.bot.dispatcher.observers:
            self.bot.dispatcher.observers.remove(self.on_message)
        if self.factory is not None:
            self.factory.shutdown()
        self.factory = self.pub = self.pull = self.zap = None

    def note(self, kind: str, format: str, **fields: Any) -> None:
        """
        Log a warning of C{kind} (what a client can make happen at will), at
        most L{REFUSAL_LOGS} times a minute per kind; count the rest.
        """
        self._logs.note(kind, LogLevel.warn, format, **fields)

    def _check_keys(self) -> None:
        import zmq
        s = self.settings
        if zmq.curve_public(s.curve_secret_key.encode()) != s.curve_public_key.encode():
            raise ValueError("[zmq] curve_public_key is not the public key of curve_secret_key")

    def _bind(self, cls, address: str):
        import zmq
        from txzmq import ZmqEndpoint, ZmqEndpointType
        connection = cls(self.factory)
        sock = connection.socket
        if self.settings.curve_secret_key:
            sock.curve_server = True
            sock.curve_secretkey = self.settings.curve_secret_key.encode()
            sock.curve_publickey = self.settings.curve_public_key.encode()
            sock.zap_domain = b"pubbot"
        sock.setsockopt(zmq.SNDHWM, HIGH_WATER)
        connection.addEndpoints([ZmqEndpoint(ZmqEndpointType.bind, address)])
        log.info("ZeroMQ {kind} socket bound to {address}{curve}", kind=cls.kind, address=address,
                 curve=" (CURVE)" if self.settings.curve_secret_key else "")
        return connection

    # the firehose

    def on_message(self, message) -> None:
        """A dispatcher observer: publish C{message} (dropped, counted, when subscribers lag)."""
        if self.pub is None:
            return
        import zmq
        try:
            self.pub.send(encode_message(message))
            self.published += 1
        except zmq.Again:
            self.dropped += 1
        except (TypeError, ValueError, zmq.ZMQError) as e:
            self.dropped += 1
            self.note("publish-error", "could not publish {topic} on ZeroMQ: {error}", topic=message.topic,
                      error=e)

    # commands

    def on_command(self, frames: list) -> None:
        try:
            network, channel, text, kind = parse_command(frames, self.default_network)
        except CommandError as e:
            self.rejected += 1
            self.note("rejected", "rejected a ZeroMQ command: {error}", error=e)
            return
        self.commands += 1
        log.info("ZeroMQ command: {kind} to {channel} on {network}", kind=kind, channel=channel,
                 network=network)
        try:
            self.bot.send(network, channel, text, kind)
        except Exception:
            log.failure("ZeroMQ {kind} to {channel} failed", kind=kind, channel=channel)


def _pub_class():
    from txzmq import ZmqPubConnection

    class Pub(ZmqPubConnection):
        kind = "PUB"

    return Pub


def _pull_class(service: ZmqService):
    from txzmq import ZmqPullConnection

    class Pull(ZmqPullConnection):
        kind = "PULL"

        def onPull(self, message):
            service.on_command(list(message))

    return Pull


def _zap_handler(factory, allowed: tuple, note: Callable[..., None]) -> Any:
    """
    A ZAP handler (RFC 27) in C{factory}'s context: CURVE clients whose
    public key is in C{allowed} (Z85) get in, everyone else is refused
    (logged through C{note}, L{ZmqService.note}).
    """
    import zmq
    from txzmq import ZmqEndpoint, ZmqEndpointType
    from txzmq.connection import ZmqConnection
    from zmq.utils.z85 import decode as z85_decode

    keys = {z85_decode(k.encode()) for k in allowed}

    class Zap(ZmqConnection):
        socketType = zmq.ROUTER

        def messageReceived(self, message):
            # [routing id, b"", version, request id, domain, address, identity, mechanism, creds...]
            try:
                delimiter = message.index(b"")
                envelope, request = message[:delimiter + 1], message[delimiter + 1:]
                version, request_id, _domain, address, _identity, mechanism = request[:6]
                credentials = request[6:]
            except ValueError:
                note("zap-malformed", "malformed ZAP request ignored")
                return
            ok = mechanism == b"CURVE" and len(credentials) == 1 and credentials[0] in keys
            if not ok:
                note("zap-refused", "ZeroMQ refused a {mechanism} client from {address}: key not in "
                     "[zmq] curve_clients", mechanism=mechanism.decode("ascii", "replace"),
                     address=address.decode("ascii", "replace"))
            status = [b"200", b"OK"] if ok else [b"400", b"not allowed"]
            self.send(envelope + [version, request_id] + status + [b"", b""])

    zap = Zap(factory)
    zap.addEndpoints([ZmqEndpoint(ZmqEndpointType.bind, ZAP_ENDPOINT)])
    return zap


def curve_keypair() -> tuple[str, str]:
    """A new (public, secret) Z85 key pair for C{[zmq]}."""
    import zmq
    public, secret = zmq.curve_keypair()
    return public.decode("ascii"), secret.decode("ascii")
