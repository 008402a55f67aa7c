"""
The brain's learner process: a L{TrigramModel} on another core.

    python -m pubbot.brain.learner MAX_TRIGRAMS

Learning is a pure sink, so the bot hands batches of lines to this process
(one pipe write a batch) and goes on reading chat; questions (a reply, an
unlearn, the changed shards to store) travel the same pipe, so each is
answered after every line sent before it is learned. Only the standard
library and L{pubbot.brain.model} are imported, to keep the process small.

Frames, both ways: a 4-byte big-endian payload length, a 1-byte kind, the
payload. To the learner: L{LEARN} (lines, UTF-8, newline-separated: a line
never holds a newline, see L{learn_payload}) and L{ASK} (a JSON request).
From it: L{LEARNT} (an empty acknowledgement of each LEARN, so the bot knows
how far behind it is), L{ANSWER} (JSON) or L{FAILED} (a message) for each
ASK, in order (see L{answer} for the requests). A malformed request is
answered with FAILED; broken framing ends the process with status 2 and a
line on stderr.
"""

from __future__ import annotations

import json
import random
import signal
import struct
import sys

from ..store import encode
from .model import TrigramModel

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time, to keep the learner process small
    from collections.abc import Callable, Iterable, Sequence
    from typing import Any

LEARN, ASK = b"L", b"Q"
LEARNT, ANSWER, FAILED = b"K", b"A", b"E"
HEADER = struct.Struct(">IB")
#: Largest frame either side accepts (a whole model's shards, handed over
#: unbounded at shutdown, is ~10 MB at the default size).
MAX_FRAME = 256 * 1024 * 1024
#: New trigrams filed into their shards after each batch learned (see
#: TrigramModel.file_new), at most: the flushes' index is built as the
#: trigrams come, in steps of about as long as a flush round's.
FILE_TRIGRAMS = 1000


class FrameError(Exception):
    """The byte stream is not a sequence of frames."""


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    """One frame."""
    return HEADER.pack(len(payload), kind[0]) + payload


def learn_payload(texts: Iterable[str]) -> bytes:
    """
    Lines as a LEARN payload. A newline inside a line becomes a space: both
    are whitespace between words, so the line is learned the same.
    """
    joined = "\n".join([t.replace("\n", " ") if "\n" in t else t for t in texts])
    return joined.encode("utf-8", "surrogatepass")


def learn_texts(payload: bytes) -> list[str]:
    """The lines of a LEARN payload."""
    return payload.decode("utf-8", "surrogatepass").split("\n")


class FrameReader:
    """Splits a byte stream into (kind, payload) frames as it arrives."""

    def __init__(self, max_frame: int = MAX_FRAME):
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        """The frames completed by C{data}; L{FrameError} on a frame too large."""
        buffer = self._buffer
        buffer += data
        out = []
        at = 0
        while len(buffer) - at >= HEADER.size:
            size, kind = HEADER.unpack_from(buffer, at)
            if size > self.max_frame:
                raise FrameError("a frame of %d bytes (at most %d)" % (size, self.max_frame))
            end = at + HEADER.size + size
            if len(buffer) < end:
                break
            out.append((bytes((kind,)), bytes(buffer[at + HEADER.size:end])))
            at = end
        del buffer[:at]
        return out


def answer(model: TrigramModel, request: Any) -> Any:
    """What the learner answers to one decoded ASK request; ValueError when malformed."""
    if not isinstance(request, dict):
        raise ValueError("a request is a JSON object")
    op = request.get("op")
    if op == "reply":
        text, seed = request.get("text"), request.get("seed")
        if not isinstance(text, str) or not isinstance(seed, int):
            raise ValueError("reply needs text (a string) and seed (an integer)")
        return model.reply(text, random.Random(seed))
    if op == "unlearn":
        words = request.get("words")
        if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
            raise ValueError("unlearn needs words (a list of strings)")
        return model.unlearn(words)
    if op == "take":
        return _take(model, request)
    if op == "dirty":
        return model.has_dirty()
    return _answer_shards(model, request, op)


def _take(model: TrigramModel, request: dict) -> Any:
    max_shards, max_trigrams = request.get("max_shards"), request.get("max_trigrams")
    if not all(v is None or (isinstance(v, int) and v > 0) for v in (max_shards, max_trigrams)):
        raise ValueError("take needs max_shards and max_trigrams (positive integers or null)")
    # Each shard as the store keeps it ("" to delete it): the bot hands
    # the text to its store as it stands (pubbot.store.Encoded).
    return [[s, encode(data) if data else ""]
            for s, data in model.take_dirty(max_shards, max_trigrams).items()]


def _answer_shards(model: TrigramModel, request: dict, op: Any) -> Any:
    """L{answer} for mark, load and size."""
    if op == "mark":
        shards = request.get("shards")
        if not isinstance(shards, list) or not all(
                isinstance(s, int) and 0 <= s < model.shards for s in shards):
            raise ValueError("mark needs shards (a list of shard numbers)")
        model.mark_dirty(shards)
        return None
    if op == "load":
        shard = request.get("shard")
        if not isinstance(shard, int) or not 0 <= shard < model.shards:
            raise ValueError("load needs shard (a shard number)")
        return model.load_shard(shard, request.get("data"))
    if op == "size":
        return len(model)
    raise ValueError("unknown op %r" % (op,))


def learn_lines(model: TrigramModel, texts: Sequence[str]) -> None:
    """Learn a batch of lines, wherever the model lives (here, or in the bot's process)."""
    model.learn_many(texts)
    model.file_new(FILE_TRIGRAMS)


def learn(model: TrigramModel, payload: bytes) -> None:
    """Learn a LEARN payload's lines."""
    learn_lines(model, learn_texts(payload))


def serve(model: TrigramModel, read: Callable[[int], bytes], write: Callable[[bytes], Any],
          flush: Callable[[], Any] = lambda: None) -> int:
    """
    Answer frames read with C{read} (a binary stream's read) until end of
    input; returns the exit status (0 at end of input, 2 for broken framing).
    """
    reader = FrameReader()
    while True:
        chunk = read(65536)
        if not chunk:
            return 0
        try:
            frames = reader.feed(chunk)
        except FrameError as e:
            print("pubbot.brain.learner: %s; stopping" % (e,), file=sys.stderr, flush=True)
            return 2
        for kind, payload in frames:
            if kind == LEARN:
                try:
                    learn(model, payload)
                except Exception as e:  # never seen; reported, the batch lost, the rest goes on
                    print("pubbot.brain.learner: learning a batch failed: %r" % (e,), file=sys.stderr,
                          flush=True)
                write(frame(LEARNT))
            elif kind == ASK:
                try:
                    result = answer(model, json.loads(payload))
                except Exception as e:
                    write(frame(FAILED, ("%s: %s" % (type(e).__name__, e)).encode("utf-8", "replace")))
                else:
                    write(frame(ANSWER, json.dumps(result).encode("ascii")))
            else:
                print("pubbot.brain.learner: unknown frame kind %r; stopping" % (kind,), file=sys.stderr,
                      flush=True)
                return 2
        flush()


def main(argv: list | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        max_trigrams = int(args[0])
        model = TrigramModel(max_trigrams)
    except (IndexError, ValueError):
        print("usage: python -m pubbot.brain.learner MAX_TRIGRAMS", file=sys.stderr)
        return 2
    # Its life is its input's: it ends when the bot closes the pipe (or
    # dies), after learning what was sent. A Ctrl-C or a SIGTERM sent to
    # the bot's whole process group must not end it before the bot has
    # asked for the model's last changes.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    return serve(model, getattr(stdin, "read1", stdin.read), stdout.write, stdout.flush)


if __name__ == "__main__":
    sys.exit(main())
