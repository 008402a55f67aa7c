"""
Wiring a scaled-out bot: Redis connections, the streams bus, fan-out, the
IRC lease and the owner gate, from the C{[redis]} settings.

    top ─ ... ─ cluster ─┬─ redis-clients   (lease and store connections)
                         ├─ fanout          (pub/sub)
                         ├─ redis-bus       (streams; the bot's IBus and outbox)
                         └─ owner           (OwnerGate: irc, irc-NAME..., music, console, zmq)

Stopping runs in reverse: the owner's IRC connection quits and the lease
is released, handlers under way finish, then the connections close.
"""

from __future__ import annotations

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.logger import Logger

from ..core.interfaces import IChatService
from ..irc.probe import wait_for_nick
from ..irc.service import IRCService
from ..store.redis import RedisStore
from .fanout import FanOut
from .lease import Lease, OwnerGate
from .redisclient import RedisClient, target
from .reloads import ClusterReload
from .streams import RedisBus

log = Logger()

#: Children of the top service that only the lease holder runs (and every
#: network's IRC connection: irc, irc-NAME, see L{owner_only}).
OWNER_ONLY = ("irc", "music", "console", "zmq")


def owner_only(name: str) -> bool:
    """The top service's child C{name} runs only in the lease holder: the lease covers every network."""
    return name in OWNER_ONLY or name.startswith("irc-")


class Clients(Service):
    """Starts and stops Redis clients that belong to no other service."""

    name = "redis-clients"

    def __init__(self, *clients):
        self.clients = [c for c in clients if c is not None]

    def startService(self) -> None:
        super().startService()
        for client in self.clients:
            client.start()

    def stopService(self):
        super().stopService()
        return DeferredList([c.stop() for c in self.clients])


class Cluster(MultiService):
    """
    Everything C{[redis] url} turns on, for one process. Built before the
    bot: L{bus} is the bot's bus, L{bus}C{.outbox} its outbox and
    L{holds_lease} its C{jobs_owner} (see L{pubbot.tap.makeService}); then
    L{adopt} takes the owner-only services.
    """

    def __init__(self, settings, reactor, process_id: str, store_client=None, consume: bool = True,
                 role: str = "all"):
        super().__init__()
        self.setName("cluster")
        #: owner: holds the chat connections (and music, console, ZeroMQ), handles nothing;
        #: worker: handles, never connects; all: both, as the lease decides.
        self.role = role
        r = settings.redis
        url = target(r, reactor)  # the URL, or the master the sentinels name (shared by these clients)
        self.settings = settings
        self.reactor = reactor
        #: The chat services to wait for a frozen former owner's nick on (see L{adopt}).
        self.nick_waits: list[tuple[IRCService, str]] = []
        self.lease_client = RedisClient(reactor, url, name="lease", timeout=max(0.5, r.lease_seconds / 4))
        self.lease = Lease(self.lease_client, reactor, process_id, r.lease_seconds,
                           on_released=lambda: self.fanout.publish("released"))
        command = RedisClient(reactor, url, name="bus")
        self.fanout = FanOut(reactor, url, command, origin=process_id, on_released=self.lease.poke)
        self.bus = RedisBus(
            reactor, command, RedisClient(reactor, url, name="bus-reader"),
            RedisClient(reactor, url, name="bus-replies"), process_id=process_id,
            buffer=r.buffer, visibility_timeout=r.visibility_timeout, consume=consume and role != "owner",
            role=role,
            heartbeat=min(2.0, r.lease_seconds / 3),
            is_owner=self.holds_lease,
            owner_active=lambda: self.gate.active, fanout=self.fanout)
        waits = r.takeover_wait > 0 and role != "worker"
        self.gate = OwnerGate(self.lease, before_start=self._wait_for_former_owner if waits else None,
                              acquired_observers=[self.bus.owner_changed],
                              lost_observers=[self.bus.owner_changed, self._stand_in, self._hand_over])
        self.store_client = store_client
        Clients(self.lease_client).setServiceParent(self)
        self.fanout.setServiceParent(self)
        self.bus.setServiceParent(self)
        if role != "worker":  # a worker never takes the lease: its gate never starts
            self.gate.setServiceParent(self)

    def reload_peers(self, bot, reloader) -> ClusterReload:
        """The other processes, for C{bot}'s L{pubbot.reload.PluginReloader} (C{!reload} everywhere)."""
        return ClusterReload(bot, reloader, self.fanout, self.reactor)

    def holds_lease(self) -> bool:
        """
        This process may speak on the chat networks now (its gate is open and
        the IRC lease surely holds): the bus's C{is_owner}, and the bot's
        C{jobs_owner} (jobs run once per cluster).
        """
        return self.gate.active and self.lease.valid()

    def startService(self) -> None:
        if self.store_client is not None:
            self.store_client.start()  # closed by the store, after the plugins stopped
        self._stand_in()
        super().startService()

    def _hand_over(self) -> None:
        """The lease is lost: what waits in the IRC throttles goes to the next owner, not away."""
        for service in self.gate:
            take = getattr(service, "hand_over", None)
            network = getattr(service, "network", None)
            if take is None or not isinstance(network, str):
                continue
            lines = take()
            for to, text, kind in lines:
                self.bus.relay(network, to, text, kind)
            if lines:
                log.warn("handed {count} queued lines for {network} over to the next IRC owner",
                         count=len(lines), network=network)

    def _stand_in(self) -> None:
        """While the real chat services are not running here, the stand-ins take their place."""
        self.bus.stand_in()

    def stopService(self):
        """Stop the children one after the other, last added first (MultiService would not wait)."""
        Service.stopService(self)
        children = list(reversed(list(self)))

        async def run():
            for service in children:
                try:
                    await maybeDeferred(service.stopService)
                except Exception:
                    log.failure("{service} failed to stop", service=service.name)

        return Deferred.fromCoroutine(run())

    def adopt(self, top) -> None:
        """
        Move the owner-only children of C{top} (every IRC network, music,
        console, ZeroMQ) to the gate; in a worker, drop them (it never
        connects), keeping stand-ins for the chat networks. The bot (and so
        the bus) must be built.
        """
        adopted = []
        for service in list(top):
            name = service.name
            if name is None or not owner_only(name):
                continue
            service.disownServiceParent()
            adopted.append(service)
            if self.role == "worker":
                log.debug("{service} does not run in a worker", service=name)
                continue
            service.setServiceParent(self.gate)
            log.debug("{service} runs only while this process holds the IRC lease", service=name)
        for service in adopted:
            if not IChatService.providedBy(service) or not isinstance(getattr(service, "network", None), str):
                continue
            irc = service if isinstance(service, IRCService) else None
            nick = irc.settings.nick if irc is not None else service.nick
            self.bus.add_stand_in(service.network, nick, service.protocol, service.command_prefix)
            if irc is not None:
                self.nick_waits.append((irc, nick))

    def _wait_for_former_owner(self) -> Deferred | None:
        """
        The gate's C{before_start}: wait until no frozen former owner holds
        our nick on any IRC network (at most C{[redis] takeover_wait} seconds).
        """
        if not self.nick_waits:
            return None
        limit = self.settings.redis.takeover_wait

        def still_wanted() -> bool:
            return bool(self.gate.running and self.lease.valid())

        # Every network at once: a frozen former owner may still be on any of them.
        return DeferredList([
            Deferred.fromCoroutine(wait_for_nick(service.endpoint, nick, self.reactor, limit,
                                                 still_wanted, network=service.network))
            for service, nick in self.nick_waits], consumeErrors=True).addCallback(_failures)


def _failures(results: list) -> None:
    """Log what went wrong in a DeferredList of nick waits (each network goes on regardless)."""
    for ok, result in results:
        if not ok:
            log.failure("waiting for a former owner's nick failed", result)


def make_cluster(settings, reactor, store, process_id: str, role: str = "all") -> Cluster:
    """
    The cluster of C{[redis]} for this process, before its bot: the Redis
    store's connection (C{store} made by L{pubbot.tap.make_store}) is
    started and closed with it. See L{Cluster.role}.
    """
    store_client = store.client if isinstance(store, RedisStore) else None
    return Cluster(settings, reactor, process_id, store_client=store_client, role=role)


def wire(top, cluster: Cluster) -> None:
    """Put the owner-only services of C{top} under the cluster's gate, and the cluster in C{top}."""
    cluster.adopt(top)
    cluster.setServiceParent(top)
