"""
What a chat network reports upward: L{ChatEvent}s, through L{IChatEvents}.

Networks (L{pubbot.irc}, the console) know nothing of the bot, the bus or
messages: they report what they heard as events, and the bot's one
chat-message factory (L{pubbot.core.chat}) makes the messages.
"""

from __future__ import annotations

from typing import NamedTuple

from zope.interface import Interface


class ChatEvent(NamedTuple):
    """Something heard on a network, in the order it was heard."""

    #: "chat", "join" or "leave"
    kind: str
    #: The channel, or the sender's nick for a private line.
    place: str
    #: The event's own fields (for chat: source, content, private and the
    #: rest); given up to the message made of it.
    fields: dict


class IChatEvents(Interface):
    """Where a network's connection reports (the bot, through its chat service)."""

    def chat_events(network, events):
        """
        C{network} heard C{events} (a list of L{ChatEvent}, in order: one
        read's worth). Returns a Deferred firing once they are dispatched.
        """
