"""
Benchmark: the Redis Streams bus against the local bus.

For the local bus and for the Redis bus with 1, 2 and 4 worker processes
(each a real process running a RedisBus with an echo handler, against a
redis-server of its own; the owner, in this process, handles nothing), it
measures

- throughput: a burst of messages submitted at once (spread over --channels
  channels: the lines of one channel are handled in order, by one worker at
  a time), messages per second from the first submit to the last reply sent;
- latency: one message at a time, submit to reply, median and 95th
  percentile; "added" is the median minus the local bus's median.

It does so for each --work (milliseconds of CPU work per message: 0, a
trivial handler, and 2, a CPU-bound one, by default), and prints the
targets' figures of the same run: the Redis bus with one worker against the
local bus on trivial handlers, and two workers against one on the CPU-bound
handler. Each figure is the median of several runs. Run from the
repository root:

    python bench/bus.py [--runs 3] [--burst 8000] [--pings 200] [--channels 256] [--work MS ...]

It needs redis-server (as the integration tests do); it never touches the
Redis on port 6379.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections import Counter

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted.internet import defer, task  # noqa: E402

from pubbot.api import command  # noqa: E402
from pubbot.cluster.redisclient import RedisClient  # noqa: E402
from pubbot.cluster.streams import PART, PARTITIONS, PROCS, RedisBus  # noqa: E402
from pubbot.config.settings import parse  # noqa: E402
from pubbot.core.bot import Bot  # noqa: E402
from pubbot.store.memory import MemoryStore  # noqa: E402

#: Seconds of blocking work per message (--work), as a CPU-bound handler would do.
WORK = 0.0


@command("echo", args=r"(?P<text>.+)")
def echo(msg, text):
    if WORK:
        end = time.perf_counter() + WORK
        while time.perf_counter() < end:
            pass
    return {"content": text}


class Recorder:
    """The owner's chat network: remembers when each reply was sent."""

    protocol = "irc"
    network = "irc"
    nick = "pubbot"
    command_prefix = "!"

    def __init__(self):
        self.sent: dict[str, float] = {}
        self.waiting: dict[str, defer.Deferred] = {}

    def send(self, target, text, kind="say", person=None):
        self.sent[text] = time.perf_counter()
        d = self.waiting.pop(text, None)
        if d is not None:
            d.callback(None)

    def roster(self, channel):
        return []

    def wait(self, text) -> defer.Deferred:
        if text in self.sent:
            return defer.succeed(None)
        d = defer.Deferred()
        self.waiting[text] = d
        return d


def make_bot(reactor, url=None, name="bench", owner=True, consume=True):
    settings = parse({"redis": {"url": url}} if url else {})
    bus = None
    if url:
        bus = RedisBus(reactor, RedisClient(reactor, url, name="bus"),
                       RedisClient(reactor, url, name="reader"), RedisClient(reactor, url, name="replies"),
                       process_id=name, is_owner=lambda: owner, owner_active=lambda: owner, consume=consume,
                       block=1.0, max_in_flight=64, heartbeat=2.0)  # as with [redis] lease_seconds >= 6
    bot = Bot(settings, reactor, MemoryStore(reactor), process_id=name,
              bus=bus, outbox=bus.outbox if bus is not None else None)
    bot.add_handler(command("echo", args=r"(?P<text>.+)")(echo.func))
    chat = Recorder()
    if owner:
        bot.register_chat(chat)
    bot.start()
    if bus is not None:
        bus.startService()
    return bot, chat, bus


async def measure(reactor, bot, chat, burst: int, pings: int, tag: str, channels: int = 1):
    """(messages per second, median latency s, p95 latency s) for one run."""
    started = time.perf_counter()
    texts = ["%s-b%d" % (tag, i) for i in range(burst)]
    waits = [chat.wait(t) for t in texts]
    for i, t in enumerate(texts):
        bot.chat_line("irc", "#bench%d" % (i % channels), "alice", "!echo " + t)
    await defer.DeferredList(waits)
    rate = burst / (max(chat.sent[t] for t in texts) - started)
    latencies = []
    for i in range(pings):
        text = "%s-p%d" % (tag, i)
        wait = chat.wait(text)
        sent = time.perf_counter()
        bot.chat_line("irc", "#bench", "alice", "!echo " + text)
        await wait
        latencies.append(chat.sent[text] - sent)
    latencies.sort()
    return rate, statistics.median(latencies), latencies[int(len(latencies) * 0.95) - 1]


async def wait_for(predicate, reactor, seconds=30.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit("bench: timed out waiting for the workers")
        await task.deferLater(reactor, 0.1, lambda: None)


def spawn_worker(url: str, name: str, work_ms: float) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=ROOT)
    profile = os.environ.get("BENCH_PROFILE_WORKER")  # a file to write a worker's profile to
    prefix = ["-m", "cProfile", "-o", "%s.%s" % (profile, name)] if profile else []
    return subprocess.Popen([sys.executable, *prefix, os.path.abspath(__file__), "--work", str(work_ms),
                             "--worker", url, name], env=env, stdin=subprocess.DEVNULL)


def balanced(server, workers: int) -> bool:
    """Every worker holds its fair share of the bus partitions."""
    held = [server.query("GET", PART + str(k)) for k in range(PARTITIONS)]
    if None in held:
        return False
    shares = Counter(held)
    return len(shares) == min(workers, PARTITIONS) and max(shares.values()) <= -(-PARTITIONS // workers)


async def bench_work(reactor, args, work_ms: float) -> list:
    """Rows (bus, workers, runs) for one amount of work per message."""
    from tests.support.servers.redis import RedisServer
    global WORK
    WORK = work_ms / 1000.0
    rows = []
    bot, chat, _ = make_bot(reactor)
    local = [await measure(reactor, bot, chat, args.burst, args.pings, "local%g-%d" % (work_ms, r),
                           args.channels) for r in range(args.runs)]
    rows.append(("local bus", 0, local))
    for workers in args.workers:
        server = RedisServer().start()
        procs = [spawn_worker(server.url, "worker%d" % i, work_ms) for i in range(workers)]
        try:
            bot, chat, bus = make_bot(reactor, server.url, name="owner", consume=False)
            await wait_for(lambda server=server, workers=workers: server.query("ZCARD", PROCS) == workers + 1,
                           reactor)
            # the partitions shared out among the workers
            await wait_for(lambda server=server, workers=workers: balanced(server, workers), reactor)
            # warm up: scripts loaded, connections busy
            await measure(reactor, bot, chat, 50, 5, "warm", args.channels)
            runs = [await measure(reactor, bot, chat, args.burst, args.pings, "w%dr%d" % (workers, r),
                                  args.channels) for r in range(args.runs)]
            rows.append(("redis bus", workers, runs))
            await bus.stopService()
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                p.wait()
            server.stop()
    return rows


def rate_of(rows: list, name: str, workers: int) -> float:
    for row_name, row_workers, runs in rows:
        if (row_name, row_workers) == (name, workers):
            return statistics.median(r[0] for r in runs)
    return float("nan")


async def bench(reactor, args) -> None:
    results = [(work, await bench_work(reactor, args, work)) for work in args.work]
    targets = []
    for work, rows in results:
        local_latency = statistics.median(r[1] for r in rows[0][2])
        print()
        print("median of %d runs; burst of %d messages over %d channels, %d one at a time; "
              "%g ms of work per message; %d CPUs"
              % (args.runs, args.burst, args.channels, args.pings, work, os.cpu_count() or 0))
        print("bus        workers  msgs/s   latency p50   p95      added p50")
        for name, workers, runs in rows:
            rate = statistics.median(r[0] for r in runs)
            p50 = statistics.median(r[1] for r in runs)
            p95 = statistics.median(r[2] for r in runs)
            added = "" if name == "local bus" else "%+8.2f ms" % ((p50 - local_latency) * 1000)
            print("%-10s %7s %8.0f %10.2f ms %7.2f ms  %s" % (
                name, workers or "-", rate, p50 * 1000, p95 * 1000, added))
        if work == 0:
            targets.append("trivial handlers: the Redis bus with 1 worker moves %.1f%% of the local bus's "
                           "messages/s (target: at least 25%%)"
                           % (100 * rate_of(rows, "redis bus", 1) / rate_of(rows, "local bus", 0)))
        else:
            targets.append("%g ms of CPU per message: 2 workers handle %.2fx the messages/s of 1 "
                           "(target: at least 1.6x)"
                           % (work, rate_of(rows, "redis bus", 2) / rate_of(rows, "redis bus", 1)))
    print()
    for line in targets:
        print(line)


def worker(reactor, url: str, name: str) -> defer.Deferred:
    make_bot(reactor, url, name=name, owner=False)
    return defer.Deferred()  # until terminated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--burst", type=int, default=8000)
    parser.add_argument("--pings", type=int, default=200)
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--channels", type=int, default=256, help="channels the burst is spread over")
    parser.add_argument("--work", type=float, nargs="*", default=[0.0, 2.0],
                        help="ms of CPU work per message (one bench for each)")
    parser.add_argument("--worker", nargs=2, metavar=("URL", "NAME"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    global WORK
    WORK = args.work[0] / 1000.0 if args.work else 0.0
    if args.worker:
        task.react(lambda reactor: worker(reactor, *args.worker))
    else:
        task.react(lambda reactor: defer.Deferred.fromCoroutine(bench(reactor, args)))


if __name__ == "__main__":
    main()
