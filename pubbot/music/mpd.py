"""
Music Player Daemon: a small Twisted client protocol and the MPD source.

We write our own protocol rather than use python-mpd2's C{mpd.twisted.MPDProtocol}
(3.1.x), which is inadequate here:

 - its argument quoting escapes only backslash and double quote, so a
   newline in user text ends the command line and whatever follows runs as
   a second command (and a NUL truncates MPD's parse);
 - it has no C{connectionLost}: commands pending when the connection drops
   never fire, so a poll would hang for ever instead of backing off;
 - it decodes replies as strict UTF-8 inside C{lineReceived}, so one bad
   byte from the server raises there, and it buffers replies without bound;
 - it guards every call with a C{threading.RLock} and logs through stdlib
   logging, neither of which belongs in a reactor-driven daemon.

The protocol here is the part of MPD's line protocol pubbot uses: the
C{OK MPD} banner, commands with quoted arguments, C{OK}/C{ACK} replies and
C{command_list_begin} lists, with pipelining and cancellation.
"""

from __future__ import annotations

import os
import re
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.protocols.basic import LineOnlyReceiver
from zope.interface import implementer

from .deadline import timed
from .interfaces import IMusicSource, MusicError, SourceUnavailable
from .track import MAX_QUEUE, PAUSE, PLAY, STOP, Status, Track

log = Logger()

#: MPD's ACK code for "not playing" (C{next} past the end of the queue).
ACK_NOT_PLAYING = 55

_COMMAND_NAME = re.compile(r"[a-z_]+\Z")
_ACK = re.compile(r"ACK \[(\d+)@(\d+)\] \{([^}]*)\} ?(.*)\Z")
# MPD reads a command up to LF, and its tokenizer stops at NUL: no quoting
# can carry these, so they become spaces.
_UNQUOTABLE = re.compile(r"[\x00-\x1f\x7f]")


class MPDCommandError(MusicError):
    """MPD answered C{ACK [code@index] {command} message}."""

    def __init__(self, code: int, index: int, command: str, message: str):
        super().__init__("MPD refused %s: %s (code %d)" % (command or "a command", message, code))
        self.code = code
        self.index = index
        self.command = command
        self.message = message


def quote(value: Any) -> str:
    """
    One MPD argument: double-quoted with backslash and quote escaped, and
    control characters (which MPD's line protocol cannot carry) as spaces.
    """
    text = _UNQUOTABLE.sub(" ", str(value))
    return '"%s"' % (text.replace("\\", "\\\\").replace('"', '\\"'),)


def command_line(name: str, *args: Any) -> str:
    """A command line: a fixed command word and quoted arguments."""
    if not _COMMAND_NAME.match(name):
        raise ValueError("not an MPD command word: %r" % (name,))
    return " ".join([name] + [quote(a) for a in args])


def pairs(lines: Iterable[str]) -> list[tuple[str, str]]:
    """C{key: value} reply lines as pairs; lines without C{": "} are skipped."""
    out = []
    for line in lines:
        key, sep, value = line.partition(": ")
        if sep:
            out.append((key, value))
    return out


def songs(lines: Iterable[str]) -> list[dict[str, Any]]:
    """
    Song records from a reply: each starts at a C{file} line; keys are
    lower-cased and a repeated tag (two Artist lines) becomes a list.
    """
    found: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for key, value in pairs(lines):
        key = key.lower()
        if key == "file":
            current = {"file": value}
            found.append(current)
        elif current is None:
            continue
        elif key in current:
            old = current[key]
            current[key] = (old if isinstance(old, list) else [old]) + [value]
        else:
            current[key] = value
    return found


def track_from_song(song: dict[str, Any], entry: Any = None) -> Track:
    """A L{Track} from an MPD song record; no title falls back to the stream name or file."""
    uri = song.get("file", "")
    if isinstance(uri, list):
        uri = uri[0]
    stem = os.path.splitext(os.path.basename(uri.rstrip("/")))[0] if "://" not in uri else uri
    return Track.from_tags(song.get("title"), song.get("artist") or song.get("albumartist"),
                           song.get("album"), uri=uri, entry=entry,
                           fallback=song.get("name") or stem)


class MPDProtocol(LineOnlyReceiver):
    """
    A client for MPD's line protocol. C{ready} fires with the protocol
    after the C{OK MPD x.y.z} banner. Commands may be pipelined; each
    returns a Deferred of its reply lines. Cancelling one drops the
    connection (the reply stream could no longer be matched up).
    """

    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024
    #: Most lines one reply may have before we give up on the server.
    max_reply_lines = 200_000

    def __init__(self) -> None:
        self.version: str | None = None
        self.ready: Deferred = Deferred()
        self._pending: deque[Deferred] = deque()
        self._lines: list[str] = []
        self._lost = False

    def lineReceived(self, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace")
        if self.version is None:
            if not line.startswith("OK MPD "):
                log.warn("not an MPD server (it said {line!r}); closing", line=line[:80])
                self._abort()
                return
            self.version = line[len("OK MPD "):].strip()
            self.ready.callback(self)
            return
        if not self._pending:
            log.warn("MPD sent {line!r} unasked; closing", line=line[:80])
            self._abort()
            return
        if line == "OK":
            lines, self._lines = self._lines, []
            self._pending.popleft().callback(lines)
        elif line.startswith("ACK "):
            self._lines = []
            found = _ACK.match(line)
            if found is None:
                error = MPDCommandError(0, 0, "", line[4:])
            else:
                error = MPDCommandError(int(found.group(1)), int(found.group(2)),
                                        found.group(3), found.group(4))
            self._pending.popleft().errback(error)
        elif len(self._lines) >= self.max_reply_lines:
            log.warn("MPD reply longer than {max} lines; closing", max=self.max_reply_lines)
            self._abort()
        else:
            self._lines.append(line)

    def _abort(self) -> None:
        transport: Any = self.transport
        if transport is not None:
            transport.abortConnection()

    def lineLengthExceeded(self, line: bytes) -> None:
        log.warn("MPD sent a line longer than {max} bytes; closing", max=self.MAX_LENGTH)
        self._abort()

    def connectionLost(self, reason: Any = None) -> None:
        self._lost = True
        pending, self._pending = self._pending, deque()
        if not self.ready.called:
            self.ready.errback(SourceUnavailable("MPD closed the connection before its banner"))
        for d in pending:
            d.errback(SourceUnavailable("the connection to MPD was lost"))

    def send_lines(self, lines: Sequence[str]) -> Deferred:
        """Send C{lines} as one request; fires with the reply's lines."""
        if self._lost or self.transport is None:
            return fail(SourceUnavailable("not connected to MPD"))
        d: Deferred = Deferred(self._cancel)
        self._pending.append(d)
        self.transport.write(b"".join(line.encode("utf-8", "replace") + b"\n" for line in lines))
        return d

    def _cancel(self, d: Deferred) -> None:
        if d in self._pending:
            self._pending.remove(d)
        self._abort()

    def command(self, name: str, *args: Any) -> Deferred:
        """Run one command; each argument is sent as one quoted argument."""
        return self.send_lines([command_line(name, *args)])

    def command_list(self, commands: Iterable[Sequence[Any]]) -> Deferred:
        """Run C{(name, arg, ...)} commands as one list: all or, from the first error, none."""
        lines = [command_line(*c) for c in commands]
        return self.send_lines(["command_list_begin"] + lines + ["command_list_end"])


class MPDFactory(Factory):
    protocol = MPDProtocol

    def buildProtocol(self, addr: Any) -> MPDProtocol:
        return MPDProtocol()


def _wait_ready(protocol: Any) -> Deferred:
    return protocol.ready


@implementer(IMusicSource)
class MPDSource:
    """
    An MPD server, through one connection kept by a L{ClientService}
    (reconnecting with backoff), started by L{start} or by the first
    operation. Each operation gives up after C{timeout} seconds with
    L{SourceUnavailable}.
    """

    kind = "mpd"
    controllable = True

    def __init__(self, endpoint: Any, clock: Any, description: str = "MPD",
                 timeout: float = 8.0, retry_max: float = 30.0):
        self.description = description
        self._clock = clock
        self.timeout = timeout
        self.connections = ClientService(
            endpoint, MPDFactory(), retryPolicy=backoffPolicy(1.0, retry_max), clock=clock,
            prepareConnection=_wait_ready)

    def start(self) -> None:
        if not self.connections.running:
            self.connections.startService()

    def stop(self) -> Deferred:
        if self.connections.running:
            return self.connections.stopService()
        return succeed(None)

    def _run(self, coroutine: Any) -> Deferred:
        return timed(coroutine, self._clock, self.timeout, self.description)

    async def _connection(self) -> MPDProtocol:
        # Chat commands may run in a process whose music service is not
        # running (another process holds the poll): connect on first use.
        self.start()
        protocol: Any = await self.connections.whenConnected(failAfterFailures=1)
        return protocol

    def status(self) -> Deferred:
        return self._run(self._status())

    async def _status(self) -> Status:
        mpd = await self._connection()
        # One after the other: a pipelined second command would be left
        # failing unheard if the first were cancelled by the timeout.
        status = dict(pairs(await mpd.command("status")))
        current = songs(await mpd.command("currentsong"))
        state = status.get("state")
        if state not in (PLAY, PAUSE, STOP):
            raise SourceUnavailable("MPD reported an unknown state %r" % (state,))
        if state == STOP or not current:
            return Status(STOP)
        return Status(state, track_from_song(current[0], status.get("songid")))

    def skip(self, count: int) -> Deferred:
        if count < 1:
            raise ValueError("skip count must be >= 1")
        return self._run(self._skip(count))

    async def _skip(self, count: int) -> None:
        mpd = await self._connection()
        try:
            await mpd.command_list([("next",)] * count)
        except MPDCommandError as e:
            # Skipping past the end of the queue stops the player: done.
            if e.code != ACK_NOT_PLAYING:
                raise

    def queue(self, field: str, text: str, replace: bool) -> Deferred:
        if field not in ("artist", "title"):
            raise ValueError("can only queue by artist or title")
        return self._run(self._queue(field, text, replace))

    async def _queue(self, field: str, text: str, replace: bool) -> list[Track]:
        mpd = await self._connection()
        found = songs(await mpd.command("search", field, text, "window", "0:%d" % MAX_QUEUE))
        found = [s for s in found if s.get("file")][:MAX_QUEUE]
        if not found:
            return []
        commands: list[tuple[Any, ...]] = []
        start = 0
        if replace:
            commands.append(("clear",))
        else:
            status = dict(pairs(await mpd.command("status")))
            if status.get("state") == PLAY or status.get("state") == PAUSE:
                start = -1
            else:
                start = _int(status.get("playlistlength"))
        commands.extend(("add", song["file"]) for song in found)
        if start >= 0:
            commands.append(("play", start))
        await mpd.command_list(commands)
        return [track_from_song(song) for song in found]


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
