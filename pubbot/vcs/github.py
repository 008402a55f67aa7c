"""
The GitHub webhook endpoint (mounted at C{/hooks/github} by the vcs plugin).

A request is accepted only when it carries an C{X-Hub-Signature-256} that
is the HMAC-SHA256 of its body under the configured secret (compared in
constant time); with no secret configured every request is refused. Bodies
are bounded; C{ping} events are answered; every other event goes to the
callback, which raises L{PayloadError} for payloads it cannot use. Each
refusal gets a 4xx answer and a log line (never the secret or signature).

A verified delivery whose C{X-GitHub-Delivery} id was handled within
L{DEDUP_WINDOW} seconds (GitHub's redeliveries, a replay) is answered 200
but not handled again. Bodies are parsed only once their signature is
verified; at most L{MAX_BODY} bytes, parsed in linear time by C code (the
JSON parser, whose nesting is bounded by the recursion limit; form bodies
read by L{pubbot.web.forms.form_field}): about 60 ms for the worst MiB
measured.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from twisted.logger import Logger
from twisted.web.resource import Resource

from ..util.boundedlog import BoundedLog
from ..web.forms import FormError, form_field

log = Logger()

#: Largest body accepted (GitHub push payloads are far smaller).
MAX_BODY = 1024 * 1024

#: A delivery id handled this recently (seconds) is not handled again.
DEDUP_WINDOW = 24 * 3600.0
#: Most delivery ids remembered (the oldest are forgotten first).
DEDUP_SIZE = 4096

_EVENT = re.compile(rb"[a-z_]{1,64}\Z")
_DELIVERY = re.compile(r"[A-Za-z0-9\-]{1,64}\Z")


class PayloadError(ValueError):
    """A payload that is not what its event promises."""


def form_payload(body: bytes) -> str:
    """The first C{payload} field of a form-encoded body, as text; L{PayloadError} if none or malformed."""
    try:
        value = form_field(body, b"payload")
    except FormError as e:
        raise PayloadError(str(e)) from None
    if value is None:
        raise PayloadError("form body without a payload field")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError("form payload is not UTF-8") from None


Secret = str | bytes | Callable[[], str | bytes]


class RecentIds:
    """Ids added in the last C{window} seconds (times given by the caller), at most C{size} of them."""

    def __init__(self, window: float = DEDUP_WINDOW, size: int = DEDUP_SIZE):
        self.window = window
        self.size = size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            key, when = next(iter(seen.items()))
            if now - when < self.window:
                break
            del seen[key]

    def seen(self, key: str, now: float) -> bool:
        self._expire(now)
        return key in self._seen

    def add(self, key: str, now: float) -> None:
        self._seen.pop(key, None)
        self._seen[key] = now
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def __len__(self) -> int:
        return len(self._seen)


class GitHubHook(Resource):
    """
    POST only. C{on_event(event, payload, delivery)} is called for each
    verified event but C{ping}; what it returns (a short string) goes back
    in the response. C{clock} times the de-duplication window and the
    refusals' log lines (default: the site's reactor): anyone can post, so a
    refusal before the signature is verified is logged once a minute per
    status code at most, with how many were not; a signed delivery's
    refusal (GitHub's) is logged every time.
    """

    isLeaf = True

    def __init__(self, secret: Secret, on_event: Callable[[str, dict, str], Any],
                 max_body: int = MAX_BODY, clock: Any | None = None):
        super().__init__()
        self._secret = secret
        self.on_event = on_event
        self.max_body = max_body
        self.clock = clock
        self.recent = RecentIds()
        self._logs: BoundedLog | None = None

    def _clock(self, request) -> Any:
        return self.clock if self.clock is not None else request.site.reactor

    def _now(self, request) -> float:
        return self._clock(request).seconds()

    def secret(self) -> bytes:
        value = self._secret() if callable(self._secret) else self._secret
        return value.encode("utf-8") if isinstance(value, str) else (value or b"")

    def _answer(self, request, code: int, message: str, **extra: Any) -> bytes:
        request.setResponseCode(code)
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        body = {"ok": 200 <= code < 300, "message": message}
        body.update(extra)
        return json.dumps(body).encode("utf-8") + b"\n"

    def _refuse(self, request, code: int, why: str, delivery: str, signed: bool = False) -> bytes:
        held: int | None = 0
        if not signed:
            if self._logs is None:
                self._logs = BoundedLog(self._clock(request), log, per_minute=1)
            held = self._logs.admit(str(code))
        if held is not None:
            peer = request.getClientAddress()
            log.warn("github webhook from {peer} (delivery {delivery}) refused with {code}: {why}"
                     + (" ({held} more refused with {code} not logged)" if held else ""),
                     peer=getattr(peer, "host", str(peer)), delivery=delivery, code=code, why=why, held=held)
        return self._answer(request, code, why)

    def render_GET(self, request) -> bytes:
        request.setHeader(b"allow", b"POST")
        return self._answer(request, 405, "POST GitHub webhook deliveries here")

    def render_POST(self, request) -> bytes:
        raw_delivery = (request.getHeader(b"x-github-delivery") or b"").decode("ascii", "replace")
        delivery = raw_delivery if _DELIVERY.match(raw_delivery) else "?"
        secret = self.secret()
        if not secret:
            return self._refuse(request, 403, "no webhook secret is configured", delivery)
        length = request.getHeader(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return self._refuse(request, 413, "body larger than %d bytes" % (self.max_body,), delivery)
        request.content.seek(0)
        body = request.content.read(self.max_body + 1)
        if len(body) > self.max_body:
            return self._refuse(request, 413, "body larger than %d bytes" % (self.max_body,), delivery)
        given = request.getHeader(b"x-hub-signature-256")
        if not given:
            return self._refuse(request, 401, "missing X-Hub-Signature-256", delivery)
        expected = b"sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest().encode("ascii")
        if not hmac.compare_digest(expected, given.strip()):
            return self._refuse(request, 401, "bad signature", delivery)
        event = request.getHeader(b"x-github-event") or b""
        if not _EVENT.match(event):
            return self._refuse(request, 400, "missing or malformed X-GitHub-Event", delivery, signed=True)
        try:
            payload = self._payload(request, body)
        except PayloadError as e:
            return self._refuse(request, 400, str(e), delivery, signed=True)
        name = event.decode("ascii")
        if delivery != "?" and self.recent.seen(delivery, self._now(request)):
            log.info("github webhook: delivery {delivery} ({event}) was handled already; not again",
                     delivery=delivery, event=name)
            return self._answer(request, 200, "duplicate delivery %s: already handled" % (delivery,))
        if name == "ping":
            log.info("github webhook ping (delivery {delivery}, hook {hook})", delivery=delivery,
                     hook=payload.get("hook_id"))
            return self._answer(request, 200, "pong")
        try:
            result = self.on_event(name, payload, delivery)
        except PayloadError as e:
            return self._refuse(request, 400, "malformed %s payload: %s" % (name, e), delivery, signed=True)
        if delivery != "?":
            self.recent.add(delivery, self._now(request))
        return self._answer(request, 200, str(result or "ok"))

    @staticmethod
    def _payload(request, body: bytes) -> dict:
        kind = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
        if kind == b"application/x-www-form-urlencoded":
            text: str | bytes = form_payload(body)
        elif kind in (b"application/json", b""):
            text = body
        else:
            raise PayloadError("unsupported content type %r" % (kind.decode("ascii", "replace")[:60],))
        try:
            payload = json.loads(text)
        except (ValueError, RecursionError):
            raise PayloadError("body is not JSON") from None
        if not isinstance(payload, dict):
            raise PayloadError("payload is not a JSON object")
        return payload
