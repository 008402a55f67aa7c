"""Real servers for integration tests, started on free loopback ports in temp dirs."""

import shutil
import socket


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
            "%s is not installed: run tests/servers/install.py (Debian package %s)" % (command, package))
    return path
