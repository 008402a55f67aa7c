"""
Real Redis Sentinel for tests: a master, its replica(s) and three
redis-sentinel processes, each on its own free loopback port and in its own
temp dir, with short timings (down after 1 s) so that a failover takes a
few seconds. It never touches the Redis on 127.0.0.1:6379.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

from . import ServerProcess, free_port, require
from .redis import RedisServer, _read_reply

#: The name the sentinels monitor the master under.
MASTER = "pubbot"


class SentinelServer(ServerProcess):
    """One redis-sentinel process monitoring C{master_port} as L{MASTER}."""

    def __init__(self, master_port: int, down_after_ms: int = 1000, failover_timeout_ms: int = 3000,
                 quorum: int = 2):
        self.binary = require("redis-sentinel", "redis-sentinel")
        self.port = free_port()
        self.master_port = master_port
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.quorum = quorum
        self.directory = tempfile.mkdtemp(prefix="pubbot-sentinel-")
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return "127.0.0.1:%d" % self.port

    def start(self, timeout: float = 10.0) -> SentinelServer:
        config = os.path.join(self.directory, "sentinel.conf")
        with open(config, "w") as f:  # the sentinel rewrites this file as it learns
            f.write("\n".join([
                "bind 127.0.0.1",
                "port %d" % self.port,
                "dir %s" % self.directory,
                "daemonize no",
                "logfile %s" % os.path.join(self.directory, "sentinel.log"),
                "sentinel monitor %s 127.0.0.1 %d %d" % (MASTER, self.master_port, self.quorum),
                "sentinel down-after-milliseconds %s %d" % (MASTER, self.down_after_ms),
                "sentinel failover-timeout %s %d" % (MASTER, self.failover_timeout_ms),
                "sentinel parallel-syncs %s 1" % MASTER,
                "",
            ]))
        self.process = subprocess.Popen([self.binary, config], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("redis-sentinel exited with %s; see %s" % (
                    self.process.returncode, os.path.join(self.directory, "sentinel.log")))
            try:
                if self.query("PING") == b"PONG":
                    return self
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise AssertionError("redis-sentinel did not answer on port %d within %ss" % (self.port, timeout))

    def query(self, *args: str, timeout: float = 2.0):
        """One command over a fresh connection; the parsed reply."""
        import socket
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            reader = s.makefile("rb")
            out = b"*%d\r\n" % len(args)
            for a in args:
                data = a.encode()
                out += b"$%d\r\n%s\r\n" % (len(data), data)
            s.sendall(out)
            return _read_reply(reader)

    def master_port_now(self) -> int | None:
        """The master's port as this sentinel sees it."""
        reply = self.query("SENTINEL", "get-master-addr-by-name", MASTER)
        return int(reply[1]) if reply else None

    def info(self) -> dict:
        """SENTINEL MASTER as a dict of str."""
        flat = self.query("SENTINEL", "MASTER", MASTER)
        return {flat[i].decode(): flat[i + 1].decode() for i in range(0, len(flat), 2)}

    def log(self) -> str:
        try:
            with open(os.path.join(self.directory, "sentinel.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""


class SentinelGroup:
    """
    A master, C{replicas} replicas and C{sentinels} sentinels, ready when the
    sentinels know the replicas and each other (so they can fail over).
    """

    def __init__(self, replicas: int = 1, sentinels: int = 3, down_after_ms: int = 1000,
                 failover_timeout_ms: int = 3000):
        self.master = RedisServer()
        self.replicas = [RedisServer(extra=["replicaof 127.0.0.1 %d" % self.master.port])
                         for _ in range(replicas)]
        self.sentinels = [SentinelServer(self.master.port, down_after_ms, failover_timeout_ms,
                                         quorum=min(2, sentinels)) for _ in range(sentinels)]

    @property
    def servers(self) -> list:
        return [self.master] + self.replicas

    @property
    def addresses(self) -> list:
        """What [redis] sentinels wants."""
        return [s.address for s in self.sentinels]

    def start(self, timeout: float = 30.0) -> SentinelGroup:
        try:
            for server in self.servers:
                server.start()
            for sentinel in self.sentinels:
                sentinel.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Until every sentinel agrees on the master, knows every replica and the other sentinels."""
        deadline = time.monotonic() + timeout
        want = (len(self.replicas), len(self.sentinels) - 1)
        while time.monotonic() < deadline:
            try:
                if self.settled(want):
                    return
            except (OSError, AssertionError):
                pass
            time.sleep(0.1)
        raise AssertionError("the sentinels did not settle within %ss: %s" % (
            timeout, [s.info() for s in self.sentinels if s.process is not None]))

    def settled(self, want: tuple) -> bool:
        ports = set()
        for s in self.sentinels:
            if s.process is None or s.process.poll() is not None:
                continue
            info = s.info()
            if (int(info["num-slaves"]), int(info["num-other-sentinels"])) != want:
                return False
            if any(flag in info["flags"] for flag in ("down", "failover")):
                return False
            ports.add(int(info["port"]))
        if len(ports) != 1:
            return False
        master = self.by_port(ports.pop())
        if master is None or master.process is None or master.query("ROLE")[0] != b"master":
            return False
        # every replica is linked and in sync
        role = master.query("ROLE")
        return len(role[2]) == len(self.servers) - 1

    def by_port(self, port: int) -> RedisServer | None:
        return next((s for s in self.servers if s.port == port), None)

    def current_master(self) -> RedisServer:
        """The server the first live sentinel names as master."""
        for s in self.sentinels:
            if s.process is not None and s.process.poll() is None:
                server = self.by_port(s.master_port_now() or 0)
                if server is not None:
                    return server
        raise AssertionError("no sentinel names a master")

    def failover(self) -> None:
        """SENTINEL FAILOVER: promote a replica without asking the others (the master stays up)."""
        reply = self.sentinels[0].query("SENTINEL", "FAILOVER", MASTER)
        if reply != b"OK":
            raise AssertionError("SENTINEL FAILOVER said %r" % (reply,))

    def wait_for_new_master(self, old: RedisServer, timeout: float = 30.0) -> RedisServer:
        """Until every live sentinel names a master other than C{old}, and it says so itself."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                ports = {s.master_port_now() for s in self.sentinels
                         if s.process is not None and s.process.poll() is None}
                if len(ports) == 1 and old.port not in ports:
                    new = self.by_port(ports.pop() or 0)
                    if new is not None and new.query("ROLE")[0] == b"master":
                        return new
            except (OSError, AssertionError):
                pass
            time.sleep(0.05)
        raise AssertionError("no failover away from port %d within %ss" % (old.port, timeout))

    def logs(self) -> str:
        out = []
        for s in self.sentinels:
            out.append("---- sentinel %d ----\n%s" % (s.port, s.log()))
        for r in self.servers:
            try:
                with open(os.path.join(r.directory, "redis.log"), errors="replace") as f:
                    out.append("---- redis %d ----\n%s" % (r.port, f.read()))
            except OSError:
                pass
        return "\n".join(out)

    def stop(self) -> None:
        for s in self.sentinels:
            s.stop()
        for r in self.servers:
            r.stop()

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

