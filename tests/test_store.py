"""The shared IStore suite against every store: memory, SQLite and a real Redis."""

from __future__ import annotations

import os
import time

import pytest
from twisted.internet import reactor
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import TestCase

from pubbot.cluster.redisclient import RedisClient, RedisUnavailable
from pubbot.store.memory import MemoryStore
from pubbot.store.redis import RedisStore
from pubbot.store.sqlite import SQLiteStore

from .support.servers.redis import RedisServer
from .support.store_suite import StoreSuite


class MemoryStoreTests(StoreSuite, TestCase):
    def make_store(self):
        self.clock = Clock()
        return MemoryStore(self.clock)

    def advance(self, seconds):
        self.clock.advance(seconds)


class SQLiteStoreTests(StoreSuite, TestCase):
    def make_store(self):
        self.clock = Clock()
        store = SQLiteStore(os.path.abspath(self.mktemp()), reactor, clock=self.clock)
        self.addCleanup(store.close)
        return store

    def advance(self, seconds):
        self.clock.advance(seconds)


@pytest.mark.integration  # a real redis-server
class RedisStoreTests(StoreSuite, TestCase):
    """Against a real redis-server of our own; its clock is real time."""

    def make_store(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)
        self.client = RedisClient(reactor, self.server.url, name="store-test")
        self.client.start()
        self.addCleanup(self.client.stop)
        return RedisStore(self.client)

    def store_ready(self):
        return self.client.when_connected()

    def advance(self, seconds):
        return deferLater(reactor, seconds, lambda: None)

    def now(self):
        return time.time()

    async def test_keys_live_under_their_own_prefix(self):
        await self.store.set("karma:alice", 3)
        await self.client.execute("SET", "pubbot:bus:other", "x")
        self.assertEqual(await self.store.keys(), ["karma:alice"])
        self.assertEqual(await self.client.execute("GET", "pubbot:store:karma:alice"), "3")

    async def test_fails_cleanly_while_redis_is_down(self):
        """A stopped Redis: calls fail with RedisUnavailable, never hang or crash."""
        await self.store.set("k", 1)
        self.server.pause()
        try:
            self.client.timeout = 0.3
            with self.assertRaises(RedisUnavailable):
                await self.store.get("k")
            with self.assertRaises(RedisUnavailable):
                await self.store.incr("n")
        finally:
            self.server.resume()
        self.client.timeout = 5
        await self.client.when_connected()
        self.assertEqual(await self.store.get("k"), 1)
