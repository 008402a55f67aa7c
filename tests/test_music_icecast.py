"""The Icecast source against status-json.xsl replies recorded from Icecast 2.4.4."""

import os

from treq.testing import StubTreq
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.music.icecast import IcecastSource
from pubbot.music.interfaces import IMusicSource, SourceUnavailable, Unsupported
from pubbot.music.track import Status, Track

from .support.music import FakeIcecast

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "music")




class IcecastTests(SynchronousTestCase):
    def setUp(self):
        self.server = FakeIcecast()
        self.clock = Clock()
        self.http = StubTreq(self.server)

    def source(self, url="http://radio.example:8000/status-json.xsl"):
        return IcecastSource(url, self.http, self.clock)

    def test_provides_the_interface(self):
        verifyObject(IMusicSource, self.source())

    def test_first_mount_by_default(self):
        self.server.use("icecast_two.json")
        status = self.successResultOf(self.source().status())
        # The lobby mount has no title yet: its server name stands in.
        self.assertEqual(status, Status("play", Track("Lobby", "", "", "/lobby")))
        self.assertEqual(self.server.paths, [b"/status-json.xsl"])

    def test_mount_from_the_fragment(self):
        self.server.use("icecast_two.json")
        status = self.successResultOf(self.source("http://radio.example:8000/status-json.xsl#/office").status())
        self.assertEqual(status.track, Track('Rubbish "Choon"', "The Office Band", "", "/office"))

    def test_no_title_and_no_stream_name(self):
        self.server.body = (b'{"icestats": {"source": {"listenurl": "http://r:8000/office",'
                            b' "server_name": "Unspecified name"}}}')
        self.assertEqual(self.successResultOf(self.source().status()).track.title, "/office")

    def test_artist_dash_title_is_split(self):
        self.server.use("icecast_one.json")
        track = self.successResultOf(self.source().status()).track
        self.assertEqual((track.title, track.artist), ('Lift "Music"\\', "Muzak Ensemble"))

    def test_no_mounts_is_stopped(self):
        self.server.use("icecast_none.json")
        self.assertEqual(self.successResultOf(self.source().status()), Status("stop"))
        self.server.use("icecast_two.json")
        missing = self.source("http://radio.example:8000/status-json.xsl#/gone")
        self.assertEqual(self.successResultOf(missing.status()), Status("stop"))

    def test_raw_control_characters_in_titles_are_tolerated(self):
        # Icecast copies metadata into its JSON without escaping control characters.
        self.server.body = b'{"icestats": {"source": {"listenurl": "http://r/x", "title": "A\tB\x01C"}}}'
        self.assertEqual(self.successResultOf(self.source().status()).track.title, "A B C")

    def test_hostile_replies_are_unavailable(self):
        for body in (b'{"icestats": {"source": {"title": "unescaped "quote""}}}', b"[]", b'{"icestats": 3}',
                     b"", b"\x00\x01"):
            self.server.body = body
            self.failureResultOf(self.source().status(), SourceUnavailable)
        self.server.code = 404
        self.server.use("icecast_one.json")
        self.failureResultOf(self.source().status(), SourceUnavailable)

    def test_odd_shapes_do_not_crash(self):
        self.server.body = b'{"icestats": {"source": [1, "x", {"title": 5, "listenurl": 7}]}}'
        self.assertEqual(self.successResultOf(self.source().status()).track.title, "5")

    def test_read_only(self):
        source = self.source()
        self.assertFalse(source.controllable)
        self.failureResultOf(source.skip(1), Unsupported)
        self.failureResultOf(source.queue("artist", "x", True), Unsupported)
        self.assertEqual(self.server.paths, [])
