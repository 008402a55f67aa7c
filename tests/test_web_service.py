"""The web service on real sockets (real reactor): listening, a taken port,
2,000 SSE connect/disconnect cycles, and a client that never reads; the
live feed's batch observer and the hub's publish_many."""

import gc
import json
import os
import socket

import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import LogLevel, formatEvent
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.core.message import Message
from pubbot.testing import Harness
from pubbot.web.feed import LiveFeed, format_chat, format_message
from pubbot.web.service import WebService
from pubbot.web.sse import Client, EventHub

from .support.logs import capture_logs
from .support.servers import free_port


def turn(seconds=0.0):
    return deferLater(reactor, seconds, lambda: None)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


class WebServiceTests(TestCase):
    def setUp(self):
        self.h = Harness()
        self.port = free_port()
        self.service = WebService(self.h.bot, reactor, endpoint="tcp:%d:interface=127.0.0.1" % self.port)

    async def start(self):
        self.service.startService()
        self.addCleanup(self.service.stopService)
        port = await self.service.listening
        self.assertIsNotNone(port)
        return "http://127.0.0.1:%d/" % self.port

    def test_serves_status_and_page(self):
        async def run():
            base = await self.start()
            response = await treq.get(base + "status", persistent=False)
            self.assertEqual(response.code, 200)
            state = json.loads(await response.text())
            self.assertEqual(state["process_id"], self.h.bot.process_id)
            page = await (await treq.get(base, persistent=False)).text()
            self.assertIn("<title>pubbot</title>", page)
            js = await treq.get(base + "static/app.js", persistent=False)
            self.assertEqual(js.code, 200)
            listing = await treq.get(base + "static/", persistent=False)
            self.assertEqual(listing.code, 404)  # no directory listings
            await listing.text()
        return Deferred.fromCoroutine(run())

    def test_static_files_are_public_with_a_token(self):
        # the login form needs its CSS; the page's code holds no secrets
        async def run():
            self.service = WebService(self.h.bot, reactor, endpoint="tcp:%d:interface=127.0.0.1" % self.port,
                                      token="tok")
            base = await self.start()
            response = await treq.get(base + "static/style.css", persistent=False)
            self.assertEqual(response.code, 200)
            self.assertIn("--bg", await response.text())
            self.assertEqual(response.headers.getRawHeaders("x-content-type-options"), ["nosniff"])
            for path in ("status", "static/../status", "static/%2e%2e/status", ""):
                response = await treq.get(base + path, persistent=False, allow_redirects=False)
                self.assertIn(response.code, (401, 303, 404), (path, response.code))
                await response.content()
        return Deferred.fromCoroutine(run())

    def test_taken_port_is_logged_and_the_bot_runs_on(self):
        async def run():
            blocker = socket.socket()
            blocker.bind(("127.0.0.1", self.port))
            blocker.listen(1)
            self.addCleanup(blocker.close)
            events = capture_logs(self)
            self.service.startService()
            port = await self.service.listening
            self.assertIsNone(port)
            self.assertTrue(self.service.running)
            messages = [formatEvent(e) for e in events if e.get("log_level") == LogLevel.error]
            self.assertEqual(len(messages), 1)
            self.assertIn("web: cannot listen on tcp:%d:interface=127.0.0.1" % self.port, messages[0])
            self.assertIn("the bot runs on", messages[0])
            await self.service.stopService()
        return Deferred.fromCoroutine(run())

    def test_stop_ends_streams_and_stops_listening(self):
        async def run():
            await self.start()
            s = socket.create_connection(("127.0.0.1", self.port))
            self.addCleanup(s.close)
            s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            while not self.service.hub.clients:
                await turn(0.01)
            await self.service.stopService()
            self.assertEqual(self.service.hub.clients, set())
            self.assertEqual(self.h.bot.sent_observers, [])
            s.settimeout(5)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            self.assertTrue(data.endswith(b"0\r\n\r\n"))
            self.assertRaises(OSError, socket.create_connection, ("127.0.0.1", self.port))
        return Deferred.fromCoroutine(run())

    def test_two_thousand_real_connect_disconnect_cycles(self):
        async def run():
            await self.start()
            hub = self.service.hub
            await turn()
            gc.collect()
            fds = open_fds()
            for i in range(2000):
                s = socket.create_connection(("127.0.0.1", self.port))
                s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
                while not hub.clients:
                    await turn()
                if i % 10 == 0:
                    hub.publish("bus", i, lambda raw: {"n": raw})
                s.close()
                while hub.clients:
                    await turn()
            self.assertEqual(hub.connects_total, 2000)
            for _ in range(50):
                if open_fds() <= fds:
                    break
                await turn(0.01)
            self.assertLessEqual(open_fds(), fds)
            gc.collect()
            # (other tests' hubs may still hold their clients: count this hub's)
            self.assertEqual([o for o in gc.get_objects() if isinstance(o, Client) and o.hub is hub], [])
            self.assertIsNone(hub._beat)
        return Deferred.fromCoroutine(run())

    def test_client_that_never_reads_does_not_grow_memory(self):
        async def run():
            await self.start()
            hub = self.service.hub
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            s.connect(("127.0.0.1", self.port))
            self.addCleanup(s.close)
            s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
            while not hub.clients:
                await turn(0.01)
            client = next(iter(hub.clients))
            hub.flush_delay = 0.001
            text = "x" * 1000
            published = 0
            for _batch in range(200):  # 200 x 200 events of ~1 kB: ~40 MB offered
                for _ in range(200):
                    hub.publish("chat", text, lambda raw: {"content": raw})
                    published += 1
                await turn(0.002)
                await turn()
            self.assertTrue(client.paused)
            written = client.written
            self.assertLess(written, 16 * 1024 * 1024)  # kernel buffers plus one batch at most
            transport = client.request.channel.transport
            buffered = len(transport.dataBuffer) + sum(len(b) for b in transport._tempDataBuffer)
            self.assertLess(buffered, 1024 * 1024)
            # more events while paused add nothing
            for _ in range(5000):
                hub.publish("chat", text, lambda raw: {"content": raw})
            await turn(0.1)
            self.assertEqual(client.written, written)
            # once it reads, it catches up with a gap notice
            s.setblocking(False)
            seen = b""
            for _ in range(2000):
                try:
                    seen += s.recv(1 << 20)
                except BlockingIOError:
                    await turn(0.005)
                if b'"kind":"gap"' in seen:
                    break
                seen = seen[-200000:]
            self.assertIn(b'"kind":"gap"', seen)
        return Deferred.fromCoroutine(run())


def events(hub):
    return [(e.number, e.kind, e.time, e.raw, e.format) for e in hub.events]


class FeedBatchTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness()
        self.hub = EventHub(self.h.clock, backlog=10, run="0badf00d")
        self.feed = LiveFeed(self.h.bot, self.hub)
        self.feed.attach()

    def lines(self, *texts, network="irc"):
        protocol = "console" if network == "console" else "irc"
        return [Message("chat.%s.#c.chat" % network, {"network": network, "protocol": protocol, "content": t})
                for t in texts]

    def test_attached_once_per_batch_and_detached(self):
        dispatcher = self.h.bot.dispatcher
        self.feed.attach()
        self.assertEqual(dispatcher.batch_observers, [self.feed.on_messages])
        self.assertNotIn(self.feed.on_message, dispatcher.observers)
        self.feed.detach()
        self.feed.detach()
        self.assertEqual(dispatcher.batch_observers, [])
        self.h.bot.bus.submit_many(self.lines("a", "b"))
        self.assertEqual(len(self.hub.events), 0)

    def test_a_batch_is_counted_and_published_in_order(self):
        irc, console = self.lines("a", "b", "c"), self.lines("d", network="console")
        bus = [Message("music.track", {"title": "Song"})]
        self.h.bot.dispatcher.dispatch_many([irc[0], console[0], irc[1], bus[0], irc[2]])
        self.assertEqual(self.feed.lines_in, {"irc": 3, "console": 1})
        # The dispatcher gives each topic's messages together, in order.
        self.assertEqual([(e.kind, e.raw) for e in self.hub.events],
                         [("chat", m) for m in irc] + [("chat", console[0]), ("bus", bus[0])])
        self.assertEqual([e.number for e in self.hub.events], [1, 2, 3, 4, 5])

    def test_a_mixed_batch_given_directly_keeps_its_order(self):
        mixed = [*self.lines("a"), Message("music.track", {}), *self.lines("b", network="console")]
        self.feed.on_messages(mixed)
        self.assertEqual([(e.kind, e.raw) for e in self.hub.events],
                         [("chat", mixed[0]), ("bus", mixed[1]), ("chat", mixed[2])])
        self.assertEqual(self.feed.lines_in, {"irc": 1, "console": 1})
        self.feed.on_messages([])
        self.assertEqual(len(self.hub.events), 3)

    def test_batches_of_one_place_and_mixed_ones_count_alike(self):
        def said(text, channel="#c", private=False, network="irc"):
            return Message("chat.%s.%s.chat" % (network, channel),
                           {"network": network, "channel": channel, "private": private, "content": text})

        public = [said("a"), said("b")]
        private = [said("c", "alice", True)]
        mixed = [said("d"), said("e", private=True), said("f", network="other")]  # one topic, odd fields
        for batch in (public, private, mixed):
            self.feed.on_messages(batch)
        self.assertEqual(self.feed.lines_in, {"irc": 5, "other": 1})
        self.assertEqual(self.feed.lines_by_channel, {("irc", "#c"): 3, ("other", "#c"): 1})
        # Private lines are counted, not shown.
        self.assertEqual([e.raw for e in self.hub.events], [*public, mixed[0], mixed[2]])

    def test_publish_many_is_publish_for_each(self):
        one, many = EventHub(Clock(), backlog=10, run="x"), EventHub(Clock(), backlog=10, run="x")
        for raws in (["a", "b"], [], ["c"] * 9, ["d", "e", "f"], list("ghijklmnopqrstuvwxyz")):
            for raw in raws:
                one.publish("chat", raw, format_chat)
            many.publish_many("chat", raws, format_chat)
            self.assertEqual(events(many), events(one))
            self.assertEqual(many.newest, one.newest)
        self.assertEqual(many.newest, 34)
        self.assertEqual([e.number for e in many.events], list(range(25, 35)))

    def test_publish_many_schedules_one_flush_for_clients(self):
        clock = Clock()
        hub = EventHub(clock, run="x")
        hub.clients.add(object())
        hub.publish_many("bus", [Message("t", {})] * 3, format_message)
        self.assertEqual(len(clock.getDelayedCalls()), 1)
        hub.clients.clear()
        clock.advance(1)
        self.assertEqual(hub._flushed, 3)
