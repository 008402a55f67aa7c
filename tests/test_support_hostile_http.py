"""The hostile HTTP server fixture itself: it serves its scripts and stops by itself."""

import socket

from twisted.internet import reactor
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from .support.hostile_http import (
    HostileHTTPServer,
    drip_headers,
    endless_headers,
    hostile_pages,
    response,
    unusual_charsets,
)
from .support.linkserver import async_test


def fetch_raw(port, path, limit=1 << 30, timeout=10.0):
    """Read what the server sends for C{path} until it closes or C{limit} bytes came."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        got = b""
        while len(got) < limit:
            data = s.recv(65536)
            if not data:
                break
            got += data
        return got


class HostileServerTests(TestCase):

    def setUp(self):
        self.server = HostileHTTPServer(reactor, max_bytes=1024 * 1024, max_seconds=2.0)
        self.addCleanup(self.server.stop)

    @async_test
    async def test_response(self):
        self.server.route("/page", response(b"<title>hi</title>"))
        got = await deferToThread(fetch_raw, self.server.number, b"/page")
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertTrue(got.endswith(b"\r\n\r\n<title>hi</title>"))
        got = await deferToThread(fetch_raw, self.server.number, b"/other")
        self.assertTrue(got.startswith(b"HTTP/1.1 404"))

    @async_test
    async def test_endless_behaviour_is_bounded_by_bytes(self):
        self.server.route("/forever", endless_headers())
        got = await deferToThread(fetch_raw, self.server.number, b"/forever")
        self.assertEqual(len(got), 1024 * 1024)
        await self.server.closed()
        self.assertEqual(self.server.stats["/forever"].endings, ["max_bytes"])

    @async_test
    async def test_drip_is_bounded_by_time(self):
        self.server.route("/drip", drip_headers(0.5))
        start = reactor.seconds()
        got = await deferToThread(fetch_raw, self.server.number, b"/drip")
        elapsed = reactor.seconds() - start
        self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"))
        self.assertLessEqual(len(got) - len(b"HTTP/1.1 200 OK\r\n"), 5)
        self.assertGreater(elapsed, 1.5)
        self.assertLess(elapsed, 8)
        await self.server.closed()
        self.assertEqual(self.server.stats["/drip"].endings, ["max_seconds"])

    def test_page_lists(self):
        pages = hostile_pages(4096)
        self.assertGreater(len(pages), 10)
        for name, body in pages:
            self.assertLessEqual(len(body), 4096 + 40, name)
        self.assertIn("punycode", dict(unusual_charsets()))
