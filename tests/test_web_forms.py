"""Form bodies in bounded work: the unescaping, one field, and a site that parses no forms itself."""

from urllib.parse import unquote_to_bytes

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import Resource

from pubbot.testing import Harness
from pubbot.web.forms import FormError, form_field, unquote_form
from pubbot.web.service import QuietSite

from .support.web import http, make_site

byte = st.binary(min_size=1, max_size=1)


class UnquoteTests(SynchronousTestCase):

    @given(st.lists(st.one_of(byte.filter(lambda b: b not in b"%&"),
                              byte.map(lambda b: b"%%%02X" % b[0]),
                              byte.map(lambda b: b"%%%02x" % b[0])), max_size=60))
    def test_same_as_urllib(self, pieces):
        data = b"".join(pieces)
        self.assertEqual(unquote_form(data), unquote_to_bytes(data.replace(b"+", b" ")))

    def test_backslashes_and_plus(self):
        self.assertEqual(unquote_form(b"a\\x41+%5C%2B\\"), b"a\\x41 \\+\\")

    def test_malformed_escapes(self):
        for data in [b"%", b"%4", b"%zz", b"ok%4g", b"%%41"]:
            with self.assertRaises(FormError, msg=data):
                unquote_form(data)


class FieldTests(SynchronousTestCase):

    def test_fields(self):
        self.assertEqual(form_field(b"a=1&token=s3cr%65t&token=2", b"token"), b"s3cret")
        self.assertEqual(form_field(b"to%6Ben=x+y", b"token"), b"x y")
        self.assertEqual(form_field(b"token=", b"token"), b"")
        self.assertIsNone(form_field(b"a=1", b"token"))
        for body in [b"token", b"token=1&", b"&token=1", b"token=%x", b"&".join([b"a=1"] * 11)]:
            with self.assertRaises(FormError, msg=body):
                form_field(body, b"token")


class Args(Resource):
    isLeaf = True

    def render_POST(self, request):
        return repr(sorted(request.args)).encode()


class SiteTests(SynchronousTestCase):

    def test_the_site_parses_no_form_bodies(self):
        site = QuietSite(Args())
        body = b"payload=" + b"%41" * 1000 + b"&b=2"
        code, _, answer = http(site, method=b"POST", path=b"/x?q=1", body=body,
                               headers=[b"Content-Type: application/x-www-form-urlencoded"])
        self.assertEqual((code, answer), (200, b"[b'q']"))  # the query only

    def test_login_form_through_the_site(self):
        h = Harness()
        plain, _ = make_site(h, token="tok")
        site = QuietSite(plain.resource, reactor=h.clock)

        def login(body):
            return http(site, method=b"POST", path=b"/login", body=body,
                        headers=[b"Content-Type: application/x-www-form-urlencoded"])[0]

        self.assertEqual(login(b"token=tok"), 303)
        self.assertEqual(login(b"token=%74ok"), 303)
        for body in [b"token=nope", b"token=%", b"token=tok&" + b"x" * 5000, b"tok"]:
            self.assertEqual(login(body), 403, body)
