"""SQLite store specifics: batching calls into transactions, failures isolated, durable close."""

from twisted.internet import reactor
from twisted.internet.defer import gatherResults, inlineCallbacks
from twisted.trial.unittest import TestCase

from pubbot.store.sqlite import BATCH, CACHE_KIB, SQLiteStore


class BatchingTests(TestCase):
    def setUp(self):
        self.path = self.mktemp()
        self.store = SQLiteStore(self.path, reactor)
        self.addCleanup(self.store.close)

    @inlineCallbacks
    def test_burst_of_calls_in_order(self):
        calls = [self.store.incr("n") for _ in range(BATCH * 2 + 5)]
        values = yield gatherResults(calls)
        self.assertEqual(values, list(range(1, BATCH * 2 + 6)))

    @inlineCallbacks
    def test_failing_call_fails_alone_in_its_batch(self):
        first = self.store.set("s", "text")
        bad = self.store.incr("s")  # not an integer: TypeError
        after = self.store.sadd("set", "a")
        yield first
        yield self.assertFailure(bad, TypeError)
        self.assertEqual((yield after), 1)
        self.assertEqual((yield self.store.get("s")), "text")
        self.assertEqual((yield self.store.smembers("set")), {"a"})

    @inlineCallbacks
    def test_close_writes_what_was_queued(self):
        yield self.store.set("before", 1)
        for i in range(50):
            self.store.hset("h", "f%d" % i, i)  # not waited for
        self.store.close()
        reopened = SQLiteStore(self.path, reactor)
        self.addCleanup(reopened.close)
        data = yield reopened.hgetall("h")
        self.assertEqual(len(data), 50)

    @inlineCallbacks
    def test_page_cache_is_small_and_wal_on(self):
        settings = yield self.store._run(lambda db, now: (
            db.execute("PRAGMA cache_size").fetchone()[0], db.execute("PRAGMA journal_mode").fetchone()[0]))
        self.assertEqual(settings, (-CACHE_KIB, "wal"))

    @inlineCallbacks
    def test_closed_store_refuses(self):
        self.store.close()
        yield self.assertFailure(self.store.get("x"), RuntimeError)

    @inlineCallbacks
    def test_set_again_writes_each_table_once(self):
        # A string set again (the brain's shards every flush) updates its two
        # rows in place: one row each in keys and strings, the new expiry kept.
        yield self.store.set("s", {"a": 1}, ttl=100)
        yield self.store.set("s", {"a": 2})
        yield self.store.set("s", {"a": 3}, ttl=50)
        rows = yield self.store._run(lambda db, now: (
            db.execute("SELECT type, ROUND(expires - ?) FROM keys WHERE key='s'", (now,)).fetchall(),
            db.execute("SELECT value FROM strings WHERE key='s'").fetchall()))
        self.assertEqual(rows, ([("string", 50.0)], [('{"a":3}',)]))

    @inlineCallbacks
    def test_set_mends_a_key_without_its_value_row(self):
        # A key row whose value row is gone (a file mended by hand): set writes the value.
        yield self.store.set("s", 1)
        yield self.store._run(lambda db, now: db.execute("DELETE FROM strings WHERE key='s'"))
        yield self.store.set("s", 2)
        self.assertEqual((yield self.store.get("s")), 2)
