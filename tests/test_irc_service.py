"""
The IRC service: its contract, config errors, server strings, and the real
ClientService on a MemoryReactorClock (backoff with jitter, reset after a
stable connection, SASL failures backing off, STS upgrades and stored
policies choosing TLS, clean stop and restart).
"""

from __future__ import annotations

import random

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.config.settings import ConfigError, parse
from pubbot.core.bot import Bot
from pubbot.core.interfaces import IChatService
from pubbot.core.localbus import LocalBus
from pubbot.irc.endpoint import ServerError, parse_server
from pubbot.irc.service import MAX_DELAY, IRCService
from pubbot.store.memory import MemoryStore

from .support.chat import START, RecordingBus
from .support.logs import capture_logs


def make(irc=None):
    reactor = MemoryReactorClock()
    reactor.advance(START)
    config = {"server": "tcp:127.0.0.1:6667", "channels": ["#pubbot"]}
    config.update(irc or {})
    bot = Bot(parse({"irc": config}), reactor, MemoryStore(reactor))
    bot.bus = RecordingBus()
    return reactor, IRCService(bot, reactor, rng=random.Random(1))


class ContractTests(SynchronousTestCase):
    def test_provides_ichatservice(self):
        _, service = make()
        self.assertTrue(verifyObject(IChatService, service))
        self.assertEqual((service.protocol, service.name, service.nick), ("irc", "irc", "pubbot"))

    def test_dashboard_surface_before_connecting(self):
        _, service = make()
        self.assertEqual((service.connected, service.server_network, service.lag, service.channels(),
                          service.lines_in, service.lines_out, service.reconnects, service.throttle_depth()),
                         (False, None, None, {}, 0, 0, 0, 0))
        self.assertEqual(service.roster("#pubbot"), [])

    def test_log_lines_name_their_network(self):
        reactor, service = make()
        other = IRCService(service.bot, reactor, network="libera", settings=service.settings)
        events = capture_logs(self)
        for s in (service, other):
            s.startService()
            self.addCleanup(s.stopService)
            (attempt,) = reactor.tcpClients[-1:]
            protocol = attempt[2].buildProtocol(IPv4Address("TCP", attempt[0], attempt[1]))
            protocol.makeConnection(StringTransport())
            protocol.dataReceived(b":srv 001 pubbot :Welcome\r\n")
        registered = [e["log_namespace"] for e in events
                      if e.get("log_format", "").startswith("registered as")]
        self.assertEqual(registered, ["pubbot.irc.irc", "pubbot.irc.libera"])
        self.assertEqual(other.name, "irc-libera")

    def test_config_errors(self):
        for irc in ({"server": "tls:"}, {"server": "tcp:host"}, {"server": "tcp:host:notaport"},
                    {"server": "tls:host:6697:trustRoots=/etc"}, {"tls_ca": "/nonexistent/ca.pem"},
                    {"client_cert": "/nonexistent/client.pem"}):
            self.assertRaises(ConfigError, make, irc)

    def test_secrets_not_in_repr(self):
        _, service = make({"sasl": {"password": "s3cret-pw"}, "nickserv_password": "ns-pw"})
        self.assertNotIn("s3cret-pw", repr(service.settings))
        self.assertNotIn("ns-pw", repr(service.settings))


class ServerStringTests(SynchronousTestCase):
    def test_forms(self):
        self.assertEqual(str(parse_server("tcp:irc.example.net:6667")), "tcp:irc.example.net:6667")
        s = parse_server("tcp:host=irc.example.net:port=6668:timeout=5")
        self.assertEqual((s.kind, s.host, s.port, s.tls), ("tcp", "irc.example.net", 6668, False))
        s = parse_server("tls:irc.example.net")
        self.assertEqual((s.kind, s.port, s.tls), ("tls", 6697, True))
        self.assertEqual(parse_server("ssl:host=irc.example.net:port=7000").port, 7000)
        self.assertEqual(parse_server("tls:\\:\\:1:6697").host, "::1")
        self.assertEqual(parse_server("unix:/run/irc.sock").kind, "unix")

    def test_errors(self):
        for bad in ("http:x:1", "tcp:", "tcp:h:0", "tcp:h:70000", "tls:h:6697:certificate=x"):
            self.assertRaises(ServerError, parse_server, bad)


class Session:
    """Drives the ClientService's connection attempts on the memory reactor."""

    def __init__(self, reactor: MemoryReactorClock):
        self.reactor = reactor
        self.seen = 0

    def attempts(self):
        new = self.reactor.tcpClients[self.seen:]
        self.seen = len(self.reactor.tcpClients)
        return new

    def refuse(self):
        (attempt,) = self.attempts()
        connector = self.reactor.connectors[-1]
        attempt[2].clientConnectionFailed(connector, Failure(ConnectionRefusedError()))

    def accept(self):
        (attempt,) = self.attempts()
        protocol = attempt[2].buildProtocol(IPv4Address("TCP", attempt[0], attempt[1]))
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.protocol, self.transport = protocol, transport
        return attempt

    def feed(self, *lines):
        for line in lines:
            self.protocol.dataReceived(line.encode() + b"\r\n")

    def register(self):
        self.feed(":srv CAP * LS :", ":srv 001 pubbot :Welcome", ":srv 376 pubbot :End of MOTD")

    def lose(self):
        self.protocol.connectionLost(Failure(ConnectionRefusedError("gone")))

    def next_delay(self):
        calls = [c.getTime() - self.reactor.seconds() for c in self.reactor.getDelayedCalls() if c.active()]
        return min(calls)


class InputPauseTests(SynchronousTestCase):
    """Bot.hold_input stops reading from the server, on this connection and the next."""

    def setUp(self):
        self.reactor, self.service = make()
        self.service.bot.bus = LocalBus(self.service.bot)  # the bus that pauses chat reading
        self.session = Session(self.reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def test_paused_and_resumed_and_a_new_connection_starts_paused(self):
        self.service.bot.hold_input("brain")  # before connecting: nothing to pause yet
        self.session.accept()
        self.assertEqual(self.session.transport.producerState, "paused")
        self.service.bot.release_input("brain")
        self.assertEqual(self.session.transport.producerState, "producing")
        self.session.register()
        self.service.bot.hold_input("brain")
        self.assertEqual(self.session.transport.producerState, "paused")
        self.session.lose()
        self.reactor.advance(self.session.next_delay())
        self.session.accept()
        self.assertEqual(self.session.transport.producerState, "paused")
        self.service.bot.release_input("brain")
        self.assertEqual(self.session.transport.producerState, "producing")


class ReconnectTests(SynchronousTestCase):
    def setUp(self):
        self.reactor, self.service = make()
        self.session = Session(self.reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def test_registers_with_bot_and_connects(self):
        self.assertIs(self.service.bot.chat_services["irc"], self.service)
        (attempt,) = self.session.attempts()
        self.assertEqual(attempt[:2], ("127.0.0.1", 6667))

    def test_exponential_backoff_with_jitter(self):
        delays = []
        self.session.attempts()
        connector = self.reactor.connectors[-1]
        factory = self.reactor.tcpClients[-1][2]
        factory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))
        for _i in range(12):
            delay = self.session.next_delay()
            delays.append(delay)
            self.reactor.advance(delay)
            self.session.refuse()
        self.assertTrue(1.0 <= delays[0] <= 1.25, delays)
        # rounded to tenths: a log line reads "in 2.3 seconds"
        for a, b in zip(delays, delays[1:], strict=False):
            self.assertTrue(b >= (a - 0.05) * 2 / 1.25 or b == MAX_DELAY, delays)
        self.assertTrue(all(abs(d * 10 - round(d * 10)) < 1e-4 for d in delays), delays)
        self.assertLessEqual(max(delays), MAX_DELAY)
        self.assertEqual(delays[-1], MAX_DELAY)
        self.assertEqual(len(set(delays)), len(delays) - delays.count(MAX_DELAY) + 1)

    def test_backoff_resets_only_after_stable_connection(self):
        s = self.session
        for _ in range(4):  # four refusals: the next delay is about 16 s
            s.refuse()
            self.reactor.advance(s.next_delay())
        s.accept()
        s.register()
        self.reactor.advance(10)
        s.lose()  # dropped before it was stable: keep backing off
        self.assertGreaterEqual(s.next_delay(), 16)
        self.reactor.advance(s.next_delay())
        s.accept()
        s.register()
        self.reactor.advance(61)
        s.lose()  # stable for a minute: start again at about 1 s
        self.assertLessEqual(s.next_delay(), 1.25)

    def test_reconnects_and_rejoins(self):
        s = self.session
        s.accept()
        s.register()
        self.assertIn(b"JOIN #pubbot", s.transport.value())
        s.feed(":pubbot!u@h JOIN #pubbot", ":srv 353 pubbot = #pubbot :pubbot alice",
               ":srv 366 pubbot #pubbot :e")
        self.assertEqual(sorted(self.service.roster("#pubbot")), ["alice", "pubbot"])
        s.lose()
        self.assertEqual(self.service.channels(), {})
        self.assertFalse(self.service.connected)
        self.reactor.advance(s.next_delay())
        s.accept()
        s.register()
        self.assertIn(b"JOIN #pubbot", s.transport.value())
        self.assertTrue(self.service.connected)
        self.assertEqual(self.service.reconnects, 1)

    def test_a_failure_while_connecting_ends_in_a_reconnect(self):
        s = self.session
        broken = self.service.connection_made
        self.service.connection_made = lambda protocol: 1 / 0  # a bug anywhere in setting up
        s.accept()
        self.assertTrue(s.transport.disconnected)  # aborted, not left hanging
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        s.lose()
        self.service.connection_made = broken
        self.reactor.advance(s.next_delay())
        s.accept()
        s.register()
        self.assertTrue(self.service.connected)

    def test_server_error_closes_the_connection_and_reconnects(self):
        s = self.session
        s.accept()
        s.register()
        s.feed("ERROR :Closing link: (flood)")
        self.assertTrue(s.transport.disconnecting)
        self.assertFalse(s.transport.disconnected)
        self.reactor.advance(3)  # a server that never closes its side: cut
        self.assertTrue(s.transport.disconnected)
        s.lose()
        self.reactor.advance(s.next_delay())
        s.accept()
        s.register()
        self.assertTrue(self.service.connected)

    def test_sasl_failure_backs_off(self):
        self.service.stopService()
        self.reactor, self.service = make({"sasl": {"password": "pw", "mechanisms": ["PLAIN"]}})
        self.session = s = Session(self.reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)
        delays = []
        for _ in range(4):
            s.accept()
            s.feed(":srv CAP * LS :sasl=PLAIN")
            s.feed(":srv CAP * ACK :sasl", "AUTHENTICATE +", ":srv 904 pubbot :failed")
            self.assertTrue(s.transport.disconnecting)
            s.lose()
            delays.append(s.next_delay())
            self.reactor.advance(delays[-1])
        self.assertEqual(self.service.sasl_failures, 4)
        self.assertGreater(delays[-1], 7)  # 1, 2, 4, 8: no tight reconnect loop

    def test_stop_and_start_connection(self):
        s = self.session
        s.accept()
        s.register()
        s.transport.clear()
        d = self.service.stop_connection("lease lost")
        self.assertEqual(s.transport.value(), b"QUIT :lease lost\r\n")
        self.assertTrue(s.transport.disconnecting)
        self.assertNoResult(d)
        s.lose()
        self.successResultOf(d)
        self.reactor.advance(600)
        self.assertEqual(s.attempts(), [])  # stopped: no reconnecting
        self.service.start_connection()
        self.assertEqual(len(s.attempts()), 1)

    def test_stop_service_unregisters(self):
        self.session.accept()
        d = self.service.stopService()
        self.session.lose()
        self.successResultOf(d)
        self.assertNotIn("irc", self.service.bot.chat_services)


class StsEndpointTests(SynchronousTestCase):
    def test_upgrade_reconnects_over_tls_at_once(self):
        reactor, service = make()
        s = Session(reactor)
        service.startService()
        self.addCleanup(service.stopService)
        s.accept()
        s.feed(":srv CAP * LS :sts=port=6697,duration=300")
        self.assertTrue(s.transport.disconnecting)
        s.lose()
        self.assertEqual(s.next_delay(), 0)
        reactor.advance(0)
        (attempt,) = s.attempts()
        self.assertEqual(attempt[:2], ("127.0.0.1", 6697))
        self.assertEqual(service.endpoint.last, (True, "127.0.0.1", 6697))

    def test_stored_policy_refuses_plain(self):
        reactor, service = make()
        service.policies.save("127.0.0.1", 7000, 3600)
        s = Session(reactor)
        service.startService()
        self.addCleanup(service.stopService)
        (attempt,) = s.attempts()
        self.assertEqual(attempt[:2], ("127.0.0.1", 7000))
        self.assertEqual(service.endpoint.last, (True, "127.0.0.1", 7000))

    def test_expired_policy_allows_plain(self):
        reactor, service = make()
        service.policies.save("127.0.0.1", 7000, 10)
        reactor.advance(11)
        s = Session(reactor)
        service.startService()
        self.addCleanup(service.stopService)
        (attempt,) = s.attempts()
        self.assertEqual(attempt[:2], ("127.0.0.1", 6667))


class HandOverTests(SynchronousTestCase):
    def test_what_waits_in_the_throttle_is_handed_over_not_dropped(self):
        reactor, service = make({"throttle": {"burst": 1, "per_second": 1.0}})
        written: list = []
        service.throttle.attach(written.append)
        for line in (b"PRIVMSG #a :zero\r\n", b"NOTICE bob :two\r\n", b"PRIVMSG #a :\x01ACTION waves\x01\r\n",
                     b"JOIN #x\r\n", b"PRIVMSG #a :caf\xc3\xa9 :) \r\n"):
            service.throttle.send(line, "#a")
        self.assertEqual(written, [b"PRIVMSG #a :zero\r\n"])
        self.assertEqual(service.hand_over(),
                         [("bob", "two", "notice"), ("#a", "waves", "action"), ("#a", "café :) ", "say")])
        self.assertEqual(service.throttle_depth(), 0)
        reactor.advance(10)
        self.assertEqual(written, [b"PRIVMSG #a :zero\r\n"])  # nothing left to drain
        self.assertEqual(service.hand_over(), [])
