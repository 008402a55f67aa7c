"""
Where the brain's model lives: in the bot's process or in a learner process.

One suite runs against the inline model, the learner protocol over an
in-process loopback (deterministic, on a Clock) and a real learner process;
then the learner's faults (hung, crashed, garbage, far behind) and the brain
plugin falling back to learning in the bot's process.
"""

import io
import os
import random
import signal
import sys

from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.task import Clock, deferLater
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from pubbot.brain.host import (
    EXIT_TIMEOUT,
    MAX_PAUSE,
    QUESTION_TIMEOUT,
    STDERR_LOGS,
    IBrainModel,
    InlineModel,
    LearnerError,
    LearnerGone,
    LearnerProcess,
    resolved,
)
from pubbot.brain.learner import ANSWER, LEARNT, frame, learn_lines, serve
from pubbot.brain.model import EDGE, TrigramModel
from pubbot.core.bot import Bot
from pubbot.plugins.brain import NO_SENSE, Brain, load_model, save_model
from pubbot.store.memory import MemoryStore
from pubbot.testing import make_settings

from .support.brain import CHATTER
from .support.logs import capture_logs


def reference(lines=CHATTER, max_trigrams=200000):
    """A model that learned C{lines} in this process, as the brain does."""
    model = TrigramModel(max_trigrams)
    learn_lines(model, lines)
    return model


class Loopback:
    """
    A process transport whose process is the learner's serve loop, run in
    this process: frames written are answered at once (C{auto}) or on
    L{pump}, and closing stdin ends the "process" once pumped.
    """

    def __init__(self, learner: LearnerProcess, auto: bool = True):
        self.learner = learner
        self.model = TrigramModel(learner.max_trigrams)
        self.auto = auto
        self.written: list = []
        self.signals: list = []
        self.stdin_closed = False
        self.ended = False
        learner.makeConnection(self)

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.auto:
            self.pump()

    def closeStdin(self) -> None:
        self.stdin_closed = True
        if self.auto:
            self.pump()

    def signalProcess(self, name) -> None:
        self.signals.append(name)
        self.end(ProcessTerminated(signal=9))

    def pump(self) -> None:
        data = b"".join(self.written)
        self.written.clear()
        out: list = []
        serve(self.model, io.BytesIO(data).read, out.append)
        if out:
            self.learner.childDataReceived(1, b"".join(out))
        if self.stdin_closed:
            self.end(ProcessDone(0))

    def end(self, reason) -> None:
        if not self.ended:
            self.ended = True
            self.learner.processEnded(Failure(reason))


class HostSuite:
    """
    What every IBrainModel does. The subclass gives C{host()} and
    C{now(value)}: a Deferred of an answer, fired once the host has answered.
    """

    def test_interface(self):
        self.assertTrue(verifyObject(IBrainModel, self.host()))

    @inlineCallbacks
    def test_learns_and_replies_as_the_model_in_process(self):
        host = self.host()
        host.learn(CHATTER[:2])
        host.learn(CHATTER[2:])
        model = reference()
        for seed in range(5):
            sentence = yield self.now(host.reply("tell me about cheese", seed))
            self.assertEqual(sentence, model.reply("tell me about cheese", random.Random(seed)))
            self.assertIn("cheese", sentence.split())
        self.assertIsNone((yield self.now(host.reply("quantum chromodynamics", 1))))
        self.assertEqual((yield self.now(host.size())), len(model))

    @inlineCallbacks
    def test_a_question_is_answered_after_the_lines_before_it(self):
        host = self.host()
        asked = host.reply("cheese", 1)
        host.learn(CHATTER)
        self.assertIsNone((yield self.now(asked)))
        self.assertIsNotNone((yield self.now(host.reply("cheese", 1))))

    @inlineCallbacks
    def test_unlearn(self):
        host = self.host()
        host.learn(CHATTER)
        self.assertEqual((yield self.now(host.unlearn(["CHEESE!"]))), reference().unlearn(["cheese"]))
        self.assertEqual((yield self.now(host.unlearn(["cheese"]))), 0)
        self.assertIsNone((yield self.now(host.reply("cheese", 1))))

    @inlineCallbacks
    def test_saved_and_loaded_through_a_store(self):
        host = self.host()
        host.learn(CHATTER)
        store = MemoryStore(Clock())
        written = yield self.now(Deferred.fromCoroutine(save_model(host, store, 4, 10)))
        self.assertGreater(written, 4)
        self.assertFalse((yield self.now(host.has_dirty())))
        self.assertEqual((yield self.now(host.take_dirty(None, None))), {})
        copy = TrigramModel()
        read, bad = yield Deferred.fromCoroutine(load_model(copy, store))
        stored = yield store.keys("brain:shard:")
        self.assertEqual((read, bad), (len(stored), 0))  # some written more than once, in rounds
        self.assertEqual(dict(copy.trigrams()), dict(reference().trigrams()))
        again = self.host()
        self.assertEqual((yield self.now(Deferred.fromCoroutine(load_model(again, store)))), (read, 0))
        self.assertEqual((yield self.now(again.size())), len(copy))
        self.assertEqual((yield self.now(again.load_shard(0, {"not-a-trigram": 1, "a b c": "x"}))), 2)

    @inlineCallbacks
    def test_a_failed_write_is_handed_over_again(self):
        host = self.host()
        host.learn(CHATTER)
        shards = yield self.now(host.take_dirty(2, None))
        self.assertEqual(len(shards), 2)
        yield self.now(host.mark_dirty(list(shards)))
        again = yield self.now(host.take_dirty(None, None))
        self.assertLessEqual(set(shards), set(again))


class InlineTests(HostSuite, TestCase):

    def host(self):
        return InlineModel(TrigramModel())

    def now(self, value):
        return resolved(value)


class LoopbackTests(HostSuite, TestCase):
    """The learner's protocol end to end, in this process, on a Clock."""

    def host(self, auto=True, **kwargs):
        self.clock = Clock()
        learner = LearnerProcess(self.clock, 200000, **kwargs)
        self.transport = Loopback(learner, auto)
        return learner

    def now(self, value):
        if not self.transport.auto:
            self.transport.pump()
        return resolved(value)

    def warnings(self):
        return capture_logs(self)

    def test_lines_go_in_one_frame_a_batch_and_are_acknowledged(self):
        learner = self.host(auto=False)
        learner.learn(CHATTER)
        learner.learn(["a line\nwith a newline"])
        self.assertEqual(len(self.transport.written), 2)
        self.assertEqual(learner.backlog, sum(map(len, self.transport.written)) - 2 * 5)
        self.transport.pump()
        self.assertEqual(learner.backlog, 0)
        self.assertEqual(self.transport.model.count("line", "with", "a"), 1)

    def test_lines_far_behind_are_dropped_and_logged(self):
        events = self.warnings()
        learner = self.host(auto=False, max_backlog=100)
        learner.learn(CHATTER[:1])
        learner.learn(CHATTER[1:3])  # over 100 bytes behind
        learner.learn(CHATTER[3:])
        self.assertEqual(learner.dropped, 4)
        said = [e for e in events if e.get("log_format", "").startswith("brain: {why}")]
        self.assertEqual(len(said), 1)  # once a minute
        self.transport.pump()
        learner.learn(CHATTER[1:3])
        self.assertEqual(learner.dropped, 4)

    def pressured(self, **kwargs):
        """A learner answering on pump, its on_pressure calls recorded."""
        learner = self.host(auto=False, **kwargs)
        calls = []
        learner.on_pressure = calls.append
        return learner, calls

    def test_far_behind_it_asks_for_chat_reading_to_pause_until_it_catches_up(self):
        learner, calls = self.pressured(pause_backlog=400)
        self.assertEqual(learner.resume_backlog, 100)
        learner.learn(CHATTER)  # 184 bytes
        learner.learn(CHATTER)
        self.assertEqual(calls, [])
        learner.learn(CHATTER)  # 552 > 400
        learner.learn(CHATTER)
        self.assertEqual((calls, learner.pausing, learner.pauses), ([True], True, 1))
        self.transport.pump()  # learned, acknowledged
        self.assertEqual((calls, learner.pausing, learner.backlog), ([True, False], False, 0))
        self.assertEqual(self.clock.getDelayedCalls(), [])  # no pause timer left
        self.assertEqual(self.transport.model.count("", "", "the"), 4 * reference().count("", "", "the"))
        self.assertEqual(learner.dropped, 0)
        for _ in range(3):
            learner.learn(CHATTER)
        self.assertEqual((calls, learner.pauses), ([True, False, True], 2))

    def test_it_resumes_only_well_below_the_mark(self):
        learner, calls = self.pressured(pause_backlog=400)
        for _ in range(3):
            learner.learn(CHATTER)
        # Acknowledged one by one: 368 bytes behind, then 184, still paused; then 0.
        written = list(self.transport.written)
        self.transport.written.clear()
        for i, data in enumerate(written):
            self.transport.written.append(data)
            self.transport.pump()
            self.assertEqual(calls, [True] if i < 2 else [True, False])

    def test_a_learner_that_does_not_catch_up_gets_chat_back_after_max_pause(self):
        events = self.warnings()
        learner, calls = self.pressured(pause_backlog=400, max_backlog=1000)
        for _ in range(3):
            learner.learn(CHATTER)
        self.clock.advance(MAX_PAUSE - 0.1)
        self.assertEqual(calls, [True])
        self.clock.advance(0.1)
        self.assertEqual((calls, learner.pausing), ([True, False], False))
        said = [e for e in events if "still {backlog} bytes behind" in e.get("log_format", "")]
        self.assertEqual(said[0]["backlog"], 552)
        # Still behind: no pausing again (lines drop past max_backlog instead) ...
        for _ in range(4):
            learner.learn(CHATTER)
        self.assertEqual((calls, learner.dropped), ([True, False], 2 * len(CHATTER)))
        # ... until it has caught up.
        self.transport.pump()
        for _ in range(3):
            learner.learn(CHATTER)
        self.assertEqual(calls, [True, False, True])

    def test_a_learner_that_ends_is_killed_or_closed_while_paused_lets_chat_go_on(self):
        learner, calls = self.pressured(pause_backlog=100)
        learner.learn(CHATTER)
        self.assertEqual(calls, [True])
        closed = learner.close()
        self.transport.pump()  # learns what it was sent, then ends
        self.successResultOf(closed)
        self.assertEqual(calls, [True, False])
        learner, calls = self.pressured(pause_backlog=100)
        learner.learn(CHATTER)
        learner.childDataReceived(1, frame(ANSWER, b"1"))  # unasked: killed
        self.assertEqual(calls, [True, False])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        learner, calls = self.pressured(pause_backlog=100)
        learner.learn(CHATTER)
        self.transport.end(ProcessTerminated(signal=9))
        self.assertEqual(calls, [True, False])
        self.flushLoggedErrors()

    def test_a_failing_pressure_callback_is_logged(self):
        learner = self.host(auto=False, pause_backlog=100)
        learner.on_pressure = lambda on: 1 / 0
        learner.learn(CHATTER)
        self.assertTrue(learner.pausing)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.transport.pump()
        self.assertFalse(learner.pausing)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_a_refused_question_fails_with_its_reason(self):
        learner = self.host()
        failure = self.failureResultOf(learner._ask({"op": "nope"}), LearnerError)
        self.assertIn("unknown op", str(failure.value))
        self.assertEqual(self.successResultOf(self.now(learner.size())), 0)  # and it goes on

    def test_a_malformed_answer_fails_the_question(self):
        learner = self.host(auto=False)
        asked = [learner.size(), learner.take_dirty(None, None), learner.reply("x", 1), learner.has_dirty()]
        self.transport.written.clear()
        learner.childDataReceived(1, frame(ANSWER, b'"many"') + frame(ANSWER, b'[[1, "{}"], [1, {}]]')
                                  + frame(ANSWER, b"3") + frame(ANSWER, b"{nope"))
        for d in asked:
            self.failureResultOf(d, LearnerError)
        self.assertEqual(self.transport.signals, [])

    def test_an_unasked_answer_or_a_broken_frame_stops_the_learner(self):
        lost = []
        learner = self.host(auto=False)
        learner.on_lost = lost.append
        learner.childDataReceived(1, frame(ANSWER, b"1"))
        self.assertEqual(self.transport.signals, ["KILL"])
        self.assertEqual(len(lost), 1)
        self.flushLoggedErrors()
        learner = self.host(auto=False)
        asked = learner.size()
        learner.childDataReceived(1, b"\xff\xff\xff\xff" + LEARNT)
        self.assertEqual(self.transport.signals, ["KILL"])
        self.failureResultOf(asked, LearnerGone)

    def test_a_hung_learner_is_killed(self):
        lost = []
        learner = self.host(auto=False)
        learner.on_lost = lost.append
        asked = learner.reply("cheese", 1)
        self.clock.advance(QUESTION_TIMEOUT - 1)
        self.assertNoResult(asked)
        self.clock.advance(1)
        self.assertEqual(self.transport.signals, ["KILL"])
        self.failureResultOf(asked, LearnerGone)
        self.assertEqual(len(lost), 1)
        self.failureResultOf(learner.size(), LearnerGone)
        learner.learn(CHATTER)
        self.assertEqual(learner.dropped, len(CHATTER))
        self.flushLoggedErrors()

    def test_an_answered_question_leaves_no_timer(self):
        learner = self.host()
        self.now(learner.size())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close_lets_it_finish_then_ends_it(self):
        lost = []
        learner = self.host(auto=False)
        learner.on_lost = lost.append
        learner.learn(CHATTER)
        closed = learner.close()
        self.assertNoResult(closed)
        self.transport.pump()  # reads what was sent, then its input's end
        self.successResultOf(closed)
        self.assertEqual(len(self.transport.model), len(reference()))
        self.assertEqual((lost, self.transport.signals), ([], []))
        self.successResultOf(learner.close())

    def test_close_kills_a_learner_that_lingers(self):
        learner = self.host(auto=False)
        closed = learner.close()
        self.clock.advance(EXIT_TIMEOUT)
        self.assertEqual(self.transport.signals, ["KILL"])
        self.successResultOf(closed)
        self.flushLoggedErrors()

    def test_stderr_is_logged_by_the_line_and_bounded(self):
        events = self.warnings()
        learner = self.host()
        learner.childDataReceived(2, b"Traceback (most recent call last):\n  File ")
        learner.childDataReceived(2, b"x\nboom\n\n" + b"spam\n" * 50 + b"x" * 100000)
        said = [e["line"] for e in events if e.get("log_format") == "brain learner: {line}"]
        self.assertEqual(said[:3], ["Traceback (most recent call last):", "  File x", "boom"])
        self.assertEqual(len(said), STDERR_LOGS)
        self.clock.advance(60)
        learner.processEnded(Failure(ProcessDone(0)))
        said = [e["line"] for e in events if e.get("log_format") == "brain learner: {line}"]
        self.assertEqual(said[-1], "x" * 500)
        self.flushLoggedErrors()


class ProcessTests(HostSuite, TestCase):
    """The suite against a real learner process (python -m pubbot.brain.learner)."""

    timeout = 60

    def host(self, argv=None):
        from twisted.internet import reactor
        learner = LearnerProcess(reactor, 200000, argv=argv)
        learner.start()
        self.addCleanup(self._close, learner)
        return learner

    @staticmethod
    def _close(learner):
        d = learner.close()
        return d

    def now(self, value):
        return resolved(value)

    @inlineCallbacks
    def test_a_killed_learner_is_reported_lost(self):
        learner = self.host()
        lost = Deferred()
        learner.on_lost = lambda reason: lost.callback(reason.value)
        learner.learn(CHATTER)
        self.assertEqual((yield learner.size()), len(reference()))
        learner.transport.signalProcess("KILL")
        reason = yield lost
        self.assertIsInstance(reason, ProcessTerminated)
        self.assertEqual(reason.signal, signal.SIGKILL)
        yield self.assertFailure(learner.size(), LearnerGone)
        self.flushLoggedErrors()

    @inlineCallbacks
    def test_signals_to_the_bots_process_group_do_not_end_it(self):
        """Ctrl-C or SIGTERM to the group: the learner lives until the bot closes its input."""
        learner = self.host()
        learner.learn(CHATTER)
        yield learner.size()  # serving, its handlers set
        for name in ("INT", "TERM", "HUP"):
            learner.transport.signalProcess(name)
        self.assertEqual((yield learner.size()), len(reference()))
        yield learner.close()
        self.assertTrue(learner.reason.check(ProcessDone))

    @inlineCallbacks
    def test_a_learner_that_talks_nonsense_is_stopped(self):
        learner = self.host(argv=[sys.executable, "-c", "import sys, time\n"
                                  "sys.stdout.write('garbage' * 100); sys.stdout.flush(); time.sleep(30)"])
        lost = Deferred()
        learner.on_lost = lambda reason: lost.callback(reason.value)
        asked = learner.size()
        yield lost
        yield self.assertFailure(asked, LearnerGone)
        self.flushLoggedErrors()

    @inlineCallbacks
    def test_a_learner_that_cannot_start_is_reported_lost(self):
        learner = self.host(argv=[sys.executable, "-c", "import sys; sys.stderr.write('no\\n'); sys.exit(3)"])
        lost = Deferred()
        learner.on_lost = lambda reason: lost.callback(reason.value)
        reason = yield lost
        self.assertEqual(reason.exitCode, 3)
        self.flushLoggedErrors()


class UnreadableShardTests(TestCase):
    """A damaged shard in a real SQLite store: skipped and logged; the rest loads, and saving goes on."""

    @inlineCallbacks
    def test_an_unreadable_shard_is_skipped(self):
        import sqlite3

        from twisted.internet import reactor

        from pubbot.brain.model import shard_key
        from pubbot.store.sqlite import SQLiteStore
        path = self.mktemp()
        store = SQLiteStore(path, reactor)
        self.addCleanup(store.close)
        model = reference()
        yield Deferred.fromCoroutine(save_model(model, store))
        keys = sorted((yield store.keys("brain:shard:")))
        yield store.delete(keys[1])
        yield store.sadd(keys[1], "not a string key")  # a set where a shard should be
        store.close()
        db = sqlite3.connect(path)
        with db:
            db.execute("UPDATE strings SET value = '{not json' WHERE key = ?", (keys[0],))
        db.close()
        store = SQLiteStore(path, reactor)
        self.addCleanup(store.close)
        copy = TrigramModel()
        events = capture_logs(self)
        read, bad = yield Deferred.fromCoroutine(load_model(copy, store))
        self.assertEqual((read, bad), (len(keys) - 2, 2))
        said = sorted(e["key"] for e in events if e.get("log_format", "").startswith("brain: stored shard"))
        self.assertEqual(said, keys[:2])
        self.assertLess(len(copy), len(model))
        self.assertTrue(set(dict(copy.trigrams()).items()) <= set(dict(model.trigrams()).items()))
        # What the damaged shard held comes back once the model writes that shard again.
        copy.learn_many(CHATTER)
        copy.file_new()
        yield Deferred.fromCoroutine(save_model(copy, store))
        self.assertIsInstance((yield store.get(keys[0])), dict)
        self.assertEqual(shard_key(int(keys[0][-4:], 16)), keys[0])


class PluginFallbackTests(TestCase):
    """The brain plugin on a real reactor: its learner process, and learning in-process when it is lost."""

    timeout = 60

    def bot(self, **brain):
        from twisted.internet import reactor
        settings = make_settings({"brain": dict({"flush_seconds": 0.05}, **brain)}, Brain)
        bot = Bot(settings, reactor, MemoryStore(reactor), rng=random.Random(1))
        plugin = Brain()
        bot.add_handler(plugin)
        bot.start()
        self.addCleanup(bot.stop)
        return bot, plugin

    def say(self, bot, text, source="ann"):
        return self.say_many(bot, [text], source)

    def say_many(self, bot, lines, source="ann"):
        return bot.bus.submit_many([bot.chat_message("irc", "#pubbot", source, text, False, {})
                                    for text in lines])

    def replies(self, bot):
        sent = []
        bot.outbox = lambda network, target, text, kind, person: sent.append(text)
        return sent

    @inlineCallbacks
    def until(self, check, seconds=20.0):
        from twisted.internet import reactor
        for _ in range(int(seconds / 0.02)):
            if check():
                return
            yield deferLater(reactor, 0.02, lambda: None)
        self.fail("timed out")

    @inlineCallbacks
    def test_learns_in_a_process_answers_and_stores(self):
        bot, plugin = self.bot()
        self.assertIsInstance(plugin.host, LearnerProcess)
        self.assertIsNone(plugin.model)
        sent = self.replies(bot)
        for line in CHATTER:
            yield self.say(bot, line)
        yield self.say(bot, "pubbot: cheese")
        self.assertIn("cheese", sent[0].split())
        yield plugin.flush()
        self.assertTrue((yield bot.store.keys("brain:shard:")))
        learner = plugin.host
        yield bot.stop()
        self.assertTrue(learner.ended.called)
        self.assertEqual(learner.transport.pid, None)  # reaped

    @inlineCallbacks
    def test_a_lost_learner_is_replaced_by_the_model_in_process(self):
        bot, plugin = self.bot()
        sent = self.replies(bot)
        for line in CHATTER:
            yield self.say(bot, line)
        yield self.until(lambda: plugin.loaded)
        yield plugin.flush()  # stored
        learner = plugin.host
        self.assertIsInstance(learner.pid, int)
        self.assertEqual(bot.state["brain"](), {"learner": "process", "backlog_bytes": 0,
                                                 "dropped_lines": 0, "learners_lost": 0,
                                                 "input_pauses": 0, "input_paused": False,
                                                 "learner_pid": learner.transport.pid})
        learner.transport.signalProcess("KILL")
        yield learner.ended
        self.assertIsNone(learner.pid)
        self.assertIsInstance(plugin.host, InlineModel)
        self.assertEqual(bot.state["brain"](), {"learner": "inline", "backlog_bytes": 0,
                                                 "dropped_lines": 0, "learners_lost": 1,
                                                 "input_pauses": 0, "input_paused": False,
                                                 "learner_pid": None})
        yield self.say(bot, "we like butter on toast")  # learned in process meanwhile
        yield self.until(lambda: plugin.loaded)
        model = plugin.model
        self.assertEqual(model.count("the", "cheese", "on"), 1)  # reloaded from the store
        self.assertEqual(model.count("like", "butter", "on"), 1)
        yield self.say(bot, "pubbot: cheese")
        self.assertIn("cheese", sent[-1].split())
        self.flushLoggedErrors()

    @inlineCallbacks
    def test_a_learner_far_behind_pauses_chat_reading_until_it_has_learned(self):
        from .support.chat import FlowChat
        bot, plugin = self.bot()
        chat = FlowChat()
        bot.register_chat(chat)
        learner = plugin.host
        learner.pause_backlog, learner.resume_backlog = 100, 0
        yield self.say_many(bot, CHATTER)  # one batch, 184 bytes
        self.assertEqual(chat.calls, ["pause"])
        self.assertEqual(bot.state["brain"]()["input_paused"], True)
        yield self.until(lambda: chat.calls == ["pause", "resume"])
        self.assertEqual(bot.state["brain"]()["input_pauses"], 1)
        self.assertEqual(learner.backlog, 0)
        yield self.say_many(bot, CHATTER)
        yield bot.stop()  # chat reading is not left paused
        self.assertEqual(chat.calls, ["pause", "resume", "pause", "resume"])
        self.assertEqual(bot.input_holders, set())

    @inlineCallbacks
    def test_process_false_learns_in_the_bots_process(self):
        bot, plugin = self.bot(process=False)
        self.assertIsInstance(plugin.host, InlineModel)
        self.assertEqual(bot.state["brain"]()["learner"], "inline")
        sent = self.replies(bot)
        yield self.say(bot, CHATTER[0])
        yield self.say(bot, "pubbot: moon")
        self.assertIn("moon", sent[0].split())
        self.assertNotEqual(sent[0], NO_SENSE)
        self.assertEqual(plugin.model.count("", "", "the"), 1)
        self.assertEqual(plugin.model.count("green", "rock", EDGE), 1)


if os.name != "posix":  # pragma: no cover - the bot runs on POSIX
    del ProcessTests, PluginFallbackTests
