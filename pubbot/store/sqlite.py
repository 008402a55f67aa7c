"""The embedded default L{IStore}: one SQLite file, used from one thread."""

from __future__ import annotations

import contextlib
import itertools
import sqlite3
from collections import deque
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from ..core.interfaces import ICheckedStore, IClosable, IStore, IStoreImport
from . import decode, encode, wrong_type

log = Logger()

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (key TEXT PRIMARY KEY, type TEXT NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS strings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sets (key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, member));
CREATE TABLE IF NOT EXISTS hashes (key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL,
                                   PRIMARY KEY (key, field));
"""


#: Most calls run in one transaction (one batch).
BATCH = 1000
#: SQLite's page cache, KiB (its default is 2000). The store is written far
#: more than read (what plugins read often they keep in memory) and the
#: file stays in the OS's cache, so a small cache costs little; the default
#: grew the bot by its full 2 MB as the brain's shards were rewritten.
CACHE_KIB = 256


@implementer(IStore, IClosable, ICheckedStore)
class SQLiteStore:
    """
    Every call runs in one dedicated thread, so a slow disk never blocks the
    reactor and calls apply in order. Calls queued while the thread is busy
    run together in one transaction (each in its own savepoint, so one
    failing call fails alone), with one hand-off between threads per batch
    rather than per call: a burst of writes costs the reactor thread little.
    Expiry times come from the injected C{clock}.
    """

    kind = "sqlite"

    def __init__(self, path: str, reactor, clock=None):
        self._path = path
        self._reactor = reactor
        self._clock = clock or reactor
        self._pool: ThreadPool | None = ThreadPool(1, 1, name="pubbot-sqlite")
        self._started = False
        self._db: sqlite3.Connection | None = None
        self._queue: deque = deque()
        self._busy = False  # a batch is queued or running (reactor thread only)
        self._shutdown = reactor.addSystemEventTrigger("during", "shutdown", self.close)

    def close(self) -> None:
        """Finish queued calls, close the file and stop the thread (blocks until then)."""
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        with contextlib.suppress(ValueError, KeyError, TypeError, NotImplementedError):
            self._reactor.removeSystemEventTrigger(self._shutdown)
        if not self._started:
            return

        def finish():
            while self._queue:
                self._batch()  # results can no longer be delivered; the writes still land
            if self._db is not None:
                self._db.close()
                self._db = None

        pool.callInThread(finish)
        pool.stop()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA cache_size=%d" % (-CACHE_KIB,))
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def _run(self, fn: Callable, *args: Any) -> Deferred:
        if self._pool is None:
            return fail(RuntimeError("store is closed"))
        if not self._started:
            self._pool.start()
            self._started = True
        d: Deferred = Deferred()
        self._queue.append((fn, args, self._clock.seconds(), d))
        if not self._busy:
            self._busy = True
            self._pool.callInThread(self._work)
        return d

    def call(self, fn: Callable, *args: Any) -> Deferred:
        """
        Run C{fn(db, now, *args)} in the store's thread, in turn with the
        other calls (in a savepoint of their transaction), for features
        that keep tables of their own in the same file (the channel log's
        full-text index); fires with what it returns.
        """
        return self._run(fn, *args)

    def _work(self) -> None:
        """In the store thread: run a batch, hand its results to the reactor."""
        try:
            results = self._batch()
        except BaseException:
            results = []
            log.failure("store thread failed")
        self._reactor.callFromThread(self._deliver, results)

    def _batch(self) -> list:
        """Run up to L{BATCH} queued calls in one transaction (store thread)."""
        results: list = []
        try:
            db = self._connection()
            db.execute("BEGIN IMMEDIATE")
        except Exception:
            failure = Failure()
            while self._queue and len(results) < BATCH:
                results.append((self._queue.popleft()[3], failure))
            return results
        while self._queue and len(results) < BATCH:
            fn, args, now, d = self._queue.popleft()
            db.execute("SAVEPOINT call")
            try:
                value = fn(db, now, *args)
            except Exception:
                db.execute("ROLLBACK TO call")
                value = Failure()
            db.execute("RELEASE call")
            results.append((d, value))
        try:
            db.execute("COMMIT")
        except Exception:
            failure = Failure()
            with contextlib.suppress(Exception):
                db.execute("ROLLBACK")
            results = [(d, failure) for d, _ in results]
        return results

    def _deliver(self, results: list) -> None:
        """In the reactor thread: fire the batch's Deferreds, start the next batch."""
        self._busy = False
        if self._queue and self._pool is not None:
            self._busy = True
            self._pool.callInThread(self._work)
        for d, value in results:
            if isinstance(value, Failure):
                d.errback(value)
            else:
                d.callback(value)

    def check(self) -> Deferred:
        """
        Can the file be read? Opens it (in the store thread) and runs
        SQLite's C{quick_check}; fires with None, or fails with what is wrong.
        """
        def do(db, now):
            rows = db.execute("PRAGMA quick_check(5)").fetchall()
            problems = [row[0] for row in rows if row[0] != "ok"]
            if problems:
                raise sqlite3.DatabaseError("; ".join(str(p) for p in problems)[:300])
            db.execute("SELECT count(*) FROM keys").fetchone()
        return self._run(do)

    @property
    def where(self) -> str:
        return "SQLite file %s" % (self._path,)

    # helpers run in the store thread

    @staticmethod
    def _type(db, now, key) -> str | None:
        row = db.execute("SELECT type, expires FROM keys WHERE key=?", (key,)).fetchone()
        if row is None:
            return None
        if row[1] is not None and row[1] <= now:
            SQLiteStore._drop(db, key)
            return None
        return row[0]

    @staticmethod
    def _drop(db, key) -> None:
        for table in ("keys", "strings", "sets", "hashes"):
            db.execute("DELETE FROM %s WHERE key=?" % table, (key,))

    @classmethod
    def _want(cls, db, now, key, kind, create=False) -> bool:
        have = cls._type(db, now, key)
        if have is None:
            if create:
                db.execute("INSERT INTO keys (key, type, expires) VALUES (?, ?, NULL)", (key, kind))
            return False
        if have != kind:
            raise wrong_type(key, kind, have)
        return True

    @staticmethod
    def _gone_if_empty(db, key, table) -> None:
        if db.execute("SELECT 1 FROM %s WHERE key=? LIMIT 1" % table, (key,)).fetchone() is None:
            db.execute("DELETE FROM keys WHERE key=?", (key,))

    # IStore

    def get(self, key: str) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, "string"):
                return None
            return decode(db.execute("SELECT value FROM strings WHERE key=?", (key,)).fetchone()[0])
        return self._run(do)

    def set(self, key: str, value: Any, ttl: float | None = None) -> Deferred:
        text = encode(value)

        def do(db, now):
            expires = None if ttl is None else now + ttl
            if self._type(db, now, key) == "string":  # the common case: the brain's shards, again and again
                db.execute("UPDATE keys SET expires=? WHERE key=?", (expires, key))
            else:
                self._drop(db, key)
                db.execute("INSERT INTO keys VALUES (?, 'string', ?)", (key, expires))
            db.execute("INSERT OR REPLACE INTO strings VALUES (?, ?)", (key, text))
        return self._run(do)

    def delete(self, key: str) -> Deferred:
        def do(db, now):
            existed = self._type(db, now, key) is not None
            self._drop(db, key)
            return existed
        return self._run(do)

    def incr(self, key: str, amount: int = 1) -> Deferred:
        def do(db, now):
            if self._want(db, now, key, "string", create=True):
                current = decode(db.execute("SELECT value FROM strings WHERE key=?", (key,)).fetchone()[0])
                if not isinstance(current, int) or isinstance(current, bool):
                    raise wrong_type(key, "integer", "string")
            else:
                current = 0
            value = current + amount
            db.execute("INSERT OR REPLACE INTO strings VALUES (?, ?)", (key, encode(value)))
            return value
        return self._run(do)

    def expire(self, key: str, ttl: float) -> Deferred:
        def do(db, now):
            if self._type(db, now, key) is None:
                return False
            db.execute("UPDATE keys SET expires=? WHERE key=?", (now + ttl, key))
            return True
        return self._run(do)

    def sadd(self, key: str, *members: str) -> Deferred:
        def do(db, now):
            self._want(db, now, key, "set", create=True)
            before = db.total_changes
            db.executemany("INSERT OR IGNORE INTO sets VALUES (?, ?)", [(key, m) for m in members])
            added = db.total_changes - before
            self._gone_if_empty(db, key, "sets")
            return added
        return self._run(do)

    def srem(self, key: str, *members: str) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, "set"):
                return 0
            before = db.total_changes
            db.executemany("DELETE FROM sets WHERE key=? AND member=?", [(key, m) for m in members])
            removed = db.total_changes - before
            self._gone_if_empty(db, key, "sets")
            return removed
        return self._run(do)

    def smembers(self, key: str) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, "set"):
                return set()
            return {r[0] for r in db.execute("SELECT member FROM sets WHERE key=?", (key,))}
        return self._run(do)

    def hset(self, key: str, field: str, value: Any) -> Deferred:
        text = encode(value)

        def do(db, now):
            self._want(db, now, key, "hash", create=True)
            db.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)", (key, field, text))
        return self._run(do)

    def hget(self, key: str, field: str) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, "hash"):
                return None
            row = db.execute("SELECT value FROM hashes WHERE key=? AND field=?", (key, field)).fetchone()
            return None if row is None else decode(row[0])
        return self._run(do)

    def hdel(self, key: str, *fields: str) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, "hash"):
                return 0
            before = db.total_changes
            db.executemany("DELETE FROM hashes WHERE key=? AND field=?", [(key, f) for f in fields])
            removed = db.total_changes - before
            self._gone_if_empty(db, key, "hashes")
            return removed
        return self._run(do)

    def hgetall(self, key: str) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, "hash"):
                return {}
            return {f: decode(v) for f, v in db.execute(
                "SELECT field, value FROM hashes WHERE key=?", (key,))}
        return self._run(do)

    def hincr(self, key: str, field: str, amount: int = 1) -> Deferred:
        def do(db, now):
            self._want(db, now, key, "hash", create=True)
            row = db.execute("SELECT value FROM hashes WHERE key=? AND field=?", (key, field)).fetchone()
            current = 0 if row is None else decode(row[0])
            if not isinstance(current, int) or isinstance(current, bool):
                raise TypeError("hash field %r of %r is not an integer" % (field, key))
            db.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?)",
                       (key, field, encode(current + amount)))
            return current + amount
        return self._run(do)

    def keys(self, prefix: str = "") -> Deferred:
        def do(db, now):
            db.execute("DELETE FROM strings WHERE key IN (SELECT key FROM keys WHERE expires <= ?)", (now,))
            db.execute("DELETE FROM sets WHERE key IN (SELECT key FROM keys WHERE expires <= ?)", (now,))
            db.execute("DELETE FROM hashes WHERE key IN (SELECT key FROM keys WHERE expires <= ?)", (now,))
            db.execute("DELETE FROM keys WHERE expires <= ?", (now,))
            rows = db.execute("SELECT key FROM keys WHERE substr(key, 1, ?) = ? ORDER BY key",
                              (len(prefix), prefix))
            return [r[0] for r in rows]
        return self._run(do)

    def scan(self, cursor: str | None = None, count: int = 100) -> Deferred:
        def do(db, now):
            after = "" if cursor is None else "key > ? AND"
            rows = db.execute(
                "SELECT key, type, expires FROM keys WHERE %s (expires IS NULL OR expires > ?) "
                "ORDER BY key LIMIT ?" % after,
                ((cursor,) if cursor is not None else ()) + (now, max(1, count) + 1)).fetchall()
            page = rows[:max(1, count)]
            return (page[-1][0] if len(rows) > len(page) else None), [tuple(r) for r in page]
        return self._run(do)

    def scan_items(self, key: str, kind: str, cursor: str | None = None, count: int = 100) -> Deferred:
        def do(db, now):
            if not self._want(db, now, key, kind):
                return None, []
            if kind == "string":
                return None, [db.execute("SELECT value FROM strings WHERE key=?", (key,)).fetchone()[0]]
            column, table, what = (("member", "sets", "member") if kind == "set"
                                   else ("field", "hashes", "field, value"))
            after = "" if cursor is None else "AND %s > ?" % column
            rows = db.execute("SELECT %s FROM %s WHERE key=? %s ORDER BY %s LIMIT ?" % (
                what, table, after, column),
                (key,) + ((cursor,) if cursor is not None else ()) + (max(1, count) + 1,)).fetchall()
            page = [r[0] for r in rows] if kind == "set" else [tuple(r) for r in rows]
            page = page[:max(1, count)]
            last = page[-1] if kind == "set" else page[-1][0] if page else None
            return (last if len(rows) > len(page) else None), page
        return self._run(do)

    def begin_import(self) -> Deferred:
        name = "import_%d" % (next(_IMPORTS),)

        def do(db, now):
            db.execute("PRAGMA temp.cache_size=%d" % (-CACHE_KIB,))
            for table, columns in _STAGING:
                db.execute("CREATE TEMP TABLE %s_%s (%s)" % (name, table, columns))
            return SQLiteImport(self, name)
        return self._run(do)


#: The staging tables of an import (temp tables: an import cut short leaves nothing behind).
_STAGING = (
    ("keys", "key TEXT PRIMARY KEY, type TEXT NOT NULL, expires REAL"),
    ("strings", "key TEXT PRIMARY KEY, value TEXT NOT NULL"),
    ("sets", "key TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY (key, member)"),
    ("hashes", "key TEXT NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (key, field)"),
)
_IMPORTS = itertools.count(1)


@implementer(IStoreImport)
class SQLiteImport:
    """
    Staged in temp tables of the store's own connection (its thread), made
    live by one call, hence in one transaction: all of it or none.
    """

    def __init__(self, store: SQLiteStore, name: str):
        self._store = store
        self._name: str | None = name

    def _t(self, table: str) -> str:
        if self._name is None:
            raise RuntimeError("this import is finished")
        return "temp.%s_%s" % (self._name, table)

    def add(self, records) -> Deferred:
        def do(db, now):
            keys, strings, sets, hashes = (self._t(t) for t, _ in _STAGING)
            for key, kind, expires, items, fresh in records:
                row = db.execute("SELECT type FROM %s WHERE key=?" % keys, (key,)).fetchone()
                if fresh or row is None or row[0] != kind:
                    for table in (keys, strings, sets, hashes):
                        db.execute("DELETE FROM %s WHERE key=?" % table, (key,))
                db.execute("INSERT OR REPLACE INTO %s VALUES (?, ?, ?)" % keys, (key, kind, expires))
                if kind == "string":
                    db.execute("INSERT OR REPLACE INTO %s VALUES (?, ?)" % strings, (key, items[-1]))
                elif kind == "set":
                    db.executemany("INSERT OR IGNORE INTO %s VALUES (?, ?)" % sets, [(key, m) for m in items])
                else:
                    db.executemany("INSERT OR REPLACE INTO %s VALUES (?, ?, ?)" % hashes,
                                   [(key, f, t) for f, t in items])
        return self._store._run(do)

    def commit(self, replace: bool = False) -> Deferred:
        def do(db, now):
            keys = self._t("keys")
            # Correlated lookups on the staging tables' keys (no temporary
            # table of every key, so memory stays flat however big the import).
            staged = "EXISTS (SELECT 1 FROM %s s WHERE s.key = %%s.key)" % (keys,)
            for table, _ in _STAGING[1:]:
                db.execute("DELETE FROM %s WHERE key IN (SELECT key FROM %s WHERE expires <= ?)" % (
                    self._t(table), keys), (now,))
            db.execute("DELETE FROM %s WHERE expires <= ?" % keys, (now,))
            for table, _ in _STAGING:
                if replace:
                    db.execute("DELETE FROM main.%s" % table)
                else:
                    db.execute("DELETE FROM main.%s WHERE %s" % (table, staged % ("main." + table,)))
            for table, _ in _STAGING:
                db.execute("INSERT INTO main.%s SELECT * FROM %s" % (table, self._t(table)))
            made = db.execute("SELECT count(*) FROM %s" % keys).fetchone()[0]
            self._drop(db)
            return made
        return self._store._run(do)

    def abort(self) -> Deferred:
        if self._name is None:
            from twisted.internet.defer import succeed
            return succeed(None)
        return self._store._run(lambda db, now: self._drop(db))

    def _drop(self, db) -> None:
        if self._name is None:
            return
        for table, _ in _STAGING:
            db.execute("DROP TABLE IF EXISTS %s" % self._t(table))
        self._name = None
