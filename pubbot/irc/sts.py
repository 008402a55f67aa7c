"""
IRCv3 strict transport security: parse the C{sts} capability and keep policies.

On a plain connection the value's C{port} tells where to reconnect with TLS.
On a TLS connection its C{duration} is a promise: for that long, this host
is only reached over TLS (the policy is stored, so it survives restarts).
"""

from __future__ import annotations

from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.logger import Logger

log = Logger()

KEY_PREFIX = "irc.sts."
#: A hostile server cannot make us refuse plain connections for ever.
MAX_DURATION = 366 * 86400


@dataclass(frozen=True)
class StsValue:
    port: int | None
    duration: int | None
    preload: bool


def parse_value(value: str | None) -> StsValue | None:
    """Parse C{port=6697,duration=300[,preload]}; None when malformed."""
    if not value:
        return None
    port = duration = None
    preload = False
    for item in value.split(","):
        key, _, arg = item.partition("=")
        key = key.lower()
        if key == "port":
            if not arg.isdigit() or not 0 < int(arg) < 65536:
                return None
            port = int(arg)
        elif key == "duration":
            if not arg.isdigit():
                return None
            duration = min(int(arg), MAX_DURATION)
        elif key == "preload":
            preload = True
    return StsValue(port, duration, preload)


class StsPolicies:
    """Stored STS policies, by lowercased host name, in an L{IStore}."""

    def __init__(self, store):
        self._store = store

    @staticmethod
    def _key(host: str) -> str:
        return KEY_PREFIX + host.lower()

    def get(self, host: str) -> Deferred:
        """Fires with the stored policy {'port': int} or None."""
        return self._store.get(self._key(host))

    def save(self, host: str, port: int, duration: int) -> Deferred:
        """Remember the policy for C{duration} seconds (0 removes it)."""
        if duration <= 0:
            log.info("STS policy for {host} removed by the server", host=host)
            return self._store.delete(self._key(host))
        return self._store.set(self._key(host), {"port": port}, ttl=duration)
