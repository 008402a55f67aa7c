"""
The Redis Streams bus: many processes, one bot.

- The IRC owner appends each incoming message to the stream C{pubbot:bus:in}
  (once: an idempotency key per message makes retried appends no-ops).
- Every process reads that stream through the consumer group C{workers}
  (XREADGROUP), so each message is handled by exactly one process, and
  acknowledges it (XACK) only after its handlers have finished and the reply
  is on its way. Entries held too long by a process that died are claimed
  by the others after the visibility timeout (XAUTOCLAIM).
- Replies (and whatever handlers C{bot.send}) go to the owner through the
  stream C{pubbot:bus:out} (group C{owner}), each naming the C{network} it
  is for; the owner marks each reply's key
  as sent (SET NX) before sending it, so a reply reaches IRC once, also when
  the message or the reply is delivered again.
- While Redis is unreachable, incoming messages wait in a bounded buffer;
  what does not fit is counted and logged. Connections come back with
  backoff (L{pubbot.cluster.redisclient.RedisClient}).
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger
from zope.interface import implementer

from ..core.chat import person_of
from ..core.dispatch import choose_reply
from ..core.interfaces import IBus, IInputFlow
from ..core.message import Message, Reply
from .lease import IRC_LEASE, owner_of
from .redisclient import RedisUnavailable
from .remote import CHAT_STATE, RemoteChat, describe

log = Logger()

IN = "pubbot:bus:in"
OUT = "pubbot:bus:out"
WORKERS = "workers"
OWNER = "owner"
PROCS = "pubbot:bus:procs"
ADDED = "pubbot:bus:added:"
SENT = "pubbot:bus:sent:"
TRIES = "pubbot:bus:tries:"

#: Idempotency keys live this long (seconds): far longer than any redelivery.
KEY_TTL = 3600
#: A consumer with nothing pending, silent this long (ms), is removed from its group.
STALE_CONSUMER = 3600 * 1000
#: Approximate length the streams are trimmed to.
MAX_LEN = 100000
#: Handling attempts of one message before it is given up (a poison message).
MAX_TRIES = 5
#: Largest entry accepted from the streams (bytes of JSON).
MAX_ENTRY = 1024 * 1024

#: Append once: set the idempotency key, and XADD only if it was not set.
ADD_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[3])
end
return false
"""

#: Heartbeat: this process is alive; fires with {alive, lease holder, lag ms}.
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local alive = redis.call('ZCARD', KEYS[1])
local holder = redis.call('GET', KEYS[2]) or ''
local oldest = nil
local pending = redis.pcall('XPENDING', KEYS[3], ARGV[3])
if type(pending) == 'table' and pending.err == nil and pending[2] then
  oldest = pending[2]
else
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[3])
  if type(groups) == 'table' and groups.err == nil then
    for _, g in ipairs(groups) do
      local name, last = nil, nil
      for i = 1, #g, 2 do
        if g[i] == 'name' then name = g[i + 1] end
        if g[i] == 'last-delivered-id' then last = g[i + 1] end
      end
      if name == ARGV[3] and last then
        local nxt = redis.call('XRANGE', KEYS[3], '(' .. last, '+', 'COUNT', 1)
        if nxt[1] then oldest = nxt[1][1] end
      end
    end
  end
end
local lag = -1
if oldest then lag = now - tonumber(string.match(oldest, '^(%d+)')) end
return {alive, holder, lag}
"""


def entries(reply) -> list:
    """[(id, {field: value} or None when deleted)] from an XREADGROUP or XAUTOCLAIM entry list."""
    out: list[tuple[Any, dict | None]] = []
    for item in reply or ():
        if not isinstance(item, list) or len(item) != 2:
            continue
        entry_id, flat = item
        if not isinstance(flat, list):  # trimmed away while pending: nothing left to handle
            out.append((entry_id, None))
            continue
        out.append((entry_id, {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}))
    return out



def reply_envelope(key: str, origin: str | None, network: str, target: str, text: str, kind: str,
                   at: float, person: str | None = None) -> dict:
    """
    A line for the owner to send, as the reply stream carries it, with the
    C{person} it answers (for fair output). It also says C{protocol} (the
    same network name), which the release before several networks read: an
    owner not yet upgraded still sends it.
    """
    return {"key": key, "origin": origin, "network": network, "protocol": network, "target": target,
            "text": text, "kind": kind, "person": person, "at": at}


def _wakeable(seconds: float, clock) -> Deferred:
    """A pause that ends after C{seconds}, or earlier through L{_wake}."""
    d: Deferred = Deferred()
    d.addTimeout(seconds, clock, onTimeoutCancel=lambda *_: None)
    return d


def _wake(pause: Deferred | None) -> None:
    """End C{pause} now if it is still running."""
    if pause is not None and not pause.called:
        pause.callback(None)

class _GroupCursor:
    """
    Where a consumer reads its group from: after each new connection, first
    its own pending entries (those handed to it on the old connection may
    never have arrived), from the start; then new ones (C{>}).
    """

    def __init__(self) -> None:
        self.connection: Any = None
        self.history = True
        self.after = "0"

    def start(self, connection) -> str:
        """The id to read after on C{connection}."""
        if connection is not self.connection:
            self.connection, self.history, self.after = connection, True, "0"
        return self.after if self.history else ">"

    def advance(self, found: list) -> bool:
        """Move past the entries read; False when the pending ones just ran out (read again)."""
        if self.history:
            if not found:
                self.history = False
                return False
            self.after = found[-1][0]
        return True


class Backoff:
    """Delays for retries: doubling from C{first} up to C{most}."""

    def __init__(self, first: float = 0.1, most: float = 5.0):
        self.first, self.most, self.delay = first, most, first

    def next(self) -> float:
        delay, self.delay = self.delay, min(self.most, self.delay * 2)
        return delay

    def reset(self) -> None:
        self.delay = self.first


def _quiet_cancel(f):
    """Cancelled waits are how loops end when the service stops."""
    f.trap(CancelledError)
    return None


@implementer(IBus, IInputFlow)
class RedisBus(Service):
    """
    The IBus of a scaled-out bot (see the module docstring).

    C{is_owner()} says whether this process may speak on the chat networks
    right now (it holds a valid lease); C{owner_active()} whether its chat
    services run (it believes it is the owner). C{consume=False} makes a
    process that never handles messages (benchmarks).
    """

    name = "redis-bus"

    def __init__(self, bot, reactor, command, reader, replies, *, buffer: int = 10000,
                 visibility_timeout: float = 30.0, block: float = 1.0, max_in_flight: int = 16,
                 heartbeat: float = 2.0, consume: bool = True,
                 is_owner: Callable[[], bool] = lambda: False,
                 owner_active: Callable[[], bool] = lambda: False,
                 fanout: Any = None, wall: Callable[[], float] = time.time):
        self.bot = bot
        self.reactor = reactor
        self.command = command      # everything that does not block
        self.reader = reader        # blocking reads of the incoming stream
        self.replies = replies      # blocking reads of the reply stream (owner only)
        self.buffer_size = buffer
        self.visibility_timeout = visibility_timeout
        self.block = block
        self.max_in_flight = max_in_flight
        self.heartbeat_every = heartbeat
        self.consume = consume
        self.is_owner = is_owner
        self.owner_active = owner_active
        self.fanout = fanout
        self.wall = wall
        self.consumer = bot.process_id
        #: Incoming messages waiting to be appended: (message id, JSON payload).
        self.pending: deque = deque()
        self.dropped = 0
        self.handled = 0
        self.lag: float | None = None
        self.in_flight: dict[str, Deferred] = {}
        self.stale_consumer = STALE_CONSUMER
        #: Stand-ins for the owner's chat services while this process is not the owner.
        self.remote_chats: dict[str, Any] = {}
        self._dropped_logged = -1e9
        self._flushing = False
        self._draining = False
        self._groups_ready = False
        self._reader_wake: Deferred | None = None
        self._replies_wake: Deferred | None = None
        self._replies_running = False
        self._waits: set[Deferred] = set()
        #: Taking messages from the stream is paused (see Bot.hold_input).
        self.input_paused = False
        self._update_state()

    # IBus

    def submit(self, message: Message) -> Deferred:
        """
        Append C{message} to the incoming stream. Fires at once: the message
        is buffered while Redis is unreachable, or, when the buffer is full,
        dropped (counted and logged).
        """
        if message.topic.startswith("chat.") and self.owner_active() and not self.is_owner():
            log.warn("dropped a {topic} line: this process no longer holds the IRC lease",
                     topic=message.topic)
            return succeed(None)
        message_id = uuid.uuid4().hex
        try:
            payload = json.dumps({"id": message_id, "origin": self.consumer, "at": self.wall(),
                                  "message": message.to_dict()}, default=str)
        except (TypeError, ValueError) as e:
            log.error("message on {topic} cannot go on the bus: {error}", topic=message.topic, error=e)
            return succeed(None)
        if len(self.pending) >= self.buffer_size:
            self._drop(message.topic)
            return succeed(None)
        self.pending.append((message_id, payload))
        self._update_state()
        self._flush()
        return succeed(None)

    def submit_many(self, messages: list) -> Deferred:
        """L{submit} each message, in order (each is one stream entry)."""
        for message in messages:
            self.submit(message)
        return succeed(None)

    def broadcast(self, message: Message) -> None:
        """Show C{message} to every process's broadcast observers (this one's at once)."""
        for observer in list(self.bot.broadcast_observers):
            try:
                observer(message)
            except Exception:
                log.failure("broadcast observer {observer!r} failed", observer=observer)
        if self.fanout is not None:
            self.fanout.publish("broadcast", message=message.to_dict())

    # text out

    def outbox(self, network: str, target: str, text: str, kind: str, person: str | None = None) -> Any:
        """
        The bot's outbox: send at once when this process may speak on
        C{network}, else hand the text to the owner through the reply stream.
        """
        if self.is_owner() and self._local(network):
            return self._speak(network, target, text, kind, origin=self.consumer, person=person)
        return self.relay(network, target, text, kind, person)

    def relay(self, network: str, target: str, text: str, kind: str,
              person: str | None = None) -> Deferred:
        """Hand text to the owner through the reply stream (retried while Redis is away)."""
        envelope = reply_envelope(uuid.uuid4().hex, self.consumer, network, target, text, kind, self.wall(),
                                  person)
        payload = json.dumps(envelope)
        return self._reliably(lambda: self._add_once(OUT, envelope["key"], payload),
                              "pass a line for %s to the IRC owner" % (target,))

    def _local(self, network: str) -> bool:
        """This process has the real connection for C{network} (not a stand-in)."""
        service = self.bot.chat_services.get(network)
        return service is not None and not isinstance(service, RemoteChat)

    def _speak(self, network: str, target: str, text: str, kind: str, origin: str | None,
               person: str | None = None) -> Any:
        """Really send (this process owns the chat connection); tell the others."""
        if not self._local(network):
            log.warn("no {network} connection here; dropped a line to {target}", network=network,
                     target=target)
            return None
        result = self.bot._send_local(network, target, text, kind, person)
        if self.fanout is not None:
            self.fanout.publish("sent", sender=origin, network=network, target=target, text=text,
                                sent_kind=kind)
        return result

    # service

    def startService(self) -> None:
        super().startService()
        self.command.connected_observers.append(self._connected)
        for client in (self.command, self.reader, self.replies):
            client.start()
        self.bot.outbox = self.outbox
        self._spawn(self._heartbeat_loop(), "heartbeat")
        if self.consume:
            self._spawn(self._read_loop(), "reader")
            self._spawn(self._claim_loop(), "claimer")
        self.owner_changed()
        self._flush()

    def stopService(self) -> Deferred:
        super().stopService()
        for d in list(self._waits):
            d.cancel()
        self._wake_reader()
        self._wake_replies()
        # Running handlers finish (the plugin timeout bounds them) and the
        # buffer gets a few seconds to drain; then the connections close.
        waits = DeferredList(list(self.in_flight.values()) + [Deferred.fromCoroutine(self._drain(5.0))])

        def close(_):
            if self.pending:
                log.warn("{count} buffered messages were not put on the bus before shutdown",
                         count=len(self.pending))
            return DeferredList([c.stop() for c in (self.reader, self.replies, self.command)])

        return waits.addBoth(close)

    def _spawn(self, coroutine, what: str) -> Deferred:
        d = Deferred.fromCoroutine(coroutine)
        d.addErrback(_quiet_cancel)
        d.addErrback(lambda f: log.failure("bus {what} loop crashed", f, what=what))
        return d

    def _track(self, d: Deferred) -> Deferred:
        """Keep C{d} (a wait) to cancel when the service stops."""
        self._waits.add(d)

        def untrack(result):
            self._waits.discard(d)
            return result

        d.addBoth(untrack)
        return d

    async def _sleep(self, seconds: float) -> None:
        if not self.running and not self._draining:
            raise CancelledError("the bus is stopping")
        await self._track(deferLater(self.reactor, seconds, lambda: None))

    async def _wait_for(self, client, seconds: float) -> None:
        """Wait until C{client} is connected, or C{seconds} at most."""
        if not self.running and not self._draining:
            raise CancelledError("the bus is stopping")
        d = client.when_connected()
        d.addTimeout(seconds, self.reactor, onTimeoutCancel=lambda *_: None)
        # RedisUnavailable: the client was stopped; the caller's loop sees we are stopping.
        with contextlib.suppress(RedisUnavailable):
            await self._track(d)

    def _connected(self) -> None:
        self._spawn(self._ensure_groups(), "group set-up")
        self._flush()

    def owner_changed(self) -> None:
        """Call when this process starts or stops being the IRC owner."""
        if self.running and self.owner_active() and not self._replies_running:
            self._replies_running = True
            self._spawn(self._replies_loop(), "reply")
        self._wake_replies()
        self._update_state()

    # reliability helpers

    async def _retry(self, op: Callable[[], Deferred], what: str) -> Any:
        """Run C{op} until Redis answers it (backing off); gives up once stopped."""
        backoff = Backoff()
        while True:
            try:
                return await op()
            except RedisUnavailable as e:
                if not self.running:
                    raise
                log.debug("retrying to {what}: {error}", what=what, error=e)
                await self._sleep(backoff.next())

    def _reliably(self, op: Callable[[], Deferred], what: str) -> Deferred:
        d = Deferred.fromCoroutine(self._retry(op, what))
        d.addErrback(_quiet_cancel)
        d.addErrback(lambda f: log.error("gave up trying to {what}: {error}", what=what,
                                         error=f.getErrorMessage()))
        return d

    def _add_once(self, stream: str, key: str, payload: str) -> Deferred:
        return self.command.eval(ADD_ONCE, [stream, ADDED + key], [MAX_LEN, KEY_TTL, payload])

    def _drop(self, topic: str) -> None:
        self.dropped += 1
        now = self.reactor.seconds()
        if now - self._dropped_logged >= 10:
            self._dropped_logged = now
            log.error("bus buffer full ({size} messages waiting for Redis): dropped a {topic} message; "
                      "{count} dropped so far", size=self.buffer_size, topic=topic, count=self.dropped)
        self._update_state()

    # the buffer of incoming messages

    def _flush(self) -> None:
        if self._flushing or not self.pending or not (self.running or self._draining):
            return
        self._flushing = True
        self._spawn(self._flush_loop(), "flush")

    async def _flush_loop(self) -> None:
        backoff = Backoff()
        try:
            while self.pending and (self.running or self._draining):
                if not self.command.connected:
                    await self._wait_for(self.command, backoff.next())
                    continue
                batch = list(self.pending)[:64]
                results = await DeferredList(
                    [self._add_once(IN, message_id, payload) for message_id, payload in batch],
                    consumeErrors=True)
                unavailable = False
                for item, (ok, value) in zip(batch, results, strict=False):
                    if ok or not value.check(RedisUnavailable):
                        if not ok:
                            # Refused for good (out of memory, ...): say so, count it.
                            log.error("Redis refused a bus message: {error}", error=value.getErrorMessage())
                            self._drop("refused")
                        with contextlib.suppress(ValueError):
                            self.pending.remove(item)
                    else:
                        unavailable = True
                self._update_state()
                if unavailable:
                    await self._sleep(backoff.next())
                else:
                    backoff.reset()
        finally:
            self._flushing = False

    async def _drain(self, seconds: float) -> None:
        self._draining = True
        try:
            deadline = self.reactor.seconds() + seconds
            self._flush()
            while (self.pending or self._flushing) and self.reactor.seconds() < deadline:
                await self._sleep(0.05)
        finally:
            self._draining = False

    # reading and handling the incoming stream

    async def _ensure_groups(self) -> None:
        import txredisapi
        try:
            for stream, group in ((IN, WORKERS), (OUT, OWNER)):
                try:
                    await self.command.execute("XGROUP", "CREATE", stream, group, "0", "MKSTREAM")
                except txredisapi.ResponseError as e:
                    if "BUSYGROUP" not in str(e):
                        raise
            self._groups_ready = True
            self._wake_reader()
            self._wake_replies()
        except RedisUnavailable:
            pass  # done again on the next connection

    def _wake_reader(self) -> None:
        _wake(self._reader_wake)

    # flow control (Bot.hold_input): the stream feeds this process's handlers

    def pause_input(self) -> None:
        """Take no more messages from the stream (they wait there, or go to other processes)."""
        self.input_paused = True

    def resume_input(self) -> None:
        self.input_paused = False
        self._wake_reader()

    async def _pause_reader(self, seconds: float) -> None:
        self._reader_wake = _wakeable(seconds, self.reactor)
        await self._track(self._reader_wake)

    async def _read_loop(self) -> None:
        import txredisapi
        backoff = Backoff()
        cursor = _GroupCursor()
        while self.running:
            if len(self.in_flight) >= self.max_in_flight or not self._groups_ready or self.input_paused:
                await self._pause_reader(1.0)
                continue
            if not self.reader.connected:
                await self._wait_for(self.reader, backoff.next())
                continue
            start = cursor.start(self.reader.connection)
            try:
                reply = await self.reader.execute(
                    "XREADGROUP", "GROUP", WORKERS, self.consumer,
                    "COUNT", self.max_in_flight - len(self.in_flight),
                    "BLOCK", int(self.block * 1000), "STREAMS", IN, start,
                    timeout=self.block + self.reader.timeout)
            except RedisUnavailable:
                await self._sleep(backoff.next())
                continue
            except txredisapi.ResponseError as e:
                self._read_failed(e, "reading the bus failed: {error}",
                                  "the bus stream is gone (Redis restarted?); setting it up again")
                await self._sleep(backoff.next())
                continue
            backoff.reset()
            found = entries(reply[0][1]) if reply else []
            if not cursor.advance(found):
                continue
            for entry_id, fields in found:
                if entry_id not in self.in_flight:
                    self._start_handling(entry_id, fields, claimed=cursor.history)

    def _read_failed(self, error, message: str, gone: str | None = None) -> None:
        """A stream read failed: set the groups up again when Redis lost them (NOGROUP), else log."""
        if "NOGROUP" in str(error):
            if gone:
                log.warn(gone)
            self._groups_ready = False
            self._spawn(self._ensure_groups(), "group set-up")
        else:
            log.error(message, error=error)

    async def _claim_loop(self) -> None:
        import txredisapi
        every = max(0.5, self.visibility_timeout / 4)
        rounds = 0
        while self.running:
            await self._sleep(every)
            if not self.running or not self.command.connected or not self._groups_ready or self.input_paused:
                continue
            rounds += 1
            if rounds % 100 == 1:
                await self._forget_stale_consumers()
            cursor = "0-0"
            for _ in range(10):  # a bounded amount of work per round
                room = self.max_in_flight - len(self.in_flight)
                if room <= 0:
                    break
                try:
                    reply = await self.command.execute(
                        "XAUTOCLAIM", IN, WORKERS, self.consumer, int(self.visibility_timeout * 1000),
                        cursor, "COUNT", room)
                except (RedisUnavailable, txredisapi.ResponseError) as e:
                    log.debug("claiming stale bus entries failed: {error}", error=e)
                    break
                cursor = reply[0]
                for entry_id, fields in entries(reply[1]):
                    if entry_id not in self.in_flight:
                        log.warn("took over bus entry {entry}, unanswered for {seconds}s",
                                 entry=entry_id, seconds=self.visibility_timeout)
                        self._start_handling(entry_id, fields, claimed=True)
                if cursor == "0-0":
                    break

    async def _forget_stale_consumers(self) -> None:
        """Processes that are long gone leave consumers behind (one per process id): drop them."""
        import txredisapi
        for stream, group in ((IN, WORKERS), (OUT, OWNER)):
            try:
                consumers = await self.command.execute("XINFO", "CONSUMERS", stream, group)
                for flat in consumers or ():
                    info = {flat[i]: flat[i + 1] for i in range(0, len(flat) - 1, 2)}
                    if str(info.get("pending")) == "0" and int(info.get("idle", 0)) > self.stale_consumer \
                            and info.get("name") != self.consumer:
                        await self.command.execute("XGROUP", "DELCONSUMER", stream, group, info["name"])
                        log.info("removed stale bus consumer {name}", name=info["name"])
            except (RedisUnavailable, txredisapi.ResponseError, TypeError, ValueError) as e:
                log.debug("could not tidy bus consumers: {error}", error=e)

    def _start_handling(self, entry_id: str, fields: dict | None, claimed: bool) -> None:
        d = Deferred.fromCoroutine(self._handle(entry_id, fields, claimed))
        d.addErrback(_quiet_cancel)
        d.addErrback(lambda f: log.failure("handling bus entry {entry} failed", f, entry=entry_id))
        self.in_flight[entry_id] = d

        def done(_):
            self.in_flight.pop(entry_id, None)
            self._update_state()
            self._wake_reader()

        d.addBoth(done)

    async def _handle(self, entry_id: str, fields: dict | None, claimed: bool) -> None:
        envelope = self._decode(fields, entry_id)
        if envelope is None or not self._valid_message(envelope):
            if envelope is not None:
                log.error("skipped malformed bus entry {entry}: not a message", entry=entry_id)
            await self._ack(IN, WORKERS, entry_id)
            return
        message_id = envelope["id"]
        if claimed:
            tries = await self._retry(lambda: self.command.execute("INCR", TRIES + message_id),
                                      "count handling attempts")
            self.command.execute("EXPIRE", TRIES + message_id, KEY_TTL).addErrback(lambda f: None)
            if int(tries) > MAX_TRIES:
                log.error("bus message {id} on {topic} was tried {tries} times; giving up on it",
                          id=message_id, topic=envelope["message"]["topic"], tries=tries)
                await self._ack(IN, WORKERS, entry_id)
                return
        message = Message.from_dict(envelope["message"], self.bot)
        if "network" not in message.fields and isinstance(message.fields.get("protocol"), str):
            message.fields["network"] = message.fields["protocol"]  # queued by the release before networks
        at = envelope.get("at")
        if isinstance(at, (int, float)):
            self.lag = max(0.0, self.wall() - at)
        results = await self.bot.dispatcher.publish(message)
        reply = choose_reply(results)
        self.handled += 1
        if self.fanout is not None:
            self.fanout.publish("message", message=message.to_dict())
        if reply is not None:
            await self._reply(message_id, message, reply)
        await self._ack(IN, WORKERS, entry_id)

    def _decode(self, fields: dict | None, entry_id: str) -> dict | None:
        raw = fields.get("m") if fields else None
        try:
            if not isinstance(raw, (str, bytes)):
                raise ValueError("no payload (deleted, or not written by pubbot)")
            if len(raw) > MAX_ENTRY:
                raise ValueError("larger than %d bytes" % MAX_ENTRY)
            envelope = json.loads(raw)
            if not isinstance(envelope, dict):
                raise ValueError("not a JSON object")
            return envelope
        except (TypeError, ValueError) as e:
            log.error("skipped malformed bus entry {entry}: {error}", entry=entry_id, error=e)
            return None

    @staticmethod
    def _valid_message(e: dict) -> bool:
        m = e.get("message")
        return (isinstance(e.get("id"), str) and isinstance(m, dict) and isinstance(m.get("topic"), str)
                and isinstance(m.get("fields", {}), dict))

    @staticmethod
    def _valid_reply(e: dict) -> bool:
        if "network" not in e and isinstance(e.get("protocol"), str):
            e["network"] = e["protocol"]  # written by the release before several networks
        return (isinstance(e.get("key"), str) and isinstance(e.get("network"), str)
                and isinstance(e.get("target"), str) and isinstance(e.get("text"), str)
                and e.get("kind") in ("say", "notice", "action")
                and (e.get("origin") is None or isinstance(e.get("origin"), str)))

    async def _ack(self, stream: str, group: str, *entry_ids: str) -> None:
        """XACK, then XDEL: with one group per stream, an answered entry is of no more use."""
        try:
            await self._retry(lambda: self.command.execute("XACK", stream, group, *entry_ids), "acknowledge")
        except RedisUnavailable:
            log.warn("could not acknowledge {count} bus entries before stopping; they will be handled again",
                     count=len(entry_ids))
            return
        self.command.execute("XDEL", stream, *entry_ids).addErrback(lambda f: None)

    async def _reply(self, message_id: str, message: Message, reply: Reply) -> None:
        network = message.fields.get("network")
        target = message.fields.get("channel")
        if not isinstance(network, str) or not isinstance(target, str):
            log.warn("reply to {topic} has nowhere to go; dropped", topic=message.topic)
            return
        key = message_id + ":reply"
        text = "\n".join(reply.lines)
        if self.is_owner() and self._local(network):
            fresh = await self._mark_sent(key)
            if fresh is None:
                return  # sent before (an earlier attempt at this message)
            # bot.send runs the sent observers, then the outbox; if the lease
            # was lost meanwhile, the outbox passes it on to the new owner.
            self.bot.send(network, target, text, reply.kind, person_of(message))
            return
        envelope = reply_envelope(key, None, network, target, text, reply.kind, self.wall(),
                                  person_of(message))
        payload = json.dumps(envelope)
        await self._retry(lambda: self._add_once(OUT, key, payload), "queue a reply")

    def _mark_sent(self, key: str) -> Deferred:
        """SET NX the reply's key: fires with "OK" the first time only, else None."""
        return Deferred.fromCoroutine(self._retry(
            lambda: self.command.execute("SET", SENT + key, "1", "NX", "EX", KEY_TTL), "mark a reply sent"))

    # the owner: sending what the reply stream carries

    def _wake_replies(self) -> None:
        _wake(self._replies_wake)

    async def _pause_replies(self, seconds: float) -> None:
        self._replies_wake = _wakeable(seconds, self.reactor)
        await self._track(self._replies_wake)

    async def _replies_loop(self) -> None:
        import txredisapi
        backoff = Backoff()
        cursor = _GroupCursor()
        last_claim = -1e9
        try:
            while self.running and self.owner_active():
                if not self._groups_ready:
                    await self._pause_replies(1.0)
                    continue
                if not self.replies.connected:
                    await self._wait_for(self.replies, backoff.next())
                    continue
                start = cursor.start(self.replies.connection)
                try:
                    now = self.reactor.seconds()
                    if now - last_claim >= 1.0:
                        last_claim = now
                        # Replies an earlier owner took but did not get to send.
                        claimed = await self.command.execute(
                            "XAUTOCLAIM", OUT, OWNER, self.consumer, 1000, "0-0", "COUNT", 100)
                        await self._send_replies(entries(claimed[1]))
                    reply = await self.replies.execute(
                        "XREADGROUP", "GROUP", OWNER, self.consumer, "COUNT", 100,
                        "BLOCK", int(self.block * 1000), "STREAMS", OUT, start,
                        timeout=self.block + self.replies.timeout)
                except RedisUnavailable:
                    await self._sleep(backoff.next())
                    continue
                except txredisapi.ResponseError as e:
                    self._read_failed(e, "reading replies failed: {error}")
                    await self._sleep(backoff.next())
                    continue
                backoff.reset()
                found = entries(reply[0][1]) if reply else []
                if cursor.advance(found):
                    await self._send_replies(found)
        finally:
            self._replies_running = False
            if self.running and self.owner_active():
                self.reactor.callLater(1.0, self.owner_changed)

    async def _send_replies(self, found: list) -> None:
        """Send a batch from the reply stream: mark all (SET NX) at once, send the fresh ones, ack all."""
        if not found or not self.is_owner():
            return  # not ours to send any more: the next owner claims them
        batch = []
        for entry_id, fields in found:
            envelope = self._decode(fields, entry_id)
            if envelope is not None and not self._valid_reply(envelope):
                log.error("skipped malformed reply {entry}", entry=entry_id)
                envelope = None
            batch.append((entry_id, envelope))
        marks = await DeferredList([self._mark_sent(e["key"]) for _, e in batch if e is not None],
                                   consumeErrors=True)
        fresh = iter(marks)
        for _entry_id, envelope in batch:
            if envelope is None:
                continue
            ok, mark = next(fresh)
            if not ok:
                return  # stopping: leave them pending for the next owner
            if mark is not None and self.is_owner():
                self._send_reply(envelope)
        await self._ack(OUT, OWNER, *[entry_id for entry_id, _ in batch])

    def _send_reply(self, e: dict) -> None:
        origin = e.get("origin")
        if origin != self.consumer:
            # The process that called bot.send ran its own sent observers.
            for observer in list(self.bot.sent_observers):
                try:
                    observer(e["network"], e["target"], e["text"], e["kind"])
                except Exception:
                    log.failure("sent observer {observer!r} failed", observer=observer)
        try:
            person = e.get("person")
            self._speak(e["network"], e["target"], e["text"], e["kind"], origin=origin,
                        person=person if isinstance(person, str) else None)
        except Exception:
            log.failure("sending a reply to {target} failed", target=e["target"])

    # cluster state

    async def _heartbeat_loop(self) -> None:
        ttl = int(self.heartbeat_every * 3 * 1000)
        while self.running:
            try:
                alive, holder, lag = await self.command.eval(
                    HEARTBEAT, [PROCS, IRC_LEASE, IN], [self.consumer, ttl, WORKERS])
                self._update_state(workers=int(alive), owner=owner_of(holder),
                                   bus_lag=None if int(lag) < 0 else int(lag) / 1000.0, redis="up")
                await self._share_chat_state(ttl, owner_of(holder))
            except RedisUnavailable:
                self._update_state(redis="down")
            except Exception as e:  # a bad reply must not stop the heartbeat
                log.warn("bus heartbeat failed: {error}", error=e)
            await self._sleep(self.heartbeat_every)

    async def _share_chat_state(self, ttl_ms: int, owner: str | None) -> None:
        """The owner publishes its chat services' state; the others update their stand-ins."""
        if self.owner_active():
            state = {network: describe(s) for network, s in list(self.bot.chat_services.items())
                     if not isinstance(s, RemoteChat)}
            await self.command.execute("SET", CHAT_STATE, json.dumps(state, default=str), "PX", ttl_ms)
        elif self.remote_chats:
            raw = await self.command.execute("GET", CHAT_STATE)
            try:
                state = json.loads(raw) if isinstance(raw, str) and len(raw) < MAX_ENTRY else {}
            except ValueError:
                state = {}
            if not isinstance(state, dict):
                state = {}
            for network, remote in self.remote_chats.items():
                remote.update(state.get(network), owner)

    def _update_state(self, **fields: Any) -> None:
        state = self.bot.state.setdefault("cluster", {})
        for name, default in (("owner", None), ("workers", 0), ("bus_lag", None), ("redis", "connecting")):
            state.setdefault(name, default)
        state.update(fields)
        state.update(process=self.consumer, buffered=len(self.pending), dropped=self.dropped,
                     handled=self.handled, in_flight=len(self.in_flight),
                     owner_here=bool(self.owner_active()))
