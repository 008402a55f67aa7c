"""SafeFetcher against a hostile HTTP server: every response is capped in headers, body and time."""

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from pubbot.links.fetch import FetchError, SafeFetcher
from pubbot.links.limits import MAX_HEADER_BYTES, MAX_HEADER_LINES

from .support.hostile_http import (
    HostileHTTPServer,
    bad_charset,
    drip_body,
    drip_headers,
    endless_body,
    endless_headers,
    hostile_pages,
    huge_body,
    interim_forever,
    long_header_line,
    many_headers,
    response,
    unusual_charsets,
)
from .support.linkserver import async_test

KB = 1024
MB = 1024 * KB


class HostileFetchTests(TestCase):

    def setUp(self):
        self.server = HostileHTTPServer(reactor, max_seconds=20.0)
        self.addCleanup(self.server.stop)

    def fetcher(self, **kwargs):
        kwargs.setdefault("allow", ["127.0.0.1"])
        kwargs.setdefault("timeout", 10)
        return SafeFetcher(reactor, **kwargs)

    async def failure(self, path, behaviour, **kwargs) -> str:
        url = self.server.route(path, behaviour)
        with self.assertRaises(FetchError) as e:
            await self.fetcher(**kwargs).fetch(url)
        await self.server.closed()
        return str(e.exception)

    @async_test
    async def test_endless_headers(self):
        message = await self.failure("/endless", endless_headers(b"X-Pad: " + b"p" * 4000))
        self.assertIn("response headers over %d bytes" % (MAX_HEADER_BYTES,), message)
        # The client stopped reading at once: what was sent is what the sockets could hold.
        self.assertLess(self.server.stats["/endless"].sent, 8 * MB)

    @async_test
    async def test_endless_short_headers(self):
        message = await self.failure("/short", endless_headers(b"X: y"))
        self.assertIn("more than %d response header lines" % (MAX_HEADER_LINES,), message)

    @async_test
    async def test_too_many_headers(self):
        message = await self.failure("/many", many_headers(1000))
        self.assertIn("more than %d response header lines" % (MAX_HEADER_LINES,), message)
        page = await self.fetcher().fetch(self.server.route("/some", many_headers(60)))
        self.assertEqual(page.title, "many headers")

    @async_test
    async def test_long_header_line(self):
        message = await self.failure("/long", long_header_line(10 * MB))
        self.assertIn("cannot fetch", message)
        self.assertLess(self.server.stats["/long"].sent, 8 * MB)

    @async_test
    async def test_informational_responses_without_end(self):
        message = await self.failure("/interim", interim_forever())
        self.assertIn("response header", message)
        self.assertLess(self.server.stats["/interim"].sent, 8 * MB)

    @async_test
    async def test_headers_one_byte_a_second(self):
        message = await self.failure("/drip", drip_headers(0.2), timeout=1.0)
        self.assertEqual(message, "timed out after 1s")
        self.assertEqual(self.server.stats["/drip"].endings, ["client closed"])

    @async_test
    async def test_body_one_byte_a_second(self):
        message = await self.failure("/dripbody", drip_body(0.2), timeout=1.0)
        self.assertEqual(message, "timed out after 1s")
        self.assertEqual(self.server.stats["/dripbody"].endings, ["client closed"])

    @async_test
    async def test_body_without_end(self):
        page = await self.fetcher(max_bytes=256 * KB).fetch(self.server.route("/endless", endless_body()))
        await self.server.closed()
        self.assertEqual(len(page.body), 256 * KB)
        self.assertFalse(page.complete)
        self.assertLess(self.server.stats["/endless"].sent, 8 * MB)
        self.assertEqual(self.server.stats["/endless"].endings, ["client closed"])

    @async_test
    async def test_huge_body(self):
        url = self.server.route("/huge", huge_body(200 * MB, start=b"<html><p>no title"))
        page = await self.fetcher(max_bytes=512 * KB).fetch(url)
        await self.server.closed()
        self.assertEqual((len(page.body), page.length, page.complete, page.title),
                         (512 * KB, 200 * MB, False, None))
        self.assertLess(self.server.stats["/huge"].sent, 8 * MB)

    @async_test
    async def test_other_content_without_end_is_not_read(self):
        url = self.server.route("/binary", endless_body(b"application/octet-stream"))
        page = await self.fetcher().fetch(url)
        await self.server.closed()
        self.assertEqual((page.content_type, page.body, page.length), ("application/octet-stream", b"", None))
        self.assertLess(self.server.stats["/binary"].sent, 8 * MB)

    @async_test
    async def test_ordinary_page(self):
        page = await self.fetcher().fetch(self.server.route("/ok", response(b"<title>fine</title>")))
        self.assertEqual(page.title, "fine")

    @async_test
    async def test_pathological_pages(self):
        for i, (name, body) in enumerate(hostile_pages(MB)):
            page = await self.fetcher().fetch(self.server.route("/page%d" % (i,), response(body)))
            self.assertTrue(page.title is None or isinstance(page.title, str), name)

    @async_test
    async def test_unusual_charsets_are_read_as_utf8(self):
        for label, body in unusual_charsets():
            for in_meta in (False, True):
                url = self.server.route("/%s/%s" % (label, in_meta), bad_charset(label, body, in_meta))
                fetched = await self.fetcher().fetch(url)
                self.assertTrue(fetched.title is None or isinstance(fetched.title, str), label)
            url = self.server.route("/" + label, bad_charset(label))
            self.assertEqual((await self.fetcher().fetch(url)).title, "caf\u00e9")
