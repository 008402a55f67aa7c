"""
Startup benchmark: seconds from process start to joined.

    python bench/startup.py [--runs 5] [--tagged | --plain]

Starts pubbot (every default plugin loaded) against the loopback IRC server
and times from spawning the process to the server seeing its JOIN, tagged (CAP
negotiated before registering) and plain (a server without CAP); the bare
twisted.words IRCClient is timed the same way in the same run as the floor
(Python and Twisted start-up). Prints medians. --tagged or --plain runs
only one of pubbot's two.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ircserver
from ircserver import with_timeout
from twisted.internet.defer import inlineCallbacks


@inlineCallbacks
def one(reactor, kind: str, tagged: bool):
    workdir = ircserver.scratch()
    server = ircserver.BenchServer(reactor, tagged=tagged)
    started = time.perf_counter()
    proc = ircserver.bot_process(server.port_number, kind, workdir)
    try:
        joined = yield with_timeout(reactor, server.on_join, 60, "%s did not join" % kind)
        return joined - started
    finally:
        ircserver.close(server, proc, workdir)


@inlineCallbacks
def main(reactor, args):
    clients = ircserver.MODES[args.mode]
    times: dict = {label: [] for label, _, _ in clients}
    for _ in range(args.runs):
        for label, kind, tagged in clients:
            t = yield one(reactor, kind, tagged)
            times[label].append(t)
    print("start to joined, median of %d runs" % args.runs)
    print(ircserver.LEGEND)
    print("%-8s %10s %10s %10s" % ("client", "median s", "min s", "max s"))
    for label, _, _ in clients:
        print("%-8s %10.3f %10.3f %10.3f" % (label, statistics.median(times[label]), min(times[label]),
                                             max(times[label])))
    print("median: " + ircserver.ratios({label: statistics.median(t) for label, t in times.items()},
                                        percent=False))


def run():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    ircserver.add_mode_options(parser)
    args = parser.parse_args()
    return ircserver.run_benchmark(main, args)


if __name__ == "__main__":
    sys.exit(run())
