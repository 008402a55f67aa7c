"""
The community plugins on a real ngircd with real clients (Twisted's
IRCClient) and the real SQLite store: an admin makes the bot join and
part (and a non-admin cannot), an ignored user gets no answer while others
do, !grep finds a line said earlier (FTS5), and !quit says goodbye with
its reason and stops the daemon; a reminder set for a few seconds later
arrives, once.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.internet.task import deferLater

from pubbot.api import command
from pubbot.core.bot import Bot
from pubbot.irc.service import IRCService
from pubbot.plugins import admin, chatlogs, ignore, reminders
from pubbot.reminders.book import DUE_KEY
from pubbot.store.sqlite import SQLiteStore
from pubbot.testing import make_settings

from ..support.ngircd import Base, HumanClient


@command("echo", args=r"(?P<text>.+)")
def echo(msg, text=None):
    """Says it back."""
    return "echo: %s" % (text,)


class QuitWatcher(HumanClient):
    def __init__(self, nick):
        super().__init__(nick)
        self.quits = []

    def userQuit(self, user, message):
        self.quits.append((user, message))


class CommunityTests(Base):
    def start_community_bot(self):
        config = {"irc": {"server": "tcp:127.0.0.1:%d" % self.ngircd.port, "nick": "pubbot",
                          "channels": ["#pubbot"]},
                  "plugins": {"admins": ["*rootuser@*"]},
                  "logs": {"channels": ["#pubbot"]}}
        self.settings = make_settings(config, admin, chatlogs, ignore, reminders)
        store = SQLiteStore(os.path.abspath(self.mktemp()), reactor)
        self.bot = Bot(self.settings, reactor, store)
        self.stopped = []
        self.bot.shutdown = lambda: self.stopped.append(True)
        for h in (admin.admin_keeper, admin.join, admin.part, admin.say, admin.quit, ignore.ignore_gate,
                  ignore.ignore, chatlogs.chatlog, chatlogs.grep, reminders.reminders, reminders.remind,
                  echo):
            self.bot.add_handler(h)
        self.bot.start()
        self.addCleanup(store.close)
        self.addCleanup(self.bot.stop)
        self.service = IRCService(self.bot, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    async def person(self, nick, username=None, cls=HumanClient):
        from twisted.internet import protocol
        from twisted.internet.endpoints import TCP4ClientEndpoint

        def build():
            client = cls(nick)
            client.username = username or nick
            return client
        client = await TCP4ClientEndpoint(reactor, "127.0.0.1", self.ngircd.port).connect(
            protocol.Factory.forProtocol(build))
        self.addCleanup(self._drop, client)
        await self.eventually(lambda: client._registered, "%s to register" % nick)
        client.join("#pubbot")
        await self.eventually(lambda: "#pubbot" in client.joined_channels, "%s to join" % nick)
        await self.eventually(lambda: nick in self.service.roster("#pubbot"), "%s in the roster" % nick)
        return client

    async def test_admin_ignore_and_grep(self):
        self.start_server()
        self.start_community_bot()
        await self.bot_ready(("#pubbot",))
        root = await self.person("root", "rootuser", QuitWatcher)
        eve = await self.person("eve")
        mallory = await self.person("mallory")

        # an admin makes the bot join and part; eve is refused
        eve.say("#pubbot", "!join #evil")
        refusal = ("pubbot", "#pubbot", "Sorry eve, only admins can use join.")
        await self.eventually(lambda: refusal in eve.heard, "eve's refusal")
        root.say("#pubbot", "!join #new")
        await self.eventually(lambda: "pubbot" in self.service.roster("#new"), "the bot to join #new")
        root.say("#pubbot", "!part #new")
        await self.eventually(lambda: "#new" not in self.service.channels(), "the bot to part #new")
        self.assertNotIn("#evil", self.service.channels())

        # an ignored user gets no answer; the others do
        root.say("#pubbot", "!ignore add mallory!*@*")
        await self.eventually(lambda: ("pubbot", "#pubbot", "Ignoring mallory!*@*.") in root.heard,
                              "the ignore")
        mallory.say("#pubbot", "!echo anyone there")
        eve.say("#pubbot", "!echo after mallory")
        await self.eventually(lambda: ("pubbot", "#pubbot", "echo: after mallory") in eve.heard,
                              "eve's answer")
        self.assertNotIn(("pubbot", "#pubbot", "echo: anyone there"), mallory.heard)
        self.assertEqual(self.bot.dispatcher.gate.ignored, 1)

        # !grep finds a line said earlier (the log hears ignored senders too)
        eve.say("#pubbot", "the deploy broke at noon")
        mallory.say("#pubbot", "mallory saw the deploy too")
        for _ in range(400):
            found = await chatlogs.index_for(self.bot).search("irc", "#pubbot", ["deploy"], 5)
            if len(found) == 2:
                break
            await deferLater(reactor, 0.05, lambda: None)
        self.assertEqual([f["nick"] for f in found], ["mallory", "eve"])
        root.say("#pubbot", "!grep deploy noon")
        await self.eventually(lambda: any(h[:2] == ("pubbot", "root") and h[2].endswith(
            "<eve> the deploy broke at noon") for h in root.heard), "the private search result")

        # !quit says goodbye with its reason and stops the daemon
        root.say("#pubbot", "!quit see you tomorrow")
        await self.eventually(lambda: any("see you tomorrow" in m for u, m in root.quits), "the bot's QUIT")
        await self.eventually(lambda: self.stopped == [True], "the shutdown")

    async def test_a_reminder_set_for_a_few_seconds_later_arrives(self):
        self.start_server()
        self.start_community_bot()
        await self.bot_ready(("#pubbot",))
        eve = await self.person("eve")
        eve.say("#pubbot", "!remind me in 3s stretch your legs")
        await self.eventually(lambda: any(h[:2] == ("pubbot", "#pubbot") and h[2].startswith(
            "OK eve, reminder") for h in eve.heard), "the reminder's acknowledgement")
        fired = ("pubbot", "#pubbot", "eve: reminder: stretch your legs")
        await self.eventually(lambda: fired in eve.heard, "the reminder")
        self.assertEqual(eve.heard.count(fired), 1)
        self.assertEqual(await self.bot.store.hgetall(DUE_KEY), {})  # taken: no process fires it again
