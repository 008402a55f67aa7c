"""The LMS source against recorded-shape JSON served by a twisted.web resource through StubTreq."""

import base64
import json
import os

from treq.testing import StubTreq
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.music.fetch import split_credentials
from pubbot.music.interfaces import IMusicSource, SourceUnavailable
from pubbot.music.lms import LMSSource, split_lms_url
from pubbot.music.track import PAUSE, Status, Track

from .support.music import FakeLMS, fixture

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "music")
PLAYER = "00:04:20:12:34:56"






class LMSTests(SynchronousTestCase):
    def setUp(self):
        self.lms = FakeLMS()
        self.clock = Clock()
        self.source = LMSSource("http://lms.example:9000/", StubTreq(self.lms), self.clock)

    def test_provides_the_interface(self):
        verifyObject(IMusicSource, self.source)

    def test_url_and_player(self):
        self.assertEqual(split_lms_url("http://h:9000"), ("http://h:9000/jsonrpc.js", None))
        self.assertEqual(split_lms_url("https://h/lms/?player=aa:bb"), ("https://h/lms/jsonrpc.js", "aa:bb"))

    def test_status_finds_the_first_player_once(self):
        status = self.successResultOf(self.source.status())
        self.assertEqual(status, Status("play", Track(
            "Rubbish Choon", "The Office Band", "Songs You Seem To Like",
            "file:///music/The%20Office%20Band/Songs/04%20Rubbish%20Choon.flac", "3")))
        self.successResultOf(self.source.status())
        self.assertEqual(self.lms.commands(), [
            ["", ["players", "0", "1"]],
            [PLAYER, ["status", "-", "1", "tags:alu"]],
            [PLAYER, ["status", "-", "1", "tags:alu"]]])
        self.assertEqual(self.lms.requests[0]["method"], "slim.request")

    def test_configured_player(self):
        url = "http://lms.example:9000/?player=aa:bb:cc:dd:ee:ff"
        source = LMSSource(url, StubTreq(self.lms), self.clock)
        self.successResultOf(source.status())
        self.assertEqual(self.lms.commands(), [["aa:bb:cc:dd:ee:ff", ["status", "-", "1", "tags:alu"]]])

    def test_stopped_paused_and_off(self):
        self.lms.replies["status"] = "lms_status_stop.json"
        self.assertEqual(self.successResultOf(self.source.status()), Status("stop"))
        paused = json.loads(fixture("lms_status_play.json"))
        paused["result"]["mode"] = "pause"
        self.lms.replies["status"] = json.dumps(paused).encode()
        self.assertEqual(self.successResultOf(self.source.status()).state, PAUSE)
        paused["result"]["power"] = 0
        self.lms.replies["status"] = json.dumps(paused).encode()
        self.assertEqual(self.successResultOf(self.source.status()), Status("stop"))

    def test_remote_stream_uses_the_current_title(self):
        self.lms.replies["status"] = "lms_status_remote.json"
        track = self.successResultOf(self.source.status()).track
        self.assertEqual((track.title, track.artist), ("Night Drive - Late Show Radio", ""))

    def test_no_players(self):
        self.lms.replies["players"] = b'{"id": 1, "result": {"count": 0}}'
        failure = self.failureResultOf(self.source.status(), SourceUnavailable)
        self.assertIn("no players", str(failure.value))

    def test_hostile_replies_are_unavailable_not_crashes(self):
        for body in (b"<html>oops</html>", b"[1, 2]", b'{"result": null}', b'{"result": []}',
                     b'{"result": {"mode": "play", "playlist_loop": "nope"}}', b"\xff\xfe{",
                     b'{"result": {"mode": "play", "playlist_loop": [3]}}'):
            self.lms.replies["status"] = body
            self.failureResultOf(self.source.status(), SourceUnavailable)

    def test_http_errors_are_unavailable(self):
        self.lms.code = 500
        failure = self.failureResultOf(self.source.status(), SourceUnavailable)
        self.assertIn("HTTP 500", str(failure.value))

    def test_oversized_reply(self):
        self.lms.replies["status"] = b'{"result": {"x": "' + b"y" * (1024 * 1024) + b'"}}'
        failure = self.failureResultOf(self.source.status(), SourceUnavailable)
        self.assertIn("more than", str(failure.value))

    def test_timeout_on_the_clock(self):
        self.source = LMSSource("http://lms.example:9000/?player=p", StubTreq(self.lms), self.clock)
        self.lms.hang = True
        d = self.source.status()
        self.assertNoResult(d)
        self.clock.advance(self.source.timeout)
        self.failureResultOf(d, SourceUnavailable)

    def test_skip(self):
        self.assertIsNone(self.successResultOf(self.source.skip(2)))
        self.assertEqual(self.lms.commands()[-1], [PLAYER, ["playlist", "index", "+2"]])

    def test_canhas_prefers_the_exact_artist_then_loads(self):
        self.lms.replies["artists"] = lambda params: json.dumps({"result": {"artists_loop": [
            {"id": 41, "artist": "The Office Band"}, {"id": 77, "artist": "Office Ghosts"}]}}).encode()
        tracks = self.successResultOf(self.source.queue("artist", "office ghosts", True))
        self.assertEqual([t.title for t in tracks], ["Haunted Printer", "Hot Desk"])
        self.assertEqual(self.lms.commands()[1:], [
            ["", ["artists", "0", "10", "search:office ghosts"]],
            ["", ["titles", "0", "50", "artist_id:77", "tags:al"]],
            [PLAYER, ["playlistcontrol", "cmd:load", "track_id:2001,2002"]]])

    def test_canhaslater_appends_and_plays_when_stopped(self):
        self.lms.replies["status"] = "lms_status_stop.json"
        self.successResultOf(self.source.queue("artist", "office", False))
        self.assertEqual(self.lms.commands()[-2:], [
            [PLAYER, ["playlistcontrol", "cmd:add", "track_id:2001,2002"]],
            [PLAYER, ["playlist", "index", "0"]]])

    def test_doeswantlater_while_playing_only_appends(self):
        self.lms.replies["titles"] = "lms_titles_search.json"
        tracks = self.successResultOf(self.source.queue("title", "choon", False))
        self.assertEqual(tracks[0].title, "Rubbish Choon")
        self.assertEqual(self.lms.commands()[1:], [
            ["", ["titles", "0", "50", "search:choon", "tags:al"]],
            [PLAYER, ["status", "-", "1"]],
            [PLAYER, ["playlistcontrol", "cmd:add", "track_id:1187"]]])

    def test_nothing_matched_changes_nothing(self):
        self.lms.replies["artists"] = "lms_empty_artists.json"
        self.assertEqual(self.successResultOf(self.source.queue("artist", "nobody", True)), [])
        self.assertNotIn("playlistcontrol", [c[1][0] for c in self.lms.commands()])

    def test_user_text_is_only_ever_one_json_string(self):
        hostile = 'x"] , ["stop"] \\" %0A%25 \n\r\0 \u2028 search:y'
        self.lms.replies["titles"] = "lms_titles_search.json"
        self.successResultOf(self.source.queue("title", hostile, True))
        raw = [r for r in self.lms.requests if r["params"][1][0] == "titles"][0]
        self.assertEqual(raw["params"], ["", ["titles", "0", "50", "search:" + hostile, "tags:al"]])
        # No request carried any command but the three expected.
        self.assertEqual([c[1][0] for c in self.lms.commands()],
                         ["players", "titles", "playlistcontrol"])

    def test_non_numeric_ids_are_refused(self):
        self.lms.replies["titles"] = lambda params: b'{"result": {"titles_loop": [{"id": "1;stop"}]}}'
        self.failureResultOf(self.source.queue("title", "x", True), SourceUnavailable)

    def test_stop_closes_the_pool(self):
        closed = Deferred()

        class Pool:
            def closeCachedConnections(self):
                return closed

        source = LMSSource("http://h:9000", StubTreq(self.lms), self.clock, Pool())
        self.assertIs(source.stop(), closed)


class CredentialTests(SynchronousTestCase):
    def test_credentials_are_basic_auth_and_never_shown(self):
        seen = []

        class Guarded(FakeLMS):
            def render_POST(self, request):
                seen.append(request.getHeader(b"authorization"))
                request.setResponseCode(401)
                return b"no"

        source = LMSSource("http://dj:s%40cret@lms.example:9000/?player=p", StubTreq(Guarded()), Clock())
        failure = self.failureResultOf(source.status(), SourceUnavailable)
        self.assertEqual(seen, [b"Basic " + base64.b64encode(b"dj:s@cret")])
        self.assertEqual(source.url, "http://lms.example:9000/jsonrpc.js")
        self.assertEqual(source.description, "LMS at lms.example:9000")
        self.assertNotIn("cret", str(failure.value))

    def test_split_credentials(self):
        self.assertEqual(split_credentials("http://h:1/x"), ("http://h:1/x", None))
        self.assertEqual(split_credentials("https://u@[::1]:9000/p?q#f"),
                         ("https://[::1]:9000/p?q#f", ("u", "")))
