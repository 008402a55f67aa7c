"""
Redis Sentinel failover against real servers: a master, a replica and three
redis-sentinel processes (down after 1 s), one ngircd and two real
C{twistd -n pubbot} processes configured with C{[redis] sentinels}, all on
free loopback ports. The master fails over by C{SENTINEL FAILOVER} (it stays
up and is demoted) and by SIGKILL; then:

- a store over Sentinel keeps working and has everything written before that
  WAIT acknowledged; counters are neither short nor doubled;
- the bot is on IRC again within the lease time plus the failover time: with
  a lease (5 s) that outlasts the failover the owner stays; with a shorter one
  (2 s, the master killed) it leaves and a process comes back;
- exactly one process then holds the IRC lease on the new master, there was
  never a second bot on IRC, and a line said afterwards is answered once.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from pubbot.cluster.lease import IRC_LEASE
from pubbot.cluster.redisclient import RedisClient, RedisUnavailable
from pubbot.cluster.sentinel import SentinelMaster, parse_sentinels
from pubbot.cluster.streams import PROCS
from pubbot.store.redis import RedisStore

from ..support.scaleout import PLUGIN, Pubbot, Waits, cluster_config, lease_pid, other_plugins
from ..support.servers.ngircd import NgircdServer
from ..support.servers.sentinel import MASTER, SentinelGroup

#: Registering on IRC (ngircd's penalty for the nick check and the new connection).
IRC_SLACK = 5.0


class SentinelFailoverTests(Waits, TestCase):
    timeout = 120

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="pubbot-sentinel-it-")
        marks, self.plugins = os.path.join(self.directory, "marks"), os.path.join(self.directory, "plugins")
        os.makedirs(marks)
        os.makedirs(self.plugins)
        with open(os.path.join(self.plugins, "scaleout_test_plugin.py"), "w") as f:
            f.write(PLUGIN % {"marks": marks})
        self.group = SentinelGroup(down_after_ms=1000, failover_timeout_ms=3000).start()
        self.addCleanup(self.group.stop)
        self.irc = NgircdServer().start()
        self.addCleanup(self.irc.stop)
        self.bots: list[Pubbot] = []

    def tearDown(self):
        for bot in self.bots:
            bot.stop()
        if os.environ.get("PUBBOT_SHOW_LOGS"):  # for debugging a failure
            for i, bot in enumerate(self.bots):
                sys.stderr.write("---- pubbot process %d ----\n%s\n" % (i, bot.log()))
            sys.stderr.write(self.group.logs())
        shutil.rmtree(self.directory, True)

    def config(self, lease: float) -> str:
        redis = ["sentinels = %s" % json.dumps(self.group.addresses), 'master = "%s"' % MASTER]
        return cluster_config(self.irc.port, self.plugins, other_plugins(), redis, lease, 6.0)

    def store(self) -> RedisStore:
        master = SentinelMaster(reactor, parse_sentinels(self.group.addresses), MASTER)
        store = RedisStore(RedisClient(reactor, master, name="test-store", timeout=2.0))
        self.addCleanup(store.close)
        return store

    def holder_pid(self) -> int | None:
        """The pid in the lease token on the current master."""
        return lease_pid(self.group.current_master().query("GET", IRC_LEASE))

    def heartbeating(self) -> int:
        return self.group.current_master().query("ZCARD", PROCS)

    async def retrying(self, op, seconds: float = 15.0):
        """Run C{op()} until Redis answers it (the clients reconnect after a failover)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                return await op()
            except RedisUnavailable:
                if time.monotonic() > deadline:
                    raise
                await self.sleep(0.1)

    async def fail_over(self, kill: bool, lease: float, leaves: bool) -> None:
        observer = await self.observe()
        self.bots = [Pubbot(self.directory, i, self.config(lease)).start() for i in range(2)]
        self.assertTrue(await self.until(lambda: observer.joins, 60), "the bot never joined")
        self.assertTrue(await self.until(lambda: self.heartbeating() == 2, 30))
        observer.say("!echo before")
        self.assertTrue(await self.until(lambda: observer.said("echo before"), 15))

        # What the store holds before the failover, acknowledged by the replica.
        store = self.store()
        for i in range(20):
            await store.set("k%d" % i, {"i": i})
            await store.incr("counter")
            await store.sadd("members", "m%d" % i)
        self.assertEqual(await store.client.execute("WAIT", 1, 2000), 1)
        owner_before = self.holder_pid()
        self.assertIn(owner_before, [b.pid for b in self.bots])

        old = self.group.current_master()
        started = time.monotonic()
        if kill:
            old.kill()
        else:
            self.group.failover()
        new = self.group.wait_for_new_master(old)
        failover = time.monotonic() - started

        # The store follows on its own (+switch-master, or the lost connection) and has
        # everything acknowledged, once.
        self.assertTrue(await self.until(
            lambda: store.client.connected and store.client.address.port == new.port, 10),
            "the store is still at %s" % store.client.address.describe())
        self.assertEqual(await self.retrying(lambda: store.incr("counter")), 21)
        self.assertEqual(await store.get("k19"), {"i": 19})
        self.assertEqual([await store.get("k%d" % i) for i in range(20)], [{"i": i} for i in range(20)])
        self.assertEqual(await store.smembers("members"), {"m%d" % i for i in range(20)})

        # The bot: on IRC again within the lease time plus the failover time
        # (it stays when its lease outlasts the failover, else it leaves and
        # a process comes back), then answers a line once.
        if leaves:
            self.assertTrue(await self.until(lambda: observer.quits, lease), "the owner stayed on IRC")
        back = await self.until(lambda: len(observer.joins) == 1 + len(observer.quits),
                                lease + failover + IRC_SLACK)
        took = time.monotonic() - started
        sys.stderr.write("failover (%s) %.1fs; the bot (lease %ss) %s, on IRC %.1fs after it began\n" % (
            "kill" if kill else "SENTINEL FAILOVER", failover, lease,
            "left and came back" if observer.quits else "stayed", took))
        self.assertTrue(back, "the bot was not back on IRC within %.1fs" % (lease + failover + IRC_SLACK))
        self.assertEqual(len(observer.quits), 1 if leaves else 0)
        observer.say("!echo after")
        self.assertTrue(await self.until(lambda: observer.said("echo after"), 15))
        await self.sleep(2)
        self.assertEqual(len(observer.said("echo after")), 1)
        self.assertEqual(len(observer.said("echo before")), 1)

        # One lease holder, on the new master, alive; never two bots on IRC.
        owner = self.holder_pid()
        self.assertIn(owner, [b.pid for b in self.bots if b.alive()])
        self.assertEqual(new.query("GET", IRC_LEASE), self.group.current_master().query("GET", IRC_LEASE))
        self.assertTrue(observer.users, "no LUSERS samples")
        self.assertLessEqual(max(observer.users), 3, "a second bot was on IRC: %s" % observer.users)
        self.assertEqual({nick for _, nick in observer.joins}, {"pubbot"})
        for bot in self.bots:
            self.assertIn("Redis master pubbot switched to 127.0.0.1:%d" % new.port, bot.log())

    async def test_sentinel_failover_command(self):
        await self.fail_over(kill=False, lease=5.0, leaves=False)

    async def test_master_killed_lease_shorter_than_the_failover(self):
        # The owner cannot renew for longer than its lease allows: it leaves
        # IRC, and a process (maybe itself) takes the lease on the new master.
        await self.fail_over(kill=True, lease=2.0, leaves=True)
