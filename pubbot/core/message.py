"""Messages on the bus and the replies handlers give."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict, cast

if TYPE_CHECKING:
    from .botapi import PluginBot


class ChatFields(TypedDict, total=False):
    """
    The fields of a chat message (C{chat.<network>.<place>.chat}), as
    L{pubbot.core.chat} makes them from a network's chat events: what
    editors and mypy see through L{Message.chat_fields}. Every network gives
    the first nine; IRC adds the rest (the console gives C{hostmask} and
    C{account} too).
    """

    network: str  # pubbot's name for the network: the second word of the topic
    protocol: str  # what kind of network: "irc" or "console"
    channel: str  # where it was said: a channel, or the sender's nick when private
    source_id: str | None  # a stable identity of the sender (the IRC account), or None
    source: str  # the sender's nick
    content: str  # the text, without the address when it was addressed to the bot
    private: bool  # said to the bot alone
    direct: bool  # addressed to the bot (by nick, or private)
    command: str | None  # the text after the address or the command prefix, else None
    account: str | None  # the sender's services account (IRC), or None
    hostmask: str | None  # nick!user@host (IRC)
    tags: Mapping[str, str]  # the line's IRCv3 message tags (read-only; parsed when first read)
    bot: bool  # the sender says it is a bot (IRC: the bot tag); absent elsewhere
    time: float | None  # when it was said (server-time, else when it was read), epoch seconds
    action: bool  # a CTCP ACTION (/me)


class Message:
    """
    A topic and its fields, with attribute access to the fields
    (C{msg.content}, C{msg.source}). C{msg.bot} is the running
    L{pubbot.core.bot.Bot}, typed as what plugins may use of it
    (L{pubbot.core.botapi.PluginBot}); it is not part of the fields (None in
    a message made outside a bot, which no handler is given).

    The fields of a chat line (topic C{chat.NETWORK.PLACE.chat}), typed below
    for type checkers; joins and leaves have those up to C{source_id}:
      - C{network}: the network's name; C{protocol}: C{irc} or C{console}
      - C{channel}: where it was said (the sender's nick in private)
      - C{source}: the sender's nick; C{source_id}: a stable id of the person, or None
      - C{hostmask}: C{nick!user@host}, or None; C{account}: the services account, or None
      - C{content}: the text (the bot's address stripped); C{private}: said to the bot alone
      - C{direct}: addressed to the bot (C{pubbot: ...}, a command, or private)
      - C{command}: the text after the command prefix or address, or None
    Other topics have other fields: C{msg.get(name)} when one may be missing.
    """

    __slots__ = ("topic", "fields", "bot")

    if TYPE_CHECKING:
        bot: PluginBot
        # read through __getattr__ from the fields at run time
        network: str
        protocol: str
        channel: str
        source: str
        source_id: str | None
        hostmask: str | None
        account: str | None
        content: str
        private: bool
        direct: bool
        command: str | None

    def __init__(self, topic: str, fields: Mapping[str, Any] | None = None, bot: Any = None):
        self.topic = topic
        self.fields = dict(fields) if fields else {}
        self.bot = bot

    @classmethod
    def wrap(cls, topic: str, fields: dict, bot: Any = None) -> Message:
        """A message owning C{fields} (not copied: the caller gives it up)."""
        message = cls.__new__(cls)
        message.topic = topic
        message.fields = fields
        message.bot = bot
        return message

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(
                "message on %r has no field %r" % (self.topic, name)
            ) from None

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)

    @property
    def chat_fields(self) -> ChatFields:
        """The fields of a chat message, typed (L{ChatFields}): the same dict as C{fields}."""
        return cast(ChatFields, self.fields)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Message):
            return NotImplemented
        return self.topic == other.topic and self.fields == other.fields

    def __repr__(self) -> str:
        return "Message(%r, %r)" % (self.topic, self.fields)

    def to_dict(self) -> dict:
        """The message as JSON takes it (with C{default=json_default}: its tags are a Mapping)."""
        return {"topic": self.topic, "fields": self.fields}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], bot: Any = None) -> Message:
        return cls(data["topic"], data.get("fields") or {}, bot)


def json_default(value: Any) -> Any:
    """
    C{json.dumps}'s C{default} for message fields: a Mapping (a chat line's
    tags) as a dict, anything else as its text.
    """
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


_KINDS = ("say", "notice", "action")


@dataclass(frozen=True)
class Reply:
    """A handler's answer: lines of text, how to send them, and its weight."""

    lines: tuple[str, ...]
    kind: str = "say"
    weight: float = 0

    @classmethod
    def coerce(cls, value: Any) -> Reply | None:
        """
        Turn a handler's return value into a Reply; None when it is empty.
        Accepts a Reply, a dict (C{content}: str or list of str; C{notice},
        C{action}: bools; C{weight}: number) or a plain string.
        """
        if value is None:
            return None
        if isinstance(value, Reply):
            return value if value.lines else None
        if isinstance(value, str):
            value = {"content": value}
        if not isinstance(value, Mapping):
            raise TypeError("a reply must be a dict, str or Reply, not %s" % type(value).__name__)
        content = value.get("content")
        if content is None:
            return None
        if isinstance(content, str):
            lines = [content]
        else:
            lines = [c if isinstance(c, str) else str(c) for c in content]
        lines = [line for line in lines if line]
        if not lines:
            return None
        kind = "action" if value.get("action") else "notice" if value.get("notice") else "say"
        weight = value.get("weight", 0) or 0
        if not isinstance(weight, (int, float)) or isinstance(weight, bool):
            raise TypeError("reply weight must be a number, not %r" % (weight,))
        return cls(tuple(lines), kind, weight)

    def to_dict(self) -> dict:
        return {"content": list(self.lines), "kind": self.kind, "weight": self.weight}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Reply:
        return cls(tuple(data["content"]), data.get("kind", "say"), data.get("weight", 0))
