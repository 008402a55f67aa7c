"""Sliding-window rate limits: refused attempts never extend the window."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.util.ratelimit import Limits, RateLimiter


class RateLimiterTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.limiter = RateLimiter(self.clock, 2, 60)

    def test_allows_up_to_the_limit_then_refuses(self):
        self.assertEqual([self.limiter.allow("a") for _ in range(3)], [True, True, False])

    def test_keys_are_independent(self):
        self.limiter.allow("a")
        self.limiter.allow("a")
        self.assertFalse(self.limiter.allow("a"))
        self.assertTrue(self.limiter.allow("b"))

    def test_window_slides(self):
        self.limiter.allow("a")
        self.clock.advance(30)
        self.limiter.allow("a")
        self.clock.advance(29.9)
        self.assertFalse(self.limiter.allow("a"))
        self.clock.advance(0.1)  # the first attempt is now 60s old
        self.assertTrue(self.limiter.allow("a"))
        self.assertFalse(self.limiter.allow("a"))

    def test_refused_attempts_do_not_extend_the_window(self):
        """The original's bug: a busy channel, refused every few seconds, stayed muted."""
        self.limiter.allow("#busy")
        self.limiter.allow("#busy")
        for _ in range(59):
            self.clock.advance(1)
            self.assertFalse(self.limiter.allow("#busy"))
        self.clock.advance(1)
        self.assertTrue(self.limiter.allow("#busy"))

    def test_retry_after(self):
        self.assertEqual(self.limiter.retry_after("a"), 0)
        self.limiter.allow("a")
        self.clock.advance(10)
        self.limiter.allow("a")
        self.assertEqual(self.limiter.retry_after("a"), 50)
        self.clock.advance(50)
        self.assertEqual(self.limiter.retry_after("a"), 0)

    def test_retry_after_counts_recorded_attempts_past_the_limit(self):
        for _ in range(3):
            self.limiter.record("a")
            self.clock.advance(10)
        # Attempts at 0, 10, 20; now 30. Room for one more when the one at 10 expires.
        self.assertEqual(self.limiter.retry_after("a"), 40)
        self.clock.advance(40)
        self.assertTrue(self.limiter.would_allow("a"))

    def test_would_allow_records_nothing(self):
        for _ in range(5):
            self.assertTrue(self.limiter.would_allow("a"))
        self.assertTrue(self.limiter.allow("a"))

    def test_bad_limits_rejected(self):
        self.assertRaises(ValueError, RateLimiter, self.clock, 0, 60)
        self.assertRaises(ValueError, RateLimiter, self.clock, 1, 0)

    def test_memory_is_bounded(self):
        limiter = RateLimiter(self.clock, 1, 60, max_keys=100)
        for i in range(1000):
            limiter.allow(i)
        self.assertLessEqual(len(limiter._events), 100)

    def test_expired_keys_are_dropped_first(self):
        limiter = RateLimiter(self.clock, 1, 60, max_keys=3)
        limiter.allow("old")
        self.clock.advance(30)
        limiter.allow("b")
        limiter.allow("c")
        self.clock.advance(31)  # "old" expired, "b" and "c" have not
        limiter.allow("d")
        self.assertFalse(limiter.allow("b"))
        self.assertFalse(limiter.allow("c"))


class LimitsTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.limits = Limits(self.clock, person=(1, 15), channel=(3, 60), overall=(5, 60))

    def test_person_limit(self):
        self.assertTrue(self.limits.allow("alice", "#a"))
        self.assertFalse(self.limits.allow("alice", "#a"))
        self.assertTrue(self.limits.allow("bob", "#a"))

    def test_channel_limit(self):
        for who in ("a", "b", "c"):
            self.assertTrue(self.limits.allow(who, "#a"))
        self.assertFalse(self.limits.allow("d", "#a"))
        self.assertTrue(self.limits.allow("d", "#b"))

    def test_overall_limit(self):
        for i in range(5):
            self.assertTrue(self.limits.allow("p%d" % i, "#c%d" % i))
        self.assertFalse(self.limits.allow("p9", "#c9"))

    def test_refused_attempt_is_recorded_in_no_limit(self):
        """Refused by the channel limit, an attempt must not use up the person's."""
        for who in ("a", "b", "c"):
            self.limits.allow(who, "#a")
        self.assertFalse(self.limits.allow("d", "#a"))
        self.assertTrue(self.limits.allow("d", "#b"))

    def test_retry_after_is_the_longest_wait(self):
        self.limits.allow("alice", "#a")
        self.assertEqual(self.limits.retry_after("alice", "#a"), 15)
        self.assertEqual(self.limits.retry_after("bob", "#a"), 0)

    def test_no_limits_allows_everything(self):
        limits = Limits(self.clock)
        self.assertTrue(all(limits.allow("a", "#a") for _ in range(100)))
        self.assertEqual(limits.retry_after("a", "#a"), 0)


# (seconds to advance, key) steps; small times so windows overlap often.
_steps = st.lists(st.tuples(st.sampled_from([0, 0.5, 1, 3, 7, 10]), st.sampled_from("ab")),
                  max_size=80)


class RateLimiterProperties(SynchronousTestCase):
    @given(limit=st.integers(1, 4), window=st.sampled_from([1, 5, 10]), steps=_steps)
    def test_matches_the_definition(self, limit, window, steps):
        """
        An attempt is accepted exactly when fewer than C{limit} accepted
        attempts of its key lie in the last C{window} seconds: refused
        attempts count for nothing, so they never extend the window.
        """
        clock = Clock()
        limiter = RateLimiter(clock, limit, window)
        accepted: dict = {"a": [], "b": []}
        for advance, key in steps:
            clock.advance(advance)
            now = clock.seconds()
            recent = [t for t in accepted[key] if t > now - window]
            expected = len(recent) < limit
            wait = limiter.retry_after(key)
            self.assertEqual(wait == 0, expected)
            if not expected:
                self.assertEqual(wait, recent[-limit] + window - now)
            self.assertEqual(limiter.allow(key), expected)
            if expected:
                accepted[key].append(now)

    @given(limit=st.integers(1, 4), window=st.sampled_from([1, 5, 10]), steps=_steps)
    def test_a_window_after_the_last_acceptance_always_allows(self, limit, window, steps):
        clock = Clock()
        limiter = RateLimiter(clock, limit, window)
        last: dict = {}
        for advance, key in steps:
            clock.advance(advance)
            if limiter.allow(key):
                last[key] = clock.seconds()
        for key, when in last.items():
            clock.advance(max(0, when + window - clock.seconds()))
            self.assertTrue(limiter.would_allow(key))
