"""
Dispatcher topic lookups per second with 10, 1,000 and 10,000 subscriptions.

    python bench/topics.py

Each run subscribes N patterns (a realistic mix of literal, '*' and '#'
words), then times lookups of a rotating set of chat topics through the
trie (with its cache), the trie walk alone (cache cleared before each
lookup) and, as the baseline in the same run, through the
plain reference matcher over every pattern. Prints the median of 5 runs.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pubbot.core.topics import TopicTrie, all_matching

CHANNELS = ["#pubbot", "#dev", "#music", "#random", "#ops", "#a.b", "#"]


def patterns(n: int, rng: random.Random) -> list[str]:
    out = ["chat.*.*.chat", "chat.irc.#.chat", "music.track", "music.stop", "chat.#"]
    while len(out) < n:
        kind = rng.random()
        chan = "#c%d" % rng.randrange(n)
        if kind < 0.5:
            out.append("chat.irc.%s.chat" % chan)
        elif kind < 0.8:
            out.append("chat.*.%s.*" % chan)
        else:
            out.append("vcs.%s.#" % chan)
    return out[:n]


def topics() -> list[str]:
    from pubbot.core.topics import chat_topic
    return [chat_topic("irc", c, k) for c in CHANNELS for k in ("chat", "join", "leave")] + ["music.track"]


def rate(lookup, names: list[str], seconds: float) -> float:
    count = 0
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for t in names:
            lookup(t)
        count += len(names)
    return count / (time.perf_counter() - started)


def main() -> int:
    rng = random.Random(1)
    names = topics()
    print("%14s %18s %22s %22s" % ("subscriptions", "trie lookups/s", "uncached trie walks/s",
                                   "reference lookups/s"))
    results = {}
    for n in (10, 1000, 10000):
        pats = patterns(n, rng)
        trie: TopicTrie = TopicTrie()
        for i, p in enumerate(pats):
            trie.subscribe(p, i)
        trie_runs = [rate(trie.match, names, 0.3) for _ in range(5)]

        def cold(t, trie=trie):
            trie._cache.clear()
            return trie.match(t)
        cold_runs = [rate(cold, names, 0.3) for _ in range(5)]
        ref_runs = [rate(lambda t, pats=pats: all_matching(pats, t), names, 0.3 if n < 10000 else 0.6)
                    for _ in range(3)]
        results[n] = statistics.median(trie_runs)
        print("%14d %18.0f %22.0f %22.0f" % (n, results[n], statistics.median(cold_runs),
                                             statistics.median(ref_runs)))
    print("trie 10,000 vs 10 subscriptions: %.2fx" % (results[10000] / results[10]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
