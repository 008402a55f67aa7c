"""
The admin orders and the ignore list across processes: two bots, each
with its own client of one real redis-server (as a worker and the owner
of a scaled-out bot are), the second holding the IRC connection (a real
IRC service on a scripted connection). What one keeps, the other obeys at
its next refresh (called here rather than waited for).
"""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from pubbot.admin import Keeper
from pubbot.cluster.redisclient import RedisClient
from pubbot.core.bot import Bot
from pubbot.ignore import Gate, IgnoreList
from pubbot.plugins.ignore import IgnoreSettings
from pubbot.store.redis import RedisStore

from .support.irc import Connection, make_service
from .support.servers.redis import RedisServer


@pytest.mark.integration  # a real redis-server
class CrossProcessTests(TestCase):
    def setUp(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)
        self.stores = []
        for name in ("worker", "owner"):
            client = RedisClient(reactor, self.server.url, name=name)
            client.start()
            self.addCleanup(client.stop)
            self.stores.append(RedisStore(client))
        self.service = make_service({"channels": ["#pubbot"]})
        self.owner = self.service.bot
        self.owner.store = self.stores[1]
        self.worker = Bot(self.owner.settings, self.owner.clock, self.stores[0])
        return self.stores[0].client.when_connected().addCallback(
            lambda _: self.stores[1].client.when_connected())

    async def test_a_join_kept_by_a_worker_is_made_by_the_owner(self):
        conn = Connection(self.service)
        conn.register()
        conn.sent()
        keeper = Keeper(self.owner)
        await Keeper(self.worker).record("irc", "#far", True, "k3y", "root")
        await Keeper(self.worker).order("irc", "nick", "renamed")
        await keeper._poll()
        self.assertEqual(sorted(conn.sent()), ["JOIN #far k3y", "NICK renamed"])
        await keeper._poll()
        self.assertEqual(conn.sent(), [])
        await Keeper(self.worker).record("irc", "#far", False, None, "root")
        await keeper._poll()
        self.assertEqual(conn.sent(), ["PART #far"])

    async def test_an_ignore_added_by_one_process_holds_in_the_other(self):
        gate = Gate(self.owner, IgnoreSettings())  # [ignore]'s defaults: the service's settings lack it
        await gate.refresh()
        message = self.owner.chat_message("irc", "#pubbot", "m", "hi", False, {"account": "mallory"})
        self.assertIsNone(gate([message]))
        self.assertIsNone(await IgnoreList(self.worker, 10).add("mallory", "root", 3600.0, "spam"))
        await gate.refresh()
        self.assertEqual(gate([message]), {0: False})
        self.assertTrue(await IgnoreList(self.worker, 10).remove("mallory"))
        await gate.refresh()
        self.assertIsNone(gate([message]))
