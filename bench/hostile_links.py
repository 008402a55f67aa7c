"""
Hostile-links benchmark: the worst reactor stall of a real pubbot process
while people link hostile web pages and servers.

    python bench/hostile_links.py [--size 1048576] [--probe 0.02] [--settle 0.5] [--only pages|peers]

pubbot (every default plugin, [links] allowed to fetch from 127.0.0.1, a
3 s link timeout) runs as `twistd -n pubbot` against the loopback IRC
server; a hostile HTTP server (tests/support/hostile_http.py) serves, one
URL at a time said in the channel:

 - pages: pathological HTML of --size bytes each (unclosed comments, many
   `<`, attribute runs, svg titles...), and pages declaring codecs that are
   no page encodings (utf-7, punycode, idna, rot13, zlib...);
 - peers: endless headers, 1,000 headers, a 10 MB header line, endless
   `100 Continue`, an endless body, headers or body at a byte every 0.2 s.

The stall is measured from outside: the IRC server sends the bot a PING
every --probe seconds and times each PONG (the IRC protocol answers PINGs
ahead of everything, on the reactor thread: a PONG late by X means the
reactor was held about X). Baseline in the same run: the same probes with
the bot idle. Also: the growth of the bot's RSS (its process tree, each
page once) during each battery, peak minus before (memory freed by one
battery is reused by the next: --only runs one battery, to see its own).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.dirname(HERE)]

import ircserver  # noqa: E402
from ircserver import CHANNEL, with_timeout  # noqa: E402
from twisted.internet.defer import inlineCallbacks  # noqa: E402
from twisted.internet.task import LoopingCall, deferLater  # noqa: E402

from tests.support import hostile_http as hostile  # noqa: E402

MB = 1024 * 1024


class Prober:
    """PINGs the bot every C{interval} seconds; records each PONG's round trip."""

    def __init__(self, reactor, server, interval: float):
        self.server = server
        self.sent: dict[str, float] = {}
        self.rtts: list[tuple[float, str]] = []
        self.label = "idle"
        self.count = 0
        server.on_pong = self.pong
        self._loop = LoopingCall(self.ping)
        self._loop.clock = reactor
        self._loop.start(interval)

    def ping(self) -> None:
        if self.server.connection is None:
            return
        self.count += 1
        token = "p%d" % (self.count,)
        self.sent[token] = time.perf_counter()
        self.server.connection.send("PING :%s" % (token,))

    def pong(self, token: str) -> None:
        start = self.sent.pop(token, None)
        if start is not None:
            self.rtts.append((time.perf_counter() - start, self.label))

    def take(self) -> list:
        rtts, self.rtts = self.rtts, []
        # PINGs never answered count as stalls up to now
        now = time.perf_counter()
        rtts += [(now - start, self.label + " (unanswered)") for start in self.sent.values()]
        self.sent.clear()
        return rtts

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()


def install_pong_hook() -> None:
    """Let the bench IRC server report PONGs (it ignores them otherwise)."""
    original = ircserver.BenchIRC.line

    def line(self, raw: bytes) -> None:
        if os.environ.get("BENCH_DEBUG"):
            print("<<", raw[:100])
        parts = raw.split(b" ")
        if parts[0].upper() == b"PONG" and self.server.on_pong is not None:
            self.server.on_pong(parts[-1].lstrip(b":").decode(errors="replace"))
            return
        original(self, raw)
    ircserver.BenchIRC.line = line
    ircserver.BenchServer.on_pong = None


def batteries(size: int) -> dict:
    pages = [("page: " + name, hostile.response(body)) for name, body in hostile.hostile_pages(size)]
    pages += [("charset: " + label, hostile.response(body + b"<title>t</title>",
                                                     b"text/html; charset=" + label.encode()))
              for label, body in hostile.unusual_charsets()]
    pages += [("meta charset: " + label, hostile.response(b"<meta charset=" + label.encode() + b">" + body
                                                          + b"<title>t</title>", b"text/html"))
              for label, body in hostile.unusual_charsets()]
    peers = [
        ("endless headers", hostile.endless_headers()),
        ("endless long headers", hostile.endless_headers(b"X-Pad: " + b"p" * 4000)),
        ("1000 headers", hostile.many_headers(1000)),
        ("10 MB header line", hostile.long_header_line(10 * MB)),
        ("endless 100 Continue", hostile.interim_forever()),
        ("endless body", hostile.endless_body()),
        ("headers at 5 B/s", hostile.drip_headers(0.2)),
        ("body at 5 B/s", hostile.drip_body(0.2)),
    ]
    return {"pages": pages, "peers": peers}


@inlineCallbacks
def main(reactor, args):
    install_pong_hook()
    http = hostile.HostileHTTPServer(reactor, max_seconds=10.0)
    workdir = ircserver.scratch()
    server = ircserver.BenchServer(reactor)
    os.environ["BENCH_TOML"] = '[links]\nallow = ["127.0.0.1"]\ntimeout = 3.0\n' + os.environ.get(
        "BENCH_TOML", "")
    proc = ircserver.bot_process(server.port_number, "pubbot", workdir)
    prober = None
    try:
        yield with_timeout(reactor, server.on_join, 60, "pubbot did not join")
        yield deferLater(reactor, 1.0, lambda: None)
        prober = Prober(reactor, server, args.probe)
        yield deferLater(reactor, 3.0, lambda: None)
        results = {"idle": (prober.take(), ircserver.tree_memory_mb(proc.pid)[0])}
        for battery, cases in batteries(args.size).items():
            if args.only and battery != args.only:
                continue
            before = ircserver.tree_memory_mb(proc.pid)[0]
            sampler = ircserver.MemorySampler(reactor, proc.pid, 0.05)
            rtts = []
            for i, (label, behaviour) in enumerate(cases):
                url = http.route("/%s/%d" % (battery, i), behaviour)
                prober.label = label
                server.connection.send(":alice!alice@localhost PRIVMSG %s :look %s" % (CHANNEL, url))
                # until the bot has fetched (or given up) and closed, then a little more
                yield deferLater(reactor, 0.2, lambda: None)
                yield with_timeout(reactor, http.closed(), 30, "the %r fetch to end" % (label,))
                yield deferLater(reactor, args.settle, lambda: None)
                rtts += prober.take()
            results[battery] = (rtts, sampler.stop()[0] - before)
        prober.stop()
        print("reactor stall of pubbot (PONG round trip), probe every %g s; %d MiB pages"
              % (args.probe, args.size // MB))
        print("%-8s %8s %10s %10s %10s  %s" % ("battery", "probes", "p50 ms", "max ms", "RSS MB",
                                               "worst case"))
        for battery, (rtts, rss) in results.items():
            values = [r for r, _ in rtts]
            worst = max(rtts, default=(float("nan"), ""))
            print("%-8s %8d %10.1f %10.1f %10.1f  %s" % (
                battery, len(values), 1000 * ircserver.percentile(values, 0.5), 1000 * worst[0], rss,
                worst[1]))
        print("(RSS: the bot's tree at the end of idle; for a battery, its peak minus the RSS before it)")
    finally:
        if prober is not None:
            prober.stop()
        ircserver.close(server, proc, workdir)
        yield http.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=MB)
    parser.add_argument("--probe", type=float, default=0.02)
    parser.add_argument("--settle", type=float, default=0.5)
    parser.add_argument("--only", choices=("pages", "peers"), help="run one battery")
    sys.exit(ircserver.run_benchmark(main, parser.parse_args()))
