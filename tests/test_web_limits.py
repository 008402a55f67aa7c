"""The web service's limits: request bodies refused before twisted.web buffers them, slow
clients dropped, open connections capped."""

import contextlib
import socket
import time

from treq.client import HTTPClient
from twisted.internet import reactor, ssl
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import inlineCallbacks
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.internet.threads import deferToThread
from twisted.logger import formatEvent
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from pubbot.web.limits import HEADER_TIMEOUT, MAX_PER_ADDRESS, MAX_REQUEST_BODY
from pubbot.web.service import QuietSite

from .support.linkserver import SNIRecorder, async_test, make_ca_and_cert
from .support.logs import capture_logs


class Echo(Resource):
    isLeaf = True

    def render_POST(self, request):
        return b"got %d" % (len(request.content.read()),)


def exchange(port, head, body_chunks=()):
    """Send a request by hand; return what the server answered."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(head)
        sent = 0
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # the server closed on us, as it should
        answer = b""
        try:
            while True:
                data = s.recv(65536)
                if not data:
                    break
                answer += data
        except OSError:
            pass
        return answer, sent


class LimitTests(TestCase):
    def setUp(self):
        self.port = reactor.listenTCP(0, QuietSite(Echo()), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.number = self.port.getHost().port
        self.events = capture_logs(self)

    @inlineCallbacks
    def test_small_body_accepted(self):
        answer, _ = yield deferToThread(
            exchange, self.number,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        self.assertIn(b"200 OK", answer)
        self.assertTrue(answer.endswith(b"got 5"))

    @inlineCallbacks
    def test_announced_50mb_refused_at_once(self):
        head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (50 * 1024 * 1024,))
        answer, sent = yield deferToThread(exchange, self.number, head, [b"x" * 65536] * 800)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:80])
        self.assertLess(sent, 50 * 1024 * 1024)
        self.assertTrue(any("refused a request body" in formatEvent(e) for e in self.events))

    @inlineCallbacks
    def test_chunked_body_over_limit_refused(self):
        head = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        chunk = b"10000\r\n" + b"y" * 0x10000 + b"\r\n"
        count = MAX_REQUEST_BODY // 0x10000 + 40
        answer, _ = yield deferToThread(exchange, self.number, head, [chunk] * count)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413"), answer[:80])


class Slow(Resource):
    """GET /slow never finishes (like the live feed), /forbidden is a 403; the rest answers at once."""

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.waiting = []

    def render_GET(self, request):
        if request.path == b"/slow":
            self.waiting.append(request)
            return NOT_DONE_YET
        if request.path == b"/forbidden":
            request.setResponseCode(403)
            return b"no"
        return b"ok"

    render_POST = render_GET


class FakeConnection:
    """A connection to a site on a MemoryReactorClock, through StringTransport."""

    def __init__(self, site, host="10.0.0.1", port=40000):
        kind = IPv6Address if ":" in host else IPv4Address
        self.transport = StringTransport(peerAddress=kind("TCP", host, port))
        self.protocol = site.buildProtocol(self.transport.getPeer())
        self.protocol.makeConnection(self.transport)

    def send(self, data):
        self.protocol.dataReceived(data)

    @property
    def dropped(self):
        return self.transport.disconnecting or getattr(self.transport, "disconnected", False)


class DeadlineTests(SynchronousTestCase):
    """Slow clients are dropped: the deadlines hold however slowly the bytes drip."""

    def setUp(self):
        self.clock = MemoryReactorClock()
        self.resource = Slow()
        self.site = QuietSite(self.resource, reactor=self.clock)
        self.events = capture_logs(self)

    def logged(self, text):
        return [formatEvent(e) for e in self.events if text in formatEvent(e)]

    def drip(self, connection, data, interval):
        for i in range(len(data)):
            if connection.dropped:
                return i
            connection.send(data[i:i + 1])
            self.clock.advance(interval)
        return len(data)

    def test_headers_dripped_byte_by_byte_are_dropped(self):
        connection = FakeConnection(self.site)
        request = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
        sent = self.drip(connection, request, 1.0)  # well inside the 60 s idle timeout each time
        self.assertTrue(connection.dropped)
        self.assertLessEqual(sent, HEADER_TIMEOUT + 1)
        self.assertEqual(len(self.logged("no complete request headers within 10.0s")), 1)

    def test_a_silent_client_is_dropped(self):
        connection = FakeConnection(self.site)
        self.clock.advance(HEADER_TIMEOUT - 0.1)
        self.assertFalse(connection.dropped)
        self.clock.advance(0.2)
        self.assertTrue(connection.dropped)

    def test_body_deadline(self):
        connection = FakeConnection(self.site)
        connection.send(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        self.clock.advance(HEADER_TIMEOUT + 1)
        self.assertFalse(connection.dropped)  # the headers came in time
        sent = self.drip(connection, b"b" * 100, 1.0)
        self.assertTrue(connection.dropped)
        self.assertLess(sent, 100)
        self.assertEqual(len(self.logged("no complete request body within 30.0s")), 1)

    def test_refused_bodies_are_logged_once_a_minute(self):
        for i in range(5):
            connection = FakeConnection(self.site, port=41000 + i)
            connection.send(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (MAX_REQUEST_BODY + 1))
            self.assertTrue(connection.transport.value().startswith(b"HTTP/1.1 413"))
        self.assertEqual(len(self.logged("refused a request body")), 1)
        self.clock.advance(61)
        FakeConnection(self.site).send(b"POST / HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (10 ** 9,))
        self.assertEqual(len(self.logged("(4 more not logged)")), 1)

    def test_failed_requests_are_logged_once_a_minute_per_code(self):
        for i in range(20):
            connection = FakeConnection(self.site, port=42000 + i)
            connection.send(b"GET /forbidden HTTP/1.1\r\nHost: x\r\n\r\n")
            self.assertTrue(connection.transport.value().startswith(b"HTTP/1.1 403"))
        self.assertEqual(len(self.logged("-> 403")), 1)

    def test_a_long_response_is_not_cut(self):
        connection = FakeConnection(self.site)
        connection.send(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        self.clock.advance(3600)
        self.assertFalse(connection.dropped)
        self.assertEqual(len(self.resource.waiting), 1)

    def test_idle_keep_alive_connection_is_dropped(self):
        connection = FakeConnection(self.site)
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200 OK", connection.transport.value())
        self.clock.advance(HEADER_TIMEOUT / 2)
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")  # a second request in time
        self.assertEqual(connection.transport.value().count(b"200 OK"), 2)
        self.clock.advance(HEADER_TIMEOUT - 0.1)
        self.assertFalse(connection.dropped)
        self.clock.advance(0.2)
        self.assertTrue(connection.dropped)

    def test_pipelined_long_request_is_not_cut(self):
        connection = FakeConnection(self.site)
        connection.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertEqual(len(self.resource.waiting), 1)
        self.clock.advance(3600)
        self.assertFalse(connection.dropped)


class ConnectionLimitTests(SynchronousTestCase):

    def setUp(self):
        self.clock = MemoryReactorClock()
        self.site = QuietSite(Slow(), reactor=self.clock)
        self.events = capture_logs(self)

    def logged(self, text):
        return [formatEvent(e) for e in self.events if text in formatEvent(e)]

    def test_per_address(self):
        connections = [FakeConnection(self.site, "10.0.0.1", 1000 + i) for i in range(MAX_PER_ADDRESS)]
        self.assertFalse(any(c.dropped for c in connections))
        extra = [FakeConnection(self.site, "10.0.0.1", 2000 + i) for i in range(5)]
        for connection in extra:
            self.assertTrue(connection.transport.value().startswith(b"HTTP/1.1 503"))
            self.assertTrue(connection.dropped)
        self.assertFalse(FakeConnection(self.site, "10.0.0.2").dropped)  # another address is fine
        self.assertEqual(len(self.logged("refused a connection from 10.0.0.1")), 1)  # logged once
        connections[0].protocol.connectionLost(Failure(ConnectionDone()))
        self.assertFalse(FakeConnection(self.site, "10.0.0.1", 3000).dropped)
        self.assertEqual(self.site.open["10.0.0.1"], MAX_PER_ADDRESS)
        self.assertEqual(self.site.refused, 5)
        self.clock.advance(61)
        FakeConnection(self.site, "10.0.0.1", 4000)
        self.assertEqual(len(self.logged("(4 more not logged)")), 1)

    def test_an_ipv6_slash_64_is_one_address(self):
        for i in range(MAX_PER_ADDRESS):
            self.assertFalse(FakeConnection(self.site, "2001:db8:0:1::%x" % (i + 1,)).dropped)
        self.assertTrue(FakeConnection(self.site, "2001:db8:0:1:ffff::1").dropped)
        self.assertFalse(FakeConnection(self.site, "2001:db8:0:2::1").dropped)
        self.assertEqual(self.site.open["2001:db8:0:1::/64"], MAX_PER_ADDRESS)
        self.assertTrue(FakeConnection(self.site, "::ffff:10.0.0.9").transport.getPeer())
        self.assertEqual(self.site.open["10.0.0.9"], 1)

    def test_in_all(self):
        self.site.max_connections = 40
        connections = [FakeConnection(self.site, "10.0.%d.1" % (i,)) for i in range(40)]
        self.assertFalse(any(c.dropped for c in connections))
        self.assertTrue(FakeConnection(self.site, "10.1.0.1").dropped)
        self.assertEqual(len(self.logged("at most 40 in all")), 1)
        for connection in connections:
            connection.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual((self.site.total, self.site.open), (0, {}))

    def test_dropped_slow_clients_free_their_place(self):
        connections = [FakeConnection(self.site, "10.0.0.1", 1000 + i) for i in range(MAX_PER_ADDRESS)]
        self.clock.advance(HEADER_TIMEOUT + 1)
        self.assertTrue(all(c.dropped for c in connections))
        for connection in connections:  # StringTransport does not call connectionLost by itself
            connection.protocol.connectionLost(Failure(ConnectionDone()))
        self.assertEqual((self.site.total, self.site.open), (0, {}))
        self.assertFalse(FakeConnection(self.site, "10.0.0.1").dropped)


class RealSocketTests(TestCase):
    """The same on real sockets: idle and dripping clients are dropped, more than the cap refused."""

    def setUp(self):
        self.site = QuietSite(Slow(), reactor=reactor)
        self.site.header_timeout = 0.5
        self.site.max_per_address = 4
        self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.number = self.port.getHost().port

    @inlineCallbacks
    def test_slowloris(self):
        def slowloris(port):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                start = time.monotonic()
                try:
                    for byte in b"GET / HTTP/1.1\r\nHost: x\r\nX-A: " + b"a" * 100:
                        s.sendall(bytes([byte]))
                        time.sleep(0.05)
                except OSError:
                    return time.monotonic() - start
                return None
        elapsed = yield deferToThread(slowloris, self.number)
        self.assertIsNotNone(elapsed)
        self.assertLess(elapsed, 5)

    @inlineCallbacks
    def test_too_many_connections(self):
        def flood(port):
            sockets = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(6)]
            try:
                return [s.recv(100) for s in sockets[4:]]
            finally:
                for s in sockets:
                    s.close()
        answers = yield deferToThread(flood, self.number)
        self.assertEqual([a[:12] for a in answers], [b"HTTP/1.1 503"] * 2)


class TLSTests(TestCase):
    """The limits hold on a TLS listener too (the guard sits inside TLS)."""

    def setUp(self):
        ca_pem, cert_pem = make_ca_and_cert("localhost")
        self.site = QuietSite(Slow(), reactor=reactor)
        self.site.header_timeout = 0.5
        self.site.max_per_address = 2
        self.port = reactor.listenSSL(0, self.site, SNIRecorder(cert_pem), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.number = self.port.getHost().port
        policy = BrowserLikePolicyForHTTPS(trustRoot=ssl.Certificate.loadPEM(ca_pem))
        self.pool = HTTPConnectionPool(reactor, persistent=False)
        self.client = HTTPClient(Agent(reactor, policy, pool=self.pool))

    @async_test
    async def test_requests_and_deadlines_over_tls(self):
        url = "https://localhost:%d/" % (self.number,)
        response = await self.client.get(url)
        self.assertEqual((response.code, await response.content()), (200, b"ok"))

        def silent_tls_client(port):
            # connects, never starts TLS: dropped by the header deadline
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                start = time.monotonic()
                with contextlib.suppress(ConnectionResetError):  # aborted: a reset is as good as a close
                    self.assertEqual(s.recv(100), b"")
                return time.monotonic() - start
        elapsed = await deferToThread(silent_tls_client, self.number)
        self.assertLess(elapsed, 5)
        self.assertEqual(self.site.total, 0)
