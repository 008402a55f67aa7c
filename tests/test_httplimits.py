"""Response-head caps: the scanner, and a persistent pool that re-arms them per response."""

from hypothesis import given
from hypothesis import strategies as st
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, ResponseFailed
from zope.interface.verify import verifyObject

from pubbot.links.limits import GuardedEndpoint, LimitedPool, _HeadScanner

from .support.hostile_http import HostileHTTPServer, many_headers
from .support.linkserver import WebServer, async_test


def split(data: bytes, cuts: list) -> list:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, last = [], 0
    for p in points + [len(data)]:
        pieces.append(data[last:p])
        last = p
    return pieces


HEAD = (b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-A: b\r\n\r\n")


class ScannerTests(SynchronousTestCase):

    @given(st.lists(st.integers(min_value=0), max_size=20), st.booleans())
    def test_stops_at_the_end_of_the_real_head_however_split(self, cuts, bare_newlines):
        head = HEAD.replace(b"\r\n", b"\n") if bare_newlines else HEAD
        scanner = _HeadScanner(128, 65536)
        for piece in split(head + b"<html>body\n\nmore\n", cuts):
            self.assertIsNone(scanner.feed(piece))
        self.assertFalse(scanner.scanning)
        self.assertEqual(scanner.lines, 6)
        self.assertEqual(scanner.size, len(head))

    def test_caps(self):
        scanner = _HeadScanner(10, 1000)
        self.assertEqual(scanner.feed(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 20),
                         "more than 10 response header lines")
        scanner = _HeadScanner(10, 1000)
        self.assertIsNone(scanner.feed(b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 900))
        self.assertEqual(scanner.feed(b"a" * 200), "response headers over 1000 bytes")
        scanner = _HeadScanner(10, 1000)
        self.assertEqual(scanner.feed(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 10),
                         "more than 10 response header lines")

    def test_reset(self):
        scanner = _HeadScanner(10, 1000)
        scanner.feed(b"HTTP/1.1 200 OK\r\n\r\nbody")
        self.assertFalse(scanner.scanning)
        scanner.reset()
        self.assertEqual((scanner.scanning, scanner.lines, scanner.size), (True, 0, 0))


class PoolTests(TestCase):

    def test_interface(self):
        verifyObject(IStreamClientEndpoint, GuardedEndpoint(TCP4ClientEndpoint(reactor, "127.0.0.1", 1)))

    @async_test
    async def test_persistent_connections_are_capped_per_response(self):
        server = WebServer(reactor)
        self.addCleanup(server.stop)
        pool = LimitedPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        client = HTTPClient(Agent(reactor, pool=pool))
        for _ in range(3):
            response = await client.get(server.url("/plain"))
            self.assertEqual(await response.content(), b"<title>Plain page</title>")
        self.assertEqual(len(server.site.connections), 1)  # one connection, reused

    @async_test
    async def test_too_many_headers_fail_the_request(self):
        server = HostileHTTPServer(reactor)
        self.addCleanup(server.stop)
        pool = LimitedPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        client = HTTPClient(Agent(reactor, pool=pool))
        with self.assertRaises(ResponseFailed) as e:
            await client.get(server.route("/many", many_headers(500)))
        self.assertIn("more than 128 response header lines", str(e.exception.reasons[0].value))
