"""
What is true on one IRC connection, driven by lines alone (sans-IO).

L{ConnectionState} is fed every parsed line the server sends
(L{ConnectionState.apply}) and keeps the connection's capabilities,
ISUPPORT (and so its casemapping), our nick, account and host, the channel
rosters and the lag. What it heard that the bot should see (chat, joins,
leaves) it appends to L{ConnectionState.events} as L{ChatEvent}s, in order,
and the CTCP requests sent to us to L{ConnectionState.ctcp_requests}.
It sends nothing and decides nothing: the protocol and the registration
machine read it to act. A new connection gets a new state.

Bounds (hostile servers): rosters only for channels we are in, at most
L{MAX_CHANNELS} of them (people and members capped by the roster); ISUPPORT
and CAP lists are capped by their own classes; BATCH references are not kept.

A chat line's tags are read from their wire text, not parsed (L{Tags}): its
C{time} through a cache of the time item's text, and its sender's account
from the roster when the roster is sure of it. The roster is sure of an
account it was told (extended-join, WHOX, ACCOUNT, an account tag) while
account-notify keeps it current; any other line takes its account tag.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from ..core.events import ChatEvent
from .caps import Capabilities
from .isupport import ISupport
from .lines import Line, Tags, split_source
from .roster import MAX_CHANNELS, Roster, User

WHOX_TOKEN = "152"


def parse_server_time(value: str) -> float | None:
    """An IRCv3 C{time} tag (ISO 8601, UTC) as Unix seconds; None when unreadable."""
    try:
        return datetime.fromisoformat(value).timestamp()
    except (ValueError, TypeError, OverflowError):
        return None


class ConnectionState:
    """
    One connection's state. C{nick} is the nick we asked for until the
    server says otherwise; C{clock} gives the time of lines without a
    C{time} tag.
    """

    def __init__(self, nick: str, clock: Callable[[], float]):
        self.caps = Capabilities()
        self.isupport = ISupport()
        self.rosters = Roster(self.isupport.fold, self.isupport.prefix_symbols)
        self._nick = nick
        self.folded_nick = self.isupport.fold(nick)
        self.account: str | None = None
        self.hostmask: str | None = None
        self.registered = False
        #: The network's own name (ISUPPORT NETWORK).
        self.server_network: str | None = None
        #: Seconds between our last PING and its PONG, once known.
        self.lag: float | None = None
        #: The capability listing (CAP LS) is complete.
        self.caps_listed = False
        #: What the last CAP NEW offered.
        self.caps_new: dict[str, str | None] = {}
        #: What the bot should hear, in order; the reader takes them.
        self.events: list[ChatEvent] = []
        #: CTCP requests heard (nick, command upper-cased, argument), in
        #: order, for the protocol to answer; never our own.
        self.ctcp_requests: list[tuple[str, str, str]] = []
        self.clock = clock
        #: Lines whose tags' server time was read, by the tag's text (the
        #: same second repeats on a busy channel).
        self._times: dict[str, float | None] = {}
        #: The time item of the last chat line whose time was read, with
        #: what ends or begins it in its tags' wire text (C{time=...Z;},
        #: C{;time=...Z} or C{;time=...Z;}), and that time (L{_chat_time}).
        self._time_item = ";time=\0"  # (matches no line: NUL is refused)
        self._time_when = 0.0
        #: Nicks recently seen in chat, folded (cleared when the casemapping changes).
        self._folded: dict[str, str] = {}

    # our nick

    @property
    def nick(self) -> str:
        return self._nick

    @nick.setter
    def nick(self, value: str) -> None:
        self._nick = value
        self.folded_nick = self.isupport.fold(value)

    def is_own(self, nick: str | None) -> bool:
        return nick is not None and self.isupport.fold(nick) == self.folded_nick

    def folded(self, nick: str) -> str:
        """C{nick} folded by the server's casemapping (cached: chat repeats a few nicks)."""
        folded = self._folded.get(nick)
        if folded is None:
            if len(self._folded) >= 4096:
                self._folded.clear()
            folded = self._folded[nick] = self.isupport.fold(nick)
        return folded

    def in_channel(self, channel: str) -> bool:
        return channel in self.rosters.channels

    # lines

    def apply(self, line: Line) -> None:
        """Take one line from the server into the state (raises ValueError/IndexError when malformed)."""
        handler = _APPLY.get(line.command)
        if handler is not None:
            handler(self, line)

    def time_of(self, tags: Mapping[str, str]) -> float:
        """When a line was sent: its C{time} tag, else now."""
        when = tags.get("time")
        if when is None:
            return self.clock()
        times = self._times
        stamp = times.get(when, 0.0)
        if stamp == 0.0:
            if len(times) >= 64:
                times.clear()
            stamp = times[when] = parse_server_time(when)
        return stamp if stamp is not None else self.clock()

    def _chat_time(self, tags: Tags) -> float:
        """
        A chat line's time, its tags parsed (L{time_of}). Its time item is
        kept (L{_time_item}) with the time it gives, with what ends it when
        it comes first (C{time=V;}), what begins it when last (C{;time=V}),
        both when within (C{;time=V;}): the next line whose tags' text holds
        that item in that place, and no other time item, has that time
        without a parse (servers put the time where they like, the same
        place on every line).
        """
        when = self.time_of(tags)
        value = tags.get("time")
        if value is None or "\\" in value or self._times.get(value) is None:
            return when  # (no time tag, an escape, or a time that could not be read)
        wire = tags.text
        first, last, within = "time=" + value + ";", ";time=" + value, ";time=" + value + ";"
        if wire.startswith(first) and ";time" not in wire:
            self._time_item, self._time_when = first, when
        elif wire.endswith(last):
            self._time_item, self._time_when = last, when
        elif within in wire and wire.count(";time") == 1:
            self._time_item, self._time_when = within, when
        return when

    def _welcome(self, line: Line) -> None:
        self.registered = True
        if line.params:
            self.nick = line.params[0]
            words = line.params[-1].split(" ")
            if "!" in words[-1] and "@" in words[-1]:
                self.hostmask = words[-1]

    def _isupport(self, line: Line) -> None:
        if len(line.params) < 2:
            return
        isupport = self.isupport
        old = isupport.casemapping
        isupport.update(line.params[1:-1])
        if isupport.casemapping != old:
            self._folded.clear()
            self.rosters.refold(isupport.fold)
            self.folded_nick = isupport.fold(self._nick)
        self.rosters.prefix_symbols = isupport.prefix_symbols
        self.rosters.prefix_modes = isupport.prefix_modes
        if isupport.network:
            self.server_network = isupport.network

    def _cap(self, line: Line) -> None:
        params = line.params
        if len(params) < 3:
            raise ValueError("CAP needs a subcommand and a list")
        sub = params[1].upper()
        caps = self.caps
        notified = "account-notify" in caps.enabled
        if sub == "LS":
            more = len(params) >= 4 and params[2] == "*"
            if caps.ls_line(params[-1], more):
                self.caps_listed = True
        elif sub == "ACK":
            caps.ack(params[-1])
        elif sub == "NAK":
            caps.nak(params[-1])
        elif sub == "NEW":
            self.caps_new = caps.new(params[-1])
        elif sub == "DEL":
            caps.delete(params[-1])
        if ("account-notify" in caps.enabled) != notified:
            self.rosters.forget_accounts()  # (what it knew was not, or is no longer, kept current)

    def _nick_change(self, line: Line) -> None:
        old, new = line.nick, line.params[0]
        if old is None or not new:
            raise ValueError("NICK without source or nick")
        self.rosters.nick_change(old, new)
        if self.is_own(old):
            self.nick = new

    def _join(self, line: Line) -> None:
        channel = line.params[0]
        nick, user, host = split_source(line.source or "")
        if not nick or not channel:
            raise ValueError("JOIN without source or channel")
        own = self.is_own(nick)
        if not own and not self.in_channel(channel):
            raise ValueError("JOIN to a channel we are not in")
        if own and self.rosters.full(channel):
            raise ValueError("JOIN to more channels than we keep (%d)" % (MAX_CHANNELS,))
        u = self.rosters.join(channel, nick, user, host)
        if len(line.params) >= 3 and "extended-join" in self.caps.enabled:
            u.account = None if line.params[1] == "*" else line.params[1]
            u.account_known = True
            u.realname = line.params[2]
        elif "account-tag" in self.caps.enabled and "batch" not in line.tags:
            u.account = line.tags.get("account") or None
            u.account_known = True
        if own:
            if line.source and "@" in line.source:
                self.hostmask = line.source
            return
        self.events.append(ChatEvent("join", channel, {
            "source": nick, "hostmask": line.source, "account": u.account, "source_id": u.account,
            "tags": dict(line.tags), "time": self.time_of(line.tags)}))

    def _leave(self, channel: str, nick: str, hostmask: str | None, kind: str, reason: str,
               tags: Mapping[str, str], **more: str | None) -> None:
        u = self.rosters.users.get(nick)
        account = u.account if u else None
        if hostmask is None and u is not None:
            hostmask = u.hostmask
        fields = {"source": nick, "hostmask": hostmask,
                  "account": account, "source_id": account, "kind": kind, "reason": reason,
                  "tags": dict(tags), "time": self.time_of(tags)}
        fields.update(more)
        self.events.append(ChatEvent("leave", channel, fields))

    def _part(self, line: Line) -> None:
        channel = line.params[0]
        nick = line.nick
        if nick is None:
            raise ValueError("PART without source")
        if self.is_own(nick):
            self.rosters.leave_channel(channel)
            return
        if not self.in_channel(channel):
            raise ValueError("PART from a channel we are not in")
        reason = line.params[1] if len(line.params) > 1 else ""
        self._leave(channel, nick, line.source, "part", reason, line.tags)
        self.rosters.part(channel, nick)

    def _kick(self, line: Line) -> None:
        channel, victim = line.params[0], line.params[1]
        if self.is_own(victim):
            self.rosters.leave_channel(channel)
            return
        if not self.in_channel(channel):
            raise ValueError("KICK in a channel we are not in")
        reason = line.params[2] if len(line.params) > 2 else ""
        self._leave(channel, victim, None, "kick", reason, line.tags, by=line.nick)
        self.rosters.part(channel, victim)

    def _quit(self, line: Line) -> None:
        nick = line.nick
        if nick is None:
            raise ValueError("QUIT without source")
        reason = line.params[0] if line.params else ""
        for channel in self.rosters.channels_of(nick):
            self._leave(channel, nick, line.source, "quit", reason, line.tags)
        self.rosters.quit(nick)

    def _mode(self, line: Line) -> None:
        isupport = self.isupport
        params = line.params
        if len(params) < 2 or not isupport.is_channel(params[0]):
            return
        channel = params[0]
        args = params[2:]
        adding = True
        for mode in params[1]:
            if mode == "+":
                adding = True
            elif mode == "-":
                adding = False
            elif isupport.mode_takes_param(mode, adding):
                if not args:
                    return
                arg = args.pop(0)
                index = isupport.prefix_modes.find(mode)
                if index >= 0:
                    self.rosters.set_prefix(channel, arg, isupport.prefix_symbols[index], adding)

    def _names(self, line: Line) -> None:  # RPL_NAMREPLY
        if len(line.params) >= 3:
            self.rosters.names(line.params[-2], line.params[-1].split())

    def _end_of_names(self, line: Line) -> None:  # RPL_ENDOFNAMES
        if len(line.params) >= 2:
            self.rosters.end_of_names(line.params[1])

    def _who(self, line: Line) -> None:  # RPL_WHOREPLY: me chan user host server nick flags :hops real
        p = line.params
        if len(p) >= 7:
            u = self.rosters.users.get(p[5])
            if u is not None:
                u.user, u.host, u.away = p[2], p[3], "G" in p[6]

    def _whox(self, line: Line) -> None:  # me token chan user host nick flags account
        p = line.params
        if len(p) >= 8 and p[1] == WHOX_TOKEN:
            u = self.rosters.users.get(p[5])
            if u is not None:
                u.user, u.host, u.away = p[3], p[4], "G" in p[6]
                u.account = None if p[7] in ("0", "*") else p[7]
                u.account_known = True

    def _account(self, line: Line) -> None:
        u = self.rosters.users.get(line.nick or "")
        if u is not None and line.params:
            u.account = None if line.params[0] == "*" else line.params[0]
            u.account_known = True

    def _away(self, line: Line) -> None:
        u = self.rosters.users.get(line.nick or "")
        if u is not None:
            u.away = bool(line.params)

    def _chghost(self, line: Line) -> None:
        if len(line.params) < 2:
            raise ValueError("CHGHOST needs user and host")
        nick = line.nick or ""
        u = self.rosters.users.get(nick)
        if u is not None:
            u.user, u.host = line.params[0], line.params[1]
        if self.is_own(nick):
            self.hostmask = "%s!%s@%s" % (nick, line.params[0], line.params[1])

    def _visible_host(self, line: Line) -> None:  # RPL_VISIBLEHOST: me host :is now your displayed host
        if len(line.params) >= 2 and self.hostmask:
            self.hostmask = self.hostmask.rpartition("@")[0] + "@" + line.params[1]

    def _setname(self, line: Line) -> None:
        u = self.rosters.users.get(line.nick or "")
        if u is not None and line.params:
            u.realname = line.params[0]

    def _logged_in(self, line: Line) -> None:  # RPL_LOGGEDIN: me nick!user@host account :text
        if len(line.params) >= 3:
            self.account = line.params[2]
            if line.params[1] and "@" in line.params[1]:
                self.hostmask = line.params[1]

    def _logged_out(self, line: Line) -> None:
        self.account = None

    def _place(self, target: str, nick: str) -> tuple[str, bool]:
        """Where a line to C{target} from C{nick} was said, and whether in private."""
        isupport = self.isupport
        chantypes = isupport.chantypes
        if target[:1] in chantypes:
            return target, False
        if len(target) > 1 and target[0] in isupport.prefix_symbols and target[1] in chantypes:
            return target[1:], False  # STATUSMSG (@#chan)
        return nick, True

    def _privmsg(self, line: Line) -> None:
        # Every chat line comes here: Line.nick's work is done in place, the
        # caches of folded and _chat_time are read before calling them, and the
        # tags are parsed only when a tag is needed that the roster or the
        # cache of times cannot give (see the module's docstring).
        params = line.params
        if len(params) < 2:
            raise ValueError("PRIVMSG needs a target and text")
        source = line.source
        if source is None:
            return
        end = source.find("!")
        if end < 0:
            end = source.find("@")
        nick = source if end < 0 else source[:end]
        folded = self._folded.get(nick) or self.folded(nick)
        if folded == self.folded_nick:
            return  # echo-message: our own line
        target, text = params[0], params[1]
        action = False
        if text.startswith("\x01"):
            action, text = self._ctcp(nick, text)
        if not text:
            return
        place, private = self._place(target, nick)
        tags = line.tags
        if type(tags) is Tags:
            wire = tags.text
            item = self._time_item  # (the last line's time item: see _chat_time)
            if (wire.startswith(item) and ";time" not in wire if item[0] != ";"  # time=V; first
                    else wire.endswith(item) if item[-1] != ";"  # ;time=V last
                    else item in wire and wire.count(";time") == 1):  # ;time=V; within
                when = self._time_when
            else:
                when = self._chat_time(tags)
        elif not tags:
            tags, wire, when = {}, "", self.clock()  # (a dict of its own: not the shared empty one)
        else:
            tags = Tags.of(tags)  # (a line made in code, with a dict)
            wire, when = tags.text, self._chat_time(tags)
        u = self.rosters.users.get_folded(folded)
        enabled = self.caps.enabled
        if "account-tag" not in enabled:
            account = u.account if u is not None else None
        elif u is not None and u.account_known and "batch" not in wire and "account-notify" in enabled:
            account = u.account
        else:
            account = self._tagged_account(u, tags)
        self.events.append(_new_event(ChatEvent, ("chat", place, {
            "account": account, "hostmask": source, "tags": tags, "time": when, "action": action,
            "bot": "bot" in wire and ("bot" in tags or "draft/bot" in tags),
            "source_id": account, "source": nick, "content": text, "private": private})))

    def _ctcp(self, nick: str, text: str) -> tuple[bool, str]:
        """
        A CTCP-quoted chat text: an ACTION is (True, its text); a request is
        listed for the protocol to answer, and is (False, "").
        """
        command, arg = _ctcp(text)
        if command == "ACTION":
            return True, arg
        self.ctcp_requests.append((nick, command, arg))
        return False, ""

    def _tagged_account(self, u: User | None, tags: Mapping[str, str]) -> str | None:
        """With account-tag, when the roster is not sure: the line's account tag (then the roster is)."""
        account = tags.get("account") or None
        if u is not None and "batch" not in tags:  # (a batch's lines may be history)
            u.account = account
            u.account_known = True
        return account


_new_event = tuple.__new__


def _ctcp(text: str) -> tuple[str, str]:
    """A CTCP-quoted text (an ACTION or a request): its command, upper-cased, and argument."""
    body = text[1:-1] if text.endswith("\x01") and len(text) > 1 else text[1:]
    command, _, arg = body.partition(" ")
    return command.upper(), arg

_APPLY: dict[str, Callable[[ConnectionState, Line], None]] = {
    "001": ConnectionState._welcome,
    "005": ConnectionState._isupport,
    "CAP": ConnectionState._cap,
    "NICK": ConnectionState._nick_change,
    "JOIN": ConnectionState._join,
    "PART": ConnectionState._part,
    "KICK": ConnectionState._kick,
    "QUIT": ConnectionState._quit,
    "MODE": ConnectionState._mode,
    "353": ConnectionState._names,
    "366": ConnectionState._end_of_names,
    "352": ConnectionState._who,
    "354": ConnectionState._whox,
    "ACCOUNT": ConnectionState._account,
    "AWAY": ConnectionState._away,
    "CHGHOST": ConnectionState._chghost,
    "396": ConnectionState._visible_host,
    "SETNAME": ConnectionState._setname,
    "900": ConnectionState._logged_in,
    "901": ConnectionState._logged_out,
    "PRIVMSG": ConnectionState._privmsg,
}
