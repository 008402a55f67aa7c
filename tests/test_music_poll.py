"""The music-poll service on a Clock: change detection, backoff, outages, restarts."""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from pubbot.music.icecast import IcecastSource
from pubbot.music.interfaces import IMusicSource, SourceUnavailable
from pubbot.music.lms import LMSSource
from pubbot.music.mpd import MPDSource
from pubbot.music.poll import STORE_KEY, MusicPoller, MusicService, make_music_service
from pubbot.music.sources import check_source, make_source
from pubbot.music.track import Status, Track
from pubbot.plugins import music
from pubbot.testing import Harness

from .support.logs import capture_logs

A = Track("Song A", "Band", "Album", "a.flac", "1")
B = Track("Song B", "Band", "", "b.flac", "2")


@implementer(IMusicSource)
class ScriptedSource:
    """Answers status() with what the test set in C{self.now} (a Status, exception or Deferred)."""

    kind = "mpd"
    description = "scripted MPD"
    controllable = True

    def __init__(self, now=None):
        self.now = now if now is not None else Status("stop")
        self.asked = 0
        self.started = self.stopped = 0

    def start(self):
        self.started += 1

    def stop(self):
        self.stopped += 1
        return succeed(None)

    def status(self):
        self.asked += 1
        if isinstance(self.now, Exception):
            return fail(self.now)
        if isinstance(self.now, Deferred):
            return self.now
        return succeed(self.now)

    def skip(self, count):
        return succeed(None)

    def queue(self, field, text, replace):
        return succeed([])


def at_level(events, level):
    return events.at_level(level, "pubbot.music.poll")


class PollerTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(music.announce)
        self.published = []
        self.h.bot.dispatcher.observers.append(self.observe)
        self.source = ScriptedSource(Status("play", A))
        self.logs = capture_logs(self)
        self.poller = self.make_poller()

    def observe(self, message):
        if message.topic.startswith("music."):
            self.published.append((message.topic, dict(message.fields)))

    def make_poller(self):
        poller = MusicPoller(self.h.bot, self.source, self.h.clock, 5.0)
        poller.startService()
        self.addCleanup(lambda: poller.running and poller.stopService())
        self.h.clock.advance(0)  # the first poll is at once
        return poller

    def poll(self, status=None):
        if status is not None:
            self.source.now = status
        self.h.clock.advance(self.poller.next_delay())

    def topics(self):
        return [t for t, _ in self.published]

    def test_announces_the_first_track_at_once(self):
        self.assertEqual(self.published,
                         [("music.track", {"title": "Song A", "artist": "Band", "album": "Album"})])
        self.assertEqual(self.h.sent, [("#pubbot", "Song A - Band (Album)", "notice")])
        self.assertEqual(self.h.bot.state["music"],
                         {"state": "play", "title": "Song A", "artist": "Band", "album": "Album"})

    def test_once_per_track(self):
        self.poll()
        self.poll()
        self.assertEqual(self.source.asked, 3)
        self.poll(Status("play", B))
        self.poll()
        self.assertEqual(self.topics(), ["music.track", "music.track"])
        self.assertEqual(self.h.sent[-1], ("#pubbot", "Song B - Band", "notice"))

    def test_stop_once_and_start_again(self):
        self.poll(Status("stop"))
        self.poll()
        self.assertEqual(self.topics(), ["music.track", "music.stop"])
        self.assertEqual(self.h.bot.state["music"]["state"], "stop")
        self.poll(Status("play", A))
        self.assertEqual(self.topics(), ["music.track", "music.stop", "music.track"])

    def test_pause_and_resume_are_quiet(self):
        self.poll(Status("pause", A))
        self.assertEqual(self.h.bot.state["music"]["state"], "pause")
        self.poll(Status("play", A))
        self.assertEqual(self.topics(), ["music.track"])

    def test_a_track_changed_while_paused_is_announced_when_it_plays(self):
        self.poll(Status("pause", B))
        self.assertEqual(self.topics(), ["music.track"])
        self.poll(Status("play", B))
        self.assertEqual(self.topics(), ["music.track", "music.track"])

    def test_the_same_song_queued_again_is_a_change(self):
        self.poll(Status("play", Track("Song A", "Band", "Album", "a.flac", "9")))
        self.assertEqual(self.topics(), ["music.track", "music.track"])

    def test_outage_backs_off_logs_once_and_recovers_quietly(self):
        self.source.now = SourceUnavailable("connection refused")
        delays = []
        for _ in range(9):
            self.poll()
            delays.append(self.poller.next_delay())
        self.assertEqual(delays, [5, 10, 20, 40, 80, 160, 300, 300, 300])
        warnings = at_level(self.logs, LogLevel.warn)
        self.assertEqual(len(warnings), 1)
        self.assertIn("connection refused", warnings[0]["error"])
        self.assertEqual(self.h.bot.state["music"]["state"], "unreachable")
        self.assertEqual(self.h.bot.state["music"]["title"], "Song A")
        # Back, same song, renumbered queue (the player restarted): nothing announced.
        self.poll(Status("play", Track("Song A", "Band", "Album", "a.flac", "77")))
        self.assertEqual(self.topics(), ["music.track"])
        self.assertEqual(self.h.bot.state["music"]["state"], "play")
        self.assertEqual(len(at_level(self.logs, LogLevel.info)), 1)
        self.assertEqual(self.poller.next_delay(), 5)
        # Then entries count again.
        self.poll(Status("play", Track("Song A", "Band", "Album", "a.flac", "78")))
        self.assertEqual(self.topics(), ["music.track", "music.track"])

    def test_a_second_outage_is_logged_again(self):
        self.poll(SourceUnavailable("down"))
        self.poll(Status("play", A))
        self.poll(SourceUnavailable("down again"))
        self.assertEqual(len(at_level(self.logs, LogLevel.warn)), 2)

    def test_recovery_on_another_track_announces_it(self):
        self.poll(SourceUnavailable("down"))
        self.poll(Status("play", B))
        self.assertEqual(self.topics(), ["music.track", "music.track"])

    def test_stopped_during_the_outage_is_announced_once(self):
        self.poll(SourceUnavailable("down"))
        self.poll(Status("stop"))
        self.poll()
        self.assertEqual(self.topics(), ["music.track", "music.stop"])

    def test_a_bug_in_the_source_is_an_outage_too_with_its_traceback(self):
        self.poll(KeyError("oops"))
        self.poll(KeyError("oops"))
        self.assertEqual(self.poller.failures, 2)
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)
        self.poll(Status("play", A))
        self.assertEqual(self.poller.failures, 0)

    def test_a_restart_does_not_announce_the_same_track_again(self):
        self.poller.stopService()
        self.assertEqual(self.successResultOf(self.h.store.get(STORE_KEY))["title"], "Song A")
        self.make_poller()
        self.assertEqual(self.topics(), ["music.track"])
        self.source.now = Status("play", B)
        self.h.clock.advance(5)
        self.assertEqual(self.topics(), ["music.track", "music.track"])

    def test_another_process_taking_over_does_not_announce_again(self):
        other = MusicPoller(self.h.bot, ScriptedSource(Status("play", A)), self.h.clock, 5.0)
        other.startService()
        self.addCleanup(other.stopService)
        self.h.clock.advance(0)
        self.assertEqual(self.topics(), ["music.track"])

    def test_stop_clears_the_saved_track(self):
        self.poll(Status("stop"))
        self.assertIsNone(self.successResultOf(self.h.store.get(STORE_KEY)))

    def test_stop_service_cancels_the_next_poll_and_the_one_in_flight(self):
        self.source.now = Deferred()
        self.poll()
        asked = self.source.asked
        self.poller.stopService()
        self.assertTrue(self.source.now.called)  # cancelled
        self.h.clock.advance(1000)
        self.assertEqual(self.source.asked, asked)
        self.assertEqual(at_level(self.logs, LogLevel.warn), [])
        self.assertEqual(at_level(self.logs, LogLevel.critical), [])
        self.assertEqual(self.h.clock.getDelayedCalls(), [])
        self.assertNotIn("music", self.h.bot.state)

    def test_unreadable_store_still_polls(self):
        h = Harness(music.announce)

        def broken(key):
            raise OSError("disk gone")

        h.store.get = broken
        poller = MusicPoller(h.bot, ScriptedSource(Status("play", A)), h.clock, 5.0)
        poller.startService()
        self.addCleanup(poller.stopService)
        h.clock.advance(0)
        self.assertEqual(len(h.sent), 1)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_failed_publish_keeps_polling(self):
        self.h.bot.publish = lambda *a, **k: fail(RuntimeError("bus down"))
        self.poll(Status("play", B))
        self.poll(Status("play", A))
        self.assertEqual(self.source.asked, 3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)


class ServiceTests(SynchronousTestCase):
    def test_music_service_children_and_source(self):
        h = Harness()
        source = ScriptedSource()
        service = MusicService(h.bot, source, h.clock, 5.0)
        self.assertIs(h.bot.music_source, source)
        self.assertEqual(service.name, "music")
        self.assertIs(service.getServiceNamed("poll"), service.poller)
        service.startService()
        h.clock.advance(0)
        self.assertEqual((source.started, source.asked), (1, 1))
        service.stopService()
        self.assertEqual(source.stopped, 1)
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_refuses_a_non_source(self):
        self.assertRaises(TypeError, MusicService, Harness().bot, object(), None, 5.0)

    def test_make_source_kinds(self):
        reactor = MemoryReactorClock()
        self.assertIsInstance(make_source("mpd:tcp:localhost:6600", reactor), MPDSource)
        self.assertEqual(make_source("mpd:tcp:localhost:6600", reactor).description, "MPD at localhost:6600")
        self.assertIsInstance(make_source("lms:http://lms:9000", reactor), LMSSource)
        ice = make_source("icecast:http://r:8000/status-json.xsl#/office", reactor)
        self.assertIsInstance(ice, IcecastSource)
        self.assertEqual((ice.url, ice.mount), ("http://r:8000/status-json.xsl", "/office"))
        self.assertRaises(ValueError, make_source, "", reactor)

    def test_make_music_service_from_settings(self):
        h = Harness(config={"music": {"source": "lms:http://127.0.0.1:9000", "poll_seconds": 2}})
        service = make_music_service(h.bot, h.settings.music, MemoryReactorClock())
        self.assertEqual(service.poller.interval, 2.0)
        self.assertIsInstance(h.bot.music_source, LMSSource)

    def test_check_source(self):
        self.assertIsNone(check_source(""))
        self.assertIsNone(check_source("mpd:unix:/run/mpd/socket"))
        self.assertIsNone(check_source("icecast:https://r/status-json.xsl"))
        self.assertIn("wants an endpoint", check_source("mpd:localhost:6600"))
        self.assertIn("wants an http(s) URL", check_source("lms:localhost:9000"))
        self.assertIn("must start with", check_source("spotify:x"))
        self.assertIn("CR, LF", check_source("lms:http://h/\n"))
