"""
Per-channel settings on a real ngircd, with real clients: a plugin disabled
with !channel in one channel is silent there and answers in the other; the
config's [channels] table holds the same way; enabling it again brings it back.
"""

from __future__ import annotations

from twisted.internet import reactor

from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.irc.service import IRCService
from pubbot.plugins import channels, core, fun
from pubbot.store.memory import MemoryStore
from pubbot.testing import builtin_sections

from ..support.ngircd import Base
from ..support.servers.ngircd import NgircdServer


class ChannelSettingsTests(Base):
    def start(self, tables=None):
        self.ngircd = NgircdServer().start()
        self.addCleanup(self.ngircd.stop)
        self.settings = parse({
            "irc": {"server": "tcp:127.0.0.1:%d" % self.ngircd.port, "nick": "pubbot",
                    "channels": ["#pubbot", "#work"]},
            "plugins": {"admins": ["*@*"]},
            "channels": tables or {}}, builtin_sections())
        self.bot = Bot(self.settings, reactor, MemoryStore(reactor))
        for h in (core.ping, channels.channel, fun.christmas):
            self.bot.add_handler(h)
        self.bot.start()
        self.addCleanup(self.bot.stop)
        self.service = IRCService(self.bot, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def said(self, client, channel):
        return [text for who, where, text in client.heard if who == "pubbot" and where == channel]

    async def both(self):
        await self.bot_ready(("#pubbot", "#work"))
        alice = await self.human("alice", "#pubbot")
        alice.join("#work")
        await self.eventually(lambda: "#work" in alice.joined_channels, "alice to join #work")
        return alice

    async def ask_christmas(self, alice, channel):
        """!christmas then !ping in C{channel}: the pong comes after whatever the first gave."""
        before = len(self.said(alice, channel))
        alice.say(channel, "!christmas")
        alice.say(channel, "!ping")
        await self.eventually(lambda: "pong" in self.said(alice, channel)[before:], "pong in %s" % channel)
        return [line for line in self.said(alice, channel)[before:] if line != "pong"]

    async def test_disabled_in_one_channel_and_not_the_other(self):
        self.start()
        alice = await self.both()
        alice.say("#work", "!channel disable fun")
        await self.eventually(lambda: "fun is now off in #work." in self.said(alice, "#work"), "the answer")
        self.assertEqual(await self.ask_christmas(alice, "#work"), [])
        answered = await self.ask_christmas(alice, "#pubbot")
        self.assertEqual(len(answered), 1)
        self.assertIn("Christmas", answered[0])
        alice.say("#work", "!channel show")
        await self.eventually(lambda: any(line.startswith("Off in #work: fun (chat).")
                                          for line in self.said(alice, "#work")), "the show")
        alice.say("#work", "!channel enable fun")
        await self.eventually(lambda: "fun is now on in #work." in self.said(alice, "#work"), "enabled")
        self.assertEqual(len(await self.ask_christmas(alice, "#work")), 1)

    async def test_the_config_table_holds_in_its_channel_only(self):
        self.start({"#work": {"disabled": ["fun"]}})
        alice = await self.both()
        self.assertEqual(await self.ask_christmas(alice, "#work"), [])
        self.assertEqual(len(await self.ask_christmas(alice, "#pubbot")), 1)
