"""
Fan-out over Redis pub/sub: what every process must see.

Each process publishes, on the channel C{pubbot:bus:fanout}, the messages it
handled, the broadcasts it made, the lines it sent to IRC (the owner) and
that it released the IRC lease; every other process passes them to its own
observers, so each process's dashboard shows the whole bot:

- C{message}: to C{bot.dispatcher.observers} and C{batch_observers} (as if handled here);
- C{broadcast}: to C{bot.broadcast_observers};
- C{sent}: to C{bot.sent_observers} (not in the process that sent it);
- C{released}: the lease is free, so standing-by processes try at once;
- any kind in C{listeners} (C{reload}, C{reloaded}: see
  L{pubbot.cluster.reloads}): to its listener, with the event.

Pub/sub is fire-and-forget: while Redis is unreachable these are lost
(counted in C{bot.state["cluster"]["fanout_lost"]}); nothing else depends
on them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ..core.message import Message
from .redisclient import RedisClient, Target, protocol_class

log = Logger()

CHANNEL = "pubbot:bus:fanout"
#: Largest fan-out payload accepted (bytes).
MAX_PAYLOAD = 1024 * 1024


def subscriber_protocol(received: Callable[[Any, Any], None]):
    """txredisapi's subscriber protocol, handing messages to C{received(channel, message)}."""
    import txredisapi

    class Subscriber(protocol_class(txredisapi.SubscriberProtocol)):  # type: ignore[misc]
        def messageReceived(self, pattern, channel, message):
            if self.pubbot_client is not None:
                received(channel, message)

    return Subscriber


class FanOut(Service):
    """
    Publishes to and listens on the fan-out channel for a bot, the one
    attached to it (L{attach}, by the bus); C{origin} names this process.
    """

    name = "fanout"

    def __init__(self, reactor, url: Target, command, *, origin: str, channel: str = CHANNEL,
                 on_released: Callable[[], Any] | None = None, keepalive: float = 15.0):
        #: The bot whose observers hear the other processes (see L{attach}).
        self.bot: Any = None
        self.reactor = reactor
        self.command = command
        self.channel = channel
        self.on_released = on_released or (lambda: None)
        self.origin = origin
        self.lost = 0
        self.received_count = 0
        #: Further kinds of event and who takes them (the event, a dict from another process).
        self.listeners: dict[str, Callable[[dict], Any]] = {}
        self._lost_logged = -1e9
        self.subscriber = RedisClient(reactor, url, name="fanout",
                                      protocol=subscriber_protocol(self.received), on_connect=self._subscribe)
        self._keepalive = LoopingCall(self._ping)
        self._keepalive.clock = reactor
        self._keepalive_every = keepalive

    def attach(self, bot) -> None:
        """Tell C{bot}'s observers what the other processes publish; count losses in its state."""
        self.bot = bot

    def startService(self) -> None:
        super().startService()
        self.subscriber.start()
        self._keepalive.start(self._keepalive_every, now=False)

    def stopService(self) -> Deferred:
        super().stopService()
        if self._keepalive.running:
            self._keepalive.stop()
        return DeferredList([self.subscriber.stop()])

    def _subscribe(self, protocol) -> Deferred:
        d = protocol.subscribe(self.channel)
        d.addTimeout(5.0, self.reactor)
        return d

    def _ping(self) -> None:
        # A silent subscriber connection could be half-dead; a PING that is
        # not answered in time makes the client reconnect.
        if self.subscriber.connected:
            self.subscriber.execute("PING").addErrback(lambda f: None)

    # out

    def publish(self, kind: str, **fields: Any) -> Deferred:
        """Send an event of C{kind} to the other processes (best effort; never fails)."""
        try:
            payload = json.dumps(dict(fields, kind=kind, origin=self.origin), default=str)
        except (TypeError, ValueError) as e:
            log.error("fan-out {kind} event cannot be encoded: {error}", kind=kind, error=e)
            return succeed(None)
        return self.command.execute("PUBLISH", self.channel, payload).addErrback(self._lost, kind)

    def publish_raw(self, kind: str, name: str, raws: list) -> Deferred:
        """
        Send an event of C{kind} whose field C{name} is the list of JSON texts
        C{raws} (already encoded: nothing is decoded or encoded again).
        """
        payload = '{"kind": %s, "origin": %s, %s: [%s]}' % (
            json.dumps(kind), json.dumps(self.origin), json.dumps(name), ", ".join(raws))
        return self.command.execute("PUBLISH", self.channel, payload).addErrback(self._lost, kind)

    def _lost(self, failure, kind: str) -> None:
        self.lost += 1
        state = self.bot.state.setdefault("cluster", {})
        state["fanout_lost"] = self.lost
        now = self.reactor.seconds()
        if now - self._lost_logged >= 10:
            self._lost_logged = now
            log.warn("fan-out {kind} event not published ({error}); {count} lost so far",
                     kind=kind, error=failure.getErrorMessage(), count=self.lost)

    # in

    def received(self, channel: Any, raw: Any) -> None:
        """One pub/sub message: check it, then pass it to this process's observers."""
        event = self._event(raw)
        if event is None:
            return
        kind = event["kind"]
        if event.get("origin") == self.origin and kind != "released":
            return  # our own, seen here already
        self.received_count += 1
        try:
            if kind in ("message", "broadcast"):
                self._received_message(kind, event)
            elif kind == "messages":
                self._received_batch(event)
            elif kind == "sent":
                self._received_sent(event)
            elif kind == "released":
                if event.get("origin") != self.origin:
                    self.on_released()
            elif kind in self.listeners:
                self.listeners[kind](event)
            else:
                log.debug("ignored fan-out event of unknown kind {kind}", kind=kind)
        except ValueError as e:
            log.error("ignored a malformed fan-out message: {error}", error=e)

    @staticmethod
    def _event(raw: Any) -> dict | None:
        """The event object of a pub/sub payload; None (logged) when it is none."""
        try:
            if not isinstance(raw, (str, bytes)) or len(raw) > MAX_PAYLOAD:
                raise ValueError("not a string of at most %d bytes" % MAX_PAYLOAD)
            event = json.loads(raw)
            if not isinstance(event, dict) or not isinstance(event.get("kind"), str):
                raise ValueError("not an event object")
        except (TypeError, ValueError) as e:
            log.error("ignored a malformed fan-out message: {error}", error=e)
            return None
        return event

    def _received_batch(self, event: dict) -> None:
        """A batch handled elsewhere: the bus's envelopes."""
        envelopes = event.get("envelopes")
        if not isinstance(envelopes, list):
            raise ValueError("messages event without envelopes")
        batch = []
        for e in envelopes:
            data = e.get("message") if isinstance(e, dict) else None
            if not isinstance(data, dict) or not isinstance(data.get("topic"), str) \
                    or not isinstance(data.get("fields", {}), dict):
                raise ValueError("messages event with a malformed message")
            batch.append(Message.from_dict(data, self.bot))
        for message in batch:
            self._tell(self.bot.dispatcher.observers, message)
        if batch:
            self._tell(self.bot.dispatcher.batch_observers, batch)

    def _received_sent(self, event: dict) -> None:
        network = event.get("network", event.get("protocol"))  # protocol: the release before
        args = [network] + [event.get(k) for k in ("target", "text", "sent_kind")]
        if not all(isinstance(a, str) for a in args):
            raise ValueError("sent event without network, target, text and kind")
        if event.get("sender") != self.origin:
            self._tell(self.bot.sent_observers, *args)

    def _received_message(self, kind: str, event: dict) -> None:
        data = event.get("message")
        if not isinstance(data, dict) or not isinstance(data.get("topic"), str) \
                or not isinstance(data.get("fields", {}), dict):
            raise ValueError("%s event without a message" % kind)
        message = Message.from_dict(data, self.bot)
        if kind == "message":
            self._tell(self.bot.dispatcher.observers, message)
            self._tell(self.bot.dispatcher.batch_observers, [message])
        else:
            self._tell(self.bot.broadcast_observers, message)

    @staticmethod
    def _tell(observers, *args) -> None:
        for observer in list(observers):
            try:
                observer(*args)
            except Exception:
                log.failure("observer {observer!r} failed on a fanned-out event", observer=observer)
