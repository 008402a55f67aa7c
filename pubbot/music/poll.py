"""
The music-poll service: asks the source what is playing every
C{poll_seconds} and publishes C{music.track} once per track change and
C{music.stop} once when playback stops.

The current state is kept in C{bot.state["music"]} (C{state}: play, pause,
stop or unreachable; C{title}, C{artist}, C{album}) for C{np} and the
dashboard. The last announced track is kept in the store, so a restart or
another process taking over the poll does not announce it again.

When the source is unreachable the poll backs off (C{poll_seconds}
doubling up to C{max_backoff}), logs once when the outage starts and once
when it ends, and, coming back to the same track, announces nothing.

In a multi-process deployment only one process should run the C{poll}
child of the C{music} service; the source (C{bot.music_source}, see
L{pubbot.core.bot.Bot.register_music}) is usable
for chat commands in every process where the C{source} child runs.
"""

from __future__ import annotations

from typing import Any

from twisted.application.internet import backoffPolicy
from twisted.application.service import MultiService, Service
from twisted.internet.defer import CancelledError, Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure

from .interfaces import IMusicSource, MusicError
from .track import PLAY, STOP, Status, Track

log = Logger()

#: Store key of the last announced track.
STORE_KEY = "music:announced"

UNREACHABLE = "unreachable"


class MusicPoller(Service):
    """Polls C{source} on C{clock} and publishes changes through C{bot}."""

    name = "poll"  # type: ignore[assignment]  # Service types it as None

    def __init__(self, bot: Any, source: Any, clock: Any, interval: float,
                 max_backoff: float = 300.0):
        self.bot = bot
        self.source = source
        self.clock = clock
        self.interval = interval
        self._backoff = backoffPolicy(interval, max(interval, max_backoff), 2.0, jitter=lambda: 0)
        self._call: Any = None
        self._inflight: Deferred | None = None
        self.failures = 0
        self._outage_started: float | None = None
        self._loaded = False
        #: The announced track (None: nothing announced since the last stop).
        self._announced: Track | None = None
        #: Compare by song only (not queue entry) on the next poll: after an
        #: outage or a restart the player may have renumbered its queue.
        self._lenient = True

    def startService(self) -> None:
        super().startService()
        self._loaded = False
        self._lenient = True
        self._schedule(0)

    def stopService(self) -> Any:
        super().stopService()
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if self._inflight is not None:
            self._inflight.cancel()
        # Another process may poll now: np asks the source instead.
        self.bot.state.pop("music", None)
        return None

    def _schedule(self, delay: float) -> None:
        self._call = self.clock.callLater(delay, self._tick)

    def next_delay(self) -> float:
        """Seconds to the next poll: the interval, or the backoff in an outage."""
        if self.failures == 0:
            return self.interval
        return self._backoff(self.failures - 1)

    def _tick(self) -> None:
        self._call = None
        d = self._inflight = Deferred.fromCoroutine(self.poll())
        d.addErrback(self._bug)
        d.addBoth(self._done)

    def _bug(self, failure: Any) -> None:
        if not failure.check(CancelledError):
            log.failure("music poll failed", failure)

    def _done(self, _: Any) -> None:
        self._inflight = None
        if self.running:
            self._schedule(self.next_delay())

    async def poll(self) -> None:
        """One poll: load the last announcement if needed, ask, publish changes."""
        if not self._loaded:
            await self._load()
        try:
            status = await self.source.status()
        except CancelledError:
            raise
        except Exception:  # a source may fail any way
            if self.running:
                self._failed(Failure())
            return
        self._recovered()
        self.observe(status)

    async def _load(self) -> None:
        self._loaded = True
        try:
            saved = await self.bot.store.get(STORE_KEY)
        except Exception:
            log.failure("cannot read the last announced track; it may be announced again")
            return
        if isinstance(saved, dict) and isinstance(saved.get("title"), str):
            self._announced = Track(saved["title"], saved.get("artist") or "", saved.get("album") or "",
                                    saved.get("uri") or "", saved.get("entry") or "")

    def _failed(self, failure: Failure) -> None:
        self.failures += 1
        if self.failures == 1:
            self._outage_started = self.clock.seconds()
            if failure.check(MusicError):
                log.warn("music source {source} is unreachable ({error}); polling again with backoff",
                         source=self.source.description, error=failure.getErrorMessage())
            else:
                log.failure("music source {source} failed; polling again with backoff", failure,
                            source=self.source.description)
            self._lenient = True
            state = dict(self.bot.state.get("music") or {"title": "", "artist": "", "album": ""})
            state["state"] = UNREACHABLE
            self.bot.state["music"] = state
        else:
            log.debug("music source still unreachable ({error})", error=failure.getErrorMessage())

    def _recovered(self) -> None:
        if self.failures:
            log.info("music source {source} is back after {seconds:.0f}s",
                     source=self.source.description,
                     seconds=self.clock.seconds() - (self._outage_started or self.clock.seconds()))
        self.failures = 0
        self._outage_started = None

    def _changed(self, track: Track) -> bool:
        announced = self._announced
        if announced is None or announced.key != track.key:
            return True
        return not self._lenient and bool(track.entry) and track.entry != announced.entry

    def observe(self, status: Status) -> None:
        """Publish what changed between the last announcement and C{status}."""
        track = status.track
        if status.state == STOP or track is None:
            self._set_state(STOP, None)
            if self._announced is not None:
                self._announce(None)
                self._publish("music.stop")
        else:
            self._set_state(status.state, track)
            if status.state == PLAY and self._changed(track):
                self._announce(track)
                self._publish("music.track", **track.fields())
            elif self._announced is not None and self._announced.key == track.key:
                self._announced = track  # follow the queue entry quietly
        self._lenient = False

    def _set_state(self, state: str, track: Track | None) -> None:
        fields = track.fields() if track is not None else {"title": "", "artist": "", "album": ""}
        self.bot.state["music"] = dict(fields, state=state)

    def _announce(self, track: Track | None) -> None:
        self._announced = track
        value = None if track is None else {
            "title": track.title, "artist": track.artist, "album": track.album,
            "uri": track.uri, "entry": track.entry}
        if value is None:
            d = maybeDeferred(self.bot.store.delete, STORE_KEY)
        else:
            d = maybeDeferred(self.bot.store.set, STORE_KEY, value)
        d.addErrback(lambda f: log.failure("cannot save the announced track", f))

    def _publish(self, topic: str, **fields: Any) -> None:
        d = maybeDeferred(self.bot.publish, topic, **fields)
        d.addErrback(lambda f: log.failure("publishing {topic} failed", f, topic=topic))


class SourceService(Service):
    """Starts and stops a music source's connections."""

    name = "source"  # type: ignore[assignment]  # Service types it as None

    def __init__(self, source: Any):
        self.source = source

    def startService(self) -> None:
        super().startService()
        self.source.start()

    def stopService(self) -> Any:
        super().stopService()
        return self.source.stop()


class MusicService(MultiService):
    """The C{music} child: the source's connections (C{source}) and the poll (C{poll})."""

    name = "music"  # type: ignore[assignment]  # Service types it as None

    def __init__(self, bot: Any, source: Any, clock: Any, interval: float):
        super().__init__()
        if not IMusicSource.providedBy(source):
            raise TypeError("%r does not provide IMusicSource" % (source,))
        self.source = source
        self.poller = MusicPoller(bot, source, clock, interval)
        SourceService(source).setServiceParent(self)
        self.poller.setServiceParent(self)
        bot.register_music(source)


def make_music_service(bot: Any, settings: Any, reactor: Any) -> MusicService:
    """The C{music} service for C{[music]} C{settings} (source must be set)."""
    from .sources import make_source

    source = make_source(settings.source, reactor)
    return MusicService(bot, source, reactor, settings.poll_seconds)
