"""
Channel logs with search: what is said (lines, actions), joins, parts,
kicks and quits in the channels of C{[logs] channels}, each with its
server time, searched by C{!grep}, C{!last} and the dashboard's C{/logs}
page.

Where the log lives follows the store (L{index_for}):

 - SQLite (the embedded default): a table in the store's own file, with an
   FTS5 full-text index kept by triggers (L{pubbot.chatlogs.sql}); it runs
   in the store's thread, in turn with the store's calls.
 - Redis: an inverted index of words in sorted sets, written and searched
   by Lua scripts, so every process writes and searches the one log
   (L{pubbot.chatlogs.redis}).
 - The memory store (tests, the harness): the same SQL on an in-memory
   SQLite database, run at once.

Searches are words only (no regex, no query syntax from users): at most
L{MAX_WORDS} words of at most L{MAX_WORD} characters, all of which a line
must have, newest lines first, at most L{MAX_RESULTS} lines. A person who
says C{!nolog} is kept in the store set L{OPTOUT_KEY}: their lines are not
written, and what was written is removed. Lines older than C{[logs]
retention_days} are removed every L{PRUNE_SECONDS}.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from weakref import WeakKeyDictionary

from zope.interface import Attribute, Interface

#: The store set of people (L{pubbot.util.people.person_key}) who opted out.
OPTOUT_KEY = "logs:optout"
MAX_WORDS = 8
MAX_WORD = 64
MAX_QUERY = 200
MAX_RESULTS = 50
MAX_TEXT = 600
#: Words of one line put in the Redis index, at most.
MAX_LINE_WORDS = 64
PRUNE_SECONDS = 3600.0

_WORD = re.compile(r"\w+")


def words(text: str, limit: int = MAX_LINE_WORDS) -> list[str]:
    """The distinct lower-case words of C{text}, in order (at most C{limit}, of at most L{MAX_WORD} each)."""
    out: dict[str, None] = {}
    for found in _WORD.finditer(text[:MAX_TEXT].lower()):
        word = found.group()
        if len(word) <= MAX_WORD:
            out[word] = None
            if len(out) >= limit:
                break
    return list(out)


def query_words(text: str) -> list[str] | None:
    """The words of a search, or None when it has none or is too long."""
    if len(text) > MAX_QUERY:
        return None
    found = words(text, MAX_WORDS + 1)
    if not found or len(found) > MAX_WORDS:
        return None
    return found


def search_link(web: Any, network: str, channel: str, found: Iterable[str] = ()) -> str | None:
    """
    The dashboard's log search page for C{channel} (and the words C{found}),
    as a line to add to an answer: from C{[web] url}, the dashboard's public
    address, when the web service is on and it is set; else None. Never the
    token: with C{[web] token} set, the line says one is needed.
    """
    if not web.endpoint or not web.url:
        return None
    from urllib.parse import quote, urlencode
    query = {"network": network, "channel": channel}
    if found:
        query["q"] = " ".join(found)
    link = "%s/logs?%s" % (web.url.rstrip("/"), urlencode(query, quote_via=quote, safe=""))
    return "Search the log: %s%s" % (link, " (the dashboard's token needed)" if web.token else "")


def fold(channel: str) -> str:
    return channel.lower()


class ILogIndex(Interface):
    """A channel log and its search. Every method returns a Deferred."""

    kind = Attribute("What keeps it: 'sqlite', 'redis' or 'memory'.")

    def add(lines):
        """
        Write C{lines}: dicts with C{network}, C{channel}, C{time} (server
        time, seconds), C{kind} (say, action, join, part, kick, quit),
        C{nick}, C{person} (a person key, may be empty) and C{text}.
        Lines of people who opted out are skipped. Fires with how many were written.
        """

    def search(network, channel, words, limit):
        """The newest lines of the channel having every one of C{words}, newest first (at most C{limit})."""

    def last(network, channel, nick, limit):
        """The newest lines C{nick} said (or acted) in the channel, newest first."""

    def forget(person):
        """Remove every line of C{person}; fires with how many."""

    def prune(before):
        """Remove the lines older than C{before}; fires with how many."""

    def close():
        """Release what it holds (may return a Deferred)."""


class LogChannels:
    """Which channels are logged: C{#chan} on every network, C{#chan@network} on one."""

    def __init__(self, entries: Iterable[str]):
        everywhere, one = set(), set()
        for entry in entries:
            name, at, network = entry.rpartition("@")
            if at and name:
                one.add((network, fold(name)))
            else:
                everywhere.add(fold(entry))
        self.everywhere = frozenset(everywhere)
        self.one = frozenset(one)
        self.empty = not (everywhere or one)

    def logged(self, network: str, channel: str) -> bool:
        folded = fold(channel)
        return folded in self.everywhere or (network, folded) in self.one


_indexes: WeakKeyDictionary = WeakKeyDictionary()


def make_index(store: Any) -> Any:
    """The L{ILogIndex} that goes with C{store}."""
    from ..store.redis import RedisStore
    from ..store.sqlite import SQLiteStore
    if isinstance(store, SQLiteStore):
        from .sql import SQLLogIndex
        return SQLLogIndex(store.call, OPTOUT_KEY, "sqlite")
    if isinstance(store, RedisStore):
        from .redis import RedisLogIndex
        return RedisLogIndex(store.client, store.prefix + OPTOUT_KEY)
    from .sql import memory_index
    return memory_index(store)


def index_for(bot: Any) -> Any:
    """The log index of C{bot} (one per bot, made on first use)."""
    index = _indexes.get(bot)
    if index is None:
        index = _indexes[bot] = make_index(bot.store)
    return index


def format_line(line: dict) -> str:
    """A log line as one chat line: C{[2026-12-07 11:52 UTC] <nick> text}."""
    import time as _time
    stamp = _time.strftime("%Y-%m-%d %H:%M UTC", _time.gmtime(line.get("time") or 0))
    kind, nick, text = line.get("kind"), line.get("nick"), line.get("text") or ""
    if kind == "action":
        body = "* %s %s" % (nick, text)
    elif kind in ("join", "part", "kick", "quit"):
        body = "-- %s %s%s" % (nick, {"join": "joined", "part": "left", "kick": "was kicked",
                                      "quit": "quit"}[kind], " (%s)" % (text,) if text else "")
    else:
        body = "<%s> %s" % (nick, text)
    return "[%s] %s" % (stamp, body)
