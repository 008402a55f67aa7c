"""
Reminders on a real redis-server: one set through a process that is
killed (SIGKILL) before it is due is fired exactly once by the processes
left, however many look for it at the same moment.

The process that sets it is a real one (a bot with its own Redis client
handling C{!remind}); the two left are bots in this process, each with a
Redis client of its own (as the processes of a cluster have), on clocks
moved past the reminder's time rather than waited for.
"""

from __future__ import annotations

import select
import subprocess
import sys
import time

import pytest
from twisted.internet import reactor
from twisted.internet.defer import gatherResults
from twisted.trial.unittest import TestCase

from pubbot.cluster.redisclient import RedisClient
from pubbot.reminders.book import DUE_KEY, ReminderBook
from pubbot.store.redis import RedisStore
from pubbot.testing import Harness

from .support.servers import bot_env, terminate
from .support.servers.redis import RedisServer

#: The process that sets the reminder, then waits to be killed.
SETTER = """
import sys
from twisted.internet import defer, reactor
from pubbot.cluster.redisclient import RedisClient
from pubbot.plugins.reminders import Reminders, remind
from pubbot.store.redis import RedisStore
from pubbot.testing import Harness

async def main():
    client = RedisClient(reactor, sys.argv[1], name="setter")
    client.start()
    await client.when_connected()
    bot = Harness(Reminders(), remind, store=RedisStore(client), start_time=float(sys.argv[2]))
    reply = await bot.say("!remind me in 1m tea", source="ann")
    print("|".join(reply.lines), flush=True)

def failed(f):
    print("failed: %s" % (f.getErrorMessage(),), flush=True)
    reactor.stop()

defer.ensureDeferred(main()).addErrback(failed)
reactor.run()
"""


@pytest.mark.integration  # a real redis-server
class KilledSetterTests(TestCase):
    def setUp(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)

    def set_in_a_process(self, now: float) -> str:
        process = subprocess.Popen([sys.executable, "-c", SETTER, self.server.url, repr(now)], env=bot_env(),
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(terminate, process)
        readable, _, _ = select.select([process.stdout], [], [], 60)
        self.assertTrue(readable, "the setter said nothing in 60s")
        said = process.stdout.readline().strip()
        process.kill()  # before the reminder is due: it never fires it
        process.wait(10)
        return said

    async def process(self, name: str, now: float) -> Harness:
        client = RedisClient(reactor, self.server.url, name=name)
        client.start()
        self.addCleanup(client.stop)
        await client.when_connected()
        return Harness(store=RedisStore(client), start_time=now)

    async def test_fired_exactly_once_after_its_setter_was_killed(self):
        now = time.time()
        self.assertEqual(self.set_in_a_process(now), "OK ann, reminder 1 in 1:00.")
        one, two = await self.process("one", now + 61), await self.process("two", now + 61)
        books = [ReminderBook(one.bot), ReminderBook(two.bot)]
        fired = await gatherResults([b.check() for b in books + books])  # both look, twice, at once
        self.assertEqual(sum(fired), 1)
        lines = [text for _, text, _ in one.sent + two.sent]
        self.assertEqual(lines, ["ann: reminder: tea"])
        self.assertEqual(await one.store.hgetall(DUE_KEY), {})
        self.assertEqual(await gatherResults([b.check() for b in books]), [0, 0])
