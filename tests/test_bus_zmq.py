"""The ZeroMQ firehose and command socket: parsing, config rules, and real sockets."""

from __future__ import annotations

import json

import zmq
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.bridges.zmq import (
    MAX_COMMAND,
    REFUSAL_LOGS,
    CommandError,
    ZmqService,
    curve_keypair,
    encode_message,
    is_loopback,
    parse_command,
)
from pubbot.config.settings import ConfigError, parse
from pubbot.core.bot import Bot
from pubbot.core.message import Message
from pubbot.irc.lines import parse as parse_line
from pubbot.store.memory import MemoryStore
from pubbot.testing import FakeChat

from .support.logs import capture_logs
from .support.servers import free_port


def command(**fields) -> list:
    return [json.dumps(fields).encode()]


class LoopbackTests(SynchronousTestCase):
    def test_loopback_addresses(self):
        for address in ("tcp://127.0.0.1:5556", "tcp://127.1.2.3:1", "tcp://localhost:5556",
                        "tcp://[::1]:5556", "tcp://lo:5556", "ipc:///tmp/pubbot.sock", "inproc://x"):
            self.assertTrue(is_loopback(address), address)

    def test_other_addresses(self):
        for address in ("tcp://*:5556", "tcp://0.0.0.0:5556", "tcp://192.168.1.2:5556",
                        "tcp://eth0:5556", "tcp://example.org:5556", "tcp://[::]:5556", "pgm://x"):
            self.assertFalse(is_loopback(address), address)


class ConfigTests(SynchronousTestCase):
    def test_loopback_needs_no_keys(self):
        s = parse({"zmq": {"publish": "tcp://127.0.0.1:5556", "commands": "ipc:///tmp/x"}})
        self.assertEqual(s.zmq.publish, "tcp://127.0.0.1:5556")

    def test_off_loopback_needs_curve_keys(self):
        with self.assertRaises(ConfigError) as e:
            parse({"zmq": {"publish": "tcp://*:5556"}})
        self.assertIn("[zmq] publish", str(e.exception))
        self.assertIn("curve_secret_key", str(e.exception))

    def test_off_loopback_needs_allowed_clients(self):
        public, secret = curve_keypair()
        with self.assertRaises(ConfigError) as e:
            parse({"zmq": {"commands": "tcp://0.0.0.0:5557", "curve_public_key": public,
                           "curve_secret_key": secret}})
        self.assertIn("curve_clients", str(e.exception))
        client, _ = curve_keypair()
        s = parse({"zmq": {"commands": "tcp://0.0.0.0:5557", "curve_public_key": public,
                           "curve_secret_key": secret, "curve_clients": [client]}})
        self.assertEqual(s.zmq.curve_clients, (client,))

    def test_keys_come_in_pairs_and_are_z85(self):
        public, secret = curve_keypair()
        with self.assertRaises(ConfigError) as e:
            parse({"zmq": {"curve_public_key": public}})
        self.assertIn("together", str(e.exception))
        with self.assertRaises(ConfigError) as e:
            parse({"zmq": {"curve_secret_key": "short"}})
        self.assertIn("[zmq] curve_secret_key", str(e.exception))
        self.assertNotIn("short", str(e.exception))  # a secret is never echoed

    def test_secret_key_is_masked(self):
        from pubbot.config.settings import effective
        public, secret = curve_keypair()
        s = parse({"zmq": {"curve_public_key": public, "curve_secret_key": secret}})
        self.assertEqual(effective(s)["zmq"]["curve_secret_key"], "********")
        self.assertNotIn(secret, repr(s))


class CommandParsingTests(SynchronousTestCase):
    def test_say_notice_action(self):
        for kind in ("say", "notice", "action"):
            self.assertEqual(parse_command(command(command=kind, channel="#pubbot", text="hi")),
                             ("irc", "#pubbot", "hi", kind))

    def test_network(self):
        self.assertEqual(parse_command(command(command="say", channel="#c", text="x", network="libera")),
                         ("libera", "#c", "x", "say"))
        self.assertEqual(parse_command(command(command="say", channel="#c", text="x", network="oftc-2")),
                         ("oftc-2", "#c", "x", "say"))
        self.assertEqual(parse_command(command(command="say", channel="#c", text="x"), "home"),
                         ("home", "#c", "x", "say"))  # none named: the first network

    def test_protocol_is_an_alias_of_network(self):
        self.assertEqual(parse_command(command(command="say", channel="#c", text="x", protocol="console")),
                         ("console", "#c", "x", "say"))
        self.assertEqual(parse_command(command(command="say", channel="#c", text="x", protocol="irc",
                                               network="libera")), ("libera", "#c", "x", "say"))

    def test_rejections(self):
        bad = [
            [b"{}", b"{}"],                                   # two frames
            [b"\xff\xfe"],                                     # not UTF-8
            [b"not json"],
            [b"[1, 2]"],
            command(command="kick", channel="#c", text="x"),
            command(command="say", channel="nick", text="x"),  # not a channel
            command(command="say", channel="#a,#b", text="x"),
            command(command="say", channel="#c\r\nQUIT", text="x"),
            command(command="say", channel="#c", text="line\r\nPRIVMSG #other :injected"),
            command(command="say", channel="#c", text="nul\0"),
            command(command="say", channel="#c", text="   "),
            command(command="say", channel="#c"),
            command(command="say", channel="#c", text="x" * 3000),
            command(command="say", channel="#c", text="x", protocol="irc two"),
            command(command="say", channel="#c", text="x", network="a.b"),
            command(command="say", channel="#c", text="x", network="*"),
            command(command="say", channel="#c", text="x", network=""),
            command(command="say", channel="#c", text="x", network=["irc"]),
            command(command="say", channel="#c", text="x", network="x" * 33),
            [b" " * (MAX_COMMAND + 1)],
        ]
        for frames in bad:
            with self.assertRaises(CommandError, msg=frames):
                parse_command(frames)

    @given(st.lists(st.binary(max_size=300), min_size=0, max_size=3))
    def test_arbitrary_frames_only_raise_command_error(self, frames):
        try:
            protocol, channel, text, kind = parse_command(frames)
        except CommandError:
            return
        self.assertNotIn("\n", text)
        self.assertNotIn("\r", channel + text)

    def test_encode_message(self):
        frames = encode_message(Message("chat.irc.#pubbot.chat", {"content": "hé", "n": 1}))
        self.assertEqual(frames[0], b"chat.irc.#pubbot.chat")
        self.assertEqual(json.loads(frames[1]), {"topic": "chat.irc.#pubbot.chat",
                                                  "fields": {"content": "hé", "n": 1}})

    def test_encode_message_with_a_lines_tags(self):
        # (a chat line's tags are a read-only mapping, parsed when read: they go out as an object)
        tags = parse_line("@time=2026-12-08T01:02:03.456Z;msgid=a\\sb PRIVMSG #c :x").tags
        frames = encode_message(Message("chat.irc.#c.chat", {"tags": tags, "bot": False}))
        self.assertEqual(json.loads(frames[1])["fields"], {
            "tags": {"time": "2026-12-08T01:02:03.456Z", "msgid": "a b"}, "bot": False})


def make_bot():
    bot = Bot(parse({}), Clock(), MemoryStore(Clock()))
    chat = FakeChat()
    bot.register_chat(chat)
    return bot, chat


class SocketTests(TestCase):
    """Real ZeroMQ sockets on loopback; the clients are plain pyzmq sockets."""

    def setUp(self):
        self.context = zmq.Context()
        self.addCleanup(self.context.destroy, 0)

    def start(self, **zmq_settings):
        settings = parse({"zmq": zmq_settings})
        bot, chat = make_bot()
        service = ZmqService(bot, reactor, settings.zmq)
        service.startService()
        self.addCleanup(service.stopService)
        return bot, chat, service

    def client(self, kind, address, server_public=None, keys=None):
        sock = self.context.socket(kind)
        sock.linger = 0
        if server_public:
            public, secret = keys
            sock.curve_serverkey = server_public.encode()
            sock.curve_publickey = public.encode()
            sock.curve_secretkey = secret.encode()
        if kind == zmq.SUB:
            sock.setsockopt(zmq.SUBSCRIBE, b"chat.irc.")
        sock.connect(address)
        return sock

    async def until(self, predicate, seconds=5.0):
        for _ in range(int(seconds / 0.02)):
            if predicate():
                return True
            await deferLater(reactor, 0.02, lambda: None)
        return predicate()

    async def receive(self, sock, seconds=3.0):
        for _ in range(int(seconds / 0.02)):
            try:
                return sock.recv_multipart(zmq.NOBLOCK)
            except zmq.Again:
                await deferLater(reactor, 0.02, lambda: None)
        return None

    async def test_firehose_by_topic_prefix(self):
        address = "tcp://127.0.0.1:%d" % free_port()
        bot, chat, service = self.start(publish=address)
        sub = self.client(zmq.SUB, address)
        # A SUB socket needs a moment to connect and subscribe; publish until it hears.
        got = None
        for _ in range(100):
            await bot.dispatcher.publish(Message("music.track", {"title": "t"}))
            await bot.dispatcher.publish(Message("chat.irc.#pubbot.chat", {"content": "hello"}))
            got = await self.receive(sub, 0.05)
            if got:
                break
        self.assertIsNotNone(got)
        self.assertEqual(got[0], b"chat.irc.#pubbot.chat")
        self.assertEqual(json.loads(got[1])["fields"], {"content": "hello"})
        # music.track never reaches a chat.irc. subscriber
        while got is not None:
            self.assertTrue(got[0].startswith(b"chat.irc."))
            got = await self.receive(sub, 0.2)

    async def test_push_say_is_sent(self):
        address = "tcp://127.0.0.1:%d" % free_port()
        bot, chat, service = self.start(commands=address)
        push = self.client(zmq.PUSH, address)
        push.send(json.dumps({"command": "say", "channel": "#pubbot", "text": "from outside"}).encode())
        push.send(b"garbage")
        push.send(json.dumps({"command": "action", "channel": "#pubbot", "text": "waves"}).encode())
        libera = FakeChat("libera")
        bot.register_chat(libera)
        push.send(json.dumps({"command": "notice", "channel": "#x", "text": "there",
                              "network": "libera"}).encode())
        self.assertTrue(await self.until(lambda: len(chat.sent) == 2 and libera.sent))
        self.assertEqual(chat.sent, [("#pubbot", "from outside", "say"), ("#pubbot", "waves", "action")])
        self.assertEqual(libera.sent, [("#x", "there", "notice")])
        self.assertEqual(service.rejected, 1)

    async def test_rejections_are_logged_within_bounds(self):
        # Whoever may push can push garbage without end: REFUSAL_LOGS lines
        # a minute, every rejection counted, and good commands still go.
        log = capture_logs(self)
        address = "tcp://127.0.0.1:%d" % free_port()
        bot, chat, service = self.start(commands=address)
        push = self.client(zmq.PUSH, address)
        for i in range(3 * REFUSAL_LOGS):
            push.send(b"garbage %d" % i)
        push.send(json.dumps({"command": "say", "channel": "#pubbot", "text": "still here"}).encode())
        self.assertTrue(await self.until(lambda: chat.sent))
        self.assertEqual(chat.sent, [("#pubbot", "still here", "say")])
        self.assertEqual(service.rejected, 3 * REFUSAL_LOGS)
        self.assertEqual(len(log.matching("rejected a ZeroMQ command")), REFUSAL_LOGS)
        self.assertEqual(service.unlogged["rejected"], 2 * REFUSAL_LOGS)

    def test_default_network_is_the_first(self):
        for config, first in (({}, "irc"), ({"irc": {"name": "home"}}, "home"),
                              ({"irc": {"name": "home", "server": "tcp:a:1"},
                                "networks": {"libera": {"server": "tcp:b:1"}}}, "home"),
                              ({"networks": {"libera": {"server": "tcp:b:1"}}}, "libera")):
            bot = Bot(parse(config), Clock(), MemoryStore(Clock()))
            self.assertEqual(ZmqService(bot, reactor, bot.settings.zmq).default_network, first)

    async def test_curve_lets_in_only_listed_clients(self):
        server_public, server_secret = curve_keypair()
        good, bad = curve_keypair(), curve_keypair()
        log = capture_logs(self)
        address = "tcp://127.0.0.1:%d" % free_port()
        bot, chat, service = self.start(commands=address, curve_public_key=server_public,
                                        curve_secret_key=server_secret, curve_clients=[good[0]])
        intruder = self.client(zmq.PUSH, address, server_public, bad)
        intruder.send(json.dumps({"command": "say", "channel": "#pubbot", "text": "intruder"}).encode())
        friend = self.client(zmq.PUSH, address, server_public, good)
        friend.send(json.dumps({"command": "say", "channel": "#pubbot", "text": "friend"}).encode())
        self.assertTrue(await self.until(lambda: chat.sent))
        await deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(chat.sent, [("#pubbot", "friend", "say")])
        self.assertTrue(log.matching("ZeroMQ refused a CURVE client"))
        # a client without CURVE gets nowhere either
        plain = self.client(zmq.PUSH, address)
        plain.send(json.dumps({"command": "say", "channel": "#pubbot", "text": "plain"}).encode())
        await deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(chat.sent, [("#pubbot", "friend", "say")])

    async def test_curve_firehose(self):
        server_public, server_secret = curve_keypair()
        good = curve_keypair()
        address = "tcp://127.0.0.1:%d" % free_port()
        bot, chat, service = self.start(publish=address, curve_public_key=server_public,
                                        curve_secret_key=server_secret, curve_clients=[good[0]])
        sub = self.client(zmq.SUB, address, server_public, good)
        got = None
        for _ in range(100):
            await bot.dispatcher.publish(Message("chat.irc.#c.chat", {"content": "secret"}))
            got = await self.receive(sub, 0.05)
            if got:
                break
        self.assertEqual(got[0], b"chat.irc.#c.chat")

    def test_mismatched_keys_turn_zmq_off_without_crashing(self):
        a, b = curve_keypair(), curve_keypair()
        address = "tcp://127.0.0.1:%d" % free_port()
        bot, chat, service = self.start(publish=address, curve_public_key=a[0], curve_secret_key=b[1],
                                        curve_clients=[a[0]])
        self.assertIsNone(service.pub)
        self.assertEqual(len(self.flushLoggedErrors()), 0)

    def test_port_in_use_turns_zmq_off_without_crashing(self):
        address = "tcp://127.0.0.1:%d" % free_port()
        blocker = self.context.socket(zmq.PUB)
        blocker.bind(address)
        self.addCleanup(blocker.close, 0)
        bot, chat, service = self.start(publish=address)
        self.assertIsNone(service.pub)
        self.assertNotIn(service.on_message, bot.dispatcher.observers)


