"""
Replies in the order the lines were said.

Handlers answer at their own pace: a command at once, a factoid after a
store read, the brain after its learner process. Delivered as they come,
one person's replies would overtake each other, differently from run to
run. L{ReplyOrder} holds a reply until every earlier line of the same
person in the same place (network, channel or private chat) has its reply
out or is known to have none. A line that no handler takes waits for
nothing and holds nothing; a slow handler holds back only its own
person's later replies, and at most for the dispatcher's handler timeout.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

from .message import Message, Reply

#: A key's queue past this many waiting lines delivers at once rather than
#: hold more (a flood from one person must not grow memory without bound).
MAX_WAITING = 200


class _Ticket:
    __slots__ = ("message", "reply", "done")

    def __init__(self, message: Message):
        self.message = message
        self.reply: Reply | None = None
        self.done = False


def conversation(message: Message) -> Hashable | None:
    """The person-and-place a chat line belongs to; None for other messages."""
    fields = message.fields
    source = fields.get("source")
    if not isinstance(source, str) or not message.topic.startswith("chat."):
        return None
    return (fields.get("network"), fields.get("channel"), source)


class ReplyOrder:
    """Calls C{deliver(reply, message)} for each line's reply, in each conversation's order."""

    def __init__(self, deliver: Callable[[Reply, Message], Any]):
        self._deliver = deliver
        self._waiting: dict[Hashable, deque[_Ticket]] = {}

    def waiting(self) -> int:
        """Lines whose reply (or an earlier one) is not out yet."""
        return sum(len(q) for q in self._waiting.values())

    def ticket(self, message: Message) -> _Ticket | None:
        """Take a place in C{message}'s conversation; None when it needs none (not a chat line)."""
        key = conversation(message)
        if key is None:
            return None
        queue = self._waiting.get(key)
        if queue is None:
            queue = self._waiting[key] = deque()
        elif len(queue) >= MAX_WAITING:
            return None
        ticket = _Ticket(message)
        queue.append(ticket)
        return ticket

    def answered(self, ticket: _Ticket | None, message: Message, reply: Reply | None) -> None:
        """C{message} has its reply (None: none): deliver it and whatever waited behind it."""
        if ticket is None:
            if reply is not None:
                self._deliver(reply, message)
            return
        ticket.reply, ticket.done = reply, True
        key = conversation(message)
        queue = self._waiting.get(key)
        if queue is None:
            return
        while queue and queue[0].done:
            head = queue.popleft()
            if head.reply is not None:
                self._deliver(head.reply, head.message)
        if not queue:
            del self._waiting[key]
