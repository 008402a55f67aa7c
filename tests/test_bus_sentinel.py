"""
Finding the master through Redis Sentinel: parsing, then the discovery,
ROLE check, READONLY and +switch-master handling on a Clock (every
connection answered by the test, byte for byte, through txredisapi's real
protocol), then the same against real redis-sentinel processes.
"""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.task import Clock, deferLater
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.cluster.redisclient import SENTINEL_RETRY, RedisClient, RedisUnavailable
from pubbot.cluster.sentinel import (
    ASK_TIMEOUT,
    SWITCH,
    NoMaster,
    SentinelEndpoint,
    SentinelMaster,
    _WatchFactory,
    parse_host_port,
    parse_sentinels,
    switch_event,
)

from .support.servers import free_port
from .support.servers.sentinel import MASTER, SentinelGroup


def bulk(*items) -> bytes:
    """A RESP array of bulk strings (None: a null array)."""
    if items == (None,):
        return b"*-1\r\n"
    out = b"*%d\r\n" % len(items)
    for item in items:
        data = str(item).encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    return out


ROLE_MASTER = b"*3\r\n$6\r\nmaster\r\n:10\r\n*0\r\n"
ROLE_MASTER_1 = b"*3\r\n$6\r\nmaster\r\n:10\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n7002\r\n$2\r\n10\r\n"
ROLE_REPLICA = b"*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n:7000\r\n$9\r\nconnected\r\n:10\r\n"


class Attempt:
    """One connection the code asked for; the test accepts or refuses it and plays the server."""

    def __init__(self, host: str, port: int, factory, d: Deferred, clock: Clock):
        self.host, self.port, self.factory, self.d, self.clock = host, port, factory, d, clock
        self.protocol = None
        self.transport: StringTransport | None = None

    def accept(self) -> Attempt:
        self.transport = StringTransport()
        self.protocol = self.factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        self.d.callback(self.protocol)
        return self

    def refuse(self) -> None:
        self.d.errback(ConnectionRefusedError())

    def sent(self) -> bytes:
        assert self.transport is not None
        data = self.transport.value()
        self.transport.clear()
        return data

    def reply(self, raw: bytes) -> None:
        self.protocol.dataReceived(raw)
        # txredisapi reads the rest of a chunk on the next turn
        while any(c.getTime() <= self.clock.seconds() for c in self.clock.getDelayedCalls()):
            self.clock.advance(0)

    def lose(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))

    @property
    def closed(self) -> bool:
        return self.transport is not None and (self.transport.disconnecting
                                               or getattr(self.transport, "aborted", False))


class Net:
    """The TCP connections of a SentinelMaster, in the order asked for."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.attempts: deque = deque()
        self.watches: deque = deque()  # the sentinel event subscription's, kept apart

    def connect(self, host, port, factory, timeout) -> Deferred:
        d: Deferred = Deferred()
        watch = isinstance(getattr(factory, "_protocolFactory", factory), _WatchFactory)
        (self.watches if watch else self.attempts).append(Attempt(host, port, factory, d, self.clock))
        return d

    def next(self, where: tuple) -> Attempt:
        assert self.attempts, "no connection was asked for"
        attempt = self.attempts.popleft()
        assert (attempt.host, attempt.port) == where, ((attempt.host, attempt.port), where)
        return attempt


S1, S2, S3 = ("10.0.0.1", 26379), ("10.0.0.2", 26379), ("10.0.0.3", 26379)


class ParsingTests(SynchronousTestCase):
    def test_host_port(self):
        self.assertEqual(parse_host_port("127.0.0.1:26379"), ("127.0.0.1", 26379))
        self.assertEqual(parse_host_port("sentinel-1.example.org:1"), ("sentinel-1.example.org", 1))
        self.assertEqual(parse_host_port("[::1]:26380"), ("::1", 26380))

    def test_bad_host_port(self):
        for bad in ("", "host", "host:", ":26379", "host:0", "host:65536", "host:port", "a b:1",
                    "::1:26379", "[::1]26379", "redis://h:1", "h:1,h:2", "h:-1", "x" * 300 + ":1"):
            with self.assertRaises(ValueError, msg=bad):
                parse_host_port(bad)

    def test_sentinel_list(self):
        self.assertEqual(parse_sentinels(["a:1", "b:2"]), (("a", 1), ("b", 2)))
        with self.assertRaisesRegex(ValueError, "at least one"):
            parse_sentinels([])
        with self.assertRaisesRegex(ValueError, "twice"):
            parse_sentinels(["a:1", "a:1"])
        with self.assertRaisesRegex(ValueError, "at most"):
            parse_sentinels(["h%d:1" % i for i in range(40)])
        with self.assertRaisesRegex(ValueError, "'b'"):
            parse_sentinels(["a:1", "b"])

    @given(st.text(max_size=300))
    def test_host_port_never_fails_otherwise(self, text):
        try:
            host, port = parse_host_port(text)
        except ValueError:
            return
        self.assertTrue(host and 0 < port < 65536)
        again = ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)
        self.assertEqual(parse_host_port(again), (host, port))

    def test_switch_event(self):
        self.assertEqual(switch_event("pubbot 127.0.0.1 7000 127.0.0.1 7001", "pubbot"), ("127.0.0.1", 7001))
        for bad in ("other 127.0.0.1 7000 127.0.0.1 7001", "pubbot 127.0.0.1 7000 127.0.0.1",
                    "pubbot a 1 b 99999", "pubbot a 1 b x", "pubbot a 1 %s 1" % ("h" * 300), None, 7,
                    "pubbot " * 1000):
            self.assertIsNone(switch_event(bad, "pubbot"), bad)


class DiscoveryClockTests(SynchronousTestCase):
    """Step 1 and 2 of the client spec, timed by a Clock."""

    def setUp(self):
        self.clock = Clock()
        self.net = Net(self.clock)
        self.master = SentinelMaster(self.clock, [S1, S2, S3], "pubbot", connect=self.net.connect)

    def test_asks_in_turn_skipping_the_silent_and_the_ignorant(self):
        d = self.master.discover()
        self.net.next(S1)  # never connects
        self.clock.advance(ASK_TIMEOUT - 0.01)
        self.assertFalse(self.net.attempts)
        self.clock.advance(0.01)
        second = self.net.next(S2).accept()
        self.assertEqual(second.sent(), bulk("SENTINEL", "get-master-addr-by-name", "pubbot"))
        second.reply(bulk(None))  # does not know the master
        self.assertTrue(second.closed)
        third = self.net.next(S3).accept()
        third.sent()
        third.reply(bulk("127.0.0.1", "7000"))
        self.assertEqual(self.successResultOf(d), ("127.0.0.1", 7000))
        self.assertTrue(third.closed)
        # The one that answered is asked first next time.
        self.assertEqual(self.master.sentinels, [S3, S1, S2])
        self.assertEqual(self.master.address, ("127.0.0.1", 7000))
        self.assertFalse(self.clock.getDelayedCalls())

    def test_a_connected_sentinel_that_does_not_answer_in_time(self):
        d = self.master.discover()
        first = self.net.next(S1).accept()
        self.clock.advance(ASK_TIMEOUT)
        self.assertTrue(first.closed)
        second = self.net.next(S2).accept()
        second.reply(bulk("127.0.0.1", "7001"))
        self.assertEqual(self.successResultOf(d), ("127.0.0.1", 7001))

    def test_bad_answers_are_not_used(self):
        d = self.master.discover()
        self.net.next(S1).accept().reply(bulk("127.0.0.1", "99999"))
        self.net.next(S2).accept().reply(b"-ERR unknown command\r\n")
        self.net.next(S3).accept().reply(bulk("h" * 300, "1"))
        failure = self.failureResultOf(d, NoMaster)
        text = str(failure.value)
        self.assertIn("10.0.0.1:26379 gave a bad answer", text)
        self.assertIn("10.0.0.2:26379: ERR unknown command", text)
        self.assertIn("10.0.0.3:26379 gave a bad answer", text)
        self.assertEqual(self.master.sentinels, [S1, S2, S3])

    def test_an_oversized_answer_is_not_read(self):
        d = self.master.discover()
        first = self.net.next(S1).accept()
        first.reply(b"$100000000\r\n" + b"x" * 65536)
        self.assertTrue(first.closed)
        self.clock.advance(ASK_TIMEOUT)  # the dropped connection never answers
        second = self.net.next(S2).accept()
        second.reply(b"*100000\r\n")
        self.assertTrue(second.closed)
        self.clock.advance(ASK_TIMEOUT)
        self.net.next(S3).accept().reply(bulk("127.0.0.1", "7000"))
        self.assertEqual(self.successResultOf(d), ("127.0.0.1", 7000))
        self.flushLoggedErrors()

    def test_no_sentinel_reachable(self):
        d = self.master.discover()
        for s in (S1, S2, S3):
            self.net.next(s).refuse()
        failure = self.failureResultOf(d, NoMaster)
        self.assertIn("no sentinel named Redis master pubbot", str(failure.value))
        self.assertEqual(str(failure.value).count("Connection was refused"), 3)


class ClientClockTests(SynchronousTestCase):
    """Step 3 (ROLE), reconnection, READONLY and +switch-master for a RedisClient on a Clock."""

    def setUp(self):
        self.clock = Clock()
        self.net = Net(self.clock)
        self.master = SentinelMaster(self.clock, [S1, S2], "pubbot", connect=self.net.connect)
        self.client = RedisClient(self.clock, self.master, name="test", timeout=2.0)

    def tearDown(self):
        self.client.stop()
        for pending in (self.net.attempts, self.net.watches):
            while pending:
                pending.popleft().refuse()

    def watch(self) -> Attempt:
        """The sentinel event subscription (the first connection the client's start asks for)."""
        self.assertTrue(self.master.watching)
        w = self.net.watches.popleft()
        self.assertEqual((w.host, w.port), S1)
        return w

    def subscribed(self, watch: Attempt) -> Attempt:
        watch.accept()
        self.assertEqual(watch.sent(), bulk("SUBSCRIBE", SWITCH))
        watch.reply(b"*3\r\n$9\r\nsubscribe\r\n$14\r\n+switch-master\r\n:1\r\n")
        return watch

    def discover(self, where: tuple, answer: tuple) -> None:
        s = self.net.next(where).accept()
        self.assertEqual(s.sent(), bulk("SENTINEL", "get-master-addr-by-name", "pubbot"))
        s.reply(bulk(*answer))

    def server(self, port: int, role: bytes) -> Attempt:
        r = self.net.next(("127.0.0.1", port)).accept()
        self.assertEqual(r.sent(), bulk("ROLE"))
        r.reply(role)
        return r

    def connect(self, port: int = 7000) -> Attempt:
        self.client.start()
        self.watch()
        self.discover(S1, ("127.0.0.1", port))
        r = self.server(port, ROLE_MASTER)
        self.clock.advance(0)
        self.assertTrue(self.client.connected)
        self.assertEqual(self.client.address.describe(), "127.0.0.1:%d/0 (master pubbot)" % port)
        return r

    def test_a_replica_named_as_master_is_left_and_the_sentinels_asked_again(self):
        self.client.start()
        self.watch()
        self.discover(S1, ("127.0.0.1", 7000))
        replica = self.server(7000, ROLE_REPLICA)
        self.assertTrue(replica.closed)
        replica.lose()
        self.assertFalse(self.client.connected)
        # ClientService waits the Sentinel policy's first delay, then asks again.
        self.assertEqual(SENTINEL_RETRY(1), 0.1)
        self.clock.advance(0.05)
        self.assertFalse(self.net.attempts)
        self.clock.advance(0.05)
        self.discover(S1, ("127.0.0.1", 7001))
        self.server(7001, ROLE_MASTER)
        self.clock.advance(0)
        self.assertTrue(self.client.connected)
        self.assertEqual((self.client.address.host, self.client.address.port), ("127.0.0.1", 7001))
        self.flushLoggedErrors()

    def test_retries_back_off_to_one_second_while_no_sentinel_answers(self):
        self.client.start()
        self.subscribed(self.watch())
        waits = []
        for _ in range(7):
            self.net.next(S1).refuse()
            self.net.next(S2).refuse()
            (retry,) = self.clock.getDelayedCalls()  # ClientService's, and nothing else
            waits.append(round(retry.getTime() - self.clock.seconds(), 3))
            self.clock.advance(waits[-1])
        self.assertEqual(waits, [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0])

    def test_readonly_drops_the_connection_and_finds_the_new_master(self):
        old = self.connect(7000)
        d = self.client.execute("SET", "k", "v")
        self.assertEqual(old.sent(), bulk("SET", "k", "v"))
        old.reply(b"-READONLY You can't write against a read only replica.\r\n")
        failure = self.failureResultOf(d, RedisUnavailable)
        self.assertIn("READONLY", str(failure.value))
        self.assertTrue(old.closed)
        old.lose()
        self.assertFalse(self.client.connected)
        self.clock.advance(0.1)
        self.discover(S1, ("127.0.0.1", 7001))
        new = self.server(7001, ROLE_MASTER)
        self.clock.advance(0)
        self.assertTrue(self.client.connected)
        self.assertEqual(self.client.address.port, 7001)
        # A blocking read cut short by a role change does the same.
        d = self.client.execute("XREADGROUP", "GROUP", "g", "c", "BLOCK", 1000, "STREAMS", "s", ">")
        new.sent()
        new.reply(b"-UNBLOCKED force unblock from blocking operation, instance state changed "
                  b"(master -> replica?)\r\n")
        self.failureResultOf(d, RedisUnavailable)
        self.assertTrue(new.closed)

    def test_other_error_replies_do_not_reconnect(self):
        r = self.connect(7000)
        d = self.client.execute("INCR", "k")
        r.sent()
        r.reply(b"-ERR value is not an integer or out of range\r\n")
        self.assertNotIsInstance(self.failureResultOf(d).value, RedisUnavailable)
        self.assertFalse(r.closed)

    def test_switch_master_moves_the_client(self):
        self.client.start()
        watch = self.subscribed(self.watch())
        self.discover(S1, ("127.0.0.1", 7000))
        old = self.server(7000, ROLE_MASTER)
        self.clock.advance(0)
        self.assertTrue(self.client.connected)
        # Events about another master, or malformed, change nothing.
        watch.reply(bulk("message", SWITCH, "other 127.0.0.1 7000 127.0.0.1 7009"))
        watch.reply(bulk("message", SWITCH, "pubbot garbage"))
        # An event naming where we already are changes nothing either.
        watch.reply(bulk("message", SWITCH, "pubbot 127.0.0.1 6999 127.0.0.1 7000"))
        self.assertFalse(old.closed)
        watch.reply(bulk("message", SWITCH, "pubbot 127.0.0.1 7000 127.0.0.1 7001"))
        self.assertTrue(old.closed)
        self.assertFalse(self.client.connected)
        old.lose()
        self.clock.advance(0.1)
        self.discover(S1, ("127.0.0.1", 7001))
        self.server(7001, ROLE_MASTER)
        self.clock.advance(0)
        self.assertEqual(self.client.address.port, 7001)

    def test_a_switch_during_set_up_is_not_missed(self):
        self.client.start()
        watch = self.subscribed(self.watch())
        self.discover(S1, ("127.0.0.1", 7000))
        old = self.net.next(("127.0.0.1", 7000)).accept()
        self.assertEqual(old.sent(), bulk("ROLE"))
        # The old master is still a master when asked, but the switch came in between.
        watch.reply(bulk("message", SWITCH, "pubbot 127.0.0.1 7000 127.0.0.1 7001"))
        old.reply(ROLE_MASTER)
        self.assertTrue(old.closed)
        old.lose()
        self.assertFalse(self.client.connected)
        self.clock.advance(0.1)
        self.discover(S1, ("127.0.0.1", 7001))
        self.server(7001, ROLE_MASTER)
        self.clock.advance(0)
        self.assertEqual((self.client.connected, self.client.address.port), (True, 7001))
        self.flushLoggedErrors()

    def test_an_oversized_event_drops_the_watch(self):
        self.client.start()
        watch = self.subscribed(self.watch())
        watch.reply(b"*3\r\n$7\r\nmessage\r\n$14\r\n+switch-master\r\n$50000\r\n" + b"x" * 50000)
        self.assertTrue(watch.closed)
        watch.lose()
        self.clock.advance(0.2)
        self.assertEqual([(w.host, w.port) for w in self.net.watches], [S1])  # watching again

    def test_the_watch_moves_to_the_next_sentinel_and_stops_with_the_last_client(self):
        self.client.start()
        self.watch().refuse()
        self.assertEqual((self.net.watches[0].host, self.net.watches[0].port), S2)  # the next, at once
        second = self.subscribed(self.net.watches.popleft())
        self.assertTrue(self.master.watching)
        asking = self.net.next(S1)  # the client's own question, not answered yet
        d = self.client.stop()
        self.assertFalse(self.master.watching)
        self.assertTrue(second.closed)
        second.lose()
        self.successResultOf(d)
        # Stopping cancelled the discovery: no other sentinel was asked.
        self.assertTrue(asking.d.called)
        self.assertFalse(self.net.attempts)
        self.assertFalse(self.clock.getDelayedCalls())

    def test_durable_with_a_replica_waits_for_it(self):
        r = self.connect(7000)
        d = self.client.eval_durably("return 1", [], [], timeout=1.0)
        r.sent()
        r.reply(b":1\r\n")
        self.assertEqual(r.sent(), bulk("ROLE"))
        r.reply(ROLE_MASTER_1)
        self.assertEqual(r.sent(), bulk("WAIT", 1, 1000))
        r.reply(b":1\r\n")
        self.assertEqual(self.successResultOf(d), (1, True))
        d = self.client.eval_durably("return 1", [], [], timeout=1.0)
        r.sent()
        r.reply(b":1\r\n")
        r.sent()
        r.reply(ROLE_MASTER_1)
        r.sent()
        r.reply(b":0\r\n")  # WAIT timed out: no replica has it
        self.assertEqual(self.successResultOf(d), (1, False))

    def test_durable_without_replicas_asks_the_sentinels(self):
        r = self.connect(7000)
        results = []
        for named in ("7000", "7001"):
            d = self.client.eval_durably("return 1", [], [], timeout=1.0)
            r.sent()
            r.reply(b":1\r\n")
            r.sent()
            r.reply(ROLE_MASTER)
            self.discover(S1, ("127.0.0.1", named))
            results.append(self.successResultOf(d))
        # Still the master as the sentinels see it: durable; a master they left: not.
        self.assertEqual(results, [(1, True), (1, False)])

    def test_nothing_written_nothing_asked(self):
        r = self.connect(7000)
        d = self.client.eval_durably("return 0", [], [], timeout=1.0, wrote=lambda reply: reply == 1)
        r.sent()
        r.reply(b":0\r\n")
        self.assertEqual(self.successResultOf(d), (0, False))
        self.assertEqual(r.sent(), b"")  # no ROLE, no WAIT
        self.assertFalse(self.net.attempts)  # no sentinel asked

    def test_connection_lost_before_the_replicas_answer_fails_it(self):
        r = self.connect(7000)
        d = self.client.eval_durably("return 1", [], [], timeout=1.0)
        r.sent()
        r.reply(b":1\r\n")
        r.sent()
        r.reply(ROLE_MASTER_1)
        self.assertEqual(r.sent(), bulk("WAIT", 1, 1000))
        self.client.drop()
        r.lose()
        self.failureResultOf(d, RedisUnavailable)
        self.assertIsInstance(self.client._sentinel_endpoint, SentinelEndpoint)


@pytest.mark.integration  # a real redis-server
class RealSentinelTests(TestCase):
    """Discovery and failover against a master, a replica and three real sentinels."""

    timeout = 60

    def setUp(self):
        self.group = SentinelGroup().start()
        self.addCleanup(self.group.stop)

    def sentinel_master(self, name: str = MASTER, addresses=None) -> SentinelMaster:
        return SentinelMaster(reactor, parse_sentinels(addresses or self.group.addresses), name)

    async def connected(self, name: str) -> RedisClient:
        client = RedisClient(reactor, self.sentinel_master(), name=name, timeout=2.0)
        self.addCleanup(client.stop)
        client.start()
        await client.when_connected()
        return client

    async def test_discovery_skips_a_dead_sentinel_and_asks_the_answering_one_first(self):
        m = self.sentinel_master()
        self.assertEqual(await m.discover(), ("127.0.0.1", self.group.master.port))
        self.group.sentinels[0].kill()
        self.assertEqual(await m.discover(), ("127.0.0.1", self.group.master.port))
        self.assertEqual(m.sentinels[0], ("127.0.0.1", self.group.sentinels[1].port))

    async def test_an_unknown_master_or_no_sentinel_is_a_clear_error(self):
        with self.assertRaises(NoMaster) as caught:
            await self.sentinel_master("nosuch").discover()
        self.assertEqual(str(caught.exception).count("does not know 'nosuch'"), 3)
        nobody = ["127.0.0.1:%d" % free_port() for _ in range(2)]
        with self.assertRaises(NoMaster):
            await self.sentinel_master(addresses=nobody).discover()

    async def test_client_follows_sentinel_failover_and_keeps_acknowledged_writes(self):
        client = await self.connected("follow")
        reply, durable = await client.eval_durably("return redis.call('SET', KEYS[1], ARGV[1])", ["k"], ["v"])
        self.assertTrue(durable)
        old = self.group.master
        self.assertEqual(client.address.port, old.port)
        self.group.failover()
        new = self.group.wait_for_new_master(old)
        # +switch-master moved it: no wait for a lost connection (the old master stays up).
        for _ in range(100):
            if client.connected and client.address.port == new.port:
                break
            await deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(client.address.port, new.port)
        self.assertEqual(await client.execute("GET", "k"), "v")
        self.assertEqual(await client.execute("SET", "k2", "w"), "OK")

    async def test_the_lease_is_not_taken_while_the_replica_does_not_acknowledge(self):
        from pubbot.cluster.lease import IRC_LEASE, Lease
        client = await self.connected("lease")
        lease = Lease(client, reactor, "A", 2.0)
        replica = self.group.replicas[0]
        replica.pause()
        try:
            lease.start()
            self.addCleanup(lease.stop)
            held = []
            for _ in range(75):
                held.append(lease.valid())
                await deferLater(reactor, 0.02, lambda: None)
            self.assertFalse(any(held))
            # Written on the master (so nobody else takes it), but not counted.
            self.assertEqual(self.group.master.query("GET", IRC_LEASE).decode(), lease.token)
        finally:
            replica.resume()
        for _ in range(60):
            if lease.valid():
                break
            await deferLater(reactor, 0.05, lambda: None)
        self.assertTrue(lease.valid())
        self.assertEqual(replica.query("GET", IRC_LEASE).decode(), lease.token)

    async def test_paused_replica_makes_writes_not_durable(self):
        client = await self.connected("durable")
        write = "return redis.call('INCR', KEYS[1])"
        self.assertEqual(await client.eval_durably(write, ["n"], [], timeout=0.5), (1, True))
        replica = self.group.replicas[0]
        replica.pause()
        try:
            self.assertEqual(await client.eval_durably(write, ["n"], [], timeout=0.5), (2, False))
        finally:
            replica.resume()


SENTINELS = '[redis]\nsentinels = ["127.0.0.1:26379", "[::1]:26380"]\nmaster = "pubbot"\n'


class ConfigTests(SynchronousTestCase):
    """[redis] sentinels and master: one-line errors naming the key; the wiring they make."""

    def error(self, redis: dict) -> str:
        from pubbot.config.settings import ConfigError, parse
        with self.assertRaises(ConfigError) as e:
            parse({"redis": redis})
        text = str(e.exception)
        self.assertNotIn("\n", text)
        return text

    def test_valid(self):
        from pubbot.config.settings import parse
        r = parse({"redis": {"sentinels": ["s1:26379", "s2:26379"], "master": "mymaster"}}).redis
        self.assertEqual((r.sentinels, r.master, r.url, r.enabled),
                         (("s1:26379", "s2:26379"), "mymaster", "", True))
        self.assertFalse(parse({}).redis.enabled)

    def test_errors(self):
        self.assertEqual(self.error({"sentinels": ["s1:26379"]}),
                         "[redis] master must name the master the sentinels watch (as in their "
                         "'sentinel monitor NAME ...') when [redis] sentinels is set")
        self.assertIn("[redis] url and [redis] sentinels cannot both be set",
                      self.error({"url": "redis://127.0.0.1", "sentinels": ["s:1"], "master": "m"}))
        self.assertIn("[redis] master is only used with [redis] sentinels", self.error({"master": "m"}))
        self.assertIn("[redis] sentinels has 's1', which is not host:port",
                      self.error({"sentinels": ["s1"], "master": "m"}))
        self.assertIn("[redis] sentinels has 's1:0', whose port is not a number from 1 to 65535",
                      self.error({"sentinels": ["s1:0"], "master": "m"}))
        self.assertIn("[redis] sentinels lists a sentinel twice",
                      self.error({"sentinels": ["s:1", "s:1"], "master": "m"}))
        self.assertIn("[redis] sentinels must be an array of strings",
                      self.error({"sentinels": "s:1", "master": "m"}))
        self.assertIn("[redis] master must be the sentinels' name",
                      self.error({"sentinels": ["s:1"], "master": "my master"}))
        self.assertIn("[redis] visibility_timeout",
                      self.error({"sentinels": ["s:1"], "master": "m", "visibility_timeout": 1.0}))

    def test_twistd_wiring_shares_one_sentinel_master_per_connection_set(self):
        from twisted.internet.testing import MemoryReactorClock

        from pubbot import tap
        from pubbot.store.redis import RedisStore
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[irc]\nserver = "tcp:127.0.0.1:6667"\n[web]\nendpoint = ""\n' + SENTINELS)
        options = tap.Options()
        options["divert_log"] = False
        options.parseOptions(["--config", path])
        top = tap.makeService(options, MemoryReactorClock())
        self.assertIsInstance(top.bot.store, RedisStore)
        store_master = top.bot.store.client.sentinel
        self.assertIsInstance(store_master, SentinelMaster)
        self.assertEqual((store_master.name, store_master.sentinels),
                         ("pubbot", [("127.0.0.1", 26379), ("::1", 26380)]))
        cluster = top.getServiceNamed("cluster")
        bus = cluster.bus
        masters = {id(c.sentinel) for c in (cluster.lease_client, bus.command, bus.reader, bus.replies,
                                             cluster.fanout.subscriber)}
        self.assertEqual(len(masters), 1)
        self.assertIsInstance(cluster.lease_client.sentinel, SentinelMaster)
