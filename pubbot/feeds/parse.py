"""
Feed entries from a fetched body (RSS 0.9x-2.0, RDF, Atom), by feedparser.

The body is at most the fetcher's cap (L{MAX_FEED_BYTES}); a document that
declares entities is refused before parsing (entity expansion is the one
way a small feed becomes a huge one); at most L{MAX_ENTRIES} entries are
kept, each field one clean line of bounded length. Parsing is CPU work on
a stranger's bytes, so the bot runs L{entries} in a process of its own
(L{pubbot.feeds.parsers}), killed at its deadline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..util.text import clean_text

#: Most bytes of a feed read (the fetcher stops there).
MAX_FEED_BYTES = 512 * 1024
#: Most entries taken from one feed, newest first as the feed lists them.
MAX_ENTRIES = 100
#: Media types read as feeds.
FEED_TYPES = frozenset(("application/rss+xml", "application/atom+xml", "application/rdf+xml",
                        "application/xml", "text/xml", "application/feed+xml", "text/plain"))
ACCEPT = b"application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1"

_ENTITY = re.compile(rb"<!entity", re.IGNORECASE)


class FeedError(ValueError):
    """The body is not a feed pubbot reads."""


@dataclass(frozen=True)
class Entry:
    """One entry: a stable id (for de-duplication), its title and link."""

    id: str
    title: str
    link: str


def _link(value: object) -> str:
    if not isinstance(value, str):
        return ""
    link = clean_text(value, 300)
    return link if link.startswith(("http://", "https://")) and " " not in link else ""


def entries(body: bytes) -> list[Entry]:
    """The entries of a feed document; L{FeedError} when it is none or declares entities."""
    if len(body) > MAX_FEED_BYTES:
        raise FeedError("larger than %d bytes" % (MAX_FEED_BYTES,))
    if _ENTITY.search(body):
        raise FeedError("it declares XML entities")
    # Imported here: only the parse process (pubbot.feeds.worker) parses, and
    # feedparser is ~1 MB of modules the bot's own process need not hold.
    import feedparser

    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    found = parsed.get("entries") or []
    if not found and parsed.get("bozo"):
        raise FeedError("not a feed: %s" % (clean_text(str(parsed.get("bozo_exception", "?")), 120),))
    out = []
    for entry in found[:MAX_ENTRIES]:
        title = clean_text(str(entry.get("title") or ""), 200)
        link = _link(entry.get("link"))
        key = str(entry.get("id") or link or title)
        if not key:
            continue
        ident = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24]
        out.append(Entry(ident, title or "(untitled)", link))
    return out


def feed_fetcher(reactor: Any, allow: Iterable[str] = (), resolver: Any = None,
                 tls_policy: Any = None) -> Any:
    """The link fetcher's checks (no private addresses, caps on size and time), reading feeds."""
    from ..links.fetch import SafeFetcher
    return SafeFetcher(reactor, allow=allow, max_bytes=MAX_FEED_BYTES, timeout=20.0, resolver=resolver,
                       tls_policy=tls_policy, body_types=FEED_TYPES, accept=ACCEPT, stop_at=None)


def checked_url(text: str) -> str:
    """The URL as the fetcher will fetch it; ValueError (saying why) when it would refuse it."""
    from ..links.fetch import BadURL, parse_url
    try:
        return parse_url(text).url
    except BadURL as e:
        raise ValueError(str(e)) from None
