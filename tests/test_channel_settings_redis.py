"""
Per-channel settings across processes through a real redis-server: two bots,
each with its own client and RedisStore (as the processes of a scaled-out
bot are); what !channel changes in one holds in the other at its next poll
of the version counter (within POLL_SECONDS).
"""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from pubbot.api import command
from pubbot.cluster.redisclient import RedisClient
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.core.channels import POLL_SECONDS
from pubbot.plugins import channels, greet
from pubbot.store.redis import RedisStore
from pubbot.testing import FakeChat, builtin_sections

from .support.servers.redis import RedisServer


@command("marco")
def marco(msg):
    """Answers polo."""
    return "polo"


@pytest.mark.integration  # a real redis-server
class RedisChannelSettingsTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)
        settings = parse({"plugins": {"admins": ["boss"]}}, builtin_sections())
        self.bots = []
        for name in ("worker-1", "worker-2"):
            client = RedisClient(reactor, self.server.url, name=name)
            client.start()
            self.addCleanup(client.stop)
            await client.when_connected()
            bot = Bot(settings, reactor, RedisStore(client), process_id=name)
            bot.register_chat(FakeChat())
            for h in (channels.channel, greet.greeter, marco):
                bot.add_handler(h)
            bot.start()
            self.addCleanup(bot.stop)
            self.bots.append(bot)

    async def say(self, bot, text, channel="#pubbot"):
        reply = await bot.chat_line("irc", channel, "root", text, hostmask="root!root@example.org",
                                    account="boss")
        return None if reply is None else "\n".join(reply.lines)

    async def eventually(self, predicate, what):
        deadline = reactor.seconds() + 4 * POLL_SECONDS
        while not predicate():
            if reactor.seconds() > deadline:
                self.fail("timed out waiting for " + what)
            await deferLater(reactor, 0.05, lambda: None)

    async def test_a_change_in_one_process_holds_in_the_other(self):
        one, two = self.bots
        self.assertEqual(await self.say(two, "!marco"), "polo")
        self.assertEqual(await self.say(one, "!channel disable test_channel_settings_redis"),
                         "test_channel_settings_redis is now off in #pubbot.")
        self.assertIsNone(await self.say(one, "!marco"))
        await self.eventually(lambda: two.channels.disabled("irc", "#pubbot"), "the other to see it")
        self.assertIsNone(await self.say(two, "!marco"))
        self.assertEqual(await self.say(two, "!marco", channel="#other"), "polo")
        await self.say(two, "!channel set greet.templates both %(nick)s")
        await self.eventually(
            lambda: one.settings_for("irc", "#PubBot").greet.templates == ("both %(nick)s",),
            "the template in the first")
        shown = await self.say(one, "!channel show")
        self.assertIn("greet.templates = [\"both %(nick)s\"] (set by root (account:boss)", shown)
        self.assertEqual(await self.say(two, "!channel enable test_channel_settings_redis"),
                         "test_channel_settings_redis is now on in #pubbot.")
        await self.eventually(lambda: not one.channels.disabled("irc", "#pubbot"), "the first to enable it")
        self.assertEqual(await self.say(one, "!marco"), "polo")
