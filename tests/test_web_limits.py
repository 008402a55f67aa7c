"""Oversized request bodies are refused before twisted.web buffers them."""

import socket

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks
from twisted.internet.threads import deferToThread
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource

from pubbot.web.limits import MAX_REQUEST_BODY
from pubbot.web.service import QuietSite


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
        self.events = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

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
