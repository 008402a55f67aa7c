"""
Moderation on a real ngircd with real clients: an op (alice, first in a
fresh channel, who gives the bot ops) has the bot ban and kick a third
client, who sees the KICK and cannot come back (474); someone without ops
is refused, and the bot without ops says it needs them.
"""

from __future__ import annotations

from twisted.internet import protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint

from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.irc.service import IRCService
from pubbot.plugins import moderation
from pubbot.store.memory import MemoryStore

from ..support.ngircd import Base, HumanClient
from ..support.servers.ngircd import NgircdServer

CHANNEL = "#mod"


class Moderated(HumanClient):
    """A client recording the kicks it suffers and the channels it is banned from."""

    def __init__(self, nick):
        super().__init__(nick)
        self.kicks: list[tuple[str, str, str]] = []
        self.banned_from: list[str] = []

    def kickedFrom(self, channel, kicker, message):
        self.joined_channels.discard(channel)
        self.kicks.append((channel, kicker, message))

    def irc_ERR_BANNEDFROMCHAN(self, prefix, params):
        self.banned_from.append(params[1])


class ModerationTests(Base):
    def start(self):
        self.ngircd = NgircdServer().start()
        self.addCleanup(self.ngircd.stop)

    def start_moderating_bot(self):
        settings = parse({"irc": {"server": "tcp:127.0.0.1:%d" % self.ngircd.port, "nick": "pubbot",
                                  "channels": [CHANNEL]}})
        self.bot = Bot(settings, reactor, MemoryStore(reactor))
        for name in dir(moderation):
            if hasattr(getattr(moderation, name), "handle"):
                self.bot.add_handler(getattr(moderation, name))
        self.bot.start()
        self.addCleanup(self.bot.stop)
        self.service = IRCService(self.bot, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def said(self, client):
        return [text for who, where, text in client.heard if who == "pubbot" and where == CHANNEL]

    async def client(self, nick):
        factory = protocol.Factory.forProtocol(lambda: Moderated(nick))
        client = await TCP4ClientEndpoint(reactor, "127.0.0.1", self.ngircd.port).connect(factory)
        self.addCleanup(self._drop, client)
        await self.eventually(lambda: client._registered, "%s to register" % nick)
        client.join(CHANNEL)
        await self.eventually(lambda: CHANNEL in client.joined_channels, "%s to join" % nick)
        return client

    async def test_an_op_kicks_and_bans(self):
        self.start()
        alice = await self.client("alice")  # first in the fresh channel: ngircd makes her op
        self.start_moderating_bot()
        await self.bot_ready((CHANNEL,))
        troll = await self.client("troll")
        await self.eventually(lambda: self.service.hostmask_of("troll") is not None, "troll's host known")

        alice.say(CHANNEL, "!kick troll")
        await self.eventually(lambda: "I need ops in #mod to do that." in self.said(alice), "no ops yet")
        troll.say(CHANNEL, "!kick alice")
        await self.eventually(lambda: "Sorry troll, kick needs ops (+o) in #mod." in self.said(alice),
                              "troll refused")

        alice.mode(CHANNEL, True, "o", user="pubbot")
        await self.eventually(lambda: "o" in self.bot.modes("irc", CHANNEL, "pubbot"), "the bot to get ops")
        alice.say(CHANNEL, "!quiet troll")  # ngircd: q is the founder prefix, and there is no EXTBAN
        await self.eventually(lambda: "This server has no quiet mode (no +q list mode, no mute extban)."
                              in self.said(alice), "no quiet mode on ngircd")
        host = self.service.hostmask_of("troll").rpartition("@")[2]
        alice.say(CHANNEL, "!ban troll")
        await self.eventually(lambda: "Banned *!*@%s." % (host,) in self.said(alice), "the ban answered")
        alice.say(CHANNEL, "!kick troll enough")
        await self.eventually(lambda: troll.kicks, "troll to be kicked")
        self.assertEqual(troll.kicks, [(CHANNEL, "pubbot", "enough")])
        await self.eventually(lambda: "troll" not in self.service.roster(CHANNEL), "troll out of the roster")

        troll.join(CHANNEL)
        await self.eventually(lambda: troll.banned_from, "troll refused at the door (474)")
        self.assertEqual(troll.banned_from, [CHANNEL])
        self.assertNotIn(CHANNEL, troll.joined_channels)
        self.assertEqual(alice.kicks, [])
