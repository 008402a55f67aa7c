"""The dashboard token: checked on every request, from a header or a cookie.

With C{[web] token} set, a request must carry either
C{Authorization: Bearer <token>} (scripts, Prometheus) or the session cookie
the login form at C{/login} sets (browsers). The cookie holds an HMAC of the
token, not the token. Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from html import escape
from typing import Optional

from twisted.web.resource import Resource

from ..endpoints import split_endpoint

COOKIE = b"pubbot_session"
#: Session cookie lifetime (seconds).
COOKIE_MAX_AGE = 30 * 24 * 3600


def _digest(value: bytes) -> bytes:
    return hashlib.sha256(value).digest()


class TokenAuth:
    """Decides whether a request is authorised; no token means everyone is."""

    def __init__(self, token: str):
        self.token = token.encode("utf-8")
        self.session = hmac.new(self.token, b"pubbot dashboard session v1", hashlib.sha256).hexdigest()

    @property
    def required(self) -> bool:
        return bool(self.token)

    def check_token(self, given: bytes) -> bool:
        # hashing first keeps the comparison from leaking the token's length
        return hmac.compare_digest(_digest(given), _digest(self.token))

    def authorized(self, request) -> bool:
        if not self.token:
            return True
        header = request.getHeader(b"authorization")
        if header:
            scheme, _, value = header.partition(b" ")
            if scheme.lower() == b"bearer" and self.check_token(value.strip()):
                return True
        cookie = request.getCookie(COOKIE)
        if cookie:
            return hmac.compare_digest(_digest(cookie), _digest(self.session.encode("ascii")))
        return False

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
        given = (request.args.get(b"token") or [b""])[0]
        if not self.auth.required or self.auth.check_token(given):
            if self.auth.required:
                self.auth.set_cookie(request)
            request.setResponseCode(303)
            request.setHeader(b"location", b"./")
            return b""
        request.setResponseCode(403)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        return login_page("That token is not right.")


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

def endpoint_interface(description: str) -> Optional[str]:
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
