"""
Moving a store's contents between stores (SQLite, Redis, memory): the
dump format and the streaming export and import behind C{pubbot store
export} and C{pubbot store import}.

The dump is JSON Lines (one compact, ASCII-only JSON object a line):

    {"format":"pubbot-store","version":1,"source":"sqlite"}
    {"key":"karma:alice","type":"string","value":3}
    {"key":"seen:bob","type":"string","value":{"when":1.5},"expires":1767225600000}
    {"key":"greet:#c","type":"set","members":["alice","bob"]}
    {"key":"factoids","type":"hash","fields":{"cheese":"is good"}}
    {"key":"factoids","type":"hash","fields":{"wine":"too"},"more":true}
    {"end":true,"keys":4,"lines":5}

The first line is the header: the format's name, its version (an
integer; a reader refuses versions it does not know) and the kind of
store it came from. Then one line a key: strings (counters are strings
holding an integer) with their JSON value, sets with their members
(strings), hashes with their fields and JSON values. C{expires} is the
key's absolute expiry in milliseconds since the Unix epoch (absent: it
never expires), so a key keeps its expiry instant however long the dump
waits. A set or hash larger than about L{CHUNK_BYTES} continues on the
following lines, each with C{"more":true} (and no C{expires}). The last
line counts the keys and the lines between header and end, so a dump cut
short is refused rather than half-imported. A key may be listed twice
when the store changed during the export (Redis's SCAN); the later
listing wins. The exporting store's order is kept: SQLite's is sorted by
key (and member or field), so exporting the same SQLite store twice
gives the same bytes.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

from twisted.internet.defer import Deferred, maybeDeferred

from . import encode

#: The format's name, in the header.
FORMAT = "pubbot-store"
#: The format version written, and the only one read.
VERSION = 1
#: Longest line written or read (bytes, without the newline); see C{--max-line}.
MAX_LINE = 16 * 1024 * 1024
#: A set's or hash's line is closed past this many bytes; the rest goes on "more" lines.
CHUNK_BYTES = 256 * 1024
#: Keys asked for in one L{IStore.scan} page, items in one C{scan_items} page.
PAGE = 200
#: Staged in one L{IStoreImport.add}: at most this many records or bytes of lines.
BATCH_RECORDS = 500
BATCH_BYTES = 1024 * 1024

KINDS = ("string", "set", "hash")
_ITEMS = {"string": "value", "set": "members", "hash": "fields"}


class DumpError(Exception):
    """A dump that cannot be imported, at line C{line} (0: the dump as a whole)."""

    def __init__(self, line: int, message: str):
        super().__init__(line, message)
        self.line = line
        self.message = message

    def __str__(self) -> str:
        return "line %d: %s" % (self.line, self.message) if self.line else self.message


class ExportError(Exception):
    """A store whose contents cannot be written as a dump (names the key)."""


def _no_constants(name: str) -> Any:
    raise ValueError("%s is not JSON" % (name,))


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_no_constants)


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=False)


class Progress:
    """
    A one-line progress report, redrawn on C{stream} at most every
    C{interval} seconds, and only when C{stream} is a terminal.
    """

    def __init__(self, stream, what: str, total: int | None = None,
                 now: Callable[[], float] = time.monotonic, interval: float = 0.2):
        isatty = getattr(stream, "isatty", None)
        self.stream = stream if isatty is not None and isatty() else None
        self.what = what
        self.total = total
        self.now = now
        self.interval = interval
        self._last: float | None = None
        self.shown = False

    def update(self, keys: int, done: int | None = None, force: bool = False) -> None:
        if self.stream is None:
            return
        t = self.now()
        if not force and self._last is not None and t - self._last < self.interval:
            return
        self._last = t
        text = "%s %d keys" % (self.what, keys)
        if done is not None:
            if self.total:
                text += ", %d%% of %s" % (min(100, done * 100 // self.total), _size(self.total))
            else:
                text += ", %s read" % (_size(done),)
        self.stream.write("\r%s\033[K" % (text,))
        self.stream.flush()
        self.shown = True

    def finish(self, keys: int, done: int | None = None) -> None:
        if self.stream is None:
            return
        self.update(keys, done, force=True)
        self.stream.write("\n")
        self.stream.flush()


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return "%d %s" % (n, unit) if unit == "bytes" else "%.1f %s" % (n, unit)
        n /= 1024  # type: ignore[assignment]
    return str(n)  # pragma: no cover


# export

async def export(store, out, progress: Progress | None = None, max_line: int = MAX_LINE,
                 page: int = PAGE) -> tuple[int, int]:
    """
    Write every live key of C{store} to the binary stream C{out} as a
    dump, a page at a time (memory stays bounded by a page and a line).
    Returns (keys, lines written between header and end).
    """
    counts = [0, 0]

    def write(record: dict, key: str | None = None) -> None:
        line = _dumps(record)
        if len(line) > max_line:
            raise ExportError("key %r needs a line of %d bytes, more than the limit of %d "
                              "(raise it with --max-line, on import too)" % (key, len(line), max_line))
        out.write(line.encode("ascii") + b"\n")

    write({"format": FORMAT, "version": VERSION, "source": getattr(store, "kind", type(store).__name__)})
    cursor = None
    while True:
        cursor, entries = await store.scan(cursor, page)
        # A page's strings are asked for at once (Redis pipelines them; SQLite
        # runs them in one transaction), then written in order.
        strings = {key: maybeDeferred(store.scan_items, key, kind)
                   for key, kind, _ in entries if kind == "string"}
        try:
            for key, kind, expires in entries:
                lines = await _export_key(store, key, kind, expires, write, page, strings.pop(key, None))
                if lines:
                    counts[0] += 1
                    counts[1] += lines
                if progress is not None:
                    progress.update(counts[0])
        finally:
            for d in strings.values():  # not reached: their failures are not news
                d.addErrback(lambda f: None)
        if cursor is None:
            break
    write({"end": True, "keys": counts[0], "lines": counts[1]})
    if progress is not None:
        progress.finish(counts[0])
    return counts[0], counts[1]


def _value(key: str, text: Any, field: str | None = None) -> Any:
    try:
        return _loads(text)
    except (ValueError, TypeError, RecursionError) as e:
        where = "key %r" % (key,) if field is None else "field %r of key %r" % (field, key)
        raise ExportError("%s holds a value that is not JSON (%s); fix or delete it, then export again"
                          % (where, e)) from None


async def _export_string(store, key: str, head: dict, when: int | None, write,
                         asked: Deferred | None) -> int:
    """L{_export_key} of a string: one line, or none when it is gone."""
    try:
        _, items = await (asked if asked is not None else store.scan_items(key, "string"))
    except TypeError:
        return 0  # it changed kind meanwhile: as if gone
    if not items:
        return 0
    head["value"] = _value(key, items[0])
    if when is not None:
        head["expires"] = when
    write(head, key)
    return 1


def _add_item(chunk: Any, kind: str, key: str, item: Any) -> int:
    """Add a set member or a hash field to C{chunk}; about how many bytes it adds to the line."""
    if kind == "set":
        chunk.append(item)
        return len(item) + 4
    field, text = item
    chunk[field] = _value(key, text, field)
    return len(field) + len(text) + 6


async def _export_key(store, key: str, kind: str, expires: float | None, write, page: int,
                      asked: Deferred | None = None) -> int:
    """Write one key's lines; how many (0: it was gone or of no kind a dump holds)."""
    if kind not in KINDS:
        return 0
    head: dict = {"key": key, "type": kind}
    when = None if expires is None else int(round(expires * 1000))
    if kind == "string":
        return await _export_string(store, key, head, when, write, asked)
    lines = 0
    chunk: Any = [] if kind == "set" else {}
    size = 0

    def flush() -> None:
        nonlocal chunk, size, lines
        record = dict(head)
        record[_ITEMS[kind]] = chunk
        if lines == 0 and when is not None:
            record["expires"] = when
        if lines:
            record["more"] = True
        write(record, key)
        lines += 1
        chunk = [] if kind == "set" else {}
        size = 0

    cursor = None
    while True:
        try:
            cursor, items = await store.scan_items(key, kind, cursor, page)
        except TypeError:
            return lines  # it changed kind meanwhile: as if gone (listed again if the walk meets it)
        for item in items:
            size += _add_item(chunk, kind, key, item)
            if size >= CHUNK_BYTES:
                flush()
        if cursor is None:
            break
    if chunk:
        flush()
    return lines


# import

def _lines(stream, max_line: int) -> Iterator[tuple[int, bytes]]:
    """The stream's lines, numbered from 1, each read in at most C{max_line} + 1 bytes."""
    number = 0
    while True:
        raw = stream.readline(max_line + 1)
        if not raw:
            return
        number += 1
        if raw.endswith(b"\n"):
            raw = raw[:-1]
        elif len(raw) > max_line:
            raise DumpError(number, "longer than the limit of %d bytes (--max-line)" % (max_line,))
        yield number, raw


def _parse(number: int, raw: bytes) -> Any:
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise DumpError(number, "not UTF-8 text") from None
    if not text.strip():
        raise DumpError(number, "an empty line")
    try:
        obj = _loads(text)
    except RecursionError:
        raise DumpError(number, "nested too deeply") from None
    except ValueError as e:
        raise DumpError(number, "not valid JSON (%s); truncated or corrupt?" % (e,)) from None
    if not isinstance(obj, dict):
        raise DumpError(number, "a JSON %s, not an object" % (type(obj).__name__,))
    return obj


def _header(number: int, obj: dict) -> dict:
    if obj.get("format") != FORMAT:
        raise DumpError(number, "not a pubbot store dump (its first line has no \"format\":\"%s\")"
                        % (FORMAT,))
    version = obj.get("version")
    if type(version) is not int:
        raise DumpError(number, "the header's version is not an integer")
    if version != VERSION:
        raise DumpError(number, "dump format version %d is not supported (this pubbot reads version %d)"
                        % (version, VERSION))
    if not isinstance(obj.get("source"), str):
        raise DumpError(number, "the header names no source store")
    return obj


def _record(number: int, obj: dict, previous: tuple[str, str, float | None] | None) -> tuple:
    """One key line as a staging record C{(key, kind, expires, items, fresh)}."""
    key, kind = obj.get("key"), obj.get("type")
    if not isinstance(key, str):
        raise DumpError(number, "\"key\" is missing or not a string")
    if kind not in KINDS:
        raise DumpError(number, "key %r: \"type\" must be one of %s" % (key, ", ".join(KINDS)))
    name = _ITEMS[kind]
    allowed = {"key", "type", name, "expires"} | ({"more"} if kind != "string" else set())
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise DumpError(number, "key %r: unknown field %r for a %s" % (key, unknown[0], kind))
    if name not in obj:
        raise DumpError(number, "key %r: a %s without %r" % (key, kind, name))
    more = obj.get("more", False)
    if more is not True and "more" in obj:
        raise DumpError(number, "key %r: \"more\" must be true when present" % (key,))
    expires = _record_expires(number, obj, key, kind, more, previous)
    return key, kind, expires, _record_items(number, key, kind, obj[name]), not more


def _record_expires(number: int, obj: dict, key: str, kind: str, more: bool,
                    previous: tuple[str, str, float | None] | None) -> float | None:
    """L{_record}: the key's expiry (a "more" line: the previous line's)."""
    if more:
        if "expires" in obj:
            raise DumpError(number, "key %r: a \"more\" line carries no expiry" % (key,))
        if previous is None or previous[:2] != (key, kind):
            raise DumpError(number, "key %r: a \"more\" line must follow a line of the same %s"
                            % (key, kind))
        return previous[2]
    if "expires" in obj:
        when = obj["expires"]
        if type(when) is not int or when < 0:
            raise DumpError(number, "key %r: \"expires\" must be a non-negative integer (ms)" % (key,))
        return when / 1000.0
    return None


def _record_items(number: int, key: str, kind: str, value: Any) -> list:
    """L{_record}: the line's items, checked."""
    if kind == "string":
        return [encode(value)]
    if kind == "set":
        if not isinstance(value, list) or not value or not all(isinstance(m, str) for m in value):
            raise DumpError(number, "key %r: \"members\" must be a non-empty list of strings" % (key,))
        return value
    if not isinstance(value, dict) or not value:
        raise DumpError(number, "key %r: \"fields\" must be a non-empty object" % (key,))
    return [(f, encode(v)) for f, v in value.items()]


def _stream_size(stream) -> int | None:
    try:
        info = os.fstat(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None
    import stat
    return info.st_size if stat.S_ISREG(info.st_mode) else None


async def store_is_empty(store) -> bool:
    """Whether C{store} holds no live key (a walk stopped at the first one)."""
    cursor = None
    while True:
        cursor, entries = await store.scan(cursor, 10)
        if entries:
            return False
        if cursor is None:
            return True


async def import_dump(store, stream, replace: bool = False, progress: Progress | None = None,
                      max_line: int = MAX_LINE) -> tuple[int, int]:
    """
    Read the dump on the binary stream C{stream} into C{store}'s staging
    area (L{IStoreImport}), checking every line, then make it live in one
    step: each dumped key replaces the key of its name, and with
    C{replace} every other key goes. On any error (L{DumpError} names the
    line) the staging area is dropped and the store is as it was.
    Returns (keys made live, lines read).
    """
    stage = await store.begin_import()
    try:
        made, lines = await _stage(stage, stream, progress, max_line)
        made = await stage.commit(replace)
    except BaseException:
        with contextlib.suppress(Exception):
            await stage.abort()
        raise
    if progress is not None:
        progress.finish(made, progress.total)
    return made, lines


async def _stage(stage, stream, progress: Progress | None, max_line: int) -> tuple[int, int]:
    if progress is not None and progress.total is None:
        progress.total = _stream_size(stream)
    lines = _lines(stream, max_line)
    first = next(lines, None)
    if first is None:
        raise DumpError(0, "the dump is empty (no header line)")
    _header(first[0], _parse(*first))
    batch: list = []
    size = 0
    keys = records = 0
    done = len(first[1]) + 1
    previous: tuple[str, str, float | None] | None = None
    end: dict | None = None
    number = first[0]
    for number, raw in lines:
        done += len(raw) + 1
        if end is not None:
            raise DumpError(number, "a line after the end line")
        obj = _parse(number, raw)
        if "end" in obj:
            end = obj
            if obj.get("end") is not True or type(obj.get("keys")) is not int \
                    or type(obj.get("lines")) is not int:
                raise DumpError(number, "a malformed end line")
            if (obj["keys"], obj["lines"]) != (keys, records):
                raise DumpError(number, "the end line counts %d keys in %d lines, but %d keys in %d lines "
                                "came before it (edited or spliced?)" % (obj["keys"], obj["lines"], keys,
                                                                         records))
            continue
        record = _record(number, obj, previous)
        previous = record[:3]
        records += 1
        keys += record[4]
        batch.append(record)
        size += len(raw)
        if len(batch) >= BATCH_RECORDS or size >= BATCH_BYTES:
            await stage.add(batch)
            batch, size = [], 0
            if progress is not None:
                progress.update(keys, done)
    if end is None:
        raise DumpError(number, "the dump ends without its end line (cut short?)")
    if batch:
        await stage.add(batch)
    return keys, records + 2
