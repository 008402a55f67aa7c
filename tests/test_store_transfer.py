"""
The dump format and the streaming export and import (pubbot.store.transfer),
on the memory store (a Clock) and SQLite. Real Redis and the command itself:
tests/integration/test_store_transfer.py.
"""

from __future__ import annotations

import io
import json
import os
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.store import transfer
from pubbot.store.memory import MemoryStore
from pubbot.store.sqlite import SQLiteStore
from pubbot.store.transfer import DumpError, ExportError, Progress, export, import_dump
from pubbot.testing import Harness

HEADER = b'{"format":"pubbot-store","version":1,"source":"test"}'


def now(d):
    """The result of a Deferred or coroutine over a memory store (its Deferreds fire at once)."""
    return Harness._now(d if isinstance(d, Deferred) else Deferred.fromCoroutine(d))


def dump_of(*lines: bytes, end=True) -> bytes:
    body = [HEADER, *lines]
    if end:
        keys = sum(1 for line in lines if b'"more"' not in line)
        body.append(b'{"end":true,"keys":%d,"lines":%d}' % (keys, len(lines)))
    return b"\n".join(body) + b"\n"


def filled(clock=None) -> MemoryStore:
    clock = clock or Clock()
    store = MemoryStore(clock)
    now(_fill(store))
    return store


async def _fill(store) -> None:
    await store.set("s", {"a": [1, 2.5, None, "\u00fc\u2603"]})
    await store.incr("counter", 41)
    await store.set("t", "soon", ttl=3600)
    await store.sadd("set", "b", "a", "with space")
    await store.hset("hash", "f", {"x": True})
    await store.hset("hash", "g", -1)


class ExportTests(SynchronousTestCase):

    def export(self, store, **kwargs) -> list:
        out = io.BytesIO()
        now(export(store, out, **kwargs))
        return [json.loads(line) for line in out.getvalue().decode("ascii").splitlines()]

    def test_header_records_and_end(self):
        clock = Clock()
        clock.advance(1000.25)
        lines = self.export(filled(clock))
        self.assertEqual(lines[0], {"format": "pubbot-store", "version": 1, "source": "memory"})
        self.assertEqual(lines[-1], {"end": True, "keys": 5, "lines": 5})
        self.assertEqual(lines[1:-1], [
            {"key": "counter", "type": "string", "value": 41},
            {"key": "hash", "type": "hash", "fields": {"f": {"x": True}, "g": -1}},
            {"key": "s", "type": "string", "value": {"a": [1, 2.5, None, "\u00fc\u2603"]}},
            {"key": "set", "type": "set", "members": ["a", "b", "with space"]},
            {"key": "t", "type": "string", "value": "soon", "expires": 4600250},
        ])

    def test_an_empty_store(self):
        self.assertEqual(self.export(MemoryStore(Clock()))[1:], [{"end": True, "keys": 0, "lines": 0}])

    def test_lines_are_compact_ascii(self):
        out = io.BytesIO()
        now(export(filled(), out))
        text = out.getvalue()
        text.decode("ascii")
        self.assertNotIn(b", ", text.replace(b"with space", b""))
        self.assertIn(b'"\\u00fc\\u2603"', text)

    def test_big_sets_and_hashes_go_on_more_lines(self):
        self.patch(transfer, "CHUNK_BYTES", 200)
        store = MemoryStore(Clock())
        now(store.sadd("big", *("member%03d" % i for i in range(100))))
        for i in range(50):
            now(store.hset("h", "field%02d" % i, "value %d" % i))
        now(store.expire("big", 10))
        lines = self.export(store, page=7)
        sets = [r for r in lines if r.get("key") == "big"]
        hashes = [r for r in lines if r.get("key") == "h"]
        self.assertGreater(len(sets), 3)
        self.assertGreater(len(hashes), 3)
        self.assertEqual(sets[0]["expires"], 10000)
        self.assertTrue(all(r["more"] is True and "expires" not in r for r in sets[1:] + hashes[1:]))
        self.assertNotIn("more", sets[0])
        self.assertEqual([m for r in sets for m in r["members"]], ["member%03d" % i for i in range(100)])
        self.assertEqual(len({f for r in hashes for f in r["fields"]}), 50)
        self.assertEqual(lines[-1], {"end": True, "keys": 2, "lines": len(sets) + len(hashes)})

    def test_a_line_over_the_limit_is_refused_naming_the_key(self):
        store = MemoryStore(Clock())
        now(store.set("huge", "x" * 5000))
        with self.assertRaises(ExportError) as caught:
            now(export(store, io.BytesIO(), max_line=1000))
        self.assertIn("'huge'", str(caught.exception))
        self.assertIn("--max-line", str(caught.exception))

    def test_progress_on_a_terminal_only(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        ticks = iter(range(0, 10000))
        shown = Terminal()
        now(export(filled(), io.BytesIO(), Progress(shown, "exported", now=lambda: next(ticks), interval=0)))
        self.assertIn("\rexported 1 keys", shown.getvalue())
        self.assertTrue(shown.getvalue().endswith("exported 5 keys\033[K\n"))
        hidden = io.StringIO()
        now(export(filled(), io.BytesIO(), Progress(hidden, "exported")))
        self.assertEqual(hidden.getvalue(), "")


class ImportTests(SynchronousTestCase):

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1000)
        self.store = MemoryStore(self.clock)
        now(self.store.set("before", "kept"))

    def load(self, data: bytes, **kwargs):
        return now(import_dump(self.store, io.BytesIO(data), **kwargs))

    def refused(self, data: bytes, line: int, words: str, **kwargs) -> DumpError:
        with self.assertRaises(DumpError) as caught:
            self.load(data, **kwargs)
        error = caught.exception
        self.assertEqual(error.line, line, str(error))
        self.assertIn(words, str(error))
        self.assertEqual("\n" in str(error), False)
        # Nothing half-imported: the store is as it was.
        self.assertEqual(now(self.store.keys()), ["before"])
        self.assertEqual(now(self.store.get("before")), "kept")
        return error

    def test_round_trip_through_a_dump(self):
        source = filled(self.clock)
        out = io.BytesIO()
        now(export(source, out))
        self.assertEqual(self.load(out.getvalue(), replace=True), (5, 7))
        again = io.BytesIO()
        now(export(self.store, again))
        self.assertEqual(again.getvalue(), out.getvalue())

    def test_merge_keeps_other_keys(self):
        self.load(dump_of(b'{"key":"a","type":"string","value":1}'))
        self.assertEqual(now(self.store.keys()), ["a", "before"])

    def test_values_are_stored_as_compact_json(self):
        self.load(dump_of(b'{"key":"a", "type":"hash", "fields":{"f": [1, {"b" : 2}]}}',
                          b'{"key":"n","type":"string","value":5}'))
        self.assertEqual(now(self.store.scan_items("a", "hash")), (None, [("f", '[1,{"b":2}]')]))
        self.assertEqual(now(self.store.incr("n")), 6)

    def test_expiry_is_absolute(self):
        self.load(dump_of(b'{"key":"later","type":"string","value":1,"expires":1500000}',
                          b'{"key":"past","type":"string","value":1,"expires":999999}',
                          b'{"key":"s","type":"set","members":["a"],"expires":1000800}',
                          b'{"key":"s","type":"set","members":["b"],"more":true}'))
        self.assertEqual(now(self.store.keys()), ["before", "later", "s"])
        self.assertEqual(now(self.store.smembers("s")), {"a", "b"})
        self.clock.advance(0.5)
        self.assertEqual(now(self.store.keys()), ["before", "later", "s"])
        self.clock.advance(0.5)
        self.assertEqual(now(self.store.keys()), ["before", "later"])
        self.clock.advance(499)
        self.assertEqual(now(self.store.keys()), ["before"])

    def test_a_key_listed_twice_takes_the_later_listing(self):
        """Redis's SCAN may list a key twice: the later listing starts it anew."""
        self.load(dump_of(b'{"key":"s","type":"set","members":["a"]}',
                          b'{"key":"s","type":"set","members":["b"]}',
                          b'{"key":"s","type":"set","members":["c"],"more":true}'))
        self.assertEqual(now(self.store.smembers("s")), {"b", "c"})

    def test_crlf_line_ends(self):
        self.load(dump_of(b'{"key":"a","type":"string","value":1}\r').replace(b"\n", b"\r\n"))
        self.assertEqual(now(self.store.get("a")), 1)

    # the header

    def test_empty_dump(self):
        self.refused(b"", 0, "the dump is empty")

    def test_unknown_version(self):
        self.refused(dump_of().replace(b'"version":1', b'"version":2'), 1,
                     "dump format version 2 is not supported (this pubbot reads version 1)")

    def test_version_not_an_integer(self):
        self.refused(dump_of().replace(b'"version":1', b'"version":"1"'), 1, "not an integer")

    def test_not_a_dump(self):
        self.refused(b'{"key":"a","type":"string","value":1}\n', 1, "not a pubbot store dump")
        self.refused(b"PK\x03\x04 zip\n", 1, "not valid JSON")

    def test_header_without_source(self):
        self.refused(dump_of().replace(b',"source":"test"', b""), 1, "names no source")

    # corrupt lines

    def test_truncated_json(self):
        self.refused(dump_of(b'{"key":"a","type":"string","value":1}', b'{"key":"b","type":"str'),
                     3, "not valid JSON")

    def test_cut_short_without_end_line(self):
        self.refused(dump_of(b'{"key":"a","type":"string","value":1}', end=False), 2, "without its end line")

    def test_cut_short_on_a_line_boundary_is_caught_by_the_counts(self):
        data = dump_of(*[b'{"key":"k%d","type":"string","value":1}' % i for i in range(5)])
        lines = data.split(b"\n")
        spliced = b"\n".join(lines[:3] + lines[-2:])
        self.refused(spliced, 4, "the end line counts 5 keys")

    def test_line_after_the_end(self):
        self.refused(dump_of() + b'{"key":"a","type":"string","value":1}\n', 3, "after the end line")

    def test_malformed_end(self):
        self.refused(HEADER + b'\n{"end":1,"keys":0,"lines":0}\n', 2, "malformed end line")

    def test_empty_line(self):
        self.refused(dump_of(b"", b'{"key":"a","type":"string","value":1}'), 2, "an empty line")

    def test_not_utf8(self):
        self.refused(dump_of(b'{"key":"\xff","type":"string","value":1}'), 2, "not UTF-8")

    def test_not_an_object(self):
        self.refused(dump_of(b'["key","a"]'), 2, "a JSON list, not an object")

    def test_nan_is_not_json(self):
        self.refused(dump_of(b'{"key":"a","type":"string","value":NaN}'), 2, "not valid JSON")

    def test_deep_nesting(self):
        self.refused(dump_of(b'{"key":"a","type":"string","value":' + b"[" * 100000 + b"]" * 100000 + b"}"),
                     2, "nested too deeply")

    def test_wrong_types(self):
        bad = [
            (b'{"key":1,"type":"string","value":1}', '"key" is missing or not a string'),
            (b'{"type":"string","value":1}', '"key" is missing'),
            (b'{"key":"a","type":"list","value":1}', '"type" must be one of'),
            (b'{"key":"a","type":"string"}', "without 'value'"),
            (b'{"key":"a","type":"set","members":"abc"}', "non-empty list of strings"),
            (b'{"key":"a","type":"set","members":[]}', "non-empty list of strings"),
            (b'{"key":"a","type":"set","members":["a",1]}', "non-empty list of strings"),
            (b'{"key":"a","type":"hash","fields":[["f",1]]}', "non-empty object"),
            (b'{"key":"a","type":"hash","fields":{}}', "non-empty object"),
            (b'{"key":"a","type":"string","value":1,"expires":"soon"}', "non-negative integer"),
            (b'{"key":"a","type":"string","value":1,"expires":-5}', "non-negative integer"),
            (b'{"key":"a","type":"string","value":1,"expires":true}', "non-negative integer"),
            (b'{"key":"a","type":"string","value":1,"expires":1.5}', "non-negative integer"),
            (b'{"key":"a","type":"string","value":1,"members":["x"]}', "unknown field 'members'"),
            (b'{"key":"a","type":"string","value":1,"more":true}', "unknown field 'more'"),
            (b'{"key":"a","type":"set","members":["x"],"more":false}', '"more" must be true'),
            (b'{"key":"a","type":"set","members":["x"],"more":true}', "must follow a line of the same set"),
        ]
        for line, words in bad:
            self.refused(dump_of(b'{"key":"ok","type":"string","value":1}', line), 3, words)

    def test_more_must_follow_its_own_key(self):
        self.refused(dump_of(b'{"key":"a","type":"set","members":["x"]}',
                             b'{"key":"b","type":"set","members":["y"],"more":true}'), 3, "must follow")
        self.refused(dump_of(b'{"key":"a","type":"hash","fields":{"f":1}}',
                             b'{"key":"a","type":"set","members":["y"],"more":true}'), 3, "must follow")
        self.refused(dump_of(b'{"key":"a","type":"set","members":["x"],"expires":5}',
                             b'{"key":"a","type":"set","members":["y"],"more":true,"expires":5}'),
                     3, "carries no expiry")

    def test_error_late_in_a_big_dump_still_imports_nothing(self):
        lines = [b'{"key":"k%05d","type":"string","value":%d}' % (i, i) for i in range(3000)]
        lines[2500] = b'{"key":"k02500","type":"string","value":'
        self.refused(dump_of(*lines), 2502, "not valid JSON")

    # hostile sizes

    def test_a_huge_line_is_refused_at_the_limit(self):
        self.refused(dump_of(b'{"key":"a","type":"string","value":"%s"}' % (b"x" * 5000,)), 2,
                     "longer than the limit of 1000 bytes", max_line=1000)

    def test_a_line_at_the_limit_is_fine(self):
        line = b'{"key":"a","type":"string","value":"%s"}' % (b"x" * 100,)
        self.load(dump_of(line), max_line=len(line))
        self.assertEqual(len(now(self.store.get("a"))), 100)

    def test_an_endless_line_is_read_in_bounded_pieces(self):
        """However long a line, the reader asks for no more than the limit (plus one) at a time."""
        limit = 4096

        class Endless:
            asked: list = []

            def __init__(self):
                self.lines = [HEADER + b"\n"]

            def readline(self, size=-1):
                self.asked.append(size)
                if self.lines:
                    return self.lines.pop(0)
                return b"[" * size  # never a newline

        with self.assertRaises(DumpError) as caught:
            now(import_dump(self.store, Endless(), max_line=limit))
        self.assertEqual(caught.exception.line, 2)
        self.assertTrue(all(0 < n <= limit + 1 for n in Endless.asked), Endless.asked)
        self.assertEqual(now(self.store.keys()), ["before"])


class HostileDumpTests(SynchronousTestCase):

    @settings(max_examples=300, deadline=None, derandomize=True)
    @given(st.lists(st.one_of(
        st.binary(max_size=80),
        st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                         st.sampled_from(["key", "type", "value", "members", "fields", "expires", "more",
                                          "end", "keys", "lines"]), inner, max_size=4),
                     max_leaves=8).map(lambda v: json.dumps(v).encode()),
    ), max_size=6))
    def test_any_lines_import_whole_or_not_at_all(self, lines):
        store = MemoryStore(Clock())
        now(store.set("before", 1))
        data = HEADER + b"\n" + b"\n".join(lines)
        try:
            now(import_dump(store, io.BytesIO(data), max_line=200))
        except DumpError as e:
            self.assertNotIn("\n", str(e))
            self.assertEqual(now(store.keys()), ["before"])


class SQLiteExportTests(TestCase):
    """SQLite's dump is sorted: the same store gives the same bytes."""

    def store(self):
        store = SQLiteStore(os.path.abspath(self.mktemp()), reactor)
        self.addCleanup(store.close)
        return store

    async def test_the_same_store_gives_the_same_bytes_and_round_trips(self):
        a = self.store()
        await _fill(a)
        for i in range(300):
            await a.hset("many", "f%03d" % (299 - i,), i)
        first, second = io.BytesIO(), io.BytesIO()
        await export(a, first, page=16)
        await export(a, second, page=16)
        self.assertEqual(first.getvalue(), second.getvalue())
        b = self.store()
        first.seek(0)
        self.assertEqual(await import_dump(b, first), (6, 8))
        third = io.BytesIO()
        await export(b, third, page=16)
        self.assertEqual(third.getvalue(), first.getvalue())

    async def test_a_value_that_is_not_json_stops_the_export_naming_it(self):
        a = self.store()
        await a.hset("h", "f", 1)
        await a._run(lambda db, now: db.execute("UPDATE hashes SET value='{oops' WHERE key='h'"))
        with self.assertRaises(ExportError) as caught:
            await export(a, io.BytesIO())
        self.assertIn("field 'f' of key 'h' holds a value that is not JSON", str(caught.exception))

    async def test_a_failed_import_leaves_no_staging_tables(self):
        b = self.store()
        await b.set("before", 1)
        with self.assertRaises(DumpError):
            await import_dump(b, io.BytesIO(dump_of(b'{"key":"a","type":"string","value":1}', b"{")))
        tables = await b._run(lambda db, now: db.execute(
            "SELECT name FROM sqlite_temp_master WHERE type='table'").fetchall())
        self.assertEqual(tables, [])
        self.assertEqual(await b.keys(), ["before"])


class HelpTests(SynchronousTestCase):
    """The format is documented in the command's --help."""

    def test_help_describes_the_format(self):
        from pubbot import cli
        for action in ("export", "import"):
            out = io.StringIO()
            self.patch(sys, "stdout", out)
            with self.assertRaises(SystemExit):
                cli.main(["store", action, "--help"])
            text = out.getvalue()
            self.assertIn('{"format":"pubbot-store","version":1,"source":"sqlite"}', text)
            self.assertIn('"more":true', text)
            self.assertIn('{"end":true,"keys":N,"lines":M}', text)
            self.assertIn("--max-line", text)
        self.assertIn("--replace", text)
        self.assertIn("nothing", text)
