"""The GitHub webhook resource: deliveries are handled once per delivery id within a window."""

import hashlib
import hmac
import json
from urllib.parse import quote_from_bytes

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from pubbot.vcs.github import DEDUP_WINDOW, GitHubHook, PayloadError, RecentIds, form_payload
from pubbot.web.service import QuietSite

from .support.linkserver import async_test
from .support.logs import capture_logs

SECRET = b"s3cret"


class RecentIdsTests(SynchronousTestCase):

    def test_window_and_size(self):
        recent = RecentIds(window=10, size=3)
        recent.add("a", 0)
        self.assertTrue(recent.seen("a", 9.9))
        self.assertFalse(recent.seen("a", 10))
        self.assertEqual(len(recent), 0)
        for i, key in enumerate("bcde"):
            recent.add(key, 20 + i)
        self.assertEqual(len(recent), 3)
        self.assertFalse(recent.seen("b", 24))  # the oldest went first
        self.assertTrue(recent.seen("e", 24))
        recent.add("c", 25)  # seen again: its time moves on
        self.assertTrue(recent.seen("c", 34))
        self.assertFalse(recent.seen("d", 34))


class DeliveryTests(TestCase):

    def setUp(self):
        self.clock = Clock()
        self.events = []
        self.hook = GitHubHook(SECRET, self.on_event, clock=self.clock)
        self.port = reactor.listenTCP(0, QuietSite(self.hook, reactor=reactor), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        pool = HTTPConnectionPool(reactor, persistent=False)
        self.client = HTTPClient(Agent(reactor, pool=pool))
        self.url = "http://127.0.0.1:%d/" % (self.port.getHost().port,)

    def on_event(self, event, payload, delivery):
        self.events.append((event, delivery))
        return "handled"

    async def post(self, delivery, body=b'{"zen": "x"}', event=b"push", signature=None,
                   content_type=b"application/json"):
        signature = signature or b"sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest().encode()
        response = await self.client.post(self.url, data=body, headers={
            b"content-type": [content_type], b"x-github-event": [event],
            b"x-github-delivery": [delivery], b"x-hub-signature-256": [signature]})
        return response.code, json.loads(await response.content())["message"]

    @async_test
    async def test_a_repeated_delivery_is_answered_but_not_handled_again(self):
        self.assertEqual(await self.post(b"11111111-aaaa"), (200, "handled"))
        self.assertEqual(await self.post(b"11111111-aaaa"),
                         (200, "duplicate delivery 11111111-aaaa: already handled"))
        self.assertEqual(await self.post(b"22222222-bbbb"), (200, "handled"))
        self.assertEqual(self.events, [("push", "11111111-aaaa"), ("push", "22222222-bbbb")])
        self.clock.advance(DEDUP_WINDOW)
        self.assertEqual(await self.post(b"11111111-aaaa"), (200, "handled"))
        self.assertEqual(len(self.events), 3)

    @async_test
    async def test_unverified_or_failed_deliveries_are_not_remembered(self):
        code, _ = await self.post(b"33333333-cccc", signature=b"sha256=" + b"0" * 64)
        self.assertEqual(code, 401)
        code, _ = await self.post(b"33333333-cccc", body=b"[1]")
        self.assertEqual(code, 400)
        self.assertEqual(await self.post(b"33333333-cccc"), (200, "handled"))

    @async_test
    async def test_deliveries_without_an_id_are_handled(self):
        self.assertEqual(await self.post(b"not an id!"), (200, "handled"))
        self.assertEqual(await self.post(b"not an id!"), (200, "handled"))
        self.assertEqual(len(self.events), 2)

    @async_test
    async def test_big_form_bodies(self):
        payload = json.dumps({"zen": "\u00e9" * 100000, "list": list(range(20000))}).encode()
        body = b"payload=" + quote_from_bytes(payload).encode()
        self.assertGreater(len(body), 500000)
        form = b"application/x-www-form-urlencoded"
        self.assertEqual(await self.post(b"55555555-eeee", body=body, content_type=form), (200, "handled"))
        bad = b"payload=" + b"%41" * 300000 + b"%"
        code, _ = await self.post(b"66666666-ffff", body=bad, content_type=form)
        self.assertEqual(code, 400)

    @async_test
    async def test_hostile_bodies_are_refused(self):
        for body in [b"[" * 500000, b'{"a":' * 200000, b"1" * 500000, b'"\\ud800"', b"\xff\xfe"]:
            code, _ = await self.post(b"44444444-dddd", body=body)
            self.assertEqual(code, 400, body[:20])
        self.assertEqual(self.events, [])


    @async_test
    async def test_refusals_are_logged_once_a_minute_per_code(self):
        # Anyone can post to the hook: a flood of unsigned deliveries writes
        # a line per status code a minute, with how many were not logged.
        # A signed delivery's refusal (GitHub's own) is logged every time.
        log = capture_logs(self)
        for _ in range(20):
            code, _ = await self.post(b"77777777-aaaa", signature=b"sha256=" + b"0" * 64)
            self.assertEqual(code, 401)
        for _ in range(3):
            self.assertEqual((await self.post(b"77777777-bbbb", event=b"bad event!"))[0], 400)
        refused = log.matching("github webhook from")
        self.assertEqual(len(refused), 4, refused)
        self.assertIn("refused with 401: bad signature", refused[0])
        self.assertTrue(all("refused with 400" in line for line in refused[1:]))
        self.clock.advance(60)
        await self.post(b"77777777-cccc", signature=b"sha256=" + b"1" * 64)
        self.assertIn("(19 more refused with 401 not logged)", log.matching("github webhook from")[-1])
        self.assertEqual(self.events, [])

class FormTests(SynchronousTestCase):

    def test_form_payload(self):
        self.assertEqual(form_payload(b"a=1&payload=%7B%22x%22%3A+1%7D&payload=2"), '{"x": 1}')
        self.assertEqual(form_payload(b"pay%6Coad=caf%C3%A9"), "caf\u00e9")
        for body, message in [
            (b"a=1", "form body without a payload field"),
            (b"payload", "malformed form body"),
            (b"payload=1&", "malformed form body"),
            (b"payload=%zz", "malformed percent escape in form body"),
            (b"payload=100%", "malformed percent escape in form body"),
            (b"payload=%FF", "form payload is not UTF-8"),
            (b"&".join([b"a=1"] * 11), "more than 10 form fields"),
        ]:
            with self.assertRaises(PayloadError) as e:
                form_payload(body)
            self.assertEqual(str(e.exception), message, body)
