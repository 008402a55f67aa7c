"""The Bot and the local bus: routing chat in and replies out."""

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import handler
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.core.events import ChatEvent
from pubbot.core.interfaces import IBus, IChatService, ILocalSend
from pubbot.core.localbus import LocalBus
from pubbot.store.memory import MemoryStore
from pubbot.testing import FakeChat, Harness

from .support.chat import FlowChat


class BotTests(SynchronousTestCase):
    def test_interfaces(self):
        clock = Clock()
        bot = Bot(parse({}), clock, MemoryStore(clock))
        self.assertTrue(verifyObject(IBus, LocalBus(bot)))
        self.assertTrue(verifyObject(IChatService, FakeChat()))
        self.assertTrue(verifyObject(ILocalSend, bot))

    def test_what_differs_is_given_to_the_constructor(self):
        clock = Clock()
        bus = LocalBus(None)  # type: ignore[arg-type]
        sent: list = []
        owner = [False]
        bot = Bot(parse({}), clock, MemoryStore(clock), bus=bus, outbox=lambda *a: sent.append(a),
                  jobs_owner=lambda: owner[0], shutdown=lambda: "stopped", reloader=lambda b: ("reloads", b))
        self.assertIs(bot.bus, bus)
        self.assertIs(bus.bot, bot)  # attached by the constructor
        bot.send("irc", "#pubbot", "hi")
        self.assertEqual(sent, [("irc", "#pubbot", "hi", "say", None)])
        self.assertFalse(bot.jobs.owner())
        owner[0] = True
        self.assertTrue(bot.jobs.owner())
        self.assertEqual(bot.shutdown(), "stopped")
        self.assertEqual(bot.reloader, ("reloads", bot))

    def test_by_default_the_bot_is_alone(self):
        clock = Clock()
        bot = Bot(parse({}), clock, MemoryStore(clock))
        self.assertIsInstance(bot.bus, LocalBus)
        self.assertIs(bot.bus.bot, bot)
        self.assertEqual(bot.outbox, bot.send_local)
        self.assertTrue(bot.jobs.owner())
        self.assertIsNone(bot.shutdown)
        self.assertIsNone(bot.reloader)

    def test_reply_goes_to_origin_network_and_channel(self):
        h = Harness(handler(subscribe=["chat.#"])(lambda m: "hi"))
        other = FakeChat("console")
        h.bot.register_chat(other)
        h.say("x", channel="#other")
        h.bot.chat_line("console", "#console", "you", "y")
        self.assertEqual(h.sent, [("#other", "hi", "say")])
        self.assertEqual(other.sent, [("#console", "hi", "say")])

    def test_multi_line_reply_sent_as_one_text(self):
        h = Harness(handler(subscribe=["chat.#"])(lambda m: {"content": ["a", "b"], "notice": True}))
        h.say("x")
        self.assertEqual(h.sent, [("#pubbot", "a\nb", "notice")])

    def test_send_without_network_is_logged_not_fatal(self):
        h = Harness()
        h.bot.send("nosuch", "#x", "text")
        self.assertEqual(h.sent, [])

    def test_sent_observers_and_announce(self):
        seen = []
        h = Harness()
        h.bot.sent_observers.append(lambda *a: seen.append(a))
        h.bot.announce(["#a", "#b"], "news")
        self.assertEqual(h.sent, [("#a", "news", "notice"), ("#b", "news", "notice")])
        self.assertEqual(len(seen), 2)

    def test_heard_observers_see_the_lines_read_before_the_bus(self):
        order = []
        h = Harness(handler(subscribe=["chat.#"])(lambda m: order.append(("handled", m.topic))))

        def failing(messages):
            raise RuntimeError("an observer's bug")
        h.bot.heard_observers.append(failing)
        h.bot.heard_observers.append(lambda messages: order.append(("heard", [m.topic for m in messages])))
        h.say("hello")
        said = {"source": "bob", "content": "hi", "private": False}
        joined = {"source": "carol"}
        h.bot.chat_events("irc", [ChatEvent("chat", "#a", said), ChatEvent("join", "#a", joined)])
        self.assertEqual(order, [
            ("heard", ["chat.irc.#pubbot.chat"]), ("handled", "chat.irc.#pubbot.chat"),
            ("heard", ["chat.irc.#a.chat", "chat.irc.#a.join"]),
            ("handled", "chat.irc.#a.chat"), ("handled", "chat.irc.#a.join")])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_join_event_topic(self):
        topics = []
        h = Harness(handler(subscribe=["chat.*.*.join"])(lambda m: topics.append((m.topic, m.source))))
        h.join("dave", "#a.b")
        self.assertEqual(topics, [("chat.irc.#a%2Eb.join", "dave")])

    def test_handler_start_and_stop(self):
        h = Harness(handler(subscribe=["x"])(lambda m: None))
        self.assertIs(h.bot.handlers[0].bot, h.bot)
        h.stop()
        self.assertIsNone(h.bot.handlers[0].bot)




class InputHoldTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness()
        self.bot = self.h.bot
        self.irc, self.console = FlowChat("irc"), FlowChat("console")
        self.bot.register_chat(self.irc)
        self.bot.register_chat(self.console)

    def test_chat_pauses_until_every_holder_releases(self):
        self.bot.hold_input("brain")
        self.bot.hold_input("other")
        self.assertEqual((self.irc.calls, self.console.calls), (["pause"], ["pause"]))
        self.bot.release_input("brain")
        self.bot.release_input("brain")  # twice: no matter
        self.assertEqual(self.irc.calls, ["pause"])
        self.bot.release_input("other")
        self.assertEqual((self.irc.calls, self.console.calls), (["pause", "resume"], ["pause", "resume"]))
        self.bot.release_input("nobody")
        self.assertEqual(self.irc.calls, ["pause", "resume"])

    def test_a_service_registered_while_held_starts_paused(self):
        self.bot.hold_input("brain")
        late = FlowChat("xmpp")
        self.bot.register_chat(late)
        self.assertEqual(late.calls, ["pause"])
        self.bot.release_input("brain")
        self.assertEqual(late.calls, ["pause", "resume"])

    def test_services_that_cannot_pause_and_failing_ones(self):
        plain = FakeChat("plain")  # no pause_input: left alone
        self.bot.register_chat(plain)
        self.irc.pause_input = lambda: 1 / 0
        self.bot.hold_input("brain")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)
        self.assertEqual(self.console.calls, ["pause"])  # the others still paused
        self.bot.release_input("brain")
        self.assertEqual(self.irc.calls, ["resume"])


class SubmitManyTests(SynchronousTestCase):
    def test_replies_in_order_per_person_and_failures_isolated(self):
        later = Deferred()

        def answer(m):
            if m.content == "wait":
                return later
            if m.content == "bad":
                return {"content": "unsendable"}
            return None if m.content == "quiet" else "re " + m.content

        h = Harness(handler(subscribe=["chat.#"])(answer))
        real_send = h.bot.send

        def send(network, target, text, kind="say", person=None):
            if text == "unsendable":
                raise RuntimeError("outbox broke")
            return real_send(network, target, text, kind)
        h.bot.send = send
        batch = [h.bot.chat_message("irc", "#pubbot", source, t, False, {})
                 for source, t in (("ann", "one"), ("ann", "wait"), ("ann", "quiet"), ("bob", "hi"),
                                   ("ann", "bad"), ("ann", "two"))]
        d = h.bot.bus.submit_many(batch)
        # ann's later replies wait for her slow one; bob's does not
        self.assertEqual([text for _, text, _ in h.sent], ["re one", "re hi"])
        self.assertEqual(h.bot.bus.order.waiting(), 3)  # wait, bad, two ("quiet" had no reply)
        self.assertNoResult(d)
        later.callback("done waiting")
        self.successResultOf(d)
        self.assertEqual([text for _, text, _ in h.sent], ["re one", "re hi", "done waiting", "re two"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(h.bot.bus.order.waiting(), 0)

    def test_a_failed_handler_does_not_hold_the_later_replies(self):
        later = Deferred()

        def answer(m):
            return later if m.content == "wait" else "re " + m.content

        h = Harness(handler(subscribe=["chat.#"])(answer))
        for text in ("wait", "two"):
            h.say(text, source="ann")
        self.assertEqual(h.sent, [])
        later.errback(ValueError("broke"))
        self.assertEqual([text for _, text, _ in h.sent], ["re two"])
        self.flushLoggedErrors(ValueError)

    def test_empty_batch(self):
        h = Harness()
        self.assertIsNone(self.successResultOf(h.bot.bus.submit_many([])))
