"""
Pipeline benchmark: the per-line cost of pubbot's chat path, in-process.

    python bench/pipeline.py [--lines N] [--every K] [--rounds R] [--chunk BYTES] [--skip-brain] [-v]

The flood's lines (bench/ircserver.py: N chat lines from 200 users, every
K-th "!ping") are fed to pubbot's IRC protocol in socket-sized chunks
through C{dataReceived}, on a L{Clock} advanced as if 100,000 lines came a
second (so timers such as seen's flush fire), with a memory store. Rows:

- C{bare}: twisted.words' IRCClient answering the trigger (bench/bare_client.py);
- C{null bus}: pubbot's protocol and C{chat_message}, the bus dropping the batches;
- C{no brain}: the whole pipeline, every default plugin but the brain, live feed attached;
- C{all}: the same with the brain, learning in this process (a Clock
  cannot spawn the learner process that C{[brain] process} starts).

Each figure is microseconds of process CPU time a line, the median of R
rounds; the baselines are measured in the same rounds as the pipelines.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

from twisted.internet.defer import succeed  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402
from twisted.logger import LogLevel, formatEvent, globalLogBeginner  # noqa: E402

import ircserver  # noqa: E402
from bare_client import Bare, BareFactory  # noqa: E402
from pubbot.bot import Bot  # noqa: E402
from pubbot.config import parse  # noqa: E402
from pubbot.irc.service import IRCService  # noqa: E402
from pubbot.loader import load_handlers  # noqa: E402
from pubbot.store.memory import MemoryStore  # noqa: E402
from pubbot.web.feed import LiveFeed  # noqa: E402
from pubbot.web.sse import EventHub  # noqa: E402

#: Simulated seconds a line, for the clock (100,000 lines/s).
LINE_SECONDS = 1e-5


def show_problems(event: dict) -> None:
    """Log observer: warnings and errors go to stderr (a plugin failing on every line would show)."""
    if event.get("log_level", LogLevel.info) >= LogLevel.warn:
        print("log: %s" % (formatEvent(event),), file=sys.stderr)
        if event.get("log_failure") is not None:
            event["log_failure"].printTraceback(file=sys.stderr)


class NullBus:
    """Takes the protocol's batches and drops them."""

    def submit(self, message):
        return succeed(None)

    def submit_many(self, messages):
        return succeed(None)

    def broadcast(self, message):
        pass


class Subject:
    """One client under test: C{feed} takes a chunk, C{clock} and C{transport} are its own."""

    def __init__(self, protocol, clock: Clock):
        self.protocol = protocol
        self.clock = clock
        self.transport = StringTransport()
        #: What the client wrote while taking the last chunk.
        self.sent = b""
        protocol.makeConnection(self.transport)

    def feed(self, chunks: list[bytes], lines_per_chunk: float) -> float:
        """Feed every chunk; the CPU seconds it took."""
        data_received = self.protocol.dataReceived
        advance = self.clock.advance
        step = lines_per_chunk * LINE_SECONDS
        transport = self.transport
        started = time.process_time()
        for chunk in chunks:
            data_received(chunk)
            advance(step)
            self.sent = transport.value()
            transport.clear()
        return time.process_time() - started


def bare() -> Subject:
    clock = Clock()
    protocol = Bare()
    protocol.factory = BareFactory(ircserver.CHANNEL)
    subject = Subject(protocol, clock)
    subject.feed([b":bench 001 bare :Welcome\r\n:bench 376 bare :End of MOTD\r\n"], 0)
    return subject


def pubbot(plugins: bool, disabled: tuple = ()) -> tuple[Subject, Bot]:
    clock = Clock()
    clock.advance(1_700_000_000.0)
    settings = parse({
        "irc": {"server": "tcp:127.0.0.1:6667", "channels": [ircserver.CHANNEL], "nick": "pubbot",
                "ping_interval": 600.0, "throttle": {"enabled": False}, "sasl": {"mechanisms": []}},
        "music": {"announce": [ircserver.CHANNEL]}, "plugins": {"disabled": list(disabled)}})
    bot = Bot(settings, clock, MemoryStore(clock), rng=random.Random(0))
    if plugins:
        for handler in load_handlers((), settings.plugins.disabled):
            bot.add_handler(handler)
        LiveFeed(bot, EventHub(clock, run="00000000")).attach()
    else:
        bot.bus = NullBus()
    service = IRCService(bot, clock, rng=random.Random(0))
    bot.register_chat(service)
    bot.start()
    subject = Subject(service.factory.buildProtocol(None), clock)
    n = "pubbot"
    welcome = [":bench 001 %s :Welcome" % n,
               ":bench 005 %s CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=rfc1459 :are supported" % n,
               ":bench 376 %s :End of MOTD" % n, ":%s!bot@localhost JOIN %s" % (n, ircserver.CHANNEL),
               ":bench 353 %s = %s :%s" % (n, ircserver.CHANNEL, n),
               ":bench 366 %s %s :End of NAMES" % (n, ircserver.CHANNEL)]
    subject.feed([b"".join(b"%s\r\n" % line.encode() for line in welcome)], 0)
    if not service.rosters.channels.get(ircserver.CHANNEL):
        raise SystemExit("benchmark could not run: pubbot did not join %s" % ircserver.CHANNEL)
    return subject, bot


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--skip-brain", action="store_true", help="leave out the 'all' row")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round's figure")
    args = parser.parse_args()
    globalLogBeginner.beginLoggingTo([show_problems], redirectStandardIO=False)
    lines, triggers = ircserver.chat_lines(args.lines, args.every)
    data = b"".join(lines)
    chunks = [data[i:i + args.chunk] for i in range(0, len(data), args.chunk)]
    per_chunk = len(lines) / len(chunks)
    times: dict[str, list[float]] = {}

    def check(name: str, subject: Subject) -> None:
        """An untimed round first: the client must answer every trigger."""
        answers = 0
        for chunk in chunks:
            subject.feed([chunk], per_chunk)
            answers += subject.sent.count(b" :" + ircserver.ANSWER.encode() + b"\r\n")
        if answers != len(triggers) and name != "null bus":
            raise SystemExit("benchmark could not run: %s answered %d of %d triggers"
                             % (name, answers, len(triggers)))

    def measure(name: str, subject: Subject) -> None:
        seconds = subject.feed(chunks, per_chunk)
        times.setdefault(name, []).append(seconds * 1e6 / len(lines))

    baselines = {"bare": bare(), "null bus": pubbot(False)[0]}
    for base, base_subject in baselines.items():
        check(base, base_subject)
    pipelines = [("no brain", ("brain",))] + ([] if args.skip_brain else [("all", ())])
    for name, disabled in pipelines:
        subject, bot = pubbot(True, disabled)
        check(name, subject)
        gc.collect()
        gc.freeze()  # as BusService does once the plugins have started
        try:
            for _ in range(args.rounds):
                for base, base_subject in baselines.items():
                    measure(base, base_subject)
                measure(name, subject)
        finally:
            bot.stop()
            gc.unfreeze()
    if args.verbose:
        for name, samples in times.items():
            print("%-9s rounds: %s" % (name, " ".join("%.2f" % us for us in samples)))
    print("%d lines in %d chunks of %d bytes, median of %d rounds (process CPU time)" % (
        len(lines), len(chunks), args.chunk, args.rounds))
    bare_us = statistics.median(times["bare"])
    null_us = statistics.median(times["null bus"])
    print("%-9s %10s %8s %9s %9s" % ("client", "us a line", "lines/s", "/ bare", "/ null"))
    for name, samples in times.items():
        us = statistics.median(samples)
        print("%-9s %10.2f %8.0f %9.2f %9.2f" % (name, us, 1e6 / us, us / bare_us, us / null_us))
    return 0


if __name__ == "__main__":
    sys.exit(main())
