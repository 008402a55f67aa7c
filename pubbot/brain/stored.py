"""
The brain's shards as the store keeps them (C{brain:shard:N}, JSON), read
back into a model. A shard written in a cluster carries its journal mark
(L{MARK}, see L{pubbot.brain.shared}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import DeferredList, maybeDeferred
from twisted.logger import Logger

from .host import resolved
from .model import SHARD_PREFIX, parse_shard_key, shard_key

log = Logger()

#: The field of a stored shard holding the last journal entry its counts include
#: (never a trigram's: those have two spaces).
MARK = "#"


async def merge_shards(host: Any, store: Any,
                       merged: set[str] | None = None) -> tuple[int, int, dict[int, int]]:
    """
    Merge the stored shards into C{host} (an L{pubbot.brain.host.IBrainModel});
    returns (shards read, bad entries, the marks of the shards that had one).
    C{merged} holds the keys of shards already merged into C{host}
    (skipped; each one merged is added), so a load retried after failing
    part way counts no shard twice.

    A shard that is not JSON (damaged, or written by something else) is
    skipped, or no flush would ever save again: it is written anew when it
    next changes. Other failures (a store gone away) fail the whole load.
    """
    marks: dict[int, int] = {}
    read = bad = 0
    for stored in await store.keys(SHARD_PREFIX):
        shard = parse_shard_key(stored)
        if shard is None or (merged is not None and stored in merged):
            continue
        try:
            data = await store.get(stored)
        except (ValueError, TypeError) as e:
            log.error("brain: stored shard {key} is unreadable ({error}); skipped", key=stored, error=e)
            bad += 1
            continue
        if isinstance(data, dict):
            mark = data.pop(MARK, None)
            if type(mark) is int:
                marks[shard] = mark
        bad += await resolved(host.load_shard(shard, data))
        read += 1
        if merged is not None:
            merged.add(stored)
    return read, bad, marks


async def write_changed(host: Any, store: Any, max_shards: int | None, max_trigrams: int | None,
                        value: Callable[[Any], Any]) -> int:
    """
    One round of writing the shards C{host} changed (at most C{max_shards}
    of them and C{max_trigrams} changed trigrams): each stored as
    C{value(its data)}, deleted where that is None. The writes are made at
    once, so the store runs them together (SQLite: one hand-off to its
    thread; Redis: sent without waiting for each reply) and a round costs
    one round trip. Shards whose write failed are marked changed again and
    the first failure is raised; returns how many were written.
    """
    shards = await resolved(host.take_dirty(max_shards, max_trigrams))
    order = list(shards)
    calls = []
    for shard in order:
        stored = value(shards[shard])
        key = shard_key(shard)
        calls.append(maybeDeferred(store.set, key, stored) if stored is not None
                     else maybeDeferred(store.delete, key))
    results = await DeferredList(calls, consumeErrors=True)
    failed = [shard for shard, (ok, _) in zip(order, results, strict=True) if not ok]
    if failed:
        await resolved(host.mark_dirty(failed))
        next(value for ok, value in results if not ok).raiseException()
    return len(order)
