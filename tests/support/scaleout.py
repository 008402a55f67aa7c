"""Scale-out test helpers: pubbot processes, an IRC observer, the test plugin."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from twisted.internet.task import LoopingCall
from twisted.protocols.basic import LineOnlyReceiver

from pubbot.loader import load_handlers

from .servers import ROOT

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
