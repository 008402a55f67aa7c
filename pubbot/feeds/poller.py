"""
Feeds followed by the bot: the list, polling, and announcing each entry
once.

The list is the config file's C{[[feeds]]} (L{pubbot.feeds.settings}),
then the store's hash C{feeds:list} (feed id -> JSON: url, places,
interval, filter, who added it and when; what C{!feed add} adds), shared
by every process. L{FeedPoller.tick} starts the polls that are due: the
plugin's job calls it, so one process of a cluster polls. Each
feed's entries already seen are the store set C{feeds:seen:<id>}; an entry
is announced by the process whose C{SADD} added it, so it is announced
once even when several processes poll the same feed, and never again after
a restart. The first poll of a new feed only records what is there (no
flood of old entries). Polls are bounded: a few at a time, the fetcher's
size and time caps, parsing in a killable process (L{pubbot.feeds.parsers}), at most
L{MAX_ANNOUNCED} lines a poll.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, DeferredList
from twisted.logger import Logger

from ..util import patterns
from ..util.text import clean_text
from .parse import Entry, FeedError
from .settings import DEFAULT_INTERVAL, MIN_INTERVAL

log = Logger()

LIST_KEY = "feeds:list"
SEEN_PREFIX = "feeds:seen:"
#: Most feeds followed (all channels together).
MAX_FEEDS = 50
#: Polls running at once.
CONCURRENT = 4
#: How often due feeds are looked for (s); a feed's own interval is at least MIN_INTERVAL.
TICK = 60.0
#: Most entries announced from one poll; the rest are counted in one line.
MAX_ANNOUNCED = 5


def feed_id(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]


class Feed:
    """One followed feed, as kept in the store (or, C{configured}, from the config file)."""

    def __init__(self, url: str, places: list, interval: float = DEFAULT_INTERVAL, filter: str = "",
                 by: str = "", at: float = 0.0, configured: bool = False):
        self.url = url
        self.configured = configured
        self.id = feed_id(url)
        self.places = [tuple(p) for p in places]  # (network, channel)
        self.interval = max(MIN_INTERVAL, float(interval))
        self.filter = filter
        self.by = by
        self.at = at
        self.matcher = patterns.linear(filter, re.IGNORECASE) if filter else None

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "places": self.places, "interval": self.interval,
                           "filter": self.filter, "by": self.by, "at": self.at}, sort_keys=True)

    @classmethod
    def from_json(cls, text: Any) -> Feed | None:
        try:
            data = json.loads(text)
            return cls(str(data["url"]), [(str(n), str(c)) for n, c in data["places"]],
                       float(data.get("interval", DEFAULT_INTERVAL)), str(data.get("filter", "")),
                       str(data.get("by", "")), float(data.get("at", 0.0)))
        except Exception:
            return None

    def wants(self, entry: Entry) -> bool:
        return self.matcher is None or self.matcher.search(entry.title) is not None


class FeedPoller:
    """
    Polls the followed feeds of C{bot} with C{fetcher} (a
    L{pubbot.links.fetch.SafeFetcher} reading feed types); C{parse(body)}
    returns a Deferred of the body's L{Entry}s (in the bot: a process of
    its own with a deadline, L{pubbot.feeds.parsers.FeedParsers}).
    """

    def __init__(self, bot: Any, fetcher: Any, parse: Callable[[bytes], Deferred],
                 configured: list[Feed] | None = None):
        self.bot = bot
        self.fetcher = fetcher
        self.parse = parse
        #: The config file's feeds (L{Feed.configured}): listed first, never removed from chat.
        self.configured = list(configured or [])
        self.store = bot.store
        self.next_at: dict[str, float] = {}
        self.running: set[str] = set()
        self.failures: dict[str, int] = {}
        self.polling: set[Deferred] = set()

    # the list

    async def feeds(self) -> list[Feed]:
        """The config file's feeds, then those added from chat (oldest first); each URL once."""
        stored = await self.store.hgetall(LIST_KEY) or {}
        found = [Feed.from_json(text) for text in stored.values()]
        taken = {f.id for f in self.configured}
        added = sorted((f for f in found if f is not None and f.id not in taken), key=lambda f: f.at)
        return self.configured + added

    async def add(self, feed: Feed) -> str:
        current = await self.feeds()
        for f in current:
            if f.id == feed.id:
                return "I follow %s already%s." % (feed.url, " (in the config file)" if f.configured else "")
        if len(current) >= MAX_FEEDS:
            return "I follow %d feeds already; remove one first." % (MAX_FEEDS,)
        await self.store.hset(LIST_KEY, feed.id, feed.to_json())
        self.next_at[feed.id] = 0.0
        return "OK, following %s (id %s) every %d minutes." % (feed.url, feed.id, feed.interval // 60)

    async def remove(self, what: str) -> str:
        for feed in await self.feeds():
            if what in (feed.id, feed.url):
                if feed.configured:
                    return "%s is in the config file ([[feeds]]): remove it there." % (feed.url,)
                await self.store.hdel(LIST_KEY, feed.id)
                await self.store.delete(SEEN_PREFIX + feed.id)
                return "OK, no longer following %s." % (feed.url,)
        return "I follow no feed %s; say !feed list." % (clean_text(what, 80),)

    # polling

    def stop(self) -> Deferred:
        """Polls under way are cancelled. Fires when they have all finished."""
        waits = list(self.polling)
        for d in waits:
            d.cancel()
        return DeferredList(waits)

    def tick(self) -> Deferred:
        """
        Start polling the feeds that are due (at most L{CONCURRENT} at once);
        fires once they are started, not done. Never fails.
        """
        d = Deferred.fromCoroutine(self._tick())
        d.addErrback(lambda f: log.failure("feeds: looking for due feeds failed", f))
        return d

    async def _tick(self) -> None:
        now = self.bot.clock.seconds()
        for feed in await self.feeds():
            if len(self.running) >= CONCURRENT:
                break
            if feed.id in self.running or self.next_at.get(feed.id, 0.0) > now:
                continue
            self.running.add(feed.id)
            self.next_at[feed.id] = now + feed.interval
            d = Deferred.fromCoroutine(self._poll_once(feed))
            if not d.called:
                self.polling.add(d)
                d.addBoth(self._polled, d)

    def _polled(self, result: object, d: Deferred) -> None:
        self.polling.discard(d)

    async def _poll_once(self, feed: Feed) -> None:
        """L{poll}, logging a failure; the feed may be polled again afterwards."""
        try:
            await self.poll(feed)
        except CancelledError:
            pass
        except Exception:
            log.failure("feeds: polling {url} failed", url=feed.url)
        finally:
            self.running.discard(feed.id)

    async def poll(self, feed: Feed) -> int:
        """Fetch, parse and announce what is new; the number of entries announced."""
        try:
            page = await self.fetcher.fetch(feed.url)
            if page.status != 200 or not page.body:
                raise FeedError("HTTP %d, %s, %d bytes read" % (page.status, page.content_type or "no type",
                                                                len(page.body)))
            found = await self.parse(page.body)
        except CancelledError:  # the poller stops
            raise
        except Exception as e:  # FetchError, FeedError: the feed's own trouble
            self.failures[feed.id] = self.failures.get(feed.id, 0) + 1
            if self.failures[feed.id] in (1, 10, 100):  # not every poll of a broken feed
                log.warn("feeds: {url}: {error} ({count} failures in a row)", url=feed.url,
                         error=clean_text(str(e), 200), count=self.failures[feed.id])
            return 0
        self.failures.pop(feed.id, None)
        seen_key = SEEN_PREFIX + feed.id
        seen = await self.store.smembers(seen_key) or set()
        if not seen:  # a new feed: what is there now is not news
            if found:
                await self.store.sadd(seen_key, *[e.id for e in found])
            return 0
        new = []
        for entry in reversed(found):  # oldest first, as they were published
            if entry.id in seen or not feed.wants(entry):
                continue
            if await self.store.sadd(seen_key, entry.id):  # this process is the first: it announces
                new.append(entry)
        if len(seen) > 3 * len(found) + 100:  # forget entries long gone from the feed
            await self.store.delete(seen_key)
            await self.store.sadd(seen_key, *[e.id for e in found] or ["-"])
        self.announce(feed, new)
        return len(new)

    def announce(self, feed: Feed, new: list[Entry]) -> None:
        if not new:
            return
        lines = ["%s %s" % (e.title, e.link) if e.link else e.title for e in new[:MAX_ANNOUNCED]]
        if len(new) > MAX_ANNOUNCED:
            lines.append("...and %d more from %s" % (len(new) - MAX_ANNOUNCED, feed.url))
        for network, channel in feed.places:
            self.bot.send(network, channel, "\n".join(lines), "say")
        log.info("feeds: {count} new from {url}", count=len(new), url=feed.url)
