"""The dispatcher: messages in, every matching handler called in isolation."""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable, Sequence
from inspect import iscoroutine
from operator import attrgetter
from time import perf_counter
from typing import Any, NamedTuple

from twisted.internet.defer import Deferred, DeferredList, TimeoutError, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

from ..util import patterns
from ..util.boundedlog import BoundedLog
from .help import plugin_of
from .interfaces import IBatchHandler
from .message import Message, Reply
from .topics import TopicTrie

log = Logger()

#: Upper bounds (seconds) of the latency histogram buckets kept per handler.
LATENCY_BUCKETS = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, float("inf"))
#: Failures (tracebacks, timeouts, bad answers) logged per handler a minute at
#: most: a line that makes a plugin fail can be sent again and again. Every
#: one is counted in the handler's stats (errors, timeouts).
FAILURE_LOGS = 10

# What makes a content filter unsafe to run once over a batch's joined
# contents (see ContentFilter): assertions that look past a line's ends.
_UNSAFE_FILTER = re.compile(r"\\[AZz]|\(\?<?[=!]|\(\?[a-zA-Z-]*s")
_topic_of = attrgetter("topic")


class HandlerStats:
    """Counters for one handler, read by the dashboard and /metrics."""

    __slots__ = ("calls", "errors", "timeouts", "seconds", "buckets")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.timeouts = 0
        self.seconds = 0.0
        self.buckets = [0] * len(LATENCY_BUCKETS)

    def observe(self, seconds: float, calls: int = 1) -> None:
        """Count C{calls} calls taking C{seconds} together (the histogram gets their mean)."""
        self.calls += calls
        self.seconds += seconds
        self.buckets[bisect_left(LATENCY_BUCKETS, seconds / calls)] += calls


class Result(NamedTuple):
    """What one handler gave for one message (value None on failure)."""

    handler: Any
    value: Any
    failed: bool = False


class ContentFilter:
    """
    A handler's C{content_filter}: what must be found in a message's
    C{content} for the handler to be called. Either substrings (a tuple of
    str, any of which must occur, case-sensitive: the fastest) or a regex
    (source, or compiled by either engine; searched with C{re.MULTILINE}
    added, on the engine L{pubbot.util.patterns.with_flags} chooses: RE2 unless
    the pattern is an C{re.Pattern} or RE2 cannot run it).

    For a batch, the contents are joined by newlines and searched once: no
    match there means no match in any line, so most batches cost one
    C-level scan per filter (substring scans are ~100 times faster than
    regexes with alternations or classes). Only a regex that could look
    past a line's end (C{\\A}, C{\\Z}, lookarounds, DOTALL) is searched
    line by line.
    """

    __slots__ = ("pattern", "needles", "safe")

    def __init__(self, source: Any, owner: str = "a plugin"):
        self.pattern: patterns.Pattern | None = None
        self.needles: tuple = ()
        if isinstance(source, (tuple, list, frozenset, set)):
            needles = tuple(source)
            if not needles or not all(type(n) is str and n and "\n" not in n for n in needles):
                raise ValueError("content_filter substrings must be non-empty one-line strings: %r"
                                 % (source,))
            self.needles = needles
            self.safe = True
            return
        self.pattern = patterns.with_flags(source, re.MULTILINE, owner)
        text = self.pattern.pattern
        self.safe = (not self.pattern.flags & re.DOTALL and isinstance(text, str)
                     and _UNSAFE_FILTER.search(text) is None)

    def found(self, text: str) -> bool:
        if self.pattern is None:
            return any(needle in text for needle in self.needles)
        return self.pattern.search(text) is not None

    def wants(self, message: Message) -> bool:
        content = message.fields.get("content")
        return type(content) is str and self.found(content)

    def select(self, messages: Sequence[Message], joined: str | None) -> list[int]:
        """The positions of C{messages} this filter lets through."""
        if joined is not None and self.safe and not self.found(joined):
            return []
        wants = self.wants
        return [i for i, m in enumerate(messages) if wants(m)]


def joined_contents(messages: Sequence[Message]) -> str | None:
    """The messages' contents joined by newlines; None when one is not a line of text."""
    try:
        joined = "\n".join([m.fields["content"] for m in messages])
    except (KeyError, TypeError):
        return None
    if joined.count("\n") != len(messages) - 1:
        return None
    return joined


class _Entry(NamedTuple):
    handler: Any
    always: bool
    many: Callable | None
    filter: ContentFilter | None
    plugin: str


class _Route:
    """
    The handlers for one topic, in plugin order: those always called, and
    those declaring C{trigger_words} indexed by each word, so that a chat
    line whose first word (of its C{command} or its C{content}) is none of
    theirs costs nothing in the many command handlers.
    """

    __slots__ = ("family", "entries", "by_word", "filtered")

    def __init__(self, topic: str, handlers: Sequence, filters: dict):
        self.family = topic.split(".", 1)[0]
        self.entries: list[_Entry] = []
        self.by_word: dict[str, list] = {}
        self.filtered = False
        for h in handlers:
            words = getattr(h, "trigger_words", None)
            if words:
                for word in words:
                    self.by_word.setdefault(word, []).append(h)
            many = h.handle_many if IBatchHandler.providedBy(h) else None
            f = filters.get(h)
            self.filtered = self.filtered or f is not None
            self.entries.append(_Entry(h, not words, many, f, plugin_of(h)))

    def calls(self, messages: Sequence[Message]) -> dict | None:
        """
        The trigger-word handlers C{messages} call for, with the positions
        of the messages calling each (None: none): a message calls the
        handlers of the first word, lower-cased, of its C{command} and of
        its C{content}.
        """
        get = self.by_word.get
        called: dict | None = None
        # One loop over the batch, no call per message: this runs for every line.
        for i, message in enumerate(messages):
            fields = message.fields
            command = fields.get("command")
            content = fields.get("content")
            extra = None
            if command and type(command) is str:
                first = command.split(None, 1)
                if first:
                    extra = get(first[0].lower())
            if content and type(content) is str:
                first = content.split(None, 1)
                if first:
                    found = get(first[0].lower())
                    if found:
                        extra = found if extra is None else extra + found
            if extra:
                if called is None:
                    called = {}
                for h in extra:
                    called.setdefault(h, []).append(i)
        return called


class Dispatcher:
    """
    Routes messages to handlers by topic (see L{pubbot.core.topics}).

    C{publish} never fails: a handler that raises, fails or runs past
    C{timeout} seconds is logged with its name (L{FAILURE_LOGS} times a
    minute at most) and counted, and gives no result; the others are
    unaffected.

    What a handler may declare to be called less (see L{pubbot.core.interfaces}):
    C{trigger_words} (lower-case words, as L{pubbot.api.command} sets): only
    called for messages whose C{command} or C{content} starts with one;
    C{content_filter} (a regex): only called for messages whose C{content}
    it finds; and L{IBatchHandler.handle_many}, called once with all of a
    batch's messages for it (L{dispatch_many}).
    """

    def __init__(self, clock, timeout: float = 10.0):
        self._clock = clock
        self.timeout = timeout
        self._failure_logs = BoundedLog(clock, log, FAILURE_LOGS) if clock is not None else None
        self._trie: TopicTrie = TopicTrie()
        self._routes: dict[str, _Route] = {}
        self._filters: dict[Any, ContentFilter] = {}
        self.handlers: list = []
        self.stats: dict[str, HandlerStats] = {}
        self._stats_of: dict[Any, HandlerStats] = {}
        self.topic_counts: dict[str, int] = {}
        #: Callables given every published message, before the handlers.
        self.observers: list[Callable[[Message], None]] = []
        #: Callables given each batch of published messages (a list of one
        #: for a single message), before the handlers.
        self.batch_observers: list[Callable[[list], None]] = []
        #: The ignore list's gate (see L{pubbot.ignore.Gate}), or None: given
        #: a batch, None or {position: sender is an admin} for the lines of
        #: ignored senders. Those reach only handlers with a true
        #: C{hears_ignored}, and admin commands (C{admin}) when the sender
        #: is an admin.
        self.gate: Callable[[Sequence[Message]], dict | None] | None = None
        #: The per-channel switch (see L{pubbot.core.channels}), or None:
        #: given a batch's first message (all of a batch's group share its
        #: topic, so its channel), the plugins disabled there, or None.
        self.channel_gate: Callable[[Message], frozenset | None] | None = None

    def _logs_failure(self, handler) -> bool:
        """May a failure of C{handler} be logged now (see L{FAILURE_LOGS})?"""
        logs = self._failure_logs
        return logs is None or logs.may_log(handler.name)

    def handler_failed(self, handler, message: Message) -> None:
        """
        C{handler} failed on C{message} in a call of its own (inside its
        batch handler, L{pubbot.api.handle_each}): the exception being
        handled is counted and logged as the dispatcher's own failures are.
        """
        stats = self._stats_of.get(handler)
        if stats is None:  # (a handler not added: counted under its name, nothing kept of it)
            stats = self.stats.setdefault(handler.name, HandlerStats())
        stats.errors += 1
        if self._logs_failure(handler):
            log.failure("handler {plugin} failed on {topic} ({errors} failures so far)",
                        plugin=handler.name, topic=message.topic, errors=stats.errors)

    def add(self, handler) -> None:
        """Subscribe C{handler} (an IHandler) to its patterns."""
        source = getattr(handler, "content_filter", None)
        if source is not None:
            self._filters[handler] = ContentFilter(source, getattr(handler, "name", "a plugin"))
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
        self._filters.pop(handler, None)
        self._routes.clear()

    def subscribers(self, topic: str) -> Sequence:
        return self._trie.match(topic)

    def _route(self, topic: str) -> _Route:
        route = self._routes.get(topic)
        if route is None:
            if len(self._routes) >= 4096:
                self._routes.clear()
            route = self._routes[topic] = _Route(topic, self._trie.match(topic), self._filters)
        return route

    def publish(self, message: Message) -> Deferred:
        """
        Call every handler subscribed to C{message.topic}. Fires with a list
        of L{Result}, in plugin order, for each handler that gave a value
        (not None) or failed, once all have finished or timed out.
        """
        results = self.dispatch(message)
        return results if isinstance(results, Deferred) else succeed(results)

    def dispatch(self, message: Message) -> list | Deferred:
        """L{publish}, but the list itself when every handler answered at once."""
        return self.dispatch_many([message]).get(0, [])

    def dispatch_many(self, messages: Sequence[Message]) -> dict[int, list | Deferred]:
        """
        Dispatch a batch of messages (the lines of one read, in order). Each
        handler sees its messages in order (handlers providing
        L{IBatchHandler} get them in one call); different handlers' calls
        are not interleaved line by line, as in separate worker processes.
        Returns, for the position of each message that got a result, what
        L{dispatch} would give for it.
        """
        topics = set(map(_topic_of, messages))
        if len(topics) == 1:
            return self._dispatch_group(self._route(messages[0].topic), messages, None)
        groups: dict[str, list[int]] = {}
        for i, m in enumerate(messages):
            groups.setdefault(m.topic, []).append(i)
        out: dict = {}
        for topic, positions in groups.items():
            group = [messages[i] for i in positions]
            out.update(self._dispatch_group(self._route(topic), group, positions))
        return dict(sorted(out.items()))

    def _dispatch_group(self, route: _Route, messages: Sequence[Message],
                        positions: list[int] | None) -> dict:
        counts = self.topic_counts
        counts[route.family] = counts.get(route.family, 0) + len(messages)
        self._show_observers(messages)
        gated = self._gated(messages) if self.gate is not None else None
        off = self._off(messages[0]) if self.channel_gate is not None else None
        results: dict[int, list] = {}
        pending: dict[int, list[int]] = {}
        called = route.calls(messages) if route.by_word else None
        joined: Any = False  # not made yet
        everyone = range(len(messages))
        for entry in route.entries:
            if entry.always:
                wanted: Sequence[int] = everyone
            elif called is not None and entry.handler in called:
                wanted = sorted(set(called[entry.handler]))
            else:
                continue
            if off and entry.plugin in off:
                continue
            if gated:
                wanted = _let_through(entry.handler, wanted, gated)
                if not wanted:
                    continue
            if entry.filter is not None:
                if len(wanted) > 1 and joined is False:
                    joined = joined_contents(messages)
                subset = messages if wanted is everyone else [messages[i] for i in wanted]
                chosen = entry.filter.select(subset, joined if wanted is everyone and joined is not False
                                             else None)
                wanted = [wanted[j] for j in chosen]
            if not wanted:
                continue
            if entry.many is not None:
                self._call_many(entry, messages, wanted, results, pending)
            else:
                self._call_each(entry.handler, messages, wanted, results, pending)
        out: dict = {}
        for i, found in results.items():
            key = i if positions is None else positions[i]
            waiting = pending.get(i)
            out[key] = found if waiting is None else self._gather(found, waiting)
        return out

    def reaching(self, plugin: str, messages: Sequence[Message]) -> list[Message]:
        """
        The C{messages} the gates let reach C{plugin} (neither an ignored
        sender's nor said where the plugin is off), for a plugin that hears
        lines outside dispatch (the cluster brain's journal).
        """
        gated = self._gated(messages) if self.gate is not None else None
        out = []
        for i, message in enumerate(messages):
            if gated and i in gated:
                continue
            off = self._off(message) if self.channel_gate is not None else None
            if off and plugin in off:
                continue
            out.append(message)
        return out

    def _gated(self, messages: Sequence[Message]) -> dict | None:
        """What the ignore gate (C{self.gate}) says of C{messages}; None when it fails (logged)."""
        assert self.gate is not None
        try:
            return self.gate(messages)
        except Exception:
            log.failure("the ignore gate failed; the batch goes through")
            return None

    def _off(self, message: Message) -> frozenset | None:
        """The plugins the channel gate says are off where C{message} was said; None if it fails (logged)."""
        assert self.channel_gate is not None
        try:
            return self.channel_gate(message)
        except Exception:
            log.failure("the per-channel gate failed; the batch goes to every plugin")
            return None

    def _show_observers(self, messages: Sequence[Message]) -> None:
        for observer in self.observers:
            for message in messages:
                try:
                    observer(message)
                except Exception:
                    log.failure("message observer {observer!r} failed", observer=observer)
        for batch_observer in self.batch_observers:
            try:
                batch_observer(messages if type(messages) is list else list(messages))
            except Exception:
                log.failure("message observer {observer!r} failed", observer=batch_observer)

    def _call_each(self, handler, messages: Sequence[Message], wanted: Sequence[int],
                   results: dict, pending: dict) -> None:
        stats = self._stats_of[handler]
        handle = handler.handle
        for i in wanted:
            message = messages[i]
            started = perf_counter()
            try:
                value = handle(message)
            except Exception:
                stats.observe(perf_counter() - started)
                stats.errors += 1
                if self._logs_failure(handler):
                    log.failure("handler {plugin} failed on {topic} ({errors} failures so far)",
                                plugin=handler.name, topic=message.topic, errors=stats.errors)
                results.setdefault(i, []).append(Result(handler, None, True))
                continue
            if value is None:
                # HandlerStats.observe, inlined: this runs for every handler on every line.
                elapsed = perf_counter() - started
                stats.calls += 1
                stats.seconds += elapsed
                stats.buckets[bisect_left(LATENCY_BUCKETS, elapsed)] += 1
                continue
            self._result(handler, message, value, started, results.setdefault(i, []), pending, i, True)

    def _call_many(self, entry: _Entry, messages: Sequence[Message], wanted: Sequence[int],
                   results: dict, pending: dict) -> None:
        handler = entry.handler
        stats = self._stats_of[handler]
        batch = messages if len(wanted) == len(messages) else [messages[i] for i in wanted]
        many = entry.many
        assert many is not None
        started = perf_counter()
        try:
            given = many(batch)
            answers = [] if given is None else list(given)
        except Exception:
            stats.observe(perf_counter() - started, len(batch))
            stats.errors += 1
            if self._logs_failure(handler):
                log.failure("handler {plugin} failed on a batch of {count} on {topic} "
                            "({errors} failures so far)", plugin=handler.name, count=len(batch),
                            topic=batch[0].topic, errors=stats.errors)
            return
        stats.observe(perf_counter() - started, len(batch))
        for answer in answers:
            try:
                j, value = answer
                i = wanted[j]
            except (TypeError, ValueError, IndexError):
                stats.errors += 1
                if self._logs_failure(handler):
                    log.error("handler {plugin} gave a bad batch answer {answer}; ignored",
                              plugin=handler.name, answer=repr(answer)[:200])
                continue
            if value is not None:
                self._result(handler, messages[i], value, started, results.setdefault(i, []), pending, i,
                             False)

    def _result(self, handler, message: Message, value: Any, started: float, found: list,
                pending: dict, i: int, timed: bool) -> None:
        """Record a handler's value for message C{i}; C{timed}: its call is yet to be counted."""
        if iscoroutine(value):
            value = Deferred.fromCoroutine(value)
        if isinstance(value, Deferred):
            pending.setdefault(i, []).append(len(found))
            found.append(self._wait(handler, message, value, started, timed))
        else:
            if timed:
                self._stats_of[handler].observe(perf_counter() - started)
            found.append(Result(handler, value))

    @staticmethod
    def _gather(results: list, pending: list) -> Deferred:
        def gathered(outcomes):
            for i, (_, value) in zip(pending, outcomes, strict=False):
                results[i] = value
            return [r for r in results if r.value is not None or r.failed]

        return DeferredList([results[i] for i in pending], consumeErrors=True).addCallback(gathered)

    def _wait(self, handler, message: Message, value: Deferred, started: float, timed: bool) -> Deferred:
        stats = self._stats_of[handler]
        value.addTimeout(self.timeout, self._clock)

        def done(result):
            if timed:
                stats.observe(perf_counter() - started)
            return Result(handler, result)

        def failed(failure: Failure):
            if timed:
                stats.observe(perf_counter() - started)
            if failure.check(TimeoutError):
                stats.timeouts += 1
                if self._logs_failure(handler):
                    log.warn("handler {plugin} timed out after {timeout}s on {topic} ({timeouts} so far)",
                             plugin=handler.name, timeout=self.timeout, topic=message.topic,
                             timeouts=stats.timeouts)
            else:
                stats.errors += 1
                if self._logs_failure(handler):
                    log.failure("handler {plugin} failed on {topic} ({errors} failures so far)", failure,
                                plugin=handler.name, topic=message.topic, errors=stats.errors)
            return Result(handler, None, True)

        return value.addCallbacks(done, failed)
def _let_through(handler: Any, wanted: Sequence[int], gated: dict) -> list[int]:
    """The positions of C{wanted} C{handler} may see when the senders of C{gated} are ignored."""
    if getattr(handler, "hears_ignored", False):
        return list(wanted)
    admin = getattr(handler, "admin", False) is True
    return [i for i in wanted if i not in gated or (admin and gated[i])]


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
