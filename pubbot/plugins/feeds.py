"""
Feeds (RSS, Atom) announced in channels: those of the config file
(C{[[feeds]]}, see L{pubbot.feeds.settings}) and those admins add with
C{!feed add <url> [#chan ...] [every <N>m] [only <regex>]}; C{!feed del
<url|id>}, C{!feed list}. The job L{poll_feeds} polls them, in one process
of a cluster; each entry is announced once (see L{pubbot.feeds.poller}).
"""

from __future__ import annotations

from typing import Any
from weakref import WeakKeyDictionary

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.internet.interfaces import IReactorProcess
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import IHandler, clean_text, command, every, example, patterns
from pubbot.feeds.parse import FeedError, checked_url, entries, feed_fetcher
from pubbot.feeds.parsers import FeedParsers
from pubbot.feeds.poller import TICK, Feed, FeedPoller
from pubbot.feeds.settings import (
    DEFAULT_INTERVAL,
    MIN_INTERVAL,
    FeedSettings,
    channels_problem,
    places,
    split_channel,
)

__all__ = ["FeedSettings", "Feeds", "feed_add", "feed_del", "feed_list", "feeds", "poll_feeds"]

log = Logger()

#: !feed add's words after the URL: channels, "every 30m", "only <regex>".
_ADD = patterns.linear(r"(?P<url>\S+)(?P<channels>(?:\s+[#&]\S+)*)(?:\s+every\s+(?P<minutes>\d{1,5})m)?"
                       r"(?:\s+only\s+(?P<only>.+))?")


def _at_once(body: bytes) -> Deferred:
    """Parse here (a reactor that cannot start processes: tests on a Clock)."""
    try:
        return succeed(entries(body))
    except FeedError as e:
        return fail(e)


@implementer(IPlugin, IHandler)
class Feeds:
    """Owns the poller of the bot it runs in; the commands below reach it through L{poller_of}."""

    name = "feeds"
    description = ("Announces new entries of RSS and Atom feeds ([[feeds]] in the config; admins add more "
                   "with !feed).")
    triggers = ()
    subscriptions = ()

    def __init__(self, reactor: Any = None, resolver: Any = None, tls_policy: Any = None):
        self._reactor = reactor
        self._resolver = resolver
        self._tls_policy = tls_policy
        self.poller: FeedPoller | None = None
        self.parsers: FeedParsers | None = None

    def start(self, bot) -> None:
        reactor = self._reactor if self._reactor is not None else bot.clock
        allow = bot.settings.links.allow  # the link fetcher's policy: the same private-address rules
        fetcher = feed_fetcher(reactor, allow, self._resolver, self._tls_policy)
        if IReactorProcess.providedBy(reactor):
            self.parsers = FeedParsers(reactor)
            parse = self.parsers.parse
        else:
            parse = _at_once
        configured = [Feed(f.url, places(f, bot.settings), f.interval, f.filter, "config", configured=True)
                      for f in bot.settings.feeds]
        self.poller = FeedPoller(bot, fetcher, parse, configured)
        _POLLERS[bot] = self.poller

    def stop(self) -> Deferred:
        """Fires when the polls under way and their parse processes have ended."""
        waits = []
        if self.poller is not None:
            waits.append(self.poller.stop())
            if _POLLERS.get(self.poller.bot) is self.poller:
                del _POLLERS[self.poller.bot]
        if self.parsers is not None:
            waits.append(self.parsers.stop())
        self.poller = self.parsers = None
        return DeferredList(waits)

    def handle(self, msg) -> None:
        return None


feeds = Feeds()
#: The running poller of each bot (the commands' way to it).
_POLLERS: WeakKeyDictionary[Any, FeedPoller] = WeakKeyDictionary()


def poller_of(msg) -> FeedPoller | None:
    return _POLLERS.get(msg.bot) if msg.bot is not None else None


@every(TICK)
def poll_feeds(bot) -> Deferred | None:
    """Polls the feeds that are due (in one process of a cluster)."""
    poller = _POLLERS.get(bot)
    return poller.tick() if poller is not None else None


_OFF = "Feeds are switched off here."


@command("feed add", args=r"(?P<rest>\S.*)", usage="<url> [#chan[@network] ...] [every <N>m] [only <regex>]",
         admin=True, description="Admins: follow a feed in channels (default: here).")
def feed_add(msg, rest=None):
    poller = poller_of(msg)
    if poller is None:
        return _OFF
    found = _ADD.fullmatch(rest or "")
    if found is None:
        return "Say: !feed add <url> [#chan[@network] ...] [every <N>m] [only <regex>]"
    try:
        url = checked_url(found.group("url"))
    except ValueError as e:
        return "I can't follow that: %s" % (clean_text(str(e), 120),)
    channels = found.group("channels").split() or ([msg.channel] if not msg.private else [])
    if not channels:
        return "Which channel? Say: !feed add <url> #chan"
    problem = channels_problem(tuple(channels))
    if problem:
        return "Not followed: the feed %s." % (clean_text(problem, 160),)
    minutes = found.group("minutes")
    interval = int(minutes) * 60 if minutes else DEFAULT_INTERVAL
    if interval < MIN_INTERVAL:
        return "Every %d minutes at most often, please." % (MIN_INTERVAL // 60,)
    only = (found.group("only") or "").strip()
    where = []
    for text in channels:
        network, name = split_channel(text)
        network = network or msg.network
        if network not in msg.bot.chat_services:
            return "I am not on %s." % (clean_text(network, 40),)
        where.append((network, name))
    try:
        feed = Feed(url, where, interval, only, msg.source, msg.bot.clock.seconds())
    except (patterns.Unsupported, ValueError) as e:
        return "That filter won't do: %s" % (clean_text(str(e), 120),)
    return Deferred.fromCoroutine(poller.add(feed))


@command("feed del", args=r"(?P<what>\S+)", usage="<url|id>", admin=True,
         description="Admins: stop following a feed.")
@example("!feed del 3", "I follow no feed 3; say !feed list.")
def feed_del(msg, what=None):
    poller = poller_of(msg)
    if poller is None:
        return _OFF
    if not what:
        return "Say: !feed del <url or id> (see !feed list)"
    return Deferred.fromCoroutine(poller.remove(what))


def _place(msg, place: tuple) -> str:
    network, channel = place
    return channel if network == msg.network else "%s@%s" % (channel, network)


@command("feed list", admin=True, description="Admins: the feeds I follow.")
@example("!feed list", "I follow no feeds; add one with !feed add <url>.")
def feed_list(msg):
    poller = poller_of(msg)
    if poller is None:
        return _OFF

    async def listed() -> Any:
        followed = await poller.feeds()
        if not followed:
            return "I follow no feeds; add one with !feed add <url>."
        return {"content": ["%s %s -> %s every %dm%s%s" % (
            f.id, f.url, " ".join(_place(msg, p) for p in f.places), f.interval // 60,
            " only /%s/" % (f.filter,) if f.filter else "", " (config file)" if f.configured else "")
            for f in followed]}
    return Deferred.fromCoroutine(listed())
