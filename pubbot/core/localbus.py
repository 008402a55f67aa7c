"""The in-process bus: handlers run in this process, replies go straight out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .dispatch import choose_reply
from .interfaces import IBus
from .message import Message, Reply

if TYPE_CHECKING:
    from .bot import Bot

log = Logger()


def flow(target: Any, name: str, *args: Any) -> None:
    """
    Call C{target.name(*args)} when it has that method (flow control: a bus's
    or a chat service's C{pause_input}, C{resume_input}...); never raises.
    """
    method = getattr(target, name, None)
    if method is None:
        return
    try:
        method(*args)
    except Exception:
        log.failure("{name} of {target!r} failed", name=name, target=target)


@implementer(IBus)
class LocalBus:
    """The in-process bus: handlers run here, replies go straight out."""

    def __init__(self, bot: Bot):
        self.bot = bot

    # flow control (Bot.hold_input): the chat services feed the handlers

    def pause_input(self) -> None:
        self._each_chat("pause_input")

    def resume_input(self) -> None:
        self._each_chat("resume_input")

    def _each_chat(self, name: str) -> None:
        for service in list(self.bot.chat_services.values()):
            flow(service, name)

    def chat_registered(self, service: Any) -> None:
        """A chat service registered while the input is held starts paused."""
        if self.bot.input_holders:
            flow(service, "pause_input")

    def submit(self, message: Message) -> Deferred:
        results = self.bot.dispatcher.dispatch(message)
        if isinstance(results, Deferred):
            results.addCallback(choose_reply)
            results.addCallback(self._deliver, message)
            return results
        # Every handler answered at once (the common case): no callback chain.
        return succeed(self._deliver(choose_reply(results), message) if results else None)

    def submit_many(self, messages: list) -> Deferred:
        """Dispatch a batch; each message's reply goes out in order, as soon as it is known."""
        found = self.bot.dispatcher.dispatch_many(messages)
        if not found:
            return succeed(None)
        waits = []
        for i, results in found.items():
            message = messages[i]
            if isinstance(results, Deferred):
                results.addCallback(choose_reply)
                results.addCallback(self._deliver, message)
                results.addErrback(self._failed, message)
                waits.append(results)
                continue
            try:
                self._deliver(choose_reply(results), message)
            except Exception:
                self._failed(Failure(), message)
        return DeferredList(waits) if waits else succeed(None)

    @staticmethod
    def _failed(failure: Failure, message: Message) -> None:
        log.failure("replying to a message on {topic} failed", failure, topic=message.topic)

    def _deliver(self, reply: Reply | None, message: Message) -> Reply | None:
        if reply is not None:
            self.bot.deliver(message, reply)
        return reply

    def broadcast(self, message: Message) -> None:
        for observer in self.bot.broadcast_observers:
            try:
                observer(message)
            except Exception:
                log.failure("broadcast observer {observer!r} failed", observer=observer)
