"""
Pipeline benchmark: the per-line cost of pubbot's chat path, in-process.

    python bench/pipeline.py [--lines N] [--every K] [--rounds R] [--chunk BYTES] [--skip-brain]
                             [--tagged | --plain] [-v]

Each client first registers and joins with bench/ircserver.py's server, in
memory; then the flood's lines (N chat lines from 200 users, every K-th
"!ping"), as that server writes them to that client, are fed to it in
socket-sized chunks through C{dataReceived}, on a L{Clock} advanced as if
100,000 lines came a second (so timers such as seen's flush fire), with a
memory store. pubbot runs tagged (it negotiates every capability the server
offers, and every line carries time, msgid and account tags) and plain (a
server without CAP); --tagged or --plain runs only one. The bare client
asks for no capability and gets plain lines. Rows:

- C{bare}: twisted.words' IRCClient answering the trigger (bench/bare_client.py);
- C{null bus}: pubbot's protocol and C{chat_message}, the bus dropping the batches;
- C{no brain}: the whole pipeline, every default plugin but the brain, live feed attached;
- C{all}: the same with the brain, learning in this process (a Clock
  cannot spawn the learner process that C{[brain] process} starts).

Each figure is microseconds of process CPU time a line, the median of R
rounds; the baselines are measured in the same rounds as the pipelines,
and a pipeline's tagged and plain clients alternate round by round.
The bytes are rendered once (each line's time and msgid stay the same from
round to round) and the client's answers are not echoed back to it.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import ircserver  # noqa: E402
from bare_client import Bare, BareFactory  # noqa: E402
from twisted.internet.defer import succeed  # noqa: E402
from twisted.internet.protocol import Protocol  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402
from twisted.internet.testing import StringTransport  # noqa: E402
from twisted.logger import LogLevel, formatEvent, globalLogBeginner  # noqa: E402

from pubbot.config.settings import parse  # noqa: E402
from pubbot.core.bot import Bot  # noqa: E402
from pubbot.irc.service import IRCService  # noqa: E402
from pubbot.loader import load_handlers  # noqa: E402
from pubbot.store.memory import MemoryStore  # noqa: E402
from pubbot.web.feed import LiveFeed  # noqa: E402
from pubbot.web.sse import EventHub  # noqa: E402

#: Simulated seconds a line, for the clock (100,000 lines/s).
LINE_SECONDS = 1e-5
#: Lines a server write holds (one time stamp each), as bench/ircserver.py's Flooder writes them.
WRITE_LINES = ircserver.Flooder.CHUNK


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
    """
    One client under test, registered and joined: C{feed} takes a chunk,
    C{clock} and C{transport} are its own, C{wire} is the flood as the server
    writes it to this client (for the capabilities it negotiated).
    """

    def __init__(self, protocol, clock: Clock, tagged: bool, chats: list):
        self.protocol = protocol
        self.clock = clock
        self.transport = StringTransport()
        #: What the client wrote while taking the last chunk.
        self.sent = b""
        protocol.makeConnection(self.transport)
        server = ircserver.BenchServer(clock, tagged=tagged, listen=False)
        self.connection = ircserver.converse(server, protocol, self.transport)
        if not server.on_join.called:
            raise SystemExit("benchmark could not run: %r did not join %s" % (protocol, ircserver.CHANNEL))
        self.wire = self.connection.chat_wire(chats)

    def stream(self) -> bytes:
        """The flood's bytes for this client, the time advancing as the clock will."""
        start = self.clock.seconds()
        wire = self.wire
        return b"".join(wire.chunk(i, i + WRITE_LINES, start + i * LINE_SECONDS)
                        for i in range(0, len(wire), WRITE_LINES))

    def chunks(self, size: int) -> list:
        """The stream in socket-sized reads."""
        data = self.stream()
        return [data[i:i + size] for i in range(0, len(data), size)]

    def feed(self, chunks: list, lines_per_chunk: float) -> float:
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


class Networks:
    """
    One bot on several networks (C{--networks N}): the flood's lines dealt
    to the networks in turn, their reads interleaved as sockets would give
    them. Offers what L{Subject} does.
    """

    def __init__(self, subjects: list):
        self.subjects = subjects
        self.sent = b""

    def chunks(self, size: int) -> list:
        each = [[(subject, chunk) for chunk in subject.chunks(size)] for subject in self.subjects]
        longest = max(len(c) for c in each)
        return [c[i] for i in range(longest) for c in each if i < len(c)]

    def feed(self, chunks: list, lines_per_chunk: float) -> float:
        step = lines_per_chunk * LINE_SECONDS
        clock = self.subjects[0].clock  # (one clock: the bot's)
        sent = []
        started = time.process_time()
        for subject, chunk in chunks:
            subject.protocol.dataReceived(chunk)
            clock.advance(step)
            sent.append(subject.transport.value())
            subject.transport.clear()
        elapsed = time.process_time() - started
        self.sent = b"".join(sent)
        return elapsed


def bare(chats: list) -> Subject:
    clock = Clock()
    clock.advance(1_700_000_000.0)
    protocol = Bare()
    protocol.factory = BareFactory(ircserver.CHANNEL)
    return Subject(protocol, clock, True, chats)


def pubbot_connection(bot: Bot, clock: Clock, network: str) -> tuple[Protocol, Callable[[], frozenset]]:
    """
    The one place that knows how pubbot's IRC core is put together: give
    C{bot} its IRC network C{network}, and return a protocol for one
    connection (not yet connected) and a function reading the capabilities
    that connection has enabled.
    """
    service = IRCService(bot, clock, rng=random.Random(0), network=network,
                         settings=bot.network_settings(network))
    bot.register_chat(service)
    return service.factory.buildProtocol(None), lambda: frozenset(service.caps.enabled)


def pubbot(plugins: bool, tagged: bool, floods: list, disabled: tuple = ()) -> tuple[Any, Bot]:
    """pubbot on C{len(floods)} networks, each fed its own flood of chat lines."""
    networks = len(floods)
    clock = Clock()
    clock.advance(1_700_000_000.0)
    network = {"server": "tcp:127.0.0.1:6667", "channels": [ircserver.CHANNEL], "nick": "pubbot",
               "ping_interval": 600.0, "throttle": {"enabled": False}, "sasl": {"mechanisms": []}}
    settings = parse({
        "irc": network, "networks": {"net%d" % n: network for n in range(2, networks + 1)},
        "music": {"announce": [ircserver.CHANNEL]}, "plugins": {"disabled": list(disabled)}})
    bot = Bot(settings, clock, MemoryStore(clock), rng=random.Random(0))
    if plugins:
        for handler in load_handlers((), settings.plugins.disabled):
            bot.add_handler(handler)
        LiveFeed(bot, EventHub(clock, run="00000000")).attach()
    else:
        bot.bus = NullBus()
    bot.start()
    names = [settings.irc.name] + list(settings.networks)
    subjects = [connect(bot, clock, name, tagged, flood) for name, flood in zip(names, floods, strict=False)]
    return (subjects[0] if networks == 1 else Networks(subjects)), bot


def connect(bot: Bot, clock: Clock, network: str, tagged: bool, chats: list) -> Subject:
    """One network of C{bot}, registered and joined on its own benchmark server."""
    protocol, enabled = pubbot_connection(bot, clock, network)
    subject = Subject(protocol, clock, tagged, chats)
    granted = frozenset(subject.connection.enabled)
    if enabled() != granted:
        raise SystemExit("benchmark could not run: pubbot enabled %s, the server granted %s" % (
            " ".join(sorted(enabled())), " ".join(sorted(granted))))
    if tagged and not {"server-time", "message-tags", "account-tag"} <= granted:
        raise SystemExit("benchmark could not run: pubbot did not ask for server-time, message-tags "
                         "and account-tag (it has %s)" % " ".join(sorted(granted)))
    return subject


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--chunk", type=int, default=65536)
    parser.add_argument("--skip-brain", action="store_true", help="leave out the 'all' row")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every round's figure")
    parser.add_argument("--networks", type=int, default=1,
                        help="pubbot on this many networks at once, the lines dealt to them in turn")
    ircserver.add_mode_options(parser)
    args = parser.parse_args()
    globalLogBeginner.beginLoggingTo([show_problems], redirectStandardIO=False)
    chats, triggers = ircserver.chat_messages(args.lines, args.every)
    # With several networks, each gets a flood of its own (the same lines in all, a share each).
    shares = [ircserver.chat_messages(args.lines // args.networks, args.every, seed=n + 1)
              for n in range(args.networks)]
    floods = [flood for flood, _ in shares]
    triggers = [t for _, share in shares for t in share]
    kinds = [label for label, kind, _ in ircserver.MODES[args.mode] if kind == "pubbot"]
    times: dict[tuple[str, str], list[float]] = {}
    feeds: dict[tuple[str, str], list[bytes]] = {}

    def chunks_of(subject: Any) -> list:
        return subject.chunks(args.chunk)

    def check(key: tuple[str, str], subject: Any) -> None:
        """An untimed round first: the client must answer every trigger."""
        feeds[key] = chunks_of(subject)
        answers = 0
        for chunk in feeds[key]:
            subject.feed([chunk], len(chats) / len(feeds[key]))
            answers += subject.sent.count(b" :" + ircserver.ANSWER.encode() + b"\r\n")
        if answers != len(triggers) and key[0] != "null bus":
            raise SystemExit("benchmark could not run: %s (%s) answered %d of %d triggers"
                             % (key + (answers, len(triggers))))

    def measure(key: tuple[str, str], subject: Any) -> None:
        chunks = feeds[key]
        seconds = subject.feed(chunks, len(chats) / len(chunks))
        times.setdefault(key, []).append(seconds * 1e6 / len(chats))

    baselines = {("bare", "plain"): bare(chats)}
    for kind in kinds:
        baselines[("null bus", kind)] = pubbot(False, kind == "tagged", floods)[0]
    for key, base_subject in baselines.items():
        check(key, base_subject)
    pipelines = [("no brain", ("brain",))] + ([] if args.skip_brain else [("all", ())])
    for name, disabled in pipelines:
        built = {}
        for kind in kinds:
            subject, bot = pubbot(True, kind == "tagged", floods, disabled)
            check((name, kind), subject)
            built[(name, kind)] = (subject, bot)
        alternate(args.rounds, baselines, built, measure)
    report(args, chats, kinds, times)
    return 0


def alternate(rounds: int, baselines: dict, built: dict, measure: Callable[[Any, Any], None]) -> None:
    """
    Measure the pipelines C{built} (key -> subject, bot) and the baselines
    in turn, round by round: a machine whose speed drifts slows each alike.
    """
    gc.collect()
    gc.freeze()  # as BusService does once the plugins have started
    try:
        for _ in range(rounds):
            for key, base_subject in baselines.items():
                measure(key, base_subject)
            for key, (subject, _) in built.items():
                measure(key, subject)
    finally:
        for _, bot in built.values():
            bot.stop()
        gc.unfreeze()


def report(args: argparse.Namespace, chats: list, kinds: list, times: dict) -> None:
    """Print the medians of C{times} (per line, against bare and null-bus clients)."""
    if args.verbose:
        for (name, kind), samples in times.items():
            print("%-9s %-6s rounds: %s" % (name, kind, " ".join("%.2f" % us for us in samples)))
    print("%d lines in chunks of %d bytes, median of %d rounds (process CPU time)%s" % (
        len(chats), args.chunk, args.rounds,
        "; pubbot on %d networks, the lines dealt to them in turn" % args.networks
        if args.networks > 1 else ""))
    print("lines: tagged as the server sends them after CAP negotiation (time, msgid, account); "
          "plain from a server without CAP")
    medians = {key: statistics.median(samples) for key, samples in times.items()}
    bare_us = medians[("bare", "plain")]
    print("%-9s %-6s %10s %8s %9s %9s" % ("client", "lines", "us a line", "lines/s", "/ bare", "/ null"))
    for (name, kind), us in medians.items():
        null_us = medians.get(("null bus", kind), medians[("null bus", kinds[0])])  # bare: pubbot's first
        print("%-9s %-6s %10.2f %8.0f %9.2f %9.2f" % (name, kind, us, 1e6 / us, us / bare_us, us / null_us))
    for name in ("null bus", "no brain", "all"):
        if (name, "tagged") in medians and (name, "plain") in medians:
            tagged, plain = medians[(name, "tagged")], medians[(name, "plain")]
            print("%s: tagged costs %.2fx plain" % (name, tagged / plain))


if __name__ == "__main__":
    sys.exit(main())
