"""
The web service's limits: request bodies bounded before they are read
(twisted.web buffers a whole body first), open connections capped in all
and per address, and deadlines for each request's headers and body, so
slow clients (slowloris) are dropped; refusals logged at most once a minute
per kind.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper
from twisted.python.failure import Failure
from twisted.web.server import Request, Site

from ..util.boundedlog import BoundedLog

log = Logger()

#: Largest request body any pubbot resource accepts (webhooks need far less).
MAX_REQUEST_BODY = 2 * 1024 * 1024

_TOO_LARGE = (b"HTTP/1.1 413 Payload Too Large\r\nConnection: close\r\n"
              b"Content-Type: text/plain\r\nContent-Length: 25\r\n\r\nrequest body is too large")


class LimitedRequest(Request):
    """
    A Request that refuses a body over C{max_body} bytes as soon as it is
    announced (Content-Length) or, for chunked bodies, as soon as it grows
    past the limit: 413 and the connection closed, nothing more buffered.
    On a L{LimitedSite}, it tells its connection's L{ConnectionGuard} when
    its headers and its body have come and when it is done, and refusals
    are logged through the site's throttle.
    """

    max_body = MAX_REQUEST_BODY
    _received = 0
    _refused = False

    def _guard(self) -> ConnectionGuard | None:
        channel = self.channel
        transport = channel.transport if channel is not None else None
        return transport if isinstance(transport, ConnectionGuard) else None

    def gotLength(self, length) -> None:
        guard = self._guard()
        if guard is not None:
            guard.headers_received(self)
            self.notifyFinish().addBoth(lambda _: guard.request_done(self))
        if length is not None and length > self.max_body:
            self._refuse(length)
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self._refused:
            return
        self._received += len(data)
        if self._received > self.max_body:
            self._refuse(self._received)
            return
        super().handleContentChunk(data)

    def requestReceived(self, command, path, version) -> None:
        if self._refused:
            return
        guard = self._guard()
        if guard is not None:
            guard.request_received()
        super().requestReceived(command, path, version)

    def _refuse(self, size: int) -> None:
        self._refused = True
        transport = self.channel.transport if self.channel is not None else None
        guard = self._guard()
        fields = dict(size=size, limit=self.max_body, client=self.getClientAddress())
        message = "web: refused a request body of {size} bytes (limit {limit}) from {client}"
        if guard is not None:
            guard.factory.note("body-too-large", message, **fields)
        else:
            log.warn(message, **fields)
        if transport is not None:
            transport.write(_TOO_LARGE)
            transport.loseConnection()


# connections

#: Most open connections to the web service, in all and from one address.
MAX_CONNECTIONS = 256
MAX_PER_ADDRESS = 32
#: Seconds a client has to send a request's headers: from connecting, or
#: from the end of its previous response (idle keep-alive connections too).
HEADER_TIMEOUT = 10.0
#: Seconds a client has to send a request's body once its headers came.
BODY_TIMEOUT = 30.0

_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 10\r\n"
         b"Content-Type: text/plain\r\nContent-Length: 18\r\n\r\ntoo many requests\n")


def client_host(address: Any) -> str:
    """
    Who a connection comes from, as a key: its IP address, or its /64 for
    IPv6 (one host often has a whole /64 to pick from); "local" for a unix
    socket.
    """
    host = getattr(address, "host", None)
    if not isinstance(host, str):
        return "local"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network((ip, 64), strict=False))
    return str(ip)


class _Busy(Protocol):
    """What a connection over the limits gets: a 503, and the connection closed."""

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.write(_BUSY)
        transport.loseConnection()


class ConnectionGuard(ProtocolWrapper):
    """
    Wraps one HTTP connection: drops it when a request's headers (or body)
    take too long, however slowly the bytes drip, and tells the site when
    it closes. L{LimitedRequest} reports each request's progress.
    """

    factory: LimitedSite

    def __init__(self, factory: LimitedSite, wrapped: Any, host: str):
        # The site keeps the counts a WrappingFactory would (registerProtocol...).
        super().__init__(factory, wrapped)  # type: ignore[arg-type]
        self.host = host
        self.state = "headers"
        self.current: Any = None  # the newest request whose headers came
        self._timer: Any = None

    def makeConnection(self, transport) -> None:
        super().makeConnection(transport)
        self._arm("headers")

    def _arm(self, state: str) -> None:
        self._cancel()
        self.state = state
        timeout = {"headers": self.factory.header_timeout, "body": self.factory.body_timeout}.get(state)
        if timeout is not None and not self.disconnecting:
            self._timer = self.factory.reactor.callLater(timeout, self._too_slow, state, timeout)

    def _cancel(self) -> None:
        if self._timer is not None:
            if self._timer.active():
                self._timer.cancel()
            self._timer = None

    def _too_slow(self, state: str, timeout: float) -> None:
        self._timer = None
        self.factory.note("slow-" + state, "web: dropped a connection from {client}: no complete request "
                          + state + " within {timeout}s", client=self.host, timeout=timeout)
        transport: Any = self.transport
        transport.abortConnection()

    # what LimitedRequest reports

    def headers_received(self, request: Any) -> None:
        self.current = request
        self._arm("body")

    def request_received(self) -> None:
        self._arm("handling")

    def request_done(self, request: Any) -> None:
        # Not when a pipelined request has begun already.
        if request is self.current and self.state == "handling":
            self._arm("headers")

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._cancel()
        self.state = "closed"
        super().connectionLost(reason)


class LimitedSite(Site):
    """
    A Site with caps on open connections (L{MAX_CONNECTIONS} in all,
    L{MAX_PER_ADDRESS} from one address: more get a 503 and are closed),
    deadlines for each request's headers and body (L{ConnectionGuard}),
    request bodies refused past L{MAX_REQUEST_BODY} (L{LimitedRequest}), and
    no parsing of POST form bodies before resources run (L{pubbot.web.forms}).
    """

    requestFactory = LimitedRequest
    max_connections = MAX_CONNECTIONS
    max_per_address = MAX_PER_ADDRESS
    header_timeout = HEADER_TIMEOUT
    body_timeout = BODY_TIMEOUT

    def __init__(self, resource, *args: Any, **kwargs: Any):
        # No form parsing into request.args before resources run (see pubbot.web.forms).
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(resource, *args, **kwargs)
        self.open: dict[str, int] = {}
        self.total = 0
        self.refused = 0
        self._logs = BoundedLog(self.reactor, log, per_minute=1)

    def note(self, key: str, format: str, **fields: Any) -> None:
        """Log a refusal, at most once a minute per kind."""
        held = self._logs.admit(key)
        if held is not None:
            if held:
                format += " ({held} more not logged)"
            log.warn(format, held=held, **fields)

    def buildProtocol(self, addr):
        host = client_host(addr)
        if self.total >= self.max_connections or self.open.get(host, 0) >= self.max_per_address:
            self.refused += 1
            kind = "all" if self.total >= self.max_connections else "address"
            self.note("busy-" + kind, "web: refused a connection from {client}: {open} open connections "
                      "(at most {limit} " + ("in all" if kind == "all" else "per address") + ")",
                      client=host, open=self.total if kind == "all" else self.open.get(host, 0),
                      limit=self.max_connections if kind == "all" else self.max_per_address)
            busy = _Busy()
            busy.factory = self
            return busy
        wrapped = super().buildProtocol(addr)
        if wrapped is None:
            return None
        return ConnectionGuard(self, wrapped, host)

    # ProtocolWrapper's factory interface: counts open connections

    def registerProtocol(self, guard: ConnectionGuard) -> None:
        self.total += 1
        self.open[guard.host] = self.open.get(guard.host, 0) + 1

    def unregisterProtocol(self, guard: ConnectionGuard) -> None:
        self.total -= 1
        left = self.open.get(guard.host, 1) - 1
        if left > 0:
            self.open[guard.host] = left
        else:
            self.open.pop(guard.host, None)
