"""
Link titles: URLs said in chat are fetched (see L{pubbot.links.fetch}) and
announced as C{[ title ]} for HTML pages, C{[ type, size ]} for anything
else; C{lastlink} recalls the newest link said in the channel.

Only http and https URLs are fetched, at most C{[links] max_bytes} of a page,
within C{[links] timeout} seconds (kept below C{[plugins] timeout}), never
from loopback, private, link-local, multicast or reserved addresses unless
C{[links] allow} lists the host or network. Failures and refusals are
logged (anyone in a channel can cause them: each kind at most
L{REFUSAL_LOGS} times a minute, the rest counted in C{Links.logs}), not
announced.

It takes a batch of lines in one call (L{IBatchHandler}): a batch with no
C{://} and no C{lastlink} in any case costs one scan of its lines.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IReactorTCP
from twisted.logger import Logger, LogLevel
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import (
    CHAT_LINES,
    BoundedLog,
    Guard,
    IBatchHandler,
    ICommandWords,
    RateLimiter,
    channel_settings,
    checks,
    clean_text,
    format_duration,
    handle_each,
    key,
    patterns,
    section,
)
from pubbot.links.fetch import BadURL, FetchError, SafeFetcher, human_size, parse_url


@section("links")
@dataclass(frozen=True)
class LinkSettings:
    """[links]: private addresses allowed, and how much of a page is read, for how long."""

    allow: tuple[str, ...] = key([], checks.hosts)
    max_bytes: int = key(1024 * 1024, checks.positive)
    timeout: float = key(10.0, checks.positive)
    #: Say the titles of links (off: lastlink still recalls them); per channel.
    titles: bool = key(True, per_channel=True)


log = Logger()

#: Most URLs fetched from one line; most fetches running at once.
MAX_URLS_PER_LINE = 3
MAX_FETCHES = 8
#: Per channel: at most this many fetches a minute.
CHANNEL_LIMIT = 10
#: Log lines a minute at most for each kind of refused or failed link.
REFUSAL_LOGS = 10
TITLE_LENGTH = 200
STORE_KEY = "links:last"

# On RE2 (pubbot.util.patterns): linear in the line.
_URL = patterns.linear(r"https?://[^\s<>\"'\x00-\x1f\x7f]+", re.IGNORECASE)
_LASTLINK = patterns.linear(r"lastlink\s*\Z", re.IGNORECASE)
#: "lastlink" in every case _LASTLINK takes, lower-cased: str.lower() keeps
#: the long s and the dotless i, and makes the dotted capital I an i with a
#: combining dot (see test_plugin_links).
_LASTLINK_LOWERED = patterns.linear("la[s\u017f]tl(?:i\u0307?|\u0131)nk")
_TRAILING = ".,;:!?'\"*"
_PAIRS = {")": "(", "]": "[", "}": "{", ">": "<"}


def find_urls(text: str, limit: int = MAX_URLS_PER_LINE) -> list:
    """The http(s) URLs in C{text}, in order, without trailing punctuation, at most C{limit}."""
    found: list = []
    for match in _URL.finditer(text):
        url = match.group(0)
        while url:
            last = url[-1]
            if last in _TRAILING or last in _PAIRS and url.count(_PAIRS[last]) < url.count(last):
                url = url[:-1]
            else:
                break
        if url not in found and "://" in url and not url.endswith("://"):
            found.append(url)
            if len(found) >= limit:
                break
    return found


def describe(page) -> str | None:
    """The announcement for a fetched page, or None when there is nothing worth saying."""
    if page.status >= 400 or page.status < 200:
        return None
    if page.title is not None:
        title = clean_text(page.title, TITLE_LENGTH)
        if title:
            return "[ %s ]" % (title,)
    kind = page.content_type or "unknown type"
    if page.length is not None:
        size: str | None = human_size(page.length)
    elif page.body and page.complete:
        size = human_size(len(page.body))
    elif page.body:
        size = "over " + human_size(len(page.body))
    else:
        size = None
    return "[ %s ]" % (", ".join(part for part in (kind, size) if part),)


def may_answer(messages: Sequence) -> bool:
    """
    Could links answer one of C{messages}? False only when none has a URL
    (C{://}) or a C{lastlink} command (whose command ends its content), all
    found in one scan of their contents joined by newlines.
    """
    try:
        joined = "\n".join([msg.fields.get("content") for msg in messages])
    except TypeError:
        return True
    return "://" in joined or _LASTLINK_LOWERED.search(joined.lower()) is not None


@implementer(IPlugin, IBatchHandler, ICommandWords)
class Links:
    """
    The links plugin. C{reactor} and C{resolver} are for tests; the bot's
    clock is the reactor. C{lastlink} has a guard (C{[permissions]
    lastlink}); the titles of links said are for everyone.
    """

    name = "links"
    description = "Says the title of web pages linked in chat; lastlink recalls the newest link here."
    triggers = ("lastlink",)
    subscriptions = (CHAT_LINES,)

    def __init__(self, reactor=None, resolver=None, tls_policy=None):
        self._reactor = reactor
        self._resolver = resolver
        self._tls_policy = tls_policy
        self.bot: Any = None
        self.fetcher: SafeFetcher | None = None
        self.running = 0
        self._limits: RateLimiter | None = None
        #: The refusals' and failures' log lines, bounded (made at start, on the bot's clock).
        self.logs: BoundedLog | None = None
        self.guard = Guard("lastlink")
        self.guards: tuple[Guard, ...] = (self.guard,)

    def start(self, bot) -> None:
        self.bot = bot
        self.guard.start(bot.clock)
        reactor = self._reactor if self._reactor is not None else bot.clock
        settings = bot.settings.links
        self._limits = RateLimiter(bot.clock, CHANNEL_LIMIT, 60.0)
        self.logs = BoundedLog(bot.clock, log, REFUSAL_LOGS)
        if not IReactorTCP.providedBy(reactor):
            log.warn("links: no network reactor; link titles are off")
            self.fetcher = None
            return
        timeout = min(settings.timeout, bot.settings.plugins.timeout * 0.9)
        self.fetcher = SafeFetcher(reactor, allow=settings.allow, max_bytes=settings.max_bytes,
                                   timeout=timeout, resolver=self._resolver, tls_policy=self._tls_policy)

    def stop(self) -> None:
        self.fetcher = None
        self.guard.stop()

    def _note(self, kind: str, level: LogLevel, format: str, **fields: Any) -> None:
        if self.logs is not None:
            self.logs.note(kind, level, format, **fields)
        else:  # (not started)
            log.emit(level, format, **fields)

    def handle_many(self, messages: Sequence) -> list | None:
        """L{handle} each message, after one scan of the batch for any it may answer."""
        return handle_each(self, messages) if may_answer(messages) else None

    def handle(self, msg) -> Any:
        fields = msg.fields
        command = fields.get("command")
        if command is not None and _LASTLINK.match(command):
            refused = self.guard.admit(msg)
            if refused is not None:
                return refused.answer
            return Deferred.fromCoroutine(self.lastlink(msg))
        content = fields.get("content") or ""
        if "://" not in content:
            return None
        urls = []
        for url in find_urls(content):
            try:
                urls.append(parse_url(url).url)
            except BadURL as e:
                self._note("refused", LogLevel.info, "links: not fetching {url!r} from {source}: {reason}",
                           url=url[:200], source=fields.get("source"), reason=str(e))
        if not urls:
            return None
        return Deferred.fromCoroutine(self.announce(msg, urls))

    async def announce(self, msg, urls: list) -> dict | None:
        fields = msg.fields
        channel = fields.get("channel")
        if not fields.get("private"):
            await self._remember(msg, urls[-1], None)
        if self.fetcher is None or not channel_settings(msg).links.titles:
            return None
        found = await gatherResults([Deferred.fromCoroutine(self._fetch(msg, url)) for url in urls],
                                    consumeErrors=True)
        if found[-1] is not None and not fields.get("private"):
            await self._remember(msg, urls[-1], found[-1])
        lines = [line for line in found if line is not None]
        if not lines:
            return None
        log.debug("links: {count} titles for {channel}", count=len(lines), channel=channel)
        return {"content": lines}

    async def _fetch(self, msg, url: str) -> str | None:
        key = (msg.fields.get("network"), msg.fields.get("channel"))
        if self.running >= MAX_FETCHES:
            self._note("busy", LogLevel.warn, "links: {running} fetches running; not fetching {url}",
                       running=self.running, url=url)
            return None
        if self._limits is not None and not self._limits.allow(key):
            self._note("channel-limit", LogLevel.info,
                       "links: too many links in {channel}; not fetching {url}", channel=key[1], url=url)
            return None
        fetcher = self.fetcher
        if fetcher is None:
            return None
        self.running += 1
        try:
            page = await fetcher.fetch(url)
        except FetchError as e:
            self._note("failed", LogLevel.info, "links: {url} from {source}: {reason}", url=url,
                       source=msg.fields.get("source"), reason=str(e))
            return None
        finally:
            self.running -= 1
        line = describe(page)
        if line is None:
            self._note("no-title", LogLevel.info, "links: {url} answered {status}", url=url,
                       status=page.status)
        return line

    async def _remember(self, msg, url: str, line: str | None) -> None:
        fields = msg.fields
        field = "%s %s" % (fields.get("network"), fields.get("channel"))
        store = msg.bot.store
        if line is not None:
            # Only when this is still the newest link: a later one may have come meanwhile.
            current = await store.hget(STORE_KEY, field)
            if not isinstance(current, dict) or current.get("url") != url:
                return
        await store.hset(STORE_KEY, field, {
            "url": url, "source": fields.get("source"), "time": msg.bot.clock.seconds(), "title": line})

    async def lastlink(self, msg) -> dict:
        fields = msg.fields
        if fields.get("private"):
            return {"content": "Ask me for lastlink in a channel."}
        field = "%s %s" % (fields.get("network"), fields.get("channel"))
        last = await msg.bot.store.hget(STORE_KEY, field)
        if not isinstance(last, dict) or not isinstance(last.get("url"), str):
            return {"content": "I have seen no links in %s yet." % (fields.get("channel"),)}
        ago = format_duration(msg.bot.clock.seconds() - float(last.get("time") or 0))
        text = "%s posted %s %s ago" % (clean_text(str(last.get("source")), 40), last["url"], ago)
        if last.get("title"):
            text += " " + clean_text(str(last["title"]), TITLE_LENGTH + 4)
        return {"content": text}


links = Links()
