"""
An Icecast server's C{status-json.xsl}: read-only (no skip, no queue).

The source URL may name one mount in its fragment
(C{http://host:8000/status-json.xsl#/stream}); without one the first
mount is watched. Icecast puts C{Artist - Title} in C{title} when the
stream sends no separate artist; that is split.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from .deadline import timed
from .fetch import fetch_json, split_credentials
from .interfaces import IMusicSource, SourceUnavailable, Unsupported
from .track import PLAY, STOP, Status, Track


def _mount_of(source: dict) -> str:
    url = source.get("listenurl")
    return urlsplit(url).path if isinstance(url, str) else ""


@implementer(IMusicSource)
class IcecastSource:
    """An Icecast mount, polled through C{status-json.xsl}."""

    kind = "icecast"
    controllable = False

    def __init__(self, url: str, http: Any, clock: Any, pool: Any = None, timeout: float = 8.0):
        url, self._auth = split_credentials(url)
        parts = urlsplit(url)
        self.url = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
        self.mount: str | None = parts.fragment or None
        self.description = "Icecast at %s" % (parts.netloc,)
        self._http = http
        self._pool = pool
        self._clock = clock
        self.timeout = timeout

    def start(self) -> None:
        pass

    def stop(self) -> Deferred:
        if self._pool is not None:
            return self._pool.closeCachedConnections()
        return succeed(None)

    def status(self) -> Deferred:
        return timed(self._status(), self._clock, self.timeout, self.description)

    async def _status(self) -> Status:
        data = await fetch_json(self._http, "GET", self.url, auth=self._auth)
        stats = data.get("icestats") if isinstance(data, dict) else None
        if not isinstance(stats, dict):
            raise SourceUnavailable("%s sent no icestats" % (self.url,))
        sources = stats.get("source")
        if isinstance(sources, dict):
            sources = [sources]
        if not isinstance(sources, list):
            return Status(STOP)  # no mounts: nothing is streaming
        sources = [s for s in sources if isinstance(s, dict)]
        if self.mount is not None:
            sources = [s for s in sources if _mount_of(s) == self.mount]
        if not sources:
            return Status(STOP)
        return Status(PLAY, self._track(sources[0]))

    def _track(self, source: dict) -> Track:
        title = source.get("title")
        artist = source.get("artist")
        title = title if isinstance(title, str) else ("" if title is None else str(title))
        if not artist and " - " in title:
            artist, title = title.split(" - ", 1)
        mount = _mount_of(source)
        name = source.get("server_name")
        if name == "Unspecified name":  # Icecast's stand-in when the stream names none
            name = None
        return Track.from_tags(title, artist, None, uri=mount, fallback=name or mount)

    def skip(self, count: int) -> Deferred:
        return fail(Unsupported("%s is read-only: it cannot skip" % (self.description,)))

    def queue(self, field: str, text: str, replace: bool) -> Deferred:
        return fail(Unsupported("%s is read-only: it cannot queue" % (self.description,)))
