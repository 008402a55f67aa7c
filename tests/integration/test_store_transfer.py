"""
Moving a store between SQLite and a real Redis (started here on a free
loopback port): `pubbot store export` and `pubbot store import` as
subprocesses, on a SQLite store filled by the plugins' own code (karma,
seen and tell, taught replies and factoids, greet, the brain's shards).

How "byte-identical" is checked: the dumps of the first and the last SQLite
store (SQLite -> Redis -> SQLite) are compared byte for byte (SQLite exports
in key order, so the same contents give the same bytes), and both SQLite
files are compared by a canonical dump: every row of every table, sorted,
expiries in whole milliseconds. The files themselves are not compared byte
for byte: their bytes depend on page allocation, the order rows were
written in, the free list and the WAL, none of which is the data; and the
first store's expiries carry sub-millisecond digits (time.time() + TTL)
that the dump, in milliseconds, does not.

Expiries are carried as absolute times, so a key's remaining TTL is kept to
the millisecond (checked exactly: PEXPIREAT in Redis, the expires column in
SQLite), plus any clock difference between the machines.
"""

from __future__ import annotations

import io
import json
import os
import pty
import sqlite3
import subprocess
import sys
import time

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from pubbot.cluster.redisclient import RedisClient
from pubbot.plugins import core, education, greet, karma, seen
from pubbot.plugins.brain import Brain
from pubbot.store.redis import RedisStore
from pubbot.store.sqlite import SQLiteStore
from pubbot.store.transfer import export, import_dump
from pubbot.testing import Harness

from ..support.servers import bot_env
from ..support.servers.redis import RedisServer

CHATTER = [
    ("alice", "the cheese on the moon is made of green rock"),
    ("bob", "i like cheese on toast in the morning"),
    ("carol", "the pub is open until midnight tonight"),
    ("dave", "we should go to the pub after work"),
    ("alice", "toast is better with butter and cheese"),
]


def canonical(path: str) -> list:
    """Every row of every table of a SQLite store, sorted; expiries in whole ms."""
    db = sqlite3.connect(path)
    try:
        rows = [("keys", k, t, None if e is None else int(round(e * 1000)))
                for k, t, e in db.execute("SELECT key, type, expires FROM keys ORDER BY key")]
        rows += [("strings",) + tuple(r) for r in db.execute("SELECT key, value FROM strings ORDER BY key")]
        rows += [("sets",) + tuple(r) for r in db.execute(
            "SELECT key, member FROM sets ORDER BY key, member")]
        rows += [("hashes",) + tuple(r) for r in db.execute(
            "SELECT key, field, value FROM hashes ORDER BY key, field")]
        return rows
    finally:
        db.close()


class StoreTransferTests(TestCase):

    def setUp(self):
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.stop)
        self.dir = os.path.abspath(self.mktemp())
        os.makedirs(self.dir)
        self.configs = {}
        for name, text in (("a", '[store]\npath = "a.sqlite"\n'), ("b", '[store]\npath = "b.sqlite"\n'),
                           ("redis", '[redis]\nurl = "%s"\n' % (self.redis.url,))):
            path = os.path.join(self.dir, name + ".toml")
            with open(path, "w") as f:
                f.write(text)
            self.configs[name] = path

    def path(self, name: str) -> str:
        return os.path.join(self.dir, name)

    def pubbot(self, *args: str, stdout=None, stdin=None,
               stderr=subprocess.PIPE) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "pubbot.cli", *args], cwd=self.dir, env=bot_env(),
                              stdout=stdout if stdout is not None else subprocess.PIPE, stdin=stdin,
                              stderr=stderr, timeout=120)

    def export_to(self, config: str, name: str) -> bytes:
        with open(self.path(name), "wb") as out:
            done = self.pubbot("store", "export", "--config", self.configs[config], stdout=out)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(self.path(name), "rb") as f:
            return f.read()

    def import_from(self, config: str, name: str, *flags: str) -> subprocess.CompletedProcess:
        return self.pubbot("store", "import", "--config", self.configs[config], *flags, self.path(name))

    def redis_keys(self, pattern: str) -> list:
        return sorted(k.decode() for k in self.redis.query("KEYS", pattern))

    async def fill_with_plugins(self, path: str) -> None:
        """A SQLite store written by the plugins' real code, through a bot."""
        store = SQLiteStore(path, reactor)
        self.addCleanup(store.close)
        h = Harness(karma.karma, karma.karma_query, seen.seen, seen.tell, greet.greeter,
                    education.responder, education.teach, education.factoid, education.recall,
                    Brain(), core.help,
                    config={"plugins": {"admins": ["alice"]}, "seen": {"flush_seconds": 1}},
                    store=store, start_time=time.time())
        for source, text in CHATTER:
            await h.say(text, source=source)
        await h.say("tea++ for real", source="bob")
        await h.say("(free coffee)++", source="carol")
        await h.say("mondays--", source="dave")
        await h.say("!tell erin the tests pass", source="alice")
        taught = await h.say("pubbot: when someone says good morning reply morning, %(nick)s!",
                             source="alice", account="alice")
        self.assertIn("I'll reply", "\n".join(taught.lines))
        await h.say("pubbot: Coffee is hot and black", source="bob")
        await h.bot.chat_event("irc", "#pubbot", "join", source="frank", hostmask="frank!f@home.example")
        h.clock.advance(2)
        await h.bot.stop()
        store.close()

    async def test_plugin_data_round_trip_sqlite_redis_sqlite(self):
        a = self.path("a.sqlite")
        await self.fill_with_plugins(a)
        original = canonical(a)
        keys = sorted({row[1] for row in original if row[0] == "keys"})
        # The plugins' data is all there: karma, seen, tell, taught replies, factoids, greet, brain shards.
        for prefix in ("karma", "seen:", "tell:", "education:taught", "education:factoids", "greet:",
                       "brain:shard:"):
            self.assertTrue(any(k.startswith(prefix) for k in keys), (prefix, keys))
        expiring = [row for row in original if row[0] == "keys" and row[3] is not None]
        self.assertTrue(expiring, "greet remembers people with a TTL")

        first = self.export_to("a", "a.jsonl")
        header = json.loads(first.split(b"\n", 1)[0])
        self.assertEqual(header, {"format": "pubbot-store", "version": 1, "source": "sqlite"})

        done = self.import_from("redis", "a.jsonl")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertIn("Imported %d keys" % (len(keys),), done.stdout.decode())
        self.assertEqual(self.redis_keys("pubbot:store:*"), ["pubbot:store:" + k for k in keys])
        self.assertEqual(self.redis_keys("pubbot:store-import:*"), [])
        for _, key, _, when in expiring:
            # The expiry instant, to the millisecond (Redis 7's PEXPIRETIME).
            self.assertEqual(self.redis.query("PEXPIRETIME", "pubbot:store:" + key), when)
            ttl = self.redis.query("PTTL", "pubbot:store:" + key)
            self.assertLessEqual(abs(ttl - (when - time.time() * 1000)), 1000)

        middle = self.export_to("redis", "redis.jsonl")
        self.assertEqual(json.loads(middle.split(b"\n", 1)[0])["source"], "redis")
        done = self.import_from("b", "redis.jsonl")
        self.assertEqual(done.returncode, 0, done.stderr)
        last = self.export_to("b", "b.jsonl")

        self.assertEqual(last, first)  # byte for byte
        self.assertEqual(canonical(self.path("b.sqlite")), original)

        # The brain answers from the moved store as from the first one.
        for config in ("a", "b", "redis"):
            said = self.pubbot("brain", "utter", "--config", self.configs[config], "--seed", "1", "cheese")
            self.assertEqual(said.returncode, 0, said.stderr)
            if config == "a":
                reply = said.stdout
            self.assertEqual(said.stdout, reply)
        self.assertIn(b"cheese", reply)

    async def test_a_corrupt_dump_imports_nothing_into_redis(self):
        with open(self.path("good.jsonl"), "wb") as f:
            f.write(b'{"format":"pubbot-store","version":1,"source":"sqlite"}\n'
                    b'{"key":"karma","type":"hash","fields":{"tea":2}}\n'
                    b'{"end":true,"keys":1,"lines":1}\n')
        self.assertEqual(self.import_from("redis", "good.jsonl").returncode, 0)
        lines = [b'{"format":"pubbot-store","version":1,"source":"sqlite"}']
        lines += [b'{"key":"k%04d","type":"string","value":%d}' % (i, i) for i in range(2000)]
        lines += [b'{"key":"broken","type":"set","members":["a",', b'{"end":true,"keys":2001,"lines":2001}']
        with open(self.path("bad.jsonl"), "wb") as f:
            f.write(b"\n".join(lines) + b"\n")
        done = self.import_from("redis", "bad.jsonl", "--replace")
        self.assertEqual(done.returncode, 1)
        error = done.stderr.decode()
        self.assertEqual(error.count("\n"), 1, error)
        self.assertTrue(error.startswith("pubbot: %s line 2002: not valid JSON" % (self.path("bad.jsonl"),)),
                        error)
        self.assertIn("nothing was imported", error)
        self.assertEqual(self.redis_keys("*"), ["pubbot:store:karma"])
        self.assertEqual(self.redis.query("HGET", "pubbot:store:karma", "tea"), b"2")

        # An unknown version, and a header that is not one.
        with open(self.path("v2.jsonl"), "wb") as f:
            f.write(b'{"format":"pubbot-store","version":2,"source":"sqlite"}\n{"end":true,"keys":0,"lines":0}\n')
        done = self.import_from("redis", "v2.jsonl", "--replace")
        self.assertEqual(done.returncode, 1)
        self.assertIn("line 1: dump format version 2 is not supported", done.stderr.decode())
        self.assertEqual(self.redis_keys("*"), ["pubbot:store:karma"])

    async def test_export_of_a_missing_sqlite_store_or_a_redis_that_is_down(self):
        done = self.pubbot("store", "export", "--config", self.configs["a"])
        self.assertEqual(done.returncode, 1)
        self.assertEqual(done.stderr.decode(), "pubbot: no store at a.sqlite (see [store] path)\n")
        self.assertFalse(os.path.exists(self.path("a.sqlite")))
        self.redis.stop()
        done = self.pubbot("store", "export", "--config", self.configs["redis"])
        self.assertEqual(done.returncode, 1)
        self.assertTrue(done.stderr.decode().startswith("pubbot: export failed: could not connect to Redis"),
                        done.stderr)
        self.assertEqual(done.stderr.decode().count("\n"), 1)

    async def test_a_store_that_is_not_empty_needs_merge_or_replace(self):
        with open(self.path("one.jsonl"), "wb") as f:
            f.write(b'{"format":"pubbot-store","version":1,"source":"sqlite"}\n'
                    b'{"key":"a","type":"string","value":1}\n{"end":true,"keys":1,"lines":1}\n')
        with open(self.path("two.jsonl"), "wb") as f:
            f.write(b'{"format":"pubbot-store","version":1,"source":"sqlite"}\n'
                    b'{"key":"b","type":"string","value":2}\n{"end":true,"keys":1,"lines":1}\n')
        self.assertEqual(self.import_from("redis", "one.jsonl").returncode, 0)
        done = self.import_from("redis", "two.jsonl")
        self.assertEqual(done.returncode, 1)
        self.assertIn("is not empty: say --merge", done.stderr.decode())
        self.assertEqual(self.redis_keys("pubbot:store:*"), ["pubbot:store:a"])
        self.assertEqual(self.import_from("redis", "two.jsonl", "--merge").returncode, 0)
        self.assertEqual(self.redis_keys("pubbot:store:*"), ["pubbot:store:a", "pubbot:store:b"])
        self.assertEqual(self.import_from("redis", "one.jsonl", "--replace").returncode, 0)
        self.assertEqual(self.redis_keys("pubbot:store:*"), ["pubbot:store:a"])
        # From stdin, into SQLite.
        with open(self.path("two.jsonl"), "rb") as f:
            done = self.pubbot("store", "import", "--config", self.configs["b"], "-", stdin=f)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(canonical(self.path("b.sqlite")),
                         [("keys", "b", "string", None), ("strings", "b", "2")])

    async def test_progress_only_on_a_terminal(self):
        self.assertEqual(self.import_from("redis", "none.jsonl").returncode, 1)
        with open(self.path("n.jsonl"), "wb") as f:
            f.write(b'{"format":"pubbot-store","version":1,"source":"sqlite"}\n')
            for i in range(3000):
                f.write(b'{"key":"k%04d","type":"string","value":%d}\n' % (i, i))
            f.write(b'{"end":true,"keys":3000,"lines":3000}\n')
        done = self.import_from("redis", "n.jsonl")
        self.assertEqual(done.returncode, 0)
        self.assertEqual(done.stderr, b"")  # not a terminal: no progress
        with open(self.path("quiet.jsonl"), "wb") as out:
            done = self.pubbot("store", "export", "--config", self.configs["redis"], stdout=out)
        self.assertEqual(done.stderr.decode(), "pubbot: exported 3000 keys from the Redis store\n")
        master, slave = pty.openpty()
        try:
            with open(self.path("tty.jsonl"), "wb") as out:
                done = self.pubbot("store", "export", "--config", self.configs["redis"], stdout=out,
                                   stderr=slave)
            os.close(slave)
            shown = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
        finally:
            os.close(master)
        self.assertEqual(done.returncode, 0)
        self.assertIn(b"\rexported 3000 keys", shown)
        self.assertIn(b"exported 3000 keys from the Redis store", shown)
        with open(self.path("tty.jsonl"), "rb") as a, open(self.path("quiet.jsonl"), "rb") as b:
            self.assertEqual(sorted(a.read().splitlines()), sorted(b.read().splitlines()))

    async def test_big_sets_and_hashes_page_through_redis(self):
        """Redis's SSCAN and HSCAN page big keys (hashtable encoding); TTLs on them are kept."""
        client = RedisClient(reactor, self.redis.url, name="transfer-test")
        client.start()
        self.addCleanup(client.stop)
        await client.when_connected()
        redis_store = RedisStore(client)
        await redis_store.sadd("big:set", *("member %05d" % i for i in range(20000)))
        for start in range(0, 6000, 1000):
            await client.execute("HSET", "pubbot:store:big:hash",
                                 *[x for i in range(start, start + 1000) for x in ("f%05d" % i, str(i))])
        await redis_store.expire("big:hash", 3600)
        out = io.BytesIO()
        keys, lines = await export(redis_store, out)
        self.assertEqual(keys, 2)
        self.assertGreater(lines, 2)  # past CHUNK_BYTES: "more" lines
        sqlite_store = SQLiteStore(self.path("c.sqlite"), reactor)
        self.addCleanup(sqlite_store.close)
        out.seek(0)
        self.assertEqual((await import_dump(sqlite_store, out))[0], 2)
        self.assertEqual(len(await sqlite_store.smembers("big:set")), 20000)
        fields = await sqlite_store.hgetall("big:hash")
        self.assertEqual(fields, {"f%05d" % i: i for i in range(6000)})
        when = self.redis.query("PEXPIRETIME", "pubbot:store:big:hash")
        stored = await sqlite_store._run(lambda db, now: db.execute(
            "SELECT expires FROM keys WHERE key='big:hash'").fetchone()[0])
        self.assertEqual(int(round(stored * 1000)), when)
