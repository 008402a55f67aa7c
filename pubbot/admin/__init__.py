"""
Running the bot from chat (the admin plugin's logic): which channels it
is in, its nick, and stopping it.

Joins and parts made from chat are kept in the store, one hash per network
(L{CHANNELS_KEY}), so they outlive restarts and every process sees them:
the config's channels stay the base, the store's entries join more or part
some of them. Nick changes and quits are orders kept in the store for a few
minutes (L{ORDER_KEY}), for the process that holds the network's connection.

The process that holds a connection (every process in the embedded mode;
the owner in Redis mode) applies what it is told at once when the command
is handled there, else within L{POLL_SECONDS}: a L{Keeper} reads the store
that often (two small reads per network), so a worker's C{!join} reaches
the owner's connection without any new message between processes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

log = Logger()

#: The store hash of a network's channels joined or parted from chat: folded name -> entry.
CHANNELS_KEY = "admin:channels:%s"
#: The store key of an order (nick, quit) for a network ("*": every process).
ORDER_KEY = "admin:order:%s:%s"
#: Orders older than this are not carried out (a process started later never obeys an old quit).
ORDER_SECONDS = 300
POLL_SECONDS = 5.0
#: Channels joined or parted from chat, per network, at most.
MAX_CHANNELS = 100
#: How long a quit waits for the networks to say goodbye before stopping anyway.
QUIT_WAIT = 5.0
MAX_KEY = 23
MAX_CHANNEL = 50


def fold(name: str) -> str:
    return name.lower()


def channel_problem(name: str) -> str | None:
    """Why C{name} cannot be a channel's name, or None."""
    if not name or name[0] not in "#&+!" or len(name) > MAX_CHANNEL:
        return "a channel's name starts with # and is at most %d characters" % (MAX_CHANNEL,)
    if any(c in name for c in " ,\x07") or any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "a channel's name has no spaces, commas or control characters"
    return None


def key_problem(key: str) -> str | None:
    if len(key) > MAX_KEY or any(c in key for c in " ,:") or any(ord(c) < 33 or ord(c) == 127 for c in key):
        return "a channel key is at most %d characters, without spaces, commas or colons" % (MAX_KEY,)
    return None


def nick_problem(nick: str) -> str | None:
    if (not nick or len(nick) > 30 or nick[0] in "#&+!0123456789-:"
            or any(c in nick for c in " ,*?!@:\x07") or any(ord(c) < 32 or ord(c) == 127 for c in nick)):
        return "%r cannot be a nick" % (nick[:40],)
    return None


def split_place(text: str, networks: Any, default: str) -> tuple[str, str]:
    """
    C{#chan@network} as C{(network, channel)}: the part after the last
    C{@} is a network when it names one of C{networks}, else it belongs to
    the channel's name and the network is C{default}.
    """
    name, at, network = text.rpartition("@")
    if at and name and network in networks:
        return network, name
    return default, text


def can_control(service: Any) -> bool:
    """This process holds C{service}'s connection and it takes orders (an IRC network here)."""
    return service is not None and not getattr(service, "remote", False) and hasattr(service, "join_channel")


class Keeper:
    """
    Keeps every connection this process holds in the channels it should be
    in, and carries out orders (nick, quit) given in any process.
    """

    def __init__(self, bot: Any):
        self.bot = bot
        self.store = bot.store
        #: What was last applied to each network's connection: folded name -> (name, key).
        self.applied: dict[str, dict[str, tuple[str, str | None]]] = {}
        self.done_orders: set[str] = set()
        self.quitting = False
        self._loop: LoopingCall | None = None
        self._polling: Deferred | None = None

    def start(self) -> None:
        self._loop = LoopingCall(self.poll)
        self._loop.clock = self.bot.clock
        self._loop.start(POLL_SECONDS, now=True).addErrback(
            lambda f: log.failure("the admin keeper stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def networks(self) -> list[str]:
        return list(self.bot.chat_services)

    # the channels

    def base(self, network: str) -> list[tuple[str, str | None]]:
        out = []
        for entry in self.bot.network_settings(network).channels:
            name, _, key = entry.partition(" ")
            out.append((name, key.strip() or None))
        return out

    async def overrides(self, network: str) -> dict:
        entries = await self.store.hgetall(CHANNELS_KEY % (network,))
        return {k: v for k, v in entries.items() if isinstance(v, dict) and isinstance(v.get("name"), str)}

    async def desired(self, network: str) -> dict[str, tuple[str, str | None]]:
        """The channels C{network}'s connection should be in: the config's, as chat changed them."""
        want = {fold(name): (name, key) for name, key in self.base(network)}
        for folded, entry in (await self.overrides(network)).items():
            if entry.get("joined"):
                key = entry.get("key")
                want[folded] = (entry["name"], key if isinstance(key, str) else None)
            else:
                want.pop(folded, None)
        return want

    async def record(self, network: str, name: str, joined: bool, key: str | None,
                     by: str) -> str | None:
        """Keep a join or part made from chat; a refusal when too many are kept."""
        hash_key = CHANNELS_KEY % (network,)
        folded = fold(name)
        existing = await self.store.hgetall(hash_key)
        if folded not in existing and len(existing) >= MAX_CHANNELS:
            return "I already keep %d channel changes for %s; part some first." % (MAX_CHANNELS, network)
        base = {fold(n) for n, _ in self.base(network)}
        if (folded in base) == joined and (key is None or not joined):
            # back to what the config says: nothing to keep
            await self.store.hdel(hash_key, folded)
        else:
            await self.store.hset(hash_key, folded, {"name": name, "key": key, "joined": joined, "by": by,
                                                     "at": self.bot.clock.seconds()})
        return None

    async def sync(self, network: str) -> None:
        """Bring C{network}'s connection here (if this process holds it) to the channels it should be in."""
        service = self.bot.chat_services.get(network)
        if not can_control(service):
            return
        want = await self.desired(network)
        had = self.applied.get(network)
        if had is None:
            had = {fold(name): (name, key) for name, key in getattr(service, "wanted_channels", [])}
        service.wanted_channels = list(want.values())
        self.applied[network] = want
        for folded, (name, key) in want.items():
            if folded not in had:
                log.info("joining {channel} on {network} (from chat)", channel=name, network=network)
                service.join_channel(name, key)
        for folded, (name, _) in had.items():
            if folded not in want:
                log.info("parting {channel} on {network} (from chat)", channel=name, network=network)
                service.part_channel(name, "")

    # orders

    async def order(self, network: str, kind: str, value: str) -> str:
        """Keep an order for the process holding C{network} ("*": every process); its id."""
        order_id = uuid.uuid4().hex
        await self.store.set(ORDER_KEY % (kind, network),
                             {"id": order_id, "value": value, "at": self.bot.clock.seconds()}, ORDER_SECONDS)
        return order_id

    async def orders(self) -> None:
        started = self.bot.started_at
        for network in self.networks():
            service = self.bot.chat_services.get(network)
            if not can_control(service):
                continue
            nick = await self.store.get(ORDER_KEY % ("nick", network))
            if self._fresh(nick, started):
                self.done_orders.add(nick["id"])
                service.change_nick(nick["value"])
        quit = await self.store.get(ORDER_KEY % ("quit", "*"))
        if self._fresh(quit, started):
            self.done_orders.add(quit["id"])
            self.quit(quit["value"])

    def _fresh(self, order: Any, started: float) -> bool:
        return (isinstance(order, dict) and isinstance(order.get("id"), str)
                and isinstance(order.get("value"), str)
                and order["id"] not in self.done_orders and isinstance(order.get("at"), (int, float))
                and order["at"] >= started)

    def quit(self, reason: str) -> Deferred:
        """Say goodbye on every network held here, then stop the daemon (at most L{QUIT_WAIT} later)."""
        if self.quitting:
            return Deferred()
        self.quitting = True
        log.info("quitting, as an admin asked: {reason}", reason=reason)
        goodbyes = []
        for service in list(self.bot.chat_services.values()):
            stop = getattr(service, "stop_connection", None)
            if stop is not None and not getattr(service, "remote", False):
                goodbyes.append(maybeDeferred(stop, reason or "pubbot stopping"))
        done = DeferredList(goodbyes, consumeErrors=True)
        done.addTimeout(QUIT_WAIT, self.bot.clock, onTimeoutCancel=lambda *_: None)
        shutdown: Callable[[], Any] | None = self.bot.shutdown
        done.addBoth(lambda _: shutdown() if shutdown is not None else None)
        return done

    # the loop

    def poll(self) -> Deferred | None:
        if self._polling is not None:
            return None  # the last one is still reading a slow store
        self._polling = Deferred.fromCoroutine(self._poll())
        self._polling.addErrback(lambda f: log.failure("reading the admin state failed", f))
        self._polling.addBoth(self._polled)
        return None

    def _polled(self, _: Any) -> None:
        self._polling = None

    async def _poll(self) -> None:
        for network in self.networks():
            await self.sync(network)
        await self.orders()
