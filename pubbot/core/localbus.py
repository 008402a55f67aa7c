"""The in-process bus: handlers run in this process, replies go straight out."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from .dispatch import choose_reply
from .interfaces import IBus, IChatRegistrations, IInputFlow
from .message import Message, Reply
from .ordering import ReplyOrder

if TYPE_CHECKING:
    from .bot import Bot

log = Logger()


def pause_input(target: Any) -> None:
    """Pause C{target} (a chat service or bus) if it provides L{IInputFlow}; never raises."""
    flow = IInputFlow(target, None)
    if flow is not None:
        _safely(flow.pause_input, target)


def resume_input(target: Any) -> None:
    """Resume C{target} if it provides L{IInputFlow}; never raises."""
    flow = IInputFlow(target, None)
    if flow is not None:
        _safely(flow.resume_input, target)


def chat_registered(bus: Any, service: Any) -> None:
    """Tell C{bus} that C{service} registered, if it provides L{IChatRegistrations}; never raises."""
    registrations = IChatRegistrations(bus, None)
    if registrations is not None:
        _safely(registrations.chat_registered, bus, service)


def _safely(method: Any, target: Any, *args: Any) -> None:
    try:
        method(*args)
    except Exception:
        log.failure("{name} of {target!r} failed", name=method.__name__, target=target)


@implementer(IBus, IInputFlow, IChatRegistrations)
class LocalBus:
    """The in-process bus: handlers run here, replies go straight out."""

    def __init__(self, bot: Bot):
        self.bot = bot
        #: Holds each reply until the same person's earlier lines there have theirs.
        self.order = ReplyOrder(self._deliver)

    def attach(self, bot: Bot) -> None:
        """Carry messages for C{bot} (a LocalBus is made with its bot: see L{IBus.attach})."""
        self.bot = bot

    # flow control (Bot.hold_input): the chat services feed the handlers

    def pause_input(self) -> None:
        for service in list(self.bot.chat_services.values()):
            pause_input(service)

    def resume_input(self) -> None:
        for service in list(self.bot.chat_services.values()):
            resume_input(service)

    def chat_registered(self, service: Any) -> None:
        """A chat service registered while the input is held starts paused."""
        if self.bot.input_holders:
            pause_input(service)

    def submit(self, message: Message) -> Deferred:
        results = self.bot.dispatcher.dispatch(message)
        if not isinstance(results, Deferred) and not results:
            return succeed(None)
        ticket = self.order.ticket(message)
        if isinstance(results, Deferred):
            results.addCallback(choose_reply)
            results.addBoth(self._settled, ticket, message)
            return results
        # Every handler answered at once (the common case): no callback chain.
        return succeed(self._settled(choose_reply(results), ticket, message))

    def submit_many(self, messages: list) -> Deferred:
        """
        Dispatch a batch; each message's reply goes out as soon as it is
        known and every earlier line of the same person in the same place
        has had its reply (see L{pubbot.core.ordering}).
        """
        found = self.bot.dispatcher.dispatch_many(messages)
        if not found:
            return succeed(None)
        waits = []
        for i in sorted(found):
            results, message = found[i], messages[i]
            ticket = self.order.ticket(message)
            if isinstance(results, Deferred):
                results.addCallback(choose_reply)
                results.addErrback(self._failed, message)
                results.addCallback(self._settled, ticket, message)
                waits.append(results)
                continue
            try:
                reply = choose_reply(results)
            except Exception:
                self._failed(Failure(), message)
                reply = None
            self._settled(reply, ticket, message)
        return DeferredList(waits) if waits else succeed(None)

    @staticmethod
    def _failed(failure: Failure, message: Message) -> None:
        log.failure("replying to a message on {topic} failed", failure, topic=message.topic)

    def _settled(self, result: Any, ticket: Any, message: Message) -> Any:
        """C{message}'s handlers are done (C{result}: the reply, None or a Failure): its turn to deliver."""
        self.order.answered(ticket, message, None if isinstance(result, Failure) else result)
        return result

    def _deliver(self, reply: Reply, message: Message) -> None:
        try:
            self.bot.deliver(message, reply)
        except Exception:
            self._failed(Failure(), message)

    def broadcast(self, message: Message) -> None:
        for observer in self.bot.broadcast_observers:
            try:
                observer(message)
            except Exception:
                log.failure("broadcast observer {observer!r} failed", observer=observer)
