"""
Timed bans (C{!ban mask 1h}): kept in the store, so they are lifted after a
restart too, and every process sees them. One hash, L{BANS_KEY}: one field
per network, channel and mask, holding when the ban ends.
"""

from __future__ import annotations

from typing import Any

#: The store hash of the timed bans: "network channel mask" (folded) -> entry.
BANS_KEY = "moderation:timed-bans"


def field_of(network: str, channel: str, mask: str) -> str:
    return "%s %s %s" % (network, channel.lower(), mask.lower())


class TimedBans:
    """The timed bans of every network, in C{store} (an L{pubbot.api.IStore})."""

    def __init__(self, store: Any):
        self.store = store

    async def entries(self) -> list[dict]:
        """Every timed ban: dicts with network, channel, mask, until (seconds) and by (who set it)."""
        found = await self.store.hgetall(BANS_KEY)
        return [e for e in found.values() if _valid(e)]

    async def count(self, network: str, channel: str) -> int:
        folded = channel.lower()
        return sum(1 for e in await self.entries()
                   if e["network"] == network and e["channel"].lower() == folded)

    async def add(self, network: str, channel: str, mask: str, until: float, by: str, most: int) -> bool:
        """
        Keep a ban of C{mask} in C{channel} ending at C{until}; a ban of the
        same mask there is replaced. False (nothing kept) when the channel
        has C{most} timed bans already.
        """
        field = field_of(network, channel, mask)
        known = await self.store.hget(BANS_KEY, field)
        if known is None and await self.count(network, channel) >= most:
            return False
        await self.store.hset(BANS_KEY, field, {"network": network, "channel": channel, "mask": mask,
                                                "until": until, "by": by})
        return True

    async def remove(self, network: str, channel: str, mask: str) -> bool:
        """Forget the timed ban of C{mask} in C{channel}; True when there was one."""
        return bool(await self.store.hdel(BANS_KEY, field_of(network, channel, mask)))

    async def due(self, now: float) -> list[dict]:
        """The timed bans ended by C{now}, soonest first."""
        return sorted((e for e in await self.entries() if e["until"] <= now), key=lambda e: e["until"])


def _valid(entry: Any) -> bool:
    return (isinstance(entry, dict)
            and all(isinstance(entry.get(k), str) for k in ("network", "channel", "mask"))
            and isinstance(entry.get("until"), (int, float)))
