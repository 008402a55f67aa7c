"""What the fan-out does with what arrives on the pub/sub channel (no Redis needed)."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.cluster.fanout import MAX_PAYLOAD, FanOut
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.store.memory import MemoryStore


def make():
    reactor = MemoryReactorClock()
    bot = Bot(parse({}), Clock(), MemoryStore(Clock()), process_id="me")
    released = []
    fanout = FanOut(reactor, "redis://127.0.0.1:6390/0", command=None, origin="me",
                    on_released=lambda: released.append(1))
    fanout.attach(bot)
    seen, broadcasts, sent = [], [], []
    bot.dispatcher.observers.append(seen.append)
    bot.broadcast_observers.append(broadcasts.append)
    bot.sent_observers.append(lambda *a: sent.append(a))
    return fanout, seen, broadcasts, sent, released


def event(**fields):
    fields.setdefault("origin", "other")
    return json.dumps(fields)


class ReceivedTests(SynchronousTestCase):
    def test_message_broadcast_sent_released(self):
        fanout, seen, broadcasts, sent, released = make()
        fanout.received("c", event(kind="message", message={"topic": "chat.irc.#a.chat", "fields": {"x": 1}}))
        fanout.received("c", event(kind="broadcast", message={"topic": "status.x", "fields": {}}))
        fanout.received("c", event(kind="sent", sender=None, protocol="irc", target="#a", text="hi",
                                   sent_kind="say"))  # as the release before several networks said it
        fanout.received("c", event(kind="sent", sender=None, network="libera", target="#b", text="yo",
                                   sent_kind="notice"))
        fanout.received("c", event(kind="released"))
        self.assertEqual([(m.topic, m.fields) for m in seen], [("chat.irc.#a.chat", {"x": 1})])
        self.assertIs(seen[0].bot, fanout.bot)
        self.assertEqual([m.topic for m in broadcasts], ["status.x"])
        self.assertEqual(sent, [("irc", "#a", "hi", "say"), ("libera", "#b", "yo", "notice")])
        self.assertEqual(released, [1])

    def test_messages_reach_batch_observers(self):
        fanout, seen, broadcasts, sent, released = make()
        batches = []
        fanout.bot.dispatcher.batch_observers.append(batches.append)
        fanout.received("c", event(kind="message", message={"topic": "chat.irc.#a.chat", "fields": {"x": 1}}))
        self.assertEqual([[m.topic for m in b] for b in batches], [["chat.irc.#a.chat"]])

    def test_own_events_are_not_seen_twice(self):
        fanout, seen, broadcasts, sent, released = make()
        fanout.received("c", event(kind="message", origin="me", message={"topic": "a", "fields": {}}))
        fanout.received("c", event(kind="sent", sender="me", protocol="irc", target="#a", text="x",
                                   sent_kind="say"))
        fanout.received("c", event(kind="released", origin="me"))
        self.assertEqual((seen, sent, released), ([], [], []))

    def test_malformed_events_are_logged_and_ignored(self):
        fanout, seen, broadcasts, sent, released = make()
        for raw in (None, 5, b"\xff\xfe", "not json", "[]", json.dumps({"no": "kind"}),
                    "x" * (MAX_PAYLOAD + 1), event(kind="message"),
                    event(kind="message", message={"topic": 1}),
                    event(kind="broadcast", message={"topic": "t", "fields": []}),
                    event(kind="sent", protocol="irc", target="#a", text=None, sent_kind="say"),
                    event(kind="sent", network=5, target="#a", text="x", sent_kind="say"),
                    event(kind="unknown")):
            fanout.received("c", raw)
        self.assertEqual((seen, broadcasts, sent, released), ([], [], [], []))
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_a_failing_observer_does_not_stop_the_others(self):
        fanout, seen, broadcasts, sent, released = make()
        fanout.bot.dispatcher.observers.insert(0, lambda m: 1 / 0)
        fanout.received("c", event(kind="message", message={"topic": "a", "fields": {}}))
        self.assertEqual(len(seen), 1)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    @given(st.one_of(st.binary(max_size=300), st.text(max_size=300),
                     st.dictionaries(st.text(max_size=10), st.text(max_size=10)).map(json.dumps)))
    def test_anything_is_survived(self, raw):
        fanout, *_ = make()
        fanout.received("c", raw)
