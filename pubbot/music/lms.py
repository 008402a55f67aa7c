"""
Lyrion/Logitech Media Server (the original's SqueezeCenter) through its
JSON-RPC API: C{POST /jsonrpc.js} with C{slim.request}. A C{user:password@}
in the URL is sent as HTTP basic auth (LMS's password protection) and kept
out of logs and replies.

User text only ever travels as one element of the JSON params array
(C{"search:<text>"}): JSON escaping carries quotes, backslashes, C{%},
newlines and NULs, and the JSON-RPC API does not percent-decode params the
way LMS's telnet CLI does.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from .deadline import timed
from .fetch import fetch_json, split_credentials
from .interfaces import IMusicSource, SourceUnavailable
from .track import MAX_QUEUE, PAUSE, PLAY, STOP, Status, Track

log = Logger()


def split_lms_url(url: str) -> tuple[str, str | None]:
    """
    The JSON-RPC URL and the player id (the C{player} query parameter, e.g.
    C{http://host:9000/?player=00:04:20:aa:bb:cc}; None: the first player).
    """
    parts = urlsplit(url)
    players = parse_qs(parts.query).get("player")
    player = players[0] if players else None
    path = parts.path.rstrip("/") + "/jsonrpc.js"
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), player


def _loop(result: dict, name: str) -> list[dict]:
    items = result.get(name)
    if items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SourceUnavailable("LMS sent a malformed %s" % (name,))
    return items


def _id(item: dict) -> int:
    try:
        return int(item["id"])
    except (KeyError, TypeError, ValueError):
        raise SourceUnavailable("LMS sent an item without a numeric id") from None


def _track(item: dict) -> Track:
    entry = item.get("playlist index")
    uri = item.get("url") or ("" if item.get("id") is None else "lms:%s" % (item.get("id"),))
    return Track.from_tags(item.get("title"), item.get("artist") or item.get("trackartist"),
                           item.get("album"), uri=uri, entry=entry)


@implementer(IMusicSource)
class LMSSource:
    """A player on an LMS server. C{http} is a treq client (or StubTreq)."""

    kind = "lms"
    controllable = True

    def __init__(self, url: str, http: Any, clock: Any, pool: Any = None, timeout: float = 8.0):
        url, self._auth = split_credentials(url)
        self.url, self.player = split_lms_url(url)
        self.description = "LMS at %s" % (urlsplit(url).netloc,)
        self._http = http
        self._pool = pool
        self._clock = clock
        self.timeout = timeout
        self._found_player: str | None = None
        self._ids = 0

    def start(self) -> None:
        pass

    def stop(self) -> Deferred:
        if self._pool is not None:
            return self._pool.closeCachedConnections()
        return succeed(None)

    def _run(self, coroutine: Any) -> Deferred:
        return timed(coroutine, self._clock, self.timeout, self.description)

    async def request(self, player: str, command: list) -> dict:
        """One C{slim.request}; fires with its C{result} object."""
        self._ids += 1
        body = json.dumps({"id": self._ids, "method": "slim.request",
                           "params": [player, [str(c) for c in command]]})
        reply = await fetch_json(self._http, "POST", self.url, body.encode("utf-8"), auth=self._auth)
        result = reply.get("result") if isinstance(reply, dict) else None
        if not isinstance(result, dict):
            raise SourceUnavailable("LMS gave no result for %r" % (command[0],))
        return result

    async def _player(self) -> str:
        if self.player:
            return self.player
        if self._found_player is None:
            players = _loop(await self.request("", ["players", 0, 1]), "players_loop")
            if not players or not isinstance(players[0].get("playerid"), str):
                raise SourceUnavailable("LMS has no players connected")
            self._found_player = players[0]["playerid"]
        return self._found_player

    def status(self) -> Deferred:
        return self._run(self._status())

    async def _status(self) -> Status:
        try:
            player = await self._player()
            result = await self.request(player, ["status", "-", 1, "tags:alu"])
        except SourceUnavailable:
            self._found_player = None  # look again: the player may have gone
            raise
        mode = result.get("mode")
        if result.get("power") in (0, "0") or mode not in (PLAY, PAUSE):
            return Status(STOP)
        current = _loop(result, "playlist_loop")
        if not current:
            return Status(STOP)
        item = current[0]
        if result.get("remote") in (1, "1") and result.get("current_title") and not item.get("artist"):
            item = dict(item, title=result["current_title"])
        return Status(mode, _track(item))

    def skip(self, count: int) -> Deferred:
        if count < 1:
            raise ValueError("skip count must be >= 1")
        return self._run(self._skip(count))

    async def _skip(self, count: int) -> None:
        await self.request(await self._player(), ["playlist", "index", "+%d" % count])

    def queue(self, field: str, text: str, replace: bool) -> Deferred:
        if field not in ("artist", "title"):
            raise ValueError("can only queue by artist or title")
        return self._run(self._queue(field, text, replace))

    async def _queue(self, field: str, text: str, replace: bool) -> list[Track]:
        player = await self._player()
        if field == "artist":
            artists = _loop(await self.request("", ["artists", 0, 10, "search:" + text]), "artists_loop")
            if not artists:
                return []
            exact = [a for a in artists if str(a.get("artist", "")).lower() == text.lower()]
            chosen = (exact or artists)[0]
            found = await self.request("", ["titles", 0, MAX_QUEUE, "artist_id:%d" % _id(chosen), "tags:al"])
        else:
            found = await self.request("", ["titles", 0, MAX_QUEUE, "search:" + text, "tags:al"])
        items = _loop(found, "titles_loop")[:MAX_QUEUE]
        if not items:
            return []
        ids = ",".join(str(_id(i)) for i in items)
        start = None
        if not replace:
            status = await self.request(player, ["status", "-", 1])
            if status.get("mode") not in (PLAY, PAUSE):
                start = _count(status.get("playlist_tracks"))
        await self.request(player, ["playlistcontrol", "cmd:" + ("load" if replace else "add"),
                                    "track_id:" + ids])
        if start is not None:
            await self.request(player, ["playlist", "index", start])
        return [_track(i) for i in items]


def _count(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
