"""Scale-out test helpers: pubbot processes, an IRC observer, the test plugin."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import LoopingCall, deferLater
from twisted.protocols.basic import LineOnlyReceiver

from pubbot.cluster.lease import IRC_LEASE
from pubbot.cluster.roles import PROCESSES
from pubbot.cluster.streams import PROCS
from pubbot.loader import load_handlers

from .servers import ROOT
from .servers.ngircd import NgircdServer
from .servers.redis import RedisServer

CHANNEL = "#pubbot"

PLUGIN = '''
import os
from twisted.internet.task import deferLater
from pubbot.api import command

MARKS = %(marks)r


@command("echo", args=r"(?P<text>.+)")
def scaleout_echo(msg, text):
    return {"content": "echo %%s" %% text}


@command("flood", args=r"(?P<count>\\d+)")
def scaleout_flood(msg, count):
    for i in range(int(count)):
        msg.bot.send(msg.network, msg.channel, "flood %%d" %% i)


@command("slow", args=r"(?P<nonce>\\w+)")
def scaleout_slow(msg, nonce):
    with open(os.path.join(MARKS, "slow-%%s-%%d" %% (nonce, os.getpid())), "w"):
        pass
    return deferLater(msg.bot.clock, 3.0, lambda: {"content": "slow %%s done" %% nonce})
'''


def other_plugins() -> list:
    """Every built-in handler but the core commands: none of them may answer our lines."""
    return [h.name for h in load_handlers() if not type(h).__module__.endswith("core")
            and getattr(getattr(h, "func", None), "__module__", "").rsplit(".", 1)[-1] != "core"]


class Observer(LineOnlyReceiver):
    """A person in the channel: what the bot says, who joins and quits, and LUSERS."""

    delimiter = b"\r\n"
    MAX_LENGTH = 65536

    def __init__(self, nick: str = "watcher", count_users: bool = False):
        self.nick = nick
        self.count_users = count_users
        self.registered = False
        self.in_channel = False
        self.heard: list[tuple[float, str, str]] = []   # (time, nick, text) from others
        self.joins: list[tuple[float, str]] = []
        self.quits: list[tuple[float, str]] = []
        self.users: list[int] = []
        self.poll = LoopingCall(self.sendLine, b"LUSERS")

    def connectionMade(self):
        self.sendLine(b"NICK " + self.nick.encode())
        self.sendLine(b"USER watcher 0 * :scale-out observer")

    def connectionLost(self, reason=None):
        if self.poll.running:
            self.poll.stop()

    def lineReceived(self, line: bytes):
        text = line.decode("utf-8", "replace")
        prefix = ""
        if text.startswith(":"):
            prefix, _, text = text[1:].partition(" ")
        command, _, rest = text.partition(" ")
        params, trailing = rest, None
        if " :" in rest or rest.startswith(":"):
            head, _, trailing = (" " + rest).partition(" :")
            params = head.strip()
        args = params.split() + ([trailing] if trailing is not None else [])
        nick = prefix.split("!", 1)[0]
        now = time.monotonic()
        if command == "PING":
            self.sendLine(b"PONG :" + (args[-1] if args else "x").encode())
        elif command == "001":
            self.registered = True
            self.sendLine(("JOIN " + CHANNEL).encode())
            if self.count_users:
                # ngircd delays a client's commands by a penalty each: this
                # one only counts, so the one that speaks is never held up.
                self.poll.start(1.0)
        elif command == "JOIN":
            if nick == self.nick:
                self.in_channel = True
            else:
                self.joins.append((now, nick))
        elif command in ("QUIT", "PART") and nick != self.nick:
            self.quits.append((now, nick))
        elif command in ("PRIVMSG", "NOTICE") and nick and nick != self.nick and "." not in nick:
            self.heard.append((now, nick, args[-1] if args else ""))
        elif command == "251" and args:
            # "There are N users and M services on S servers"
            words = args[-1].split()
            if "users" in words:
                self.users.append(int(words[words.index("users") - 1]))

    def say(self, text: str):
        self.sendLine(("PRIVMSG %s :%s" % (CHANNEL, text)).encode())

    def said(self, text: str) -> list:
        return [h for h in self.heard if h[2] == text]


class Pubbot:
    """One real C{twistd -n pubbot} process in its own directory."""

    def __init__(self, directory: str, index: int, config: str, args: tuple = ()):
        #: Further arguments to C{twistd pubbot} (--role ...).
        self.args = list(args)
        self.directory = os.path.join(directory, "p%d" % index)
        os.makedirs(self.directory)
        self.config = os.path.join(self.directory, "pubbot.toml")
        with open(self.config, "w") as f:
            f.write(config)
        self.log_path = os.path.join(self.directory, "twistd.log")
        self.process: subprocess.Popen | None = None
        self.paused = False

    def start(self) -> Pubbot:
        env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", "-n",
             "--pidfile", os.path.join(self.directory, "twistd.pid"), "--logfile", self.log_path,
             "pubbot", "--config", self.config, *self.args],
            cwd=self.directory, env=env, stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.directory, "stdout.txt"), "wb"),  # noqa: SIM115 - Popen dups it
            stderr=subprocess.STDOUT)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig) -> None:
        assert self.process is not None
        self.process.send_signal(sig)
        if sig == signal.SIGSTOP:
            self.paused = True
        elif sig == signal.SIGCONT:
            self.paused = False

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        if self.alive():
            if self.paused:
                self.signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        text = ""
        for path in (self.log_path, os.path.join(self.directory, "stdout.txt")):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text


def cluster_config(irc_port: int, plugins: str, disabled: list, redis: list[str], lease: float,
                   visibility: float, extra: Sequence[str] = ()) -> str:
    """A cluster member's config: ngircd on C{irc_port}, the test plugin, C{redis}'s lines under [redis]."""
    return "\n".join([
        "[irc]",
        'server = "tcp:127.0.0.1:%d"' % irc_port,
        'nick = "pubbot"',
        'channels = ["%s"]' % CHANNEL,
        "[irc.throttle]",
        "burst = 40",
        "per_second = 20.0",
        "[plugins]",
        "paths = [%s]" % json.dumps(plugins),
        "disabled = %s" % json.dumps(disabled),
        "timeout = 5.0",
        "[redis]",
        *redis,
        "lease_seconds = %s" % lease,
        "visibility_timeout = %s" % visibility,
        "[web]",
        'endpoint = ""',
        *extra,
    ]) + "\n"


def lease_pid(holder: bytes | None) -> int | None:
    """The pid in an IRC lease token (C{host:pid#nonce}), None when nobody holds it."""
    if not holder:
        return None
    return int(holder.decode().rsplit("#", 1)[0].rsplit(":", 1)[1])


class Waits:
    """
    Waiting on a cluster from a trial TestCase, and the IRC observer on its
    ngircd (C{self.irc}): mixed into L{ClusterCase} and the Sentinel tests.
    """

    async def until(self, predicate, seconds: float, step: float = 0.05) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if predicate():
                return True
            await deferLater(reactor, step, lambda: None)
        return bool(predicate())

    async def sleep(self, seconds: float) -> None:
        await deferLater(reactor, seconds, lambda: None)

    async def observe(self) -> Observer:
        """The person who speaks; a second client counts the users on the server (LUSERS)."""
        observer, counter = Observer(), Observer("counter", count_users=True)
        for client in (observer, counter):
            protocol = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", self.irc.port), client)
            self.addCleanup(protocol.transport.loseConnection)
            self.assertTrue(await self.until(lambda client=client: client.in_channel, 10))
        observer.users = counter.users
        observer.joins = [j for j in observer.joins if j[1] != "counter"]
        return observer


class ClusterCase(Waits):
    """
    What the scale-out integration tests share (mixed into a trial
    TestCase): a real Redis and ngircd per test, pubbot processes started
    on them, an IRC observer, and readers of the cluster's state in Redis.
    """

    timeout = 240

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="pubbot-scaleout-")
        self.marks = os.path.join(self.directory, "marks")
        plugins = os.path.join(self.directory, "plugins")
        os.makedirs(self.marks)
        os.makedirs(plugins)
        with open(os.path.join(plugins, "scaleout_test_plugin.py"), "w") as f:
            f.write(PLUGIN % {"marks": self.marks})
        self.plugins = plugins
        self.redis = RedisServer().start()
        self.addCleanup(self.redis.stop)
        self.irc = NgircdServer().start()
        self.addCleanup(self.irc.stop)
        self.bots: list[Pubbot] = []
        self.disabled = other_plugins()

    def tearDown(self):
        for bot in self.bots:
            bot.stop()
        if os.environ.get("PUBBOT_SHOW_LOGS"):  # for debugging a failure
            for i, bot in enumerate(self.bots):
                sys.stderr.write("---- pubbot process %d (pid %s) log ----\n%s\n" % (
                    i, bot.process.pid if bot.process else "-", bot.log()))
        shutil.rmtree(self.directory, True)

    def config(self, lease: float = 10.0, visibility: float = 6.0, extra: str = "") -> str:
        return cluster_config(self.irc.port, self.plugins, self.disabled, ['url = "%s"' % self.redis.url],
                              lease, visibility, [extra])

    def spawn(self, n: int, args: tuple = (), **config) -> list:
        text = self.config(**config)
        bots = [Pubbot(self.directory, len(self.bots) + i, text, args) for i in range(n)]
        for bot in bots:
            bot.start()
        self.bots.extend(bots)
        return bots

    def owner_pid(self) -> int | None:
        return lease_pid(self.redis.query("GET", IRC_LEASE))

    def owner(self) -> Pubbot | None:
        pid = self.owner_pid()
        return next((b for b in self.bots if b.pid == pid), None)

    def workers_alive(self) -> int:
        return self.redis.query("ZCARD", PROCS)

    def assert_one_bot(self, observer: Observer):
        """Never more than one bot on the server (besides our two clients); never another nick."""
        self.assertTrue(observer.users, "no LUSERS samples")
        self.assertLessEqual(max(observer.users), 3, "a second bot was on the server: %s" % observer.users)
        self.assertEqual({nick for _, nick in observer.joins}, {"pubbot"})

    async def ready(self, observer: Observer, n: int) -> Pubbot:
        self.assertTrue(await self.until(lambda: observer.joins, 60), "the bot never joined")
        self.assertTrue(await self.until(lambda: self.workers_alive() == n, 30),
                        "only %s of %d processes are heartbeating" % (self.workers_alive(), n))
        owner = self.owner()
        self.assertIsNotNone(owner)
        return owner

    def processes(self) -> dict:
        """{pid: description} from the cluster's shared descriptions."""
        flat = self.redis.query("HGETALL", PROCESSES) or []
        out = {}
        for i in range(0, len(flat), 2):
            info = json.loads(flat[i + 1])
            out[int(str(info["process"]).rsplit(":", 1)[1])] = info
        return out
