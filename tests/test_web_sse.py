"""The live feed hub: ids, backlog replay, heartbeats, cleanup, slow clients.

Requests go through the real twisted.web HTTP channel over a StringTransport,
on a MemoryReactorClock: no sockets, no sleeps.
"""

import gc
import json
import weakref
from collections import deque

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.interfaces import IPushProducer
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource
from twisted.web.server import Site
from zope.interface.verify import verifyObject

from pubbot.web.sse import Client, EventHub, EventsResource


def plain(raw):
    return {"n": raw}


class Conn:
    """One HTTP connection to a site, over a StringTransport."""

    def __init__(self, site, path=b"/events", headers=()):
        self.transport = StringTransport()
        self.channel = site.buildProtocol(None)
        self.channel.makeConnection(self.transport)
        lines = [b"GET " + path + b" HTTP/1.1", b"Host: dashboard"] + list(headers)
        self.channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n")

    def body(self):
        return self.transport.value()

    def events(self):
        """The data events received so far, decoded (chunked encoding removed)."""
        text = self.body().split(b"\r\n\r\n", 1)[1]
        out = []
        for record in _dechunk(text).split(b"\n\n"):
            fields = {}
            for line in record.split(b"\n"):
                if b": " in line and not line.startswith(b":"):
                    k, v = line.split(b": ", 1)
                    fields[k] = v
            if b"data" in fields:
                event = json.loads(fields[b"data"])
                event["_id"] = fields.get(b"id", b"").decode()
                out.append(event)
        return out

    def close(self):
        self.channel.connectionLost(Exception("client went away"))


def _dechunk(data):
    out = b""
    while data:
        size, _, rest = data.partition(b"\r\n")
        if not size:
            break
        n = int(size, 16)
        out += rest[:n]
        data = rest[n + 2:]
    return out


class HubTests(SynchronousTestCase):
    def setUp(self):
        self.clock = MemoryReactorClock()
        self.hub = EventHub(self.clock, backlog=10, initial=3, heartbeat=15.0, flush_delay=0.05,
                            run="0badf00d")
        root = Resource()
        root.putChild(b"events", EventsResource(self.hub))
        self.site = Site(root, reactor=self.clock)

    def publish(self, *numbers):
        for n in numbers:
            self.hub.publish("bus", n, plain)

    def test_publish_without_clients_is_lazy_and_bounded(self):
        calls = []

        def fmt(raw):
            calls.append(raw)
            return {}

        for n in range(1000):
            self.hub.publish("bus", n, fmt)
        self.assertEqual(calls, [])  # nothing encoded with no one listening
        self.assertEqual(len(self.hub.events), 10)
        self.assertEqual(self.hub.newest, 1000)
        self.assertEqual(self.clock.getDelayedCalls(), [])  # no timers either

    def test_stream_headers_and_events(self):
        c = Conn(self.site)
        head = c.body().split(b"\r\n\r\n", 1)[0].lower()
        self.assertIn(b"content-type: text/event-stream", head)
        self.assertIn(b"cache-control: no-cache", head)
        self.assertIn(b"retry: 2000", c.body())
        self.publish(1, 2)
        self.assertEqual(c.events(), [])  # batched
        self.clock.advance(0.05)
        self.assertEqual([(e["n"], e["kind"], e["_id"]) for e in c.events()],
                         [(1, "bus", "0badf00d-1"), (2, "bus", "0badf00d-2")])

    def test_first_client_after_quiet_time_costs_no_gap(self):
        self.publish(*range(1, 50))
        c = Conn(self.site)
        self.publish(50)
        self.clock.advance(0.05)
        self.assertEqual([e["n"] for e in c.events()], [47, 48, 49, 50])
        self.assertEqual(self.hub.gaps_total, 0)

    def test_new_client_gets_recent_backlog(self):
        self.publish(*range(1, 8))
        c = Conn(self.site)
        self.assertEqual([e["n"] for e in c.events()], [5, 6, 7])

    def test_reconnect_with_last_event_id_gets_what_it_missed(self):
        c = Conn(self.site)
        self.publish(1, 2, 3)
        self.clock.advance(0.05)
        last = c.events()[-1]["_id"]
        c.close()
        self.publish(4, 5, 6)
        again = Conn(self.site, headers=[b"Last-Event-ID: " + last.encode()])
        self.assertEqual([e["n"] for e in again.events()], [4, 5, 6])
        self.assertEqual(again.events()[-1]["_id"], "0badf00d-6")

    def test_last_event_id_as_query_argument(self):
        self.publish(1, 2, 3, 4, 5)
        c = Conn(self.site, path=b"/events?last_event_id=0badf00d-4")
        self.assertEqual([e["n"] for e in c.events()], [5])

    def test_reconnect_after_backlog_moved_on_gets_a_gap(self):
        self.publish(1, 2)
        self.publish(*range(3, 30))
        c = Conn(self.site, headers=[b"Last-Event-ID: 0badf00d-2"])
        events = c.events()
        self.assertEqual(events[0]["kind"], "gap")
        self.assertEqual(events[0]["missed"], 17)  # 3..19 fell out of a backlog of 10
        self.assertEqual([e["n"] for e in events[1:]], list(range(20, 30)))
        self.assertEqual(events[0]["_id"], "")  # a gap notice has no id

    def test_foreign_or_bad_last_event_id_is_a_new_client(self):
        self.publish(*range(1, 8))
        for value in (b"deadbeef-3", b"0badf00d-99", b"garbage", b"0badf00d--1", b"x" * 5000,
                      b"0badf00d-" + b"9" * 40, b"\xff\xfe"):
            c = Conn(self.site, headers=[b"Last-Event-ID: " + value])
            self.assertEqual([e["n"] for e in c.events()], [5, 6, 7], value)
            c.close()

    def test_heartbeats_on_the_clock(self):
        c = Conn(self.site)
        before = c.body()
        self.clock.advance(14.9)
        self.assertEqual(c.body(), before)
        self.clock.advance(0.2)
        self.assertIn(b": ping\n\n", c.body()[len(before):])
        c.close()
        self.assertEqual(self.clock.getDelayedCalls(), [])  # the loop stops with the last client

    def test_disconnect_cleans_up_at_once(self):
        c = Conn(self.site)
        self.assertEqual(len(self.hub.clients), 1)
        verifyObject(IPushProducer, next(iter(self.hub.clients)))
        c.close()
        self.assertEqual(self.hub.clients, set())

    def test_two_thousand_cycles_leak_nothing(self):
        gc.collect()
        refs = []
        for i in range(2000):
            c = Conn(self.site)
            refs.append(weakref.ref(next(iter(self.hub.clients))))
            if i % 7 == 0:
                self.publish(i)
                self.clock.advance(0.05)
            c.close()
        self.assertEqual(self.hub.clients, set())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.hub.events), 10)
        del c
        gc.collect()
        self.assertEqual([r for r in refs if r() is not None], [])
        self.assertEqual([o for o in gc.get_objects() if isinstance(o, Client) and o.hub is self.hub], [])

    def test_slow_client_is_paused_then_catches_up_bounded(self):
        c = Conn(self.site)
        self.publish(1)
        self.clock.advance(0.05)
        # the transport's buffer is full: the HTTP channel pauses its producer
        c.transport.producer.pauseProducing()
        client = next(iter(self.hub.clients))
        self.assertTrue(client.paused)
        size = len(c.body())
        for n in range(2, 100002):
            self.hub.publish("bus", n, plain)
            if n % 1000 == 0:
                self.clock.advance(0.05)
        self.assertEqual(len(c.body()), size)  # nothing written, nothing buffered
        self.assertEqual(len(self.hub.events), 10)
        c.transport.producer.resumeProducing()
        events = c.events()
        self.assertEqual(events[1]["kind"], "gap")
        self.assertEqual(events[1]["missed"], 99990)
        self.assertEqual([e["n"] for e in events[2:]], list(range(99992, 100002)))
        self.assertLess(len(c.body()) - size, 2000)

    def test_burst_faster_than_the_backlog_is_marked_as_a_gap(self):
        c = Conn(self.site)
        self.publish(*range(1, 26))  # 25 events between two flushes, backlog 10
        self.clock.advance(0.05)
        events = c.events()
        self.assertEqual((events[0]["kind"], events[0]["missed"]), ("gap", 15))
        self.assertEqual([e["n"] for e in events[1:]], list(range(16, 26)))

    def test_client_paused_too_long_is_dropped(self):
        self.hub.max_paused = 60
        c = Conn(self.site)
        c.transport.producer.pauseProducing()
        self.clock.advance(75)
        self.assertEqual(self.hub.clients, set())
        self.assertEqual(self.hub.dropped_total, 1)
        self.assertTrue(c.transport.disconnecting or c.transport.disconnected)

    def test_head_is_not_a_client(self):
        c = Conn(self.site)
        head = Conn.__new__(Conn)
        head.transport = StringTransport()
        head.channel = self.site.buildProtocol(None)
        head.channel.makeConnection(head.transport)
        head.channel.dataReceived(b"HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"text/event-stream", head.body())
        self.assertEqual(len(self.hub.clients), 1)
        c.close()

    def test_too_many_clients_are_refused(self):
        self.hub.max_clients = 2
        Conn(self.site)
        Conn(self.site)
        third = Conn(self.site)
        self.assertIn(b"503", third.body().split(b"\r\n", 1)[0])
        self.assertEqual(self.hub.refused_total, 1)
        self.assertEqual(len(self.hub.clients), 2)

    def test_close_ends_every_stream(self):
        conns = [Conn(self.site) for _ in range(3)]
        self.hub.close()
        self.assertEqual(self.hub.clients, set())
        for c in conns:
            self.assertTrue(c.body().endswith(b"0\r\n\r\n"))  # the last chunk
            self.assertTrue(c.transport.disconnecting)
        self.assertIsNone(self.hub._beat)

    def test_unformattable_event_does_not_break_the_stream(self):
        c = Conn(self.site)

        def broken(raw):
            raise ValueError("no")

        self.hub.publish("bus", 1, broken)
        self.publish(2)
        self.clock.advance(0.05)
        events = c.events()
        self.assertIn("unformattable", events[0]["error"])
        self.assertEqual(events[1]["n"], 2)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_hostile_text_stays_one_data_line(self):
        c = Conn(self.site)
        self.hub.publish("chat", "a\r\nid: 7\n\ndata: x\udcff\u2028", lambda raw: {"content": raw})
        self.clock.advance(0.05)
        events = c.events()
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["content"], "a\r\nid: 7\n\ndata: x\udcff\u2028")


class BacklogTests(SynchronousTestCase):
    """Batches are made into events only when the backlog is read: it must hold what it always did."""

    @given(st.lists(st.tuples(st.integers(0, 13), st.booleans()), max_size=25), st.integers(0, 6))
    def test_the_backlog_holds_the_newest_events_in_order(self, steps, backlog):
        clock = MemoryReactorClock()
        hub = EventHub(clock, backlog=backlog, run="0badf00d")
        expected: deque = deque(maxlen=backlog)  # (number, kind, time, raw)
        number = 0
        for size, read in steps:
            clock.advance(1)
            raws = ["raw%d" % (number + i) for i in range(size)]
            kind = "bus" if size == 1 else "chat"
            if size == 1:
                hub.publish(kind, raws[0], plain)
            else:
                hub.publish_many(kind, raws, plain)
            for raw in raws:
                number += 1
                expected.append((number, kind, clock.seconds(), raw))
            raws.clear()  # the caller's list is not the backlog's
            if read:
                self.assertEqual([(e.number, e.kind, e.time, e.raw) for e in hub.events], list(expected))
        self.assertEqual(hub.newest, number)
        self.assertEqual([(e.number, e.kind, e.time, e.raw) for e in hub.events], list(expected))


class LastIdTests(SynchronousTestCase):
    @given(st.text(max_size=200))
    def test_parse_last_id_never_raises(self, value):
        hub = EventHub(MemoryReactorClock(), run="0badf00d")
        hub.newest = 10
        result = hub.parse_last_id(value)
        self.assertTrue(result is None or 0 <= result <= 10)
