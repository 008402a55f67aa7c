"""
The channel log in Redis, shared by every process: an inverted index in
sorted sets, written and read by Lua scripts (each one atomic).

Keys (C{P} is L{PREFIX}, C{place} is C{network/#channel}, folded):

 - C{P seq}: the line ids' counter;
 - C{P place :lines}: hash, id -> the line as JSON (with its words);
 - C{P place :time}: sorted set of ids by time (retention, and the newest);
 - C{P place :w: word}: sorted set of ids by time, per word;
 - C{P place :n: nick}: sorted set of ids by time, per folded nick (C{!last});
 - C{P p: person}: sorted set of C{place|id} by time (C{!nolog} removes them);
 - C{P places}: the set of places (for pruning).

A search intersects the word sets of the place (C{ZINTER}, Redis 6.2 or
later) and reads the newest C{limit} lines. Limits: words only (lower-cased
runs of letters and digits, Python's C{\\w}; no prefixes or phrases), the
first L{pubbot.chatlogs.MAX_LINE_WORDS} distinct words of a line are
indexed, and a search's work grows with the lines holding its rarest word
within the retention period (Redis runs one script at a time, so a search
over a huge log delays the other processes' Redis calls by as much).
The opt-out set is checked inside the write script, so a line written by
any process after a C{!nolog} is not kept.
"""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from . import ILogIndex, words

PREFIX = "pubbot:logs:"
#: Lines removed by one script run, at most.
BATCH = 500

_ADD = """
local prefix, optout, place, t = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local line, nick, person = ARGV[5], ARGV[6], ARGV[7]
if person ~= '' and redis.call('SISMEMBER', optout, person) == 1 then return 0 end
local id = redis.call('INCR', prefix .. 'seq')
local p = prefix .. place .. ':'
redis.call('HSET', p .. 'lines', id, line)
redis.call('ZADD', p .. 'time', t, id)
if nick ~= '' then redis.call('ZADD', p .. 'n:' .. nick, t, id) end
if person ~= '' then redis.call('ZADD', prefix .. 'p:' .. person, t, place .. '|' .. id) end
for i = 8, #ARGV do redis.call('ZADD', p .. 'w:' .. ARGV[i], t, id) end
redis.call('SADD', prefix .. 'places', place)
return 1
"""

_REMOVE = """
local function remove(prefix, place, id)
  local p = prefix .. place .. ':'
  local text = redis.call('HGET', p .. 'lines', id)
  if text then
    local line = cjson.decode(text)
    for _, w in ipairs(line.w) do redis.call('ZREM', p .. 'w:' .. w, id) end
    if line.n ~= '' then redis.call('ZREM', p .. 'n:' .. line.n, id) end
    if line.p ~= '' then redis.call('ZREM', prefix .. 'p:' .. line.p, place .. '|' .. id) end
    redis.call('HDEL', p .. 'lines', id)
  end
  redis.call('ZREM', p .. 'time', id)
end
"""

_PRUNE = _REMOVE + """
local prefix, place, before, batch = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local ids = redis.call('ZRANGEBYSCORE', prefix .. place .. ':time', '-inf', '(' .. before, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do remove(prefix, place, id) end
if redis.call('ZCARD', prefix .. place .. ':time') == 0 then redis.call('SREM', prefix .. 'places', place) end
return #ids
"""

_FORGET = _REMOVE + """
local prefix, person, batch = ARGV[1], ARGV[2], tonumber(ARGV[3])
local members = redis.call('ZRANGE', prefix .. 'p:' .. person, 0, batch - 1)
for _, m in ipairs(members) do
  local place, id = string.match(m, '^(.*)|(%d+)$')
  if place then remove(prefix, place, id) end
  redis.call('ZREM', prefix .. 'p:' .. person, m)
end
return #members
"""

_SEARCH = """
local prefix, place, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local p = prefix .. place .. ':'
local keys = {}
for i = 4, #ARGV do keys[#keys + 1] = p .. ARGV[i] end
local ids
if #keys == 1 then
  ids = redis.call('ZREVRANGE', keys[1], 0, limit - 1)
else
  local all = redis.call('ZINTER', #keys, unpack(keys))
  ids = {}
  for i = #all, math.max(1, #all - limit + 1), -1 do ids[#ids + 1] = all[i] end
end
if #ids == 0 then return {} end
return redis.call('HMGET', p .. 'lines', unpack(ids))
"""


def _place(network: str, channel: str) -> str:
    return "%s/%s" % (network, channel.lower())


def _decode(found: Any) -> list[dict]:
    out = []
    for text in found or ():
        if text is None:
            continue
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        line = json.loads(text)
        out.append({"time": line["t"], "kind": line["k"], "nick": line["nick"], "text": line["x"]})
    return out


@implementer(ILogIndex)
class RedisLogIndex:
    kind = "redis"

    def __init__(self, client: Any, optout_key: str, prefix: str = PREFIX):
        self.client = client
        self.optout_key = optout_key
        self.prefix = prefix

    async def _add(self, lines: list) -> int:
        written = 0
        for ln in lines:
            found = words(ln.get("text") or "")
            nick = ln["nick"].lower() if ln["kind"] in ("say", "action") else ""
            person = ln.get("person") or ""
            record = json.dumps({"t": ln["time"], "k": ln["kind"], "nick": ln["nick"],
                                 "x": ln.get("text") or "", "w": found, "n": nick, "p": person},
                                separators=(",", ":"))
            written += await self.client.eval(_ADD, args=[
                self.prefix, self.optout_key, _place(ln["network"], ln["channel"]), repr(float(ln["time"])),
                record, nick, person, *found])
        return written

    def add(self, lines: list) -> Deferred:
        return Deferred.fromCoroutine(self._add(lines))

    def search(self, network: str, channel: str, words: list, limit: int) -> Deferred:
        d = self.client.eval(_SEARCH, args=[self.prefix, _place(network, channel), limit,
                                            *["w:" + w for w in words]])
        return d.addCallback(_decode)

    def last(self, network: str, channel: str, nick: str, limit: int) -> Deferred:
        d = self.client.eval(_SEARCH, args=[self.prefix, _place(network, channel), limit,
                                            "n:" + nick.lower()])
        return d.addCallback(lambda found: [ln for ln in _decode(found) if ln["kind"] in ("say", "action")])

    async def _repeat(self, script: str, args: list) -> int:
        total = 0
        while True:
            count = await self.client.eval(script, args=args)
            total += count
            if count < BATCH:
                return total

    def forget(self, person: str) -> Deferred:
        if not person:
            return succeed(0)
        return Deferred.fromCoroutine(self._repeat(_FORGET, [self.prefix, person, BATCH]))

    async def _prune(self, before: float) -> int:
        places = await self.client.execute("SMEMBERS", self.prefix + "places")
        total = 0
        for place in sorted(places or ()):
            if isinstance(place, bytes):
                place = place.decode("utf-8")
            total += await self._repeat(_PRUNE, [self.prefix, place, repr(float(before)), BATCH])
        return total

    def prune(self, before: float) -> Deferred:
        return Deferred.fromCoroutine(self._prune(before))

    def close(self) -> None:
        pass
