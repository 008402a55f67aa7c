"""The dashboard's history: bounded samples of what changed, driven by the clock."""

import json

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from zope.interface import implementer

from pubbot.api import parse_chat_text
from pubbot.core.interfaces import IChatService, IChatStatus
from pubbot.testing import Harness
from pubbot.web.auth import TokenAuth
from pubbot.web.feed import LiveFeed
from pubbot.web.history import MAX_SERIES, OTHER, History
from pubbot.web.resources import build_root
from pubbot.web.sse import EventHub

from .support.web import http


@parse_chat_text(r"^hello$")
def hello(msg):
    return "hi " + msg.source


@implementer(IChatService, IChatStatus)
class Network:
    """A chat service as the dashboard reads it: lag, reconnects and queue depth change."""

    protocol = "irc"
    network = "irc"
    command_prefix = "!"
    nick = "pubbot"
    connected = True
    server_network = None
    lines_in = lines_out = None

    def __init__(self):
        self.reconnects = 0
        self.depth = 0
        self.lag_seconds = 0.05

    def lag(self):
        return self.lag_seconds

    def throttle_depth(self):
        return self.depth

    def send(self, target, text, kind="say", person=None):
        pass

    def roster(self, channel):
        return []

    def channels(self):
        return {}


class HistoryTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(hello)
        self.network = self.h.bot.chat_services["irc"] = Network()
        self.feed = LiveFeed(self.h.bot, EventHub(self.h.clock, run="0badf00d"))
        self.feed.attach()
        self.history = History(self.h.bot, self.feed, self.h.clock, interval=10.0, size=6)
        self.history.start()
        self.addCleanup(self.history.stop)

    def test_a_sample_each_interval_of_what_changed(self):
        for _ in range(3):
            self.h.say("hello")
        self.h.say("hello", channel="#dev")
        self.network.reconnects, self.network.depth, self.network.lag_seconds = 1, 7, 0.25
        self.h.clock.advance(10)
        (sample,) = self.history.samples
        self.assertEqual(sample["lines"], {"irc #pubbot": 18.0, "irc #dev": 6.0})  # a minute's rate
        self.assertEqual(sample["calls"], {"hello": 24.0})
        self.assertGreaterEqual(sample["latency"]["hello"], 0.0)
        self.assertEqual((sample["lag"], sample["queue"], sample["reconnects"]),
                         ({"irc": 250.0}, {"irc": 7}, {"irc": 1}))
        self.h.clock.advance(10)  # nothing said: no lines, no calls; gauges stay
        quiet = self.history.samples[-1]
        self.assertEqual((quiet["lines"], quiet["calls"], quiet["reconnects"], quiet["queue"]),
                         ({}, {}, {"irc": 0}, {"irc": 7}))

    def test_the_ring_and_the_series_are_bounded(self):
        for n in range(MAX_SERIES + 5):
            self.h.say("hello", channel="#c%d" % n)
        self.h.clock.advance(10)
        lines = self.history.samples[0]["lines"]
        self.assertEqual(len(lines), MAX_SERIES)
        self.assertEqual(lines[OTHER], 6.0 * 6)  # the six that did not fit, summed
        for _ in range(20):
            self.h.clock.advance(10)
        self.assertEqual(len(self.history.samples), 6)

    def test_columns_for_the_charts(self):
        self.h.say("hello")
        self.h.clock.advance(10)
        self.h.clock.advance(10)
        columns = self.history.columns()
        self.assertEqual(columns["t"], [s["t"] for s in self.history.samples])
        self.assertEqual(columns["t"][1] - columns["t"][0], 10.0)
        self.assertEqual(columns["lines"], {"series": ["irc #pubbot"], "data": [[6.0, None]]})
        self.assertEqual(columns["lag"], {"series": ["irc"], "data": [[50.0, 50.0]]})

    def test_served_at_history(self):
        self.h.say("hello")
        self.h.clock.advance(10)
        auth = TokenAuth("", self.h.clock)
        root = build_root(self.h.bot, self.feed.hub, self.feed, auth, self.history, process_metrics=False)
        code, headers, body = http(Site(root, reactor=MemoryReactorClock()), path=b"/history")
        self.assertEqual((code, headers[b"content-type"]), (200, [b"application/json"]))
        self.assertEqual(json.loads(body)["calls"], {"series": ["hello"], "data": [[6.0]]})

    def test_private_lines_are_not_counted_by_channel(self):
        self.h.say("hello", source="bob", private=True)
        self.h.clock.advance(10)
        self.assertEqual(self.history.samples[0]["lines"], {})
