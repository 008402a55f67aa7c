"""
One brain for a cluster, against real servers: two real C{twistd -n pubbot}
processes with the brain (each with its learner process), one real
redis-server and one real ngircd, started here on free loopback ports.

Lines said while one process owns IRC, and after it is SIGKILLed (or
frozen with SIGSTOP past its lease) and the other took over, are all in
the cluster's one brain, each exactly once, and a process answers from
what another learned (a C{--role worker} from what the C{--role owner} read).
"""

from __future__ import annotations

import json
import signal

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from pubbot.brain.host import InlineModel
from pubbot.brain.model import TrigramModel, line_trigrams
from pubbot.brain.shared import JOURNAL, Follower
from pubbot.cluster.redisclient import RedisClient
from pubbot.store.redis import PREFIX, RedisStore

from ..support.scaleout import ClusterCase


def expected(lines: list) -> dict:
    out: dict = {}
    for line in lines:
        for t in line_trigrams(line):
            out[t] = out.get(t, 0) + 1
    return out


class BrainClusterTests(ClusterCase, TestCase):
    def start_bots(self, lease: float, roles: tuple = ()):
        self.disabled.remove("brain")
        if not roles:
            return self.spawn(2, lease=lease, extra="[brain]\nflush_seconds = 1.0")
        return [self.spawn(1, ("--role", role), lease=lease, extra="[brain]\nflush_seconds = 1.0")[0]
                for role in roles]

    def journaled(self) -> list:
        """Every line in the journal (in Redis), in entry order."""
        flat = self.redis.query("HGETALL", PREFIX + JOURNAL) or []
        entries = {int(flat[i]): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
        return [line for n in sorted(entries) for line in entries[n].get("l", [])]

    async def say_all(self, observer, lines: list) -> None:
        for line in lines:
            observer.say(line)
        self.assertTrue(await self.until(lambda: set(lines) <= set(self.journaled()), 20),
                        "not journaled: %s" % sorted(set(lines) - set(self.journaled())))

    async def answered(self, observer, word: str) -> bool:
        """Ask the bot about C{word}: does a sentence with it come back?"""
        observer.say("pubbot: %s" % word)
        return await self.until(lambda: any(word in text.split() for _, nick, text in observer.heard
                                            if nick == "pubbot"), 20)

    async def one_brain(self) -> dict:
        """The brain as a process starting now would load it from Redis."""
        client = RedisClient(reactor, self.redis.url, name="brain-test")
        client.start()
        self.addCleanup(client.stop)
        await client.when_connected()
        model = TrigramModel()
        await Deferred.fromCoroutine(Follower(RedisStore(client), reactor).load(InlineModel(model)))
        return dict(model.trigrams())

    def check_once(self, brain: dict, lines: list) -> None:
        want = expected(lines)
        got = {t: brain.get(t) for t in want}
        self.assertEqual(got, want)
        # Nothing else but what was said (the questions are never learned).
        self.assertEqual(brain, want)

    async def test_lines_learned_by_each_owner_are_in_the_one_brain_once_after_sigkill(self):
        observer = await self.observe()
        self.start_bots(lease=4.0)
        first = await self.ready(observer, 2)
        said = ["alpha%d bravo%d charlie%d" % (i, i, i) for i in range(20)]
        await self.say_all(observer, said)
        first.kill()
        self.assertTrue(await self.until(lambda: len(observer.joins) >= 2, 30), "nobody took over")
        second = self.owner()
        self.assertIsNotNone(second)
        more = ["delta%d echo%d foxtrot%d" % (i, i, i) for i in range(20)]
        await self.say_all(observer, more)
        # The survivor answers from what the dead owner learned, and from what it learned itself.
        self.assertTrue(await self.answered(observer, "alpha7"))
        self.assertTrue(await self.answered(observer, "echo3"))
        second.stop()  # writes everything (SIGTERM)
        self.assertEqual(self.journaled().count(said[0]), 1)
        self.check_once(await self.one_brain(), said + more)

    async def test_a_frozen_owner_loses_nothing_and_learns_nothing_twice(self):
        observer = await self.observe()
        bots = self.start_bots(lease=4.0)
        first = await self.ready(observer, 2)
        standby = next(b for b in bots if b is not first)
        said = ["golf%d hotel%d india%d" % (i, i, i) for i in range(10)]
        await self.say_all(observer, said)
        first.signal(signal.SIGSTOP)
        frozen = ["juliet%d kilo%d" % (i, i) for i in range(3)]  # read by the frozen owner's connection
        for line in frozen:
            observer.say(line)
        self.assertTrue(await self.until(lambda: self.owner_pid() == standby.pid, 20))
        first.signal(signal.SIGCONT)
        self.assertTrue(await self.until(lambda: len(observer.joins) == 2, 30), "the standby never came")
        after = ["lima%d mike%d november%d" % (i, i, i) for i in range(10)]
        await self.say_all(observer, after)
        self.assertTrue(await self.answered(observer, "golf4"))
        for bot in bots:
            bot.stop()
        # What the frozen owner read it journals on resuming (if its connection was not closed first).
        heard = [line for line in frozen if line in self.journaled()]
        self.check_once(await self.one_brain(), said + heard + after)

    async def test_a_worker_answers_from_what_the_owner_journaled(self):
        observer = await self.observe()
        owner, worker = self.start_bots(lease=4.0, roles=("owner", "worker"))
        self.assertEqual(await self.ready(observer, 2), owner)
        said = ["oscar%d papa%d quebec%d" % (i, i, i) for i in range(10)]
        await self.say_all(observer, said)
        # Only the worker handles messages (the owner reads chat and journals it).
        self.assertTrue(await self.answered(observer, "papa6"))
        self.assertTrue(await self.until(lambda: "brain: loaded" in worker.log(), 10))
        for bot in (owner, worker):
            bot.stop()
        self.check_once(await self.one_brain(), said)
