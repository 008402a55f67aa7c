"""
Steady-load benchmark: reply latency at a steady rate of chat lines.

    python bench/steady.py [--rate 2000] [--seconds 10] [--every 100] [--tagged | --plain]

The loopback IRC server (bench/ircserver.py) sends --rate lines per second
(in 1 ms ticks) to pubbot with every default plugin loaded and output
throttling off; every K-th line is "!ping". Reported: p50 and p99 of the
time from writing a trigger to reading its answer, for pubbot tagged (CAP
negotiated, every line tagged) and plain (a server without CAP) and, in the
same run, for a bare twisted.words IRCClient (the floor set by the loopback
and the reactor; it asks for no CAP, so it gets plain lines). --tagged or
--plain runs only one of pubbot's two.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ircserver
from ircserver import with_timeout
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import LoopingCall, deferLater


@inlineCallbacks
def one(reactor, kind: str, tagged: bool, rate: int, seconds: float, every: int):
    chats, triggers = ircserver.chat_messages(int(rate * seconds), every)
    workdir = ircserver.scratch()
    server = ircserver.BenchServer(reactor, tagged=tagged)
    proc = ircserver.bot_process(server.port_number, kind, workdir)
    try:
        yield with_timeout(reactor, server.on_join, 60, "%s did not join" % kind)
        yield deferLater(reactor, 0.5, lambda: None)
        transport = server.connection.transport
        wire = server.connection.chat_wire(chats)
        sent_at: list[float] = []
        trigger_set = set(triggers)
        state = {"i": 0}
        started = time.perf_counter()
        done = Deferred()

        def tick():
            due = min(len(wire), int((time.perf_counter() - started) * rate))
            i = state["i"]
            if i < due:
                now = time.perf_counter()
                sent_at.extend(now for j in range(i, due) if j in trigger_set)
                transport.write(wire.chunk(i, due, reactor.seconds()))
                state["i"] = due
            if due >= len(wire):
                loop.stop()

        def on_reply(now):
            if len(server.reply_times) >= len(triggers) and not done.called:
                done.callback(now)
        server.on_reply = on_reply
        loop = LoopingCall(tick)
        loop.clock = reactor
        loop.start(0.001)
        yield with_timeout(reactor, done, seconds + 60, "%s answered %d of %d triggers" % (
            kind, len(server.reply_times), len(triggers)))
        latencies = [(r - s) * 1000 for r, s in zip(server.reply_times, sent_at, strict=False)]
        return (ircserver.percentile(latencies, 0.5), ircserver.percentile(latencies, 0.99), len(latencies))
    finally:
        ircserver.close(server, proc, workdir)


@inlineCallbacks
def main(reactor, args):
    rows = []
    for label, kind, tagged in ircserver.MODES[args.mode]:
        p50, p99, n = yield one(reactor, kind, tagged, args.rate, args.seconds, args.every)
        rows.append((label, p50, p99, n))
    print("%d lines/s for %ss, a trigger every %d lines" % (args.rate, args.seconds, args.every))
    print(ircserver.LEGEND)
    print("%-8s %10s %10s %10s" % ("client", "p50 ms", "p99 ms", "answers"))
    for label, p50, p99, n in rows:
        print("%-8s %10.2f %10.2f %10d" % (label, p50, p99, n))
    print("p99: " + ircserver.ratios({label: p99 for label, _, p99, _ in rows}, percent=False))


def run():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--every", type=int, default=100)
    ircserver.add_mode_options(parser)
    args = parser.parse_args()
    return ircserver.run_benchmark(main, args)


if __name__ == "__main__":
    sys.exit(run())
