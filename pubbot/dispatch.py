"""The dispatcher: a message in, every matching handler called in isolation."""

from __future__ import annotations

from bisect import bisect_left
from inspect import iscoroutine
from time import perf_counter
from typing import Any, Callable, NamedTuple, Sequence

from twisted.internet.defer import Deferred, DeferredList, TimeoutError, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from .message import Message, Reply
from .topics import TopicTrie

log = Logger()

#: Upper bounds (seconds) of the latency histogram buckets kept per handler.
LATENCY_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, float("inf"))


class HandlerStats:
    """Counters for one handler, read by the dashboard and /metrics."""

    __slots__ = ("calls", "errors", "timeouts", "seconds", "buckets")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.timeouts = 0
        self.seconds = 0.0
        self.buckets = [0] * len(LATENCY_BUCKETS)

    def observe(self, seconds: float) -> None:
        self.calls += 1
        self.seconds += seconds
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds)] += 1


class Result(NamedTuple):
    """What one handler gave for one message (value None on failure)."""

    handler: Any
    value: Any
    failed: bool = False


class _Route:
    """
    The handlers for one topic: those always called, and those declaring
    C{trigger_words} indexed by each word, so that a chat line whose first
    word (of its C{command} or its C{content}) is none of theirs costs
    nothing in the many command handlers.
    """

    __slots__ = ("family", "always", "by_word", "rank")

    def __init__(self, topic: str, handlers: Sequence):
        self.family = topic.split(".", 1)[0]
        self.always: list = []
        self.by_word: dict[str, list] = {}
        self.rank = {h: i for i, h in enumerate(handlers)}
        for h in handlers:
            words = getattr(h, "trigger_words", None)
            if words:
                for word in words:
                    self.by_word.setdefault(word, []).append(h)
            else:
                self.always.append(h)

    def handlers(self, message: Message) -> Sequence:
        by_word = self.by_word
        if not by_word:
            return self.always
        fields = message.fields
        extra = None
        for text in (fields.get("command"), fields.get("content")):
            if text and type(text) is str:
                first = text.split(None, 1)
                found = by_word.get(first[0].lower()) if first else None
                if found:
                    extra = found if extra is None else extra + found
        if extra is None:
            return self.always
        return sorted(set(self.always).union(extra), key=self.rank.__getitem__)


class Dispatcher:
    """
    Routes messages to handlers by topic (see L{pubbot.topics}).

    C{publish} never fails: a handler that raises, fails or runs past
    C{timeout} seconds is logged with its name and counted, and gives no
    result; the others are unaffected.

    A handler with a C{trigger_words} attribute (lower-case words, as
    L{pubbot.api.command} sets) is only called for messages whose
    C{command} or C{content} field starts with one of those words.
    """

    def __init__(self, clock, timeout: float = 10.0):
        self._clock = clock
        self.timeout = timeout
        self._trie: TopicTrie = TopicTrie()
        self._routes: dict[str, _Route] = {}
        self.handlers: list = []
        self.stats: dict[str, HandlerStats] = {}
        self._stats_of: dict[Any, HandlerStats] = {}
        self.topic_counts: dict[str, int] = {}
        #: Callables given every published message, before the handlers.
        self.observers: list[Callable[[Message], None]] = []

    def add(self, handler) -> None:
        """Subscribe C{handler} (an IHandler) to its patterns."""
        self.handlers.append(handler)
        self._stats_of[handler] = self.stats.setdefault(handler.name, HandlerStats())
        for pattern in handler.subscriptions:
            self._trie.subscribe(pattern, handler)
        self._routes.clear()

    def remove(self, handler) -> None:
        self.handlers.remove(handler)
        for pattern in handler.subscriptions:
            self._trie.unsubscribe(pattern, handler)
        self._stats_of.pop(handler, None)
        self._routes.clear()

    def subscribers(self, topic: str) -> Sequence:
        return self._trie.match(topic)

    def _route(self, topic: str) -> _Route:
        route = self._routes.get(topic)
        if route is None:
            if len(self._routes) >= 4096:
                self._routes.clear()
            route = self._routes[topic] = _Route(topic, self._trie.match(topic))
        return route

    def publish(self, message: Message) -> Deferred:
        """
        Call every handler subscribed to C{message.topic}. Fires with a list
        of L{Result}, in plugin order, for each handler that gave a value
        (not None) or failed, once all have finished or timed out.
        """
        results = self.dispatch(message)
        return results if isinstance(results, Deferred) else succeed(results)

    def dispatch(self, message: Message) -> "list | Deferred":
        """L{publish}, but the list itself when every handler answered at once."""
        route = self._route(message.topic)
        counts = self.topic_counts
        counts[route.family] = counts.get(route.family, 0) + 1
        for observer in self.observers:
            try:
                observer(message)
            except Exception:
                log.failure("message observer {observer!r} failed", observer=observer)
        results: list = []
        pending = None
        stats_of = self._stats_of
        for handler in route.handlers(message):
            started = perf_counter()
            try:
                value = handler.handle(message)
            except Exception:
                stats = stats_of[handler]
                stats.observe(perf_counter() - started)
                stats.errors += 1
                log.failure("handler {plugin} failed on {topic}", plugin=handler.name, topic=message.topic)
                results.append(Result(handler, None, True))
                continue
            if value is None:
                # HandlerStats.observe, inlined: this runs for every handler on every line.
                elapsed = perf_counter() - started
                stats = stats_of[handler]
                stats.calls += 1
                stats.seconds += elapsed
                stats.buckets[bisect_left(LATENCY_BUCKETS, elapsed)] += 1
                continue
            if iscoroutine(value):
                value = Deferred.fromCoroutine(value)
            if isinstance(value, Deferred):
                if pending is None:
                    pending = []
                pending.append(len(results))
                results.append(self._wait(handler, message, value, started))
            else:
                stats_of[handler].observe(perf_counter() - started)
                results.append(Result(handler, value))
        if pending is None:
            return results
        return self._gather(results, pending)

    @staticmethod
    def _gather(results: list, pending: list) -> Deferred:
        def gathered(outcomes):
            for i, (_, value) in zip(pending, outcomes):
                results[i] = value
            return [r for r in results if r.value is not None or r.failed]

        return DeferredList([results[i] for i in pending], consumeErrors=True).addCallback(gathered)

    def _wait(self, handler, message: Message, value: Deferred, started: float) -> Deferred:
        stats = self._stats_of[handler]
        value.addTimeout(self.timeout, self._clock)

        def done(result):
            stats.observe(perf_counter() - started)
            return Result(handler, result)

        def failed(failure: Failure):
            stats.observe(perf_counter() - started)
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
