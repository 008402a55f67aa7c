"""
C{[[feeds]]}: the feeds the config file follows (an array of tables)::

    [[feeds]]
    url = "https://example.org/news.xml"
    channels = ["#news", "#dev@oftc"]    # "#chan" on the first network, "#chan@NAME" on [networks.NAME]
    interval = 900.0                     # seconds between polls, at least 300
    filter = "release|security"          # only entries whose title matches (RE2, any case)

They are the base of the list: C{!feed add} adds to them (in the store),
C{!feed del} cannot remove them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..config.registry import key, section
from ..util import patterns
from .parse import checked_url

#: Poll intervals (seconds): the least, and the default.
MIN_INTERVAL = 300.0
DEFAULT_INTERVAL = 900.0
#: Most [[feeds]] entries, and channels of one.
MAX_CONFIG_FEEDS = 50
MAX_CHANNELS = 20
MAX_FILTER = 200


def _url(value: str) -> str | None:
    if not value:
        return "must be set"
    try:
        checked_url(value)
    except ValueError as e:
        return "is not a feed pubbot can fetch: %s" % (" ".join(str(e).split()),)
    return None


def split_channel(entry: str) -> tuple[str | None, str]:
    """C{#chan@network} as C{(network, #chan)}; C{(None, #chan)} without a network."""
    name, at, network = entry.rpartition("@")
    if at and name and name[0] in "#&+!":
        return network, name
    return None, entry


def channels_problem(values: tuple) -> str | None:
    """What is wrong with a feed's channels (of the config or of C{!feed add}), or None."""
    if not values:
        return "must name at least one channel"
    if len(values) > MAX_CHANNELS:
        return "has %d channels; at most %d" % (len(values), MAX_CHANNELS)
    for v in values:
        network, name = split_channel(v)
        if (not name or name[0] not in "#&+!" or len(v) > 200 or network == ""
                or any(c in v for c in " ,\r\n\0\a") or any(ord(c) < 32 for c in v)):
            return "has a bad channel %r (want \"#name\", or \"#name@network\" on another network)" % (v,)
    return None


def _interval(value: float) -> str | None:
    return None if value >= MIN_INTERVAL else "must be at least %g (seconds)" % (MIN_INTERVAL,)


def _filter(value: str) -> str | None:
    if len(value) > MAX_FILTER:
        return "is longer than %d characters" % (MAX_FILTER,)
    if value:
        try:
            patterns.linear(value, re.IGNORECASE)
        except (patterns.Unsupported, ValueError) as e:
            return "is not a pattern pubbot runs: %s" % (" ".join(str(e).split())[:150],)
    return None


def places(feed: FeedSettings, settings: Any) -> list[tuple[str, str]]:
    """The C{(network, channel)}s of C{feed}: a channel without C{@network} is on the first network."""
    out = []
    for entry in feed.channels:
        network, name = split_channel(entry)
        out.append((network or settings.irc.name, name))
    return out


def check_feeds(feeds: tuple, settings: Any) -> str | None:
    """Each channel on a network of the config; no URL twice; not too many."""
    if len(feeds) > MAX_CONFIG_FEEDS:
        return "[[feeds]] has %d entries; at most %d" % (len(feeds), MAX_CONFIG_FEEDS)
    networks = {settings.irc.name, *settings.networks}
    urls: dict[str, int] = {}
    for i, feed in enumerate(feeds, 1):
        for name in ("url", "channels"):
            if not getattr(feed, name):
                return "[[feeds]] #%d %s must be set" % (i, name)
        for entry in feed.channels:
            network, _ = split_channel(entry)
            if network is not None and network not in networks:
                return "[[feeds]] #%d channels has %r, but there is no network %s (networks: %s)" % (
                    i, entry, network, ", ".join(sorted(networks)))
        url = checked_url(feed.url)
        if url in urls:
            return "[[feeds]] #%d url is the url of #%d" % (i, urls[url])
        urls[url] = i
    return None


@section("feeds", array=True, check=check_feeds)
@dataclass(frozen=True)
class FeedSettings:
    """One C{[[feeds]]} entry."""

    url: str = key("", _url)
    channels: tuple[str, ...] = key([], channels_problem)
    interval: float = key(DEFAULT_INTERVAL, _interval)
    filter: str = key("", _filter)
