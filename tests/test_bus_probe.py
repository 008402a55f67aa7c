"""The nick probe a new IRC owner runs before connecting, on StringTransport and a Clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.probe import MAX_READ, NickProbe, nick_in_use, wait_for_nick


class Closing(StringTransport):
    """A transport whose close reaches the protocol, as the server closing after QUIT would."""

    def __init__(self):
        super().__init__()
        self.protocol = None

    def abortConnection(self):
        super().abortConnection()
        self.protocol.connectionLost(None)


def probe(clock=None):
    result: Deferred = Deferred()
    p = NickProbe("pubbot", result, clock or Clock())
    t = Closing()
    t.protocol = p
    p.makeConnection(t)
    return p, t, result


def answer(d):
    out = []
    d.addBoth(out.append)
    return out


class NickProbeTests(SynchronousTestCase):
    def test_asks_without_registering(self):
        p, t, result = probe()
        self.assertEqual(t.value(), b"NICK pubbot\r\nPING :pubbot-probe\r\n")
        self.assertNotIn(b"USER", t.value())

    def test_nick_in_use(self):
        p, t, result = probe()
        p.dataReceived(b":irc.test 433 * pubbot :Nickname already in use\r\n")
        self.assertIn(b"QUIT", t.value())
        self.assertFalse(result.called)  # not until the server has closed
        p.connectionLost(None)
        self.assertEqual(answer(result), [True])

    def test_nick_free_on_451_or_pong(self):
        for line in (b":irc.test 451 pubbot :Connection not registered\r\n", b":irc.test PONG irc.test :x\n"):
            p, t, result = probe()
            p.dataReceived(line)
            p.connectionLost(None)
            self.assertEqual(answer(result), [False])

    def test_gives_the_server_two_seconds_to_close(self):
        clock = Clock()
        p, t, result = probe(clock)
        p.dataReceived(b":irc.test 451 pubbot :Connection not registered\r\n")
        clock.advance(1.9)
        self.assertFalse(result.called)
        clock.advance(0.2)
        self.assertEqual(answer(result), [False])

    def test_answers_server_pings(self):
        p, t, result = probe()
        t.clear()
        p.dataReceived(b"PING :abc\r\n")
        self.assertEqual(t.value(), b"PONG :abc\r\n")

    def test_closed_without_answer_is_unknown(self):
        p, t, result = probe()
        p.connectionLost(None)
        self.assertEqual(answer(result), [None])

    def test_endless_chatter_is_cut(self):
        p, t, result = probe()
        p.dataReceived(b"x" * (MAX_READ + 1))
        p.connectionLost(None)
        self.assertEqual(answer(result), [None])

    @given(st.binary(max_size=400))
    def test_any_bytes_never_crash(self, data):
        p, t, result = probe()
        p.dataReceived(data)
        p.connectionLost(None)
        self.assertIn(answer(result)[0], (True, False, None))


class Endpoint:
    """Connects a probe to a scripted server: each connect pops the next reply."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.connects = 0

    def connect(self, factory):
        self.connects += 1
        reply = self.replies.pop(0)
        if reply is None:
            return fail(ConnectionRefusedError())
        p = factory.buildProtocol(None)
        t = Closing()
        t.protocol = p
        p.makeConnection(t)
        p.dataReceived(reply)
        p.connectionLost(None)
        return succeed(p)


IN_USE = b":s 433 * pubbot :in use\r\n"
FREE = b":s 451 pubbot :not registered\r\n"


class WaitForNickTests(SynchronousTestCase):
    def test_free_at_once(self):
        clock = Clock()
        endpoint = Endpoint([FREE])
        d = Deferred.fromCoroutine(wait_for_nick(endpoint, "pubbot", clock, 300, lambda: True))
        self.assertEqual(answer(d), [None])
        self.assertEqual(endpoint.connects, 1)

    def test_waits_while_in_use(self):
        clock = Clock()
        endpoint = Endpoint([IN_USE, IN_USE, FREE])
        d = Deferred.fromCoroutine(wait_for_nick(endpoint, "pubbot", clock, 300, lambda: True))
        self.assertFalse(d.called)
        clock.advance(2)
        self.assertFalse(d.called)
        clock.advance(2)
        self.assertEqual(answer(d), [None])
        self.assertEqual(endpoint.connects, 3)

    def test_gives_up_after_the_limit(self):
        clock = Clock()
        endpoint = Endpoint([IN_USE] * 10)
        d = Deferred.fromCoroutine(wait_for_nick(endpoint, "pubbot", clock, 5, lambda: True))
        for _ in range(3):
            clock.advance(2)
        self.assertEqual(answer(d), [None])
        self.assertEqual(endpoint.connects, 4)

    def test_stops_when_no_longer_wanted(self):
        clock = Clock()
        wanted = [True]
        endpoint = Endpoint([IN_USE] * 10)
        d = Deferred.fromCoroutine(wait_for_nick(endpoint, "pubbot", clock, 300, lambda: wanted[0]))
        wanted[0] = False
        clock.advance(2)
        self.assertEqual(answer(d), [None])
        self.assertEqual(endpoint.connects, 1)

    def test_unreachable_server_counts_as_free(self):
        clock = Clock()
        d = Deferred.fromCoroutine(wait_for_nick(Endpoint([None]), "pubbot", clock, 300, lambda: True))
        self.assertEqual(answer(d), [None])

    def test_nick_in_use_times_out(self):
        clock = Clock()

        class Silent:
            def connect(self, factory):
                return Deferred()  # never connects

        d = Deferred.fromCoroutine(nick_in_use(Silent(), "pubbot", clock, timeout=10))
        clock.advance(10)
        self.assertEqual(answer(d), [None])

    def test_disabled(self):
        endpoint = Endpoint([])
        d = Deferred.fromCoroutine(wait_for_nick(endpoint, "pubbot", Clock(), 0, lambda: True))
        self.assertEqual(answer(d), [None])
        self.assertEqual(endpoint.connects, 0)
