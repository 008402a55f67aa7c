"""
The one place where "someone said text in a place" becomes a chat L{Message}.

Every network (IRC, the console, any future one) reports what it hears as
L{ChatEvent}s: a kind (C{chat}, C{join}, C{leave}), a place (a channel, or
the sender's nick for private chat) and the event's fields. L{ChatMessages}
turns them into messages on C{chat.<network>.<place>.<kind>}, with the
fields every handler can rely on (C{network}, C{protocol}, C{channel},
C{source_id}; for chat also C{source}, C{content}, C{direct}, C{command},
C{private}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .events import ChatEvent
from .message import Message
from .topics import chat_topic

#: Topics kept per network before the cache starts again (channels and nicks seen).
TOPIC_CACHE = 4096


def addressed(content: str, nick: str, prefix: str, direct: bool = False) -> tuple[str, bool, str | None]:
    """
    A chat line's content as handlers see it: C{(content, direct, command)}.
    A line starting C{nick:} or C{nick,} (any case) is direct, the address
    cut off; the command is the text after C{prefix}, or the whole of a
    direct line (a private one is direct already).
    """
    n = len(nick)
    if content[n:n + 1] in (":", ",") and content[:n].lower() == nick.lower():
        content = content[n + 1:].lstrip()
        direct = True
    if prefix and content.startswith(prefix) and len(content) > len(prefix):
        return content, direct, content[len(prefix):]
    return content, direct, content if direct else None


def person_of(message: Message) -> str | None:
    """Who a reply to C{message} answers: the sender's nick, if it has one."""
    source = message.fields.get("source")
    return source if isinstance(source, str) else None


class ChatMessages:
    """
    Makes the chat messages of one network. C{nick} is called for the bot's
    current nick there (it changes), C{prefix} is the command prefix.
    """

    def __init__(self, bot: Any, network: str, protocol: str, nick: Callable[[], str], prefix: str):
        self.bot = bot
        self.network = network
        self.protocol = protocol
        self.nick = nick
        self.prefix = prefix
        self._topics: dict[tuple[str, str], str] = {}

    def topic(self, place: str, kind: str) -> str:
        topics = self._topics
        topic = topics.get((place, kind))
        if topic is None:
            if len(topics) >= TOPIC_CACHE:
                topics.clear()
            topic = topics[(place, kind)] = chat_topic(self.network, place, kind)
        return topic

    def chat(self, place: str, source: str, content: str, private: bool, fields: dict) -> Message:
        """A line of chat (C{fields}, a dict this takes as its own, gets the chat fields)."""
        fields["source"] = source
        fields["content"] = content
        fields["private"] = private
        return self.messages([ChatEvent("chat", place, fields)])[0]

    def event(self, place: str, kind: str, fields: dict) -> Message:
        """A join or leave in C{place} (C{fields} taken as the message's own)."""
        fields["network"] = self.network
        fields["protocol"] = self.protocol
        fields["channel"] = place
        if "source_id" not in fields:
            fields["source_id"] = None
        return Message.wrap(self.topic(place, kind), fields, self.bot)

    def messages(self, events: list[ChatEvent]) -> list[Message]:
        """The messages of C{events} (L{ChatEvent}s), in order."""
        # This runs for every line: L{addressed} is called only for a line
        # that may be addressed (the common line starts with neither the
        # nick nor the prefix), and a run of lines in one place reads its
        # topic once.
        out: list[Message] = []
        append = out.append
        nick = self.nick()
        n = len(nick)
        folded_nick = nick.lower()
        prefix = self.prefix
        after_prefix = len(prefix)
        network, protocol, bot = self.network, self.protocol, self.bot
        wrap = Message.wrap
        last_place: str | None = None
        topic = ""
        for kind, place, fields in events:
            if kind != "chat":
                append(self.event(place, kind, fields))
                continue
            content = fields["content"]
            direct = fields["private"]
            if content[n:n + 1] in (":", ",") and content[:n].lower() == folded_nick:
                content, direct, command = addressed(content, nick, prefix, direct)
            elif prefix and content.startswith(prefix) and len(content) > after_prefix:
                command = content[after_prefix:]
            else:
                command = content if direct else None
            if "source_id" not in fields:
                fields["source_id"] = None
            fields["network"] = network
            fields["protocol"] = protocol
            fields["channel"] = place
            fields["content"] = content
            fields["direct"] = direct
            fields["command"] = command
            if place != last_place:
                topic = self.topic(place, "chat")
                last_place = place
            append(wrap(topic, fields, bot))
        return out
