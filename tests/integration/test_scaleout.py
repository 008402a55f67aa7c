"""
Scale-out against real servers: several real C{twistd -n pubbot} processes,
one real redis-server and one real ngircd, all started here on free loopback
ports, watched by an IRC client of our own in the channel (and LUSERS).

- exactly one process is ever on the IRC server as the bot; SIGKILL the owner
  and another connects within the lease time; SIGSTOP the owner past its
  lease and it drops IRC on resuming, no second bot ever seen;
- SIGKILL a worker while it handles a message: another handles it and it is
  answered exactly once;
- Redis paused (SIGSTOP) for 10 s while chat goes on: afterwards every line
  is handled and answered once;
- a ZeroMQ SUB client gets chat.irc.* messages; a PUSH client's say appears;
- with two networks (a second ngircd), the lease holder is the one bot on
  both servers, and after a SIGKILL the other process takes both over.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import zmq
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.trial.unittest import TestCase

from ..support.scaleout import CHANNEL, ClusterCase, Observer, Pubbot
from ..support.servers import free_port
from ..support.servers.ngircd import NgircdServer


class ScaleOutTests(ClusterCase, TestCase):
    async def test_one_owner_takeover_after_sigkill(self):
        observer = await self.observe()
        self.spawn(3)
        owner = await self.ready(observer, 3)
        observer.say("!echo one")
        self.assertTrue(await self.until(lambda: observer.said("echo one"), 15))
        await self.sleep(2)
        self.assertEqual(len(observer.said("echo one")), 1)

        owner.kill()
        killed = time.monotonic()
        self.assertTrue(await self.until(lambda: len(observer.joins) >= 2, 25), "nobody took over")
        took = observer.joins[1][0] - killed
        # The lease (10 s) runs out at most 10 s after the kill; then the new
        # owner checks that the nick is free (ngircd's penalty makes that ~2 s)
        # and registers.
        sys.stderr.write("takeover after SIGKILL: %.1fs\n" % took)
        self.assertLessEqual(took, 10.0 + 4.0, "took %.1fs to take over" % took)
        new_owner = self.owner()
        self.assertIsNotNone(new_owner)
        self.assertNotEqual(new_owner.pid, owner.pid)
        observer.say("!echo two")
        self.assertTrue(await self.until(lambda: observer.said("echo two"), 15))
        await self.sleep(2)
        self.assertEqual(len(observer.said("echo two")), 1)
        self.assert_one_bot(observer)

    async def test_frozen_owner_lets_go_on_resuming_and_no_second_bot_is_seen(self):
        observer = await self.observe()
        self.spawn(2, lease=4.0)
        owner = await self.ready(observer, 2)
        standby = next(b for b in self.bots if b is not owner)
        owner.signal(signal.SIGSTOP)
        # Past its lease: the standby takes the lease, but the frozen owner's
        # connection is still on the server, so it does not connect yet.
        self.assertTrue(await self.until(lambda: self.owner_pid() == standby.pid, 15))
        await self.sleep(4)
        self.assertEqual(len(observer.joins), 1)
        self.assertEqual(observer.quits, [])
        owner.signal(signal.SIGCONT)
        self.assertTrue(await self.until(lambda: observer.quits, 10), "the resumed owner stayed on IRC")
        self.assertTrue(await self.until(lambda: len(observer.joins) == 2, 15), "the standby never came")
        self.assertGreater(observer.joins[1][0], observer.quits[0][0])
        await self.sleep(3)
        self.assertEqual(self.owner_pid(), standby.pid)
        self.assertEqual(len(observer.joins), 2)  # the resumed one did not come back
        self.assertIn("gave up the IRC lease", owner.log())
        observer.say("!echo after the freeze")
        self.assertTrue(await self.until(lambda: observer.said("echo after the freeze"), 15))
        await self.sleep(2)
        self.assertEqual(len(observer.said("echo after the freeze")), 1)
        self.assert_one_bot(observer)

    async def test_lines_said_while_ownership_moves_are_answered_once(self):
        observer = await self.observe()
        # A slow throttle (ngircd itself takes a line a second or so from a client)
        text = self.config(lease=4.0).replace("burst = 40", "burst = 2").replace("per_second = 20.0",
                                                                                 "per_second = 1.0")
        bots = [Pubbot(self.directory, len(self.bots) + i, text) for i in range(2)]
        for bot in bots:
            bot.start()
        self.bots.extend(bots)
        owner = await self.ready(observer, 2)
        standby = next(b for b in self.bots if b is not owner)
        # A burst of lines in the owner's throttle: most still queued when it
        # freezes, and handed over.
        observer.say("!flood 8")
        await self.sleep(0.1)
        owner.signal(signal.SIGSTOP)
        said = []
        for i in range(4):  # said to the frozen owner's connection
            said.append("frozen%d" % i)
            observer.say("!echo " + said[-1])
            await self.sleep(1.0)
        self.assertTrue(await self.until(lambda: self.owner_pid() == standby.pid, 15))
        owner.signal(signal.SIGCONT)
        self.assertTrue(await self.until(lambda: len(observer.joins) == 2, 30), "the standby never came")
        for i in range(3):  # said after the new owner joined
            said.append("after%d" % i)
            observer.say("!echo " + said[-1])
        self.assertTrue(await self.until(lambda: all(observer.said("echo " + t) for t in said), 40),
                        "unanswered: %s" % [t for t in said if not observer.said("echo " + t)])
        flood = ["flood %d" % i for i in range(8)]
        self.assertTrue(await self.until(lambda: all(observer.said(t) for t in flood), 30),
                        "flood lines lost: %d" % len([t for t in flood if not observer.said(t)]))
        await self.sleep(2)
        for text in ["echo " + t for t in said] + flood:
            self.assertEqual(len(observer.said(text)), 1, text)
        self.assertIn("handed", owner.log())
        self.assertIn("IRC ownership moved here from", standby.log())
        self.assert_one_bot(observer)

    async def test_worker_killed_while_handling_its_message_is_answered_once(self):
        observer = await self.observe()
        # The lines of one channel are handled by one process at a time (in
        # order): with an owner that handles nothing, that is a worker.
        self.spawn(1, ("--role", "owner"))
        await self.until(lambda: self.owner_pid(), 30)
        self.spawn(2, ("--role", "worker"))
        owner = await self.ready(observer, 3)

        def handlers(nonce: str) -> list:
            prefix = "slow-%s-" % nonce
            return [int(m.rsplit("-", 1)[1]) for m in os.listdir(self.marks) if m.startswith(prefix)]

        def answered(nonce: str) -> bool:
            return bool(observer.said("slow %s done" % nonce))

        def fresh(nonce: str) -> bool:
            # Its one handler started less than 2 s ago: the handler answers
            # after 3 s, so a kill now is sure to catch it unanswered (an
            # answer already on its way to the owner would be said once
            # though handled once).
            [pid] = handlers(nonce)
            started = os.stat(os.path.join(self.marks, "slow-%s-%d" % (nonce, pid))).st_mtime
            return time.time() - started < 2.0

        # Redis hands a new entry to the reader that has waited longest, so
        # one message at a time tends to go to the same process again and
        # again; a few in quick succession go round the processes.
        victim = nonce = None
        sent: list = []
        for burst in range(4):
            nonces = ["b%dm%d" % (burst, i) for i in range(3)]
            for n in nonces:
                observer.say("!slow %s" % n)
                await self.sleep(0.3)
            sent += nonces
            self.assertTrue(await self.until(lambda nonces=nonces: all(handlers(n) for n in nonces), 15))
            nonce = next((n for n in nonces if handlers(n)[0] != owner.pid and not answered(n) and fresh(n)),
                         None)
            if nonce is not None:
                victim = next(b for b in self.bots if b.pid == handlers(nonce)[0])
                break
            # the owner took them all (or they are nearly done): let them finish, then try again
            self.assertTrue(await self.until(lambda nonces=nonces: all(answered(n) for n in nonces), 15))
        self.assertIsNotNone(victim, "the owner handled every message")
        taken = [n for n in nonces if handlers(n) == [victim.pid] and not answered(n) and fresh(n)]
        victim.kill()
        # Its partitions are taken over once their lease runs out (3 heartbeats,
        # 6 s), what it left pending is claimed, handled, answered once.
        self.assertTrue(await self.until(lambda: all(answered(n) for n in sent), 30),
                        "lost: %s" % [n for n in sent if not answered(n)])
        self.assertIn(nonce, taken)
        for n in taken:  # the killed worker, then another
            self.assertEqual(len(handlers(n)), 2, (n, handlers(n)))
            self.assertEqual(handlers(n).count(victim.pid), 1, (n, handlers(n)))
        await self.sleep(4)
        for n in sent:
            self.assertEqual(len(observer.said("slow %s done" % n)), 1, n)
        self.assert_one_bot(observer)

    async def test_redis_paused_while_chat_goes_on(self):
        observer = await self.observe()
        # A lease longer than the pause: the owner keeps IRC while Redis sleeps.
        self.spawn(2, lease=30.0)
        await self.ready(observer, 2)
        observer.say("!echo warm-up")
        self.assertTrue(await self.until(lambda: observer.said("echo warm-up"), 15))
        self.redis.pause()
        try:
            started = time.monotonic()
            lines = []
            while time.monotonic() - started < 10:
                text = "p%02d" % len(lines)
                lines.append(text)
                observer.say("!echo " + text)
                await self.sleep(0.5)
        finally:
            self.redis.resume()
        expected = ["echo " + t for t in lines]
        self.assertTrue(await self.until(lambda: all(observer.said(t) for t in expected), 60),
                        "unanswered: %s" % [t for t in expected if not observer.said(t)])
        await self.sleep(4)
        for text in expected:
            self.assertEqual(len(observer.said(text)), 1, text)
        self.assertEqual(len(observer.joins), 1)  # the owner kept its connection
        self.assert_one_bot(observer)

    async def test_zeromq_firehose_and_commands(self):
        publish, commands = "tcp://127.0.0.1:%d" % free_port(), "tcp://127.0.0.1:%d" % free_port()
        observer = await self.observe()
        self.spawn(2, extra="[zmq]\npublish = %s\ncommands = %s\n" % (json.dumps(publish),
                                                                       json.dumps(commands)))
        await self.ready(observer, 2)
        context = zmq.Context()
        self.addCleanup(context.destroy, 0)
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"chat.irc.")
        sub.connect(publish)
        got = None
        for i in range(40):
            observer.say("hello zmq %d" % i)
            for _ in range(10):
                try:
                    got = sub.recv_multipart(zmq.NOBLOCK)
                    break
                except zmq.Again:
                    await self.sleep(0.05)
            if got:
                break
        self.assertIsNotNone(got, "no chat.irc.* message on the firehose")
        self.assertEqual(got[0], ("chat.irc.%s.chat" % CHANNEL).encode())
        body = json.loads(got[1])
        self.assertTrue(body["fields"]["content"].startswith("hello zmq"))
        self.assertEqual(body["fields"]["source"], "watcher")
        push = context.socket(zmq.PUSH)
        push.linger = 0
        push.connect(commands)
        push.send(json.dumps({"command": "say", "channel": CHANNEL, "text": "pushed in"}).encode())
        self.assertTrue(await self.until(lambda: observer.said("pushed in"), 15))
        await self.sleep(1)
        self.assertEqual(len(observer.said("pushed in")), 1)

    async def test_the_lease_holds_every_network(self):
        """Two networks, two processes: one owner is on both servers; SIGKILL it and the other takes both."""
        two = NgircdServer(name="irc.two.test").start()
        self.addCleanup(two.stop)
        observer = await self.observe()
        other, counter = Observer("other"), Observer("counter2", count_users=True)
        for client in (other, counter):
            protocol = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", two.port), client)
            self.addCleanup(protocol.transport.loseConnection)
            self.assertTrue(await self.until(lambda client=client: client.in_channel, 10))
        other.users = counter.users
        other.joins = [j for j in other.joins if j[1] != "counter2"]
        self.spawn(2, extra='[networks.two]\nserver = "tcp:127.0.0.1:%d"\nchannels = ["%s"]\n' % (
            two.port, CHANNEL))
        owner = await self.ready(observer, 2)
        self.assertTrue(await self.until(lambda: other.joins, 30), "the bot never joined the second network")
        observer.say("!echo on one")
        other.say("!echo on two")
        self.assertTrue(await self.until(
            lambda: observer.said("echo on one") and other.said("echo on two"), 15))
        await self.sleep(2)
        self.assertEqual((observer.said("echo on two"), other.said("echo on one")), ([], []))

        owner.kill()
        self.assertTrue(await self.until(lambda: len(observer.joins) >= 2 and len(other.joins) >= 2, 30),
                        "nobody took over both networks")
        self.assertNotEqual(self.owner().pid, owner.pid)
        observer.say("!echo again one")
        other.say("!echo again two")
        self.assertTrue(await self.until(
            lambda: observer.said("echo again one") and other.said("echo again two"), 15))
        await self.sleep(2)
        self.assertEqual((len(observer.said("echo again one")), len(other.said("echo again two"))), (1, 1))
        self.assert_one_bot(observer)
        self.assert_one_bot(other)
