"""The bot's observers feeding the live feed, and the event formatters.

The observers run on the bot's hot path (every published message, every
line sent), so they only count and hand the raw object to the hub; the JSON
is made later, once, and only if a client is there to read it. Published
messages come a batch at a time (the lines of one read, see
L{pubbot.core.dispatch.Dispatcher.batch_observers}): counted per batch, and
given to the hub together.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from operator import attrgetter, itemgetter
from typing import Any

from .sse import EventHub

#: Longest text shown in the feed for one field; the rest is cut with "…".
MAX_TEXT = 1000
#: Most fields shown for a non-chat bus message.
MAX_FIELDS = 12
#: Most channels counted apart in lines_by_channel; the rest count as OTHER_CHANNELS.
MAX_CHANNELS = 200
OTHER_CHANNELS = ("", "other")

_SCALARS = (str, int, float, bool, type(None))
_topic_of = attrgetter("topic")
_fields_of = attrgetter("fields")
_place_of = itemgetter("network", "channel", "private")


def _text(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + "\u2026"
    return value


def format_chat(message) -> dict:
    """A chat line in: who said what where."""
    f = message.fields
    return {
        "topic": message.topic,
        "network": _text(f.get("network")),
        "protocol": _text(f.get("protocol")),
        "channel": _text(f.get("channel")),
        "source": _text(f.get("source")),
        "content": _text(f.get("content")),
        "direct": bool(f.get("direct")),
    }


def format_message(message) -> dict:
    """Any other bus message: its topic and its plain (scalar) fields."""
    shown: dict[str, Any] = {}
    for name, value in message.fields.items():
        if len(shown) >= MAX_FIELDS:
            break
        if isinstance(value, _SCALARS):
            shown[_text(name)] = _text(value)
    return {"topic": message.topic, "fields": shown}


def format_sent(sent: tuple) -> dict:
    """A line the bot sent: (network, target, text, kind)."""
    network, target, text, kind = sent
    return {"network": _text(network), "channel": _text(target), "content": _text(text),
            "how": kind}


def _is_chat(topic: str) -> bool:
    return topic.startswith("chat.") and topic.endswith(".chat")


#: What a channel's name starts with on every network we know (RFC 2811's
#: four); anything else a line is sent to is a person: a private message.
CHANNEL_PREFIXES = ("#", "&", "!", "+")


def _public(message) -> bool:
    return not message.fields.get("private")


class LiveFeed:
    """
    Hooks a L{pubbot.core.bot.Bot}'s observers to an L{EventHub}: chat lines in
    (kind C{chat}), other bus messages (C{bus}), broadcasts (C{broadcast})
    and lines sent (C{sent}). Also counts chat lines in and out per network.
    Private messages, in and out, are counted but not shown unless
    C{show_private} (C{[web] show_private}).
    """

    def __init__(self, bot, hub: EventHub, show_private: bool = False):
        self.bot = bot
        self.hub = hub
        self.show_private = show_private
        self.lines_in: dict[str, int] = {}
        self.lines_out: dict[str, int] = {}
        #: Public chat lines in by (network, channel) (at most MAX_CHANNELS keys; then OTHER).
        self.lines_by_channel: dict[tuple, int] = {}
        self.attached = False

    def attach(self) -> None:
        if self.attached:
            return
        self.attached = True
        self.bot.dispatcher.batch_observers.append(self.on_messages)
        self.bot.broadcast_observers.append(self.on_broadcast)
        self.bot.sent_observers.append(self.on_sent)

    def detach(self) -> None:
        if not self.attached:
            return
        self.attached = False
        for observers, observer in ((self.bot.dispatcher.batch_observers, self.on_messages),
                                    (self.bot.broadcast_observers, self.on_broadcast),
                                    (self.bot.sent_observers, self.on_sent)):
            with contextlib.suppress(ValueError):
                observers.remove(observer)

    def on_messages(self, messages: list) -> None:
        """A batch of published messages (usually all on one topic)."""
        topics = set(map(_topic_of, messages))
        if len(topics) != 1:
            for message in messages:
                self.on_message(message)
            return
        topic = topics.pop()
        if _is_chat(topic):
            public = self._count_chat(messages)
            if not self.show_private and not public:
                messages = list(filter(_public, messages))
                if not messages:
                    return
            self.hub.publish_many("chat", messages, format_chat)
        else:
            self.hub.publish_many("bus", messages, format_message)

    def _count_chat(self, messages: list) -> bool:
        """Count chat lines in, per network and (the public ones) per channel; True if all are public."""
        try:
            # The usual batch: the lines of one place, all public or all private; one
            # C-level read of each line's place, no Python call per line.
            places = list(map(_place_of, map(_fields_of, messages)))
        except KeyError:
            places = []
        if places and places.count(places[0]) == len(places):
            network, channel, private = places[0]
            self.lines_in[network] = self.lines_in.get(network, 0) + len(places)
            if not private:
                self._count_channel((network, channel), len(places))
            return not private
        lines_in = self.lines_in
        for network, count in Counter(m.fields.get("network") for m in messages).items():
            lines_in[network] = lines_in.get(network, 0) + count
        for message in messages:
            fields = message.fields
            if not fields.get("private"):
                self._count_channel((fields.get("network"), fields.get("channel")), 1)
        return False

    def _count_channel(self, key: tuple, count: int) -> None:
        counts = self.lines_by_channel
        if key not in counts and len(counts) >= MAX_CHANNELS:
            key = OTHER_CHANNELS
        counts[key] = counts.get(key, 0) + count

    def on_message(self, message) -> None:
        """One published message."""
        self.on_messages([message])

    def on_broadcast(self, message) -> None:
        self.hub.publish("broadcast", message, format_message)

    def on_sent(self, network: str, target: str, text: str, kind: str) -> None:
        self.lines_out[network] = self.lines_out.get(network, 0) + 1
        if self.show_private or target.startswith(CHANNEL_PREFIXES):
            self.hub.publish("sent", (network, target, text, kind), format_sent)
