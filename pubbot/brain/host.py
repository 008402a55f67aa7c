"""
Where the brain's model lives: in the bot's process (L{InlineModel}) or in
a learner process of its own (L{LearnerProcess}, see L{pubbot.brain.learner}).

Both provide L{IBrainModel}. The inline one answers at once with plain
values; the process answers with Deferreds, each after every line learned
before the question was asked. Callers handle both (L{resolved}).
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import deque
from collections.abc import Sequence
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ProcessDone
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import Attribute, Interface, implementer

import pubbot

from ..store import Encoded
from ..util.ratelimit import RateLimiter
from .learner import (
    ANSWER,
    ASK,
    FAILED,
    LEARN,
    LEARNT,
    MAX_FRAME,
    FrameError,
    FrameReader,
    frame,
    learn_lines,
    learn_payload,
)
from .model import TrigramModel

log = Logger()

#: Bytes of lines sent to the learner and not yet learned, at most; past
#: it, lines are counted as dropped (and logged) rather than kept in memory
#: (at ~50 bytes a line, about 300,000 lines: the learner is far behind).
MAX_BACKLOG = 16 * 1024 * 1024
#: Bytes of lines behind past which the learner asks the bot to pause its
#: input (C{on_pressure(True)}; see Bot.hold_input: chat reading, or with
#: Redis the stream), and below which it lets it go on: the lines wait in
#: the network's buffers or in Redis, not in the bot's memory.
PAUSE_BACKLOG = 512 * 1024
RESUME_BACKLOG = 128 * 1024
#: Seconds the input stays paused for a learner that does not catch up
#: (a hung learner must not stall the chat connection); it is not paused
#: again until the learner has caught up, and past MAX_BACKLOG lines drop.
MAX_PAUSE = 2.0
#: Seconds a question to the learner may take before it is taken for hung
#: (it is then killed, and the brain learns in the bot's process).
QUESTION_TIMEOUT = 60.0
#: Seconds the learner has to exit after its input is closed.
EXIT_TIMEOUT = 10.0
#: Lines of the learner's stderr logged per minute, at most.
STDERR_LOGS = 20


class LearnerError(Exception):
    """The learner could not answer a question (its message says why)."""


class LearnerGone(Exception):
    """The learner process ended before it answered."""


class IBrainModel(Interface):
    """
    The brain's model, wherever it lives. Questions return their answer or
    a Deferred of it; L{learn} returns nothing and never waits.
    """

    max_trigrams = Attribute("The model's bound.")

    def learn(texts):
        """Learn a batch of lines, in order (fire and forget)."""

    def reply(text, seed):
        """A sentence seeded from C{text}'s words (random.Random(seed)), or None."""

    def unlearn(words):
        """Forget every trigram containing one of C{words}; how many."""

    def take_dirty(max_shards, max_trigrams):
        """
        The changed shards, C{{shard: value}} for the store (see
        TrigramModel.take_dirty): C{{field: count}}, or the same as an
        L{Encoded} one; empty: delete the shard's key.
        """

    def has_dirty():
        """Whether take_dirty may have more to hand over."""

    def mark_dirty(shards):
        """Hand these shards over again (a write failed)."""

    def load_shard(shard, data):
        """Merge a stored shard; how many of its entries were malformed."""

    def size():
        """How many trigrams the model holds."""

    def close():
        """Stop; a Deferred that fires when done."""


def resolved(value: Any) -> Any:
    """C{value}, awaitable: a Deferred as it is, anything else already fired."""
    return value if isinstance(value, Deferred) else succeed(value)


@implementer(IBrainModel)
class InlineModel:
    """The model in the bot's own process: every answer at once."""

    def __init__(self, model: TrigramModel):
        self.model = model
        self.max_trigrams = model.max_trigrams

    def learn(self, texts: Sequence[str]) -> None:
        learn_lines(self.model, texts)

    def reply(self, text: str, seed: int) -> str | None:
        return self.model.reply(text, random.Random(seed))

    def unlearn(self, words: Sequence[str]) -> int:
        return self.model.unlearn(words)

    def take_dirty(self, max_shards: int | None = None, max_trigrams: int | None = None) -> dict:
        return self.model.take_dirty(max_shards, max_trigrams)

    def has_dirty(self) -> bool:
        return self.model.has_dirty()

    def mark_dirty(self, shards: Sequence[int]) -> None:
        self.model.mark_dirty(shards)

    def load_shard(self, shard: int, data: Any) -> int:
        return self.model.load_shard(shard, data)

    def size(self) -> int:
        return len(self.model)

    def close(self) -> Deferred:
        return succeed(None)


def _shards(answer: Any) -> dict:
    """
    A take answer's shards, checked: C{[[shard, text], ...]}, each text the
    shard as stored (L{Encoded}), or "" for an empty one (to delete).
    """
    if not isinstance(answer, list):
        raise LearnerError("take: expected a list of shards, got %r" % (type(answer).__name__,))
    out: dict = {}
    for item in answer:
        if (not isinstance(item, list) or len(item) != 2 or type(item[0]) is not int
                or type(item[1]) is not str):
            raise LearnerError(("take: malformed shard %r" % (item,))[:200])
        out[item[0]] = Encoded(item[1]) if item[1] else {}
    return out


@implementer(IBrainModel)
class LearnerProcess(ProcessProtocol):
    """
    The model in a learner process (C{python -m pubbot.brain.learner}),
    started by L{start} on a reactor providing C{IReactorProcess}.

    Lines go down the learner's stdin as they come, questions after them;
    answers come back in the order asked. C{on_lost(reason)} is called when
    the learner ends without being asked to (crash, kill, broken output,
    a question unanswered for L{QUESTION_TIMEOUT} seconds).

    C{on_pressure(True)} asks for the bot's input to pause when more than
    C{pause_backlog} bytes of lines are not learned yet; C{on_pressure(False)}
    lets it go on once the learner is down to C{resume_backlog} (a quarter,
    at most L{RESUME_BACKLOG}), after L{MAX_PAUSE} seconds, or when the
    learner ends or is stopped.
    """

    def __init__(self, reactor, max_trigrams: int, python: str = sys.executable,
                 max_backlog: int = MAX_BACKLOG, argv: list | None = None,
                 pause_backlog: int = PAUSE_BACKLOG):
        self.reactor = reactor
        self.max_trigrams = max_trigrams
        self.max_backlog = max_backlog
        self.pause_backlog = pause_backlog
        self.resume_backlog = min(RESUME_BACKLOG, pause_backlog // 4)
        self.argv = argv or [python, "-m", "pubbot.brain.learner", str(max_trigrams)]
        self.on_lost: Any = None
        self.on_pressure: Any = None
        #: Whether chat reading is paused for this learner now; how often it was.
        self.pausing = False
        self.pauses = 0
        self._pause_timeout: Any = None
        self._gave_up = False
        #: Fires (with None) once the process has ended; C{reason} then says how.
        self.ended: Deferred = Deferred()
        self.reason: Failure | None = None
        self.backlog = 0
        self.dropped = 0
        self._unlearnt: deque[int] = deque()
        self._waiting: deque[Deferred] = deque()
        self._reader = FrameReader(MAX_FRAME)
        self._stderr = b""
        self._stderr_logs = RateLimiter(reactor, STDERR_LOGS, 60.0)
        self._drop_logs = RateLimiter(reactor, 1, 60.0)
        self._closing = False
        self._gone = False

    @property
    def pid(self) -> int | None:
        """The learner's process id while it runs, else None."""
        pid = getattr(self.transport, "pid", None) if not self._gone else None
        return pid if isinstance(pid, int) else None

    def start(self) -> None:
        """Start the learner process."""
        env = dict(os.environ)
        # Find this pubbot, wherever it was imported from (a source tree too).
        here = os.path.dirname(os.path.dirname(os.path.abspath(pubbot.__file__)))
        env["PYTHONPATH"] = os.pathsep.join([here] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
        self.reactor.spawnProcess(self, self.argv[0], self.argv, env=env,
                                  childFDs={0: "w", 1: "r", 2: "r"})

    # what the bot asks

    def learn(self, texts: Sequence[str]) -> None:
        if self._gone or self._closing or self.transport is None:
            self._drop(len(texts), "the learner process is not running")
            return
        payload = learn_payload(texts)
        if self.backlog + len(payload) > self.max_backlog:
            self._drop(len(texts), "the learner process is %d bytes behind" % (self.backlog,))
            return
        self.backlog += len(payload)
        self._unlearnt.append(len(payload))
        self.transport.write(frame(LEARN, payload))
        if self.backlog > self.pause_backlog and not self.pausing and not self._gave_up:
            self._pause()

    def reply(self, text: str, seed: int) -> Deferred:
        return self._ask({"op": "reply", "text": text, "seed": seed}).addCallback(self._optional_str)

    def unlearn(self, words: Sequence[str]) -> Deferred:
        return self._ask({"op": "unlearn", "words": list(words)}).addCallback(self._int)

    def take_dirty(self, max_shards: int | None = None, max_trigrams: int | None = None) -> Deferred:
        return self._ask({"op": "take", "max_shards": max_shards, "max_trigrams": max_trigrams}
                         ).addCallback(_shards)

    def has_dirty(self) -> Deferred:
        return self._ask({"op": "dirty"}).addCallback(self._bool)

    def mark_dirty(self, shards: Sequence[int]) -> Deferred:
        return self._ask({"op": "mark", "shards": list(shards)})

    def load_shard(self, shard: int, data: Any) -> Deferred:
        return self._ask({"op": "load", "shard": shard, "data": data}).addCallback(self._int)

    def size(self) -> Deferred:
        return self._ask({"op": "size"}).addCallback(self._int)

    def close(self) -> Deferred:
        """Close the learner's input (it exits when it has read it all); kill it if it lingers."""
        if not self._gone:
            self._closing = True
            if self.transport is not None:
                self.transport.closeStdin()
            killer = self.reactor.callLater(EXIT_TIMEOUT, self._kill, "did not exit")
            done: Deferred = Deferred()

            def ended(_):
                if killer.active():
                    killer.cancel()
                done.callback(None)
            self.ended.addCallback(ended)
            return done
        return succeed(None)

    # answers

    @staticmethod
    def _int(value: Any) -> int:
        if type(value) is not int:
            raise LearnerError("expected an integer, got %r" % (value,))
        return value

    @staticmethod
    def _optional_str(value: Any) -> str | None:
        if value is not None and not isinstance(value, str):
            raise LearnerError("expected a sentence, got %r" % (value,))
        return value

    @staticmethod
    def _bool(value: Any) -> bool:
        if type(value) is not bool:
            raise LearnerError("expected true or false, got %r" % (value,))
        return value

    def _ask(self, request: dict) -> Deferred:
        if self._gone or self._closing or self.transport is None:
            return fail(LearnerGone("the learner process is not running"))
        d: Deferred = Deferred()
        self._waiting.append(d)
        self.transport.write(frame(ASK, json.dumps(request).encode("ascii")))
        timeout = self.reactor.callLater(QUESTION_TIMEOUT, self._kill,
                                         "did not answer %s in %d s" % (request["op"], QUESTION_TIMEOUT))

        def answered(result):
            if timeout.active():
                timeout.cancel()
            return result
        return d.addBoth(answered)

    def childDataReceived(self, fd: int, data: bytes) -> None:
        if fd == 2:
            self._errput(data)
            return
        if self._gone:
            return
        try:
            frames = self._reader.feed(data)
        except FrameError as e:
            self._kill("sent a broken frame (%s)" % (e,))
            return
        for kind, payload in frames:
            if kind == LEARNT:
                if self._unlearnt:
                    self.backlog -= self._unlearnt.popleft()
                    if self.backlog <= self.resume_backlog:
                        self._gave_up = False
                        self._resume()
                continue
            if kind not in (ANSWER, FAILED) or not self._waiting:
                self._kill("sent an unexpected %r frame" % (kind,))
                return
            d = self._waiting.popleft()
            if kind == FAILED:
                d.errback(LearnerError(payload.decode("utf-8", "replace")))
                continue
            try:
                value = json.loads(payload)
            except ValueError:
                d.errback(LearnerError("an answer that is not JSON"))
                continue
            d.callback(value)

    def _errput(self, data: bytes) -> None:
        """Log what the learner writes to stderr, a line at a time (bounded)."""
        *lines, rest = (self._stderr + data).split(b"\n")
        self._stderr = rest[:4096]  # an unended line: its start is enough
        for line in lines:
            if line.strip() and self._stderr_logs.allow():
                log.warn("brain learner: {line}", line=line.decode("utf-8", "replace")[:500])

    # pressure on chat reading

    def _pause(self) -> None:
        self.pausing = True
        self.pauses += 1
        self._pause_timeout = self.reactor.callLater(MAX_PAUSE, self._pause_expired)
        self._pressure(True)

    def _pause_expired(self) -> None:
        self._pause_timeout = None
        self._gave_up = True
        log.warn("brain: the learner is still {backlog} bytes behind after {seconds} s; reading chat "
                 "again (past {most} bytes behind, lines are not learned)",
                 backlog=self.backlog, seconds=MAX_PAUSE, most=self.max_backlog)
        self._resume()

    def _resume(self) -> None:
        if not self.pausing:
            return
        if self._pause_timeout is not None and self._pause_timeout.active():
            self._pause_timeout.cancel()
        self._pause_timeout = None
        self.pausing = False
        self._pressure(False)

    def _pressure(self, on: bool) -> None:
        if self.on_pressure is not None:
            try:
                self.on_pressure(on)
            except Exception:
                log.failure("brain: pausing or resuming chat reading failed")

    def _drop(self, count: int, why: str) -> None:
        self.dropped += count
        if self._drop_logs.allow():
            log.warn("brain: {why}; {dropped} lines not learned so far", why=why, dropped=self.dropped)

    def _kill(self, why: str) -> None:
        if self._gone:
            return
        log.error("brain: the learner process {why}; stopping it", why=why)
        self._gone = True
        self._resume()
        try:
            if self.transport is not None:
                self.transport.signalProcess("KILL")
        except Exception:
            pass  # already exited

    def processEnded(self, reason: Failure) -> None:
        self._gone = True
        self._resume()  # never leave the input paused for a learner that is gone
        if self._stderr.strip():
            self._errput(b"\n")
        waiting, self._waiting = self._waiting, deque()
        for d in waiting:
            d.errback(LearnerGone("the learner process ended before it answered"))
        expected = self._closing and reason.check(ProcessDone) is not None
        if not expected:
            log.error("brain: the learner process ended: {reason}", reason=reason.getErrorMessage())
            if self.on_lost is not None:
                try:
                    self.on_lost(reason)
                except Exception:
                    log.failure("brain: handling the learner's end failed")
        self.reason = reason
        self.ended.callback(None)
