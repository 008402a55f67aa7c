"""
Startup benchmark: seconds from process start to joined.

    python bench/startup.py [--runs 5]

Starts pubbot (every default plugin loaded) against the loopback IRC server
and times from spawning the process to the server seeing its JOIN; the bare
twisted.words IRCClient is timed the same way in the same run as the floor
(Python and Twisted start-up). Prints medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from twisted.internet.defer import inlineCallbacks  # noqa: E402

import ircserver  # noqa: E402
from ircserver import with_timeout  # noqa: E402


@inlineCallbacks
def one(reactor, kind: str):
    workdir = ircserver.scratch()
    server = ircserver.BenchServer(reactor)
    started = time.perf_counter()
    proc = ircserver.bot_process(server.port_number, kind, workdir)
    try:
        joined = yield with_timeout(reactor, server.on_join, 60, "%s did not join" % kind)
        return joined - started
    finally:
        ircserver.close(server, proc, workdir)


@inlineCallbacks
def main(reactor, args):
    times = {"bare": [], "pubbot": []}
    for _ in range(args.runs):
        for kind in ("bare", "pubbot"):
            t = yield one(reactor, kind)
            times[kind].append(t)
    print("start to joined, median of %d runs" % args.runs)
    print("%-8s %10s %10s %10s" % ("client", "median s", "min s", "max s"))
    for kind in ("bare", "pubbot"):
        print("%-8s %10.3f %10.3f %10.3f" % (kind, statistics.median(times[kind]), min(times[kind]),
                                             max(times[kind])))


def run():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    return ircserver.run_benchmark(main, args)


if __name__ == "__main__":
    sys.exit(run())
