"""
The ignore list: senders whose lines reach no handler (but admin commands
from admins, and handlers that declare C{hears_ignored}, such as the
channel log).

Entries are accounts (C{alice}) or C{nick!user@host} masks with C{*} and
C{?} (C{*!*@spam.example}), each with who added it, when, why, until when
and on which network it holds (accounts and hosts are each network's own,
see L{Matcher}); they live in the store hash L{ENTRIES_KEY}, shared by every process,
with a version counter (L{VERSION_KEY}) bumped on every change. Each
process keeps a compiled L{Matcher} (a set of accounts, a set of nicks, one
RE2 pattern for all the masks) and re-reads the list only when the version
has moved (one read every L{REFRESH_SECONDS}) or an entry has expired: a
line costs a few dict and set lookups, and one RE2 match only while there
are masks. Lines whose sender says it is a bot (their C{bot} field: on
IRC, the IRCv3 C{bot} tag; a message made without that field, by an
older process or a test, is read by its tags), and lines from the nicks
in C{[ignore] bots}, are ignored too (so two bots never answer each
other), unless C{[ignore] bot_tag} is false.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ..util import patterns
from ..util.people import is_admin, more_network

log = Logger()

ENTRIES_KEY = "ignore:entries"
VERSION_KEY = "ignore:version"
REFRESH_SECONDS = 10.0
MAX_REASON = 200
MAX_MASK = 200

_ACCOUNT = re.compile(r"[^\s!@*?,:\x00-\x1f\x7f]{1,64}\Z")
_MASK = re.compile(r"[^\s!@\x00-\x1f\x7f]{1,64}![^\s!@\x00-\x1f\x7f]{1,64}@[^\s!@\x00-\x1f\x7f]{1,128}\Z")


def mask_problem(text: str) -> str | None:
    """Why C{text} is neither an account name nor a C{nick!user@host} mask, or None."""
    if "!" in text or "@" in text:
        if _MASK.match(text) is None:
            return "a mask is nick!user@host (with * and ?), such as *!*@spam.example"
        if text.replace("*", "").replace("?", "").replace("!", "").replace("@", "") == "":
            return "that mask would ignore everyone"
        return None
    if _ACCOUNT.match(text) is None:
        return "an account name has no spaces or wildcards (use a nick!user@host mask for those)"
    return None


def _glob(mask: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in mask)


class Matcher:
    """
    Decides, per line, whether its sender is ignored; built from the entries and the settings.

    Accounts and hosts are each network's own (as C{[plugins] admins}
    are): an entry added on a C{[networks.NAME]} network (its C{network})
    holds there only, one added on the C{[irc]} network or the console
    holds on those. C{networks} are the C{[networks.NAME]} names.
    """

    def __init__(self, entries: Iterable[dict], now: float, bots: Iterable[str] = (), bot_tag: bool = True,
                 networks: Iterable[str] = ()):
        self.nicks = frozenset(n.lower() for n in bots)
        self.bot_tag = bot_tag
        self.networks = frozenset(networks)
        self.expires: float | None = None
        accounts: dict[str | None, set] = {}
        masks: dict[str | None, list] = {}
        for entry in entries:
            until = entry.get("until")
            if isinstance(until, (int, float)):
                if until <= now:
                    continue
                self.expires = until if self.expires is None else min(self.expires, until)
            scope = entry.get("network") if isinstance(entry.get("network"), str) else None
            mask = str(entry.get("mask", "")).lower()
            if "!" in mask:
                masks.setdefault(scope, []).append(mask)
            elif mask:
                accounts.setdefault(scope, set()).add(mask)
        #: Per scope (a [networks.NAME] name, or None): the accounts, and one pattern for the masks.
        self.scopes: dict[str | None, tuple[frozenset, Any | None]] = {}
        for scope in set(accounts) | set(masks):
            found = sorted(masks.get(scope, ()))
            pattern = patterns.linear("(?:%s)\\Z" % "|".join(_glob(m) for m in found), re.DOTALL) \
                if found else None
            self.scopes[scope] = (frozenset(accounts.get(scope, ())), pattern)
        self.empty = not (self.scopes or self.nicks or self.bot_tag)

    def ignores(self, fields: dict) -> bool:
        """Is the sender of a message with C{fields} ignored?"""
        source = fields.get("source")
        if type(source) is not str:
            return False
        if self.bot_tag:
            bot = fields.get("bot")
            if bot if bot is not None else _bot_tagged(fields):
                return True
        if self.nicks and source.lower() in self.nicks:
            return True
        if not self.scopes:
            return False
        network = fields.get("network")
        found = self.scopes.get(network if network in self.networks else None)
        if found is None:
            return False
        accounts, masks = found
        if accounts:
            account = fields.get("account")
            if account and account.lower() in accounts:
                return True
        if masks is not None:
            hostmask = fields.get("hostmask")
            if hostmask and masks.match(hostmask.lower()) is not None:
                return True
        return False

    def scan(self, messages: Sequence) -> list[int]:
        """The positions of C{messages} whose senders are ignored (L{ignores} of each, in one loop)."""
        if self.nicks or self.scopes:
            ignores = self.ignores
            return [i for i, message in enumerate(messages) if ignores(message.fields)]
        if not self.bot_tag:
            return []
        # The default list (no entries, no bot nicks): only the bot field, read in place.
        found = []
        for i, message in enumerate(messages):
            fields = message.fields
            bot = fields.get("bot")
            if (bot if bot is not None else _bot_tagged(fields)) and type(fields.get("source")) is str:
                found.append(i)
        return found


def _bot_tagged(fields: dict) -> bool:
    """For a message made without the C{bot} field (an older process's, a test's): its bot tags."""
    tags = fields.get("tags") or {}
    return "bot" in tags or "draft/bot" in tags


class Gate:
    """
    The dispatcher's gate (L{pubbot.core.dispatch.Dispatcher.gate}) for one
    bot: which lines of a batch come from ignored senders, and whether each
    of those senders is an admin.
    """

    def __init__(self, bot: Any, settings: Any):
        self.bot = bot
        self.store = bot.store
        self.clock = bot.clock
        self.bots = tuple(settings.bots)
        self.bot_tag = settings.bot_tag
        self.networks = tuple(bot.settings.networks)
        self.matcher = Matcher((), self.clock.seconds(), self.bots, self.bot_tag, self.networks)
        self.version: Any = object()  # not read yet
        self._loop: LoopingCall | None = None
        self._refreshing: Deferred | None = None
        self.ignored = 0

    def __call__(self, messages: Sequence) -> dict | None:
        matcher = self.matcher
        if matcher.empty:
            return None
        positions = matcher.scan(messages)
        if not positions:
            return None
        self.ignored += len(positions)
        return {i: is_admin(messages[i]) for i in positions}

    def start(self) -> None:
        self._loop = LoopingCall(self.refresh)
        self._loop.clock = self.clock
        self._loop.start(REFRESH_SECONDS, now=True).addErrback(
            lambda f: log.failure("the ignore list's refresh stopped", f))

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def refresh(self, force: bool = False) -> Deferred | None:
        if self._refreshing is not None:
            return self._refreshing
        d = self._refreshing = Deferred.fromCoroutine(self._refresh(force))
        d.addErrback(lambda f: log.failure("reading the ignore list failed", f))

        def done(_: Any) -> None:
            self._refreshing = None
        d.addBoth(done)
        return d

    async def _refresh(self, force: bool) -> None:
        version = await self.store.get(VERSION_KEY)
        now = self.clock.seconds()
        expired = self.matcher.expires is not None and self.matcher.expires <= now
        if not force and version == self.version and not expired:
            return
        entries = await self.store.hgetall(ENTRIES_KEY)
        self.matcher = Matcher([e for e in entries.values() if isinstance(e, dict)], now, self.bots,
                               self.bot_tag, self.networks)
        self.version = version


def field_of(mask: str, network: str | None = None) -> str:
    """The store field of C{mask} on C{network} (a C{[networks.NAME]} name; None: C{[irc]}, the console)."""
    return mask.lower() if network is None else "%s %s" % (network, mask.lower())


def scope_of(msg: Any) -> str | None:
    """The network an entry added by C{msg} holds on: its C{[networks.NAME]}, or None (see L{Matcher})."""
    return more_network(msg)


class IgnoreList:
    """
    The stored entries: add, remove, list (the plugin's commands call
    these), each for one C{network} (see L{Matcher}); the cap counts them all.
    """

    def __init__(self, bot: Any, max_entries: int, network: str | None = None):
        self.store = bot.store
        self.clock = bot.clock
        self.max_entries = max_entries
        self.network = network

    async def all_entries(self) -> list[dict]:
        """The live entries of every network (the expired ones are removed)."""
        now = self.clock.seconds()
        found = await self.store.hgetall(ENTRIES_KEY)
        live, dead = [], []
        for field, entry in found.items():
            until = entry.get("until") if isinstance(entry, dict) else None
            if not isinstance(entry, dict) or (isinstance(until, (int, float)) and until <= now):
                dead.append(field)
            else:
                live.append(entry)
        if dead:
            await self.store.hdel(ENTRIES_KEY, *dead)
        return sorted(live, key=lambda e: (e.get("at", 0), e.get("mask", "")))

    async def entries(self) -> list[dict]:
        """The live entries of this list's network."""
        return [e for e in await self.all_entries() if _scope(e) == self.network]

    async def add(self, mask: str, by: str, seconds: float | None, reason: str) -> str | None:
        """Add (or renew) C{mask}; a refusal when the list is full."""
        key = field_of(mask, self.network)
        existing = {field_of(e["mask"], _scope(e)) for e in await self.all_entries()
                    if isinstance(e.get("mask"), str)}
        if key not in existing and len(existing) >= self.max_entries:
            return "The ignore list is full (%d entries); remove some first." % (self.max_entries,)
        now = self.clock.seconds()
        await self.store.hset(ENTRIES_KEY, key, {"mask": mask, "by": by, "at": now, "reason": reason,
                                                 "until": None if seconds is None else now + seconds,
                                                 "network": self.network})
        await self.store.incr(VERSION_KEY)
        return None

    async def remove(self, mask: str) -> bool:
        removed = await self.store.hdel(ENTRIES_KEY, field_of(mask, self.network))
        if removed:
            await self.store.incr(VERSION_KEY)
        return bool(removed)


def _scope(entry: dict) -> str | None:
    network = entry.get("network")
    return network if isinstance(network, str) else None
