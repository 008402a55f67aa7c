"""Skip votes shared by two processes through a real redis-server (two clients, two stores)."""

import pytest
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from pubbot.cluster.redisclient import RedisClient
from pubbot.music.votes import JOINED, NO_VOTE, PASSED, REPEATED, STARTED, SkipVotes
from pubbot.store.redis import RedisStore

from .support.servers.redis import RedisServer


@pytest.mark.integration  # a real redis-server
class RedisSharedVoteTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)
        self.lapsed = []
        self.processes = []
        for name in ("worker-1", "worker-2"):
            client = RedisClient(reactor, self.server.url, name=name)
            client.start()
            self.addCleanup(client.stop)
            await client.when_connected()
            votes = SkipVotes(RedisStore(client), reactor, 3, 2.0, self.lapsed.append)
            self.addCleanup(votes.stop)
            self.processes.append(votes)

    async def test_one_vote_across_processes(self):
        one, two = self.processes
        self.assertEqual((await one.skip("host:a@x", place=("irc", "#pubbot"))).kind, STARTED)
        self.assertEqual((await two.skip("host:b@y")).kind, JOINED)
        self.assertEqual((await one.skip("host:b@y")).kind, REPEATED)
        outcome = await two.skip("account:carol")
        self.assertEqual((outcome.kind, outcome.vote.yes, outcome.vote.place),
                         (PASSED, 3, ("irc", "#pubbot")))
        self.assertEqual((await one.noskip("host:a@x")).kind, NO_VOTE)

    async def test_the_timeout_is_announced_once_by_the_last_voter(self):
        one, two = self.processes
        await one.skip("host:a@x", place=("irc", "#pubbot"))
        await deferLater(reactor, 1.0, lambda: None)
        await two.noskip("host:b@y")
        await deferLater(reactor, 1.5, lambda: None)  # the first timer fired: not the last ballot
        self.assertEqual(self.lapsed, [])
        self.assertIsNotNone(await one.current())
        await deferLater(reactor, 1.5, lambda: None)
        self.assertEqual([(v.yes, v.no, v.place) for v in self.lapsed], [(1, 1, ("irc", "#pubbot"))])
        self.assertIsNone(await one.current())
