"""The minimal commented config C{pubbot init} writes (see L{pubbot.cli})."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

#: The endpoint kinds a server may be given as; anything else is HOST[:PORT] (TLS).
_KINDS = ("tcp:", "tls:", "ssl:", "unix:")


def server_endpoint(server: str) -> str:
    """C{host}, C{host:port} or an endpoint string, as an endpoint string (TLS by default)."""
    server = server.strip()
    if server.startswith(_KINDS):
        return server
    host, colon, port = server.rpartition(":")
    if colon and port.isdigit() and host:
        return "tls:%s:%s" % (host, port)
    return "tls:%s:6697" % (server,)


def _toml(value: object) -> str:
    """A TOML string or array of strings (TOML's basic strings read JSON's escapes)."""
    return json.dumps(value, ensure_ascii=False)


def config_text(server: str, nick: str, channels: Iterable[str], admins: Iterable[str] = (),
                when: float | None = None) -> str:
    """A minimal config for one network, with comments; not yet validated."""
    channels, admins = list(channels), list(admins)
    stamp = time.strftime("%Y-%m-%d", time.gmtime(when if when is not None else time.time()))
    return "\n".join([
        "# pubbot config, written by `pubbot init` on %s." % (stamp,),
        "# Every key left out has its default: pubbot.example.toml lists them all,",
        "# README.rst says what they do. Check it with: pubbot config check FILE",
        "# Run with: twistd -n pubbot --config FILE",
        "",
        "[irc]",
        "server = %s%s# TLS, certificate verified; tcp:HOST:PORT for plain text" % (
            _toml(server_endpoint(server)), " " * max(1, 39 - len(_toml(server_endpoint(server))) - 9)),
        "nick = %s" % (_toml(nick),),
        "channels = %s%s# \"#name key\" joins with a key" % (
            _toml(channels), " " * max(1, 39 - len(_toml(channels)) - 11)),
        "# sasl: [irc.sasl] username = \"...\", password_env = \"PUBBOT_PASSWORD\"",
        "",
        "[plugins]",
        "# who may use the admin commands (!join, !part, !say, !quit, !ignore ...):",
        "# account names, or user@host masks with * and ?; never bare nicks",
        "admins = %s" % (_toml(admins),),
        "",
        "[store]",
        "path = \"pubbot.sqlite\"                 # relative to the working directory",
        "",
        "# [logs]",
        "# channels = []                        # channels whose log !grep searches (opt-in)",
        "",
    ])
