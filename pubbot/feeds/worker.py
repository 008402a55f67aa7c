"""
The parse process of a feed (started by L{pubbot.feeds.parsers}): reads the
body from stdin, prints the entries as JSON. It limits itself (address
space and CPU seconds) besides the deadline its parent keeps.

    python -m pubbot.feeds.worker < feed.xml     # prints the entries as JSON
"""

from __future__ import annotations

import json
import sys

from .parse import MAX_FEED_BYTES, FeedError, entries

#: The child's own limits: address space (bytes) and CPU seconds.
MEMORY_LIMIT = 512 * 1024 * 1024
CPU_LIMIT = 15


def _limit_self() -> None:
    import resource
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CPU, (CPU_LIMIT, CPU_LIMIT))


def main() -> int:
    _limit_self()
    body = sys.stdin.buffer.read(MAX_FEED_BYTES + 1)
    try:
        found = entries(body)
    except FeedError as e:
        json.dump({"error": str(e)}, sys.stdout)
        return 0
    json.dump([[e.id, e.title, e.link] for e in found], sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
