"""
Where and how to connect: the [irc] server string, STS upgrades and stored policies.

C{[irc] server} is a Twisted client endpoint string:

- C{tcp:HOST:PORT} (or C{tcp:host=HOST:port=PORT}) is plain text, connected
  with C{clientFromString}; only when the config says so.
- C{tls:HOST[:PORT]} (default port 6697; C{ssl:} is the same) is TLS with
  verification (see L{pubbot.irc.tlsopts}); certificate options come from
  C{[irc] tls_ca}, C{tls_fingerprints} and C{client_cert}, not the string.
- C{unix:PATH} is plain text over a local socket.

L{IRCEndpoint} decides per attempt: a plain server with an STS upgrade
pending, or a stored STS policy for its host, is reached over TLS instead,
and never again over plain text while the policy lasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.logger import Logger
from zope.interface import implementer

from ..util.endpoints import split_endpoint
from .sts import StsPolicies
from .tlsopts import TLSSettings

log = Logger()

DEFAULT_TLS_PORT = 6697
_TLS_KINDS = ("tls", "ssl")
_ALLOWED_OPTIONS = {"host", "port", "timeout", "bindAddress"}


class ServerError(ValueError):
    """A server string that cannot be used."""


@dataclass(frozen=True)
class Server:
    """A parsed [irc] server string."""

    description: str
    kind: str  # tcp, tls, unix
    host: str | None
    port: int | None
    options: dict = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.kind == "tls"

    def __str__(self) -> str:
        if self.kind == "unix":
            return self.description
        return "%s:%s:%s" % (self.kind, self.host, self.port)


def parse_server(description: str) -> Server:
    parts = split_endpoint(description)
    kind = parts[0].lower()
    if kind == "unix":
        return Server(description, "unix", None, None)
    if kind not in ("tcp",) + _TLS_KINDS:
        raise ServerError("[irc] server must start with tcp:, tls:, ssl: or unix:, not %r" % (description,))
    positional, options = [], {}
    for part in parts[1:]:
        name, eq, value = part.partition("=")
        if eq and name.isidentifier():
            options[name] = value
        else:
            positional.append(part)
    keys = ("host", "port")
    for name, value in zip(keys, positional, strict=False):
        options.setdefault(name, value)
    host = options.get("host")
    if not host:
        raise ServerError("[irc] server %r names no host" % (description,))
    port_text = options.get("port")
    if port_text is None and kind in _TLS_KINDS:
        port = DEFAULT_TLS_PORT
    elif port_text is not None and port_text.isdigit() and 0 < int(port_text) < 65536:
        port = int(port_text)
    else:
        raise ServerError("[irc] server %r needs a port (1-65535)" % (description,))
    if kind in _TLS_KINDS:
        extra = set(options) - _ALLOWED_OPTIONS
        if extra:
            raise ServerError("[irc] server option %s is not supported: use [irc] tls_ca, "
                              "tls_fingerprints and client_cert for TLS settings" % ", ".join(sorted(extra)))
    return Server(description, "tls" if kind in _TLS_KINDS else "tcp", host, port, options)


@implementer(IStreamClientEndpoint)
class IRCEndpoint:
    """
    Connects to the configured server, choosing TLS when the config, a pending
    STS upgrade or a stored STS policy asks for it. C{last} says how the
    latest attempt connects: (tls, host, port).
    """

    def __init__(self, reactor, server: Server, tls: TLSSettings, policies: StsPolicies | None):
        self.reactor = reactor
        self.server = server
        self.tls_settings = tls
        self.policies = policies
        #: Set when a plain connection advertised STS: the TLS port to use.
        self.upgrade_port: int | None = None
        self.last: tuple[bool, str | None, int | None] = (server.tls, server.host, server.port)

    def __repr__(self) -> str:
        return "<IRCEndpoint %s>" % (self.server,)

    def connect(self, factory) -> Deferred:
        return Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory):
        server = self.server
        tls, port = server.tls, server.port
        if not tls and server.host is not None:
            if self.upgrade_port is not None:
                tls, port = True, self.upgrade_port
                log.info("STS: connecting to {host} over TLS on port {port}", host=server.host, port=port)
            elif self.policies is not None:
                policy = await self.policies.get(server.host)
                if isinstance(policy, dict) and isinstance(policy.get("port"), int):
                    tls, port = True, policy["port"]
                    log.info("STS policy for {host}: connecting over TLS on port {port}, not plain text",
                             host=server.host, port=port)
        self.last = (tls, server.host, port)
        if tls:
            assert server.host is not None and port is not None  # parse_server: TLS has both
            timeout = float(server.options.get("timeout", 30))
            bind = server.options.get("bindAddress")
            inner = HostnameEndpoint(self.reactor, server.host, port, timeout=timeout,
                                     bindAddress=(bind, 0) if bind else None)
            endpoint = wrapClientTLS(self.tls_settings.creator(server.host), inner)
        else:
            endpoint = clientFromString(self.reactor, server.description)
        try:
            return await endpoint.connect(factory)
        except Exception as e:
            log.warn("cannot connect to {host} port {port}: {error}", host=server.host or server.description,
                     port=port, error=str(e) or e.__class__.__name__)
            raise
