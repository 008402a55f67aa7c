"""
A real redis-server for tests: its own free loopback port and temp dir,
started, stopped, killed, paused (SIGSTOP) and resumed (SIGCONT) on demand.
It never touches the Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence

from . import ServerProcess, free_port, require


class RedisServer(ServerProcess):
    """One redis-server process; C{url} is what pubbot's [redis] url wants."""

    def __init__(self, port: int | None = None, password: str | None = None,
                 extra: Sequence[str] = ()):
        self.password = password
        #: More redis.conf lines (e.g. C{replicaof 127.0.0.1 PORT} for a replica).
        self.extra = list(extra)
        self.binary = require("redis-server", "redis-server")
        self.port = port or free_port()
        if self.port == 6379:
            raise AssertionError("tests must never use the Redis on port 6379")
        self.directory = tempfile.mkdtemp(prefix="pubbot-redis-")
        self.process: subprocess.Popen | None = None
        self.paused = False

    @property
    def url(self) -> str:
        auth = ":%s@" % (self.password,) if self.password else ""
        return "redis://%s127.0.0.1:%d/0" % (auth, self.port)

    def start(self, timeout: float = 10.0) -> RedisServer:
        config = os.path.join(self.directory, "redis.conf")
        with open(config, "w") as f:
            f.write("\n".join([
                "bind 127.0.0.1",
                "port %d" % self.port,
                "dir %s" % self.directory,
                "save \"\"",
                "appendonly no",
                "daemonize no",
                "logfile %s" % os.path.join(self.directory, "redis.log"),
                "databases 16",
                "requirepass %s" % self.password if self.password else "",
                *self.extra,
                "",
            ]))
        self.process = subprocess.Popen([self.binary, config], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.paused = False
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("redis-server exited with %s; see %s" % (
                    self.process.returncode, os.path.join(self.directory, "redis.log")))
            try:
                if self.command("PING") == b"+PONG":
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise AssertionError("redis-server did not answer on port %d within %ss" % (self.port, timeout))

    def command(self, *args: str, timeout: float = 2.0) -> bytes:
        """Send one command over a fresh connection; the raw first reply line (of the command)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            if self.password:
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(self.password), self.password.encode()))
                s.makefile("rb").readline()
            out = b"*%d\r\n" % len(args)
            for a in args:
                data = a.encode() if isinstance(a, str) else a
                out += b"$%d\r\n%s\r\n" % (len(data), data)
            s.sendall(out)
            data = b""
            while not data.endswith(b"\r\n"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data.rstrip(b"\r\n").split(b"\r\n")[0]

    def query(self, *args: str, timeout: float = 2.0):
        """Send one command over a fresh connection; the parsed reply (bytes, int, list or None)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            reader = s.makefile("rb")
            if self.password:
                s.sendall(b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(self.password), self.password.encode()))
                _read_reply(reader)
            out = b"*%d\r\n" % len(args)
            for a in args:
                data = a.encode() if isinstance(a, str) else a
                out += b"$%d\r\n%s\r\n" % (len(data), data)
            s.sendall(out)
            return _read_reply(reader)

    def pause(self) -> None:
        """SIGSTOP: connections stay open but nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def stop(self) -> None:
        """Stop the server and remove its temp dir."""
        if self.process is not None and self.process.poll() is None and self.paused:
            self.resume()
        super().stop()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_reply(reader):
    line = reader.readline().rstrip(b"\r\n")
    kind, rest = line[:1], line[1:]
    if kind == b"+":
        return rest
    if kind == b"-":
        raise AssertionError("Redis error: %s" % rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = reader.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read_reply(reader) for _ in range(n)]
    raise AssertionError("unexpected Redis reply %r" % (line,))
