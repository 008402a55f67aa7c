"""ReplyOrder: one person's replies in a place come in the order the lines were said."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.core.message import Message, Reply
from pubbot.core.ordering import MAX_WAITING, ReplyOrder, conversation


def line(n, source="ann", channel="#c", network="irc"):
    return Message("chat.%s.%s.chat" % (network, channel),
                   {"source": source, "channel": channel, "network": network, "content": str(n)})


class ReplyOrderTests(SynchronousTestCase):
    @given(st.lists(st.sampled_from(["ann", "bob", "cy"]), max_size=30), st.randoms(use_true_random=False),
           st.lists(st.booleans(), min_size=30, max_size=30))
    def test_each_conversation_in_order_whatever_order_answers_come(self, sources, rng, silent):
        delivered = []
        order = ReplyOrder(lambda reply, message: delivered.append(message))
        lines = [line(n, source) for n, source in enumerate(sources)]
        tickets = [order.ticket(m) for m in lines]
        finishing = list(range(len(lines)))
        rng.shuffle(finishing)
        for i in finishing:
            order.answered(tickets[i], lines[i], None if silent[i] else Reply(["re"]))
        self.assertEqual(order.waiting(), 0)
        expected = [m for i, m in enumerate(lines) if not silent[i]]
        self.assertEqual(sorted(delivered, key=lambda m: int(m.fields["content"])), expected)
        for source in ("ann", "bob", "cy"):
            mine = [int(m.fields["content"]) for m in delivered if m.fields["source"] == source]
            self.assertEqual(mine, sorted(mine))

    def test_places_and_networks_are_separate_conversations(self):
        self.assertNotEqual(conversation(line(1)), conversation(line(1, channel="#d")))
        self.assertNotEqual(conversation(line(1)), conversation(line(1, network="libera")))
        self.assertIsNone(conversation(Message("music.track", {"title": "x"})))

    def test_a_flood_from_one_person_is_bounded(self):
        delivered = []
        order = ReplyOrder(lambda reply, message: delivered.append(message))
        held = [order.ticket(line(n)) for n in range(MAX_WAITING)]
        self.assertTrue(all(held))
        extra = line("extra")
        self.assertIsNone(order.ticket(extra))  # past the bound: delivered at once, not held
        order.answered(None, extra, Reply(["re"]))
        self.assertEqual(delivered, [extra])
        self.assertEqual(order.waiting(), MAX_WAITING)
