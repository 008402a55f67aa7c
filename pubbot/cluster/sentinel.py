"""
Finding the Redis master through Redis Sentinel and following its failovers,
as the Sentinel client spec asks
(https://redis.io/docs/latest/develop/reference/sentinel-clients/):

1. ask the sentinels in turn, each with a short timeout, for the master's
   address (C{SENTINEL get-master-addr-by-name}); the first that answers is
   asked first next time;
2. connect there, and (in L{pubbot.cluster.redisclient.RedisClient}'s set-up) check
   with C{ROLE} that it really is the master, else start again;
3. on a lost connection, a C{READONLY} reply or a C{+switch-master} event
   from a sentinel, drop the connection and start again at 1.

One L{SentinelMaster} is shared by the clients of a process that talk to
the same master; it keeps one pub/sub connection to a sentinel while any of
them runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, succeed
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()

#: Seconds one sentinel may take to connect and answer before the next is asked.
ASK_TIMEOUT = 0.5
#: Most sentinels a config may list.
MAX_SENTINELS = 32
#: Largest host name or address accepted from a sentinel.
MAX_HOST = 255
#: Largest bulk string and array accepted from a sentinel (its replies are a few short strings).
MAX_BULK = 4096
MAX_ITEMS = 16
#: The sentinel event announcing a new master.
SWITCH = "+switch-master"


class NoMaster(ConnectionError):
    """No sentinel could name the master."""


def parse_host_port(text: str) -> tuple[str, int]:
    """C{host:port} or C{[v6]:port} as (host, port); ValueError saying what is wrong."""
    if not isinstance(text, str) or not text or len(text) > MAX_HOST + 8:
        raise ValueError("has %r, which is not host:port" % (text,))
    if any(c.isspace() or c in "/@,\0" for c in text):
        raise ValueError("has %r, which is not host:port" % (text,))
    if text.startswith("["):
        host, sep, port = text[1:].partition("]:")
        if not sep or ":" not in host:
            raise ValueError("has %r, which is not host:port ([IPv6]:port)" % (text,))
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host or ":" in host:
            raise ValueError("has %r, which is not host:port" % (text,))
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("has %r, whose port is not a number from 1 to 65535" % (text,))
    return host, int(port)


def parse_sentinels(values: Sequence[str]) -> tuple[tuple[str, int], ...]:
    """The C{[redis] sentinels} list as (host, port) pairs; ValueError naming the bad entry."""
    if not values:
        raise ValueError("must list at least one sentinel as host:port")
    if len(values) > MAX_SENTINELS:
        raise ValueError("lists %d sentinels; at most %d" % (len(values), MAX_SENTINELS))
    found = tuple(parse_host_port(v) for v in values)
    if len(set(found)) != len(found):
        raise ValueError("lists a sentinel twice")
    return found


def master_name_problem(name: str) -> str | None:
    """Why C{name} cannot be a Sentinel master name, or None."""
    if not name or len(name) > 128 or any(c.isspace() or c == "\0" for c in name):
        return "must be the sentinels' name of the master (no spaces, at most 128 characters)"
    return None


def _address(reply: Any) -> tuple[str, int] | None:
    """A sentinel's [host, port] reply, checked."""
    if not isinstance(reply, list) or len(reply) != 2:
        return None
    host, port = reply
    if not isinstance(host, str) or not host or len(host) > MAX_HOST:
        return None
    try:
        number = int(port)
    except (TypeError, ValueError):
        return None
    return (host, number) if 0 < number < 65536 else None


def switch_event(message: Any, name: str) -> tuple[str, int] | None:
    """
    The new master's address from a C{+switch-master} message
    (C{<name> <old-ip> <old-port> <new-ip> <new-port>}) about C{name}, else None.
    """
    if not isinstance(message, str) or len(message) > 2 * MAX_HOST + 160:
        return None
    parts = message.split(" ")
    if len(parts) != 5 or parts[0] != name:
        return None
    return _address(parts[3:5])


def _bounded(base):
    """
    C{base} (a txredisapi protocol) refusing replies larger than a sentinel
    ever sends: a bulk string over L{MAX_BULK} bytes or an array of more
    than L{MAX_ITEMS} items drops the connection before it is read.
    """

    class Bounded(base):  # type: ignore[misc, valid-type]
        def lineReceived(self, line):
            if line[:1] in ("$", "*"):
                try:
                    size = int(line[1:])
                except ValueError:
                    size = 0
                if size > (MAX_BULK if line[:1] == "$" else MAX_ITEMS):
                    log.warn("a sentinel sent a reply of {size} {what}; dropping the connection",
                             size=size, what="bytes" if line[:1] == "$" else "items")
                    if self.transport is not None:
                        self.transport.abortConnection()
                    return True  # read no further
            return super().lineReceived(line)

    Bounded.__name__ = "Bounded" + base.__name__
    return Bounded


class _AskProtocolFactory(Factory):
    noisy = False

    def __init__(self, reactor):
        self.reactor = reactor

    def buildProtocol(self, addr):
        import txredisapi
        p = _bounded(txredisapi.BaseRedisProtocol)(charset="utf-8", errors="replace", replyTimeout=None,
                                                   convertNumbers=False)
        p.factory = self
        p.callLater = self.reactor.callLater
        return p


class SentinelMaster:
    """
    The master the sentinels at C{sentinels} ((host, port) pairs) know as
    C{name}. L{discover} asks for its address; L{endpoint} makes client
    endpoints that connect wherever it is now; clients that L{attach}
    are told (C{client.follow(address)}) when a sentinel announces a switch.
    C{connect(host, port, factory, timeout)} makes every TCP connection
    (to sentinels and masters): a HostnameEndpoint unless given.
    """

    def __init__(self, reactor, sentinels: Sequence[tuple[str, int]], name: str,
                 ask_timeout: float = ASK_TIMEOUT, connect: Callable[..., Deferred] | None = None):
        self.reactor = reactor
        self.sentinels = list(sentinels)
        self.name = name
        self.ask_timeout = ask_timeout
        #: The address the sentinels last named (None before the first answer).
        self.address: tuple[str, int] | None = None
        self._connect = connect or self._tcp
        self._clients: list = []
        self._watch: ClientService | None = None

    def describe(self) -> str:
        return "master %s via %d sentinel%s" % (self.name, len(self.sentinels),
                                                "" if len(self.sentinels) == 1 else "s")

    # step 1 and 2: ask the sentinels

    def _tcp(self, host: str, port: int, factory, timeout: float) -> Deferred:
        from twisted.internet.endpoints import HostnameEndpoint
        endpoint = HostnameEndpoint(self.reactor, host, port, timeout=max(1, int(timeout + 0.999)))
        return endpoint.connect(factory)

    def ask(self, sentinel: tuple[str, int], *command: Any) -> Deferred:
        """Run C{command} on one sentinel over a fresh connection, within C{ask_timeout}."""
        return Deferred.fromCoroutine(self._ask(sentinel, command))

    async def _ask(self, sentinel: tuple[str, int], command: tuple) -> Any:
        factory = _AskProtocolFactory(self.reactor)
        connecting = self._connect(sentinel[0], sentinel[1], factory, self.ask_timeout)
        return await _within(self.reactor, self.ask_timeout, connecting,
                             lambda p: p.execute_command(*command))

    def discover(self) -> Deferred:
        """The master's (host, port), from the first sentinel that knows it; or fails with L{NoMaster}."""
        return Deferred.fromCoroutine(self._discover())

    async def _discover(self) -> tuple[str, int]:
        problems = []
        for sentinel in list(self.sentinels):
            where = "%s:%d" % sentinel
            try:
                reply = await self.ask(sentinel, "SENTINEL", "get-master-addr-by-name", self.name)
            except CancelledError:
                raise  # the discovery itself was cancelled (the client stopped)
            except Exception as e:  # any other failure: ask the next one
                problems.append("%s: %s" % (where, _why(e)))
                continue
            address = _address(reply)
            if address is None:
                problems.append("%s does not know %r" % (where, self.name) if reply is None
                                else "%s gave a bad answer" % (where,))
                continue
            # The one that answered is asked first next time.
            self.sentinels.remove(sentinel)
            self.sentinels.insert(0, sentinel)
            if address != self.address:
                log.info("the sentinels name {host}:{port} as Redis master {name}", host=address[0],
                         port=address[1], name=self.name)
            self.address = address
            return address
        raise NoMaster("no sentinel named Redis master %s (%s)" % (self.name, "; ".join(problems)))

    def endpoint(self, timeout: float = 10.0) -> SentinelEndpoint:
        return SentinelEndpoint(self, timeout)

    # step 3: following a switch

    def attach(self, client) -> None:
        """C{client} (with C{follow(address)}) now talks to this master: watch the sentinels for it."""
        if client not in self._clients:
            self._clients.append(client)
        if self._watch is None:
            self._watch = ClientService(
                _RotatingEndpoint(self), _WatchFactory(self),
                retryPolicy=backoffPolicy(initialDelay=0.1, maxDelay=2.0, factor=2.0, jitter=lambda: 0.0),
                clock=self.reactor, prepareConnection=self._subscribe)
            self._watch.startService()

    def detach(self, client) -> Deferred:
        """C{client} stopped; the watch stops with the last one."""
        if client in self._clients:
            self._clients.remove(client)
        if not self._clients and self._watch is not None:
            watch, self._watch = self._watch, None
            return watch.stopService()
        return succeed(None)

    @property
    def watching(self) -> bool:
        return self._watch is not None

    def _subscribe(self, protocol) -> Deferred:
        d = protocol.subscribe(SWITCH)
        d.addTimeout(max(1.0, self.ask_timeout * 2), self.reactor)
        return d

    def switched(self, address: tuple[str, int]) -> None:
        """A sentinel announced C{address} as the new master: every client not already there moves."""
        if address != self.address:
            log.warn("Redis master {name} switched to {host}:{port}; reconnecting", name=self.name,
                     host=address[0], port=address[1])
        self.address = address
        for client in list(self._clients):
            try:
                client.follow(address)
            except Exception:
                log.failure("following the new Redis master failed")


def _why(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "no answer in time"
    return str(e) or type(e).__name__


async def _within(reactor, seconds: float, connecting: Deferred, command: Callable | None = None) -> Any:
    """
    The connection C{connecting} fires with, or (with C{command}) the
    reply to C{command(protocol)}, closing the connection after: each step
    within C{seconds}, else TimeoutError. Cancelling the caller cancels it.
    """
    expired: list = []

    def expire(d: Deferred) -> None:
        expired.append(True)
        d.cancel()

    timer = reactor.callLater(seconds, expire, connecting)
    protocol = None
    try:
        protocol = await connecting
        if command is None:
            return protocol
        await protocol.whenConnected()
        answer = command(protocol)
        timer.cancel()
        timer = reactor.callLater(seconds, expire, answer)
        return await answer
    except CancelledError:
        if expired:
            raise TimeoutError("no answer in %ss" % (seconds,)) from None
        raise
    finally:
        if timer.active():
            timer.cancel()
        if command is not None and protocol is not None and protocol.transport is not None:
            protocol.transport.abortConnection()


@implementer(IStreamClientEndpoint)
class SentinelEndpoint:
    """Connects to wherever the sentinels say the master is now (asked on every attempt)."""

    def __init__(self, master: SentinelMaster, timeout: float = 10.0):
        self.master = master
        self.timeout = timeout
        #: Where the last attempt went.
        self.address: tuple[str, int] | None = None

    def connect(self, factory) -> Deferred:
        return Deferred.fromCoroutine(self._connect(factory))

    def __repr__(self) -> str:
        return "<SentinelEndpoint %s>" % (self.master.describe(),)

    async def _connect(self, factory) -> Any:
        host, port = await self.master.discover()
        self.address = (host, port)
        return await self.master._connect(host, port, factory, self.timeout)


@implementer(IStreamClientEndpoint)
class _RotatingEndpoint:
    """For the event subscription: the first sentinel that accepts a connection, in list order."""

    def __init__(self, master: SentinelMaster):
        self.master = master

    def __repr__(self) -> str:
        return "<sentinel events for %s>" % (self.master.describe(),)

    def connect(self, factory) -> Deferred:
        return Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory) -> Any:
        problems = []
        m = self.master
        for sentinel in list(m.sentinels):
            try:
                return await _within(m.reactor, m.ask_timeout,
                                     m._connect(sentinel[0], sentinel[1], factory, m.ask_timeout))
            except CancelledError:
                raise
            except Exception as e:  # try the next
                problems.append("%s:%d: %s" % (sentinel[0], sentinel[1], _why(e)))
        raise NoMaster("no sentinel to watch for failovers (%s)" % "; ".join(problems))


class _WatchFactory(Factory):
    noisy = False

    def __init__(self, master: SentinelMaster):
        self.master = master

    def buildProtocol(self, addr):
        import txredisapi
        master = self.master

        class Watch(_bounded(txredisapi.SubscriberProtocol)):  # type: ignore[misc]
            def messageReceived(self, pattern, channel, message):
                if channel == SWITCH:
                    address = switch_event(message, master.name)
                    if address is not None:
                        master.switched(address)

        p = Watch(charset="utf-8", errors="replace", replyTimeout=None, convertNumbers=False)
        p.factory = self
        p.callLater = master.reactor.callLater
        return p
