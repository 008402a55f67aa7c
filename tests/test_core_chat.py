"""ChatMessages: every chat line gets the fields addressed() gives it, and its place's topic."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.core.chat import ChatMessages, addressed
from pubbot.core.events import ChatEvent
from pubbot.core.topics import chat_topic

_TEXT = st.text(alphabet="pPuUbBoOtT!:, \tx\u0130\u0131", max_size=12)


class ChatMessagesTests(SynchronousTestCase):
    @settings(derandomize=True, max_examples=500)
    @given(st.lists(st.tuples(_TEXT, st.booleans(), st.sampled_from(["#a", "#b", "bob"])), max_size=6),
           st.sampled_from(["pubbot", "PubBot", "p", ""]), st.sampled_from(["!", "pub", ""]))
    def test_each_line_as_addressed_gives_it(self, lines, nick, prefix):
        chat = ChatMessages(None, "irc", "irc", lambda: nick, prefix)
        events = [ChatEvent("chat", place, {"content": text, "private": private, "source": "x"})
                  for text, private, place in lines]
        messages = chat.messages(events)
        self.assertEqual(len(messages), len(lines))
        for message, (text, private, place) in zip(messages, lines, strict=True):
            content, direct, command = addressed(text, nick, prefix, private)
            f = message.fields
            self.assertEqual((f["content"], f["direct"], f["command"]), (content, direct, command))
            self.assertEqual(message.topic, chat_topic("irc", place, "chat"))
            self.assertEqual((f["channel"], f["network"], f["protocol"], f["source_id"]),
                             (place, "irc", "irc", None))

    def test_addressed_lines(self):
        chat = ChatMessages(None, "irc", "irc", lambda: "pubbot", "!")
        said = [ChatEvent("chat", "#c", {"content": text, "private": False}) for text in
                ("PubBot: !ping", "pubbot, hi", "!ping", "pubbotx: hi", "hi")]
        self.assertEqual([(m.fields["content"], m.fields["direct"], m.fields["command"])
                          for m in chat.messages(said)],
                         [("!ping", True, "ping"), ("hi", True, "hi"), ("!ping", False, "ping"),
                          ("pubbotx: hi", False, None), ("hi", False, None)])
