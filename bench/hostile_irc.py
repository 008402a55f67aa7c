"""
Hostile-IRC benchmark: the worst reactor stall and the RSS growth of the bot
while the hostile IRC batteries run.

    python bench/hostile_irc.py [--only NAME[,NAME...]] [--runs 3] [--profile /tmp/irc.prof] [--twistd]

The bot (pubbot.bot.Bot with every built-in plugin, as twistd loads them,
a memory store, and pubbot.irc.service.IRCService) runs on the real reactor
in this process against the scriptable hostile IRC server of
tests/support/hostile_irc.py (the same process: the server's work is small
next to the bot's, and is counted against it). For each flood of
tests.support.hostile_irc.FLOODS, on one connection: the flood, then a
`!ping` that must be answered. Measured with pubbot.testing.ReactorStalls
(a tick every 5 ms): the worst stall from the flood's start to the answer;
the worst PING-to-PONG delay the server saw; the RSS growth of the process
(VmRSS, from before the first battery). Then the scripts that end a
connection: every NICK refused, CAP LS without end, ERROR without closing,
a server that never answers PING (with ping_interval 1 s), each until the
bot closed the connection itself.

With --twistd, the bot is a real `twistd -n pubbot` process instead (every
built-in plugin, SQLite store, the brain's learner process, logging to a
file), with one drop-in plugin added: `!stalls` answers the worst stall a
StallWatch (5 ms ticks) in the bot's reactor saw since the last `!stalls`.
Also reported: the worst PING-to-PONG delay the server saw (it PINGs every
50 ms; a PING waits behind the flood's bytes already in the socket, so this
is the backlog's delay, not a stall) and the process's RSS growth.

Baseline in the same run: the stall watch with the bot connected and idle.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.dirname(HERE)]

from twisted.internet import reactor  # noqa: E402
from twisted.internet.defer import Deferred  # noqa: E402
from twisted.internet.task import deferLater, react  # noqa: E402
from twisted.logger import globalLogBeginner, textFileLogObserver  # noqa: E402

from pubbot.config.settings import parse  # noqa: E402
from pubbot.core.bot import Bot  # noqa: E402
from pubbot.irc.service import IRCService  # noqa: E402
from pubbot.loader import load_handlers  # noqa: E402
from pubbot.store.memory import MemoryStore  # noqa: E402
from pubbot.testing import ReactorStalls  # noqa: E402
from tests.support.hostile_irc import (  # noqa: E402
    FLOODS,
    EndlessCapLs,
    ErrorWithoutClose,
    HostileIRCServer,
    NeverPong,
    NickAlwaysTaken,
    Script,
)


def rss_kib() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_of(pid: int) -> int:
    with open("/proc/%d/status" % (pid,)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


STALLS_PLUGIN = """
from pubbot.api import command
from pubbot.util.stallwatch import StallWatch

WATCH = []


@command("stalls")
def bench_stalls(msg):
    if not WATCH:
        WATCH.append(StallWatch(msg.bot.clock, 0.005))
        WATCH[0].start()
    worst = WATCH[0].worst
    WATCH[0].reset()
    return {"content": "stalls %.1f ms" % (worst * 1000,)}
"""


async def ask_stalls(peer) -> float:
    command, params = await peer.ask("!stalls", "stalls ", timeout=120)
    return float(params[-1].split()[1])


async def twistd_floods(names: list) -> list:
    """The floods against a real twistd -n pubbot: PONG delays and RSS, seen from outside."""
    import json
    import shutil
    import subprocess
    import tempfile

    directory = tempfile.mkdtemp(prefix="pubbot-bench-hostile-")
    server = HostileIRCServer(reactor, Script(), max_seconds=60.0, ping_every=0.05)
    config = os.path.join(directory, "pubbot.toml")
    with open(config, "w") as f:
        store = json.dumps(os.path.join(directory, "store.sqlite"))
        f.write('[irc]\nserver = "%s"\nchannels = ["#pubbot"]\n[store]\npath = %s\n[web]\nendpoint = ""\n'
                '[plugins]\npaths = [%s]\n' % (server.endpoint, store, json.dumps(directory)))
    with open(os.path.join(directory, "bench_stalls_plugin.py"), "w") as f:
        f.write(STALLS_PLUGIN)
    env = dict(os.environ, PYTHONPATH=os.path.dirname(HERE))
    process = subprocess.Popen(
        [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n", "--pidfile", "",
         "--logfile", os.path.join(directory, "twistd.log"), "pubbot", "--config", config],
        cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    rows = []
    try:
        peer = await server.peer(0)
        await peer.welcomed
        while "#pubbot" not in peer.channels:
            await sleep(0.01)
        await peer.ask("!ping", "pong", timeout=60)
        await ask_stalls(peer)
        before = len(server.pong_delays)
        await sleep(2.0)
        rows.append(("idle (baseline)", await ask_stalls(peer),
                     max(server.pong_delays[before:], default=0.0) * 1000, 0, 2.0))
        start_rss = rss_of(process.pid)
        for name in names:
            before = len(server.pong_delays)
            began = time.monotonic()
            await peer.play([FLOODS[name]])
            await peer.ask("!ping", "pong", timeout=120)
            await sleep(0.5)  # PINGs sent at the end are answered too
            stall = await ask_stalls(peer)
            pongs = server.pong_delays[before:]
            rows.append((name, stall, max(pongs, default=0.0) * 1000, rss_of(process.pid) - start_rss,
                         time.monotonic() - began))
    finally:
        process.terminate()
        process.wait(30)
        await server.stop()
        shutil.rmtree(directory, True)
    return rows


def sleep(seconds: float) -> Deferred:
    return deferLater(reactor, seconds, lambda: None)


async def start_bot(script: Script, **irc):
    server = HostileIRCServer(reactor, script, max_seconds=60.0)
    config = {"server": server.endpoint, "channels": ["#pubbot"]}
    config.update(irc)
    bot = Bot(parse({"irc": config}), reactor, MemoryStore(reactor))
    for handler in load_handlers():
        bot.add_handler(handler)
    bot.start()
    service = IRCService(bot, reactor)
    service.startService()
    gc.collect()
    gc.freeze()  # as twistd's BusService does once the bot is built
    return server, bot, service


async def stop_bot(server, bot, service) -> None:
    await service.stopService()
    await bot.stop()
    await server.stop()


async def floods(names: list, profile) -> list:
    server, bot, service = await start_bot(Script())
    peer = await server.peer(0)
    await peer.welcomed
    while "#pubbot" not in peer.channels:
        await sleep(0.01)
    await peer.ask("!ping", "pong")
    rows = []
    with ReactorStalls(reactor) as idle:
        await sleep(2.0)
    rows.append(("idle (baseline)", idle.worst_ms, 0.0, 0, 0.0))
    start_rss = rss_kib()
    for name in names:
        before = len(server.pong_delays)
        began = time.monotonic()
        if profile is not None:
            profile.enable()
        with ReactorStalls(reactor) as stalls:
            await peer.play([FLOODS[name]])
            await peer.ask("!ping", "pong", timeout=120)
        if profile is not None:
            profile.disable()
        pongs = server.pong_delays[before:]
        rows.append((name, stalls.worst_ms, max(pongs, default=0.0) * 1000, rss_kib() - start_rss,
                     time.monotonic() - began))
    if len(server.peers) != 1:
        rows.append(("(dropped: %d connections)" % len(server.peers), 0.0, 0.0, 0, 0.0))
    await stop_bot(server, bot, service)
    return rows


async def endings() -> list:
    rows = []
    start_rss = rss_kib()
    for name, script, irc in (("433 for every NICK", NickAlwaysTaken(), {}),
                              ("endless CAP LS", EndlessCapLs(), {}),
                              ("ERROR, no close", ErrorWithoutClose(), {}),
                              ("never a PONG", NeverPong(), {"ping_interval": 1.0, "ping_timeout": 1.0})):
        began = time.monotonic()
        with ReactorStalls(reactor) as stalls:
            server, bot, service = await start_bot(script, **irc)
            peer = await server.peer(0)
            await peer.lost
            closed_by_bot = peer.closed_by_client
            ended = time.monotonic() - began
        rows.append((name + (" (bot closed)" if closed_by_bot else " (server closed!)"),
                     stalls.worst_ms, ended, rss_kib() - start_rss, peer.counts["NICK"]))
        await stop_bot(server, bot, service)
    return rows


async def main(reactor_, args) -> None:
    names = args.only.split(",") if args.only else list(FLOODS)
    profile = cProfile.Profile() if args.profile else None
    print("flood            worst stall  worst PONG  RSS growth    seconds")
    for _run in range(args.runs):
        rows = await (twistd_floods(names) if args.twistd else floods(names, profile))
        for name, stall, pong, rss, seconds in rows:
            print("%-16s %8.1f ms %8.1f ms %+8d KiB %8.1f s" % (name, stall, pong, rss, seconds))
    if profile is not None:
        profile.dump_stats(args.profile)
        print("profile written to", args.profile)
    if not args.only and not args.twistd:
        print("\nconnection ender           worst stall   until closed  RSS growth  NICKs sent")
        for name, stall, ended, rss, nicks in await endings():
            print("%-26s %8.1f ms %10.1f s %+8d KiB %6d" % (name, stall, ended, rss, nicks))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="comma-separated flood names (default: all)")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", help="write a cProfile of the floods here")
    parser.add_argument("--twistd", action="store_true", help="the bot as a real twistd -n pubbot process")
    args = parser.parse_args()
    if os.environ.get("BENCH_LOG"):  # log to a file, as twistd does
        log_file = open(os.environ["BENCH_LOG"], "a")  # noqa: SIM115 - open for the whole run
        globalLogBeginner.beginLoggingTo([textFileLogObserver(log_file)])
    react(lambda r: Deferred.fromCoroutine(main(r, args)))
