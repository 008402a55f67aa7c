"""
A real ngircd for tests: its own free loopback ports and temp dir, plain and
(with a certificate the test generates) TLS; started, stopped, killed and
restarted on the same ports on demand.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time

from . import ServerProcess, free_port, require


class NgircdServer(ServerProcess):
    """One ngircd process. C{port} is plain text; C{tls_port} is TLS when a certificate is given."""

    def __init__(self, cert: tuple[str, str] | None = None, channels: dict | None = None,
                 name: str = "irc.pubbot.test"):
        self.binary = require("ngircd", "ngircd")
        self.directory = tempfile.mkdtemp(prefix="pubbot-ngircd-")
        self.port = free_port()
        self.cert = tuple(os.path.abspath(p) for p in cert) if cert else None
        self.tls_port = free_port() if cert else None
        self.channels = channels or {}
        self.name = name
        self.process: subprocess.Popen | None = None
        self.log_path = os.path.join(self.directory, "ngircd.log")

    def _write_config(self) -> str:
        include = os.path.join(self.directory, "conf.d")
        os.makedirs(include, exist_ok=True)
        lines = [
            "[Global]",
            "    Name = %s" % self.name,
            "    Info = pubbot test server",
            "    Listen = 127.0.0.1",
            "    Ports = %d" % self.port,
            "    MotdPhrase = pubbot test server",
            "    PidFile = %s" % os.path.join(self.directory, "ngircd.pid"),
            "[Limits]",
            "    MaxNickLength = 30",
            "    MaxConnectionsIP = 0",
            "    PingTimeout = 120",
            "    PongTimeout = 20",
            "[Options]",
            "    DNS = no",
            "    Ident = no",
            "    PAM = no",
            "    IncludeDir = %s" % include,
        ]
        if self.cert:
            lines += [
                "[SSL]",
                "    CertFile = %s" % self.cert[0],
                "    KeyFile = %s" % self.cert[1],
                "    Ports = %d" % self.tls_port,
            ]
        for channel, key in self.channels.items():
            lines += ["[Channel]", "    Name = %s" % channel,
                      "    Modes = +tnk %s" % key if key else "    Modes = +tn"]
        path = os.path.join(self.directory, "ngircd.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def start(self, timeout: float = 15.0) -> NgircdServer:
        config = self._write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - Popen dups it; closed below
        self.process = subprocess.Popen([self.binary, "--nodaemon", "--passive", "--config", config],
                                        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=self.directory)
        log.close()
        ports = [self.port] + ([self.tls_port] if self.tls_port else [])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError("ngircd exited with %s:\n%s" % (self.process.returncode, self.log()))
            if all(self._listening(p) for p in ports):
                return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError("ngircd did not listen on %s within %ss:\n%s" % (ports, timeout, self.log()))

    @staticmethod
    def _listening(port: int) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            return False

    def log(self) -> str:
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-4000:]
        except OSError:
            return ""

    def restart(self) -> NgircdServer:
        """Kill, then start again on the same ports."""
        self.kill()
        return self.start()

    def __enter__(self) -> NgircdServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
