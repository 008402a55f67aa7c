"""
The L{IStore} on Redis, shared by every process of a scaled-out bot.

Each store key is the Redis key C{pubbot:store:<key>} (so bus keys never
mix with plugin keys); strings and hash fields hold the value as JSON, set
members are plain strings. Expiry is Redis's own (millisecond precision).
"""

from __future__ import annotations

import math
import os
from typing import Any

from twisted.internet.defer import Deferred, gatherResults, succeed
from zope.interface import implementer

from ..core.interfaces import IClosable, IStore, IStoreImport
from . import decode, encode, wrong_type

#: Prefix of every store key in Redis.
PREFIX = "pubbot:store:"

_TYPE_NAMES = {"string": "string", "set": "set", "hash": "hash"}


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


def _ms(ttl: float) -> int:
    return max(0, int(math.ceil(ttl * 1000)))


@implementer(IStore, IClosable)
class RedisStore:
    """
    An IStore over a L{pubbot.cluster.redisclient.RedisClient}. While Redis is down,
    calls fail with L{pubbot.cluster.redisclient.RedisUnavailable}; using a key as
    another type fails with TypeError, as in every IStore.
    """

    kind = "redis"

    def __init__(self, client, prefix: str = PREFIX):
        self.client = client
        self.prefix = prefix

    def _k(self, key: str) -> str:
        return self.prefix + key

    def close(self) -> Deferred | None:
        """Close the store's Redis connection (after the plugins have stopped)."""
        return self.client.stop()

    def _typed(self, d: Deferred, key: str, want: str) -> Deferred:
        """Turn Redis's WRONGTYPE error into the store's TypeError."""
        import txredisapi

        def wrong(f):
            f.trap(txredisapi.ResponseError)
            text = str(f.value)
            if text.startswith("WRONGTYPE"):
                return self.client.execute("TYPE", self._k(key)).addCallback(
                    lambda have: _raise(wrong_type(key, want, str(_TYPE_NAMES.get(have, have)))))
            if "not an integer" in text or "not a valid" in text:
                return _raise(TypeError("key %r does not hold an integer" % (key,)))
            return f

        return d.addErrback(wrong)

    # IStore

    def get(self, key: str) -> Deferred:
        d = self.client.execute("GET", self._k(key))
        d.addCallback(lambda v: None if v is None else decode(v))
        return self._typed(d, key, "string")

    def set(self, key: str, value: Any, ttl: float | None = None) -> Deferred:
        text = encode(value)
        if ttl is None:
            d = self.client.execute("SET", self._k(key), text)
        elif _ms(ttl) <= 0:
            d = self.client.execute("DEL", self._k(key))
        else:
            d = self.client.execute("SET", self._k(key), text, "PX", _ms(ttl))
        return d.addCallback(lambda _: None)

    def delete(self, key: str) -> Deferred:
        return self.client.execute("DEL", self._k(key)).addCallback(lambda n: n > 0)

    def incr(self, key: str, amount: int = 1) -> Deferred:
        d = self.client.execute("INCRBY", self._k(key), int(amount))
        return self._typed(d, key, "integer").addCallback(int)

    def expire(self, key: str, ttl: float) -> Deferred:
        # PEXPIRE with 0 deletes the key at once, like an already-past expiry.
        d = self.client.execute("PEXPIRE", self._k(key), _ms(ttl))
        return d.addCallback(lambda n: n == 1)

    def sadd(self, key: str, *members: str) -> Deferred:
        if not members:
            return self._check_type(key, "set").addCallback(lambda _: 0)
        d = self.client.execute("SADD", self._k(key), *members)
        return self._typed(d, key, "set").addCallback(int)

    def srem(self, key: str, *members: str) -> Deferred:
        if not members:
            return self._check_type(key, "set").addCallback(lambda _: 0)
        d = self.client.execute("SREM", self._k(key), *members)
        return self._typed(d, key, "set").addCallback(int)

    def smembers(self, key: str) -> Deferred:
        d = self.client.execute("SMEMBERS", self._k(key))
        return self._typed(d, key, "set").addCallback(lambda v: set(v or ()))

    def hset(self, key: str, field: str, value: Any) -> Deferred:
        d = self.client.execute("HSET", self._k(key), field, encode(value))
        return self._typed(d, key, "hash").addCallback(lambda _: None)

    def hget(self, key: str, field: str) -> Deferred:
        d = self.client.execute("HGET", self._k(key), field)
        d.addCallback(lambda v: None if v is None else decode(v))
        return self._typed(d, key, "hash")

    def hdel(self, key: str, *fields: str) -> Deferred:
        if not fields:
            return self._check_type(key, "hash").addCallback(lambda _: 0)
        d = self.client.execute("HDEL", self._k(key), *fields)
        return self._typed(d, key, "hash").addCallback(int)

    def hgetall(self, key: str) -> Deferred:
        d = self.client.execute("HGETALL", self._k(key))

        def pairs(flat):
            flat = flat or []
            return {flat[i]: decode(flat[i + 1]) for i in range(0, len(flat), 2)}

        return self._typed(d, key, "hash").addCallback(pairs)

    def hincr(self, key: str, field: str, amount: int = 1) -> Deferred:
        d = self.client.execute("HINCRBY", self._k(key), field, int(amount))

        def not_integer(f):
            if f.check(TypeError) and "does not hold an integer" in str(f.value):
                raise TypeError("hash field %r of %r is not an integer" % (field, key))
            return f

        return self._typed(d, key, "hash").addCallbacks(int, not_integer)

    def keys(self, prefix: str = "") -> Deferred:
        pattern = _glob_escape(self._k(prefix)) + "*"
        found: set = set()
        cut = len(self.prefix)

        def page(reply):
            cursor, batch = reply
            found.update(k[cut:] for k in batch or ())
            if str(cursor) == "0":
                return sorted(found)
            return scan(cursor)

        def scan(cursor):
            return self.client.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 500).addCallback(page)

        return scan(0)

    def _check_type(self, key: str, want: str) -> Deferred:
        def check(have):
            if have not in ("none", want):
                raise wrong_type(key, want, _TYPE_NAMES.get(have, have))
            return None
        return self.client.execute("TYPE", self._k(key)).addCallback(check)

    # export and import

    def scan(self, cursor: str | None = None, count: int = 100) -> Deferred:
        pattern = _glob_escape(self.prefix) + "*"
        cut = len(self.prefix)

        def described(found, next_cursor):
            flat = found or []
            entries = []
            for i in range(0, len(flat), 3):
                key, kind, when = flat[i:i + 3]
                if kind in _TYPE_NAMES and int(when) != -2:
                    entries.append((key[cut:], kind, None if int(when) < 0 else int(when) / 1000.0))
            return next_cursor, entries

        def page(reply):
            next_cursor, batch = reply
            next_cursor = None if str(next_cursor) == "0" else str(next_cursor)
            if not batch:
                return next_cursor, []
            d = self.client.eval(_DESCRIBE, keys=list(batch))
            return d.addCallback(described, next_cursor)

        d = self.client.execute("SCAN", cursor or 0, "MATCH", pattern, "COUNT", max(1, count))
        return d.addCallback(page)

    def scan_items(self, key: str, kind: str, cursor: str | None = None, count: int = 100) -> Deferred:
        if kind == "string":
            d = self.client.execute("GET", self._k(key))
            return self._typed(d, key, kind).addCallback(lambda v: (None, [] if v is None else [v]))
        command = {"set": "SSCAN", "hash": "HSCAN"}[kind]
        d = self.client.execute(command, self._k(key), cursor or 0, "COUNT", max(1, count))

        def page(reply):
            next_cursor, flat = reply
            flat = flat or []
            items = list(flat) if kind == "set" else [(flat[i], flat[i + 1]) for i in range(0, len(flat), 2)]
            return (None if str(next_cursor) == "0" else str(next_cursor)), items

        return self._typed(d, key, kind).addCallback(page)

    def begin_import(self) -> Deferred:
        return succeed(RedisImport(self))


#: Describe a page of keys: type and absolute expiry (ms; -1 none, -2 gone) of each.
_DESCRIBE = """
local out = {}
for _, k in ipairs(KEYS) do
  out[#out + 1] = k
  out[#out + 1] = redis.call('TYPE', k)['ok']
  local ok, when = pcall(redis.call, 'PEXPIRETIME', k)
  if not ok then
    local ttl = redis.call('PTTL', k)
    if ttl < 0 then when = ttl else
      local t = redis.call('TIME')
      when = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + ttl
    end
  end
  out[#out + 1] = when
end
return out
"""

#: Make an import's staged keys live, atomically (a script runs alone):
#: ARGV staging prefix, its glob, the store's prefix, its glob, "1" to replace.
_SWITCH = """
local staging, staged, live, lives, replace = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if replace == '1' then
  for _, k in ipairs(redis.call('KEYS', lives)) do redis.call('DEL', k) end
end
local made = 0
for _, k in ipairs(redis.call('KEYS', staged)) do
  redis.call('RENAME', k, live .. string.sub(k, #staging + 1))
  made = made + 1
end
return made
"""


@implementer(IStoreImport)
class RedisImport:
    """
    Staged under a prefix of its own, C{<store prefix>-import:<token>:} (so
    C{pubbot:store-import:...:}, outside the store's keys), then renamed
    into the store by one Lua script: Redis runs it alone, so readers see
    all of the import or none. Expiries are Redis's own (PEXPIREAT) from
    the start. An import killed outright leaves its staging keys behind
    (delete C{pubbot:store-import:*} by hand); one that fails drops them.
    """

    def __init__(self, store: RedisStore):
        self._store: RedisStore | None = store
        self.client = store.client
        self.live = store.prefix
        self.prefix = "%s-import:%s:" % (store.prefix.rstrip(":"), os.urandom(8).hex())

    def add(self, records) -> Deferred:
        if self._store is None:
            return _finished()
        calls = []
        for key, kind, expires, items, fresh in records:
            k = self.prefix + key
            if fresh or kind == "string":
                calls.append(self.client.execute("DEL", k))
            if kind == "string":
                calls.append(self.client.execute("SET", k, items[-1]))
            elif kind == "set":
                calls.append(self.client.execute("SADD", k, *items))
            else:
                calls.append(self.client.execute("HSET", k, *[x for pair in items for x in pair]))
            if expires is not None:
                calls.append(self.client.execute("PEXPIREAT", k, int(round(expires * 1000))))
        return gatherResults(calls, consumeErrors=True).addCallbacks(
            lambda _: None, lambda f: f.value.subFailure)

    def commit(self, replace: bool = False) -> Deferred:
        if self._store is None:
            return _finished()
        self._store = None
        d = self.client.eval(_SWITCH, args=[self.prefix, _glob_escape(self.prefix) + "*", self.live,
                                            _glob_escape(self.live) + "*", "1" if replace else "0"])
        return d.addCallback(int)

    def abort(self) -> Deferred:
        self._store = None
        return Deferred.fromCoroutine(self._drop())

    async def _drop(self) -> None:
        cursor: Any = 0
        pattern = _glob_escape(self.prefix) + "*"
        while True:
            cursor, batch = await self.client.execute("SCAN", cursor, "MATCH", pattern, "COUNT", 500)
            if batch:
                await self.client.execute("DEL", *batch)
            if str(cursor) == "0":
                return


def _finished() -> Deferred:
    from twisted.internet.defer import fail
    return fail(RuntimeError("this import is finished"))


def _raise(e: Exception) -> Deferred:
    raise e

