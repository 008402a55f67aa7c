"""How makeService wires the scaled-out bot, its config checks, and the cluster's stop order."""

from __future__ import annotations

import io
import sys

from twisted.application.service import IServiceCollection, Service
from twisted.internet.defer import Deferred, fail
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot import tap
from pubbot.cluster.redisclient import RedisAddress, parse_url
from pubbot.cluster.streams import RedisBus
from pubbot.cluster.wiring import Cluster
from pubbot.config.settings import ConfigError, parse
from pubbot.core.interfaces import IBus, IStore
from pubbot.core.localbus import LocalBus
from pubbot.store.redis import RedisStore

IRC = '[irc]\nserver = "tcp:127.0.0.1:6667"\n[web]\nendpoint = ""\n'
LIBERA = '[networks.libera]\nserver = "tcp:127.0.0.1:6668"\nnick = "pb"\ncommand_prefix = "?"\n'
REDIS = '[redis]\nurl = "redis://127.0.0.1:6390/2"\n'
ZMQ = '[zmq]\npublish = "tcp://127.0.0.1:5556"\ncommands = "tcp://127.0.0.1:5557"\n'


def names(service) -> list:
    return [s.name for s in IServiceCollection(service)]


class MakeServiceTests(SynchronousTestCase):
    def make(self, text: str, *args: str):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        options = tap.Options()
        options["divert_log"] = False
        options.parseOptions(["--config", path, *args])
        top = tap.makeService(options, MemoryReactorClock())
        self.addCleanup(top.bot.store.close)
        return top

    def test_without_redis_everything_is_local(self):
        top = self.make(IRC)
        self.assertIn("irc", names(top))
        self.assertNotIn("cluster", names(top))
        self.assertIsInstance(top.bot.bus, LocalBus)
        self.assertNotIsInstance(top.bot.store, RedisStore)

    def test_zmq_alone_is_a_plain_child(self):
        top = self.make(IRC + ZMQ)
        self.assertIn("zmq", names(top))

    def test_redis_puts_irc_and_zmq_under_the_lease(self):
        top = self.make(IRC + REDIS + ZMQ)
        self.assertNotIn("irc", names(top))
        self.assertNotIn("zmq", names(top))
        cluster = top.getServiceNamed("cluster")
        self.assertEqual(names(cluster), ["redis-clients", "fanout", "redis-bus", "owner"])
        gate = cluster.getServiceNamed("owner")
        self.assertEqual(sorted(names(gate)), ["irc", "zmq"])
        self.assertIsNotNone(gate.before_start)  # the nick check before connecting
        self.assertIsInstance(top.bot.bus, RedisBus)
        self.assertTrue(verifyObject(IBus, top.bot.bus))
        self.assertIsInstance(top.bot.store, RedisStore)
        self.assertTrue(verifyObject(IStore, top.bot.store))
        self.assertEqual(top.bot.outbox, top.bot.bus.outbox)
        self.assertEqual(top.bot.store.client.address.db, 2)

    def test_jobs_run_only_in_the_lease_holder(self):
        top = self.make(IRC + REDIS)
        cluster = top.getServiceNamed("cluster")
        self.assertFalse(top.bot.jobs.owner())
        cluster.gate.active = True
        cluster.lease.held, cluster.lease.deadline = True, cluster.reactor.seconds() + 10
        self.assertTrue(top.bot.jobs.owner())
        cluster.reactor.advance(11)
        self.assertFalse(top.bot.jobs.owner())
        self.assertTrue(self.make(IRC).bot.jobs.owner())
    def test_roles(self):
        # all (the default): handles, and holds the connections while it holds the lease
        cluster = self.make(IRC + REDIS + ZMQ).getServiceNamed("cluster")
        self.assertEqual((cluster.role, cluster.bus.role, cluster.bus.consume), ("all", "all", True))
        # owner: holds the connections under the lease, handles nothing
        top = self.make(IRC + REDIS + ZMQ, "--role", "owner")
        cluster = top.getServiceNamed("cluster")
        self.assertEqual((cluster.bus.role, cluster.bus.consume), ("owner", False))
        self.assertEqual(sorted(names(cluster.getServiceNamed("owner"))), ["irc", "zmq"])
        # worker: handles, never connects (no lease, no chat connection; stand-ins only)
        top = self.make(IRC + REDIS + ZMQ, "--role", "worker")
        cluster = top.getServiceNamed("cluster")
        self.assertEqual((cluster.bus.role, cluster.bus.consume), ("worker", True))
        self.assertEqual(names(cluster), ["redis-clients", "fanout", "redis-bus"])
        self.assertNotIn("irc", names(top))
        self.assertNotIn("zmq", names(top))
        self.assertEqual(list(cluster.bus.remote_chats), ["irc"])

    def test_a_role_needs_redis_and_a_known_name(self):
        for config, args in ((IRC, ("--role", "worker")), (IRC + REDIS, ("--role", "boss"))):
            stderr = io.StringIO()
            self.patch(sys, "stderr", stderr)
            with self.assertRaises(SystemExit) as e:
                self.make(config, *args)
            self.assertEqual(e.exception.code, 1)
            self.assertIn("--role", stderr.getvalue())

    def test_stand_ins_for_the_owners_networks(self):
        from pubbot.cluster.remote import RemoteChat
        top = self.make(IRC + REDIS)
        cluster = top.getServiceNamed("cluster")
        self.assertEqual(list(cluster.bus.remote_chats), ["irc"])
        cluster._stand_in()
        self.assertIsInstance(top.bot.chat_services["irc"], RemoteChat)
        self.assertEqual(top.bot.nick("irc"), "pubbot")

    def test_the_lease_covers_every_network(self):
        from pubbot.cluster.remote import RemoteChat
        top = self.make(IRC + LIBERA + REDIS)
        self.assertEqual([n for n in names(top) if n.startswith("irc")], [])
        cluster = top.getServiceNamed("cluster")
        gate = cluster.getServiceNamed("owner")
        self.assertEqual(sorted(names(gate)), ["irc", "irc-libera"])
        self.assertEqual(list(cluster.bus.remote_chats), ["irc", "libera"])
        libera = cluster.bus.remote_chats["libera"]
        self.assertEqual((libera.network, libera.protocol, libera.nick, libera.command_prefix),
                         ("libera", "irc", "pb", "?"))
        cluster._stand_in()
        self.assertIsInstance(top.bot.chat_services["libera"], RemoteChat)
        self.assertEqual((top.bot.nick("irc"), top.bot.nick("libera")), ("pubbot", "pb"))

    def test_the_takeover_wait_asks_every_network(self):
        top = self.make(IRC + LIBERA + REDIS)
        cluster = top.getServiceNamed("cluster")
        gate = cluster.getServiceNamed("owner")
        asked = []

        class Refused:
            def __init__(self, network):
                self.network = network

            def connect(self, factory):
                asked.append(self.network)
                return fail(ConnectionRefusedError())  # no answer: the nick is not known to be taken

        for service in gate:
            if service.name.startswith("irc"):
                service.endpoint = Refused(service.network)
        gate.running = True
        cluster.lease.valid = lambda: True
        done = gate.before_start()
        self.assertEqual(sorted(asked), ["irc", "libera"])
        self.assertTrue(done.called)

    def test_music_is_a_singleton_too(self):
        top = self.make(IRC + REDIS + '[music]\nsource = "mpd:tcp:127.0.0.1:6600"\n')
        self.assertNotIn("music", names(top))
        self.assertIn("music", names(top.getServiceNamed("cluster").getServiceNamed("owner")))

    def test_console_is_owned_too(self):
        top = self.make('[web]\nendpoint = ""\n' + REDIS)
        gate = top.getServiceNamed("cluster").getServiceNamed("owner")
        self.assertEqual(names(gate), ["console"])

    def test_takeover_wait_zero_skips_the_nick_check(self):
        top = self.make(IRC + REDIS + "takeover_wait = 0\n")
        self.assertIsNone(top.getServiceNamed("cluster").getServiceNamed("owner").before_start)


class ConfigTests(SynchronousTestCase):
    def test_visibility_must_exceed_the_plugin_timeout(self):
        with self.assertRaises(ConfigError) as e:
            parse({"redis": {"url": "redis://127.0.0.1", "visibility_timeout": 5.0}})
        self.assertIn("[redis] visibility_timeout", str(e.exception))

    def test_bad_url_never_shows_the_password(self):
        for url in ("redis://:hunter2@127.0.0.1:notaport/0", "redis://:hunter2@127.0.0.1/x",
                    "redis://:hunter2@/0"):
            with self.assertRaises(ConfigError) as e:
                parse({"redis": {"url": url}})
            self.assertIn("[redis] url", str(e.exception))
            self.assertNotIn("hunter2", str(e.exception))

    def test_urls(self):
        self.assertEqual(parse_url("redis://127.0.0.1"), RedisAddress())
        a = parse_url("rediss://bot:s%40cret@redis.example.org:6380/3")
        self.assertEqual((a.host, a.port, a.db, a.username, a.password, a.tls),
                         ("redis.example.org", 6380, 3, "bot", "s@cret", True))
        self.assertNotIn("s@cret", a.describe())
        self.assertNotIn("s@cret", repr(a.describe()))
        u = parse_url("unix://:pw@/run/redis.sock?db=4")
        self.assertEqual((u.path, u.db, u.password), ("/run/redis.sock", 4, "pw"))
        self.assertEqual(u.describe(), "unix:/run/redis.sock/4")


class Step(Service):
    def __init__(self, name, log):
        self.name = name
        self.log = log
        self.pending: Deferred = Deferred()

    def stopService(self):
        super().stopService()
        self.log.append(self.name)
        return self.pending


class StopOrderTests(SynchronousTestCase):
    def test_children_stop_one_after_the_other(self):
        settings = parse({"redis": {"url": "redis://127.0.0.1:6390"}})
        from pubbot.core.bot import Bot
        from pubbot.store.memory import MemoryStore
        reactor = MemoryReactorClock()
        cluster = Cluster(settings, reactor, "test")
        Bot(settings, reactor, MemoryStore(reactor), bus=cluster.bus, outbox=cluster.bus.outbox)
        log: list = []
        for service in list(cluster):
            service.disownServiceParent()
        steps = [Step(n, log) for n in ("first", "second", "third")]
        for s in steps:
            s.setServiceParent(cluster)
        cluster.startService()
        done = cluster.stopService()
        self.assertEqual(log, ["third"])
        steps[2].pending.callback(None)
        self.assertEqual(log, ["third", "second"])
        steps[1].pending.callback(None)
        steps[0].pending.callback(None)
        self.assertEqual(log, ["third", "second", "first"])
        self.assertTrue(done.called)


class RemoteChatTests(SynchronousTestCase):
    def test_verify_and_malformed_state(self):
        from pubbot.cluster.remote import RemoteChat, describe
        from pubbot.core.interfaces import IChatService
        from pubbot.testing import FakeChat
        remote = RemoteChat(None, "irc", "pubbot")
        self.assertTrue(verifyObject(IChatService, remote))
        for junk in (None, [], "x", {"nick": 5, "channels": "no"}, {"channels": {"#a": "no"}}):
            remote.update(junk, "owner")
            self.assertEqual(remote.nick, "pubbot")
            self.assertEqual(remote.roster("#a"), [])
        remote.update({"nick": "pb", "connected": True, "channels": {"#A": ["x"]}}, "host:1")
        self.assertEqual((remote.nick, remote.connected, remote.roster("#a")), ("pb", True, ["x"]))
        chat = FakeChat()
        self.assertEqual(describe(chat),
                         {"nick": "pubbot", "connected": True, "server_network": None, "channels": {}})
        chat.server_network = "Libera.Chat"
        self.assertEqual(describe(chat)["server_network"], "Libera.Chat")
        remote.update({"server_network": "Libera.Chat"}, "host:1")
        self.assertEqual((remote.network, remote.server_network), ("irc", "Libera.Chat"))
        remote.update({"server_network": 5}, "host:1")
        self.assertIsNone(remote.server_network)

    def test_the_owners_modes_reach_the_workers_for_permissions(self):
        from zope.interface import implementer

        from pubbot.cluster.remote import RemoteChat, describe
        from pubbot.core.interfaces import IChatStatus

        @implementer(IChatStatus)
        class Irc:
            nick, connected, server_network = "pubbot", True, None

            def channels(self):
                return {"#Ops": [{"nick": "Carol", "modes": "ov"}, {"nick": "dave", "modes": ""}]}

            def roster(self, channel):
                return ["Carol", "dave"]

        state = describe(Irc())
        self.assertEqual(state["modes"], {"#Ops": {"Carol": "ov"}})
        remote = RemoteChat(None, "irc", "pubbot")
        remote.update(state, "host:1")
        self.assertEqual((remote.modes("#ops", "carol"), remote.modes("#ops", "dave")), ("ov", ""))
        for junk in ({"modes": "x"}, {"modes": {"#ops": ["carol"]}}, {"modes": {"#ops": {"carol": 5}}}):
            remote.update(junk, "host:1")
            self.assertEqual(remote.modes("#ops", "carol"), "")

    def test_sends_through_the_reply_stream_by_network(self):
        from pubbot.cluster.remote import RemoteChat

        class Bus:
            relayed: list = []

            def relay(self, *args):
                self.relayed.append(args)

        class Bot:
            bus = Bus()

        remote = RemoteChat(Bot(), "libera", "pubbot", "irc", "?")
        remote.send("#x", "hi", "notice")
        self.assertEqual(Bot.bus.relayed, [("libera", "#x", "hi", "notice", None)])
        self.assertEqual((remote.protocol, remote.command_prefix), ("irc", "?"))
