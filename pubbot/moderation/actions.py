"""
Carrying out a moderation command: with the bot's own ops on the
connection (L{IChannelModeration}), or through ChanServ (C{[moderation]
chanserv}: C{PRIVMSG ChanServ :KICK #chan nick reason}, as Atheme and Anope
read it).

A process without the connection (a Redis worker: its chat service is the
owner's stand-in) leaves the order in the store (L{ORDERS_KEY}); the owner
carries it out within seconds (the plugin's job: jobs run where the
connection is). Timed bans are lifted the same way (L{Moderator.lift_due}).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from twisted.logger import Logger

from ..core.interfaces import IChannelModeration

log = Logger()

#: The store hash of a network's orders waiting for the connection's process: id -> order.
ORDERS_KEY = "moderation:orders:%s"
#: An order older than this is dropped, not carried out (a moderation late is a surprise).
ORDER_LIFETIME = 60.0
#: A timed ban the bot could not lift (no ops) for this long after its end is forgotten.
GIVE_UP_SECONDS = 86400.0
#: The channel modes that let the bot moderate (owner, admin, op).
POWER_MODES = frozenset("qao")

#: What each command sets with MODE (quiet's letter comes from the server).
MODES = {"ban": "+b", "unban": "-b", "op": "+o", "deop": "-o", "voice": "+v", "devoice": "-v"}
#: What ChanServ is told for each command.
CHANSERV = {"kick": "KICK", "ban": "BAN", "unban": "UNBAN", "quiet": "QUIET", "unquiet": "UNQUIET",
            "op": "OP", "deop": "DEOP", "voice": "VOICE", "devoice": "DEVOICE", "topic": "TOPIC"}
KINDS = frozenset(CHANSERV)
NO_QUIET = "This server has no quiet mode (no +q list mode, no mute extban)."
NOT_SENT = "I could not do that: I am not connected there, or the server takes no such thing."


@dataclass(frozen=True)
class Action:
    """One moderation: C{kind} (a key of L{CHANSERV}) in C{channel} on C{target} (a nick, mask or topic)."""

    kind: str
    channel: str
    target: str
    reason: str = ""

    def chanserv_line(self) -> str:
        words = [CHANSERV[self.kind], self.channel, self.target] + ([self.reason] if self.reason else [])
        return " ".join(w for w in words if w)

    def as_list(self) -> list[str]:
        return [self.kind, self.channel, self.target, self.reason]

    @classmethod
    def from_list(cls, value: Any) -> Action | None:
        if (not isinstance(value, list) or len(value) != 4 or not all(isinstance(v, str) for v in value)
                or value[0] not in KINDS):
            return None
        return cls(*value)


def apply(service: Any, action: Action) -> str | None:
    """Carry out C{action} on C{service} (an L{IChannelModeration}); what went wrong, or None."""
    kind, channel, target = action.kind, action.channel, action.target
    if kind == "kick":
        done = service.kick(channel, target, action.reason)
    elif kind == "topic":
        done = service.set_topic(channel, target)
    elif kind in ("quiet", "unquiet"):
        found = service.quiet_mode(target)
        if found is None:
            return NO_QUIET
        letter, argument = found
        done = service.mode(channel, ("+" if kind == "quiet" else "-") + letter, argument)
    else:
        done = service.mode(channel, MODES[kind], target)
    return None if done else NOT_SENT


class Moderator:
    """Moderation on C{bot}'s networks, as C{settings} (the C{[moderation]} table) say."""

    def __init__(self, bot: Any, settings: Any):
        self.bot = bot
        self.settings = settings

    def local(self, network: str) -> Any:
        """The connection of C{network} held here, when it can moderate; else None."""
        service = self.bot.chat_services.get(network)
        if service is None or getattr(service, "remote", False) or not IChannelModeration.providedBy(service):
            return None
        return service

    def has_power(self, network: str, channel: str) -> bool:
        """Does the bot hold ops (or more) in C{channel}, as the connection knows it live?"""
        return bool(set(self.bot.modes(network, channel, self.bot.nick(network))) & POWER_MODES)

    def problem(self, network: str, channel: str) -> str | None:
        """Why the bot cannot moderate C{channel} on C{network} now, or None."""
        service = self.bot.chat_services.get(network)
        if service is None or getattr(service, "protocol", "irc") != "irc":
            return "I cannot moderate channels on %s." % (network,)
        if self.settings.chanserv:
            return None
        if self.local(network) is None and not getattr(service, "remote", False):
            return "I cannot moderate channels on %s." % (network,)
        if not self.has_power(network, channel):
            return "I need ops in %s to do that." % (channel,)
        return None

    def hostmask_of(self, network: str, nick: str) -> str | None:
        service = self.local(network)
        return service.hostmask_of(nick) if service is not None else None

    def quiet_unknown(self, network: str) -> bool:
        """Does the server of C{network} have no quiet mode (as far as this process can tell)?"""
        service = self.local(network)
        return not self.settings.chanserv and service is not None and service.quiet_mode("*!*@*") is None

    async def perform(self, network: str, action: Action) -> str | None:
        """Carry out C{action} on C{network} (see L{problem} first); what went wrong, or None."""
        if self.settings.chanserv:
            self.bot.send(network, self.settings.chanserv_nick, action.chanserv_line(), "say")
            return None
        service = self.local(network)
        if service is not None:
            return apply(service, action)
        key = ORDERS_KEY % (network,)
        store = self.bot.store
        await store.hset(key, uuid.uuid4().hex, {"at": self.bot.clock.seconds(), "action": action.as_list()})
        await store.expire(key, ORDER_LIFETIME * 5)
        return None

    async def carry_out_orders(self) -> int:
        """Carry out the orders other processes left for the connections held here; how many."""
        done = 0
        now = self.bot.clock.seconds()
        for network in list(self.bot.chat_services):
            service = self.local(network)
            if service is None:
                continue
            key = ORDERS_KEY % (network,)
            orders = await self.bot.store.hgetall(key)
            for order_id, order in sorted(orders.items(), key=lambda item: _at(item[1])):
                if not await self.bot.store.hdel(key, order_id):
                    continue  # another process took it
                action = Action.from_list(order.get("action") if isinstance(order, dict) else None)
                if action is None or now - _at(order) > ORDER_LIFETIME:
                    continue
                problem = apply(service, action)
                if problem:
                    log.warn("moderation order {kind} in {channel} on {network} not done: {problem}",
                             kind=action.kind, channel=action.channel, network=network, problem=problem)
                else:
                    done += 1
        return done

    async def lift_due(self, bans: Any) -> int:
        """Lift the timed bans in C{bans} (a L{pubbot.moderation.timed.TimedBans}) that ended; how many."""
        lifted = 0
        now = self.bot.clock.seconds()
        for entry in await bans.due(now):
            network, channel, mask = entry["network"], entry["channel"], entry["mask"]
            action = Action("unban", channel, mask)
            if self.settings.chanserv and network in self.bot.chat_services:
                self.bot.send(network, self.settings.chanserv_nick, action.chanserv_line(), "say")
            else:
                service = self.local(network)
                if service is None or not self.has_power(network, channel) or apply(service, action):
                    if now - entry["until"] > GIVE_UP_SECONDS:
                        log.warn("gave up lifting the ban of {mask} in {channel} on {network}: "
                                 "no ops there for a day", mask=mask, channel=channel, network=network)
                        await bans.remove(network, channel, mask)
                    continue
            await bans.remove(network, channel, mask)
            lifted += 1
        return lifted


def _at(order: Any) -> float:
    at = order.get("at") if isinstance(order, dict) else None
    return float(at) if isinstance(at, (int, float)) else 0.0
