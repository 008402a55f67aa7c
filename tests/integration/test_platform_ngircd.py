"""
The plugin platform on a real ngircd, watched by real clients: !help never
sends more than the reply cap into a channel, and !reload of a changed
drop-in answers with the new behaviour while the bot stays (no QUIT, no
JOIN seen by a client in the channel).
"""

from __future__ import annotations

import os
import textwrap

from twisted.internet import protocol, reactor
from twisted.internet.endpoints import TCP4ClientEndpoint

from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.core.help import plugin_of
from pubbot.irc.service import IRCService
from pubbot.loader import load_handlers
from pubbot.reload import PluginReloader
from pubbot.store.memory import MemoryStore

from ..support.ngircd import Base, HumanClient
from ..support.servers.ngircd import NgircdServer

HOT_V1 = '''
from pubbot.api import command, example

@command("hot")
@example("!hot", "v1")
def hot(msg):
    """Says which version runs."""
    return "hot v1"
'''

#: Enough commands that the list of them takes many lines.
MANY = "from pubbot.api import command\n\n" + "".join(
    "@command('word%03d')\ndef word%03d(msg):\n    return 'w'\n\n" % (i, i) for i in range(150))


class Watching(HumanClient):
    """A client in the channel recording what the bot does there: joins, parts, quits."""

    def __init__(self, nick):
        super().__init__(nick)
        self.seen: list[tuple[str, str]] = []

    def userJoined(self, user, channel):
        self.seen.append(("JOIN", user.split("!")[0]))

    def userLeft(self, user, channel):
        self.seen.append(("PART", user.split("!")[0]))

    def userQuit(self, user, message):
        self.seen.append(("QUIT", user.split("!")[0]))


class PlatformTests(Base):
    def start(self, max_reply_lines=3):
        self.ngircd = NgircdServer().start()
        self.addCleanup(self.ngircd.stop)
        self.dropins = self.mktemp()
        os.makedirs(self.dropins)
        self.write("hot.py", HOT_V1)
        self.write("many.py", MANY)
        self.settings = parse({
            "irc": {"server": "tcp:127.0.0.1:%d" % self.ngircd.port, "nick": "pubbot",
                    "channels": ["#pubbot"], "max_reply_lines": max_reply_lines},
            "plugins": {"paths": [self.dropins], "admins": ["*@*"]}})
        self.bot = Bot(self.settings, reactor, MemoryStore(reactor))
        for h in load_handlers([self.dropins]):
            if plugin_of(h) in ("core", "hot", "many", "fun", "karma"):
                self.bot.add_handler(h)
        self.bot.reloader = PluginReloader(self.bot)
        self.bot.start()
        self.addCleanup(self.bot.stop)
        self.service = IRCService(self.bot, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def write(self, name, text):
        with open(os.path.join(self.dropins, name), "w") as f:
            f.write(textwrap.dedent(text))

    async def watcher(self, nick="bob"):
        factory = protocol.Factory.forProtocol(lambda: Watching(nick))
        client = await TCP4ClientEndpoint(reactor, "127.0.0.1", self.ngircd.port).connect(factory)
        self.addCleanup(self._drop, client)
        await self.eventually(lambda: client._registered, "%s to register" % nick)
        client.join("#pubbot")
        await self.eventually(lambda: "#pubbot" in client.joined_channels, "%s to join" % nick)
        return client

    def said(self, client):
        return [text for who, where, text in client.heard if who == "pubbot" and where == "#pubbot"]

    async def test_help_never_sends_more_than_the_reply_cap(self):
        self.start(max_reply_lines=3)
        await self.bot_ready(("#pubbot",))
        alice = await self.human("alice")
        bob = await self.watcher()
        alice.say("#pubbot", "!help")
        alice.say("#pubbot", "!ping")  # answered after the help, in order: the end of it
        await self.eventually(lambda: "pong" in self.said(bob), "the help, then pong")
        lines = self.said(bob)[:-1]
        self.assertEqual(len(lines), 3, lines)
        self.assertTrue(lines[0].startswith("core: !help !ping !reload !uptime !version"), lines[0])
        self.assertTrue(lines[-1].endswith("… !help <command> or <plugin> for more."), lines[-1])
        self.assertEqual([h for h in bob.heard if h[1] == "bob"], [])  # nothing sent aside
        alice.say("#pubbot", "!help many")
        alice.say("#pubbot", "!ping")
        await self.eventually(lambda: self.said(bob).count("pong") == 2, "the plugin's help, then pong")
        self.assertEqual(len(self.said(bob)), 4 + 3 + 1)
        alice.say("#pubbot", "!help hot")
        await self.eventually(lambda: "e.g. !hot → v1" in self.said(bob), "a command's help")
        self.assertIn("!hot: Says which version runs.", self.said(bob))

    async def test_reload_of_a_changed_dropin_without_leaving(self):
        self.start()
        await self.bot_ready(("#pubbot",))
        alice = await self.human("alice")
        bob = await self.watcher()
        alice.say("#pubbot", "!hot")
        await self.eventually(lambda: "hot v1" in self.said(bob), "v1")
        self.write("hot.py", HOT_V1.replace("hot v1", "hot v2"))
        alice.say("#pubbot", "!reload hot")
        await self.eventually(lambda: "Reloaded hot: 1 handler; commands !hot." in self.said(bob),
                              "the reload's answer")
        alice.say("#pubbot", "!hot")
        await self.eventually(lambda: "hot v2" in self.said(bob), "the new behaviour")
        self.write("hot.py", "def broken(:\n")
        alice.say("#pubbot", "!reload hot")
        await self.eventually(lambda: any(t.startswith("Not reloaded: SyntaxError") for t in self.said(bob)),
                              "the error answered")
        alice.say("#pubbot", "!hot")
        await self.eventually(lambda: self.said(bob).count("hot v2") == 2, "the old code still running")
        self.flushLoggedErrors(SyntaxError)
        self.assertEqual([e for e in bob.seen if e[1] == "pubbot"], [])  # no QUIT, PART or JOIN
        self.assertEqual(self.service.reconnects, 0)
        self.assertTrue(self.service.connected)
