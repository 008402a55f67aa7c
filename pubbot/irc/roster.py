"""
Who is where: users (host, account, away) and per-channel membership with
prefix modes, kept under the server's casemapping.

Fed from NAMES, JOIN (plain and extended-join), PART, KICK, QUIT, NICK,
MODE, ACCOUNT, CHGHOST, AWAY, SETNAME, WHO/WHOX and account tags.
"""

from __future__ import annotations

from collections.abc import Callable

from .casemap import FoldedDict

#: Bounds on what a server can make us keep: channels we are in (a server
#: may put us in channels itself), people known, members of one channel.
#: Past them, more is not tracked (the events still go to the bot).
MAX_CHANNELS = 500
MAX_USERS = 100_000
MAX_MEMBERS = 20_000


class User:
    """
    Someone we share a channel with. C{account_known}: C{account} was told
    us by the server (not merely never heard of); see L{Roster.forget_accounts}.
    """

    __slots__ = ("nick", "user", "host", "account", "account_known", "away", "realname")

    def __init__(self, nick: str, user: str | None = None, host: str | None = None):
        self.nick = nick
        self.user = user
        self.host = host
        self.account: str | None = None
        self.account_known = False
        self.away = False
        self.realname: str | None = None

    @property
    def hostmask(self) -> str:
        return "%s!%s@%s" % (self.nick, self.user or "*", self.host or "*")


class Channel:
    __slots__ = ("name", "members", "key", "names_buffer")

    def __init__(self, name: str, fold: Callable[[str], str]):
        self.name = name
        #: nick -> prefix symbols held, highest first ("@+").
        self.members: FoldedDict[str] = FoldedDict(fold)
        self.key: str | None = None
        #: NAMES replies being collected (None when not collecting).
        self.names_buffer: FoldedDict[str] | None = None


class Roster:
    """All channels the bot is in and the users it shares them with."""

    def __init__(self, fold: Callable[[str], str], prefix_symbols: str = "@+", prefix_modes: str = "ov"):
        self.fold = fold
        self.prefix_symbols = prefix_symbols
        self.prefix_modes = prefix_modes
        self.channels: FoldedDict[Channel] = FoldedDict(fold)
        self.users: FoldedDict[User] = FoldedDict(fold)

    def refold(self, fold: Callable[[str], str]) -> None:
        self.fold = fold
        self.channels.refold(fold)
        self.users.refold(fold)
        for channel in self.channels.values():
            channel.members.refold(fold)

    def clear(self) -> None:
        self.channels.clear()
        self.users.clear()

    def forget_accounts(self) -> None:
        """Every account known so far may be out of date (account-notify came or went)."""
        for u in self.users.values():
            u.account_known = False

    # users

    def user(self, nick: str, user: str | None = None, host: str | None = None) -> User:
        """The L{User} for C{nick}, created if new; C{user}/C{host} update it when given."""
        u = self.users.get(nick)
        if u is None:
            u = User(nick, user, host)
            if len(self.users) < MAX_USERS:
                self.users[nick] = u
        else:
            if user:
                u.user = user
            if host:
                u.host = host
        return u

    def _forget_if_gone(self, nick: str) -> None:
        for channel in self.channels.values():
            if nick in channel.members:
                return
        self.users.pop(nick)

    # membership

    def join(self, channel: str, nick: str, user: str | None = None,
             host: str | None = None) -> User:
        chan = self.channels.get(channel)
        if chan is None:
            chan = self.channels[channel] = Channel(channel, self.fold)
        u = self.user(nick, user, host)
        if nick not in chan.members and len(chan.members) < MAX_MEMBERS and nick in self.users:
            chan.members[nick] = ""
        return u

    def full(self, channel: str) -> bool:
        """Are we in as many channels as we keep, C{channel} not among them?"""
        return len(self.channels) >= MAX_CHANNELS and channel not in self.channels

    def part(self, channel: str, nick: str) -> None:
        chan = self.channels.get(channel)
        if chan is not None:
            chan.members.pop(nick)
            self._forget_if_gone(nick)

    def leave_channel(self, channel: str) -> None:
        """The bot left C{channel}: forget it and users seen only there."""
        chan = self.channels.pop(channel)
        if chan is None:
            return
        for nick in list(chan.members):
            self._forget_if_gone(nick)

    def quit(self, nick: str) -> list[str]:
        """C{nick} quit: remove it everywhere; return the channels it was in."""
        left = []
        for chan in self.channels.values():
            if chan.members.pop(nick) is not None:
                left.append(chan.name)
        self.users.pop(nick)
        return left

    def nick_change(self, old: str, new: str) -> None:
        u = self.users.get(old)
        if u is not None:
            self.users.rename(old, new)
            u.nick = new
        for chan in self.channels.values():
            chan.members.rename(old, new)

    def channels_of(self, nick: str) -> list[str]:
        return [chan.name for chan in self.channels.values() if nick in chan.members]

    # modes

    def _sorted(self, symbols: str) -> str:
        order = self.prefix_symbols
        return "".join(sorted(set(symbols), key=lambda s: order.find(s) if s in order else len(order)))

    def set_prefix(self, channel: str, nick: str, symbol: str, on: bool) -> None:
        chan = self.channels.get(channel)
        if chan is None or nick not in chan.members:
            return
        held = chan.members[nick]
        if on and symbol not in held:
            chan.members[nick] = self._sorted(held + symbol)
        elif not on and symbol in held:
            chan.members[nick] = held.replace(symbol, "")

    # NAMES

    def names(self, channel: str, entries: list[str]) -> None:
        """One RPL_NAMREPLY: entries like C{@+nick} or C{@nick!user@host}."""
        chan = self.channels.get(channel)
        if chan is None:
            return
        if chan.names_buffer is None:
            chan.names_buffer = FoldedDict(self.fold)
        symbols = self.prefix_symbols
        for entry in entries:
            i = 0
            while i < len(entry) and entry[i] in symbols:
                i += 1
            prefixes, rest = entry[:i], entry[i:]
            if not rest:
                continue
            nick, _, userhost = rest.partition("!")
            user, _, host = userhost.partition("@")
            if len(chan.names_buffer) >= MAX_MEMBERS:
                break
            self.user(nick, user or None, host or None)
            if nick in self.users:
                chan.names_buffer[nick] = self._sorted(prefixes)

    def end_of_names(self, channel: str) -> None:
        chan = self.channels.get(channel)
        if chan is None or chan.names_buffer is None:
            return
        old = list(chan.members)
        chan.members = chan.names_buffer
        chan.names_buffer = None
        for nick in old:
            if nick not in chan.members:
                self._forget_if_gone(nick)

    # views

    def nicks(self, channel: str) -> list[str]:
        chan = self.channels.get(channel)
        return list(chan.members) if chan is not None else []

    def modes(self, channel: str, nick: str) -> str:
        """The prefix mode letters (C{"ov"}) C{nick} holds in C{channel}; empty when none or unknown."""
        chan = self.channels.get(channel)
        held = chan.members.get(nick) if chan is not None else None
        if not held:
            return ""
        symbols, modes = self.prefix_symbols, self.prefix_modes
        return "".join(modes[i] for c in held if 0 <= (i := symbols.find(c)) < len(modes))

    def entries(self, channel: str, limit: int | None = None) -> list[dict]:
        """
        Members as dicts: nick, prefix (symbols, "@+"), modes (letters, "ov"),
        account, away, host; with C{limit}, the first C{limit} only (at that cost).
        """
        chan = self.channels.get(channel)
        if chan is None:
            return []
        out = []
        symbols, modes = self.prefix_symbols, self.prefix_modes
        members = chan.members.items() if limit is None else chan.members.first(limit)
        for nick, prefix in members:
            u = self.users.get(nick)
            out.append({
                "nick": nick, "prefix": prefix,
                "modes": "".join(modes[symbols.index(c)] for c in prefix
                                 if c in symbols and symbols.index(c) < len(modes)),
                "account": u.account if u else None,
                "away": u.away if u else False,
                "host": u.host if u else None,
            })
        return out
