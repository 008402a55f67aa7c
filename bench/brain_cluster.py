"""
Benchmark: what a brain reply costs in Redis mode (one brain for the
cluster, pubbot.brain.shared) against the single-process brain.

A model is trained on --train lines of synthetic chatter (the same for
both). Then, one question at a time, it times the brain's answer path:

- local: the model's reply, as the single-process brain answers;
- redis round trip: one GET to the redis-server alone (the baseline of the
  Redis rows: the machine's loopback and client cost);
- redis, idle: catching up with the journal (in a real redis-server of its
  own: nothing new since the last question, so one GET of the head), then
  the reply: what a question costs a process that is up to date;
- redis, N new: the same with --new lines journaled by the owner since the
  last question (read, learned, then the reply).

Under each Redis row, "catch-up alone" is its catching up without the
reply: on a loaded machine a process that waits on the network also waits
for a core when it wakes, so the whole may cost more than its parts.

Each for the model in the bot's process (inline) and in a learner process.
Figures are medians (and 95th percentiles) of --questions questions; each
row is the median of --runs runs. Run from the repository root:

    python bench/brain_cluster.py [--train 50000 --questions 300 --new 10 --runs 3]

It needs redis-server (as the integration tests do); it never touches the
Redis on port 6379.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from twisted.internet import task  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402

from pubbot.brain.host import InlineModel, LearnerProcess, resolved  # noqa: E402
from pubbot.brain.model import TrigramModel  # noqa: E402
from pubbot.brain.shared import Follower  # noqa: E402
from pubbot.cluster.redisclient import RedisClient  # noqa: E402
from pubbot.store.redis import RedisStore  # noqa: E402

WORDS = ["w%d" % i for i in range(3000)]


def chatter(rng: random.Random, n: int) -> list:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 12))) for _ in range(n)]


def percentile(values: list, p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def make_host(reactor, kind: str, lines: list):
    if kind == "inline":
        host = InlineModel(TrigramModel())
    else:
        host = LearnerProcess(reactor, 200000)
        host.start()
    for start in range(0, len(lines), 1000):
        host.learn(lines[start:start + 1000])
    await resolved(host.size())  # learned
    return host


async def time_questions(reactor, host, questions: list, before=None) -> tuple[list, list]:
    """
    Microseconds each question took: C{before()} (awaited: it returns when
    its timed part started), then the reply; and C{before}'s timed part alone.
    """
    out, parts = [], []
    for i, text in enumerate(questions):
        started = time.perf_counter()
        if before is not None:
            started = await before() or started
            parts.append((time.perf_counter() - started) * 1e6)
        await resolved(host.reply(text, i))
        out.append((time.perf_counter() - started) * 1e6)
    return out, parts


async def one_run(reactor, args, kind: str, store, run: int) -> dict:
    rng = random.Random(run)
    trained = chatter(rng, args.train)
    questions = ["pubbot: " + " ".join(rng.choice(WORDS) for _ in range(3)) for _ in range(args.questions)]
    rows = {}

    host = await make_host(reactor, kind, trained)
    rows["local"], _ = await time_questions(reactor, host, questions)
    await host.close()

    # Redis mode: the same model, followed from the journal.
    await store.client.execute("FLUSHDB")
    follower = Follower(store, reactor)
    for start in range(0, len(trained), 1000):
        follower.journal.learn(trained[start:start + 1000])
    while follower.journal.pending_lines:
        await task.deferLater(reactor, 0.01, lambda: None)
    host = InlineModel(TrigramModel()) if kind == "inline" else LearnerProcess(reactor, 200000)
    if kind != "inline":
        host.start()
    await Deferred.fromCoroutine(follower.load(host))

    # The baseline of the Redis rows: one round trip (a GET of the head), alone.
    trips = []
    for _ in questions:
        started = time.perf_counter()
        await store.get("brain:journal:head")
        trips.append((time.perf_counter() - started) * 1e6)
    rows["redis round trip"] = trips

    async def idle():
        await Deferred.fromCoroutine(follower.catch_up())
    rows["redis, idle"], rows["  catch-up alone"] = await time_questions(reactor, host, questions, idle)

    fresh = chatter(rng, args.new * len(questions))
    batches = iter(range(0, len(fresh), args.new))
    writer = Follower(store, reactor)  # the owner, journaling (not timed)

    async def new_lines():
        start = next(batches)
        writer.journal.learn(fresh[start:start + args.new])
        while writer.journal.pending_lines:
            await task.deferLater(reactor, 0.001, lambda: None)
        started = time.perf_counter()
        await Deferred.fromCoroutine(follower.catch_up())
        return started

    # Only catching up and the reply are timed: not the owner's append.
    rows["redis, %d new" % args.new], rows["  catch-up alone "] = await time_questions(
        reactor, host, questions, new_lines)
    await host.close()
    return rows


async def bench(reactor, args) -> None:
    from tests.support.servers.redis import RedisServer
    server = RedisServer().start()
    client = RedisClient(reactor, server.url, name="bench")
    client.start()
    try:
        await client.when_connected()
        store = RedisStore(client)
        print("reply cost, microseconds (median / p95 of %d questions; median of %d runs); model of %d lines"
              % (args.questions, args.runs, args.train))
        print("%-8s %-16s %10s %10s" % ("model", "mode", "median", "p95"))
        for kind in ("inline", "process"):
            runs = [await one_run(reactor, args, kind, store, r) for r in range(args.runs)]
            for mode in runs[0]:
                med = statistics.median(statistics.median(r[mode]) for r in runs)
                p95 = statistics.median(percentile(r[mode], 0.95) for r in runs)
                print("%-8s %-16s %10.0f %10.0f" % (kind, mode, med, p95))
    finally:
        await client.stop()
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train", type=int, default=50000)
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--new", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    task.react(lambda reactor: Deferred.fromCoroutine(bench(reactor, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
