"""
Flood benchmark: lines per second a client ingests until its last answer.

    python bench/flood.py [--lines N] [--every K] [--runs R] [--tagged | --plain]

A loopback IRC server (bench/ircserver.py) registers the client, lets it
join #bench, then writes N chat lines from 200 users as fast as the socket
takes them; every K-th line is "!ping", which the client must answer
"pong". Measured per run: lines/s from the first line written to the last
answer, reply latency (median, p99: answer time minus the time the trigger
was written) and the memory of the client's processes (pubbot's brain
learner too), sampled every 0.1 s: peak RSS with each page counted once
(the bot's RSS plus what only its learner holds), peak PSS (summed), and
the sum of each process's own peak RSS (VmHWM; pages they share count in
each, so an upper bound), and the share of a core the client, what runs
under it (the learner) and the server each used (the table's CPU %: the
client's). Each run measures pubbot (every default plugin loaded, output
throttling off) tagged (the server plays a modern network: CAP
negotiated, every line tagged, see ircserver) and plain (a server without
CAP), and in the same run a bare twisted.words IRCClient
answering the same trigger (it asks for no CAP, so it gets plain lines);
the table shows medians over the runs and the ratios. --tagged or --plain
runs only one of pubbot's two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ircserver
from ircserver import with_timeout
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.task import deferLater


@inlineCallbacks
def one(reactor, kind: str, tagged: bool, chats: list, triggers: list, timeout: float):
    workdir = ircserver.scratch()
    server = ircserver.BenchServer(reactor, tagged=tagged)
    proc = ircserver.bot_process(server.port_number, kind, workdir)
    try:
        yield with_timeout(reactor, server.on_join, 60, "%s did not join" % kind)
        yield deferLater(reactor, 0.5, lambda: None)  # let joins settle
        done = Deferred()

        def on_reply(now):
            if len(server.reply_times) >= len(triggers) and not done.called:
                done.callback(now)
        server.on_reply = on_reply
        sampler = ircserver.MemorySampler(reactor, proc.pid)
        flooder = ircserver.Flooder(server.connection, chats, triggers)
        cpu = ircserver.CpuShares(proc.pid)  # (after the wire is built: the server's flood only)
        end = yield with_timeout(reactor, done, timeout, "%s answered %d of %d triggers" % (
            kind, len(server.reply_times), len(triggers)))
        elapsed = end - flooder.started
        client_cpu, under_cpu, server_cpu = cpu.stop(elapsed)
        latencies = [(r - s) * 1000 for r, s in zip(server.reply_times, flooder.sent_at, strict=False)]
        rss_sum = ircserver.peak_rss_mb(proc.pid)
        rss, pss = sampler.stop()
        # Every line reached the brain's learner before the last answer: a
        # learner too far behind would have logged the lines it dropped.
        dropped = ircserver.brain_dropped(workdir)
        if dropped:
            print("  %s: the brain's learner fell behind and dropped %d lines" % (kind, dropped), flush=True)
        return {"rate": len(chats) / elapsed, "p50": statistics.median(latencies),
                "p99": ircserver.percentile(latencies, 0.99), "rss": rss, "rss_sum": rss_sum, "pss": pss,
                "cpu": client_cpu, "under_cpu": under_cpu, "server_cpu": server_cpu}
    finally:
        ircserver.close(server, proc, workdir)


@inlineCallbacks
def main(reactor, args):
    chats, triggers = ircserver.chat_messages(args.lines, args.every)
    clients = ircserver.MODES[args.mode]
    results: dict = {label: [] for label, _, _ in clients}
    for run in range(args.runs):
        for label, kind, tagged in clients:
            r = yield one(reactor, kind, tagged, chats, triggers, args.timeout)
            results[label].append(r)
            print("run %d %-7s %9.0f lines/s  p50 %7.1f ms  p99 %7.1f ms  peak RSS %5.1f MB (sum %5.1f)  "
                  "PSS %5.1f MB  CPU %% of a core: client %3.0f, under it %3.0f, server %3.0f" % (
                      run + 1, label, r["rate"], r["p50"], r["p99"], r["rss"], r["rss_sum"], r["pss"],
                      r["cpu"], r["under_cpu"], r["server_cpu"]), flush=True)
    print()
    print("%d lines, a trigger every %d lines, median of %d runs" % (args.lines, args.every, args.runs))
    print(ircserver.LEGEND)
    print("%-8s %12s %10s %10s %12s %12s %12s %8s" % ("client", "lines/s", "p50 ms", "p99 ms", "peak RSS MB",
                                                      "RSS sum MB", "peak PSS MB", "CPU %"))
    med = {}
    for label, _, _ in clients:
        med[label] = {k: statistics.median(r[k] for r in results[label])
                      for k in ("rate", "p50", "p99", "rss", "rss_sum", "pss", "cpu")}
        m = med[label]
        print("%-8s %12.0f %10.1f %10.1f %12.1f %12.1f %12.1f %8.0f" % (
            label, m["rate"], m["p50"], m["p99"], m["rss"], m["rss_sum"], m["pss"], m["cpu"]))
    print("lines/s: " + ircserver.ratios({label: m["rate"] for label, m in med.items()}))


def run():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=100000)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=300.0)
    ircserver.add_mode_options(parser)
    args = parser.parse_args()
    return ircserver.run_benchmark(main, args)


if __name__ == "__main__":
    sys.exit(run())
