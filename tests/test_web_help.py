"""The dashboard's /help page, and jobs on /status and /metrics."""

import json

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command, every, example, require
from pubbot.plugins import core
from pubbot.testing import Harness

from .support.web import http, make_site, samples


@command("shout", args=r"(?P<text>.+)", usage="<text>")
@require("op")
@example("!shout <b>hi</b>", "<B>HI</B>")
def shout(msg, text=None):
    """Says it <louder>."""
    return text.upper()


@every(30)
def hourly(bot):
    raise ValueError("broken")


class HelpPageTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(core.help, core.ping, shout, hourly)
        self.site, _ = make_site(self.h)

    def test_lists_every_command_with_its_examples_escaped(self):
        code, headers, body = http(self.site, path=b"/help")
        self.assertEqual(code, 200)
        self.assertEqual(headers[b"content-type"], [b"text/html; charset=utf-8"])
        page = body.decode("utf-8")
        self.assertIn("<h2>core</h2>", page)
        self.assertIn("<code>!ping</code>", page)
        self.assertIn("<code>!ping</code> → <samp>pong</samp>", page)
        self.assertIn("<code>!shout &lt;text&gt;</code>", page)
        self.assertIn("Says it &lt;louder&gt;.", page)
        self.assertIn("<td>op</td>", page)
        self.assertIn("<code>!shout &lt;b&gt;hi&lt;/b&gt;</code> → <samp>&lt;B&gt;HI&lt;/B&gt;</samp>", page)
        self.assertNotIn("<b>hi", page)

    def test_needs_the_token_like_the_rest(self):
        site, _ = make_site(self.h, token="s3cret")
        code, _, _ = http(site, path=b"/help")
        self.assertEqual(code, 401)

    def test_jobs_on_status_and_metrics(self):
        self.h.clock.advance(30)
        self.flushLoggedErrors(ValueError)
        code, _, body = http(self.site, path=b"/status")
        state = json.loads(body)
        self.assertEqual(state["jobs"], [{
            "name": "hourly", "schedule": "every 30s", "runs": 1, "failures": 1, "timeouts": 0, "skipped": 0,
            "running": False, "next_run": self.h.clock.seconds() + 30, "last_run": self.h.clock.seconds()}])
        code, _, body = http(self.site, path=b"/metrics")
        m = samples(body.decode("utf-8"))
        job = frozenset({("job", "hourly")})
        self.assertEqual(m[("pubbot_job_runs_total", job)], 1)
        self.assertEqual(m[("pubbot_job_failures_total", job)], 1)
        self.assertEqual(m[("pubbot_job_skipped_total", job)], 0)
        self.assertEqual(m[("pubbot_job_next_run_timestamp_seconds", job)], self.h.clock.seconds() + 30)
