"""The music source named by C{[music] source}."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

#: Endpoint types an C{mpd:} source may use.
MPD_ENDPOINTS = ("tcp", "unix", "tls")


def check_source(spec: str) -> str | None:
    """The problem with a C{[music] source} value, or None when it is usable."""
    if not spec:
        return None
    kind, _, rest = spec.partition(":")
    if kind == "mpd":
        if rest.split(":", 1)[0] not in MPD_ENDPOINTS:
            return "wants an endpoint after mpd:, e.g. \"mpd:tcp:localhost:6600\", not %r" % (spec,)
    elif kind in ("lms", "icecast"):
        parts = urlsplit(rest)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "wants an http(s) URL after %s:, e.g. \"%s:http://localhost:%s\", not %r" % (
                kind, kind, "9000" if kind == "lms" else "8000/status-json.xsl", spec)
    else:
        return "must start with mpd:, lms: or icecast:, not %r" % (spec,)
    if any(c in spec for c in "\r\n\0"):
        return "must not contain CR, LF or NUL"
    return None


def make_source(spec: str, reactor: Any) -> Any:
    """An L{IMusicSource} for C{spec} (C{mpd:ENDPOINT}, C{lms:URL}, C{icecast:URL})."""
    problem = check_source(spec)
    if problem or not spec:
        raise ValueError("[music] source %s" % (problem or "is empty"))
    kind, _, rest = spec.partition(":")
    if kind == "mpd":
        from twisted.internet.endpoints import clientFromString

        from .mpd import MPDSource
        where = rest.split(":", 2)
        return MPDSource(clientFromString(reactor, rest), reactor, "MPD at %s" % (":".join(where[1:]),))
    from .fetch import make_http_client
    http, pool = make_http_client(reactor)
    if kind == "lms":
        from .lms import LMSSource
        return LMSSource(rest, http, reactor, pool)
    from .icecast import IcecastSource
    return IcecastSource(rest, http, reactor, pool)
