"""
The optional capabilities are declared (zope.interface), not probed for:
flow control (IInputFlow, IChatRegistrations), the dashboard's view of a
chat service (IChatStatus), stores to close (IClosable). Every provider is
checked with verifyObject; a provider without one is left alone.
"""

import json
import os
import random

from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from pubbot.cluster.remote import RemoteChat, describe
from pubbot.cluster.streams import RedisBus
from pubbot.config.settings import parse
from pubbot.console import ConsoleService
from pubbot.core.bot import Bot
from pubbot.core.interfaces import (
    IBus,
    IChannelModeration,
    IChannelSummary,
    IChatRegistrations,
    IChatService,
    IChatStatus,
    ICheckedStore,
    IClosable,
    IInputFlow,
    IStore,
)
from pubbot.core.localbus import LocalBus
from pubbot.core.message import ChatFields, Message
from pubbot.irc.service import IRCService
from pubbot.store.memory import MemoryStore
from pubbot.store.redis import RedisStore
from pubbot.store.sqlite import SQLiteStore
from pubbot.testing import FakeChat, Harness
from pubbot.web.status import connection

from .support.chat import START, FlowChat, RecordingBus
from .support.web import FakeIrc, http, make_site


def irc_service():
    reactor = MemoryReactorClock()
    reactor.advance(START)
    bot = Bot(parse({"irc": {"server": "tcp:127.0.0.1:6667", "channels": ["#pubbot"]}}), reactor,
              MemoryStore(reactor))
    bot.bus = RecordingBus()
    return IRCService(bot, reactor, rng=random.Random(1))


class ProviderTests(SynchronousTestCase):
    def test_the_local_bus(self):
        bus = LocalBus(Harness().bot)
        for interface in (IBus, IInputFlow, IChatRegistrations):
            self.assertTrue(verifyObject(interface, bus))

    def test_the_redis_bus_pauses_its_stream(self):
        bus = RedisBus(Clock(), None, None, None, process_id="test")
        self.assertTrue(verifyObject(IBus, bus))
        self.assertTrue(verifyObject(IInputFlow, bus))

    def test_the_irc_service(self):
        service = irc_service()
        for interface in (IChatService, IInputFlow, IChatStatus, IChannelSummary, IChannelModeration):
            self.assertTrue(verifyObject(interface, service))

    def test_the_console(self):
        console = ConsoleService(Harness().bot, lambda protocol: StringTransport(), lambda: None,
                                 show_banner=False)
        for interface in (IChatService, IInputFlow, IChatStatus):
            self.assertTrue(verifyObject(interface, console))
        self.assertFalse(IChannelModeration.providedBy(console))  # no channels to moderate

    def test_a_workers_stand_in_for_the_owners_chat(self):
        remote = RemoteChat(Harness().bot, "irc", "pubbot")
        self.assertTrue(verifyObject(IChatService, remote))
        self.assertTrue(verifyObject(IChatStatus, remote))
        self.assertFalse(IChannelModeration.providedBy(remote))  # it leaves orders for the owner

    def test_stores_that_hold_a_connection_or_file(self):
        sqlite = SQLiteStore(os.path.abspath(self.mktemp()), MemoryReactorClock())
        self.addCleanup(sqlite.close)
        for store in (sqlite, RedisStore(client=None)):
            self.assertTrue(verifyObject(IStore, store))
            self.assertTrue(verifyObject(IClosable, store))
        self.assertFalse(IClosable.providedBy(MemoryStore(Clock())))
        self.assertTrue(verifyObject(ICheckedStore, sqlite))

    def test_the_test_fakes(self):
        self.assertTrue(verifyObject(IInputFlow, FlowChat()))
        self.assertTrue(verifyObject(IChatService, FakeIrc()))
        self.assertTrue(verifyObject(IChatStatus, FakeIrc()))
        self.assertTrue(verifyObject(IChatStatus, FakeChat()))
        self.assertTrue(verifyObject(IChannelModeration, FakeChat()))


class WithoutTheCapabilityTests(SynchronousTestCase):
    """An object that declares nothing optional is never called for it."""

    def test_a_chat_service_without_flow_control_is_not_paused(self):
        h = Harness()
        plain, flowing = FakeChat("plain"), FlowChat()
        flowing.network = "flowing"
        plain.pause_input = lambda: self.fail("probed for an undeclared pause_input")
        h.bot.register_chat(plain)
        h.bot.register_chat(flowing)
        h.bot.hold_input("test")
        h.bot.release_input("test")
        self.assertEqual(flowing.calls, ["pause", "resume"])

    def test_a_chat_service_without_status_shows_its_name_protocol_and_nick(self):
        @implementer(IChatService)
        class Bare:
            network, protocol, command_prefix, nick = "irc", "irc", "!", "pubbot"
            connected = False  # not declared as IChatStatus: not read

            def send(self, target, text, kind="say", person=None):
                pass

            def roster(self, channel):
                return ["alice"]

        chat = Bare()
        shown = connection("irc", chat)
        self.assertEqual((shown["network"], shown["protocol"], shown["nick"], shown["connected"]),
                         ("irc", chat.protocol, chat.nick, True))
        self.assertEqual(shown["channels"], {})
        self.assertIsNone(shown["lines_in"])
        self.assertEqual(describe(chat)["channels"], {})

    def test_status_reads_a_declared_provider(self):
        h = Harness()
        h.bot.chat_services["irc"] = FakeIrc()
        site, _ = make_site(h)
        code, _, body = http(site, path=b"/status")
        irc = json.loads(body)["connections"][0]
        self.assertEqual((code, irc["lines_in"], irc["throttle_depth"], irc["lag"]), (200, 120, 4, 0.125))


class ChatFieldsTests(SynchronousTestCase):
    def test_a_chat_message_has_the_declared_fields(self):
        h = Harness()
        message = h.bot.chat_message(h.chat.network, "#pubbot", "alice", "%s: hello" % (h.chat.nick,), False,
                                     {"hostmask": "alice!a@host", "account": None})
        self.assertIsInstance(message, Message)
        fields = message.chat_fields
        self.assertIs(fields, message.fields)
        self.assertLessEqual(set(fields), set(ChatFields.__annotations__))
        for name in ("network", "protocol", "channel", "source_id", "source", "content", "private",
                     "direct", "command"):
            self.assertIn(name, fields)
        self.assertEqual((fields["content"], fields["direct"]), ("hello", True))
