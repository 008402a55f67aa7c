"""Skip votes: counting, switching sides, one at a time, timing out on the clock, across processes."""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.music.votes import (
    BUSY,
    GRACE,
    JOINED,
    NO_VOTE,
    PASSED,
    REPEATED,
    STARTED,
    SWITCHED,
    VOTE_KEY,
    SkipVotes,
    vote_from_hash,
)
from pubbot.store.memory import MemoryStore


class VoteTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.store = MemoryStore(self.clock)
        self.lapsed = []
        self.votes = self.make()

    def make(self, needed=3):
        return SkipVotes(self.store, self.clock, needed, 30.0, self.lapsed.append)

    def run_(self, coroutine):
        return self.successResultOf(Deferred.fromCoroutine(coroutine))

    def kind(self, coroutine):
        return self.run_(coroutine).kind

    def current(self, votes=None):
        return self.run_((votes or self.votes).current())


class SkipVoteTests(VoteTestCase):
    def test_three_skips_pass(self):
        self.assertEqual(self.kind(self.votes.skip("a", place=("irc", "#c"))), STARTED)
        self.assertEqual(self.kind(self.votes.skip("b")), JOINED)
        outcome = self.run_(self.votes.skip("c"))
        self.assertEqual(outcome.kind, PASSED)
        self.assertEqual((outcome.vote.count, outcome.vote.place, outcome.vote.yes), (1, ("irc", "#c"), 3))
        self.assertIsNone(self.current())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noskip_counts_against(self):
        self.run_(self.votes.skip("a"))
        self.run_(self.votes.skip("b"))
        self.assertEqual(self.kind(self.votes.noskip("x")), JOINED)
        self.assertEqual(self.kind(self.votes.skip("c")), JOINED)  # 3 - 1 = 2
        self.assertEqual(self.kind(self.votes.skip("d")), PASSED)  # 4 - 1 = 3

    def test_a_person_votes_once(self):
        self.run_(self.votes.skip("a"))
        self.assertEqual(self.kind(self.votes.skip("a")), REPEATED)
        self.assertEqual(self.current().margin, 1)

    def test_switching_side_moves_the_vote(self):
        self.run_(self.votes.skip("a"))
        self.run_(self.votes.skip("b"))
        self.assertEqual(self.kind(self.votes.noskip("b")), SWITCHED)
        self.assertEqual((self.current().yes, self.current().no), (1, 1))
        self.assertEqual(self.kind(self.votes.noskip("b")), REPEATED)
        self.assertEqual(self.kind(self.votes.skip("b")), SWITCHED)
        self.assertEqual(self.current().margin, 2)

    def test_noskip_without_a_vote(self):
        self.assertEqual(self.kind(self.votes.noskip("a")), NO_VOTE)
        self.assertIsNone(self.current())

    def test_one_vote_at_a_time(self):
        self.run_(self.votes.skip("a", 2))
        self.assertEqual(self.kind(self.votes.skip("b", 3)), BUSY)
        self.assertEqual(self.kind(self.votes.skip("b", 2)), JOINED)
        outcome = self.run_(self.votes.skip("c"))
        self.assertEqual((outcome.kind, outcome.vote.count), (PASSED, 2))

    def test_times_out_after_the_last_vote(self):
        self.run_(self.votes.skip("a", place=("irc", "#c")))
        self.clock.advance(20)
        self.run_(self.votes.skip("b"))
        self.clock.advance(29)
        self.assertEqual(self.lapsed, [])
        self.clock.advance(1)
        self.assertEqual([(v.yes, v.place) for v in self.lapsed], [(2, ("irc", "#c"))])
        self.assertIsNone(self.current())
        self.assertEqual(self.kind(self.votes.skip("c")), STARTED)

    def test_a_repeated_vote_does_not_keep_it_alive(self):
        self.run_(self.votes.skip("a"))
        self.clock.advance(20)
        self.run_(self.votes.skip("a"))
        self.clock.advance(10)
        self.assertEqual(len(self.lapsed), 1)

    def test_cancel_is_silent(self):
        self.run_(self.votes.skip("a"))
        self.assertEqual(self.run_(self.votes.cancel()).yes, 1)
        self.clock.advance(60)
        self.assertEqual(self.lapsed, [])
        self.assertIsNone(self.run_(self.votes.cancel()))

    def test_stop_forgets_the_timer_and_the_store_forgets_the_vote(self):
        self.run_(self.votes.skip("a"))
        self.votes.stop()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(30 + GRACE)
        self.assertIsNone(self.current())
        self.assertEqual(self.lapsed, [])

    def test_one_vote_needed_passes_at_once(self):
        self.assertEqual(self.kind(self.make(needed=1).skip("a")), PASSED)

    def test_bad_arguments(self):
        self.assertRaises(ValueError, SkipVotes, self.store, self.clock, 0, 30.0, print)
        coroutine = self.votes.skip("a", 0)
        self.failureResultOf(Deferred.fromCoroutine(coroutine), ValueError)

    def test_odd_store_contents(self):
        self.assertIsNone(vote_from_hash({}))
        self.assertIsNone(vote_from_hash("x"))
        vote = vote_from_hash({"count": "2", "place": "#c", "ballot:a": 1, "ballot:b": "yes",
                               "ballot:c": -5, "nonce": 3})
        self.assertEqual((vote.count, vote.place, vote.ballots, vote.nonce), (1, None, {"a": 1, "c": -1}, ""))


class SharedVoteTests(VoteTestCase):
    """Two processes (two SkipVotes) sharing one store count one vote."""

    def setUp(self):
        super().setUp()
        self.other = self.make()

    def test_ballots_from_both_processes_add_up_and_pass_once(self):
        self.run_(self.votes.skip("a"))
        self.assertEqual(self.kind(self.other.skip("b")), JOINED)
        self.assertEqual(self.kind(self.votes.skip("b")), REPEATED)
        self.assertEqual(self.kind(self.other.skip("c")), PASSED)
        self.assertIsNone(self.current())
        self.assertEqual(self.kind(self.votes.noskip("a")), NO_VOTE)

    def test_only_the_last_voter_announces_the_timeout(self):
        self.run_(self.votes.skip("a"))
        self.clock.advance(10)
        self.run_(self.other.noskip("b"))
        self.clock.advance(20)  # the first process's timer: not the last ballot
        self.assertEqual(self.lapsed, [])
        self.assertIsNotNone(self.current())
        self.clock.advance(10)
        self.assertEqual([(v.yes, v.no) for v in self.lapsed], [(1, 1)])
        self.assertEqual(self.successResultOf(self.store.hgetall(VOTE_KEY)), {})
