"""
The brain's shards as the store keeps them (C{brain:shard:N}, JSON), read
back into a model. A shard written in a cluster carries its journal mark
(L{MARK}, see L{pubbot.brain.shared}).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import Logger

from .host import resolved
from .model import SHARD_PREFIX, parse_shard_key

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
