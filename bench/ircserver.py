"""
A loopback IRC server for the benchmarks: registers one client, lets it join,
then floods or paces chat lines at it and times the answers.

Only what a client needs to register and join is implemented (001, 005,
376, JOIN echo, NAMES); CAP and everything else gets no answer, like a
server without capability support.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.protocol import Factory, Protocol

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHANNEL = "#bench"
TRIGGER = "!ping"
ANSWER = "pong"
WORDS = ("the quick brown fox jumps over lazy dog music tea coffee deploy build test "
         "release friday weekend lunch meeting code review merge branch python twisted "
         "irc bot channel skip track album artist playlist office radio volume").split()


def chat_lines(n: int, every: int, users: int = 200, seed: int = 1) -> tuple[list[bytes], list[int]]:
    """N PRIVMSG lines from many users; every C{every}-th is the trigger."""
    rng = random.Random(seed)
    out, triggers = [], []
    for i in range(n):
        nick = "user%d" % rng.randrange(users)
        if every and i % every == every - 1:
            text = TRIGGER
            triggers.append(i)
        else:
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(3, 12)))
        out.append((":%s!%s@host%d.example PRIVMSG %s :%s\r\n" % (
            nick, nick, rng.randrange(users), CHANNEL, text)).encode())
    return out, triggers


class BenchIRC(Protocol):
    """The server side of one client connection."""

    def __init__(self, server: "BenchServer"):
        self.server = server
        self.buffer = b""
        self.nick = None
        self.registered = False

    def connectionMade(self) -> None:
        self.server.connection = self

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for raw in lines:
            self.line(raw.rstrip(b"\r"))

    def send(self, text: str) -> None:
        self.transport.write((text + "\r\n").encode())

    def line(self, raw: bytes) -> None:
        parts = raw.split(b" ", 1)
        command = parts[0].upper()
        rest = parts[1] if len(parts) > 1 else b""
        if command == b"PRIVMSG" or command == b"NOTICE":
            self.server.privmsg(rest)
        elif command == b"NICK":
            self.nick = rest.lstrip(b":").decode()
        elif command == b"USER" and self.nick and not self.registered:
            self.registered = True
            n = self.nick
            self.send(":bench 001 %s :Welcome" % n)
            self.send(":bench 005 %s CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=rfc1459 :are supported" % n)
            self.send(":bench 376 %s :End of MOTD" % n)
        elif command == b"JOIN":
            chan = rest.split(b" ")[0].lstrip(b":").decode()
            self.send(":%s!bot@localhost JOIN %s" % (self.nick, chan))
            self.send(":bench 353 %s = %s :%s" % (self.nick, chan, self.nick))
            self.send(":bench 366 %s %s :End of NAMES" % (self.nick, chan))
            self.server.joined(chan)
        elif command == b"PING":
            self.send(":bench PONG bench %s" % rest.decode(errors="replace"))
        elif command == b"QUIT":
            self.transport.loseConnection()

    def connectionLost(self, reason=None) -> None:
        self.server.connection = None


class BenchServer(Factory):
    """Listens on a free loopback port of C{reactor}; C{on_join} fires when the client joins."""

    def __init__(self, reactor):
        self.connection: Optional[BenchIRC] = None
        self.on_join: Deferred = Deferred()
        self.reply_times: list[float] = []
        self.on_reply: Optional[Callable[[float], None]] = None
        self.port = reactor.listenTCP(0, self, interface="127.0.0.1")

    @property
    def port_number(self) -> int:
        return self.port.getHost().port

    def buildProtocol(self, addr) -> BenchIRC:
        return BenchIRC(self)

    def joined(self, channel: str) -> None:
        if channel == CHANNEL and not self.on_join.called:
            self.on_join.callback(time.perf_counter())

    def privmsg(self, rest: bytes) -> None:
        if rest.endswith(b":" + ANSWER.encode()) or rest.endswith(b" " + ANSWER.encode()):
            now = time.perf_counter()
            self.reply_times.append(now)
            if self.on_reply is not None:
                self.on_reply(now)


class Flooder:
    """Writes pre-built lines as fast as the socket takes them (a pull producer)."""

    CHUNK = 256

    def __init__(self, transport, lines: list[bytes], triggers: list[int]):
        self.transport = transport
        self.lines = lines
        self.trigger_set = set(triggers)
        self.sent_at: list[float] = []
        self.index = 0
        self.started = time.perf_counter()
        transport.registerProducer(self, False)

    def resumeProducing(self) -> None:
        end = min(self.index + self.CHUNK, len(self.lines))
        if self.index >= end:
            self.transport.unregisterProducer()
            return
        now = time.perf_counter()
        self.sent_at.extend(now for i in range(self.index, end) if i in self.trigger_set)
        self.transport.write(b"".join(self.lines[self.index:end]))
        self.index = end

    def stopProducing(self) -> None:
        self.index = len(self.lines)


def bot_process(port: int, kind: str, workdir: str) -> subprocess.Popen:
    """
    Start the client under test: C{pubbot} (all default plugins, or all but
    those named in $BENCH_DISABLE, comma-separated, for experiments) or C{bare}.
    $BENCH_TOML adds sections to pubbot's config (e.g. C{[brain]} and
    C{process = false} on two lines, to keep the brain's model in the bot's process).
    """
    env = dict(os.environ, PYTHONPATH=ROOT)
    if kind == "bare":
        argv = [sys.executable, os.path.join(ROOT, "bench", "bare_client.py"), str(port), CHANNEL]
    else:
        config = os.path.join(workdir, "bench.toml")
        with open(config, "w") as f:
            f.write(
                '[irc]\nserver = "tcp:127.0.0.1:%d"\nchannels = ["%s"]\nnick = "pubbot"\n'
                'ping_interval = 600.0\n[irc.throttle]\nenabled = false\n[irc.sasl]\nmechanisms = []\n'
                '[web]\nendpoint = "tcp:0:interface=127.0.0.1"\n[store]\npath = "%s"\n'
                '[music]\nannounce = ["%s"]\n[plugins]\ndisabled = [%s]\n' % (
                    port, CHANNEL, os.path.join(workdir, "s.sqlite"), CHANNEL,
                    ", ".join('"%s"' % name for name in os.environ.get("BENCH_DISABLE", "").split(",")
                              if name)))
            f.write("\n%s\n" % (os.environ.get("BENCH_TOML", ""),))
        argv = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
                "--pidfile=", "--logfile", os.path.join(workdir, "bot.log")]
        if os.environ.get("BENCH_PROFILE"):
            # cProfile stats of the bot, for: python -m pstats FILE
            argv += ["--profile", os.environ["BENCH_PROFILE"], "--profiler", "cprofile", "--savestats"]
        argv += ["-n", "pubbot", "--config", config]
    return subprocess.Popen(argv, env=env, cwd=workdir, stdin=subprocess.DEVNULL)


def brain_dropped(workdir: str) -> int:
    """How many lines the bot's brain learner dropped, by its log (0 when none)."""
    try:
        with open(os.path.join(workdir, "bot.log"), encoding="utf-8", errors="replace") as f:
            found = re.findall(r"(\d+) lines not learned so far", f.read())
    except OSError:
        return 0
    return max(map(int, found), default=0)


def peak_rss_mb(pid: int) -> float:
    """
    The peak RSS of a process and every process under it (pubbot's brain
    learner), summed: an upper bound of what they held at once (pages they
    share count in each).
    """
    tree = _tree_fields(pid, "status", ("VmHWM",))
    return float("nan") if tree is None else sum(fields.get("VmHWM", 0.0) for fields in tree)


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """
    Two measures of the memory a process and every process under it hold
    now (Linux's smaps_rollup; NaN when it cannot be read):

     - RSS, each page once: the process's RSS plus the pages only each
       process under it holds (their USS). Pages a learner shares with the
       bot (the Python library, say) count once, as in one process's RSS;
     - PSS, summed: shared pages split among all that map them (other
       processes too: the benchmark itself shares Twisted's libraries).
    """
    tree = _tree_fields(pid, "smaps_rollup", ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
    if tree is None:
        return float("nan"), float("nan")
    root, *under = tree
    rss = root.get("Rss", float("nan")) + sum(
        f.get("Private_Clean", 0.0) + f.get("Private_Dirty", 0.0) for f in under)
    return rss, sum(f.get("Pss", float("nan")) for f in tree)


def _tree_fields(pid: int, name: str, wanted: tuple) -> Optional[list[dict]]:
    """
    The C{wanted} kB fields (in MB) of /proc/PID/NAME for a process, then
    each process under it (those gone meanwhile left out); None when the
    process itself cannot be read.
    """
    out = []
    for one in [pid, *descendants(pid)]:
        fields = {}
        try:
            with open("/proc/%d/%s" % (one, name)) as f:
                for line in f:
                    key, _, rest = line.partition(":")
                    if key in wanted:
                        fields[key] = int(rest.split()[0]) / 1024.0
        except (OSError, ValueError):
            if one == pid:
                return None
            continue
        out.append(fields)
    return out


class MemorySampler:
    """The highest L{tree_memory_mb} figures of a process tree, sampled every C{interval} seconds."""

    def __init__(self, reactor, pid: int, interval: float = 0.1):
        from twisted.internet.task import LoopingCall
        self.pid = pid
        self.rss = self.pss = float("nan")
        self._loop = LoopingCall(self.sample)
        self._loop.clock = reactor
        self._loop.start(interval)

    def sample(self) -> None:
        rss, pss = tree_memory_mb(self.pid)
        if not rss <= self.rss:  # NaN at first
            self.rss = rss
        if not pss <= self.pss:
            self.pss = pss

    def stop(self) -> tuple[float, float]:
        """Stop; the peaks (RSS each page once, PSS)."""
        if self._loop.running:
            self._loop.stop()
        self.sample()
        return self.rss, self.pss


def descendants(pid: int) -> list[int]:
    """The processes under C{pid} (Linux /proc), children first."""
    out: list[int] = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            continue
        for child in children:
            out.append(child)
            out.extend(descendants(child))
    return out


def stop_process(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def scratch() -> str:
    path = tempfile.mkdtemp(prefix="pubbot-bench-")
    return path


def cleanup(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def close(server: BenchServer, proc: subprocess.Popen, workdir: str) -> None:
    """Stop the client under test and the server, and remove the scratch dir."""
    stop_process(proc)
    server.port.stopListening()
    if server.connection is not None:
        server.connection.transport.abortConnection()
    cleanup(workdir)


def with_timeout(reactor, d: Deferred, seconds: float, what: str) -> Deferred:
    """C{d}, or a SystemExit saying the benchmark could not run when it takes over C{seconds}."""
    def expired(failure):
        failure.trap(Exception)
        raise SystemExit("benchmark could not run: %s within %ss" % (what, seconds))
    return d.addTimeout(seconds, reactor).addErrback(expired)


def run_benchmark(main: Callable, args) -> int:
    """Run C{main(reactor, args)} (returning a Deferred) on the reactor; 1 if it could not run."""
    from twisted.internet import reactor
    outcome: list = []

    def finish(result):
        outcome.append(result)
        reactor.stop()
    reactor.callWhenRunning(lambda: main(reactor, args).addBoth(finish))
    reactor.run()
    if outcome and hasattr(outcome[0], "raiseException"):
        if outcome[0].check(SystemExit):
            print(outcome[0].value, file=sys.stderr)
        else:
            outcome[0].printTraceback()
        return 1
    return 0
