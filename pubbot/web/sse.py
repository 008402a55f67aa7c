"""Server-sent events: a hub with numbered events, a bounded backlog and clients.

Events are numbered; each carries the id C{<run>-<number>}, where C{run} is
random per hub (per process run), so a browser reconnecting with
C{Last-Event-ID} gets exactly what it missed while that is still in the
backlog, and a notice of the gap when it is not.

Publishing is cheap: an event holds the raw object and a formatter, and is
encoded to bytes once, the first time a client needs it. Writes to clients
are batched (one write per client every C{flush_delay} seconds at most).

A client that stops reading is paused by the transport's producer signals
(the HTTP channel calls C{pauseProducing} when its send buffer is full): it
is sent nothing while paused, and on C{resumeProducing} catches up from the
backlog, with a C{gap} event for what fell out of it. So the memory a slow
client costs is bounded by one batch; one paused longer than C{max_paused}
seconds is disconnected.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice
from typing import Any

from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from zope.interface import implementer

log = Logger()

Formatter = Callable[[Any], dict]

_ID = re.compile(r"\A([0-9a-f]{8})-([0-9]{1,18})\Z")


def _json(value: dict) -> bytes:
    # ensure_ascii: lone surrogates from badly decoded input cannot break it.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str).encode("ascii")


class Event:
    """One event: its number, kind, time and raw payload, encoded lazily."""

    __slots__ = ("number", "kind", "time", "raw", "format", "_data")

    def __init__(self, number: int, kind: str, time: float, raw: Any, format: Formatter):
        self.number = number
        self.kind = kind
        self.time = time
        self.raw = raw
        self.format = format
        self._data: bytes | None = None

    def encode(self, run: str) -> bytes:
        """The event as it goes on the wire (computed once)."""
        if self._data is None:
            try:
                body = self.format(self.raw)
            except Exception as e:
                log.failure("feed event {kind} could not be formatted", kind=self.kind)
                body = {"error": "unformattable event: %s" % (type(e).__name__,)}
            body["kind"] = self.kind
            body["time"] = self.time
            self._data = b"id: %s-%d\ndata: %s\n\n" % (run.encode("ascii"), self.number, _json(body))
            self.raw = None  # the bytes are all we need from now on
        return self._data


@implementer(IPushProducer)
class Client:
    """One connected EventSource; the HTTP channel drives its pause/resume."""

    def __init__(self, hub: EventHub, request, last: int):
        self.hub = hub
        self.request = request
        #: Number of the last event this client was sent (or had).
        self.last = last
        self.paused = False
        self.paused_since = 0.0
        self.closed = False
        #: bytes handed to the transport so far
        self.written = 0

    def write(self, data: bytes) -> None:
        if not self.closed:
            self.written += len(data)
            self.request.write(data)

    def pauseProducing(self) -> None:
        if not self.paused:
            self.paused = True
            self.paused_since = self.hub.clock.seconds()
            self.hub.paused_total += 1

    def resumeProducing(self) -> None:
        if self.paused and not self.closed:
            self.paused = False
            self.hub.catch_up(self)

    def stopProducing(self) -> None:
        # the connection is going away
        self.hub.drop(self, finish=False)


class EventHub:
    """
    The live feed: publish events, attach HTTP requests as SSE clients.

    @param clock: an L{IReactorTime} (heartbeats, batching, pause limits).
    @param backlog: how many recent events are kept for replay.
    @param initial: how many recent events a new client (no Last-Event-ID) gets.
    @param heartbeat: seconds between comment lines keeping proxies open.
    """

    def __init__(self, clock, backlog: int = 500, initial: int = 100, heartbeat: float = 15.0,
                 flush_delay: float = 0.05, max_clients: int = 100, max_paused: float = 300.0,
                 retry_ms: int = 2000, run: str | None = None):
        self.clock = clock
        self._events: deque[Event] = deque(maxlen=backlog)
        #: Batches published but not made into L{Event}s yet, oldest first:
        #: [first number, kind, time, raws, format]. They are made when the
        #: backlog is read; on a busy channel with no client, most are
        #: pushed out of it unread.
        self._unmade: deque[list] = deque()
        self._unmade_count = 0
        self.initial = initial
        self.heartbeat = heartbeat
        self.flush_delay = flush_delay
        self.max_clients = max_clients
        self.max_paused = max_paused
        self.retry_ms = retry_ms
        self.run = run or os.urandom(4).hex()
        self.clients: set[Client] = set()
        self.newest = 0  # number of the newest event
        self._flushed = 0  # events up to this number went to every live client
        self._flush_call = None
        self._beat: LoopingCall | None = None
        # counters for /metrics
        self.connects_total = 0
        self.refused_total = 0
        self.dropped_total = 0
        self.paused_total = 0
        self.gaps_total = 0

    @property
    def events(self) -> deque[Event]:
        """The backlog: the most recent events, oldest first."""
        if self._unmade:
            events = self._events
            for first, kind, time, raws, format in self._unmade:
                events.extend([Event(number, kind, time, raw, format)
                               for number, raw in enumerate(raws, first)])
            self._unmade.clear()
            self._unmade_count = 0
        return self._events

    # publishing (the hot path)

    def publish(self, kind: str, raw: Any, format: Formatter) -> None:
        """Add an event; C{format(raw)} makes its JSON body when first sent."""
        self.newest += 1
        if self._unmade:
            self._keep([self.newest, kind, self.clock.seconds(), [raw], format])
        else:
            self._events.append(Event(self.newest, kind, self.clock.seconds(), raw, format))
        if self.clients and self._flush_call is None:
            self._flush_call = self.clock.callLater(self.flush_delay, self.flush)

    def publish_many(self, kind: str, raws: Sequence[Any], format: Formatter) -> None:
        """
        L{publish} each of C{raws}, in order, with one clock read. Those
        the backlog could not keep are only counted (numbered and dropped).
        """
        if not raws:
            return
        now = self.clock.seconds()
        first = self.newest + 1
        self.newest += len(raws)
        keep = self._events.maxlen
        skip = len(raws) - keep if keep is not None and len(raws) > keep else 0
        self._keep([first + skip, kind, now, list(islice(raws, skip, None)), format])
        if self.clients and self._flush_call is None:
            self._flush_call = self.clock.callLater(self.flush_delay, self.flush)

    def _keep(self, batch: list) -> None:
        """Add a batch to the backlog, to be made into events when read."""
        if not batch[3]:
            return
        unmade = self._unmade
        unmade.append(batch)
        self._unmade_count += len(batch[3])
        keep = self._events.maxlen
        if keep is None:
            return
        excess = self._unmade_count - keep
        while excess > 0:  # the oldest pushed out of the backlog unmade
            oldest = unmade[0]
            size = len(oldest[3])
            if size <= excess:
                unmade.popleft()
                self._unmade_count -= size
                excess -= size
            else:
                del oldest[3][:excess]
                oldest[0] += excess
                self._unmade_count -= excess
                excess = 0
        if self._unmade_count >= keep:
            self._events.clear()  # all older than the batches that fill the backlog

    def flush(self) -> None:
        """Send every client the events it has not had yet."""
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        if not self.clients:
            self._flushed = self.newest
            return
        common = None  # what every client that was up to date gets, made once
        for client in list(self.clients):
            if client.paused or client.closed:
                continue
            if client.last == self._flushed:
                if common is None:
                    common = self._gap(self._flushed) + self._chunk(self._flushed)
                if common:
                    client.last = self.newest
                    client.write(common)
            else:
                self.catch_up(client)
        self._flushed = self.newest

    def _chunk(self, after: int) -> bytes:
        """The encoded events numbered above C{after} still in the backlog."""
        if after >= self.newest or not self.events:
            return b""
        oldest = self.events[0].number
        start = max(after + 1 - oldest, 0)
        return b"".join(e.encode(self.run) for e in islice(self.events, start, None))

    def _gap(self, after: int) -> bytes:
        """A C{gap} notice (no id) if events after C{after} fell out of the backlog."""
        oldest = self.events[0].number if self.events else self.newest + 1
        if after + 1 >= oldest:
            return b""
        self.gaps_total += 1
        body = {"kind": "gap", "missed": oldest - after - 1, "time": self.clock.seconds()}
        return b"data: %s\n\n" % _json(body)

    def catch_up(self, client: Client) -> None:
        """Send C{client} what it missed, noting any gap the backlog cannot fill."""
        if client.last >= self.newest:
            return
        data = self._gap(client.last) + self._chunk(client.last)
        client.last = self.newest
        client.write(data)

    # clients

    def parse_last_id(self, value: str | None) -> int | None:
        """The event number in a Last-Event-ID from this run, else None."""
        if not value:
            return None
        match = _ID.match(value.strip())
        if match is None or match.group(1) != self.run:
            return None
        number = int(match.group(2))
        return number if number <= self.newest else None

    def attach(self, request) -> Any:
        """Make C{request} an event stream. Returns what C{render} returns."""
        if len(self.clients) >= self.max_clients:
            self.refused_total += 1
            request.setResponseCode(503)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            request.setHeader(b"retry-after", b"10")
            return b"too many live feed clients\n"
        header = request.getHeader(b"last-event-id")
        if header is None:
            arg = request.args.get(b"last_event_id")
            header = arg[0] if arg else None
        last_id = self.parse_last_id(header.decode("latin-1") if header is not None else None)
        if last_id is None:
            # a new client: the recent events, no gap notice
            last_id = max(self.newest - self.initial, self.events[0].number - 1 if self.events else 0)
        client = Client(self, request, last_id)
        if not self.clients:
            self._flushed = self.newest  # nobody waits for what came before
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache, no-store")
        request.setHeader(b"x-accel-buffering", b"no")
        self.clients.add(client)
        self.connects_total += 1
        request.registerProducer(client, True)
        request.notifyFinish().addBoth(self._finished, client)
        client.write(b"retry: %d\n\n" % (self.retry_ms,))
        self.catch_up(client)
        if self._beat is None:
            self._beat = LoopingCall(self._heartbeat)
            self._beat.clock = self.clock
            self._beat.start(self.heartbeat, now=False)
        return NOT_DONE_YET

    def _finished(self, result, client: Client) -> None:
        self.drop(client, finish=False)

    def drop(self, client: Client, finish: bool = True) -> None:
        """Forget C{client} now (and end its response if still open)."""
        if client.closed:
            return
        client.closed = True
        self.clients.discard(client)
        request = client.request
        with contextlib.suppress(Exception):
            request.unregisterProducer()
        if finish:
            self.dropped_total += 1
            transport = getattr(getattr(request, "channel", None), "transport", None)
            with contextlib.suppress(Exception):
                request.finish()
            if transport is not None:
                # a client that stopped reading may never drain: cut it off
                abort = getattr(transport, "abortConnection", None) if client.paused else None
                (abort or transport.loseConnection)()
        client.request = None
        if not self.clients:
            self._stop_timers()

    def _stop_timers(self) -> None:
        if self._beat is not None:
            if self._beat.running:
                self._beat.stop()
            self._beat = None
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        self._flushed = self.newest

    def _heartbeat(self) -> None:
        now = self.clock.seconds()
        for client in list(self.clients):
            if client.paused:
                if now - client.paused_since > self.max_paused:
                    log.info("dropping a live feed client that has not read for {seconds:.0f}s",
                             seconds=now - client.paused_since)
                    self.drop(client)
            else:
                client.write(b": ping\n\n")

    def close(self) -> None:
        """End every stream (service stop)."""
        for client in list(self.clients):
            self.drop(client)
        self._stop_timers()


class EventsResource(Resource):
    """C{/events}: the live feed as C{text/event-stream}."""

    isLeaf = True

    def __init__(self, hub: EventHub):
        super().__init__()
        self.hub = hub

    def render_GET(self, request):
        return self.hub.attach(request)

    def render_HEAD(self, request):
        # no stream for HEAD: it could never be read
        request.setHeader(b"content-type", b"text/event-stream; charset=utf-8")
        return b""
