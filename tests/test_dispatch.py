"""The dispatcher: isolation of handlers, timeouts, reply choice."""

import re

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from pubbot.api import handler
from pubbot.core.dispatch import (
    FAILURE_LOGS,
    ContentFilter,
    Dispatcher,
    Result,
    choose_reply,
    joined_contents,
)
from pubbot.core.interfaces import IBatchHandler
from pubbot.core.message import Message, Reply

from .support.logs import capture_logs


def msg(topic="chat.irc.#pubbot.chat", **fields):
    return Message(topic, fields)


class DispatcherTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.dispatcher = Dispatcher(self.clock, timeout=5)
        self.log = capture_logs(self)

    def add(self, fn, subscribe=("chat.#",), name=None):
        h = handler(subscribe=list(subscribe), name=name)(fn)
        self.dispatcher.add(h)
        return h

    def values(self, d):
        return [r.value for r in self.successResultOf(d)]

    def test_sync_deferred_and_coroutine_results(self):
        self.add(lambda m: "a", name="sync")
        self.add(lambda m: succeed("b"), name="deferred")

        async def coro(m):
            return "c"
        self.add(coro, name="coroutine")
        self.assertEqual(self.values(self.dispatcher.publish(msg())), ["a", "b", "c"])

    def test_none_results_left_out(self):
        self.add(lambda m: None, name="quiet")
        self.add(lambda m: succeed(None), name="quiet-later")
        self.add(lambda m: "said", name="talker")
        results = self.successResultOf(self.dispatcher.publish(msg()))
        self.assertEqual([(r.handler.name, r.value) for r in results], [("talker", "said")])

    def test_trigger_word_handlers_called_for_their_words(self):
        calls = []
        h = self.add(lambda m: calls.append(m.fields.get("command") or m.content), name="cmd")
        h.trigger_words = ("ping", "skip")
        self.add(lambda m: calls.append("always"), name="always")
        self.dispatcher.publish(msg(command=None, content="hello"))
        self.dispatcher.publish(msg(command="PING now", content="!PING now"))
        self.dispatcher.publish(msg(command="pong", content="!pong"))
        self.dispatcher.publish(msg(command=None, content="skip 2"))
        self.dispatcher.publish(msg(command="", content=""))
        self.dispatcher.publish(msg(command="skip", content="pubbot: skip"))
        self.assertEqual(calls, ["always", "PING now", "always", "always", "skip 2", "always",
                                 "always", "skip", "always"])

    def test_trigger_words_keep_plugin_order(self):
        order = []
        self.add(lambda m: order.append("a"), name="a")
        h = self.add(lambda m: order.append("b"), name="b")
        h.trigger_words = ("go",)
        self.add(lambda m: order.append("c"), name="c")
        self.dispatcher.publish(msg(command="go"))
        self.assertEqual(order, ["a", "b", "c"])

    def test_no_subscriber(self):
        self.add(lambda m: "a", subscribe=["music.*"])
        self.assertEqual(self.successResultOf(self.dispatcher.publish(msg())), [])

    def test_raising_handler_isolated_and_logged_with_name(self):
        def boom(m):
            raise RuntimeError("kaboom")
        self.add(boom, name="boomer")
        self.add(lambda m: "ok", name="fine")
        results = self.successResultOf(self.dispatcher.publish(msg()))
        self.assertEqual([(r.handler.name, r.value, r.failed) for r in results],
                         [("boomer", None, True), ("fine", "ok", False)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(any("boomer" in t for t in self.log.texts()))
        self.assertEqual(self.dispatcher.stats["boomer"].errors, 1)

    def test_failures_logged_within_bounds_and_all_counted(self):
        # A line that makes a plugin fail can be sent without end: each
        # plugin's failures are logged FAILURE_LOGS times a minute at most.
        def boom(m):
            raise RuntimeError("kaboom")
        self.add(boom, name="boomer")
        self.add(lambda m: fail(ValueError("later")), name="failer")
        self.add(lambda m: Deferred(), name="hanger")
        for _ in range(3 * FAILURE_LOGS):
            self.dispatcher.publish(msg())
        self.clock.advance(5)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), FAILURE_LOGS)
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), FAILURE_LOGS)
        self.assertEqual(sum("hanger timed out" in t for t in self.log.texts()), FAILURE_LOGS)
        stats = self.dispatcher.stats
        self.assertEqual((stats["boomer"].errors, stats["failer"].errors, stats["hanger"].timeouts),
                         (3 * FAILURE_LOGS,) * 3)
        self.assertTrue(any("(%d failures so far)" % FAILURE_LOGS in t for t in self.log.texts()))
        self.clock.advance(60)  # a minute on: logged again, with the count so far
        self.dispatcher.publish(msg())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(any("(%d failures so far)" % (3 * FAILURE_LOGS + 1) in t for t in self.log.texts()))
        self.flushLoggedErrors(ValueError)

    def test_failing_deferred_isolated(self):
        self.add(lambda m: fail(ValueError("nope")), name="failer")
        self.add(lambda m: "ok", name="fine")
        self.assertEqual(self.values(self.dispatcher.publish(msg())), [None, "ok"])
        self.flushLoggedErrors(ValueError)
        self.assertEqual(self.dispatcher.stats["failer"].errors, 1)

    def test_hanging_handler_cancelled_after_timeout(self):
        hung = Deferred()
        self.add(lambda m: hung, name="hanger")
        self.add(lambda m: "ok", name="fine")
        d = self.dispatcher.publish(msg())
        self.assertNoResult(d)
        self.clock.advance(4.9)
        self.assertNoResult(d)
        self.clock.advance(0.2)
        self.assertEqual(self.values(d), [None, "ok"])
        self.assertEqual(self.dispatcher.stats["hanger"].timeouts, 1)
        self.assertTrue(any("hanger timed out" in t for t in self.log.texts()))

    def test_hanging_handler_does_not_delay_next_message(self):
        self.add(lambda m: Deferred() if m.content == "hang" else "quick", name="h")
        first = self.dispatcher.publish(msg(content="hang"))
        second = self.dispatcher.publish(msg(content="go"))
        self.assertEqual(self.values(second), ["quick"])
        self.assertNoResult(first)
        self.clock.advance(6)
        self.assertEqual(self.values(first), [None])

    def test_failing_coroutine(self):
        async def bad(m):
            raise KeyError("x")
        self.add(bad, name="bad")
        self.assertEqual(self.values(self.dispatcher.publish(msg())), [None])
        self.assertEqual(len(self.flushLoggedErrors(KeyError)), 1)

    def test_observer_failure_isolated(self):
        def observer(m):
            raise RuntimeError("observer")
        self.dispatcher.observers.append(observer)
        self.add(lambda m: "ok")
        self.assertEqual(self.values(self.dispatcher.publish(msg())), ["ok"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_stats_and_topic_counts(self):
        self.add(lambda m: None, name="n")
        self.dispatcher.publish(msg())
        self.dispatcher.publish(msg("music.track"))
        self.assertEqual(self.dispatcher.stats["n"].calls, 1)
        self.assertEqual(self.dispatcher.topic_counts, {"chat": 1, "music": 1})
        self.assertEqual(sum(self.dispatcher.stats["n"].buckets), 1)

    def test_remove(self):
        h = self.add(lambda m: "x")
        self.dispatcher.remove(h)
        self.assertEqual(self.successResultOf(self.dispatcher.publish(msg())), [])


class ChooseReplyTests(SynchronousTestCase):
    def r(self, value, name="h"):
        h = handler(subscribe=["x"], name=name)(lambda m: None)
        return Result(h, value)

    def test_highest_weight_wins(self):
        reply = choose_reply([self.r({"content": "low"}), self.r({"content": "high", "weight": 5})])
        self.assertEqual(reply, Reply(("high",), "say", 5))

    def test_tie_goes_to_first(self):
        reply = choose_reply([self.r({"content": "first"}), self.r({"content": "second"})])
        self.assertEqual(reply.lines, ("first",))

    def test_empty_replies_ignored(self):
        reply = choose_reply([self.r({"content": "", "weight": 9}), self.r(None),
                              self.r({"content": []}), self.r({"content": "real"})])
        self.assertEqual(reply.lines, ("real",))
        self.assertIsNone(choose_reply([self.r(None), self.r({})]))

    def test_kinds_and_lists(self):
        self.assertEqual(choose_reply([self.r({"content": ["a", "b"], "notice": True})]),
                         Reply(("a", "b"), "notice", 0))
        self.assertEqual(choose_reply([self.r({"content": "waves", "action": True})]).kind, "action")
        self.assertEqual(choose_reply([self.r("plain string")]).lines, ("plain string",))

    def test_malformed_reply_logged_and_ignored(self):
        log = capture_logs(self)
        reply = choose_reply([self.r(42, name="weird"), self.r({"content": "x", "weight": "heavy"}),
                              self.r({"content": "ok"})])
        self.assertEqual(reply.lines, ("ok",))
        errors = log.texts(LogLevel.error)
        self.assertTrue(any("weird" in t for t in errors))


class BatchDispatchTests(SynchronousTestCase):
    """dispatch_many: batch handlers, content filters, and sameness with dispatch."""

    def setUp(self):
        self.clock = Clock()
        self.dispatcher = Dispatcher(self.clock, timeout=5)

    def add(self, fn, name, **attrs):
        h = handler(subscribe=["chat.#"], name=name)(fn)
        for key, value in attrs.items():
            setattr(h, key, value)
        self.dispatcher.add(h)
        return h

    def values(self, found):
        done = {i: self.successResultOf(v) if isinstance(v, Deferred) else v for i, v in found.items()}
        return {i: [(r.handler.name, r.value) for r in v] for i, v in done.items()}

    def test_same_answers_as_one_by_one(self):
        self.add(lambda m: "echo " + m.content if m.content.startswith("e") else None, "echo")
        self.add(lambda m: succeed("later") if m.content == "wait" else None, "later")
        cmd = self.add(lambda m: "pong", "ping", trigger_words=("!ping",))
        self.assertTrue(cmd)
        self.add(lambda m: "karma" if "++" in m.content else None, "karma", content_filter=r"\+\+")
        texts = ["hello", "eh", "wait", "!ping", "x++", "plain", "eek++"]
        batch = [msg(content=t, command=None) for t in texts]
        one_by_one = {}
        for i, m in enumerate(batch):
            r = self.dispatcher.dispatch(m)
            values = self.successResultOf(r) if isinstance(r, Deferred) else r
            if values:
                one_by_one[i] = [(x.handler.name, x.value) for x in values]
        self.assertEqual(self.values(self.dispatcher.dispatch_many(batch)), one_by_one)
        self.assertEqual(sorted(one_by_one), [1, 2, 3, 4, 6])

    def test_mixed_topics_keep_positions(self):
        self.add(lambda m: m.topic, "topic")
        batch = [msg(content="a"), msg("chat.irc.#other.chat", content="b"), msg(content="c")]
        self.assertEqual(self.values(self.dispatcher.dispatch_many(batch)), {
            0: [("topic", "chat.irc.#pubbot.chat")], 1: [("topic", "chat.irc.#other.chat")],
            2: [("topic", "chat.irc.#pubbot.chat")]})
        self.assertEqual(self.dispatcher.topic_counts, {"chat": 3})

    def test_batch_handler_called_once_in_order(self):
        calls = []

        @implementer(IBatchHandler)
        class Learner:
            name = "learner"
            description = "learns"
            triggers = ()
            subscriptions = ("chat.#",)

            def handle(self, m):
                return dict(self.handle_many([m]) or {}).get(0)

            def handle_many(self, messages):
                calls.append([m.content for m in messages])
                return [(i, "seen " + m.content) for i, m in enumerate(messages) if m.content == "b"]

            def start(self, bot):
                pass

            def stop(self):
                pass

        learner = Learner()
        verifyObject(IBatchHandler, learner)
        self.dispatcher.add(learner)
        found = self.values(self.dispatcher.dispatch_many([msg(content=t) for t in "abc"]))
        self.assertEqual(calls, [["a", "b", "c"]])
        self.assertEqual(found, {1: [("learner", "seen b")]})
        stats = self.dispatcher.stats["learner"]
        self.assertEqual((stats.calls, sum(stats.buckets)), (3, 3))

    def test_batch_handler_raising_or_answering_badly_is_isolated(self):
        @implementer(IBatchHandler)
        class Bad:
            name = "bad"
            description = triggers = ""
            subscriptions = ("chat.#",)

            def handle(self, m):
                return None

            def handle_many(self, messages):
                if messages[0].content == "boom":
                    raise RuntimeError("batch boom")
                return [(7, "out of range"), "not a pair", (0, "fine")]

            def start(self, bot):
                pass

            def stop(self):
                pass

        self.dispatcher.add(Bad())
        self.add(lambda m: "other", "other")
        found = self.values(self.dispatcher.dispatch_many([msg(content="boom"), msg(content="x")]))
        self.assertEqual(found, {0: [("other", "other")], 1: [("other", "other")]})
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        found = self.values(self.dispatcher.dispatch_many([msg(content="ok")]))
        self.assertEqual(found, {0: [("bad", "fine"), ("other", "other")]})
        self.assertEqual(self.dispatcher.stats["bad"].errors, 3)

    def test_filter_skips_lines_and_non_text(self):
        seen = []
        self.add(lambda m: seen.append(m.fields.get("content")), "links", content_filter=r"https?://")
        batch = [msg(content="see http://x"), msg(content="nothing"), msg(content=None),
                 msg("chat.irc.#pubbot.join"), msg(content="HTTPS://y")]
        self.dispatcher.dispatch_many(batch)
        self.assertEqual(seen, ["see http://x"])
        self.dispatcher.dispatch(msg(content="and http://z"))
        self.dispatcher.dispatch(msg(content="no"))
        self.assertEqual(seen, ["see http://x", "and http://z"])

    def test_unsafe_filters_fall_back_to_each_line(self):
        unsafe = (r"\Aa", r"b\Z", r"(?=x)", r"(?<!y)z", r"(?s)a.b", r"(?is:a.b)", re.compile("a.b", re.S))
        for source in unsafe:
            self.assertFalse(ContentFilter(source).safe, source)
        for source in (r"\+\+|--", r"\?$", r"^!karma\b", r"(?i)hristmas"):
            self.assertTrue(ContentFilter(source).safe, source)

    @settings(max_examples=300)
    @given(st.lists(st.text(alphabet="ab?+-\n x\u0130", max_size=8), min_size=1, max_size=8),
           st.sampled_from([r"\+\+|--", r"\?$", r"^a", r"(?i)a b", r"b\s*$", r"^\s*\?", r"\bab\b", r"\Ab"]))
    def test_batch_filter_same_as_each_line(self, texts, source):
        f = ContentFilter(source)
        batch = [msg(content=t) for t in texts]
        each = [i for i, t in enumerate(texts) if re.search(source, t, re.MULTILINE)]
        self.assertEqual(f.select(batch, joined_contents(batch)), each)

    @settings(max_examples=200)
    @given(st.lists(st.text(alphabet="ab+-\n x", max_size=8), min_size=1, max_size=8),
           st.sampled_from([("++", "--"), ("a b",), ("x",)]))
    def test_batch_substrings_same_as_each_line(self, texts, needles):
        f = ContentFilter(needles)
        batch = [msg(content=t) for t in texts]
        each = [i for i, t in enumerate(texts) if any(n in t for n in needles)]
        self.assertEqual(f.select(batch, joined_contents(batch)), each)

    def test_bad_substrings_refused(self):
        for bad in ((), ("",), ("a\nb",), (b"x",)):
            self.assertRaises(ValueError, ContentFilter, bad)
