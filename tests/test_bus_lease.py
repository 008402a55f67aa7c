"""
The IRC lease and the owner gate, driven by Clocks.

A small simulated Redis (the lease's three scripts, with network latency,
outages, pauses) stands in for the server so that time is exact; a second
set of tests runs the same lease against a real redis-server.
"""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.application.service import Service
from twisted.internet import reactor
from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.cluster.lease import ACQUIRE, IRC_LEASE, RELEASE, RENEW, Lease, OwnerGate, owner_of
from pubbot.cluster.redisclient import RedisClient, RedisUnavailable

from .support.servers.redis import RedisServer

LATENCY = 0.002


class SimRedis:
    """The lease scripts over a dict, with expiry on the world clock."""

    def __init__(self, world: Clock):
        self.world = world
        self.data: dict[str, tuple[str, float]] = {}
        self.state = "up"  # "up", "paused" (commands wait), "down" (refused)
        self.paused: deque = deque()
        #: The replica's copy (with the same absolute expiries, as Redis replicates them).
        self.replica: dict[str, tuple[str, float]] = {}
        #: While True, writes do not reach the replica (and WAIT times out).
        self.lagging = False

    def replicate(self) -> bool:
        """Copy the master's writes to the replica unless it lags; True when it has them all."""
        if not self.lagging:
            self.replica = dict(self.data)
        return not self.lagging

    def failover(self) -> None:
        """The replica becomes the master, with what it had; the old master is gone."""
        self.data, self.lagging = dict(self.replica), False

    def value(self, key):
        entry = self.data.get(key)
        if entry is None or entry[1] <= self.world.seconds():
            self.data.pop(key, None)
            return None
        return entry[0]

    def run(self, script, keys, args):
        key, now = keys[0], self.world.seconds()
        current = self.value(key)
        if script == ACQUIRE:
            token, ms = args
            if current is None or current == token:
                self.data[key] = (token, now + ms / 1000.0)
                return [1]
            return [0, int((self.data[key][1] - now) * 1000), current]
        if script == RENEW:
            token, ms = args
            if current == token:
                self.data[key] = (token, now + ms / 1000.0)
                return 1
            return 0
        if script == RELEASE:
            if current == args[0]:
                del self.data[key]
                return 1
            return 0
        raise AssertionError("unknown script")

    def submit(self, job) -> None:
        if self.state == "paused":
            self.paused.append(job)
        else:
            job()

    def resume(self) -> None:
        self.state = "up"
        while self.paused:
            self.paused.popleft()()


class SimProcess:
    """A process: its own clock, an inbox of answers, and a freeze switch."""

    def __init__(self, world: Clock, redis: SimRedis, name: str, duration: float):
        self.world = world
        self.redis = redis
        self.clock = Clock()
        self.clock.rightNow = world.seconds()
        self.frozen = False
        self.dead = False
        self.inbox: deque = deque()
        self.acquired = 0
        self.lost: list[str] = []
        self.lease = Lease(self, self.clock, name, duration,
                           on_acquired=self._on_acquired, on_lost=self.lost.append)

    def _on_acquired(self):
        self.acquired += 1

    # what the lease uses as its Redis client
    def eval_durably(self, script, keys, args, timeout=None, wrote=lambda reply: True):
        """The script, then WAIT (at Redis, at once): durable when the replica got it."""
        def run():
            reply = self.redis.run(script, keys, args)
            return reply, wrote(reply) and self.redis.replicate()
        return self._call(run, timeout)

    def eval(self, script, keys, args, timeout=None):
        return self._call(lambda: self.redis.run(script, keys, args), timeout)

    def _call(self, run, timeout):
        if self.redis.state == "down":
            return fail(RedisUnavailable("down"))
        d = Deferred()
        timer = self.clock.callLater(timeout or 5.0,
                                     lambda: d.called or d.errback(RedisUnavailable("timeout")))

        def answer(value):
            if timer.active():
                timer.cancel()
            if not d.called:
                d.callback(value)

        def at_redis():
            value = run()
            self.world.callLater(LATENCY / 2, self.inbox.append, lambda: answer(value))

        self.world.callLater(LATENCY / 2, self.redis.submit, at_redis)
        return d

    def tick(self, dt: float) -> None:
        if self.frozen or self.dead:
            return
        self.deliver()
        self.clock.advance(dt)

    def deliver(self) -> None:
        while self.inbox:
            self.inbox.popleft()()

    def kill(self) -> None:
        """SIGKILL: nothing runs any more, nothing is released."""
        self.dead = True
        self.lease.running = False
        self.lease._cancel_timers()

    def thaw(self) -> None:
        """SIGCONT: the clock jumps first, then I/O is read, then timers run."""
        self.frozen = False
        self.clock.rightNow = self.world.seconds()
        self.deliver()
        self.clock.advance(0)


class World:
    def __init__(self, n=3, duration=10.0):
        self.clock = Clock()
        self.redis = SimRedis(self.clock)
        self.duration = duration
        self.procs = [SimProcess(self.clock, self.redis, "p%d" % i, duration) for i in range(n)]

    def start(self):
        for p in self.procs:
            p.lease.start()

    def run(self, seconds: float, dt: float = 0.05, check=True):
        steps = int(round(seconds / dt))
        for _ in range(steps):
            self.clock.advance(dt)
            for p in self.procs:
                p.tick(dt)
            if check:
                self.check_safety()

    def check_safety(self):
        """Whoever believes it holds the lease really does, in Redis, right now."""
        holders = [p for p in self.procs if not p.frozen and not p.dead and p.lease.valid()]
        assert len(holders) <= 1, [p.lease.owner for p in holders]
        for p in holders:
            assert self.redis.value(IRC_LEASE) == p.lease.token, (p.lease.owner, self.clock.seconds())

    def holders(self):
        return [p for p in self.procs if not p.dead and not p.frozen and p.lease.valid()]


class LeaseTimingTests(SynchronousTestCase):
    def test_first_process_takes_the_lease_others_stand_by(self):
        w = World()
        w.start()
        w.run(1)
        self.assertEqual(len(w.holders()), 1)
        self.assertEqual(sum(p.acquired for p in w.procs), 1)
        holder = w.holders()[0]
        self.assertEqual(owner_of(w.redis.value(IRC_LEASE)), holder.lease.owner)

    def test_holder_keeps_renewing(self):
        w = World()
        w.start()
        w.run(1)
        holder = w.holders()[0]
        w.run(120)
        self.assertEqual(w.holders(), [holder])
        self.assertEqual(holder.lost, [])
        self.assertEqual(sum(p.acquired for p in w.procs), 1)

    def test_takeover_within_the_lease_time_after_a_crash(self):
        w = World()
        w.start()
        w.run(5)
        holder = w.holders()[0]
        holder.kill()
        killed_at = w.clock.seconds()
        taken = None
        for _ in range(400):
            w.run(0.05)
            if w.holders():
                taken = w.clock.seconds()
                break
        self.assertIsNotNone(taken)
        # The last renewal was at most renew_every before the kill.
        self.assertLessEqual(taken - killed_at, w.duration + 0.1)
        self.assertGreater(taken - killed_at, w.duration - holder.lease.renew_every - 0.1)

    def test_clean_stop_releases_and_another_takes_over_at_once(self):
        w = World()
        w.start()
        w.run(2)
        holder = w.holders()[0]
        holder.lease.stop()
        w.run(0.1)
        self.assertIsNone(w.redis.value(IRC_LEASE))
        for p in w.procs:
            p.lease.poke()
        w.run(0.2)  # a few simulation steps: no waiting for any expiry
        self.assertEqual(len(w.holders()), 1)
        self.assertIsNot(w.holders()[0], holder)

    def test_redis_down_holder_gives_up_before_expiry(self):
        w = World()
        w.start()
        w.run(2)
        holder = w.holders()[0]
        w.redis.state = "down"
        expires = w.redis.data[IRC_LEASE][1]
        for _ in range(400):
            w.run(0.05)
            if holder.lost:
                break
        self.assertEqual(holder.lost, ["it could not be renewed in time"])
        self.assertLess(w.clock.seconds(), expires - holder.lease.margin + 0.06)
        self.assertEqual(w.holders(), [])

    def test_redis_paused_holder_gives_up_before_expiry_and_recovers(self):
        w = World()
        w.start()
        w.run(2)
        holder = w.holders()[0]
        w.redis.state = "paused"
        w.run(w.duration)
        self.assertEqual(holder.lost, ["it could not be renewed in time"])
        w.redis.resume()
        w.run(w.duration)
        self.assertEqual(len(w.holders()), 1)

    def test_frozen_holder_lets_go_on_resuming(self):
        w = World()
        w.start()
        w.run(2)
        holder = w.holders()[0]
        holder.frozen = True
        w.run(w.duration * 2)
        other = w.holders()
        self.assertEqual(len(other), 1)
        self.assertIsNot(other[0], holder)
        # On waking, its clock has jumped: invalid before any timer runs.
        holder.clock.rightNow = w.clock.seconds()
        self.assertFalse(holder.lease.valid())
        holder.thaw()
        self.assertEqual(len(holder.lost), 1)
        w.run(w.duration)
        self.assertEqual(w.holders(), other)

    def test_renewal_answered_after_a_freeze_is_not_trusted(self):
        w = World(n=1)
        w.start()
        w.run(2)
        (p,) = w.procs
        p.clock.advance(p.lease.renew_every)  # send a renewal...
        p.frozen = True  # ...and freeze before its answer is read
        w.run(w.duration)
        p.thaw()
        self.assertFalse(p.lease.valid())
        self.assertEqual(len(p.lost), 1)
        w.run(w.duration)
        self.assertTrue(p.lease.valid())  # and it can take it again

    def test_failover_to_a_replica_that_missed_the_acquisition(self):
        """The master took the lease but died before its replica had it: nobody held it."""
        w = World(n=2)
        w.redis.lagging = True
        w.start()
        w.run(3)
        self.assertIsNotNone(w.redis.value(IRC_LEASE))  # written on the master...
        self.assertEqual(w.holders(), [])               # ...but never acknowledged: not held
        w.redis.failover()
        w.run(w.duration)
        self.assertEqual(len(w.holders()), 1)

    def test_failover_to_a_replica_that_missed_renewals(self):
        """Renewals the replica never got do not count: the holder lets go before its copy expires."""
        w = World(n=2)
        w.start()
        w.run(2)
        (holder,) = w.holders()
        w.redis.lagging = True
        w.run(w.duration - w.procs[0].lease.margin - 0.5)
        self.assertEqual(w.holders(), [])  # let go at the last acknowledged renewal's deadline
        self.assertEqual(holder.lost, ["it could not be renewed in time"])
        w.redis.failover()
        w.run(w.duration + 1)
        self.assertEqual(len(w.holders()), 1)

    def test_failover_to_a_replica_that_had_everything_keeps_the_holder(self):
        w = World(n=2)
        w.start()
        w.run(2)
        (holder,) = w.holders()
        w.redis.failover()
        w.run(w.duration * 2)
        self.assertEqual(w.holders(), [holder])
        self.assertEqual(holder.lost, [])

    def test_lease_taken_by_someone_else_is_lost_at_the_next_renewal(self):
        w = World(n=1)
        w.start()
        w.run(2)
        (p,) = w.procs
        w.redis.data[IRC_LEASE] = ("intruder#1", w.clock.seconds() + 100)
        w.run(p.lease.renew_every + 0.1, check=False)
        self.assertEqual(p.lost, ["another process has the lease now"])
        self.assertFalse(p.lease.valid())

    @settings(max_examples=60)
    @given(st.lists(st.tuples(
        st.sampled_from(["pause", "resume", "down", "up", "freeze", "thaw", "kill", "stop", "wait",
                         "lag", "failover"]),
        st.integers(0, 2), st.floats(0.0, 14.0)), max_size=12))
    def test_never_two_holders(self, actions):
        """Whatever happens to Redis and the processes, a holder really holds the lease."""
        w = World()
        w.start()
        for action, i, seconds in actions:
            _act(w, w.procs[i], action)
            w.run(seconds)
        # Liveness: with Redis back and someone alive, someone holds it.
        if w.redis.state == "paused":
            w.redis.resume()
        w.redis.state = "up"
        w.redis.lagging = False
        for p in w.procs:
            if p.frozen:
                p.thaw()
        w.run(w.duration * 2 + 1)
        alive = [p for p in w.procs if not p.dead]
        self.assertEqual(len(w.holders()), 1 if alive else 0)


def _act(w, p, action: str) -> None:
    """One step of test_never_two_holders: C{action} on Redis or on process C{p}."""
    if action == "pause" and w.redis.state == "up":
        w.redis.state = "paused"
    elif action == "resume" and w.redis.state == "paused":
        w.redis.resume()
    elif action == "down" and w.redis.state == "up":
        w.redis.state = "down"
    elif action == "up" and w.redis.state == "down":
        w.redis.state = "up"
    elif action == "freeze" and not p.dead:
        p.frozen = True
    elif action == "thaw" and p.frozen:
        p.thaw()
    elif action == "kill":
        p.kill()
    elif action == "stop" and not p.dead and not p.frozen:
        p.lease.stop()
        p.dead = True
    elif action == "lag":
        w.redis.lagging = not w.redis.lagging
    elif action == "failover":
        w.redis.failover()


class Child(Service):
    def __init__(self, name, log):
        self.name = name
        self.log = log

    def startService(self):
        super().startService()
        self.log.append(("start", self.name))

    def stopService(self):
        super().stopService()
        self.log.append(("stop", self.name))


class OwnerGateTests(SynchronousTestCase):
    def make(self):
        w = World(n=2)
        gates, logs = [], []
        for p in w.procs:
            gate = OwnerGate(p.lease)
            log: list = []
            Child("irc", log).setServiceParent(gate)
            Child("music", log).setServiceParent(gate)
            gates.append(gate)
            logs.append(log)
        return w, gates, logs

    def test_children_run_only_on_the_holder(self):
        w, gates, logs = self.make()
        for g in gates:
            g.startService()
        self.assertEqual(logs, [[], []])  # nothing before the lease is taken
        w.run(1)
        holder = w.procs.index(w.holders()[0])
        self.assertEqual(logs[holder], [("start", "irc"), ("start", "music")])
        self.assertEqual(logs[1 - holder], [])
        self.assertTrue(gates[holder].active)
        self.assertFalse(gates[1 - holder].active)

    def test_losing_the_lease_stops_children_before_expiry(self):
        w, gates, logs = self.make()
        for g in gates:
            g.startService()
        w.run(1)
        holder = w.procs.index(w.holders()[0])
        expires = w.redis.data[IRC_LEASE][1]
        w.redis.state = "down"
        stopped_at = None
        for _ in range(300):
            w.run(0.05)
            if ("stop", "irc") in logs[holder]:
                stopped_at = w.clock.seconds()
                break
        self.assertEqual(logs[holder][-2:], [("stop", "music"), ("stop", "irc")])
        self.assertLess(stopped_at, expires - w.procs[holder].lease.margin + 0.06)
        self.assertFalse(gates[holder].active)

    def test_stop_releases_and_the_other_starts(self):
        w, gates, logs = self.make()
        for g in gates:
            g.startService()
        w.run(1)
        holder = w.procs.index(w.holders()[0])
        gates[holder].stopService()
        w.run(0.05)
        self.assertIsNone(w.redis.value(IRC_LEASE))
        w.run(1.5)
        self.assertEqual(logs[1 - holder], [("start", "irc"), ("start", "music")])

    def test_children_start_only_after_before_start(self):
        w, gates, logs = self.make()
        waits = []
        for g in gates:
            g.before_start = lambda: waits.append(Deferred()) or waits[-1]
            g.startService()
        w.run(1)
        holder = w.procs.index(w.holders()[0])
        self.assertEqual(len(waits), 1)
        self.assertEqual(logs[holder], [])
        self.assertFalse(gates[holder].active)
        waits[0].callback(None)
        self.assertEqual(logs[holder], [("start", "irc"), ("start", "music")])

    def test_stopping_during_before_start_never_starts_children(self):
        w, gates, logs = self.make()
        waits = []
        for g in gates:
            g.before_start = lambda: waits.append(Deferred()) or waits[-1]
            g.startService()
        w.run(1)
        holder = w.procs.index(w.holders()[0])
        done = []
        gates[holder].stopService().addBoth(done.append)
        self.assertEqual(done, [])
        waits[0].callback(None)
        w.run(0.1)
        self.assertEqual(done, [None])
        self.assertEqual(logs[holder], [])
        self.assertIsNone(w.redis.value(IRC_LEASE))

    def test_child_added_while_active_starts(self):
        w, gates, logs = self.make()
        for g in gates:
            g.startService()
        w.run(1)
        holder = w.procs.index(w.holders()[0])
        Child("zmq", logs[holder]).setServiceParent(gates[holder])
        Child("zmq", logs[1 - holder]).setServiceParent(gates[1 - holder])
        self.assertEqual(logs[holder][-1], ("start", "zmq"))
        self.assertEqual(logs[1 - holder], [])


@pytest.mark.integration  # a real redis-server
class RealRedisLeaseTests(TestCase):
    """The same lease against a real redis-server (real time, short lease)."""

    def setUp(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)
        self.clients = []

    def client(self):
        c = RedisClient(reactor, self.server.url, name="lease-test", timeout=1.0)
        c.start()
        self.addCleanup(c.stop)
        return c

    async def test_one_holder_then_takeover_on_release(self):
        a, b = self.client(), self.client()
        await a.when_connected()
        await b.when_connected()
        events = []
        la = Lease(a, reactor, "A", 1.0, on_acquired=lambda: events.append("A+"),
                   on_lost=lambda r: events.append("A-"))
        lb = Lease(b, reactor, "B", 1.0, on_acquired=lambda: events.append("B+"),
                   on_lost=lambda r: events.append("B-"))
        la.start()
        await deferLater(reactor, 0.3, lambda: None)
        lb.start()
        self.addCleanup(lb.stop)
        await deferLater(reactor, 1.5, lambda: None)
        self.assertEqual(events, ["A+"])
        self.assertTrue(la.valid())
        self.assertFalse(lb.valid())
        self.assertEqual(owner_of(await a.execute("GET", IRC_LEASE)), "A")
        ttl = await a.execute("PTTL", IRC_LEASE)
        self.assertTrue(0 < ttl <= 1000, ttl)
        await la.stop()
        self.assertIsNone(await a.execute("GET", IRC_LEASE))
        lb.poke()
        await deferLater(reactor, 0.3, lambda: None)
        self.assertEqual(events, ["A+", "B+"])
        self.assertTrue(lb.valid())

    async def test_paused_redis_makes_the_holder_let_go_in_time(self):
        a = self.client()
        await a.when_connected()
        lost = []
        la = Lease(a, reactor, "A", 1.0, on_lost=lost.append)
        la.start()
        self.addCleanup(la.stop)
        await deferLater(reactor, 0.3, lambda: None)
        self.assertTrue(la.valid())
        self.server.pause()
        paused_at = reactor.seconds()
        try:
            await deferLater(reactor, 1.2, lambda: None)
            self.assertEqual(lost, ["it could not be renewed in time"])
            # It let go no later than duration - margin after the pause began.
            self.assertLess(la.deadline, paused_at + la.duration - la.margin + 0.01)
        finally:
            self.server.resume()
        await deferLater(reactor, 2.5, lambda: None)
        self.assertTrue(la.valid())
