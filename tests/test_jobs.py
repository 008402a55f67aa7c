"""@every, @cron and bot.later: run on the injected clock, once, isolated, cancelled with their plugin."""

from datetime import UTC, datetime

from twisted.internet.defer import Deferred
from twisted.logger import capturedLogs
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import IHandler, cron, every
from pubbot.testing import Harness

# 2026-12-07 (a Monday) 11:00:00 UTC
MONDAY_11 = datetime(2026, 12, 7, 11, 0, tzinfo=UTC).timestamp()


def make_every(seconds=60, result=None, **kwargs):
    runs = []

    @every(seconds, **kwargs)
    def tick(bot):
        runs.append(bot.clock.seconds())
        if isinstance(result, Exception):
            raise result
        return result

    return tick, runs


class EveryTests(SynchronousTestCase):
    def test_runs_every_interval_with_the_bot(self):
        tick, runs = make_every(60)
        h = Harness(tick)
        start = h.clock.seconds()
        h.clock.advance(59)
        self.assertEqual(runs, [])
        h.clock.advance(1)
        h.clock.advance(60)
        h.clock.advance(60)
        self.assertEqual(runs, [start + 60, start + 120, start + 180])
        self.assertTrue(verifyObject(IHandler, tick))
        report = h.bot.jobs.report()
        self.assertEqual(report[0]["name"], "tick")
        self.assertEqual((report[0]["runs"], report[0]["failures"], report[0]["next_run"]),
                         (3, 0, start + 240))

    def test_stopping_the_plugin_cancels_it(self):
        tick, runs = make_every(10)
        h = Harness(tick)
        h.clock.advance(10)
        tick.stop()
        h.clock.advance(100)
        self.assertEqual(len(runs), 1)
        self.assertEqual(h.bot.jobs.report(), [])
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_the_bot_stopping_cancels_everything(self):
        tick, runs = make_every(10)
        h = Harness(tick)
        h.bot.later(5, runs.append, "later")
        h.stop()
        h.clock.advance(100)
        self.assertEqual(runs, [])
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_a_failure_is_logged_and_counted_and_the_job_goes_on(self):
        tick, runs = make_every(10, ValueError("boom"))
        h = Harness(tick)
        with capturedLogs() as events:
            h.clock.advance(10)
            h.clock.advance(10)
        self.assertEqual(len(runs), 2)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)
        self.assertEqual(h.bot.jobs.stats["tick"].failures, 2)
        failed = [e["job"] for e in events if e.get("log_format") == "job {job} failed"]
        self.assertEqual(failed, ["tick", "tick"])

    def test_never_overlaps_itself_and_times_out(self):
        waiting = []

        @every(10, timeout=25)
        def slow(bot):
            d = Deferred()
            waiting.append(d)
            return d

        h = Harness(slow)
        h.clock.advance(10)  # starts
        h.clock.advance(10)  # still running: skipped
        h.clock.advance(10)  # (t=30) still running: skipped
        self.assertEqual(len(waiting), 1)
        h.clock.advance(5)   # 25s after it started: timed out
        stats = h.bot.jobs.stats["slow"]
        self.assertEqual((stats.runs, stats.skipped, stats.timeouts, stats.failures, stats.running),
                         (1, 2, 1, 1, False))
        h.clock.advance(5)   # t=40: runs again
        self.assertEqual(len(waiting), 2)
        waiting[1].callback(None)
        self.assertEqual((stats.runs, stats.failures, stats.running), (2, 1, False))

    def test_a_coroutine_job(self):
        done = []

        @every(10)
        async def job(bot):
            done.append(await bot.store.get("nothing"))

        h = Harness(job)
        h.clock.advance(10)
        self.assertEqual(done, [None])

    def test_only_the_owner_runs_jobs(self):
        tick, runs = make_every(10)
        h = Harness(tick)
        owner = [False]
        h.bot.jobs.owner = lambda: owner[0]
        h.clock.advance(30)
        self.assertEqual(runs, [])
        owner[0] = True
        h.clock.advance(10)
        self.assertEqual(len(runs), 1)  # the schedule went on meanwhile

    def test_bad_intervals(self):
        for bad in (0, -1, "60", True):
            self.assertRaises(ValueError, every, bad)


class CronTests(SynchronousTestCase):
    def test_runs_at_the_expression_times_on_the_clock(self):
        runs = []

        @cron("0 12 * * 1-5", timezone="UTC")
        def noon(bot):
            runs.append(datetime.fromtimestamp(bot.clock.seconds(), UTC))

        h = Harness(noon, start_time=MONDAY_11)
        self.assertEqual(h.bot.jobs.report()[0]["next_run"], MONDAY_11 + 3600)
        for _ in range(7 * 24):
            h.clock.advance(3600)
        self.assertEqual([(r.weekday(), r.hour, r.minute) for r in runs],
                         [(d, 12, 0) for d in range(5)])
        self.assertEqual(h.bot.jobs.report()[0]["schedule"], "cron 0 12 * * 1-5")

    def test_time_zones(self):
        runs = []

        @cron("30 9 * * *", timezone="Europe/Paris")
        def paris(bot):
            runs.append(bot.clock.seconds())

        h = Harness(paris, start_time=MONDAY_11)
        self.assertEqual(h.bot.jobs.report()[0]["next_run"],
                         datetime(2026, 12, 8, 8, 30, tzinfo=UTC).timestamp())

    def test_bad_expressions_fail_at_import(self):
        for bad in ("", "0 12 * *", "61 * * * *", "0 12 * * 1-5 2026", "every day"):
            self.assertRaises(ValueError, cron, bad)
        self.assertRaises((ValueError, KeyError, OSError), cron, "0 12 * * *", timezone="Mars/Olympus")


class LaterTests(SynchronousTestCase):
    def test_runs_once_isolated_and_can_be_cancelled(self):
        h = Harness()
        got = []
        h.bot.later(5, got.append, "a")
        handle = h.bot.later(5, got.append, "b")
        handle.cancel()
        h.bot.later(1, lambda: 1 / 0)
        h.clock.advance(10)
        self.assertEqual(got, ["a"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_cancelled_with_the_module_that_asked(self):
        h = Harness()
        got = []

        def remember(x):
            got.append(x)

        h.bot.later(5, remember, 1)
        self.assertEqual(h.bot.jobs.cancel_module(__name__), 1)
        h.clock.advance(10)
        self.assertEqual(got, [])
