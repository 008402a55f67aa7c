"""LMS and Icecast through the real treq client and Agent against a local twisted.web server."""

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase
from twisted.web.server import NOT_DONE_YET, Site

from pubbot.music.interfaces import SourceUnavailable
from pubbot.music.sources import make_source
from pubbot.music.track import Track

from .support.hostile_http import HostileHTTPServer, endless_headers
from .support.music import FakeIcecast, FakeLMS


class RealHTTPTests(TestCase):
    timeout = 30

    def serve(self, resource):
        port = reactor.listenTCP(0, Site(resource), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return port.getHost().port

    def source(self, spec):
        source = make_source(spec, reactor)
        self.addCleanup(source.stop)
        return source

    async def test_icecast(self):
        server = FakeIcecast()
        server.use("icecast_two.json")
        port = self.serve(server)
        source = self.source("icecast:http://127.0.0.1:%d/status-json.xsl#/office" % (port,))
        status = await source.status()
        self.assertEqual(status.track, Track('Rubbish "Choon"', "The Office Band", "", "/office"))
        server.code = 404
        with self.assertRaises(SourceUnavailable):
            await source.status()
        # Let the connection go back to the pool before the pool is closed.
        await deferLater(reactor, 0.05, lambda: None)

    async def test_lms(self):
        lms = FakeLMS()
        port = self.serve(lms)
        source = self.source("lms:http://127.0.0.1:%d/" % (port,))
        self.assertEqual((await source.status()).track.title, "Rubbish Choon")
        await source.skip(1)
        self.assertEqual(lms.commands()[-1], ["00:04:20:12:34:56", ["playlist", "index", "+1"]])

    async def test_a_silent_server_times_out(self):
        requests = []

        class Silent(FakeLMS):
            def render_POST(self, request):
                requests.append(request)
                return NOT_DONE_YET

        port = self.serve(Silent())
        source = self.source("lms:http://127.0.0.1:%d/?player=p" % (port,))
        source.timeout = 0.3
        with self.assertRaises(SourceUnavailable):
            await source.status()
        self.assertEqual(len(requests), 1)
        for request in requests:
            if not request.finished:
                request.loseConnection()

    async def test_nothing_listening(self):
        source = self.source("lms:http://127.0.0.1:1/?player=p")
        with self.assertRaises(SourceUnavailable) as e:
            await source.status()
        self.assertIn("cannot reach LMS at 127.0.0.1:1", str(e.exception))

    async def test_endless_headers_are_cut_off(self):
        server = HostileHTTPServer(reactor, max_seconds=20)
        self.addCleanup(server.stop)
        url = server.route("/status-json.xsl", endless_headers())
        source = self.source("icecast:%s#/office" % (url,))
        with self.assertRaises(SourceUnavailable) as e:
            await source.status()
        self.assertIn("more than 128 response header lines", str(e.exception))
        await server.closed()
        self.assertLess(server.stats["/status-json.xsl"].sent, 8 * 1024 * 1024)
