"""
One Redis connection, kept up by C{ClientService} with backoff.

txredisapi's protocol does the wire format (RESP, AUTH, SELECT, scripts);
this wraps it so that commands fail fast with L{RedisUnavailable} while
the connection is down or Redis does not answer in time (instead of
queueing without bound), and time comes from the injected reactor.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Union
from urllib.parse import parse_qs, unquote, urlsplit

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    DeferredList,
    TimeoutError,
    fail,
    maybeDeferred,
    succeed,
)
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure

if TYPE_CHECKING:
    from .sentinel import SentinelMaster

log = Logger()

#: Where a client connects: a C{redis://}, C{rediss://} or C{unix://} URL, or a
#: master found through Redis Sentinel.
Target = Union[str, "SentinelMaster"]

#: Seconds a command may take before the connection is dropped and redone.
DEFAULT_TIMEOUT = 5.0
#: Error replies of a master demoted under us: a write (READONLY), or a blocking
#: read cut short when the role changed (UNBLOCKED).
DEMOTED = ("READONLY", "UNBLOCKED")
#: Reconnection delays with Sentinel: 0.1 s doubling up to 1 s (a failover takes seconds).
SENTINEL_RETRY = backoffPolicy(initialDelay=0.05, maxDelay=1.0, factor=2.0, jitter=lambda: 0.0)


class RedisUnavailable(ConnectionError):
    """Redis cannot be reached, or did not answer in time."""


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is, parsed from a C{redis://}, C{rediss://} or C{unix://} URL."""

    host: str = "127.0.0.1"
    port: int = 6379
    path: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    tls: bool = False
    #: The Sentinel master name, when the address comes from the sentinels.
    master: str = ""

    def describe(self) -> str:
        """The address without credentials, for logs."""
        where = "unix:%s" % self.path if self.path else "%s:%d" % (self.host, self.port)
        text = "%s%s/%d" % ("tls:" if self.tls else "", where, self.db)
        if self.master:
            return "%s (master %s)" % (text, self.master) if self.host else "master %s" % self.master
        return text


def target(redis_settings, reactor) -> Target:
    """
    Where the C{[redis]} settings point: the URL, or (with C{sentinels}) a
    L{pubbot.cluster.sentinel.SentinelMaster} to share among the clients made from it.
    """
    if redis_settings.sentinels:
        from .sentinel import SentinelMaster, parse_sentinels
        return SentinelMaster(reactor, parse_sentinels(redis_settings.sentinels), redis_settings.master)
    return redis_settings.url


def parse_url(url: str) -> RedisAddress:
    """
    Parse C{redis://[[user]:password@]host[:port][/db]}, C{rediss://...}
    (TLS) or C{unix://[[user]:password@]/path[?db=N]}. Raises ValueError
    with a message that never contains the password.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError("is not a valid Redis URL") from None
    password = unquote(parts.password) if parts.password is not None else None
    username = unquote(parts.username) if parts.username else None
    query = parse_qs(parts.query)
    if parts.scheme == "unix":
        if not parts.path:
            raise ValueError("needs a socket path, as in unix:///run/redis.sock")
        db_text = query.get("db", ["0"])[0]
        return RedisAddress(path=parts.path, db=_db(db_text), username=username, password=password)
    if parts.scheme not in ("redis", "rediss"):
        raise ValueError("must start with redis://, rediss:// or unix://")
    if not parts.hostname:
        raise ValueError("needs a host, as in redis://127.0.0.1:6379/0")
    db_text = parts.path.lstrip("/") or query.get("db", ["0"])[0]
    return RedisAddress(host=parts.hostname, port=port or 6379, db=_db(db_text),
                        username=username, password=password, tls=parts.scheme == "rediss")


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError("has database %r, which is not a number" % (text,))
    return int(text)


def make_endpoint(reactor, address: RedisAddress):
    """A client endpoint for C{address} (TLS verifies the server certificate)."""
    from twisted.internet.endpoints import HostnameEndpoint, UNIXClientEndpoint, wrapClientTLS
    from twisted.internet.interfaces import IStreamClientEndpoint
    if address.path:
        return UNIXClientEndpoint(reactor, address.path, timeout=10)
    endpoint: IStreamClientEndpoint = HostnameEndpoint(reactor, address.host, address.port, timeout=10)
    if address.tls:
        from twisted.internet.ssl import optionsForClientTLS
        endpoint = wrapClientTLS(optionsForClientTLS(address.host), endpoint)
    return endpoint


class _Factory(Factory):
    """Builds txredisapi protocols wired to our reactor and our client."""

    noisy = False
    isLazy = True  # txredisapi logs auth failures itself when lazy

    def __init__(self, client: RedisClient, protocol_class):
        self.client = client
        self.protocol_class = protocol_class

    def buildProtocol(self, addr):
        # AUTH and SELECT are done in the client's set-up, where a refusal
        # can be handled (txredisapi would close the connection mid-set-up).
        p = self.protocol_class(charset="utf-8", errors="strict", replyTimeout=None,
                                password=None, dbid=None, convertNumbers=False)
        p.factory = self
        p.callLater = self.client.reactor.callLater
        p.pubbot_client = self.client
        return p

    # What txredisapi's protocol calls when AUTH or SELECT fails: we keep
    # retrying with backoff (the server may be mid-restart) and say why.
    def stopTrying(self) -> None:
        pass

    def connectionError(self, why: str) -> None:
        log.error("Redis {name} at {address}: {why}", name=self.client.name,
                  address=self.client.address.describe(), why=why)


def protocol_class(base=None):
    """A subclass of txredisapi's protocol C{base} that reports lost connections."""
    import txredisapi
    base = base or txredisapi.BaseRedisProtocol

    class Protocol(base):  # type: ignore[misc, valid-type]
        pubbot_client: Any = None
        _resp: RespReader | None = None

        def dataReceived(self, data, unpause=False):
            # txredisapi's own reader takes one reactor turn per bulk string
            # (a reply of 10,000 stream entries: 40,000 turns); this one
            # reads every complete reply in what arrived at once.
            if self._resp is None:
                self._resp = RespReader(self.charset, txredisapi.ResponseError)
            try:
                replies = self._resp.feed(data)
            except ValueError as e:
                log.error("Redis sent what is not RESP ({error}); dropping the connection", error=e)
                if self.transport is not None:
                    self.transport.abortConnection()
                return
            for reply in replies:
                self.replyReceived(reply)

        def connectionLost(self, why):
            # Tell the client first, so nothing issued from the failing
            # commands' callbacks goes to this dead connection.
            if self.pubbot_client is not None:
                self.pubbot_client._lost(self)
            super().connectionLost(why)

    Protocol.__name__ = "Pubbot" + base.__name__
    return Protocol


class RespReader:
    """
    An incremental reader of Redis replies (RESP2): L{feed} bytes, get the
    replies completed so far, as txredisapi gives them (bulk strings decoded
    with C{charset} when they can be, C{None} for nil, C{error} instances for
    error replies, lists for arrays). Arrays still open are kept between
    feeds, so a long reply costs no more than a short one per element.
    """

    def __init__(self, charset: str | None, error: type):
        self.charset = charset
        self.error = error
        self.buffer = bytearray()
        #: Arrays being read: [elements still to come, elements so far].
        self.stack: list = []

    def _text(self, raw: bytes) -> Any:
        if self.charset is None:
            return raw
        try:
            return raw.decode(self.charset)
        except UnicodeDecodeError:
            return raw

    def feed(self, data: bytes) -> list:
        buf = self.buffer
        buf += data
        pos, size = 0, len(buf)
        out: list = []
        while pos < size:
            end = buf.find(b"\r\n", pos)
            if end < 0:
                break
            kind = buf[pos]
            element: Any
            if kind == 36:  # $ bulk string
                n = int(buf[pos + 1:end])
                if n >= 0 and end + 4 + n > size:
                    break
                element = None if n < 0 else self._text(bytes(buf[end + 2:end + 2 + n]))
                pos = end + 2 if n < 0 else end + 4 + n
            elif kind == 42:  # * array
                n = int(buf[pos + 1:end])
                pos = end + 2
                if n > 0:
                    self.stack.append([n, []])
                    continue
                element = None if n < 0 else []
            else:
                element = self._simple(kind, bytes(buf[pos + 1:end]))
                pos = end + 2
            self._place(element, out)
        del buf[:pos]
        return out

    def _simple(self, kind: int, text: bytes) -> Any:
        """A one-line reply: status, error or integer."""
        if kind == 43:  # + status
            return text.decode("utf-8", "replace")
        if kind == 45:  # - error
            return self.error(text.decode("utf-8", "replace"))
        if kind == 58:  # : integer
            return int(text)
        raise ValueError("unknown reply type %r" % (chr(kind),))

    def _place(self, element: Any, out: list) -> None:
        """Put C{element} in the array being read, or in C{out} when it is a whole reply."""
        stack = self.stack
        while stack:
            top = stack[-1]
            top[1].append(element)
            top[0] -= 1
            if top[0]:
                return
            stack.pop()
            element = top[1]
        out.append(element)


class RedisClient:
    """
    One Redis connection, reconnected by C{ClientService} with exponential
    backoff. L{execute} fails at once with L{RedisUnavailable} while it is
    down; a command unanswered after C{timeout} seconds drops the connection
    (so a paused or half-dead server is reconnected to) and fails the same
    way. C{on_connect(protocol)} runs on each (re)connection before commands
    are let through (subscriptions, scripts).
    """

    def __init__(self, reactor, url: Target, name: str = "redis", timeout: float = DEFAULT_TIMEOUT,
                 on_connect: Callable[[Any], Any] | None = None, protocol=None,
                 retry_policy: Callable[[int], float] | None = None):
        self.reactor = reactor
        #: The master found through Sentinel (None: a fixed URL).
        self.sentinel: SentinelMaster | None = None
        if isinstance(url, str):
            self.address = parse_url(url)
            endpoint = make_endpoint(reactor, self.address)
            retry_policy = retry_policy or backoffPolicy(initialDelay=0.25, maxDelay=10.0, factor=2.0)
        else:
            self.sentinel = url
            self.address = RedisAddress(host="", port=0, master=url.name)
            endpoint = self._sentinel_endpoint = url.endpoint()
            # A failover takes seconds: look again soon (each attempt asks the sentinels).
            retry_policy = retry_policy or SENTINEL_RETRY
        self.name = name
        self.timeout = timeout
        self._on_connect = on_connect
        self._class = protocol or _default_protocol()
        self._protocol: Any = None
        self._was_up = False
        self._stopping = False
        self.preparing = False
        self._waiting: list[Deferred] = []
        self.connected_observers: list[Callable[[], None]] = []
        self.lost_observers: list[Callable[[], None]] = []
        self._service = ClientService(
            endpoint, _Factory(self, self._class), retryPolicy=retry_policy,
            clock=reactor, prepareConnection=self._prepare)

    @property
    def connected(self) -> bool:
        return self._protocol is not None

    @property
    def connection(self) -> Any:
        """The current connection's protocol (None while down); changes on reconnection."""
        return self._protocol

    def start(self) -> None:
        if not self._service.running:
            self._stopping = False
            self._service.startService()
            if self.sentinel is not None:
                self.sentinel.attach(self)

    def stop(self) -> Deferred:
        self._stopping = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if not d.called:
                d.errback(RedisUnavailable("the Redis %s client was stopped" % (self.name,)))
        if not self._service.running:
            return succeed(None)
        if self.sentinel is not None:
            return DeferredList([self._service.stopService(), self.sentinel.detach(self)]).addCallback(
                lambda _: None)
        return self._service.stopService()

    def when_connected(self) -> Deferred:
        """Fires with this client once a usable connection is up."""
        if self._protocol is not None:
            return succeed(self)
        d: Deferred = Deferred()
        self._waiting.append(d)
        return d

    def _prepare(self, protocol) -> Deferred:
        """
        ClientService's prepareConnection: AUTH, SELECT and the C{on_connect}
        hook. A failure (or a stop meanwhile) rejects the connection, which
        ClientService counts as a failed attempt and retries with backoff.
        """
        self.preparing = True
        d = Deferred.fromCoroutine(self._set_up(protocol))

        def ready(p):
            self.preparing = False
            if p.transport is None or not p.connected:
                return p
            self._protocol = p
            # Tell the others on the next turn: ClientService is still in the
            # middle of its own transition and must not be re-entered.
            self.reactor.callLater(0, self._announce, p)
            return p

        def failed(f: Failure):
            self.preparing = False
            if not f.check(CancelledError):
                log.warn("Redis {name} at {address}: set-up failed: {error}", name=self.name,
                         address=self.address.describe(), error=f.getErrorMessage())
            # ClientService forgets a rejected connection; its closing must
            # not be reported to it as the loss of a live one.
            if hasattr(protocol, "_lostNotification"):
                protocol._lostNotification = lambda reason: None
            if protocol.transport is not None:
                protocol.transport.abortConnection()
            return f

        return d.addCallbacks(ready, failed)

    async def _set_up(self, protocol):
        import txredisapi
        p = await protocol.whenConnected()
        if self.sentinel is not None:
            host, port = self._sentinel_endpoint.address or ("", 0)
            self.address = replace(self.address, host=host, port=port)
        a = self.address
        try:
            if a.password is not None:
                args = ("AUTH", a.username, a.password) if a.username else ("AUTH", a.password)
                await self._guard(p.execute_command(*args), p, None)
            if a.db:
                await self._guard(p.execute_command("SELECT", a.db), p, None)
        except txredisapi.ResponseError as e:
            # Wrong password or database: say so (never the password) and keep trying with backoff.
            log.error("Redis {name} at {address} refused us: {error}", name=self.name,
                      address=a.describe(), error=e)
            raise
        if self.sentinel is not None:
            # The sentinels may name a master that is not one (yet, or any
            # more): ROLE says; if it is not, ask them again after a pause.
            role = await self._guard(p.execute_command("ROLE"), p, None)
            if not isinstance(role, list) or not role or role[0] != "master":
                raise RedisUnavailable("%s is a %s, not the master; asking the sentinels again" % (
                    a.describe(), role[0] if isinstance(role, list) and role else "server of unknown role"))
        if self._on_connect is not None:
            await maybeDeferred(self._on_connect, p)
        if self.sentinel is not None and self.sentinel.address not in (None, (a.host, a.port)):
            # A sentinel announced another master while this connection was being set up.
            raise RedisUnavailable("the master moved from %s meanwhile; asking the sentinels again" % (
                a.describe(),))
        return p

    def _announce(self, p) -> None:
        if self._protocol is not p:
            return
        log.info("Redis {name} {what} {address}", name=self.name,
                 what="is back at" if self._was_up else "connected to", address=self.address.describe())
        self._was_up = True
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            if not d.called:  # a waiter may have timed out
                d.callback(self)
        for observer in list(self.connected_observers):
            try:
                observer()
            except Exception:
                log.failure("Redis connect observer failed")

    def _lost(self, protocol) -> None:
        if self._protocol is protocol:
            self._protocol = None
            if self._stopping:
                return
            log.warn("Redis {name} lost its connection to {address}; reconnecting with backoff",
                     name=self.name, address=self.address.describe())
            for observer in list(self.lost_observers):
                try:
                    observer()
                except Exception:
                    log.failure("Redis lost observer failed")

    def follow(self, address: tuple[str, int]) -> None:
        """The sentinels name C{address} as master: leave any other server (ClientService reconnects)."""
        if self._protocol is not None and (self.address.host, self.address.port) != tuple(address):
            log.warn("Redis {name}: the master moved from {address}; reconnecting", name=self.name,
                     address=self.address.describe())
            self.drop()

    def drop(self) -> None:
        """Abort the current connection (ClientService reconnects)."""
        p = self._protocol
        if p is not None and p.transport is not None:
            p.transport.abortConnection()
            self._lost(p)

    def execute(self, *args: Any, timeout: float | None = None) -> Deferred:
        """
        Run one command; fires with its reply (txredisapi's Python form:
        str, int, list, None) or fails with L{RedisUnavailable} or
        txredisapi's C{ResponseError} (an error reply from Redis).
        """
        p = self._protocol
        if p is None or not p.connected:
            if not self._was_up and not self._stopping:
                return self._first(args, timeout)
            return fail(RedisUnavailable("no connection to Redis %s" % (self.address.describe(),)))
        try:
            d = p.execute_command(*args)
        except Exception as e:  # txredisapi raises when the transport just went away
            return fail(RedisUnavailable("Redis %s: %s" % (self.address.describe(), e)))
        return self._guard(d, p, timeout)

    def _first(self, args: tuple, timeout: float | None) -> Deferred:
        """Before the first connection, commands wait for it (up to the timeout)."""
        self.start()
        d = self.when_connected()
        d.addTimeout(self.timeout, self.reactor)

        def not_yet(f: Failure):
            f.trap(TimeoutError)
            raise RedisUnavailable("could not connect to Redis %s within %ss" % (
                self.address.describe(), self.timeout))

        return d.addCallbacks(lambda _: self.execute(*args, timeout=timeout), not_yet)

    def _guard(self, d: Deferred, p, timeout: float | None) -> Deferred:
        import txredisapi
        limit = self.timeout if timeout is None else timeout
        result: Deferred = Deferred()
        timer = None

        def expired():
            if not result.called:
                log.warn("Redis {name} gave no answer in {seconds}s; dropping the connection",
                         name=self.name, seconds=limit)
                if p.transport is not None:
                    p.transport.abortConnection()
                self._lost(p)  # at once: the abort completes on the next turn
                result.errback(RedisUnavailable(
                    "Redis %s gave no answer in %ss" % (self.address.describe(), limit)))

        def done(value):
            if timer is not None and timer.active():
                timer.cancel()
            if result.called:
                return None
            if isinstance(value, Failure):
                if value.check(txredisapi.ConnectionError) and not value.check(txredisapi.ResponseError):
                    result.errback(RedisUnavailable("Redis %s: %s" % (
                        self.address.describe(), value.getErrorMessage())))
                    return None
                if self.sentinel is not None and value.check(txredisapi.ResponseError) \
                        and str(value.value).startswith(DEMOTED):
                    # The master became a replica under us (a failover): find the new one.
                    if self._protocol is p:
                        log.warn("Redis {name}: {address} is a replica now ({error}); reconnecting",
                                 name=self.name, address=self.address.describe(),
                                 error=str(value.value).split(" ", 1)[0])
                        self.drop()
                    result.errback(RedisUnavailable("Redis %s: %s" % (
                        self.address.describe(), value.getErrorMessage())))
                    return None
                result.errback(value)
                return None
            result.callback(value)
            return None

        if limit:
            timer = self.reactor.callLater(limit, expired)
        d.addBoth(done)
        return result

    def eval(self, script: str, keys=(), args=(), timeout: float | None = None) -> Deferred:
        """Run a Lua script by its SHA1, loading it when Redis does not know it."""
        sha = hashlib.sha1(script.encode()).hexdigest()
        keys, args = list(keys), list(args)

        def retry(f: Failure):
            import txredisapi
            if f.check(txredisapi.ResponseError) and str(f.value).startswith("NOSCRIPT"):
                return self.execute("EVAL", script, len(keys), *keys, *args, timeout=timeout)
            return f

        d = self.execute("EVALSHA", sha, len(keys), *keys, *args, timeout=timeout)
        return d.addErrback(retry)

    def eval_durably(self, script: str, keys=(), args=(), timeout: float | None = None,
                     wrote: Callable[[Any], bool] = lambda reply: True) -> Deferred:
        """
        L{eval}, then make sure the write would survive a failover: fires
        with C{(reply, durable)}, where C{durable} is True when every replica
        the master has connected acknowledged it (ROLE, then WAIT for that
        many within C{timeout}) and, with no replica connected, when this is
        a fixed URL or the sentinels still name this server as the master.
        When C{wrote(reply)} is false (nothing to keep), C{durable} is False
        without asking.
        """
        return Deferred.fromCoroutine(self._eval_durably(script, keys, args, timeout, wrote))

    async def _eval_durably(self, script: str, keys, args, timeout: float | None,
                            wrote: Callable[[Any], bool]) -> tuple:
        limit = self.timeout if timeout is None else timeout
        if self._protocol is None and not self._was_up:
            await self.execute("PING", timeout=limit)  # the first connection, so that WAIT has one to watch
        before = self._protocol
        reply = await self.eval(script, keys, args, timeout=limit)
        if not wrote(reply):
            return reply, False
        p = self._protocol
        if p is None or p is not before:
            return reply, False  # WAIT counts what was written on its own connection only
        started = self.reactor.seconds()
        role = await self._guard(p.execute_command("ROLE"), p, limit)
        if not isinstance(role, list) or len(role) < 3 or role[0] != "master":
            return reply, False
        replicas = len(role[2]) if isinstance(role[2], list) else 0
        left = max(0.01, limit - (self.reactor.seconds() - started))
        if replicas:
            acked = await self._guard(p.execute_command("WAIT", replicas, max(1, int(left * 1000))), p,
                                      left + 1.0)
            return reply, self._protocol is p and int(acked) >= replicas
        if self.sentinel is None:
            return reply, True
        try:
            named = await self.sentinel.discover()
        except ConnectionError:
            return reply, False
        return reply, self._protocol is p and tuple(named) == (self.address.host, self.address.port)


def _default_protocol():
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = protocol_class()
    return _DEFAULT


_DEFAULT = None
