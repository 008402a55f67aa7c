"""StallWatch: the longest gap between ticks of a LoopingCall on an injected reactor."""

import time

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.testing import ReactorStalls
from pubbot.util.stallwatch import StallWatch


class ClockTests(SynchronousTestCase):

    def test_regular_ticks_are_no_stall(self):
        clock = Clock()
        watch = StallWatch(clock, interval=0.01)
        watch.start()
        for _ in range(100):
            clock.advance(0.01)
        watch.stop()
        self.assertAlmostEqual(watch.worst_gap, 0.01)
        self.assertAlmostEqual(watch.worst, 0.0)
        self.assertEqual(watch.ticks, 102)  # the first, 100 more, and the one stop() takes
        self.assertFalse(watch.running)

    def test_a_stall_is_recorded(self):
        clock = Clock()
        clock.advance(100)
        watch = StallWatch(clock, interval=0.01)
        watch.start()
        clock.advance(0.01)
        clock.advance(2.5)  # the reactor was held for 2.5 s
        clock.advance(0.01)
        self.assertAlmostEqual(watch.worst_gap, 2.5)
        self.assertAlmostEqual(watch.worst, 2.49)
        self.assertAlmostEqual(watch.worst_at, 102.51)
        watch.reset()
        self.assertEqual((watch.worst, watch.ticks), (0.0, 0))
        clock.advance(0.01)
        self.assertAlmostEqual(watch.worst_gap, 0.01)
        watch.stop()

    def test_stop_counts_the_last_gap(self):
        clock = Clock()
        watch = StallWatch(clock, interval=1.0)
        watch.start()
        clock.advance(0.5)  # stopped before the next tick was due: a gap, no stall
        watch.stop()
        self.assertAlmostEqual(watch.worst_gap, 0.5)
        self.assertEqual(watch.worst, 0.0)

    def test_bad_interval(self):
        with self.assertRaises(ValueError):
            StallWatch(Clock(), interval=0)


class ReactorStallsTests(SynchronousTestCase):
    """pubbot.testing.ReactorStalls: a StallWatch around a block."""

    def test_measures_the_block_only(self):
        clock = Clock()
        stalls = ReactorStalls(clock, interval=0.01)
        clock.advance(50)  # before the block: not measured
        with stalls:
            clock.advance(0.01)
            clock.advance(0.3)
            clock.advance(0.01)
        self.assertAlmostEqual(stalls.worst, 0.29)
        self.assertAlmostEqual(stalls.worst_ms, 290.0)
        self.assertAlmostEqual(stalls.worst_at, 50.31)
        self.assertEqual(stalls.ticks, 5)  # at the start, 3 advances, and at the stop
        self.assertFalse(stalls.watch.running)
        clock.advance(100)  # after it: not measured either
        with stalls:  # measured afresh
            clock.advance(0.01)
        self.assertAlmostEqual(stalls.worst, 0.0)

    def test_stops_when_the_block_raises(self):
        clock = Clock()
        stalls = ReactorStalls(clock)
        with self.assertRaises(ZeroDivisionError), stalls:
            _ = 1 / 0
        self.assertFalse(stalls.watch.running)
        self.assertEqual(clock.getDelayedCalls(), [])


class RealReactorTests(TestCase):

    async def _hold(self, seconds):
        await deferLater(reactor, 0.05, lambda: None)
        time.sleep(seconds)  # the reactor thread is blocked: a stall
        await deferLater(reactor, 0.05, lambda: None)

    def test_blocking_call_shows_as_a_stall(self):
        watch = StallWatch(reactor, interval=0.005)
        watch.start()
        d = Deferred.fromCoroutine(self._hold(0.3))

        def check(_):
            watch.stop()
            self.assertGreaterEqual(watch.worst, 0.25)
            self.assertLess(watch.worst, 5)
        return d.addCallback(check)
