"""
The one test suite every L{pubbot.core.interfaces.IStore} passes (memory,
SQLite, Redis): mix L{StoreSuite} into a trial C{TestCase} and give it
C{make_store()} and C{advance(seconds)}. Time is the store's clock where
the store has one (memory, SQLite); Redis keeps its own time, so its
C{advance} really waits (TTLs here are short for that reason).
"""

from __future__ import annotations

import io

from zope.interface.verify import verifyObject

from pubbot.core.interfaces import IStore, IStoreImport
from pubbot.store import Encoded, encode, transfer

#: A TTL short enough to wait out for real, long enough to outlast a round trip.
TTL = 0.3


class StoreSuite:
    """Tests for every IStore method. Mix into a twisted.trial TestCase."""

    store: object

    def make_store(self):  # pragma: no cover - provided by the concrete test case
        raise NotImplementedError

    def advance(self, seconds: float):  # pragma: no cover
        """Let C{seconds} pass for the store; may return a Deferred."""
        raise NotImplementedError

    async def wait(self, seconds: float) -> None:
        d = self.advance(seconds)
        if d is not None:
            await d

    def setUp(self):
        self.store = self.make_store()
        return getattr(self, "store_ready", lambda: None)()

    def test_provides_istore(self):
        self.assertTrue(verifyObject(IStore, self.store))

    # strings

    async def test_get_missing_is_none(self):
        self.assertIsNone(await self.store.get("nothing"))

    async def test_set_then_get_round_trips_json_values(self):
        values = ["text", "ünïcødé ☃", "", 0, 42, -7, 2 ** 53, 1.5, True, False, None,
                  [1, "two", [3]], {"a": 1, "b": {"c": [None, True]}}]
        for i, value in enumerate(values):
            await self.store.set("v%d" % i, value)
        for i, value in enumerate(values):
            got = await self.store.get("v%d" % i)
            self.assertEqual(got, value)
            self.assertIs(type(got), type(value))

    async def test_an_encoded_value_is_stored_as_it_stands(self):
        value = {"a b c": 3, "ünï": [1, None]}
        await self.store.set("encoded", Encoded(encode(value)))
        self.assertEqual(await self.store.get("encoded"), value)
        await self.store.hset("encoded-hash", "f", Encoded(encode(value)))
        self.assertEqual(await self.store.hget("encoded-hash", "f"), value)

    async def test_set_keeps_a_copy(self):
        value = {"list": [1, 2]}
        await self.store.set("copy", value)
        value["list"].append(3)
        self.assertEqual(await self.store.get("copy"), {"list": [1, 2]})
        got = await self.store.get("copy")
        got["list"].append(4)
        self.assertEqual(await self.store.get("copy"), {"list": [1, 2]})

    async def test_set_overwrites_any_type(self):
        await self.store.sadd("k", "a")
        await self.store.set("k", "now a string")
        self.assertEqual(await self.store.get("k"), "now a string")
        await self.store.hset("h", "f", 1)
        await self.store.set("h", 5)
        self.assertEqual(await self.store.get("h"), 5)

    async def test_delete(self):
        await self.store.set("a", 1)
        await self.store.sadd("s", "x")
        await self.store.hset("h", "f", 1)
        self.assertTrue(await self.store.delete("a"))
        self.assertTrue(await self.store.delete("s"))
        self.assertTrue(await self.store.delete("h"))
        self.assertFalse(await self.store.delete("a"))
        self.assertFalse(await self.store.delete("never"))
        self.assertIsNone(await self.store.get("a"))
        self.assertEqual(await self.store.smembers("s"), set())
        self.assertEqual(await self.store.hgetall("h"), {})

    async def test_unicode_and_odd_keys(self):
        for key in ("ключ", "with space", "a*b?[c]", "nick:Foo|away", "\\back"):
            await self.store.set(key, key)
            self.assertEqual(await self.store.get(key), key)

    # counters

    async def test_incr(self):
        self.assertEqual(await self.store.incr("n"), 1)
        self.assertEqual(await self.store.incr("n"), 2)
        self.assertEqual(await self.store.incr("n", 10), 12)
        self.assertEqual(await self.store.incr("n", -20), -8)
        self.assertEqual(await self.store.get("n"), -8)

    async def test_incr_after_set(self):
        await self.store.set("n", 41)
        self.assertEqual(await self.store.incr("n"), 42)

    async def test_incr_non_integer_fails_with_type_error(self):
        await self.store.set("text", "abc")
        await self.store.set("float", 1.5)
        await self.store.sadd("set", "m")
        await self.store.hset("hash", "f", 1)
        for key in ("text", "float", "set", "hash"):
            with self.assertRaises(TypeError):
                await self.store.incr(key)
        self.assertEqual(await self.store.get("text"), "abc")

    async def test_incr_keeps_the_expiry(self):
        await self.store.set("n", 1, ttl=TTL)
        self.assertEqual(await self.store.incr("n"), 2)
        await self.wait(TTL * 2)
        self.assertIsNone(await self.store.get("n"))
        self.assertEqual(await self.store.incr("n"), 1)

    # expiry

    async def test_set_with_ttl_expires(self):
        await self.store.set("t", "soon gone", ttl=TTL)
        self.assertEqual(await self.store.get("t"), "soon gone")
        self.assertEqual(await self.store.keys("t"), ["t"])
        await self.wait(TTL * 2)
        self.assertIsNone(await self.store.get("t"))
        self.assertEqual(await self.store.keys("t"), [])
        self.assertFalse(await self.store.delete("t"))

    async def test_set_without_ttl_clears_the_expiry(self):
        await self.store.set("t", 1, ttl=TTL)
        await self.store.set("t", 2)
        await self.wait(TTL * 2)
        self.assertEqual(await self.store.get("t"), 2)

    async def test_expire(self):
        await self.store.set("s", 1)
        await self.store.sadd("set", "a")
        await self.store.hset("hash", "f", "v")
        for key in ("s", "set", "hash"):
            self.assertTrue(await self.store.expire(key, TTL))
        self.assertFalse(await self.store.expire("missing", TTL))
        self.assertEqual(await self.store.keys(), ["hash", "s", "set"])
        await self.wait(TTL * 2)
        self.assertEqual(await self.store.keys(), [])
        self.assertIsNone(await self.store.get("s"))
        self.assertEqual(await self.store.smembers("set"), set())
        self.assertEqual(await self.store.hgetall("hash"), {})

    async def test_expire_in_the_past_removes(self):
        await self.store.set("s", 1)
        self.assertTrue(await self.store.expire("s", 0))
        self.assertIsNone(await self.store.get("s"))

    async def test_expired_key_can_change_type(self):
        await self.store.set("k", "x", ttl=TTL)
        await self.wait(TTL * 2)
        self.assertEqual(await self.store.sadd("k", "a"), 1)
        self.assertEqual(await self.store.smembers("k"), {"a"})

    # sets

    async def test_sets(self):
        self.assertEqual(await self.store.sadd("s", "a", "b"), 2)
        self.assertEqual(await self.store.sadd("s", "b", "c", "c"), 1)
        self.assertEqual(await self.store.smembers("s"), {"a", "b", "c"})
        self.assertEqual(await self.store.srem("s", "a", "zzz"), 1)
        self.assertEqual(await self.store.smembers("s"), {"b", "c"})
        self.assertEqual(await self.store.srem("s", "b", "c"), 2)
        self.assertEqual(await self.store.smembers("s"), set())
        self.assertEqual(await self.store.keys(), [])

    async def test_set_missing(self):
        self.assertEqual(await self.store.smembers("none"), set())
        self.assertEqual(await self.store.srem("none", "a"), 0)

    async def test_set_members_are_strings(self):
        await self.store.sadd("s", "ü", "1", "with space")
        self.assertEqual(await self.store.smembers("s"), {"ü", "1", "with space"})

    # hashes

    async def test_hashes(self):
        self.assertIsNone(await self.store.hset("h", "a", 1))
        await self.store.hset("h", "b", {"x": [1]})
        await self.store.hset("h", "a", "one")
        self.assertEqual(await self.store.hget("h", "a"), "one")
        self.assertEqual(await self.store.hget("h", "b"), {"x": [1]})
        self.assertIsNone(await self.store.hget("h", "c"))
        self.assertEqual(await self.store.hgetall("h"), {"a": "one", "b": {"x": [1]}})
        self.assertEqual(await self.store.hdel("h", "a", "nope"), 1)
        self.assertEqual(await self.store.hgetall("h"), {"b": {"x": [1]}})
        self.assertEqual(await self.store.hdel("h", "b"), 1)
        self.assertEqual(await self.store.hgetall("h"), {})
        self.assertEqual(await self.store.keys(), [])

    async def test_hash_missing(self):
        self.assertIsNone(await self.store.hget("none", "f"))
        self.assertEqual(await self.store.hgetall("none"), {})
        self.assertEqual(await self.store.hdel("none", "f"), 0)

    async def test_hincr(self):
        self.assertEqual(await self.store.hincr("h", "n"), 1)
        self.assertEqual(await self.store.hincr("h", "n", 5), 6)
        self.assertEqual(await self.store.hincr("h", "n", -10), -4)
        self.assertEqual(await self.store.hget("h", "n"), -4)
        await self.store.hset("h", "text", "abc")
        with self.assertRaises(TypeError):
            await self.store.hincr("h", "text")
        self.assertEqual(await self.store.hget("h", "text"), "abc")

    # types

    async def test_wrong_type_fails_with_type_error(self):
        await self.store.set("str", "x")
        await self.store.sadd("set", "m")
        await self.store.hset("hash", "f", 1)
        calls = [
            lambda: self.store.get("set"), lambda: self.store.get("hash"),
            lambda: self.store.sadd("str", "a"), lambda: self.store.sadd("hash", "a"),
            lambda: self.store.srem("str", "a"), lambda: self.store.smembers("hash"),
            lambda: self.store.smembers("str"),
            lambda: self.store.hset("str", "f", 1), lambda: self.store.hset("set", "f", 1),
            lambda: self.store.hget("set", "f"), lambda: self.store.hdel("str", "f"),
            lambda: self.store.hgetall("str"), lambda: self.store.hincr("set", "f"),
        ]
        for call in calls:
            with self.assertRaises(TypeError):
                await call()
        self.assertEqual(await self.store.get("str"), "x")
        self.assertEqual(await self.store.smembers("set"), {"m"})
        self.assertEqual(await self.store.hgetall("hash"), {"f": 1})

    # keys

    async def test_keys_by_prefix_sorted(self):
        await self.store.set("b:2", 1)
        await self.store.set("a", 1)
        await self.store.sadd("b:1", "x")
        await self.store.hset("b:3", "f", 1)
        await self.store.set("c", 1)
        self.assertEqual(await self.store.keys(), ["a", "b:1", "b:2", "b:3", "c"])
        self.assertEqual(await self.store.keys("b:"), ["b:1", "b:2", "b:3"])
        self.assertEqual(await self.store.keys("zz"), [])

    async def test_keys_prefix_is_literal(self):
        await self.store.set("a*b", 1)
        await self.store.set("axb", 1)
        await self.store.set("a?", 1)
        await self.store.set("a[1]", 1)
        self.assertEqual(await self.store.keys("a*"), ["a*b"])
        self.assertEqual(await self.store.keys("a?"), ["a?"])
        self.assertEqual(await self.store.keys("a["), ["a[1]"])

    async def test_many_keys(self):
        for i in range(1200):
            await self.store.set("many:%04d" % i, i)
        found = await self.store.keys("many:")
        self.assertEqual(found, ["many:%04d" % i for i in range(1200)])

    # export: walking the store (scan, scan_items)

    def now(self) -> float:
        """The store's clock now (Unix time for Redis)."""
        return self.clock.seconds()

    def assertNear(self, first, second, tolerance):
        self.assertLessEqual(abs(first - second), tolerance, "%r is not within %r of %r" % (
            first, tolerance, second))

    async def walk(self, count=2):
        found = {}
        cursor = None
        while True:
            cursor, entries = await self.store.scan(cursor, count)
            for key, kind, expires in entries:
                found[key] = (kind, expires)
            if cursor is None:
                return found

    async def items(self, key, kind, count=2):
        got = []
        cursor = None
        while True:
            cursor, page = await self.store.scan_items(key, kind, cursor, count)
            got.extend(page)
            if cursor is None:
                return got

    async def test_scan_walks_every_live_key_with_kind_and_expiry(self):
        await self.store.set("s", {"a": 1})
        await self.store.incr("n", 5)
        await self.store.sadd("set", "x", "y")
        await self.store.hset("hash", "f", [1])
        await self.store.set("ttl", "t", ttl=1000)
        await self.store.set("gone", 1, ttl=TTL)
        await self.store.hset("b:h", "f", 1)
        await self.store.expire("b:h", 2000)
        await self.wait(TTL * 2)
        before = self.now()
        found = await self.walk()
        self.assertEqual(sorted(found), ["b:h", "hash", "n", "s", "set", "ttl"])
        self.assertEqual({k: v[0] for k, v in found.items()},
                         {"b:h": "hash", "hash": "hash", "n": "string", "s": "string", "set": "set",
                          "ttl": "string"})
        for key in ("hash", "n", "s", "set"):
            self.assertIsNone(found[key][1])
        # Absolute times: within a few seconds of now plus the TTL (Redis's clock is real time).
        self.assertNear(found["ttl"][1], before + 1000 - TTL * 2, 5)
        self.assertNear(found["b:h"][1], before + 2000 - TTL * 2, 5)

    async def test_scan_of_an_empty_store(self):
        self.assertEqual(await self.walk(), {})

    async def test_scan_pages_through_many_keys(self):
        for i in range(250):
            await self.store.set("many:%03d" % i, i)
        self.assertEqual(sorted(await self.walk(count=100)), ["many:%03d" % i for i in range(250)])

    async def test_scan_items_as_stored(self):
        await self.store.set("s", {"a": [1, "ü"]})
        await self.store.incr("n", 7)
        members = {"m%03d" % i for i in range(250)} | {"ü", "with space"}
        await self.store.sadd("set", *members)
        for i in range(120):
            await self.store.hset("hash", "f%03d" % i, {"i": i})
        self.assertEqual(await self.items("s", "string"), [encode({"a": [1, "ü"]})])
        self.assertEqual(await self.items("n", "string"), ["7"])
        got = await self.items("set", "set", count=50)
        self.assertEqual(set(got), members)
        pairs = await self.items("hash", "hash", count=50)
        self.assertEqual(dict(pairs), {"f%03d" % i: encode({"i": i}) for i in range(120)})

    async def test_scan_items_of_a_missing_or_retyped_key(self):
        self.assertEqual(await self.store.scan_items("none", "string"), (None, []))
        self.assertEqual(await self.store.scan_items("none", "set"), (None, []))
        self.assertEqual(await self.store.scan_items("none", "hash"), (None, []))
        await self.store.set("str", "x")
        with self.assertRaises(TypeError):
            await self.store.scan_items("str", "hash")
        with self.assertRaises(TypeError):
            await self.store.scan_items("str", "set")

    # import: staging, then one switch

    async def test_import_provides_istoreimport(self):
        stage = await self.store.begin_import()
        self.assertTrue(verifyObject(IStoreImport, stage))
        await stage.abort()

    async def test_import_is_invisible_until_commit(self):
        await self.store.set("old", 1)
        stage = await self.store.begin_import()
        await stage.add([("s", "string", None, [encode({"x": 1})], True),
                         ("set", "set", None, ["a", "b"], True),
                         ("hash", "hash", None, [("f", encode([1]))], True)])
        await stage.add([("set", "set", None, ["c"], False),
                         ("hash", "hash", None, [("g", encode("two"))], False)])
        self.assertEqual(await self.store.keys(), ["old"])
        self.assertIsNone(await self.store.get("s"))
        self.assertEqual(await stage.commit(), 3)
        self.assertEqual(await self.store.keys(), ["hash", "old", "s", "set"])
        self.assertEqual(await self.store.get("s"), {"x": 1})
        self.assertEqual(await self.store.smembers("set"), {"a", "b", "c"})
        self.assertEqual(await self.store.hgetall("hash"), {"f": [1], "g": "two"})

    async def test_import_replaces_keys_of_the_same_name(self):
        await self.store.hset("h", "old", 1)
        await self.store.sadd("k", "was a set")
        await self.store.set("kept", 1)
        stage = await self.store.begin_import()
        await stage.add([("h", "hash", None, [("new", "2")], True),
                         ("k", "string", None, ["5"], True)])
        self.assertEqual(await stage.commit(), 2)
        self.assertEqual(await self.store.hgetall("h"), {"new": 2})
        self.assertEqual(await self.store.incr("k"), 6)
        self.assertEqual(await self.store.get("kept"), 1)

    async def test_import_with_replace_removes_every_other_key(self):
        await self.store.set("a", 1)
        await self.store.sadd("b", "x")
        stage = await self.store.begin_import()
        await stage.add([("c", "string", None, ["3"], True)])
        self.assertEqual(await stage.commit(replace=True), 1)
        self.assertEqual(await self.store.keys(), ["c"])

    async def test_import_fresh_starts_a_staged_key_anew(self):
        stage = await self.store.begin_import()
        await stage.add([("s", "set", None, ["a"], True), ("h", "hash", None, [("f", "1")], True)])
        await stage.add([("s", "set", None, ["b"], True), ("h", "string", None, ["2"], True)])
        await stage.commit()
        self.assertEqual(await self.store.smembers("s"), {"b"})
        self.assertEqual(await self.store.get("h"), 2)

    async def test_import_keeps_expiries_and_drops_the_expired(self):
        now = self.now()
        stage = await self.store.begin_import()
        await stage.add([("later", "string", now + 1000, ["1"], True),
                         ("past", "string", now - 10, ["1"], True),
                         ("pastset", "set", now - 10, ["a"], True),
                         ("soon", "hash", now + TTL, [("f", "1")], True)])
        await stage.add([("pastset", "set", now - 10, ["b"], False)])
        self.assertEqual(await stage.commit(), 2)
        found = await self.walk()
        self.assertEqual(sorted(found), ["later", "soon"])
        self.assertNear(found["later"][1], now + 1000, 0.002)
        self.assertNear(found["soon"][1], now + TTL, 0.002)
        await self.wait(TTL * 2)
        self.assertEqual(await self.store.keys(), ["later"])

    async def test_import_abort_leaves_the_store_as_it_was(self):
        await self.store.set("a", 1)
        stage = await self.store.begin_import()
        await stage.add([("a", "string", None, ["2"], True), ("b", "set", None, ["x"], True)])
        await stage.abort()
        self.assertEqual(await self.store.keys(), ["a"])
        self.assertEqual(await self.store.get("a"), 1)
        with self.assertRaises(RuntimeError):
            await stage.commit()
        # A new import starts empty.
        stage = await self.store.begin_import()
        self.assertEqual(await stage.commit(), 0)
        self.assertEqual(await self.store.keys(), ["a"])

    async def test_dump_round_trip_through_the_store(self):
        await self.store.set("s", {"a": [1, 2.5, None, "ü"]})
        await self.store.incr("n", 3)
        await self.store.set("t", "x", ttl=1000)
        await self.store.sadd("set", *("m%d" % i for i in range(30)))
        for i in range(30):
            await self.store.hset("hash", "f%d" % i, i)
        first = io.BytesIO()
        keys, lines = await transfer.export(self.store, first, page=7)
        self.assertEqual((keys, lines), (5, 5))
        await self.store.set("extra", 1)
        await self.store.delete("s")
        first.seek(0)
        self.assertEqual(await transfer.import_dump(self.store, first, replace=True), (5, 7))
        self.assertEqual(await self.store.keys(), ["hash", "n", "s", "set", "t"])
        self.assertEqual(await self.store.get("s"), {"a": [1, 2.5, None, "ü"]})
        self.assertEqual(await self.store.incr("n"), 4)
        self.assertEqual(len(await self.store.smembers("set")), 30)
        self.assertEqual(await self.store.hget("hash", "f29"), 29)
        self.assertNear((await self.walk())["t"][1], self.now() + 1000, 5)

    async def test_a_corrupt_dump_imports_nothing(self):
        await self.store.set("a", 1)
        dump = (b'{"format":"pubbot-store","version":1,"source":"test"}\n'
                + b'{"key":"b","type":"string","value":2}\n' * 600
                + b'{"key":"c","type":"set","members":[1]}\n'
                b'{"end":true,"keys":601,"lines":601}\n')
        with self.assertRaises(transfer.DumpError) as caught:
            await transfer.import_dump(self.store, io.BytesIO(dump), replace=True)
        self.assertEqual(caught.exception.line, 602)
        self.assertEqual(await self.store.keys(), ["a"])
