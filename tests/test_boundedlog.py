"""pubbot.util.boundedlog: each kind logged a bounded number of times a minute, the rest counted."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.logger import Logger, LogLevel
from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import BoundedLog

from .support.logs import capture_logs


class BoundedLogTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.events = capture_logs(self)
        self.logs = BoundedLog(self.clock, Logger(namespace="test.bounded"), per_minute=3)

    def test_each_kind_has_its_own_bound(self):
        written = [self.logs.note("a", LogLevel.warn, "a {n}", n=n) for n in range(5)]
        written += [self.logs.note("b", LogLevel.info, "b {n}", n=n) for n in range(2)]
        self.assertEqual(written, [True] * 3 + [False] * 2 + [True] * 2)
        self.assertEqual(self.events.texts(), ["a 0", "a 1", "a 2", "b 0", "b 1"])
        self.assertEqual([e["log_level"] for e in self.events], [LogLevel.warn] * 3 + [LogLevel.info] * 2)
        self.assertEqual(dict(self.logs.unlogged), {"a": 2})

    def test_a_minute_later_it_logs_again(self):
        for _ in range(4):
            self.logs.note("a", LogLevel.warn, "a")
        self.clock.advance(59.9)
        self.assertFalse(self.logs.note("a", LogLevel.warn, "a"))
        self.clock.advance(0.2)
        self.assertTrue(self.logs.note("a", LogLevel.warn, "a"))
        self.assertEqual((len(self.events), self.logs.unlogged["a"]), (4, 2))

    def test_may_log_takes_a_place_in_the_bound(self):
        self.assertTrue(all(self.logs.may_log("x") for _ in range(3)))
        self.assertFalse(self.logs.may_log("x"))
        self.assertFalse(self.logs.note("x", LogLevel.warn, "x"))

    def test_admit_says_how_many_were_held_back_since_the_last_line(self):
        self.assertEqual([self.logs.admit("x") for _ in range(5)], [0, 0, 0, None, None])
        self.assertEqual(self.logs.admit("y"), 0)
        self.clock.advance(60.1)
        self.assertEqual([self.logs.admit("x"), self.logs.admit("x")], [2, 0])
        self.assertEqual(self.logs.unlogged["x"], 2)
        self.assertEqual(self.events.texts(), [])  # (the caller writes its own line)

    @given(st.lists(st.tuples(st.sampled_from("ab"), st.floats(0, 30)), max_size=60))
    def test_admitted_lines_account_for_every_one_held(self, asks):
        clock = Clock()
        logs = BoundedLog(clock, Logger(namespace="test.bounded.admit"), per_minute=1)
        admitted, held = 0, 0
        for kind, wait in asks:
            clock.advance(wait)
            said = logs.admit(kind)
            if said is not None:
                admitted += 1
                held += said
        self.assertEqual(admitted + sum(logs.unlogged.values()), len(asks))
        self.assertEqual(held + sum(logs._held.values()), sum(logs.unlogged.values()))

    @given(st.lists(st.tuples(st.sampled_from("abc"), st.floats(0, 30)), max_size=60))
    def test_never_more_than_the_bound_in_any_minute(self, notes):
        clock = Clock()
        logs = BoundedLog(clock, Logger(namespace="test.bounded.prop"), per_minute=3)
        written: dict[str, list[float]] = {}
        for kind, wait in notes:
            clock.advance(wait)
            if logs.note(kind, LogLevel.debug, "x"):
                written.setdefault(kind, []).append(clock.seconds())
        for kind, times in written.items():
            for i, t in enumerate(times):
                self.assertLessEqual(sum(1 for u in times[i:] if u - t < 60.0), 3, kind)
        self.assertEqual(sum(map(len, written.values())) + sum(logs.unlogged.values()), len(notes))
