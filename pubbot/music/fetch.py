"""JSON over HTTP with treq for the LMS and Icecast sources: bounded, checked."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import treq
from twisted.internet.protocol import Protocol

from ..links.limits import LimitedPool
from .interfaces import SourceUnavailable

#: Largest reply body read, in bytes.
MAX_BODY = 1024 * 1024


class _TooLarge(Exception):
    pass


def make_http_client(reactor: Any) -> tuple[Any, Any]:
    """
    A treq client on C{reactor} that verifies certificates (the Agent's
    default policy), and its connection pool (close it on stop). Response
    heads are capped (L{pubbot.links.limits}); bodies by L{fetch_json}.
    """
    from twisted.web.client import Agent

    pool = LimitedPool(reactor, persistent=True)
    pool.maxPersistentPerHost = 2
    return treq.client.HTTPClient(Agent(reactor, pool=pool)), pool


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """
    C{url} without its C{user:password@} part, and that part as a basic-auth
    pair (None when absent), so credentials never reach logs or replies.
    """
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if ":" in host:
        host = "[%s]" % (host,)
    if parts.port is not None:
        host += ":%d" % (parts.port,)
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


async def fetch_json(http: Any, method: str, url: str, body: bytes | None = None,
                     max_bytes: int = MAX_BODY, auth: tuple[str, str] | None = None) -> Any:
    """
    Send a request and parse the reply's JSON. Anything but a 200 with at
    most C{max_bytes} of JSON fails with L{SourceUnavailable}.
    """
    headers = {b"Accept": [b"application/json"]}
    if body is not None:
        headers[b"Content-Type"] = [b"application/json"]
    extra = {"auth": auth} if auth is not None else {}
    response = await http.request(method, url, data=body, headers=headers, **extra)
    if response.code != 200:
        # Read nothing more of an error page.
        response.deliverBody(_Discard())
        raise SourceUnavailable("%s answered HTTP %d" % (url, response.code))
    chunks: list[bytes] = []
    size = 0

    def collect(data: bytes) -> None:
        nonlocal size
        size += len(data)
        if size > max_bytes:
            raise _TooLarge()
        chunks.append(data)

    try:
        await treq.collect(response, collect)
    except _TooLarge:
        raise SourceUnavailable("%s sent more than %d bytes" % (url, max_bytes)) from None
    try:
        # strict=False: Icecast sends raw control characters inside strings.
        return json.loads(b"".join(chunks).decode("utf-8", "replace"), strict=False)
    except ValueError as e:
        raise SourceUnavailable("%s did not send valid JSON (%s)" % (url, e)) from None


class _Discard(Protocol):
    """Reads nothing of a body: stops the transport at once."""

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.stopProducing()
