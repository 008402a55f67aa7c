"""Chat test helpers: fake chat services and buses."""

from __future__ import annotations

from twisted.internet.defer import succeed
from zope.interface import implementer

from pubbot.core.interfaces import IInputFlow
from pubbot.testing import FakeChat


@implementer(IInputFlow)
class FlowChat(FakeChat):
    """A chat service that can pause its input, recording each call."""

    def __init__(self, protocol="irc"):
        super().__init__(protocol)
        self.calls = []

    def pause_input(self):
        self.calls.append("pause")

    def resume_input(self):
        self.calls.append("resume")


START = 1_700_000_000.0


class RecordingBus:
    """Stands in for the dispatcher: records what the IRC service publishes."""

    def __init__(self):
        self.messages = []

    def submit(self, message):
        self.messages.append(message)
        return succeed(None)

    def submit_many(self, messages):
        self.messages.extend(messages)
        return succeed(None)

    def broadcast(self, message):
        pass
