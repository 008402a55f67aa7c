"""
The channel log in SQLite: one table and its FTS5 index (kept by
triggers, an external-content table so the text is stored once), in the
store's file and thread (L{pubbot.store.sqlite.SQLiteStore.call}), or on
an in-memory database for the memory store.

A search is FTS5's C{MATCH} on the words, each quoted as a string (so
nothing a person types is FTS5 syntax), joined to the table for the
channel, newest first. In the one process that SQLite mode has, the
writer skips the lines of people who opted out (its set is exact there).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from zope.interface import implementer

from . import ILogIndex

SCHEMA = """
CREATE TABLE IF NOT EXISTS chatlog (id INTEGER PRIMARY KEY, network TEXT NOT NULL, channel TEXT NOT NULL,
                                    time REAL NOT NULL, kind TEXT NOT NULL, nick TEXT NOT NULL,
                                    person TEXT NOT NULL, text TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS chatlog_place ON chatlog (network, channel, time);
CREATE INDEX IF NOT EXISTS chatlog_nick ON chatlog (network, channel, nick, time);
CREATE INDEX IF NOT EXISTS chatlog_person ON chatlog (person);
CREATE INDEX IF NOT EXISTS chatlog_time ON chatlog (time);
CREATE VIRTUAL TABLE IF NOT EXISTS chatlog_fts USING fts5(
    text, content='chatlog', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS chatlog_added AFTER INSERT ON chatlog BEGIN
    INSERT INTO chatlog_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chatlog_removed AFTER DELETE ON chatlog BEGIN
    INSERT INTO chatlog_fts (chatlog_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
"""

_COLUMNS = "time, kind, nick, text"
#: Rows removed by one prune or forget call, at most (the store's thread is shared).
BATCH = 5000


def _rows(cursor) -> list[dict]:
    return [{"time": t, "kind": k, "nick": n, "text": x} for t, k, n, x in cursor.fetchall()]


def fts_query(words: list[str]) -> str:
    """Every word, each an FTS5 string (quotes doubled): all must be found."""
    return " ".join('"%s"' % (w.replace('"', '""'),) for w in words)


@implementer(ILogIndex)
class SQLLogIndex:
    """C{run(fn, *args)} runs C{fn(db, now, *args)} where the database is and fires with its result."""

    def __init__(self, run: Callable[..., Deferred], optout_key: str = "", kind: str = "sqlite"):
        self.run = run
        self.kind = kind
        self._ready = False

    def _call(self, fn: Callable, *args: Any) -> Deferred:
        def do(db, now, *a):
            if not self._ready:
                _schema(db)
                self._ready = True
            return fn(db, *a)
        return self.run(do, *args)

    def add(self, lines: list) -> Deferred:
        rows = [(ln["network"], ln["channel"].lower(), float(ln["time"]), ln["kind"], ln["nick"],
                 ln.get("person") or "", ln.get("text") or "") for ln in lines]

        def do(db):
            db.executemany("INSERT INTO chatlog (network, channel, time, kind, nick, person, text) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
            return len(rows)
        return self._call(do)

    def search(self, network: str, channel: str, words: list, limit: int) -> Deferred:
        def do(db):
            return _rows(db.execute(
                "SELECT c.time, c.kind, c.nick, c.text FROM chatlog_fts "
                "JOIN chatlog c ON c.id = chatlog_fts.rowid "
                "WHERE chatlog_fts MATCH ? AND c.network = ? AND c.channel = ? "
                "ORDER BY c.time DESC, c.id DESC LIMIT ?",
                (fts_query(words), network, channel.lower(), limit)))
        return self._call(do)

    def last(self, network: str, channel: str, nick: str, limit: int) -> Deferred:
        def do(db):
            return _rows(db.execute(
                "SELECT %s FROM chatlog WHERE network = ? AND channel = ? AND nick = ? COLLATE NOCASE "
                "AND kind IN ('say', 'action') ORDER BY time DESC, id DESC LIMIT ?" % (_COLUMNS,),
                (network, channel.lower(), nick, limit)))
        return self._call(do)

    async def _in_batches(self, where: str, value: Any) -> int:
        """Delete the rows C{where} says, L{BATCH} a call, so other calls run in between."""
        def do(db):
            return db.execute("DELETE FROM chatlog WHERE id IN (SELECT id FROM chatlog WHERE %s LIMIT ?)"
                              % (where,), (value, BATCH)).rowcount
        total = 0
        while True:
            count = await self._call(do)
            total += count
            if count < BATCH:
                return total

    def forget(self, person: str) -> Deferred:
        if not person:
            return succeed(0)
        return Deferred.fromCoroutine(self._in_batches("person = ?", person))

    def prune(self, before: float) -> Deferred:
        return Deferred.fromCoroutine(self._in_batches("time < ?", before))

    def close(self) -> None:
        pass


def _schema(db) -> None:
    # executescript would COMMIT the store's open transaction: one statement at a time
    for statement in _statements(SCHEMA):
        db.execute(statement)


def _statements(script: str) -> list[str]:
    out, current = [], []
    for line in script.strip().splitlines():
        current.append(line)
        text = "\n".join(current)
        if sqlite3.complete_statement(text):
            out.append(text)
            current = []
    return out


def memory_index(store: Any) -> SQLLogIndex:
    """The log of a memory store: the same SQL on an in-memory database, run at once."""
    db = sqlite3.connect(":memory:", isolation_level=None)
    clock = getattr(store, "clock", None) or getattr(store, "_clock", None)

    def run(fn: Callable, *args: Any) -> Deferred:
        try:
            return succeed(fn(db, clock.seconds() if clock is not None else 0.0, *args))
        except Exception:
            return fail(Failure())

    return SQLLogIndex(run, kind="memory")
