"""The dashboard token: checked on every request, from a header or a cookie.

With C{[web] token} set, a request must carry either
C{Authorization: Bearer <token>} (scripts, Prometheus) or the session cookie
the login form at C{/login} sets (browsers). The cookie holds an HMAC of the
token, not the token. Comparisons are constant-time.

Guessing is throttled (L{LoginThrottle}): after L{LOGIN_ATTEMPTS} wrong
tokens (at C{/login} or in an C{Authorization} header) from one address
(IPv6: one /64) within L{LOGIN_WINDOW} seconds, that address's tokens are
not checked until the window lets it try again: it gets a 429 with
C{Retry-After}. Session cookies are still honoured (a wrong cookie is
usually a stale one, and an HMAC cannot be guessed). Failures are logged at
most once a minute, with a count of the rest.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from html import escape
from typing import Any

from twisted.logger import Logger
from twisted.web.resource import Resource

from ..util.boundedlog import BoundedLog
from ..util.endpoints import split_endpoint
from ..util.ratelimit import RateLimiter
from .forms import FormError, form_field
from .limits import client_host

log = Logger()

COOKIE = b"pubbot_session"
#: Session cookie lifetime (seconds).
COOKIE_MAX_AGE = 30 * 24 * 3600
#: Wrong tokens allowed from one address in LOGIN_WINDOW seconds.
LOGIN_ATTEMPTS = 5
LOGIN_WINDOW = 300.0
#: Most addresses whose failures are remembered.
LOGIN_ADDRESSES = 4096
#: Largest login form read (a token is far shorter).
MAX_LOGIN_BODY = 4096


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


def client_key(request) -> str:
    """Who is guessing: the client's address, its /64 for IPv6 (see L{limits.client_host})."""
    return client_host(request.getClientAddress())


class LoginThrottle:
    """Counts wrong tokens per client (L{client_key}) on C{clock}; see the module docstring."""

    def __init__(self, clock, attempts: int = LOGIN_ATTEMPTS, window: float = LOGIN_WINDOW,
                 max_addresses: int = LOGIN_ADDRESSES):
        self.failures = RateLimiter(clock, attempts, window, max_addresses)
        self._logs = BoundedLog(clock, log, per_minute=1)

    def retry_after(self, request) -> float:
        """Seconds until this client's tokens are checked again (0: now)."""
        return self.failures.retry_after(client_key(request))

    def failed(self, request, how: str) -> None:
        key = client_key(request)
        self.failures.record(key)
        held = self._logs.admit("wrong-token")
        if held is not None:
            log.warn("web: a wrong dashboard token ({how}) from {client}"
                     + (" ({held} more not logged)" if held else ""), how=how, client=key, held=held)


class TokenAuth:
    """
    Decides whether a request is authorised; no token means everyone is.
    With a C{clock}, wrong tokens are throttled (L{LoginThrottle}).
    """

    def __init__(self, token: str, clock: Any | None = None):
        self.token = token.encode("utf-8")
        self.session = hmac.new(self.token, b"pubbot dashboard session v1", hashlib.sha256).hexdigest()
        self.throttle = LoginThrottle(clock) if clock is not None else None

    def retry_after(self, request) -> float:
        """Seconds this client must wait before its tokens are checked again (0: now)."""
        return self.throttle.retry_after(request) if self.throttle is not None else 0.0

    def failed(self, request, how: str) -> None:
        """Count a wrong token from this client."""
        if self.throttle is not None:
            self.throttle.failed(request, how)

    def verdict(self, request) -> str:
        """
        C{"ok"}, C{"none"} (no credentials), C{"wrong"} (counted) or
        C{"throttled"} (a bearer token from a client that must wait: not checked).
        """
        if not self.token:
            return "ok"
        cookie = request.getCookie(COOKIE)
        if cookie and hmac.compare_digest(_digest(cookie), _digest(self.session.encode("ascii"))):
            return "ok"
        header = request.getHeader(b"authorization")
        if header:
            if self.retry_after(request) > 0:
                return "throttled"
            scheme, _, value = header.partition(b" ")
            if scheme.lower() == b"bearer" and self.check_token(value.strip()):
                return "ok"
            self.failed(request, "Authorization header")
            return "wrong"
        return "wrong" if cookie else "none"

    @property
    def required(self) -> bool:
        return bool(self.token)

    def check_token(self, given: bytes) -> bool:
        # hashing first keeps the comparison from leaking the token's length
        return hmac.compare_digest(_digest(given), _digest(self.token))

    def authorized(self, request) -> bool:
        return self.verdict(request) == "ok"

    def set_cookie(self, request) -> None:
        request.addCookie(COOKIE, self.session.encode("ascii"), path=b"/", max_age=str(COOKIE_MAX_AGE),
                          httpOnly=True, secure=request.isSecure(), sameSite="strict")

    def clear_cookie(self, request) -> None:
        request.addCookie(COOKIE, b"", path=b"/", max_age="0", httpOnly=True,
                          secure=request.isSecure(), sameSite="strict")


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pubbot: log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="static/style.css"></head>
<body class="login"><main><h1>pubbot</h1>
<form method="post" action="login">
<label for="token">Dashboard token</label>
<input id="token" name="token" type="password" autocomplete="current-password" autofocus required>
<button type="submit">Log in</button>
%(message)s</form></main></body></html>
"""


def login_page(message: str = "") -> bytes:
    note = '<p class="error" role="alert">%s</p>' % escape(message) if message else ""
    return (_PAGE % {"message": note}).encode("utf-8")


class LoginResource(Resource):
    """C{/login}: a form taking the token; success sets the session cookie."""

    isLeaf = True

    def __init__(self, auth: TokenAuth):
        super().__init__()
        self.auth = auth

    def render_GET(self, request) -> bytes:
        if not self.auth.required:
            request.redirect(b"./")
            return b""
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return login_page()

    def render_POST(self, request) -> bytes:
        wait = self.auth.retry_after(request) if self.auth.required else 0.0
        if wait > 0:
            return too_many_attempts(request, wait, page=True)
        given = self._given_token(request)
        if not self.auth.required or self.auth.check_token(given):
            if self.auth.required:
                self.auth.set_cookie(request)
            request.setResponseCode(303)
            request.setHeader(b"location", b"./")
            return b""
        self.auth.failed(request, "login form")
        request.setResponseCode(403)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return login_page("That token is not right.")

    @staticmethod
    def _given_token(request) -> bytes:
        """The form's token field (the site does not parse forms, see L{pubbot.web.forms})."""
        request.content.seek(0)
        body = request.content.read(MAX_LOGIN_BODY + 1)
        if len(body) > MAX_LOGIN_BODY:
            return b""
        try:
            return form_field(body, b"token") or b""
        except FormError:
            return b""


def too_many_attempts(request, wait: float, page: bool = False) -> bytes:
    """A 429 for a client whose tokens are not checked for C{wait} more seconds."""
    seconds = max(1, int(wait + 0.999))
    request.setResponseCode(429)
    request.setHeader(b"retry-after", b"%d" % (seconds,))
    message = "Too many wrong tokens: try again in %d seconds." % (seconds,)
    if page:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return login_page(message)
    request.setHeader(b"content-type", b"text/plain; charset=utf-8")
    return message.encode("ascii") + b"\n"


class ThrottledResource(Resource):
    """What a request with a bearer token gets while its client must wait."""

    isLeaf = True

    def __init__(self, wait: float):
        super().__init__()
        self.wait = wait

    def render(self, request) -> bytes:
        return too_many_attempts(request, self.wait)


class LogoutResource(Resource):
    """C{/logout}: forget the session cookie."""

    isLeaf = True

    def __init__(self, auth: TokenAuth):
        super().__init__()
        self.auth = auth

    def render_POST(self, request) -> bytes:
        self.auth.clear_cookie(request)
        request.setResponseCode(303)
        request.setHeader(b"location", b"login")
        return b""

    render_GET = render_POST


class UnauthorizedResource(Resource):
    """What an unauthorised request gets: the page redirects to the login form."""

    isLeaf = True

    def __init__(self, to_login: bool):
        super().__init__()
        self.to_login = to_login

    def render(self, request) -> bytes:
        if self.to_login:
            request.setResponseCode(303)
            request.setHeader(b"location", b"login")
            return b""
        request.setResponseCode(401)
        request.setHeader(b"www-authenticate", b'Bearer realm="pubbot"')
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        return b"a dashboard token is required (Authorization: Bearer, or log in at /login)\n"


# endpoint strings

def endpoint_interface(description: str) -> str | None:
    """
    The interface a C{tcp:} or C{ssl:} server endpoint string binds ("" is
    every interface); None for C{unix:} (a local socket file).
    """
    parts = split_endpoint(description)
    kind = parts[0].lower()
    if kind == "unix":
        return None
    positional = [p for p in parts[1:] if "=" not in p]
    keywords = dict(p.split("=", 1) for p in parts[1:] if "=" in p)
    if "interface" in keywords:
        return keywords["interface"]
    # positional order: tcp:port:interface:backlog / ssl:port:privateKey:certKey:sslmethod:interface
    index = {"tcp": 1, "ssl": 4}.get(kind)
    if index is not None and len(positional) > index:
        return positional[index]
    return ""


def is_loopback(description: str) -> bool:
    """True when the server endpoint is reachable only from this machine."""
    interface = endpoint_interface(description)
    if interface is None:
        return True
    if interface.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(interface).is_loopback
    except ValueError:
        return False  # "" (every interface) or a host name: assume reachable
