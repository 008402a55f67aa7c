"""
A loopback IRC server for the benchmarks: registers one client, lets it join,
then floods or paces chat lines at it and times the answers.

It plays a modern network (Solanum, Ergo, InspIRCd 4). A client that starts
capability negotiation (C{CAP LS 302}) is offered L{CAPS}; what it requests
is acknowledged (a REQ naming anything not offered is refused whole, as the
spec says), and registration waits for C{CAP END}. From then on every line
carries the tags its capabilities ask for: C{time} (server-time, to the
millisecond), C{msgid} (message-tags; client-only tags such as
C{+draft/reply} are relayed too), C{account} (account-tag; a quarter of the
channel is logged out and gets none), C{batch} around the NAMES and WHO
replies; JOIN in the extended-join form, NAMES with every prefix
(multi-prefix) and full masks (userhost-in-names), the client's own
messages echoed (echo-message). A client that sends no CAP (the bare
twisted.words IRCClient) registers at once and gets plain lines, as on a
real server. With C{tagged=False} the server knows no CAP at all (C{421}),
so every client gets plain lines: the benchmarks' C{--plain}.

Either way the channel holds the flood's 200 users (NAMES and WHO/WHOX
answered), the welcome is a real network's (ISUPPORT with WHOX, MONITOR,
NETWORK), and anything else gets C{421}.
"""

from __future__ import annotations

import base64
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import NamedTuple

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = "irc.bench.example"
NETWORK = "BenchNet"
CHANNEL = "#bench"
TOPIC = "benchmarks all day | https://example.org/bench"
TRIGGER = "!ping"
ANSWER = "pong"
WORDS = ("the quick brown fox jumps over lazy dog music tea coffee deploy build test "
         "release friday weekend lunch meeting code review merge branch python twisted "
         "irc bot channel skip track album artist playlist office radio volume").split()

#: What the tagged server offers (C{CAP LS}), all of it implemented here.
CAPS = ("account-notify", "account-tag", "away-notify", "batch", "cap-notify", "chghost",
        "echo-message", "extended-join", "invite-notify", "message-tags", "multi-prefix",
        "server-time", "setname", "userhost-in-names")
#: Longest line the server sends, CR LF excluded (tags not counted).
LINE_BYTES = 510
#: Longest line the server reads (8191 bytes of tags and a 512-byte line).
MAX_INPUT = 8191 + 512
#: One in this many chat lines (not triggers) answers an earlier one (C{+draft/reply}).
REPLY_EVERY = 20
ISUPPORT = (
    ("CALLERID=g", "WHOX", "ETRACE", "FNC", "SAFELIST", "ELIST=CMNTU", "KNOCK", "MONITOR=100",
     "CHANTYPES=#", "EXCEPTS", "INVEX", "CHANMODES=eIbq,k,flj,CFLMPQRSTcgimnprstuz"),
    ("CHANLIMIT=#:250", "PREFIX=(ov)@+", "MAXLIST=bqeI:100", "MODES=4", "NETWORK=" + NETWORK,
     "STATUSMSG=@+", "CASEMAPPING=rfc1459", "NICKLEN=16", "MAXNICKLEN=16", "CHANNELLEN=50",
     "TOPICLEN=390", "DEAF=D"),
    ("TARGMAX=NAMES:1,LIST:1,KICK:1,WHOIS:1,PRIVMSG:4,NOTICE:4,ACCEPT:,MONITOR:",
     "EXTBAN=$,agjrxz", "UTF8ONLY"),
)
_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def escape_tag_value(value: str) -> str:
    """A tag value escaped per the message-tags spec (C{;} C{SPACE} C{\\} CR LF)."""
    return value.translate(_ESCAPES)


def server_time(seconds: float) -> str:
    """The server-time format: UTC, milliseconds, C{Z} (C{2026-12-07T06:25:46.123Z})."""
    whole, ms = divmod(int(seconds * 1000), 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + ".%03dZ" % ms


class User(NamedTuple):
    """A member of the channel."""

    nick: str
    user: str
    host: str
    account: str | None  # None: logged out
    realname: str
    modes: str  # channel modes, "o", "v", "ov" or ""
    away: bool

    @property
    def mask(self) -> str:
        return "%s!%s@%s" % (self.nick, self.user, self.host)


class Chat(NamedTuple):
    """One flood line: who says what, and which earlier line it answers (C{+draft/reply}), if any."""

    sender: User
    text: str
    reply_to: int | None


def population(users: int = 200, seed: int = 1) -> list[User]:
    """The channel's members: three in four logged in (cloaked), a few ops and voices, some away."""
    rng = random.Random(seed)
    out = []
    for i in range(users):
        nick = "user%d" % i
        account = None if i % 4 == 3 else (nick if i % 8 else "acct%d" % i)
        host = ("user/%s" % account if account is not None
                else "198.51.100.%d" % rng.randrange(1, 255) if i % 2 else "host%d.example" % i)
        out.append(User(nick=nick, user=("~u%d" if i % 3 else "u%d") % i, host=host, account=account,
                        realname="User %d" % i, modes="ov" if i == 0 else "o" if i < 5 else "v" if i < 15
                        else "", away=i % 10 == 9))
    return out


def chat_messages(n: int, every: int, users: int = 200, seed: int = 1) -> tuple[list[Chat], list[int]]:
    """N chat lines from the channel's members; every C{every}-th is the trigger."""
    members = population(users, seed)
    rng = random.Random(seed)
    out, triggers = [], []
    for i in range(n):
        sender = members[rng.randrange(users)]
        reply_to = None
        if every and i % every == every - 1:
            text = TRIGGER
            triggers.append(i)
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 12)))
            if i and rng.randrange(REPLY_EVERY) == 0:
                reply_to = rng.randrange(max(0, i - 50), i)
        out.append(Chat(sender, text, reply_to))
    return out, triggers


def chat_lines(n: int, every: int, users: int = 200, seed: int = 1) -> tuple[list[bytes], list[int]]:
    """The flood as a client with no capabilities gets it: plain PRIVMSG lines."""
    chats, triggers = chat_messages(n, every, users, seed)
    return [render_line(c.sender.mask, "PRIVMSG %s :%s" % (CHANNEL, c.text)) for c in chats], triggers


def render_line(source: str | None, rest: str, tags: str = "") -> bytes:
    """C{[@tags ][:source ]rest} and CR LF, encoded."""
    line = rest if source is None else ":%s %s" % (source, rest)
    return ("@%s %s\r\n" % (tags, line) if tags else line + "\r\n").encode()


class ChatWire:
    """
    Chat lines as the server writes them to one client: everything but the
    time is rendered once (L{BenchIRC.chat_wire}); L{chunk} adds the current
    time to each line of a write (one C{bytes.join}).
    """

    def __init__(self, pieces: list[bytes], timed: bool):
        #: With C{timed}, each line after C{@time=<stamp>}; else whole lines.
        self.pieces = pieces
        self.timed = timed

    def __len__(self) -> int:
        return len(self.pieces)

    def chunk(self, start: int, end: int, now: float) -> bytes:
        """Lines C{start} to C{end} as sent at C{now} (seconds since the epoch)."""
        pieces = self.pieces[start:end]
        if not self.timed or not pieces:
            return b"".join(pieces)
        head = ("@time=" + server_time(now)).encode()
        return head + head.join(pieces)


class BenchIRC(Protocol):
    """The server side of one client connection."""

    def __init__(self, server: BenchServer):
        self.server = server
        self.buffer = b""
        #: Reading past the end of a line refused as too long.
        self.discarding = False
        self.nick: str | None = None
        self.user: str | None = None
        self.realname = ""
        self.host = "127.0.0.1"
        self.registered = False
        #: Registration waits for CAP END (a CAP LS or REQ came before it).
        self.negotiating = False
        self.cap_version = 0
        self.enabled: set[str] = set()
        self._batches = 0

    def connectionMade(self) -> None:
        self.server.connection = self

    def connectionLost(self, reason=None) -> None:
        if self.server.connection is self:
            self.server.connection = None

    @property
    def mask(self) -> str:
        return "%s!%s@%s" % (self.nick, self.user, self.host)

    # input

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for raw in lines:
            if self.discarding:  # the end of a line refused as too long
                self.discarding = False
                continue
            raw = raw.rstrip(b"\r")
            rest = raw.partition(b" ")[2] if raw[:1] == b"@" else raw
            if len(raw) > MAX_INPUT or len(rest) > LINE_BYTES:
                self.numeric("417", "Input line was too long")
            else:
                self.line(raw)
        if len(self.buffer) > MAX_INPUT and not self.discarding:
            self.buffer = b""
            self.discarding = True
            self.numeric("417", "Input line was too long")
        elif self.discarding:
            self.buffer = b""

    def line(self, raw: bytes) -> None:
        text = raw.decode("utf-8", "replace")
        client_tags = ""
        if text.startswith("@"):
            client_tags, _, text = text.partition(" ")
        if text.startswith(":"):
            text = text.partition(" ")[2]
        head, colon, trailing = text.partition(" :")
        params = head.split()
        if colon:
            params.append(trailing)
        if not params:
            return
        command, params = params[0].upper(), params[1:]
        handler = getattr(self, "irc_" + command, None)
        if handler is None or (command == "CAP" and not self.server.tagged):
            self.numeric("421", command, "Unknown command")
        elif not self.registered and command not in ("CAP", "NICK", "USER", "PING", "PONG", "QUIT"):
            self.numeric("451", "You have not registered")
        elif command in ("PRIVMSG", "NOTICE"):
            handler(params, command, client_tags[1:])
        else:
            handler(params)

    # output

    def tags(self, msgid: bool = False, account: str | None = None, batch: str | None = None,
             client_tags: str = "") -> str:
        """The tags after C{time} this client gets on a line, C{;}-joined (C{""} when none)."""
        enabled = self.enabled
        out = []
        if batch is not None and "batch" in enabled:
            out.append("batch=" + batch)
        if msgid and "message-tags" in enabled:
            out.append("msgid=" + self.server.msgid())
        if account is not None and "account-tag" in enabled:
            out.append("account=" + escape_tag_value(account))
        if client_tags and "message-tags" in enabled:
            out.append(client_tags)
        return ";".join(out)

    def send(self, rest: str, source: str | None = SERVER, msgid: bool = False,
             account: str | None = None, batch: str | None = None, client_tags: str = "") -> None:
        """One line, tagged as this client's capabilities ask."""
        tags = self.tags(msgid, account, batch, client_tags)
        if "server-time" in self.enabled:
            stamp = "time=" + server_time(self.server.clock.seconds())
            tags = stamp + ";" + tags if tags else stamp
        self.transport.write(render_line(source, rest, tags))

    def numeric(self, code: str, *params: str, batch: str | None = None) -> None:
        """C{:server CODE nick params... :last}."""
        *middle, last = params
        self.send(" ".join((code, self.nick or "*", *middle, ":" + last)), batch=batch)

    def start_batch(self, kind: str, *params: str) -> str | None:
        """A new batch's reference, announced; None when the client has no C{batch}."""
        if "batch" not in self.enabled:
            return None
        self._batches += 1
        ref = "b%d" % self._batches
        self.send(" ".join(("BATCH", "+" + ref, kind) + params))
        return ref

    def end_batch(self, ref: str | None) -> None:
        if ref is not None:
            self.send("BATCH -" + ref)

    def chat_wire(self, chats: list[Chat]) -> ChatWire:
        """The flood's lines as this client gets them, each with its own C{msgid}."""
        timed = "server-time" in self.enabled
        msgids = "message-tags" in self.enabled
        ids: list[str] = []
        pieces = []
        for chat in chats:
            sender = chat.sender
            tags = self.tags(msgid=False, account=sender.account)
            if msgids:
                ids.append(self.server.msgid())
                tags = "msgid=%s;%s" % (ids[-1], tags) if tags else "msgid=" + ids[-1]
                if chat.reply_to is not None:
                    tags += ";+draft/reply=" + ids[chat.reply_to]
            line = ":%s PRIVMSG %s :%s\r\n" % (sender.mask, CHANNEL, chat.text)
            if timed:
                pieces.append((";%s %s" % (tags, line) if tags else " " + line).encode())
            else:
                pieces.append(("@%s %s" % (tags, line) if tags else line).encode())
        return ChatWire(pieces, timed)

    # capabilities

    def irc_CAP(self, params: list[str]) -> None:
        sub = params[0].upper() if params else ""
        if sub == "LS":
            if not self.registered:
                self.negotiating = True
            version = params[1] if len(params) > 1 else ""
            self.cap_version = max(self.cap_version, int(version) if version.isdigit() else 0)
            if self.cap_version >= 302:
                self.enabled.add("cap-notify")  # implied by 302
            self.cap_reply("LS", self.server.caps)
        elif sub == "LIST":
            self.cap_reply("LIST", sorted(self.enabled))
        elif sub == "REQ":
            if not self.registered:
                self.negotiating = True
            self.request(params[1] if len(params) > 1 else "")
        elif sub == "END":
            if self.negotiating:
                self.negotiating = False
                self.try_register()
        else:
            self.numeric("410", sub or "*", "Invalid CAP command")

    def cap_reply(self, sub: str, names) -> None:
        """C{CAP nick LS|LIST}, split over lines with the C{*} continuation (values only for 302 clients)."""
        head = ":%s CAP %s %s " % (SERVER, self.nick or "*", sub)
        room = LINE_BYTES - len(head) - len("* :")
        lines: list[str] = []
        current = ""
        for name in names:
            if self.cap_version < 302:
                name = name.partition("=")[0]  # values only for 302 clients
            if current and len(current) + 1 + len(name) > room:
                lines.append(current)
                current = name
            else:
                current = current + " " + name if current else name
        lines.append(current)
        for i, listing in enumerate(lines):
            more = "* " if i < len(lines) - 1 else ""
            self.send("CAP %s %s %s:%s" % (self.nick or "*", sub, more, listing))

    def request(self, argument: str) -> None:
        """One C{CAP REQ}: all of it acknowledged and applied, or all of it refused."""
        names = argument.split()
        offered = {cap.partition("=")[0] for cap in self.server.caps}
        if not names or any(name.lstrip("-") not in offered for name in names):
            self.send("CAP %s NAK :%s" % (self.nick or "*", argument.strip()))
            return
        self.send("CAP %s ACK :%s" % (self.nick or "*", " ".join(names)))
        for name in names:  # applied once the ACK is sent, as the spec says
            if name.startswith("-"):
                self.enabled.discard(name[1:])
            else:
                self.enabled.add(name)

    # registration

    def irc_NICK(self, params: list[str]) -> None:
        if not params or not params[0]:
            self.numeric("431", "No nickname given")
            return
        if self.registered:
            self.send("NICK :%s" % params[0], source=self.mask, msgid=True)
            self.nick = params[0]
            return
        self.nick = params[0]
        self.try_register()

    def irc_USER(self, params: list[str]) -> None:
        if len(params) < 4:
            self.numeric("461", "USER", "Not enough parameters")
            return
        if self.registered:
            self.numeric("462", "You may not reregister")
            return
        self.user, self.realname = params[0], params[3]
        self.try_register()

    def try_register(self) -> None:
        if self.registered or self.negotiating or self.nick is None or self.user is None:
            return
        self.registered = True
        n = self.nick
        self.numeric("001", "Welcome to the %s IRC Network %s" % (NETWORK, self.mask))
        self.numeric("002", "Your host is %s, running version bench-1.0" % SERVER)
        self.numeric("003", "This server was created Mon Jan 1 2024 at 00:00:00 UTC")
        self.send("004 %s %s bench-1.0 DGIMQRSZaghilopsuwz CFILMPQRSTbcefgijklmnopqrstuvz bkloveqjfI"
                  % (n, SERVER))
        for tokens in ISUPPORT:
            self.numeric("005", *tokens, "are supported by this server")
        members = len(self.server.members) + 1
        self.numeric("251", "There are %d users and 0 invisible on 1 servers" % members)
        self.numeric("254", "1", "channels formed")
        self.numeric("255", "I have %d clients and 0 servers" % members)
        self.numeric("265", str(members), str(members), "Current local users %d, max %d" % (members, members))
        self.numeric("375", "- %s Message of the Day -" % SERVER)
        for text in ("- Welcome to the benchmark network.", "- Be excellent to each other."):
            self.numeric("372", text)
        self.numeric("376", "End of /MOTD command.")
        self.send("MODE %s :+Ziw" % n, source=n)

    def irc_PING(self, params: list[str]) -> None:
        self.send("PONG %s :%s" % (SERVER, params[0] if params else ""))

    def irc_PONG(self, params: list[str]) -> None:
        pass

    def irc_QUIT(self, params: list[str]) -> None:
        self.send("ERROR :Closing Link: %s (Quit: %s)" % (self.host, params[0] if params else ""),
                  source=None)
        self.transport.loseConnection()

    # channels

    def irc_JOIN(self, params: list[str]) -> None:
        if not params:
            self.numeric("461", "JOIN", "Not enough parameters")
            return
        for chan in params[0].split(","):
            if not chan.startswith("#"):
                self.numeric("403", chan, "No such channel")
                continue
            if "extended-join" in self.enabled:
                self.send("JOIN %s * :%s" % (chan, self.realname), source=self.mask, msgid=True)
            else:
                self.send("JOIN %s" % chan, source=self.mask, msgid=True)
            if chan == CHANNEL:
                self.numeric("332", chan, TOPIC)
                self.numeric("333", chan, self.server.members[0].mask, "1700000000")
            self.names(chan)
            self.server.joined(chan)

    def member_entry(self, u: User) -> str:
        """A member's NAMES entry: its prefixes (all, or the highest) and nick (or full mask)."""
        symbols = "".join("@" if m == "o" else "+" for m in u.modes)
        if "multi-prefix" not in self.enabled:
            symbols = symbols[:1]
        return symbols + (u.mask if "userhost-in-names" in self.enabled else u.nick)

    def names(self, chan: str) -> None:
        """RPL_NAMREPLY lines filled to the line limit, RPL_ENDOFNAMES; in a batch when enabled."""
        entries = [self.mask if "userhost-in-names" in self.enabled else self.nick or "*"]
        if chan == CHANNEL:
            entries += [self.member_entry(u) for u in self.server.members]
        ref = self.start_batch("pubbot.bench/names", chan)
        room = LINE_BYTES - len(":%s 353 %s = %s :" % (SERVER, self.nick, chan))
        current: list[str] = []
        size = 0
        for entry in entries:
            if current and size + 1 + len(entry) > room:
                self.numeric("353", "=", chan, " ".join(current), batch=ref)
                current, size = [], 0
            size += len(entry) + (1 if current else 0)
            current.append(entry)
        if current:
            self.numeric("353", "=", chan, " ".join(current), batch=ref)
        self.numeric("366", chan, "End of /NAMES list.", batch=ref)
        self.end_batch(ref)

    def irc_NAMES(self, params: list[str]) -> None:
        self.names(params[0] if params else CHANNEL)

    def irc_WHO(self, params: list[str]) -> None:
        """WHO #channel, or WHOX (C{WHO #channel %fields[,token]})."""
        if not params:
            self.numeric("461", "WHO", "Not enough parameters")
            return
        mask = params[0]
        fields = token = ""
        if len(params) > 1 and params[1][:1] == "%":
            fields, _, token = params[1][1:].partition(",")
        me = User(self.nick or "*", self.user or "*", self.host, None, self.realname, "", False)
        who = [me] + list(self.server.members) if mask == CHANNEL else []
        ref = self.start_batch("pubbot.bench/who", mask) if who else None
        for u in who:
            prefixes = "".join("@" if m == "o" else "+" for m in u.modes)
            flags = ("G" if u.away else "H") + (prefixes if "multi-prefix" in self.enabled else prefixes[:1])
            if fields:
                values = {"t": token or "0", "c": mask, "u": u.user, "i": "255.255.255.255", "h": u.host,
                          "s": SERVER, "n": u.nick, "f": flags, "d": "0", "l": "0",
                          "a": u.account or "0", "o": "n/a", "r": u.realname}
                out = [values[f] for f in "tcuihsnfdlaor" if f in fields]
                if "r" in fields:
                    out[-1] = ":" + out[-1]
                self.send(" ".join(["354", self.nick or "*"] + out), batch=ref)
            else:
                self.numeric("352", mask, u.user, u.host, SERVER, u.nick, flags, "0 " + u.realname,
                             batch=ref)
        self.numeric("315", mask, "End of /WHO list.", batch=ref)
        self.end_batch(ref)

    def irc_MODE(self, params: list[str]) -> None:
        if params and params[0] == CHANNEL and len(params) == 1:
            self.numeric("324", CHANNEL, "+nt")
            self.numeric("329", CHANNEL, "1700000000")
        elif params and params[0] == self.nick:
            self.numeric("221", "+Ziw")

    def irc_MONITOR(self, params: list[str]) -> None:
        pass  # nobody watched ever comes or goes

    # chat

    def irc_PRIVMSG(self, params: list[str], command: str = "PRIVMSG", client_tags: str = "") -> None:
        if len(params) < 2:
            self.numeric("412", "No text to send")
            return
        target, text = params[0], params[1]
        self.server.privmsg(text)
        if "echo-message" in self.enabled:
            relayed = ";".join(t for t in client_tags.split(";") if t.startswith("+"))
            self.send("%s %s :%s" % (command, target, text), source=self.mask, msgid=True,
                      client_tags=relayed)

    irc_NOTICE = irc_PRIVMSG


class BenchServer(Factory):
    """
    Listens on a free loopback port of C{reactor} (unless C{listen} is false:
    connect L{buildProtocol}'s protocol yourself); C{on_join} fires when the
    client joins. C{tagged=False}: a server without CAP.
    """

    def __init__(self, reactor, tagged: bool = True, listen: bool = True, caps: tuple = CAPS,
                 users: int = 200, seed: int = 1):
        self.clock = reactor
        self.tagged = tagged
        self.caps = caps if tagged else ()
        self.members = population(users, seed)
        self.connection: BenchIRC | None = None
        self.on_join: Deferred = Deferred()
        self.reply_times: list[float] = []
        self.on_reply: Callable[[float], None] | None = None
        self._msgids = 0
        self._msgid_base = random.Random(seed).getrandbits(64)
        self.port = reactor.listenTCP(0, self, interface="127.0.0.1") if listen else None

    @property
    def port_number(self) -> int:
        assert self.port is not None
        return self.port.getHost().port

    def buildProtocol(self, addr) -> BenchIRC:
        return BenchIRC(self)

    def msgid(self) -> str:
        """A message id unique on this server (26 characters of base32, as Ergo's)."""
        self._msgids += 1
        # Two 64-bit halves, each a bijection of the counter (odd multiplier, xor): unique, random-looking.
        n, base = self._msgids, self._msgid_base
        raw = ((n * 0x9E3779B97F4A7C15 ^ base) % 2 ** 64).to_bytes(8, "big") + (
            (n * 0xC2B2AE3D27D4EB4F ^ base >> 7) % 2 ** 64).to_bytes(8, "big")
        return base64.b32encode(raw).decode("ascii")[:26].lower()

    def joined(self, channel: str) -> None:
        if channel == CHANNEL and not self.on_join.called:
            self.on_join.callback(time.perf_counter())

    def privmsg(self, text: str) -> None:
        if text == ANSWER or text.endswith(" " + ANSWER):
            now = time.perf_counter()
            self.reply_times.append(now)
            if self.on_reply is not None:
                self.on_reply(now)


def converse(server: BenchServer, client: Protocol, client_transport, rounds: int = 100) -> BenchIRC:
    """
    Connect C{client} (already connected to C{client_transport}, a
    L{StringTransport}) to a new connection of C{server} in memory, and pass
    bytes both ways until neither side writes; the server's side.
    """
    from twisted.internet.testing import StringTransport
    connection = server.buildProtocol(None)
    transport = StringTransport()
    connection.makeConnection(transport)
    for _ in range(rounds):
        sent = client_transport.value()
        client_transport.clear()
        if sent:
            connection.dataReceived(sent)
        answer = transport.value()
        transport.clear()
        if answer:
            client.dataReceived(answer)
        if not sent and not answer:
            return connection
    raise RuntimeError("the client and the server were still talking after %d rounds" % rounds)


class Flooder:
    """Writes the chat lines to the connection as fast as the socket takes them (a pull producer)."""

    CHUNK = 256

    def __init__(self, connection: BenchIRC, chats: list[Chat], triggers: list[int]):
        self.transport = connection.transport
        self.clock = connection.server.clock
        self.wire = connection.chat_wire(chats)
        self.trigger_set = set(triggers)
        self.sent_at: list[float] = []
        self.index = 0
        self.started = time.perf_counter()
        self.transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        end = min(self.index + self.CHUNK, len(self.wire))
        if self.index >= end:
            self.transport.unregisterProducer()
            return
        now = time.perf_counter()
        self.sent_at.extend(now for i in range(self.index, end) if i in self.trigger_set)
        self.transport.write(self.wire.chunk(self.index, end, self.clock.seconds()))
        self.index = end

    def stopProducing(self) -> None:
        self.index = len(self.wire)

#: The clients a benchmark runs in each mode: (label, client, whether the server offers CAP).
MODES = {
    "both": (("bare", "bare", True), ("tagged", "pubbot", True), ("plain", "pubbot", False)),
    "tagged": (("bare", "bare", True), ("tagged", "pubbot", True)),
    "plain": (("bare", "bare", False), ("plain", "pubbot", False)),
}
LEGEND = ("tagged: pubbot, CAP negotiated, every line tagged; plain: pubbot on a server without CAP; "
          "bare: a twisted.words IRCClient (asks for no CAP: plain lines)")


def add_mode_options(parser) -> None:
    """C{--tagged} / C{--plain}: run pubbot only tagged or only plain (default: both, and bare)."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tagged", dest="mode", action="store_const", const="tagged", default="both",
                       help="pubbot tagged only (and bare)")
    group.add_argument("--plain", dest="mode", action="store_const", const="plain",
                       help="pubbot on a server without CAP only (and bare): the untagged mode")


def ratios(figures: dict, percent: bool = True) -> str:
    """
    pubbot's figures against bare and tagged against plain: C{tagged / bare
    7.0%} (C{percent}, for rates), or C{tagged 3.1x bare} (for latencies).
    """
    out = []
    for a, b in (("tagged", "bare"), ("tagged", "plain"), ("plain", "bare")):
        if a in figures and b in figures:
            ratio = figures[a] / figures[b]
            out.append("%s / %s %.1f%%" % (a, b, 100.0 * ratio) if percent else "%s %.1fx %s" % (a, ratio, b))
    return ", ".join(out)


def bot_process(port: int, kind: str, workdir: str) -> subprocess.Popen:
    """
    Start the client under test: C{pubbot} (all default plugins, or all but
    those named in $BENCH_DISABLE, comma-separated, for experiments) or C{bare}.
    $BENCH_TOML adds sections to pubbot's config (e.g. C{[brain]} and
    C{process = false} on two lines, to keep the brain's model in the bot's process).
    """
    env = dict(os.environ, PYTHONPATH=ROOT)
    # The client runs as installed, with its modules' bytecode cached (an
    # install compiles it; a source tree keeps it in __pycache__ after the
    # first run). A shell with PYTHONDONTWRITEBYTECODE set would have every
    # start compile pubbot from source: in the bot and its learner ~3 MB of
    # memory that no deployed bot holds (see README.md, "Bytecode").
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if kind == "bare":
        argv = [sys.executable, os.path.join(ROOT, "bench", "bare_client.py"), str(port), CHANNEL]
    else:
        config = os.path.join(workdir, "bench.toml")
        with open(config, "w") as f:
            f.write(
                '[irc]\nserver = "tcp:127.0.0.1:%d"\nchannels = ["%s"]\nnick = "pubbot"\n'
                'ping_interval = 600.0\n[irc.throttle]\nenabled = false\n[irc.sasl]\nmechanisms = []\n'
                '[web]\nendpoint = "tcp:0:interface=127.0.0.1"\n[store]\npath = "%s"\n'
                '[music]\nannounce = ["%s"]\n[plugins]\ndisabled = [%s]\n' % (
                    port, CHANNEL, os.path.join(workdir, "s.sqlite"), CHANNEL,
                    ", ".join('"%s"' % name for name in os.environ.get("BENCH_DISABLE", "").split(",")
                              if name)))
            f.write("\n%s\n" % (os.environ.get("BENCH_TOML", ""),))
        argv = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "--pidfile=", "--logfile", os.path.join(workdir, "bot.log")]
        if os.environ.get("BENCH_PROFILE"):
            # cProfile stats of the bot, for: python -m pstats FILE
            argv += ["--profile", os.environ["BENCH_PROFILE"], "--profiler", "cprofile", "--savestats"]
        argv += ["-n", "pubbot", "--config", config]
    return subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL)


def brain_dropped(workdir: str) -> int:
    """How many lines the bot's brain learner dropped, by its log (0 when none)."""
    try:
        with open(os.path.join(workdir, "bot.log"), encoding="utf-8", errors="replace") as f:
            found = re.findall(r"(\d+) lines not learned so far", f.read())
    except OSError:
        return 0
    return max(map(int, found), default=0)


def peak_rss_mb(pid: int) -> float:
    """
    The peak RSS of a process and every process under it (pubbot's brain
    learner), summed: an upper bound of what they held at once (pages they
    share count in each).
    """
    tree = _tree_fields(pid, "status", ("VmHWM",))
    return float("nan") if tree is None else sum(fields.get("VmHWM", 0.0) for fields in tree)


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """
    Two measures of the memory a process and every process under it hold
    now (Linux's smaps_rollup; NaN when it cannot be read):

     - RSS, each page once: the process's RSS plus the pages only each
       process under it holds (their USS). Pages a learner shares with the
       bot (the Python library, say) count once, as in one process's RSS;
     - PSS, summed: shared pages split among all that map them (other
       processes too: the benchmark itself shares Twisted's libraries).
    """
    tree = _tree_fields(pid, "smaps_rollup", ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
    if tree is None:
        return float("nan"), float("nan")
    root, *under = tree
    rss = root.get("Rss", float("nan")) + sum(
        f.get("Private_Clean", 0.0) + f.get("Private_Dirty", 0.0) for f in under)
    return rss, sum(f.get("Pss", float("nan")) for f in tree)


def _tree_fields(pid: int, name: str, wanted: tuple) -> list[dict] | None:
    """
    The C{wanted} kB fields (in MB) of /proc/PID/NAME for a process, then
    each process under it (those gone meanwhile left out); None when the
    process itself cannot be read.
    """
    out = []
    for one in [pid, *descendants(pid)]:
        fields = {}
        try:
            with open("/proc/%d/%s" % (one, name)) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in wanted:
                        fields[key] = int(rest.split()[0]) / 1024.0
        except (OSError, ValueError):
            if one == pid:
                return None
            continue
        out.append(fields)
    return out


class MemorySampler:
    """The highest L{tree_memory_mb} figures of a process tree, sampled every C{interval} seconds."""

    def __init__(self, reactor, pid: int, interval: float = 0.1):
        from twisted.internet.task import LoopingCall
        self.pid = pid
        self.rss = self.pss = float("nan")
        self._loop = LoopingCall(self.sample)
        self._loop.clock = reactor
        self._loop.start(interval)

    def sample(self) -> None:
        rss, pss = tree_memory_mb(self.pid)
        if not rss <= self.rss:  # NaN at first
            self.rss = rss
        if not pss <= self.pss:
            self.pss = pss

    def stop(self) -> tuple[float, float]:
        """Stop; the peaks (RSS each page once, PSS)."""
        if self._loop.running:
            self._loop.stop()
        self.sample()
        return self.rss, self.pss


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system, every thread) process C{pid} has used; NaN when unreadable."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class CpuShares:
    """
    How much of a core each side used over a span, in per cent: the client
    under test, the processes under it (pubbot's brain learner) and this
    process (the benchmark's server). Which one is the bottleneck, and
    whether the machine's cores were enough for all three.
    """

    def __init__(self, pid: int):
        self.pid = pid
        self.under = descendants(pid)
        self._start = self._read()

    def _read(self) -> tuple[float, float, float]:
        return (cpu_seconds(self.pid), sum(cpu_seconds(p) for p in self.under), time.process_time())

    def stop(self, elapsed: float) -> tuple[float, float, float]:
        """(client, under it, server) per cent of one core over C{elapsed} seconds since made."""
        end = self._read()
        return tuple(100.0 * (b - a) / elapsed for a, b in zip(self._start, end, strict=True))  # type: ignore[return-value]


def descendants(pid: int) -> list[int]:
    """The processes under C{pid} (Linux /proc), children first."""
    out: list[int] = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            continue
        for child in children:
            out.append(child)
            out.extend(descendants(child))
    return out


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scratch() -> str:
    path = tempfile.mkdtemp(prefix="pubbot-bench-")
    return path


def cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def close(server: BenchServer, proc: subprocess.Popen, workdir: str) -> None:
    """Stop the client under test and the server, and remove the scratch dir."""
    stop_process(proc)
    server.port.stopListening()
    if server.connection is not None:
        server.connection.transport.abortConnection()
    cleanup(workdir)


def with_timeout(reactor, d: Deferred, seconds: float, what: str) -> Deferred:
    """C{d}, or a SystemExit saying the benchmark could not run when it takes over C{seconds}."""
    def expired(failure):
        failure.trap(Exception)
        raise SystemExit("benchmark could not run: %s within %ss" % (what, seconds))
    return d.addTimeout(seconds, reactor).addErrback(expired)


def run_benchmark(main: Callable, args) -> int:
    """Run C{main(reactor, args)} (returning a Deferred) on the reactor; 1 if it could not run."""
    from twisted.internet import reactor
    outcome: list = []

    def finish(result):
        outcome.append(result)
        reactor.stop()
    reactor.callWhenRunning(lambda: main(reactor, args).addBoth(finish))
    reactor.run()
    if outcome and hasattr(outcome[0], "raiseException"):
        if outcome[0].check(SystemExit):
            print(outcome[0].value, file=sys.stderr)
        else:
            outcome[0].printTraceback()
        return 1
    return 0
