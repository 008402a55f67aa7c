"""The dispatcher: a message in, every matching handler called in isolation."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from inspect import iscoroutine
from typing import Any, Callable, Sequence

from twisted.internet.defer import Deferred, DeferredList, TimeoutError, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from .message import Message, Reply
from .topics import TopicTrie

log = Logger()

#: Upper bounds (seconds) of the latency histogram buckets kept per handler.
LATENCY_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, float("inf"))


@dataclass
class HandlerStats:
    """Counters for one handler, read by the dashboard and /metrics."""

    calls: int = 0
    errors: int = 0
    timeouts: int = 0
    seconds: float = 0.0
    buckets: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BUCKETS))

    def observe(self, seconds: float) -> None:
        self.seconds += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
                return


@dataclass(frozen=True)
class Result:
    """What one handler gave for one message (value None on failure)."""

    handler: Any
    value: Any
    failed: bool = False


class Dispatcher:
    """
    Routes messages to handlers by topic (see L{pubbot.topics}).

    C{publish} never fails: a handler that raises, fails or runs past
    C{timeout} seconds is logged with its name and counted, and gives no
    result; the others are unaffected.
    """

    def __init__(self, clock, timeout: float = 10.0):
        self._clock = clock
        self.timeout = timeout
        self._trie: TopicTrie = TopicTrie()
        self.handlers: list = []
        self.stats: dict[str, HandlerStats] = {}
        self.topic_counts: dict[str, int] = {}
        #: Callables given every published message, before the handlers.
        self.observers: list[Callable[[Message], None]] = []

    def add(self, handler) -> None:
        """Subscribe C{handler} (an IHandler) to its patterns."""
        self.handlers.append(handler)
        self.stats.setdefault(handler.name, HandlerStats())
        for pattern in handler.subscriptions:
            self._trie.subscribe(pattern, handler)

    def remove(self, handler) -> None:
        self.handlers.remove(handler)
        for pattern in handler.subscriptions:
            self._trie.unsubscribe(pattern, handler)

    def subscribers(self, topic: str) -> Sequence:
        return self._trie.match(topic)

    def publish(self, message: Message) -> Deferred:
        """
        Call every handler subscribed to C{message.topic}. Fires with a list
        of L{Result}, in plugin order, once all have finished or timed out.
        """
        family = message.topic.split(".", 1)[0]
        self.topic_counts[family] = self.topic_counts.get(family, 0) + 1
        for observer in self.observers:
            try:
                observer(message)
            except Exception:
                log.failure("message observer {observer!r} failed", observer=observer)
        handlers = self._trie.match(message.topic)
        if not handlers:
            return succeed([])
        results: list = []
        pending = None
        for handler in handlers:
            outcome = self._call(handler, message)
            if isinstance(outcome, Deferred):
                if pending is None:
                    pending = []
                pending.append(len(results))
            results.append(outcome)
        if pending is None:
            return succeed(results)
        waits = [results[i] for i in pending]

        def gathered(outcomes):
            for i, (_, value) in zip(pending, outcomes):
                results[i] = value
            return results

        return DeferredList(waits, consumeErrors=True).addCallback(gathered)

    def _call(self, handler, message: Message):
        stats = self.stats[handler.name]
        stats.calls += 1
        started = time.perf_counter()
        try:
            value = handler.handle(message)
            if iscoroutine(value):
                value = Deferred.fromCoroutine(value)
        except Exception:
            stats.errors += 1
            stats.observe(time.perf_counter() - started)
            log.failure("handler {plugin} failed on {topic}", plugin=handler.name, topic=message.topic)
            return Result(handler, None, True)
        if not isinstance(value, Deferred):
            stats.observe(time.perf_counter() - started)
            return Result(handler, value)
        value.addTimeout(self.timeout, self._clock)

        def done(result):
            stats.observe(time.perf_counter() - started)
            return Result(handler, result)

        def failed(failure: Failure):
            stats.observe(time.perf_counter() - started)
            if failure.check(TimeoutError):
                stats.timeouts += 1
                log.warn(
                    "handler {plugin} timed out after {timeout}s on {topic}",
                    plugin=handler.name, timeout=self.timeout, topic=message.topic,
                )
            else:
                stats.errors += 1
                log.failure(
                    "handler {plugin} failed on {topic}", failure,
                    plugin=handler.name, topic=message.topic,
                )
            return Result(handler, None, True)

        return value.addCallbacks(done, failed)


def choose_reply(results: Sequence[Result]) -> Reply | None:
    """
    The one reply for a line: the non-empty reply with the highest weight,
    ties going to the earlier plugin. A malformed reply is logged and ignored.
    """
    best: Reply | None = None
    for result in results:
        if result.value is None:
            continue
        try:
            reply = Reply.coerce(result.value)
        except TypeError as e:
            log.error("handler {plugin} gave a bad reply: {error}", plugin=result.handler.name, error=e)
            continue
        if reply is not None and (best is None or reply.weight > best.weight):
            best = reply
    return best
