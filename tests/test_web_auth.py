"""The dashboard token: header, login cookie, refusals, webhook exemption, bind checks."""

import sys
from io import StringIO

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import formatEvent
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from pubbot import tap
from pubbot.config.settings import parse
from pubbot.testing import Harness
from pubbot.web.auth import (
    COOKIE,
    LOGIN_ATTEMPTS,
    LOGIN_WINDOW,
    TokenAuth,
    client_key,
    endpoint_interface,
    is_loopback,
)
from pubbot.web.service import WebService, check_web_settings

from .support.logs import capture_logs
from .support.web import http, make_site

TOKEN = "s3cret-token"


class Hook(Resource):
    isLeaf = True

    def render_POST(self, request):
        return b"hook ok"

    render_GET = render_POST


class TokenTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness()
        self.h.bot.web_resources["hooks/github"] = Hook()
        self.site, _ = make_site(self.h, token=TOKEN)

    def test_missing_token_refused_everywhere(self):
        for path in (b"/status", b"/events", b"/metrics", b"/logout", b"/nothing"):
            code, headers, body = http(self.site, path=path)
            self.assertEqual(code, 401, path)
            self.assertEqual(headers[b"www-authenticate"], [b'Bearer realm="pubbot"'])
            self.assertNotIn(b"pubbot_", body)

    def test_page_without_token_redirects_to_login(self):
        code, headers, _ = http(self.site, path=b"/")
        self.assertEqual(code, 303)
        self.assertEqual(headers[b"location"], [b"login"])
        code, headers, body = http(self.site, path=b"/login")
        self.assertEqual(code, 200)
        self.assertIn(b'name="token"', body)

    def test_wrong_token_refused(self):
        for value in (b"Bearer wrong", b"Bearer " + TOKEN.encode() + b"x", b"Bearer",
                      b"Basic " + TOKEN.encode(), b"Bearer " + TOKEN[:-1].encode(), b"Bearer \xff\xfe"):
            code, _, _ = http(self.site, path=b"/status", headers=[b"Authorization: " + value])
            # 400: the channel refuses a non-ASCII header; 429: the sixth wrong token is not checked
            self.assertIn(code, (400, 401, 429), value)
        code, _, _ = http(self.site, path=b"/status", headers=[b"Cookie: " + COOKIE + b"=" + TOKEN.encode()])
        self.assertEqual(code, 401)  # the cookie holds a session value, not the token

    def test_header_token_accepted(self):
        code, _, body = http(self.site, path=b"/status", headers=[b"Authorization: Bearer " + TOKEN.encode()])
        self.assertEqual(code, 200)
        self.assertIn(b'"auth": true', body)
        code, _, _ = http(self.site, path=b"/metrics", headers=[b"authorization: bearer " + TOKEN.encode()])
        self.assertEqual(code, 200)

    def test_login_form_sets_a_cookie_that_works(self):
        code, _, body = http(self.site, method=b"POST", path=b"/login", body=b"token=nope",
                             headers=[b"Content-Type: application/x-www-form-urlencoded"])
        self.assertEqual(code, 403)
        self.assertIn(b"not right", body)
        code, headers, _ = http(self.site, method=b"POST", path=b"/login", body=b"token=" + TOKEN.encode(),
                                headers=[b"Content-Type: application/x-www-form-urlencoded"])
        self.assertEqual(code, 303)
        cookie = headers[b"set-cookie"][0]
        self.assertIn(b"HttpOnly", cookie)
        self.assertIn(b"SameSite=strict", cookie)
        self.assertNotIn(TOKEN.encode(), cookie)
        pair = cookie.split(b";", 1)[0]
        code, _, _ = http(self.site, path=b"/status", headers=[b"Cookie: " + pair])
        self.assertEqual(code, 200)
        code, _, body = http(self.site, path=b"/", headers=[b"Cookie: " + pair])
        self.assertEqual(code, 200)
        self.assertIn(b"static/app.js", body)
        code, _, _ = http(self.site, path=b"/status", headers=[b"Cookie: " + pair[:-1] + b"0"])
        self.assertEqual(code, 401)

    def test_logout_clears_the_cookie(self):
        code, headers, _ = http(self.site, method=b"POST", path=b"/logout",
                                headers=[b"Authorization: Bearer " + TOKEN.encode()])
        self.assertEqual(code, 303)
        self.assertIn(b"Max-Age=0", headers[b"set-cookie"][0])

    def test_webhook_paths_are_exempt(self):
        code, _, body = http(self.site, method=b"POST", path=b"/hooks/github")
        self.assertEqual((code, body), (200, b"hook ok"))
        code, _, _ = http(self.site, path=b"/hooks/other")
        self.assertEqual(code, 404)

    def test_security_headers_on_dashboard(self):
        _, headers, _ = http(self.site, path=b"/status", headers=[b"Authorization: Bearer " + TOKEN.encode()])
        self.assertIn(b"default-src 'self'", headers[b"content-security-policy"][0])
        self.assertEqual(headers[b"x-frame-options"], [b"DENY"])

    def test_no_token_means_open(self):
        site, _ = make_site(Harness())
        self.assertEqual(http(site, path=b"/status")[0], 200)
        code, headers, _ = http(site, path=b"/login")
        self.assertEqual(code, 302)


class MountTests(SynchronousTestCase):
    def test_clashing_plugin_paths_are_refused(self):
        h = Harness()
        h.bot.web_resources.update({"status/x": Hook(), "login": Hook(), "/hooks/a/": Hook(), "": Hook()})
        site, _ = make_site(h, token=TOKEN)
        root = site.resource
        self.assertEqual(root.open, {b"login", b"favicon.ico", b"static", b"hooks"})
        self.assertEqual(root.plugins, {b"hooks"})
        self.assertEqual(http(site, path=b"/status/x")[0], 401)
        self.assertEqual(http(site, path=b"/hooks/a")[0], 200)
        self.assertEqual(len(self.flushLoggedErrors()), 0)


class BindTests(SynchronousTestCase):
    def test_interface_parsing(self):
        cases = {
            "tcp:8080:interface=127.0.0.1": "127.0.0.1",
            "tcp:8080": "",
            "tcp:port=8080:interface=\\:\\:1": "::1",
            "tcp:8080:0.0.0.0": "0.0.0.0",
            "ssl:8443:privateKey=k.pem:interface=10.1.2.3": "10.1.2.3",
            "unix:/run/pubbot.sock": None,
        }
        for description, interface in cases.items():
            self.assertEqual(endpoint_interface(description), interface, description)

    def test_loopback(self):
        for ok in ("tcp:8080:interface=127.0.0.1", "tcp:8080:interface=127.9.9.9",
                   "tcp:8080:interface=localhost", "tcp:8080:interface=\\:\\:1", "unix:/tmp/s"):
            self.assertTrue(is_loopback(ok), ok)
        for bad in ("tcp:8080", "tcp:8080:interface=0.0.0.0", "tcp:8080:interface=\\:\\:",
                    "tcp:8080:interface=192.168.1.5", "tcp:8080:interface=example.org"):
            self.assertFalse(is_loopback(bad), bad)

    @given(st.text(max_size=80))
    def test_endpoint_parsing_never_raises(self, text):
        is_loopback("tcp:" + text)

    def test_non_loopback_without_token_refused(self):
        settings = parse({"web": {"endpoint": "tcp:8080:interface=0.0.0.0"}})
        problem = check_web_settings(settings)
        self.assertIn("[web] token", problem)
        self.assertNotIn("\n", problem)
        h = Harness(settings=settings)
        self.assertRaises(ValueError, WebService, h.bot, MemoryReactorClock())
        self.assertIsNone(check_web_settings(parse({"web": {"endpoint": "tcp:8080:interface=0.0.0.0",
                                                            "token": "t"}})))
        self.assertIsNone(check_web_settings(parse({})))

    def test_twistd_options_exit_before_starting(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[web]\nendpoint = "tcp:0"\n')
        err = StringIO()
        self.patch(sys, "stderr", err)
        options = tap.Options()
        with self.assertRaises(SystemExit) as e:
            options.parseOptions(["--config", path])
        self.assertEqual(e.exception.code, 1)
        self.assertIn("[web] endpoint tcp:0 listens beyond this machine: set [web] token", err.getvalue())
        self.assertEqual(err.getvalue().count("\n"), 1)


class TokenAuthTests(SynchronousTestCase):
    def test_check_token(self):
        auth = TokenAuth("abc")
        self.assertTrue(auth.check_token(b"abc"))
        self.assertFalse(auth.check_token(b"abd"))
        self.assertFalse(auth.check_token(b""))
        self.assertFalse(TokenAuth("").required)


class FakeRequest:
    def __init__(self, address):
        self.address = address

    def getClientAddress(self):
        return self.address


class ThrottleTests(SynchronousTestCase):
    """Wrong tokens are throttled per address, with bounded logging."""

    def setUp(self):
        self.h = Harness()
        self.site, _ = make_site(self.h, token=TOKEN)
        self.events = capture_logs(self)

    def login(self, token):
        return http(self.site, method=b"POST", path=b"/login", body=b"token=" + token,
                    headers=[b"Content-Type: application/x-www-form-urlencoded"])

    def bearer(self, token):
        return http(self.site, path=b"/status", headers=[b"Authorization: Bearer " + token])

    def logged(self):
        return [formatEvent(e) for e in self.events if "wrong dashboard token" in formatEvent(e)]

    def test_login_form_throttled_after_five_wrong_tokens(self):
        for i in range(LOGIN_ATTEMPTS):
            self.assertEqual(self.login(b"guess%d" % (i,))[0], 403)
        code, headers, body = self.login(TOKEN.encode())  # even the right one is not checked now
        self.assertEqual(code, 429)
        self.assertEqual(headers[b"retry-after"], [b"%d" % (LOGIN_WINDOW,)])
        self.assertIn(b"Too many wrong tokens", body)
        self.assertNotIn(b"set-cookie", headers)
        self.assertEqual(self.bearer(TOKEN.encode())[0], 429)  # the header is throttled too
        self.h.clock.advance(LOGIN_WINDOW)
        self.assertEqual(self.login(TOKEN.encode())[0], 303)

    def test_bearer_tokens_count_too(self):
        for i in range(LOGIN_ATTEMPTS):
            self.assertEqual(self.bearer(b"guess%d" % (i,))[0], 401)
        code, headers, _ = self.bearer(TOKEN.encode())
        self.assertEqual(code, 429)
        self.assertEqual(self.login(TOKEN.encode())[0], 429)

    def test_session_cookie_still_works_while_throttled(self):
        _, headers, _ = self.login(TOKEN.encode())
        cookie = headers[b"set-cookie"][0].split(b";", 1)[0]
        for i in range(LOGIN_ATTEMPTS + 3):
            self.login(b"guess%d" % (i,))
        self.assertEqual(self.login(TOKEN.encode())[0], 429)
        code, _, _ = http(self.site, path=b"/status", headers=[b"Cookie: " + cookie])
        self.assertEqual(code, 200)
        # a wrong (stale) cookie is refused but not counted
        self.h.clock.advance(LOGIN_WINDOW)
        for _ in range(LOGIN_ATTEMPTS + 3):
            code, _, _ = http(self.site, path=b"/status", headers=[b"Cookie: " + COOKIE + b"=stale"])
            self.assertEqual(code, 401)
        self.assertEqual(self.login(TOKEN.encode())[0], 303)

    def test_logging_is_bounded(self):
        for i in range(50):
            self.login(b"guess%d" % (i,))
        self.assertEqual(len(self.logged()), 1)
        self.h.clock.advance(61)
        self.h.clock.advance(LOGIN_WINDOW)
        self.login(b"again")
        lines = self.logged()
        self.assertEqual(len(lines), 2)
        self.assertIn("(4 more not logged)", lines[1])  # 50 tries: 5 wrong, 45 throttled unchecked
        self.assertNotIn("guess", "".join(lines))

    def test_client_keys(self):
        self.assertEqual(client_key(FakeRequest(IPv4Address("TCP", "192.0.2.7", 1))), "192.0.2.7")
        self.assertEqual(client_key(FakeRequest(IPv6Address("TCP", "2001:db8:1:2:3:4:5:6", 1))),
                         "2001:db8:1:2::/64")
        self.assertEqual(client_key(FakeRequest(IPv6Address("TCP", "::ffff:192.0.2.7", 1))), "192.0.2.7")
        self.assertEqual(client_key(FakeRequest(None)), "local")

    def test_no_clock_no_throttle(self):
        auth = TokenAuth(TOKEN)
        self.assertIsNone(auth.throttle)
