"""Skip votes: counting, switching sides, one at a time, timing out on the clock."""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.music.votes import (BUSY, JOINED, NO_VOTE, PASSED, REPEATED, STARTED, SWITCHED,
                                SkipVotes)


class SkipVoteTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.lapsed = []
        self.votes = SkipVotes(self.clock, 3, 30.0, self.lapsed.append)

    def test_three_skips_pass(self):
        self.assertEqual(self.votes.skip("a", place="#c").kind, STARTED)
        self.assertEqual(self.votes.skip("b").kind, JOINED)
        outcome = self.votes.skip("c")
        self.assertEqual(outcome.kind, PASSED)
        self.assertEqual((outcome.vote.count, outcome.vote.place, outcome.vote.yes), (1, "#c", 3))
        self.assertIsNone(self.votes.current)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_noskip_counts_against(self):
        self.votes.skip("a")
        self.votes.skip("b")
        self.assertEqual(self.votes.noskip("x").kind, JOINED)
        self.assertEqual(self.votes.skip("c").kind, JOINED)  # 3 - 1 = 2
        self.assertEqual(self.votes.skip("d").kind, PASSED)  # 4 - 1 = 3

    def test_a_person_votes_once(self):
        self.votes.skip("a")
        self.assertEqual(self.votes.skip("a").kind, REPEATED)
        self.assertEqual(self.votes.current.margin, 1)

    def test_switching_side_moves_the_vote(self):
        self.votes.skip("a")
        self.votes.skip("b")
        self.assertEqual(self.votes.noskip("b").kind, SWITCHED)
        self.assertEqual((self.votes.current.yes, self.votes.current.no), (1, 1))
        self.assertEqual(self.votes.noskip("b").kind, REPEATED)
        self.assertEqual(self.votes.skip("b").kind, SWITCHED)
        self.assertEqual(self.votes.current.margin, 2)

    def test_noskip_without_a_vote(self):
        self.assertEqual(self.votes.noskip("a"), self.votes.noskip("a"))
        self.assertEqual(self.votes.noskip("a").kind, NO_VOTE)
        self.assertIsNone(self.votes.current)

    def test_one_vote_at_a_time(self):
        self.votes.skip("a", 2)
        self.assertEqual(self.votes.skip("b", 3).kind, BUSY)
        self.assertEqual(self.votes.skip("b", 2).kind, JOINED)
        self.assertEqual(self.votes.skip("c").kind, PASSED)

    def test_times_out_after_the_last_vote(self):
        self.votes.skip("a")
        self.clock.advance(20)
        self.votes.skip("b")
        self.clock.advance(29)
        self.assertEqual(self.lapsed, [])
        self.clock.advance(1)
        self.assertEqual([v.yes for v in self.lapsed], [2])
        self.assertIsNone(self.votes.current)
        self.assertEqual(self.votes.skip("c").kind, STARTED)

    def test_a_repeated_vote_does_not_keep_it_alive(self):
        self.votes.skip("a")
        self.clock.advance(20)
        self.votes.skip("a")
        self.clock.advance(10)
        self.assertEqual(len(self.lapsed), 1)

    def test_cancel_is_silent(self):
        self.votes.skip("a")
        self.assertEqual(self.votes.cancel().yes, 1)
        self.clock.advance(60)
        self.assertEqual(self.lapsed, [])
        self.assertIsNone(self.votes.cancel())

    def test_one_vote_needed_passes_at_once(self):
        votes = SkipVotes(self.clock, 1, 30.0, self.lapsed.append)
        self.assertEqual(votes.skip("a").kind, PASSED)

    def test_bad_arguments(self):
        self.assertRaises(ValueError, SkipVotes, self.clock, 0, 30.0, print)
        self.assertRaises(ValueError, self.votes.skip, "a", 0)
