"""The Redis connection: first connection, set-up, timeouts, authentication, stopping."""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from pubbot.cluster.redisclient import RedisClient, RedisUnavailable

from .support.servers import free_port
from .support.servers.redis import RedisServer


@pytest.mark.integration  # a real redis-server
class ClientTests(TestCase):
    def client(self, url, **kwargs):
        c = RedisClient(reactor, url, name="client-test", **kwargs)
        self.addCleanup(c.stop)
        return c

    async def test_commands_before_the_first_connection_wait_for_it(self):
        server = RedisServer().start()
        self.addCleanup(server.stop)
        c = self.client(server.url)
        # not even started: the first command starts it and waits
        self.assertEqual(await c.execute("PING"), "PONG")
        self.assertTrue(c.connected)

    async def test_nothing_listening_fails_after_the_timeout(self):
        c = self.client("redis://127.0.0.1:%d/0" % free_port(), timeout=0.5)
        with self.assertRaises(RedisUnavailable):
            await c.execute("PING")

    async def test_password_and_database(self):
        server = RedisServer(password="s3cret").start()
        self.addCleanup(server.stop)
        c = self.client(server.url.replace("/0", "/5"))
        await c.execute("SET", "k", "v")
        self.assertEqual(server.query("SELECT", "5"), b"OK")
        self.assertEqual(await c.execute("GET", "k"), "v")
        self.assertEqual(await c.execute("CLIENT", "INFO") and (await c.execute("GET", "k")), "v")

    async def test_wrong_password_is_logged_never_connects_never_crashes(self):
        server = RedisServer(password="s3cret").start()
        self.addCleanup(server.stop)
        c = self.client(server.url.replace("s3cret", "wrong"), timeout=1.0)
        with self.assertRaises(RedisUnavailable):
            await c.execute("PING")
        self.assertFalse(c.connected)
        self.flushLoggedErrors()

    async def test_stop_during_set_up_is_clean(self):
        server = RedisServer().start()
        self.addCleanup(server.stop)
        c = RedisClient(reactor, server.url, name="set-up", on_connect=lambda p: Deferred())
        c.start()
        for _ in range(200):
            if c.preparing:
                break
            await deferLater(reactor, 0.01, lambda: None)
        self.assertTrue(c.preparing)
        await c.stop()
        self.assertFalse(c.connected)
        await deferLater(reactor, 0.05, lambda: None)  # the aborted connection closes quietly

    async def test_paused_server_times_out_then_comes_back(self):
        server = RedisServer().start()
        self.addCleanup(server.stop)
        c = self.client(server.url, timeout=0.3)
        await c.execute("SET", "k", "1")
        server.pause()
        try:
            with self.assertRaises(RedisUnavailable):
                await c.execute("GET", "k")
        finally:
            server.resume()
        c.timeout = 5
        await c.when_connected()
        self.assertEqual(await c.execute("GET", "k"), "1")
