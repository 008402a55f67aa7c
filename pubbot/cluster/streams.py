"""
The Redis Streams bus: many processes, one bot.

- The IRC owner appends incoming messages to one of L{PARTITIONS} streams,
  C{pubbot:bus:in} and C{pubbot:bus:in:1} ... C{pubbot:bus:in:15}, chosen by
  a hash of the message's network and channel, in batches (one script call
  appends up to L{FLUSH_BATCH} messages, each once: an idempotency key per
  message makes retried appends no-ops).
- Each partition is read by one process at a time: the consuming processes
  share the partitions out through short leases (C{pubbot:bus:part:N}, kept
  up by the heartbeat; each takes its fair share, the number of partitions
  over the number of consuming processes, and gives up what is over it
  between two reads). A process reads all its partitions with one
  XREADGROUP COUNT n, dispatches what it read as one batch
  (C{Dispatcher.dispatch_many}, as the local bus does) and reads a partition
  again only once its batch is finished: so the lines of one channel are
  handled in order, whichever process takes them. It acknowledges a batch
  (XACK, XDEL: one script call) only after its handlers have finished and
  the replies are on their way. A process that takes a partition over first
  claims (XAUTOCLAIM) and handles what its former reader left unacknowledged.
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
import itertools
import json
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from itertools import islice
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, DeferredList, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from ..core.chat import person_of
from ..core.dispatch import choose_reply
from ..core.interfaces import IBus, IInputFlow
from ..core.message import Message, Reply, json_default
from .lease import IRC_LEASE, owner_of
from .redisclient import RedisUnavailable
from .remote import CHAT_STATE, RemoteChat, describe

log = Logger()

IN = "pubbot:bus:in"
#: Streams of incoming messages (partition 0 is C{IN}, as before partitions).
PARTITIONS = 16
#: Leases of the partitions, and the processes that consume (a sorted set).
PART = "pubbot:bus:part:"
CONSUMERS = "pubbot:bus:consumers"
OUT = "pubbot:bus:out"
WORKERS = "workers"
OWNER = "owner"
PROCS = "pubbot:bus:procs"
#: The IRC owner and when it was last heard (JSON), written with its heartbeat.
OWNER_HEARD = "pubbot:bus:owner-heard"
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
#: Most messages the owner appends with one script call.
FLUSH_BATCH = 256
#: Most of those calls under way at once.
FLUSH_AHEAD = 4
#: Most entries read at once, from all of a process's partitions together.
READ_BATCH = 256


def stream_of(partition: int) -> str:
    """The stream of incoming messages of C{partition}."""
    return IN if partition == 0 else "%s:%d" % (IN, partition)


STREAMS = tuple(stream_of(k) for k in range(PARTITIONS))
PART_KEYS = [PART + str(k) for k in range(PARTITIONS)]


def partition_of(message: Message) -> int:
    """
    The partition of C{message}: a hash of its network and channel (so the
    lines of one channel keep their order), else of its topic.
    """
    fields = message.fields
    channel = fields.get("channel")
    if isinstance(channel, str):
        key = "%s\0%s" % (fields.get("network") or fields.get("protocol"), channel.lower())
    else:
        key = message.topic
    return zlib.crc32(key.encode("utf-8", "replace")) % PARTITIONS


#: Append once: set the idempotency key, and XADD only if it was not set.
ADD_ONCE = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[2]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'm', ARGV[3])
end
return false
"""

#: Splits a script argument of several lines (JSON never has a raw newline):
#: one argument for many values keeps the client's command building cheap.
LINES = """
local function lines(text)
  local out = {}
  for line in string.gmatch(text, '[^\\n]+') do out[#out + 1] = line end
  return out
end
"""

#: Append a batch once: KEYS its idempotency key; ARGV the stream length,
#: the ttl, then (as lines) the streams and the payloads. Fires with how many
#: were appended (0: the batch was, before).
ADD_MANY = LINES + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[2]) then return 0 end
local streams, payloads = lines(ARGV[3]), lines(ARGV[4])
for i = 1, #payloads do
  redis.call('XADD', streams[i], 'MAXLEN', '~', ARGV[1], '*', 'm', payloads[i])
end
return 1
"""

#: Mark replies sent, and acknowledge their entries: KEYS the reply stream;
#: ARGV the ttl, the group, then (as lines) the sent keys and the entry ids.
#: Fires with 1 for each key marked the first time, else 0.
MARK_ACK = LINES + """
local keys, ids = lines(ARGV[3]), lines(ARGV[4])
local fresh = {}
for i = 1, #keys do
  if redis.call('SET', keys[i], '1', 'NX', 'EX', ARGV[1]) then fresh[i] = 1 else fresh[i] = 0 end
end
if #ids > 0 then
  redis.call('XACK', KEYS[1], ARGV[2], unpack(ids))
  redis.call('XDEL', KEYS[1], unpack(ids))
end
return fresh
"""

#: Queue replies and acknowledge what they answer, in one step, once: KEYS
#: the reply stream, then the incoming streams; ARGV the reply stream's
#: length, the ttl, the group, the call's idempotency key (a retry of a call
#: that went through does nothing), then the replies as one JSON array (one
#: entry, field C{b}; none when empty), then for each incoming stream (as
#: lines) its entry ids. (A reply queued
#: again when its message is handled again is sent once all the same: the
#: owner marks each reply's key sent before sending it.)
REPLY_ACK = LINES + """
if not redis.call('SET', ARGV[4], '1', 'NX', 'EX', ARGV[2]) then return 0 end
if ARGV[5] ~= '' then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'b', ARGV[5])
end
for i = 2, #KEYS do
  local ids = lines(ARGV[4 + i])
  if #ids > 0 then
    redis.call('XACK', KEYS[i], ARGV[3], unpack(ids))
    redis.call('XDEL', KEYS[i], unpack(ids))
  end
end
return 1
"""

#: The partitions: KEYS[1] the consumers, KEYS[2:] the partition leases;
#: ARGV me, ttl ms, 1 when taking messages. Renews this process's leases,
#: takes free ones up to its fair share; fires with {fair share, held...}.
PARTITION = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = math.max(1, redis.call('ZCARD', KEYS[1]))
local fair = math.ceil((#KEYS - 1) / n)
local out = {fair}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('PEXPIRE', KEYS[i], ttl)
    out[#out + 1] = i - 2
  end
end
if ARGV[3] == '1' then
  for i = 2, #KEYS do
    if #out - 1 >= fair then break end
    if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ttl) then out[#out + 1] = i - 2 end
  end
end
return out
"""

#: Give a partition up (only if still ours).
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: Heartbeat: this process is alive; fires with {alive, lease holder, lag ms}.
HEARTBEAT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local alive = redis.call('ZCARD', KEYS[1])
local holder = redis.call('GET', KEYS[2]) or ''
local lag = -1
for k = 3, #KEYS do
  local oldest = nil
  local pending = redis.pcall('XPENDING', KEYS[k], ARGV[3])
  if type(pending) == 'table' and pending.err == nil and pending[2] then
    oldest = pending[2]
  else
    local groups = redis.pcall('XINFO', 'GROUPS', KEYS[k])
    if type(groups) == 'table' and groups.err == nil then
      for _, g in ipairs(groups) do
        local name, last = nil, nil
        for i = 1, #g, 2 do
          if g[i] == 'name' then name = g[i + 1] end
          if g[i] == 'last-delivered-id' then last = g[i + 1] end
        end
        if name == ARGV[3] and last then
          local nxt = redis.call('XRANGE', KEYS[k], '(' .. last, '+', 'COUNT', 1)
          if nxt[1] then oldest = nxt[1][1] end
        end
      end
    end
  end
  if oldest then lag = math.max(lag, now - tonumber(string.match(oldest, '^(%d+)'))) end
end
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


def _log_reply_failure(failure: Failure, message: Message) -> None:
    log.failure("replying to a message on {topic} failed", failure, topic=message.topic)

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
    process that never handles messages (benchmarks). C{process_id} names
    this process in the cluster (its bot's). The bus is built before its
    bot, which attaches itself (L{attach}) and takes L{outbox} as its outbox.
    """

    name = "redis-bus"

    def __init__(self, reactor, command, reader, replies, *, process_id: str, buffer: int = 10000,
                 visibility_timeout: float = 30.0, block: float = 1.0, max_in_flight: int = 16,
                 heartbeat: float = 2.0, consume: bool = True,
                 is_owner: Callable[[], bool] = lambda: False,
                 owner_active: Callable[[], bool] = lambda: False,
                 fanout: Any = None, wall: Callable[[], float] = time.time,
                 read_batch: int = READ_BATCH, partition_ttl: float | None = None, role: str = "all"):
        #: The bot this bus carries messages for (see L{attach}).
        self.bot: Any = None
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
        self.consumer = process_id
        #: Incoming messages waiting to be appended: [message id, JSON payload,
        #: partition, the tag of the batch it was tried in (None: not yet)].
        self.pending: deque = deque()
        self.dropped = 0
        self.handled = 0
        self.lag: float | None = None
        #: Batches being handled, by number.
        self.in_flight: dict[int, Deferred] = {}
        self.read_batch = read_batch
        #: What this process is in the cluster (all, owner, worker: see L{pubbot.cluster.wiring.Cluster}).
        self.role = role
        self.plugin_versions: dict = {}
        #: (former owner, when it was last heard) after a takeover, until connected: see L{_gap_check}.
        self._gap: tuple | None = None
        self._was_owner = False
        #: Seconds a partition lease lasts unless renewed (by the heartbeat).
        self.partition_ttl = partition_ttl or heartbeat * 3
        #: The partitions this process reads: until when (reactor time) its lease surely holds.
        self.held: dict[int, float] = {}
        #: Partitions just taken (what their former reader left is claimed first),
        #: partitions to give up (once idle), partitions with a batch being handled.
        self.fresh: set[int] = set()
        self.releasing: set[int] = set()
        self.busy: set[int] = set()
        #: Batches of each partition not acknowledged yet.
        self.settling: dict[int, int] = {}
        self.cursors: dict[int, _GroupCursor] = {}
        self._batches = 0
        #: The reader's connection and its client id; the connection of a blocking read under way.
        self._reader_id: tuple = (None, None)
        self._blocked_read: Any = None
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

    # IBus

    def attach(self, bot) -> None:
        """Carry messages for C{bot}, and so does the fan-out (see L{IBus.attach})."""
        self.bot = bot
        if self.fanout is not None:
            self.fanout.attach(bot)
        self._update_state()

    def submit(self, message: Message) -> Deferred:
        """
        Append C{message} to the incoming stream. Fires at once: the message
        is buffered while Redis is unreachable, or, when the buffer is full,
        dropped (counted and logged).
        """
        if message.topic.startswith("chat.") and self.owner_active() and not self.is_owner():
            # Read from the connection while the lease ran out (a frozen owner
            # resuming): the server gave this line to no other process.
            log.info("handing over a {topic} line read as the IRC lease ran out", topic=message.topic)
        message_id = uuid.uuid4().hex
        try:
            payload = json.dumps({"id": message_id, "origin": self.consumer, "at": self.wall(),
                                  "message": message.to_dict()}, default=json_default)
        except (TypeError, ValueError) as e:
            log.error("message on {topic} cannot go on the bus: {error}", topic=message.topic, error=e)
            return succeed(None)
        if len(self.pending) >= self.buffer_size:
            self._drop(message.topic)
            return succeed(None)
        self.pending.append([message_id, payload, partition_of(message), None])
        self._update_state()
        self._flush()
        return succeed(None)

    def submit_many(self, messages: list) -> Deferred:
        """L{submit} each message, in order (each is one stream entry; they are appended in batches)."""
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
        result = self.bot.send_local(network, target, text, kind, person)
        if self.fanout is not None:
            self.fanout.publish("sent", sender=origin, network=network, target=target, text=text,
                                sent_kind=kind)
        return result

    # stand-ins for the owner's chat services

    def add_stand_in(self, network: str, nick: str, protocol: str, command_prefix: str) -> None:
        """Stand in for the owner's chat service on C{network} while this process does not run it."""
        self.remote_chats[network] = RemoteChat(self.bot, network, nick, protocol, command_prefix)

    def stand_in(self) -> None:
        """While the real chat services are not running here, the stand-ins take their place."""
        if self.owner_active():
            return
        for network, remote in self.remote_chats.items():
            self.bot.chat_services.setdefault(network, remote)

    # service

    def startService(self) -> None:
        super().startService()
        from .roles import plugin_versions
        #: The plugins' versions as loaded (their sources may change on disk meanwhile).
        self.plugin_versions = plugin_versions(self.bot)
        self.command.connected_observers.append(self._connected)
        for client in (self.command, self.reader, self.replies):
            client.start()
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

        async def release():
            if self.command.connected:
                from .roles import PROCESSES
                self.command.execute("HDEL", PROCESSES, self.consumer).addErrback(lambda f: None)
            if self.held and self.command.connected:
                try:
                    await self.command.eval(PARTITION, [CONSUMERS] + PART_KEYS, [self.consumer, 1000, 0])
                    for k in list(self.held):
                        await self.command.eval(RELEASE, [PART + str(k)], [self.consumer])
                except Exception as e:
                    log.debug("could not give the bus partitions up: {error}", error=e)
                self.held.clear()

        def close(_):
            if self.pending:
                log.warn("{count} buffered messages were not put on the bus before shutdown",
                         count=len(self.pending))
            return DeferredList([c.stop() for c in (self.reader, self.replies, self.command)])

        waits.addBoth(lambda _: Deferred.fromCoroutine(release()))
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
        active = bool(self.owner_active())
        if active and not self._was_owner and self.running:
            self._spawn(self._note_takeover(), "takeover")
        self._was_owner = active
        if self.running and self.owner_active() and not self._replies_running:
            self._replies_running = True
            self._spawn(self._replies_loop(), "reply")
        self._wake_replies()
        self._update_state()

    async def _note_takeover(self) -> None:
        """Who owned IRC before, and when it was last heard: the start of a possible gap."""
        try:
            raw = await self.command.execute("GET", OWNER_HEARD)
            heard = json.loads(raw) if isinstance(raw, str) and len(raw) < 4096 else None
        except (RedisUnavailable, ValueError):
            return
        if isinstance(heard, dict) and heard.get("owner") not in (None, self.consumer) \
                and isinstance(heard.get("at"), (int, float)):
            self._gap = (str(heard["owner"]), float(heard["at"]))

    def _gap_check(self) -> None:
        """
        Once this new owner's connections are up, log the window in which
        nobody may have been reading IRC: from when the former owner was last
        heard until now. What its connection had read it hands over (when it
        lives to); what the server sent to a dead connection reached no one.
        """
        if self._gap is None:
            return
        services = [s for s in self.bot.chat_services.values() if not getattr(s, "remote", False)]
        if not services or not all(getattr(s, "connected", True) for s in services):
            return
        former, at = self._gap
        self._gap = None
        now = self.wall()
        networks = ", ".join(sorted(getattr(s, "network", "?") for s in services))
        log.warn("IRC ownership moved here from {former}, last heard {seconds:.1f}s before this process "
                 "was connected ({start} to {end} UTC): lines said on {networks} in that window that "
                 "{former} did not hand over reached no process and are unanswered",
                 former=former, seconds=max(0.0, now - at), networks=networks,
                 start=time.strftime("%H:%M:%S", time.gmtime(at)),
                 end=time.strftime("%H:%M:%S", time.gmtime(now)))
        self._update_state(last_gap={"former": former, "from": at, "to": now})

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
        """
        Append what waits in the buffer, in order, L{FLUSH_BATCH} messages per
        script call, up to L{FLUSH_AHEAD} calls under way at once (on one
        connection: Redis runs them in order).
        """
        import txredisapi
        backoff = Backoff()
        try:
            while self.pending and (self.running or self._draining):
                if not self.command.connected:
                    await self._wait_for(self.command, backoff.next())
                    continue
                calls: list = []
                taken = 0
                while taken < len(self.pending) and len(calls) < FLUSH_AHEAD:
                    batch = self._next_batch(taken)
                    taken += len(batch)
                    call = self.command.eval(ADD_MANY, [ADDED + batch[0][3]], [
                        MAX_LEN, KEY_TTL, "\n".join([STREAMS[item[2]] for item in batch]),
                        "\n".join([item[1] for item in batch])])
                    calls.append((len(batch), call))
                unavailable = False
                for count, call in calls:
                    try:
                        await call
                    except RedisUnavailable:
                        # Perhaps appended, perhaps not: the same keys make the retry a no-op for what was.
                        unavailable = True
                    except txredisapi.ResponseError as e:
                        if unavailable:
                            continue
                        # Refused for good (out of memory, ...): say so, count it.
                        log.error("Redis refused {count} bus messages: {error}", count=count, error=e)
                        for _ in range(count):
                            self._drop("refused")
                    if not unavailable:
                        for _ in range(count):
                            self.pending.popleft()
                self._update_state()
                if unavailable:
                    await self._sleep(backoff.next())
                else:
                    backoff.reset()
        finally:
            self._flushing = False

    def _next_batch(self, start: int) -> list:
        """
        The batch of the buffer from C{start}: what was tried together before
        (its idempotency key is the batch's tag), else up to L{FLUSH_BATCH}
        untried messages, tagged now.
        """
        first = self.pending[start]
        if first[3] is not None:
            tag = first[3]
            return list(itertools.takewhile(lambda item: item[3] == tag, islice(self.pending, start, None)))
        batch = list(itertools.takewhile(lambda item: item[3] is None,
                                         islice(self.pending, start, start + FLUSH_BATCH)))
        tag = first[0]
        for item in batch:
            item[3] = tag
        return batch

    async def _drain(self, seconds: float) -> None:
        self._draining = True
        try:
            deadline = self.reactor.seconds() + seconds
            self._flush()
            while (self.pending or self._flushing) and self.reactor.seconds() < deadline:
                await self._sleep(0.05)
        finally:
            self._draining = False

    # reading and handling the incoming streams

    async def _ensure_groups(self) -> None:
        import txredisapi
        try:
            for stream, group in [(s, WORKERS) for s in STREAMS] + [(OUT, OWNER)]:
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
        """Take no more messages from the streams (they wait there, or go to other processes)."""
        self.input_paused = True
        self._spawn(self._balance(), "partitions")

    def resume_input(self) -> None:
        self.input_paused = False
        self._spawn(self._balance(), "partitions")
        self._wake_reader()

    async def _pause_reader(self, seconds: float) -> None:
        self._reader_wake = _wakeable(seconds, self.reactor)
        await self._track(self._reader_wake)

    # the partitions this process reads

    def _taking(self) -> bool:
        return bool(self.running and self.consume and not self.input_paused)

    async def _balance(self) -> None:
        """Renew this process's partitions, take its fair share, mark what is over it for release."""
        if not self.consume or not self.command.connected:
            return
        ttl = int(self.partition_ttl * 1000)
        asked = self.reactor.seconds()
        try:
            reply = await self.command.eval(
                PARTITION, [CONSUMERS] + PART_KEYS,
                [self.consumer, ttl, 1 if self._taking() else 0])
        except RedisUnavailable:
            return
        fair, now_held = int(reply[0]), [int(k) for k in reply[1:]]
        until = asked + self.partition_ttl * 0.8
        for k in list(self.held):
            if k not in now_held:
                log.info("bus partition {k} is no longer this process's", k=k)
                del self.held[k]
                self.releasing.discard(k)
        for k in now_held:
            if k not in self.held:
                self.fresh.add(k)
                self.cursors[k] = _GroupCursor()
            self.held[k] = until
        extra = len(self.held) - (fair if self._taking() else 0)
        for k in sorted(self.held, reverse=True):
            if extra <= 0:
                break
            self.releasing.add(k)
            extra -= 1
        self.bot.state.setdefault("cluster", {})["partitions"] = sorted(self.held)
        self._wake_reader()  # partitions renewed, taken or to give up

    async def _tend(self) -> None:
        """Between two reads: give up released partitions, take over what fresh ones left pending."""
        import txredisapi
        now = self.reactor.seconds()
        for k in sorted(self.releasing):
            if k in self.busy or k in self.settling:
                continue
            self.releasing.discard(k)
            if self.held.pop(k, None) is None:
                continue
            try:
                await self.command.eval(RELEASE, [PART + str(k)], [self.consumer])
            except (RedisUnavailable, txredisapi.ResponseError) as e:
                log.debug("releasing bus partition {k} failed: {error}", k=k, error=e)
        for k in sorted(self.fresh):
            if self.held.get(k, 0) <= now:
                self.fresh.discard(k)
                continue
            try:
                await self._claim(k, 0)
            except (RedisUnavailable, txredisapi.ResponseError) as e:
                log.debug("taking bus partition {k} over failed: {error}", k=k, error=e)
                return
            self.fresh.discard(k)

    async def _claim(self, k: int, idle_ms: int) -> int:
        """Make the entries of partition C{k} pending elsewhere (idle C{idle_ms}) this process's."""
        cursor, claimed = "0-0", 0
        for _ in range(100):  # a bounded amount of work
            reply = await self.command.execute(
                "XAUTOCLAIM", STREAMS[k], WORKERS, self.consumer, idle_ms, cursor, "COUNT", 1000)
            cursor = reply[0]
            claimed += len(reply[1] or ())
            if cursor == "0-0":
                break
        if claimed:
            log.warn("took over {count} unanswered entries of bus partition {k}", count=claimed, k=k)
            self.cursors[k] = _GroupCursor()  # read them again, in order
        return claimed

    def _readable(self) -> list:
        now = self.reactor.seconds()
        return [k for k, until in sorted(self.held.items())
                if until > now and k not in self.busy and k not in self.releasing and k not in self.fresh]

    async def _read_loop(self) -> None:
        import txredisapi
        backoff = Backoff()
        while self.running:
            if self._groups_ready and self.command.connected:
                await self._tend()
            readable = self._readable() if self._groups_ready and not self.input_paused else []
            if not readable or len(self.in_flight) >= self.max_in_flight:
                await self._pause_reader(min(1.0, self.partition_ttl / 3))
                continue
            if not self.reader.connected:
                await self._wait_for(self.reader, backoff.next())
                continue
            connection = self.reader.connection
            starts = [self.cursors[k].start(connection) for k in readable]
            try:
                if self._reader_id[0] is not connection:
                    self._reader_id = (connection, await self.reader.execute("CLIENT", "ID"))
                # While it blocks, a partition whose batch is done is not read:
                # L{_unblock} cuts the wait short then.
                self._blocked_read = connection if self.busy else None
                try:
                    # COUNT is per stream: a read brings read_batch entries at most in all,
                    # so that a batch of slow handlers does not outlast the partition leases.
                    count = max(1, -(-self.read_batch // len(readable)))
                    reply = await self.reader.execute(
                        "XREADGROUP", "GROUP", WORKERS, self.consumer, "COUNT", count,
                        "BLOCK", int(self.block * 1000), "STREAMS", *[STREAMS[k] for k in readable],
                        *starts, timeout=self.block + self.reader.timeout)
                finally:
                    self._blocked_read = None
            except RedisUnavailable:
                await self._sleep(backoff.next())
                continue
            except txredisapi.ResponseError as e:
                self._read_failed(e, "reading the bus failed: {error}",
                                  "the bus stream is gone (Redis restarted?); setting it up again")
                await self._sleep(backoff.next())
                continue
            backoff.reset()
            batch = self._batch_of(reply, readable)
            if batch:
                self._start_batch(batch)

    def _batch_of(self, reply: Any, readable: list) -> list:
        """What one XREADGROUP found, as [(partition, entries, history)], each cursor moved on."""
        read = {}
        for item in reply or ():
            if isinstance(item, list) and len(item) == 2:
                read[item[0]] = entries(item[1])
        batch = []
        for k in readable:
            cursor = self.cursors[k]
            history = cursor.history
            found = read.get(STREAMS[k], [])
            if cursor.advance(found) and found:
                batch.append((k, found, history))
        return batch

    def _unblock(self, again: bool = True) -> None:
        """Cut the reader's blocking read short (CLIENT UNBLOCK), to read a partition just done."""
        connection, client_id = self._reader_id
        if self._blocked_read is None or self._blocked_read is not connection or not self.command.connected:
            return

        def result(unblocked):
            # Not blocked yet (the read is still on its way): try once more, a moment later.
            if again and not unblocked and self._blocked_read is connection:
                self.reactor.callLater(0.002, self._unblock, False)

        d = self.command.execute("CLIENT", "UNBLOCK", client_id)
        d.addCallbacks(result, lambda f: None)

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
        """Entries of this process's partitions left pending too long (by an older release): again."""
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
            for k in self._readable():
                try:
                    await self._claim(k, int(self.visibility_timeout * 1000))
                except (RedisUnavailable, txredisapi.ResponseError) as e:
                    log.debug("claiming stale bus entries failed: {error}", error=e)
                    break

    async def _forget_stale_consumers(self) -> None:
        """Processes that are long gone leave consumers behind (one per process id): drop them."""
        import txredisapi
        for stream, group in [(s, WORKERS) for s in STREAMS] + [(OUT, OWNER)]:
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

    def _start_batch(self, batch: list) -> None:
        """
        Handle what one read found: [(partition, entries, redelivered)]. Its
        partitions are not read again until its handlers are done (the lines
        of a channel are handled in order), nor given up until its replies
        are queued and its entries acknowledged.
        """
        self._batches += 1
        number = self._batches
        partitions = [k for k, _, _ in batch]
        self.busy.update(partitions)
        for k in partitions:
            self.settling[k] = self.settling.get(k, 0) + 1
        handled = [False]

        def free():
            if not handled[0]:
                handled[0] = True
                self.busy.difference_update(partitions)
                self._wake_reader()
                self._unblock()

        d = Deferred.fromCoroutine(self._handle_batch(batch, free))
        d.addErrback(_quiet_cancel)
        d.addErrback(lambda f: log.failure("handling a batch of bus entries failed", f))
        self.in_flight[number] = d
        self._update_state()

        def done(_):
            self.in_flight.pop(number, None)
            for k in partitions:
                self.settling[k] -= 1
                if not self.settling[k]:
                    del self.settling[k]
            free()
            self._update_state()
            self._wake_reader()

        d.addBoth(done)

    async def _handle_batch(self, batch: list, handled: Callable[[], None]) -> None:
        acks: dict[str, list] = {}
        messages: list[Message] = []
        ids: list[str] = []
        raws: list = []
        for k, found, redelivered in batch:
            stream = STREAMS[k]
            for entry_id, fields in found:
                acks.setdefault(stream, []).append(entry_id)
                envelope = self._decode(fields, entry_id)
                if envelope is None or not self._valid_message(envelope):
                    if envelope is not None:
                        log.error("skipped malformed bus entry {entry}: not a message", entry=entry_id)
                    continue
                message_id = envelope["id"]
                if redelivered and not await self._try_again(message_id, envelope):
                    continue
                message = Message.from_dict(envelope["message"], self.bot)
                if "network" not in message.fields and isinstance(message.fields.get("protocol"), str):
                    # queued by the release before networks
                    message.fields["network"] = message.fields["protocol"]
                at = envelope.get("at")
                if isinstance(at, (int, float)):
                    self.lag = max(0.0, self.wall() - at)
                messages.append(message)
                ids.append(message_id)
                raws.append(fields["m"])
        replies = await self._dispatch(messages, ids, raws) if messages else []
        handled()
        await self._reply_many(replies, acks)

    async def _try_again(self, message_id: str, envelope: dict) -> bool:
        """Count one more attempt at a message delivered again; False once it is a poison message."""
        tries = await self._retry(lambda: self.command.execute("INCR", TRIES + message_id),
                                  "count handling attempts")
        self.command.execute("EXPIRE", TRIES + message_id, KEY_TTL).addErrback(lambda f: None)
        if int(tries) > MAX_TRIES:
            log.error("bus message {id} on {topic} was tried {tries} times; giving up on it",
                      id=message_id, topic=envelope["message"]["topic"], tries=tries)
            return False
        return True

    async def _dispatch(self, messages: list, ids: list, raws: list) -> list:
        """
        One batch through the handlers (as the local bus does): fires, once
        every handler is done, with the replies to queue together; those that
        took their time go out as soon as they are known.
        """
        try:
            found = self.bot.dispatcher.dispatch_many(messages)
        except Exception:
            log.failure("dispatching a batch of {count} bus messages failed", count=len(messages))
            found = {}
        self.handled += len(messages)
        if self.fanout is not None:
            for start in range(0, len(raws), 64):
                self.fanout.publish_raw("messages", "envelopes", raws[start:start + 64])
        replies: list = []
        waits: list = []
        for i, results in found.items():
            if isinstance(results, Deferred):
                results.addCallback(choose_reply)
                results.addCallback(self._late_reply, ids[i], messages[i])
                results.addErrback(_log_reply_failure, messages[i])
                waits.append(results)
                continue
            reply = choose_reply(results)
            if reply is not None:
                replies.append((ids[i], messages[i], reply))
        if waits:
            if replies:
                await self._reply_many(replies)  # the quick ones need not wait for the slow
                replies = []
            await DeferredList(waits)
        return replies

    def _late_reply(self, reply: Reply | None, message_id: str, message: Message) -> Any:
        if reply is not None:
            return Deferred.fromCoroutine(self._reply_many([(message_id, message, reply)]))
        return None

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
        return (isinstance(e.get("id"), str) and "\n" not in e["id"] and isinstance(m, dict)
                and isinstance(m.get("topic"), str) and isinstance(m.get("fields", {}), dict))

    @staticmethod
    def _valid_reply(e: dict) -> bool:
        if "network" not in e and isinstance(e.get("protocol"), str):
            e["network"] = e["protocol"]  # written by the release before several networks
        return (isinstance(e.get("key"), str) and "\n" not in e["key"] and isinstance(e.get("network"), str)
                and isinstance(e.get("target"), str) and isinstance(e.get("text"), str)
                and e.get("kind") in ("say", "notice", "action")
                and (e.get("origin") is None or isinstance(e.get("origin"), str)))

    async def _reply(self, message_id: str, message: Message, reply: Reply) -> None:
        await self._reply_many([(message_id, message, reply)])

    async def _reply_many(self, replies: list, acks: dict | None = None) -> None:
        """
        The replies of a batch, [(message id, message, reply)]: sent here (each
        marked sent first) when this process owns the network, else queued for
        the owner, each once (by its key), with the acknowledgement of the
        entries C{acks} ({stream: ids}) in the same script call.
        """
        here: list = []
        payloads: list = []
        for message_id, message, reply in replies:
            network = message.fields.get("network")
            target = message.fields.get("channel")
            if not isinstance(network, str) or not isinstance(target, str):
                log.warn("reply to {topic} has nowhere to go; dropped", topic=message.topic)
                continue
            key = message_id + ":reply"
            text = "\n".join(reply.lines)
            if self.is_owner() and self._local(network):
                here.append((key, network, target, text, reply.kind, person_of(message)))
                continue
            payloads.append(json.dumps(reply_envelope(key, None, network, target, text, reply.kind,
                                                      self.wall(), person_of(message))))
        if here:
            fresh = await self._mark_many([item[0] for item in here])
            for (_key, network, target, text, kind, person), mark in zip(here, fresh, strict=True):
                if mark:
                    # bot.send runs the sent observers, then the outbox; if the lease
                    # was lost meanwhile, the outbox passes it on to the new owner.
                    self.bot.send(network, target, text, kind, person)
        streams = [stream for stream, entry_ids in (acks or {}).items() if entry_ids]
        if not payloads and not streams:
            return
        call = ADDED + uuid.uuid4().hex
        args: list = [MAX_LEN, KEY_TTL, WORKERS, call, "[%s]" % ", ".join(payloads) if payloads else ""]
        args += ["\n".join(acks[stream]) for stream in streams]  # type: ignore[index]
        try:
            await self._retry(lambda: self.command.eval(REPLY_ACK, [OUT] + streams, args),
                              "queue replies and acknowledge")
        except RedisUnavailable:
            if streams:
                log.warn("could not acknowledge {count} bus entries before stopping; they will be handled "
                         "again", count=sum(len(acks[s]) for s in streams))  # type: ignore[index,misc]
            if payloads:
                raise

    async def _mark_many(self, keys: list) -> list:
        """SET NX each reply's key: for each, True the first time only."""
        marks = await self._retry(lambda: self.command.eval(
            MARK_ACK, [OUT], [KEY_TTL, OWNER, "\n".join([SENT + k for k in keys]), ""]),
                                  "mark replies sent")
        return [str(m) == "1" for m in marks]

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
                            "XAUTOCLAIM", OUT, OWNER, self.consumer, 1000, "0-0", "COUNT", 500)
                        await self._send_replies(entries(claimed[1]))
                    reply = await self.replies.execute(
                        "XREADGROUP", "GROUP", OWNER, self.consumer, "COUNT", 500,
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
            for envelope in self._replies_in(fields, entry_id):
                if envelope is not None and not self._valid_reply(envelope):
                    log.error("skipped malformed reply {entry}", entry=entry_id)
                    envelope = None
                batch.append((entry_id, envelope))
        # Replies for a network this process has not connected to yet wait
        # (pending: claimed again every second) until it has; so do the
        # others of their entry.
        waiting = {entry_id for entry_id, e in batch if e is not None and not self._ready(e["network"])}
        if waiting:
            log.debug("{count} reply entries wait for their network's connection", count=len(waiting))
            batch = [item for item in batch if item[0] not in waiting]
            if not batch:
                return
        keys = [SENT + e["key"] for _, e in batch if e is not None]
        try:
            # Marked and acknowledged at once (a reply marked sent would not be sent again anyway).
            ids = "\n".join(dict.fromkeys(entry_id for entry_id, _ in batch))
            marks = await self._retry(lambda: self.command.eval(
                MARK_ACK, [OUT], [KEY_TTL, OWNER, "\n".join(keys), ids]), "mark replies sent")
        except (RedisUnavailable, CancelledError):
            return  # stopping: leave them pending for the next owner
        fresh = iter(marks)
        for _entry_id, envelope in batch:
            if envelope is None:
                continue
            if str(next(fresh)) == "1" and self.is_owner():
                self._send_reply(envelope)

    def _replies_in(self, fields: dict | None, entry_id: str) -> list:
        """The replies in a reply-stream entry: one (field m) or a batch's (b); [None] if unreadable."""
        if not fields or "b" not in fields:
            return [self._decode(fields, entry_id)]
        raw = fields["b"]
        try:
            if not isinstance(raw, str) or len(raw) > MAX_ENTRY:
                raise ValueError("not a string of at most %d bytes" % MAX_ENTRY)
            envelopes = json.loads(raw)
            if not isinstance(envelopes, list) or not envelopes:
                raise ValueError("not a list of replies")
        except ValueError as e:
            log.error("skipped malformed bus entry {entry}: {error}", entry=entry_id, error=e)
            return [None]
        return [e if isinstance(e, dict) else None for e in envelopes]

    def _ready(self, network: str) -> bool:
        """False while this process's own connection to C{network} is not up (yet)."""
        service = self.bot.chat_services.get(network)
        if service is None or getattr(service, "remote", False):
            return True  # not a network of ours: L{_speak} says so
        return getattr(service, "connected", True) is not False

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
                if self.consume:
                    await self._balance()
                alive, holder, lag = await self.command.eval(
                    HEARTBEAT, [PROCS, IRC_LEASE, *STREAMS], [self.consumer, ttl, WORKERS])
                self._update_state(workers=int(alive), owner=owner_of(holder),
                                   bus_lag=None if int(lag) < 0 else int(lag) / 1000.0, redis="up")
                await self._share_chat_state(ttl, owner_of(holder))
                await self._share_description(ttl)
            except RedisUnavailable:
                self._update_state(redis="down")
            except Exception as e:  # a bad reply must not stop the heartbeat
                log.warn("bus heartbeat failed: {error}", error=e)
            await self._sleep(self.heartbeat_every)

    async def _share_description(self, ttl_ms: int) -> None:
        """Say what this process is (role, plugin versions), and learn what the others are."""
        from .roles import PROCESSES, description, plugin_versions, read_descriptions
        self.plugin_versions = plugin_versions(self.bot)  # a reloaded plugin shows its new version
        now = self.wall()
        await self.command.execute("HSET", PROCESSES, self.consumer, description(self, now + ttl_ms / 1000.0))
        live, gone = read_descriptions(await self.command.execute("HGETALL", PROCESSES), now)
        if gone:
            await self.command.execute("HDEL", PROCESSES, *gone)
        self._update_state(processes=live)

    async def _share_chat_state(self, ttl_ms: int, owner: str | None) -> None:
        """The owner publishes its chat services' state; the others update their stand-ins."""
        if self.owner_active() and self.is_owner():
            self._gap_check()
            heard = json.dumps({"owner": self.consumer, "at": self.wall()})
            await self.command.execute("SET", OWNER_HEARD, heard)
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
                     handled=self.handled, in_flight=len(self.in_flight), consumes=self.consume,
                     role=self.role,
                     owner_here=bool(self.owner_active()))
