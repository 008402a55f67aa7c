"""An in-memory L{IStore}, for tests and for bots that need no persistence."""

from __future__ import annotations

import copy
from typing import Any

from twisted.internet.defer import Deferred, succeed
from zope.interface import implementer

from ..core.interfaces import IStore, IStoreImport
from . import Encoded, decode, encode, wrong_type


def _own(value: Any) -> Any:
    """A copy of C{value} for the store to keep (an L{Encoded} one decoded)."""
    return decode(value.text) if type(value) is Encoded else copy.deepcopy(value)


@implementer(IStore)
class MemoryStore:
    """Everything in dicts; expiry follows the injected C{clock}."""

    kind = "memory"

    def __init__(self, clock):
        self._clock = clock
        self._data: dict[str, tuple[str, Any]] = {}
        self._expires: dict[str, float] = {}

    def _live(self, key: str) -> tuple[str, Any] | None:
        when = self._expires.get(key)
        if when is not None and when <= self._clock.seconds():
            self._data.pop(key, None)
            del self._expires[key]
        return self._data.get(key)

    def _typed(self, key: str, kind: str, create=None) -> Any:
        entry = self._live(key)
        if entry is None:
            if create is None:
                return None
            self._data[key] = (kind, create())
            return self._data[key][1]
        if entry[0] != kind:
            raise wrong_type(key, kind, entry[0])
        return entry[1]

    def _run(self, fn, *args) -> Deferred:
        try:
            return succeed(fn(*args))
        except Exception as e:  # delivered as a failed Deferred
            from twisted.internet.defer import fail
            return fail(e)

    def get(self, key: str) -> Deferred:
        return self._run(lambda: copy.deepcopy(self._typed(key, "string")))

    def set(self, key: str, value: Any, ttl: float | None = None) -> Deferred:
        def do():
            self._data[key] = ("string", _own(value))
            self._expires.pop(key, None)
            if ttl is not None:
                self._expires[key] = self._clock.seconds() + ttl
        return self._run(do)

    def delete(self, key: str) -> Deferred:
        def do():
            existed = self._live(key) is not None
            self._data.pop(key, None)
            self._expires.pop(key, None)
            return existed
        return self._run(do)

    def incr(self, key: str, amount: int = 1) -> Deferred:
        def do():
            entry = self._live(key)
            if entry is not None and (entry[0] != "string" or not isinstance(entry[1], int)):
                raise wrong_type(key, "integer", entry[0])
            value = (entry[1] if entry else 0) + amount
            self._data[key] = ("string", value)
            return value
        return self._run(do)

    def expire(self, key: str, ttl: float) -> Deferred:
        def do():
            if self._live(key) is None:
                return False
            self._expires[key] = self._clock.seconds() + ttl
            return True
        return self._run(do)

    def sadd(self, key: str, *members: str) -> Deferred:
        def do():
            s = self._typed(key, "set", set)
            before = len(s)
            s.update(members)
            return len(s) - before
        return self._run(do)

    def srem(self, key: str, *members: str) -> Deferred:
        def do():
            s = self._typed(key, "set")
            if not s:
                return 0
            before = len(s)
            s.difference_update(members)
            if not s:
                self._data.pop(key)
            return before - len(s)
        return self._run(do)

    def smembers(self, key: str) -> Deferred:
        return self._run(lambda: set(self._typed(key, "set") or ()))

    def hset(self, key: str, field: str, value: Any) -> Deferred:
        def do():
            self._typed(key, "hash", dict)[field] = _own(value)
        return self._run(do)

    def hget(self, key: str, field: str) -> Deferred:
        return self._run(lambda: copy.deepcopy((self._typed(key, "hash") or {}).get(field)))

    def hdel(self, key: str, *fields: str) -> Deferred:
        def do():
            h = self._typed(key, "hash")
            if not h:
                return 0
            removed = sum(1 for f in fields if h.pop(f, None) is not None)
            if not h:
                self._data.pop(key)
            return removed
        return self._run(do)

    def hgetall(self, key: str) -> Deferred:
        return self._run(lambda: copy.deepcopy(self._typed(key, "hash") or {}))

    def hincr(self, key: str, field: str, amount: int = 1) -> Deferred:
        def do():
            h = self._typed(key, "hash", dict)
            current = h.get(field, 0)
            if not isinstance(current, int):
                raise TypeError("hash field %r of %r is not an integer" % (field, key))
            h[field] = current + amount
            return h[field]
        return self._run(do)

    def keys(self, prefix: str = "") -> Deferred:
        return self._run(lambda: sorted(k for k in list(self._data)
                                        if k.startswith(prefix) and self._live(k) is not None))

    def scan(self, cursor: str | None = None, count: int = 100) -> Deferred:
        def do():
            live = sorted(k for k in list(self._data)
                          if (cursor is None or k > cursor) and self._live(k) is not None)
            page = live[:max(1, count)]
            entries = [(k, self._data[k][0], self._expires.get(k)) for k in page]
            return (page[-1] if len(live) > len(page) else None), entries
        return self._run(do)

    def scan_items(self, key: str, kind: str, cursor: Any | None = None, count: int = 100) -> Deferred:
        def do():
            value = self._typed(key, kind)
            if value is None:
                return None, []
            if kind == "string":
                return None, [encode(value)]
            if kind == "set":
                items: list = sorted(m for m in value if cursor is None or m > cursor)
            else:
                items = sorted((f, encode(v)) for f, v in value.items() if cursor is None or f > cursor)
            page = items[:max(1, count)]
            last = page[-1] if kind == "set" else (page[-1][0] if page else None)
            return (last if len(items) > len(page) else None), page
        return self._run(do)

    def begin_import(self) -> Deferred:
        return succeed(MemoryImport(self))


@implementer(IStoreImport)
class MemoryImport:
    """A L{MemoryStore}'s staging area: dicts of its own, swapped in by L{commit}."""

    def __init__(self, store: MemoryStore):
        self._store: MemoryStore | None = store
        self._data: dict[str, tuple[str, Any]] = {}
        self._expires: dict[str, float | None] = {}

    def add(self, records) -> Deferred:
        def do():
            if self._store is None:
                raise RuntimeError("this import is finished")
            for key, kind, expires, items, fresh in records:
                entry = self._data.get(key)
                if fresh or entry is None or entry[0] != kind or kind == "string":
                    empty: Any = None if kind == "string" else set() if kind == "set" else {}
                    entry = self._data[key] = (kind, empty)
                if kind == "string":
                    self._data[key] = (kind, decode(items[-1]))
                elif kind == "set":
                    entry[1].update(items)
                else:
                    entry[1].update((f, decode(t)) for f, t in items)
                self._expires[key] = expires
        return self._store._run(do) if self._store is not None else _closed()

    def commit(self, replace: bool = False) -> Deferred:
        store = self._store
        if store is None:
            return _closed()
        self._store = None
        now = store._clock.seconds()
        if replace:
            store._data.clear()
            store._expires.clear()
        made = 0
        for key, entry in self._data.items():
            when = self._expires.get(key)
            store._data.pop(key, None)
            store._expires.pop(key, None)
            if when is not None and when <= now:
                continue
            store._data[key] = entry
            if when is not None:
                store._expires[key] = when
            made += 1
        return succeed(made)

    def abort(self) -> Deferred:
        self._store = None
        self._data.clear()
        return succeed(None)


def _closed() -> Deferred:
    from twisted.internet.defer import fail
    return fail(RuntimeError("this import is finished"))
