"""The SSRF-safe fetcher: URL checks, address policy, and real fetches from a local server."""

import ipaddress

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import reactor, ssl
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import BrowserLikePolicyForHTTPS

from pubbot.links.fetch import (
    AddressPolicy,
    BadURL,
    FetchError,
    FetchRefused,
    ReactorResolver,
    SafeFetcher,
    clean_text,
    find_title,
    human_size,
    parse_url,
    refused_reason,
)

from .support.linkserver import (
    SNIRecorder,
    StaticResolver,
    WebServer,
    async_test,
    make_ca_and_cert,
)

MB = 1024 * 1024


class ParseURLTests(SynchronousTestCase):

    def test_normalises(self):
        cases = {
            "http://Example.COM": "http://example.com/",
            "https://example.com:443/a b?q=1 2": None,  # spaces are refused, see below
            "HTTPS://example.com:8443/x?y=z#frag": "https://example.com:8443/x?y=z",
            "http://b\u00fccher.de/caf\u00e9?s=\u00e9": "http://xn--bcher-kva.de/caf%C3%A9?s=%C3%A9",
            "http://[::1]:8080/": "http://[::1]:8080/",
            "http://127.0.0.1/x": "http://127.0.0.1/x",
            "http://example.com./": "http://example.com/",
            "http://under_score.example.com/": "http://under_score.example.com/",
            "http://example.com/%41%zz": "http://example.com/%41%zz",
        }
        for url, expected in cases.items():
            if expected is None:
                continue
            self.assertEqual(parse_url(url).url, expected, url)
        target = parse_url("http://[::1]:8080/")
        self.assertEqual((target.host, target.port, target.ip), ("::1", 8080, ipaddress.ip_address("::1")))
        self.assertEqual(parse_url("https://example.com").port, 443)

    def test_malformed(self):
        for url in [
            "", None, 42, "example.com", "ftp://example.com/", "javascript:alert(1)",
            "file:///etc/passwd", "gopher://127.0.0.1:25/", "http://", "http:///path",
            "http://[::1", "http://[example.com]/", "http://exa mple.com/", "http://a\x00b.com/",
            "http://example.com/\r\nHost: evil", "http://example.com:99999/", "http://example.com:0/",
            "http://example.com:-1/", "http://example.com:port/", "http://user:pw@example.com/",
            "http://user@example.com/", "http://" + "a" * 64 + ".com/", "http://" + "a." * 130 + "com/",
            "http://-bad-.com/", "http://exa$mple.com/", "http://\u2024\u2024/",
            "http://[fe80::1%25eth0]/", "https://example.com/" + "a" * 3000,
        ]:
            with self.assertRaises(BadURL, msg=repr(url)):
                parse_url(url)

    @given(st.text(max_size=200))
    def test_any_text(self, text):
        try:
            target = parse_url(text)
        except BadURL:
            return
        self.assertTrue(target.url.isascii())
        self.assertIn(target.scheme, ("http", "https"))
        self.assertFalse(any(c.isspace() or ord(c) < 32 for c in target.url))
        self.assertEqual(parse_url(target.url).url, target.url)

    @given(st.from_regex(r"https?://[a-z0-9.\-]{1,30}(:[0-9]{1,5})?(/[ -~]{0,40})?", fullmatch=True))
    def test_urlish_text(self, text):
        try:
            target = parse_url(text)
        except BadURL:
            return
        self.assertEqual(parse_url(target.url), target)


class AddressTests(SynchronousTestCase):

    def test_refused(self):
        for address in [
            "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
            "224.0.0.1", "239.255.255.250", "0.0.0.0", "240.0.0.1", "255.255.255.255",
            "100.64.0.1", "192.0.0.8", "198.18.0.1", "::1", "::", "fe80::1", "fc00::1", "fd12::1",
            "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1",
            "2002:a00:1::", "2001:db8::1", "::ffff:169.254.169.254",
        ]:
            self.assertIsNotNone(refused_reason(ipaddress.ip_address(address)), address)

    def test_allowed(self):
        for address in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001::200e"]:
            self.assertIsNone(refused_reason(ipaddress.ip_address(address)), address)

    def test_translated_addresses_are_refused(self):
        # Python counts ::/8 (mapped, NAT64) as reserved: even a public inner address is refused.
        for address in ["64:ff9b::808:808", "::ffff:8.8.8.8"]:
            self.assertIsNotNone(refused_reason(ipaddress.ip_address(address)), address)

    def test_reasons(self):
        self.assertEqual(refused_reason(ipaddress.ip_address("127.0.0.1")), "loopback")
        self.assertEqual(refused_reason(ipaddress.ip_address("::ffff:127.0.0.1")),
                         "loopback (inside an IPv6 address)")
        self.assertEqual(refused_reason(ipaddress.ip_address("10.1.1.1")), "private")
        self.assertEqual(refused_reason(ipaddress.ip_address("169.254.0.1")), "link-local")

    def test_policy(self):
        policy = AddressPolicy(["intranet.example", "*.lan.example", "10.1.0.0/16", "::1",
                                "B\u00dcCHER.example"])
        ip = ipaddress.ip_address
        policy.check("intranet.example", [ip("10.9.9.9")])
        policy.check("a.b.lan.example", [ip("127.0.0.1")])
        policy.check("xn--bcher-kva.example", [ip("127.0.0.1")])
        policy.check("other.example", [ip("10.1.2.3"), ip("93.184.216.34")])
        policy.check("::1", [ip("::1")])
        with self.assertRaises(FetchRefused) as e:
            policy.check("lan.example", [ip("127.0.0.1")])
        self.assertEqual(str(e.exception), "lan.example resolves to 127.0.0.1, a loopback address")
        with self.assertRaises(FetchRefused):
            policy.check("other.example", [ip("93.184.216.34"), ip("10.2.0.1")])
        with self.assertRaises(FetchRefused) as e:
            policy.check("127.0.0.1", [ip("127.0.0.1")])
        self.assertEqual(str(e.exception), "127.0.0.1 is a loopback address")

    def test_bad_policy_entries(self):
        for entry in ["not a host", "http://x", "10.0.0.0/33", "*.", ""]:
            with self.assertRaises(ValueError, msg=entry):
                AddressPolicy([entry])


class TextTests(SynchronousTestCase):

    def test_clean_text(self):
        self.assertEqual(clean_text("  a\r\nb\tc \x00d\x01 \x1b[31m  "), "a b c d [31m")
        self.assertEqual(clean_text("evil\u202eoverride\u200b zero"), "eviloverride zero")
        self.assertEqual(clean_text("x" * 300, 10), "x" * 9 + "\u2026")
        self.assertEqual(clean_text("line\u2028sep\u2029para\x85nel"), "line sep para nel")
        self.assertEqual(clean_text("caf\u00e9 \U0001F600"), "caf\u00e9 \U0001F600")

    @given(st.text(), st.integers(min_value=2, max_value=300))
    def test_clean_text_is_one_safe_line(self, text, limit):
        cleaned = clean_text(text, limit)
        self.assertLessEqual(len(cleaned), limit)
        self.assertFalse(any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for c in cleaned))
        self.assertNotIn("  ", cleaned)
        self.assertEqual(cleaned, cleaned.strip())
        self.assertFalse(any(c.isspace() and c != " " for c in cleaned))

    def test_find_title(self):
        self.assertEqual(find_title(b"<html><TITLE lang=en>Hi &amp; bye</TITLE>"), "Hi & bye")
        self.assertEqual(find_title(b"<title>caf\xe9</title>", "latin-1"), "caf\u00e9")
        self.assertEqual(find_title(b"<meta charset=windows-1252><title>caf\xe9</title>"), "caf\u00e9")
        self.assertEqual(find_title("<title>caf\u00e9</title>".encode("utf-16")), "caf\u00e9")
        self.assertEqual(find_title(b"<title>bad charset</title>", "no-such-codec"), "bad charset")
        self.assertEqual(find_title(b"<svg><title>icon</title></svg><title>Real</title>"), "Real")
        self.assertIsNone(find_title(b"<html><body>none</body>"))
        self.assertIsNone(find_title(b"<title>never closed"))
        self.assertEqual(find_title(b"<title></title>"), "")
        self.assertEqual(find_title(b"<title>\xff\xfe</title>"), "\ufffd\ufffd")

    @given(st.binary(max_size=300))
    def test_find_title_any_bytes(self, body):
        title = find_title(b"<title>" + body)
        self.assertTrue(title is None or isinstance(title, str))

    def test_human_size(self):
        self.assertEqual(human_size(0), "0 B")
        self.assertEqual(human_size(1023), "1023 B")
        self.assertEqual(human_size(1536), "1.5 KiB")
        self.assertEqual(human_size(12345), "12 KiB")
        self.assertEqual(human_size(50 * MB), "50 MiB")
        self.assertEqual(human_size(3 * 1024 ** 4), "3072 GiB")


class MemoryReactorTests(SynchronousTestCase):
    """Where connections go and how timeouts apply, on a fake reactor."""

    def test_connects_to_the_checked_address_with_timeouts(self):
        clock = MemoryReactorClock()
        resolver = StaticResolver({"example.test": ["93.184.216.34"]})
        fetcher = SafeFetcher(clock, resolver=resolver, timeout=7, connect_timeout=3)
        d = fetcher.fetch("http://example.test:8080/page")
        self.assertEqual(len(clock.tcpClients), 1)
        host, port, factory, timeout, bind = clock.tcpClients[0]
        self.assertEqual((host, port, timeout), ("93.184.216.34", 8080, 3))
        self.assertEqual(resolver.lookups, ["example.test"])
        failures = []
        d.addErrback(failures.append)
        clock.advance(6.9)
        self.assertEqual(failures, [])
        clock.advance(0.2)
        self.assertEqual(len(failures), 1)
        failures[0].trap(FetchError)
        self.assertEqual(str(failures[0].value), "timed out after 7s")

    def test_ipv6_address(self):
        clock = MemoryReactorClock()
        fetcher = SafeFetcher(clock, resolver=StaticResolver({"v6.test": ["2606:4700:4700::1111"]}))
        fetcher.fetch("https://v6.test/").addErrback(lambda f: None)
        self.assertEqual(clock.tcpClients[0][:2], ("2606:4700:4700::1111", 443))
        clock.advance(100)

    def test_refused_before_connecting(self):
        clock = MemoryReactorClock()
        resolver = StaticResolver({"intranet.test": ["10.1.2.3"], "weird.test": ["not-an-address"],
                                   "mixed.test": ["93.184.216.34", "127.0.0.1"], "empty.test": []})
        fetcher = SafeFetcher(clock, resolver=resolver)
        for url, error, message in [
            ("http://intranet.test/", FetchRefused, "intranet.test resolves to 10.1.2.3, a private address"),
            ("http://mixed.test/", FetchRefused, "mixed.test resolves to 127.0.0.1, a loopback address"),
            ("http://169.254.169.254/latest/meta-data/", FetchRefused,
             "169.254.169.254 is a link-local address"),
            ("http://[::ffff:7f00:1]/", FetchRefused, "::ffff:7f00:1 is a loopback (inside an IPv6 address)"
                                                      " address"),
            ("http://weird.test/", FetchRefused, "weird.test resolves to 'not-an-address', not an address"),
            ("http://empty.test/", FetchError, "empty.test has no addresses"),
            ("http://nowhere.test/", FetchError, None),
            ("ftp://example.com/", BadURL, "only http and https URLs are fetched"),
        ]:
            failure = self.failureResultOf(fetcher.fetch(url), error)
            if message is not None:
                self.assertEqual(str(failure.value), message)
        self.assertEqual(clock.tcpClients, [])


class FetchTests(TestCase):
    """Real fetches from a real local server."""

    def setUp(self):
        self.server = WebServer(reactor)
        self.addCleanup(self.server.stop)

    def fetcher(self, **kwargs):
        kwargs.setdefault("allow", ["127.0.0.1"])
        kwargs.setdefault("timeout", 10)
        return SafeFetcher(reactor, **kwargs)

    @async_test
    async def test_title(self):
        page = await self.fetcher().fetch(self.server.url("/title"))
        self.assertEqual(page.status, 200)
        self.assertEqual(page.content_type, "text/html")
        self.assertFalse(page.complete)  # stopped once the title was read
        self.assertEqual(clean_text(page.title),
                         "Hello & welcome PRIVMSG #x :evil \u00e9t\u00e9")
        page = await self.fetcher().fetch(self.server.url("/latin1"))
        self.assertEqual(page.title, "caf\u00e9")

    @async_test
    async def test_refused_without_the_allow_list(self):
        with self.assertRaises(FetchRefused) as e:
            await self.fetcher(allow=[]).fetch(self.server.url("/plain"))
        self.assertEqual(str(e.exception), "127.0.0.1 is a loopback address")
        page = await self.fetcher(allow=["127.0.0.0/8"]).fetch(self.server.url("/plain"))
        self.assertEqual(page.title, "Plain page")

    @async_test
    async def test_host_header_kept_while_connecting_to_the_checked_address(self):
        answers = iter([["127.0.0.1"], ["10.0.0.1"]])  # a second lookup would get a private address
        resolver = StaticResolver({"site.test": lambda: next(answers)})
        fetcher = self.fetcher(allow=["127.0.0.1"], resolver=resolver)
        page = await fetcher.fetch(self.server.url("/host", host="site.test"))
        self.assertEqual(page.title, "site.test:%d" % (self.server.number,))
        self.assertEqual(resolver.lookups, ["site.test"])

    @async_test
    async def test_headers(self):
        page = await self.fetcher().fetch(self.server.url("/encoding"))
        self.assertEqual(page.title, "identity")
        page = await self.fetcher().fetch(self.server.url("/agent"))
        self.assertTrue(page.title.startswith("pubbot/"))

    @async_test
    async def test_compressed_anyway_is_not_read(self):
        page = await self.fetcher().fetch(self.server.url("/gzip"))
        self.assertEqual((page.encoding, page.title, page.body), ("gzip", None, b""))
        self.assertEqual(page.content_type, "text/html")

    @async_test
    async def test_other_content(self):
        page = await self.fetcher().fetch(self.server.url("/binary"))
        self.assertEqual((page.content_type, page.length, page.body, page.title),
                         ("application/octet-stream", 12345, b"", None))
        page = await self.fetcher().fetch(self.server.url("/notitle"))
        self.assertIsNone(page.title)
        self.assertTrue(page.complete)
        page = await self.fetcher().fetch(self.server.url("/missing"))
        self.assertEqual((page.status, page.title), (404, None))

    @async_test
    async def test_stops_reading_at_the_limit(self):
        huge = self.server.root.children[b"huge"]
        page = await self.fetcher().fetch(self.server.url("/huge"))
        self.assertEqual(len(page.body), MB)
        self.assertFalse(page.complete)
        self.assertEqual(page.length, 50 * MB)
        self.assertIsNone(page.title)
        await self.server.site.close_all()
        self.assertLess(huge.sent, 25 * MB)

    @async_test
    async def test_stops_reading_after_the_title(self):
        page = await self.fetcher().fetch(self.server.url("/hugetitle"))
        self.assertEqual(page.title, "Early title")
        self.assertLess(len(page.body), MB)
        page = await self.fetcher(max_bytes=1000).fetch(self.server.url("/lateitle"))
        self.assertEqual(len(page.body), 1000)
        self.assertIsNone(page.title)

    @async_test
    async def test_redirects(self):
        target = self.server.url("/plain")
        page = await self.fetcher().fetch(self.server.url("/redirect?chain=4&to=" + target))
        self.assertEqual((page.title, page.redirects, page.url), ("Plain page", 5, target))
        with self.assertRaises(FetchError) as e:
            await self.fetcher().fetch(self.server.url("/redirect?chain=5&to=" + target))
        self.assertEqual(str(e.exception), "more than 5 redirects")
        page = await self.fetcher(max_redirects=0).fetch(self.server.url("/plain"))
        self.assertEqual(page.redirects, 0)

    @async_test
    async def test_redirect_to_loopback_is_refused(self):
        resolver = StaticResolver({"allowed.test": ["127.0.0.1"]}, fallback=ReactorResolver(reactor))
        fetcher = self.fetcher(allow=["allowed.test"], resolver=resolver)
        start = self.server.url("/redirect?to=%s", host="allowed.test")
        page = await fetcher.fetch(start % self.server.url("/plain", host="allowed.test"))
        self.assertEqual(page.title, "Plain page")
        for target, message in [
            (self.server.url("/plain"), "127.0.0.1 is a loopback address"),
            (self.server.url("/plain", host="localhost"), "localhost resolves to"),
            (self.server.url("/plain", host="[::ffff:127.0.0.1]"), "::ffff:7f00:1 is a loopback"),
            ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ]:
            with self.assertRaises(FetchRefused) as e:
                await fetcher.fetch(start % target)
            self.assertIn(message, str(e.exception))
        with self.assertRaises(BadURL):
            await fetcher.fetch(start % "file:///etc/passwd")

    @async_test
    async def test_name_resolving_to_a_private_address(self):
        resolver = StaticResolver({"internal.test": ["192.168.1.10"], "sneaky.test": ["127.0.0.1"]})
        fetcher = self.fetcher(allow=[], resolver=resolver)
        for host in ("internal.test", "sneaky.test"):
            with self.assertRaises(FetchRefused):
                await fetcher.fetch(self.server.url("/plain", host=host))
        self.assertEqual(self.server.site.connections, {})

    @async_test
    async def test_total_timeout(self):
        with self.assertRaises(FetchError) as e:
            await self.fetcher(timeout=0.3).fetch(self.server.url("/hang"))
        self.assertEqual(str(e.exception), "timed out after 0.3s")
        with self.assertRaises(FetchError) as e:
            await self.fetcher(timeout=0.3).fetch(self.server.url("/stall"))
        self.assertEqual(str(e.exception), "timed out after 0.3s")
        await self.server.site.close_all()

    @async_test
    async def test_connection_refused(self):
        port = self.server.number
        await self.server.stop()
        with self.assertRaises(FetchError) as e:
            await self.fetcher().fetch("http://127.0.0.1:%d/" % (port,))
        self.assertIn("cannot fetch", str(e.exception))


class TLSTests(TestCase):
    """https: the name (not the pinned address) is used for SNI and certificate checks."""

    def setUp(self):
        ca_pem, cert_pem = make_ca_and_cert("secure.test")
        self.tls = SNIRecorder(cert_pem)
        self.server = WebServer(reactor, tls=self.tls)
        self.addCleanup(self.server.stop)
        self.policy = BrowserLikePolicyForHTTPS(trustRoot=ssl.Certificate.loadPEM(ca_pem))
        self.resolver = StaticResolver({"secure.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})

    def fetcher(self, **kwargs):
        return SafeFetcher(reactor, allow=["127.0.0.1"], resolver=self.resolver, tls_policy=self.policy,
                           **kwargs)

    @async_test
    async def test_name_kept_for_tls(self):
        page = await self.fetcher().fetch(self.server.url("/host", host="secure.test", scheme="https"))
        self.assertEqual(page.title, "secure.test:%d" % (self.server.number,))
        self.assertEqual(self.tls.names, [b"secure.test"])

    @async_test
    async def test_certificate_is_verified(self):
        with self.assertRaises(FetchError) as e:
            await self.fetcher().fetch(self.server.url("/host", host="other.test", scheme="https"))
        self.assertIn("cannot fetch", str(e.exception))
        with self.assertRaises(FetchError):
            await SafeFetcher(reactor, allow=["127.0.0.1"], resolver=self.resolver).fetch(
                self.server.url("/host", host="secure.test", scheme="https"))
