"""The vcs plugin and its GitHub webhook, through real HTTP requests to a local twisted.web site."""

import hashlib
import hmac
import io
import json
import os
from urllib.parse import urlencode

from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import UNKNOWN_LENGTH, Agent, FileBodyProducer, HTTPConnectionPool
from twisted.web.resource import Resource
from zope.interface.verify import verifyObject

from pubbot.api import IHandler, handler
from pubbot.plugins import vcs as vcs_module
from pubbot.plugins.vcs import Commit, Push, Vcs, announcements, format_commit, parse_push
from pubbot.testing import Harness
from pubbot.vcs.github import MAX_BODY, PayloadError

from .support.linkserver import WebServer, async_test
from .support.logs import capture_logs

SECRET = "It's a Secret to Everybody"


def commit(sha, message, author="Alice", distinct=True):
    return {"id": sha, "message": message, "author": {"name": author, "email": "a@example.org",
                                                      "username": author.lower()},
            "url": "https://github.com/o/r/commit/" + sha, "distinct": distinct}


def sha(i):
    return hashlib.sha1(b"%d" % i).hexdigest()


def push_payload(n=2, **kwargs):
    payload = {
        "ref": "refs/heads/main",
        "repository": {"full_name": "pubbothq/pubbot", "name": "pubbot"},
        "commits": [commit(sha(i), "Fix bug %d\n\nLonger explanation" % i) for i in range(n)],
    }
    payload.update(kwargs)
    return payload


def pr_payload(action, merged=False, title="Faster parsing", repository="pubbothq/pubbot"):
    return {"action": action, "repository": {"full_name": repository}, "sender": {"login": "alice"},
            "pull_request": {"number": 7, "title": title, "merged": merged,
                             "html_url": "https://github.com/%s/pull/7" % (repository,)}}


def run_payload(conclusion, workflow=11, branch="main"):
    return {"action": "completed", "repository": {"full_name": "pubbothq/pubbot"}, "sender": {"login": "ci"},
            "workflow_run": {"workflow_id": workflow, "name": "tests", "head_branch": branch,
                             "head_sha": "abcdef0123456789", "conclusion": conclusion,
                             "html_url": "https://github.com/pubbothq/pubbot/actions/runs/1"}}


class EventTests(SynchronousTestCase):
    """Events beyond push, through the plugin: what is announced where, and what is not."""

    def setUp(self):
        self.plugin = Vcs()
        config = {"secret": SECRET, "announce": ["#dev"],
                  "routes": ["pubbothq/site #web", "other/* #ops #dev"]}
        self.h = Harness(self.plugin, config={"vcs": config})

    def said(self):
        lines = [(target, text) for target, text, _ in self.h.sent]
        del self.h.sent[:]
        return lines

    def test_pull_requests(self):
        self.plugin.on_event("pull_request", pr_payload("closed", merged=True), "1")
        self.plugin.on_event("pull_request", pr_payload("closed"), "2")
        self.plugin.on_event("pull_request", pr_payload("synchronize"), "3")
        self.assertEqual([text.split("\x0f ", 1)[1].split(":")[0] for _, text in self.said()],
                         ["merged pull request #7", "closed pull request #7"])

    def test_issues_and_releases(self):
        repository = {"full_name": "pubbothq/pubbot"}
        self.plugin.on_event("issues", {"action": "opened", "repository": repository,
                                        "issue": {"number": 3, "title": "It broke", "html_url": "u"}}, "1")
        self.plugin.on_event("release", {"action": "published", "repository": repository,
                                         "release": {"tag_name": "v1.0", "name": "One", "prerelease": True,
                                                     "html_url": "r"}}, "2")
        self.plugin.on_event("release", {"action": "created", "repository": repository,
                                         "release": {"tag_name": "v1.1"}}, "3")
        self.assertEqual([text.split("\x0f ", 1)[1] for _, text in self.said()],
                         ["opened issue #3: It broke u", "released v1.0 (pre-release): One r"])

    def test_routes_by_repository(self):
        self.plugin.on_event("pull_request", pr_payload("opened", repository="pubbothq/site"), "1")
        self.plugin.on_event("pull_request", pr_payload("opened", repository="Other/thing"), "2")
        self.plugin.on_event("pull_request", pr_payload("opened", repository="pubbothq/pubbot"), "3")
        self.assertEqual([target for target, _ in self.said()], ["#web", "#ops", "#dev", "#dev"])

    def test_workflows_failed_and_fixed_remembered_in_the_store(self):
        for conclusion in ("success", "failure", "failure", "success", "success", "cancelled", "timed_out"):
            self.plugin.on_event("workflow_run", run_payload(conclusion), conclusion)
        verdicts = [text.split("\x0f ", 1)[1].split(" (")[0] for _, text in self.said()]
        self.assertEqual(verdicts, ["workflow tests failure on main", "workflow tests failure on main",
                                    "workflow tests fixed on main", "workflow tests timed out on main"])
        # another branch is its own history
        self.plugin.on_event("workflow_run", run_payload("success", branch="dev"), "x")
        self.assertEqual(self.said(), [])

    def test_hostile_text_is_one_bounded_line(self):
        hostile = "evil\r\nQUIT :bye\x03" + "x" * 5000
        self.plugin.on_event("pull_request", pr_payload("opened", title=hostile), "1")
        ((_, text),) = self.said()
        self.assertNotIn("\r", text)
        self.assertNotIn("\n", text)
        self.assertLess(len(text), 700)

    def test_published_on_the_bus(self):
        seen = []
        h = Harness(Vcs(), handler(subscribe=["vcs.*"])(lambda msg: seen.append((msg.topic, msg.fields))),
                    config={"vcs": {"secret": SECRET}})
        h.bot.handlers[0].on_event("issues", {"action": "closed", "repository": {"full_name": "a/b"},
                                              "issue": {"number": 1, "title": "t"}}, "1")
        self.assertEqual(seen[0][0], "vcs.issues")
        self.assertEqual((seen[0][1]["repository"], seen[0][1]["action"]), ("a/b", "closed"))

    def test_config_checks_routes_and_events(self):
        from pubbot.config.settings import ConfigError
        from pubbot.testing import make_settings

        def parse(config):
            return make_settings(config, vcs_module)
        with self.assertRaises(ConfigError) as e:
            parse({"vcs": {"routes": ["octo/*"]}})
        self.assertIn("[vcs] routes wants a repository and channels", str(e.exception))
        with self.assertRaises(ConfigError) as e:
            parse({"vcs": {"events": ["push", "stars"]}})
        self.assertIn("[vcs] events has unknown events 'stars'", str(e.exception))


def sign(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class FormatTests(SynchronousTestCase):

    def test_format_as_the_original(self):
        line = format_commit("pubbothq/pubbot", Commit("abcdef1234", "Fix it\nmore", "Alice", "", True))
        self.assertEqual(line, "\x0303Alice \x0302pubbothq/pubbot \x0310abcdef\x0f: Fix it")

    def test_long_and_hostile(self):
        line = format_commit("o/r", Commit("ab" * 20, "x" * 500, "Bob", "", True))
        self.assertEqual(len(line), 240)
        self.assertTrue(line.endswith("x ..."))
        line = format_commit("o/r\r\n", Commit("ab" * 20, "one\rPRIVMSG #x :hi\x03" + "4\x02bold",
                                                "Eve\nQUIT", "", True))
        self.assertNotIn("\r", line)
        self.assertNotIn("\n", line)
        self.assertEqual(line, "\x0303Eve QUIT \x0302o/r \x0310ababab\x0f: one PRIVMSG #x :hi 4 bold")

    def test_parse_push(self):
        push = parse_push(push_payload(3))
        self.assertEqual((push.repository, push.branch, len(push.commits)), ("pubbothq/pubbot", "main", 3))
        self.assertEqual(push.commits[0].revision, sha(0))
        push = parse_push({"repository": {"name": "r", "owner": {"name": "o"}}, "ref": "refs/tags/v1"})
        self.assertEqual((push.repository, push.branch, push.commits), ("o/r", "refs/tags/v1", ()))

    def test_announces_four_distinct_commits(self):
        payload = push_payload(6)
        payload["commits"][1]["distinct"] = False
        lines = announcements(parse_push(payload))
        self.assertEqual(len(lines), 4)
        self.assertEqual([line[-5:] for line in lines], ["bug 0", "bug 2", "bug 3", "bug 4"])
        self.assertEqual(announcements(Push("o/r", "main", ())), [])

    def test_malformed(self):
        for payload in [
            {}, {"repository": "x"}, {"repository": {}}, {"repository": {"full_name": 5}},
            push_payload(ref=5), push_payload(commits={}), push_payload(commits=[5]),
            push_payload(commits=[{"id": "zz", "message": "m", "author": {"name": "a"}}]),
            push_payload(commits=[{"id": "ab12", "message": None, "author": {"name": "a"}}]),
            push_payload(commits=[{"id": "ab12", "message": "m", "author": "a"}]),
            push_payload(commits=[{"id": "ab12", "message": "m", "author": {"email": "a"}}]),
            push_payload(commits=[{"message": "m", "author": {"name": "a"}}]),
        ]:
            with self.assertRaises(PayloadError, msg=repr(payload)):
                parse_push(payload)


class WebhookTests(TestCase):
    """POSTs to /hooks/github on a real site serving the resource the plugin registered."""

    def setUp(self):
        self.commits = []
        self.logs = capture_logs(self)
        self.client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))

    def start(self, **vcs):
        vcs.setdefault("announce", ["#dev", "#ops"])
        plugin = Vcs()
        recorder = handler(subscribe=["vcs.commit"])(lambda msg: self.commits.append(msg.fields))
        self.bot = Harness(plugin, recorder, config={"vcs": vcs})
        root = Resource()
        hooks = Resource()
        root.putChild(b"hooks", hooks)
        hooks.putChild(b"github", self.bot.bot.web_resources["hooks/github"])
        self.server = WebServer(reactor, root=root)
        self.addCleanup(self.server.stop)
        return plugin

    async def post(self, body, event="push", signature=None, content_type="application/json", headers=None):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode("utf-8")
        sent = {"X-GitHub-Event": [event], "X-GitHub-Delivery": ["72d3162e-cc78-11e3-81ab-4c9367dc0958"],
                "Content-Type": [content_type]}
        if signature is not False:
            sent["X-Hub-Signature-256"] = [signature or sign(body)]
        sent.update(headers or {})
        response = await self.client.post(self.server.url("/hooks/github"), data=body, headers=sent)
        content = await response.content()
        return response.code, json.loads(content) if content.startswith(b"{") else content

    def test_interfaces(self):
        self.assertTrue(verifyObject(IHandler, vcs_module.vcs))
        self.assertTrue(verifyObject(IPlugin, vcs_module.vcs))

    @async_test
    async def test_ping(self):
        self.start(secret=SECRET)
        code, answer = await self.post({"zen": "Keep it simple.", "hook_id": 1}, event="ping")
        self.assertEqual((code, answer["message"]), (200, "pong"))
        self.assertEqual(self.bot.sent, [])

    @async_test
    async def test_push_is_announced_and_published(self):
        self.start(secret=SECRET)
        code, answer = await self.post(push_payload(5))
        self.assertEqual((code, answer), (200, {"ok": True, "message": "announced 4 of 5 commits"}))
        lines = ["\x0303Alice \x0302pubbothq/pubbot \x0310%s\x0f: Fix bug %d" % (sha(i)[:6], i)
                 for i in range(4)]
        text = "\n".join(lines)
        self.assertEqual(self.bot.sent, [("#dev", text, "say"), ("#ops", text, "say")])
        self.assertEqual(len(self.commits), 5)
        self.assertEqual(self.commits[0], {
            "revision": sha(0), "message": "Fix bug 0\n\nLonger explanation",
            "committer": "Alice", "repository": "pubbothq/pubbot", "branch": "main",
            "url": "https://github.com/o/r/commit/" + sha(0)})

    @async_test
    async def test_form_encoded(self):
        self.start(secret=SECRET)
        body = urlencode({"payload": json.dumps(push_payload(1))}).encode("ascii")
        code, answer = await self.post(body, content_type="application/x-www-form-urlencoded")
        self.assertEqual(code, 200)
        self.assertEqual(len(self.bot.sent), 2)

    @async_test
    async def test_secret_from_the_environment(self):
        os.environ["PUBBOT_TEST_VCS_SECRET"] = "from the env"
        self.addCleanup(os.environ.pop, "PUBBOT_TEST_VCS_SECRET")
        self.start(secret_env="PUBBOT_TEST_VCS_SECRET")
        body = json.dumps(push_payload(1)).encode("utf-8")
        code, _ = await self.post(body, signature=sign(body, SECRET))
        self.assertEqual(code, 401)
        code, _ = await self.post(body, signature=sign(body, "from the env"))
        self.assertEqual(code, 200)

    @async_test
    async def test_bad_signatures(self):
        self.start(secret=SECRET)
        body = json.dumps(push_payload(1)).encode("utf-8")
        for signature, why in [
            (sign(body, "wrong secret"), "bad signature"),
            (sign(body + b" "), "bad signature"),
            ("sha1=" + hmac.new(SECRET.encode(), body, hashlib.sha1).hexdigest(), "bad signature"),
            ("sha256=", "bad signature"),
            (sign(body).upper(), "bad signature"),
            (False, "missing X-Hub-Signature-256"),
        ]:
            code, answer = await self.post(body, signature=signature)
            self.assertEqual((code, answer["message"], answer["ok"]), (401, why, False))
        # Each is answered with its reason; the log says it once a minute (anyone can post).
        self.assertEqual(len(self.logs.matching("refused with 401: bad signature")), 1)
        self.assertEqual(self.bot.sent, [])
        self.assertEqual(self.commits, [])
        self.assertEqual(self.logs.matching(SECRET), [])

    def test_no_route_and_no_warning_when_webhooks_are_not_set_up(self):
        h = Harness(Vcs())
        self.assertNotIn("hooks/github", h.bot.web_resources)
        self.assertEqual(self.logs.matching("vcs"), [])

    @async_test
    async def test_refused_without_a_secret(self):
        os.environ["PUBBOT_TEST_VCS_UNSET"] = ""
        self.addCleanup(os.environ.pop, "PUBBOT_TEST_VCS_UNSET")
        self.start(secret_env="PUBBOT_TEST_VCS_UNSET")
        self.assertTrue(self.logs.matching("PUBBOT_TEST_VCS_UNSET, which is unset or empty"))
        body = json.dumps(push_payload(1)).encode("utf-8")
        code, answer = await self.post(body, signature=sign(body, ""))
        self.assertEqual((code, answer["message"]), (403, "no webhook secret is configured"))
        self.assertTrue(self.logs.matching("refused with 403"))
        self.assertEqual(self.bot.sent, [])

    @async_test
    async def test_malformed_payloads(self):
        self.start(secret=SECRET)
        for body, event, content_type, code, message in [
            (b"{not json", "push", "application/json", 400, "body is not JSON"),
            (b"[1, 2]", "push", "application/json", 400, "payload is not a JSON object"),
            (b"\xff\xfe", "push", "application/json", 400, "body is not JSON"),
            (b"[" * 100000, "push", "application/json", 400, "body is not JSON"),
            (b'{"a": 1}', "push", "text/plain", 400, "unsupported content type 'text/plain'"),
            (b"payload=%7B", "push", "application/x-www-form-urlencoded", 400, "body is not JSON"),
            (b"nothing=1", "push", "application/x-www-form-urlencoded", 400,
             "form body without a payload field"),
            (b'{"repository": {}}', "push", "application/json", 400,
             "malformed push payload: repository.full_name is not a string"),
            (b'{}', "Push Event!", "application/json", 400, "missing or malformed X-GitHub-Event"),
            (b'{}', "", "application/json", 400, "missing or malformed X-GitHub-Event"),
        ]:
            answer_code, answer = await self.post(body, event=event, content_type=content_type)
            self.assertEqual((answer_code, answer["message"]), (code, message), body[:40])
        self.assertEqual(len(self.logs.matching("refused with 400")), 10)
        self.assertEqual(self.bot.sent, [])

    @async_test
    async def test_other_events_are_ignored(self):
        self.start(secret=SECRET)
        code, answer = await self.post({"action": "created"}, event="star")
        self.assertEqual((code, answer["message"]), (200, "ignored star"))
        self.assertEqual(self.bot.sent, [])

    @async_test
    async def test_a_pull_request_end_to_end(self):
        self.start(secret=SECRET)
        code, answer = await self.post(pr_payload("opened"), event="pull_request")
        self.assertEqual((code, answer["message"]), (200, "announced pull_request"))
        self.assertEqual([t for _, t, _ in self.bot.sent][:1], [
            "\x0303alice \x0302pubbothq/pubbot\x0f opened pull request #7: Faster parsing "
            "https://github.com/pubbothq/pubbot/pull/7"])
        code, answer = await self.post({"action": "opened", "repository": {"full_name": "a/b"},
                                        "pull_request": {"number": "7", "title": "x"}},
                                       event="pull_request", headers={"X-GitHub-Delivery": ["other"]})
        self.assertEqual((code, answer["message"]), (400, "malformed pull_request payload: "
                                                           "pull_request.number is not a number"))

    @async_test
    async def test_body_size_is_bounded(self):
        self.start(secret=SECRET)
        body = b'{"padding": "' + b"x" * MAX_BODY + b'"}'
        code, answer = await self.post(body)
        self.assertEqual((code, answer["message"]), (413, "body larger than %d bytes" % (MAX_BODY,)))
        # Chunked, with no Content-Length.
        producer = FileBodyProducer(io.BytesIO(body))
        producer.length = UNKNOWN_LENGTH
        response = await self.client.post(
            self.server.url("/hooks/github"), data=producer,
            headers={"X-GitHub-Event": ["push"], "X-Hub-Signature-256": [sign(body)]})
        self.assertEqual(response.code, 413)
        await response.content()

    @async_test
    async def test_only_post(self):
        self.start(secret=SECRET)
        response = await self.client.get(self.server.url("/hooks/github"))
        self.assertEqual(response.code, 405)
        self.assertEqual(response.headers.getRawHeaders(b"allow"), [b"POST"])
        await response.content()

    @async_test
    async def test_no_channels(self):
        self.start(secret=SECRET, announce=[])
        code, answer = await self.post(push_payload(2))
        self.assertEqual(code, 200)
        self.assertEqual(self.bot.sent, [])
        self.assertEqual(len(self.commits), 2)

    def test_registers_the_resource(self):
        plugin = Vcs()
        bot = Harness(plugin, config={"vcs": {"secret": SECRET}})
        self.assertIs(bot.bot.web_resources["hooks/github"], plugin.resource)
        self.assertEqual(plugin.resource.secret(), SECRET.encode("utf-8"))


class WebServiceTests(TestCase):
    """The webhook as mounted by the real web service: outside the dashboard's token."""

    @async_test
    async def test_through_the_web_service(self):
        from pubbot.web.service import WebService

        plugin = Vcs()
        bot = Harness(plugin, config={"vcs": {"secret": SECRET, "announce": ["#dev"]}})
        service = WebService(bot.bot, reactor, endpoint="tcp:0:interface=127.0.0.1", token="dashboard-token")
        service.startService()
        self.addCleanup(service.stopService)
        port = await service.listening
        url = "http://127.0.0.1:%d/hooks/github" % (port.getHost().port,)
        client = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
        body = json.dumps(push_payload(1)).encode("utf-8")
        response = await client.post(url, data=body, headers={
            "X-GitHub-Event": ["push"], "X-Hub-Signature-256": [sign(body)],
            "Content-Type": ["application/json"]})
        self.assertEqual(response.code, 200, await response.content())
        self.assertEqual(len(bot.sent), 1)
        response = await client.post(url, data=body, headers={
            "X-GitHub-Event": ["push"], "X-Hub-Signature-256": [sign(body, "nope")]})
        self.assertEqual(response.code, 401)
        await response.content()
