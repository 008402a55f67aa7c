"""Real servers for integration tests, started on free loopback ports in temp dirs."""

import os
import shutil
import socket
import sys
from typing import Any


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require(command: str, package: str) -> str:
    """
    The path of C{command}; raise (fail, never skip) when it is missing:
    the test command installs the Debian packages first.
    """
    path = shutil.which(command) or shutil.which(command, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        raise AssertionError(
            "%s is not installed: run tests/support/servers/install.py (Debian package %s)"
            % (command, package))
    return path


#: The source tree's root, for processes that must run this checkout.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def twistd_argv(*args: str) -> list:
    """Run twistd with this Python: C{twistd_argv("-n", "pubbot", ...)}."""
    return [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"] + list(args)


def bot_env(**extra: str) -> dict:
    """The environment for a pubbot process running this source tree."""
    env = dict(os.environ, PYTHONPATH=ROOT, PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def terminate(process, timeout: float = 10) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it lingers past C{timeout}."""
    import subprocess
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class ServerProcess:
    """A real server run as a child process in a temporary directory of its own (C{directory})."""

    process: Any = None
    directory: str = ""

    def kill(self) -> None:
        """SIGKILL, without cleaning anything up (the temp dir stays)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the server and remove its temp dir."""
        terminate(self.process)
        self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
