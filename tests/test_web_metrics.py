"""/metrics: the Prometheus exposition, read from the bot's own counters at scrape time."""

import os
import time

from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import handler, parse_chat_text
from pubbot.core.dispatch import LATENCY_BUCKETS
from pubbot.testing import Harness
from pubbot.web.feed import LiveFeed
from pubbot.web.metrics import BotCollector, make_registry
from pubbot.web.sse import EventHub

from .support.web import FakeIrc, http, make_site, samples


@parse_chat_text(r"^hello$")
def hello(msg):
    return {"content": "hi"}


@handler(subscribe=["chat.irc.#.chat"], name="explodes")
def explodes(msg):
    raise ValueError("kaboom")


class MetricsTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(hello, explodes)
        self.site, self.feed = make_site(self.h)

    def scrape(self):
        code, headers, body = http(self.site, path=b"/metrics")
        self.assertEqual(code, 200)
        self.assertTrue(headers[b"content-type"][0].startswith(b"text/plain; version="))
        return samples(body.decode("utf-8"))

    def test_handler_calls_errors_and_latency_histogram(self):
        for _ in range(3):
            self.h.say("hello")
        m = self.scrape()
        hello_ = frozenset({("plugin", "hello")})
        self.assertEqual(m[("pubbot_handler_calls_total", hello_)], 3)
        self.assertEqual(m[("pubbot_handler_errors_total", hello_)], 0)
        self.assertEqual(m[("pubbot_handler_errors_total", frozenset({("plugin", "explodes")}))], 3)
        self.assertEqual(m[("pubbot_handler_latency_seconds_count", hello_)], 3)
        self.assertEqual(m[("pubbot_handler_latency_seconds_bucket", hello_ | {("le", "+Inf")})], 3)
        self.assertGreater(m[("pubbot_handler_latency_seconds_sum", hello_)], 0)
        # buckets are cumulative and end at +Inf
        values = [m[("pubbot_handler_latency_seconds_bucket",
                     hello_ | {("le", "+Inf" if b == float("inf") else repr(b))})] for b in LATENCY_BUCKETS]
        self.assertEqual(values, sorted(values))
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 3)

    def test_messages_per_topic_family_and_lines(self):
        self.h.say("hello")
        self.h.bot.publish("music.track", title="x")
        m = self.scrape()
        self.assertEqual(m[("pubbot_messages_total", frozenset({("family", "chat")}))], 1)
        self.assertEqual(m[("pubbot_messages_total", frozenset({("family", "music")}))], 1)
        # the harness's fake chat keeps no counters: the feed's counts are used
        irc = frozenset({("network", "irc"), ("protocol", "irc")})
        self.assertEqual(m[("pubbot_lines_in_total", irc)], 1)
        self.assertEqual(m[("pubbot_lines_out_total", irc)], 1)
        self.flushLoggedErrors(ValueError)

    def test_irc_service_counters(self):
        self.h.bot.chat_services["irc"] = FakeIrc()
        m = self.scrape()
        irc = frozenset({("network", "irc"), ("protocol", "irc")})
        self.assertEqual(m[("pubbot_lines_in_total", irc)], 120)
        self.assertEqual(m[("pubbot_lines_out_total", irc)], 33)
        self.assertEqual(m[("pubbot_reconnects_total", irc)], 2)
        self.assertEqual(m[("pubbot_throttle_queue_depth", irc)], 4)
        self.assertEqual(m[("pubbot_connected", irc)], 1)
        self.assertEqual(m[("pubbot_lag_seconds", irc)], 0.125)

    def test_every_per_connection_metric_has_a_network_label(self):
        libera = FakeIrc()
        libera.network, libera.lines_in, libera.reconnects = "libera", 7, 0
        self.h.bot.chat_services["irc"] = FakeIrc()
        self.h.bot.register_chat(libera)
        m = self.scrape()
        libera_ = frozenset({("network", "libera"), ("protocol", "irc")})
        self.assertEqual(m[("pubbot_lines_in_total", libera_)], 7)
        self.assertEqual(m[("pubbot_reconnects_total", libera_)], 0)
        irc = frozenset({("network", "irc"), ("protocol", "irc")})
        self.assertEqual(m[("pubbot_lines_in_total", irc)], 120)
        for family in ("pubbot_lines_in_total", "pubbot_lines_out_total", "pubbot_reconnects_total",
                       "pubbot_throttle_queue_depth", "pubbot_connected", "pubbot_lag_seconds"):
            networks = sorted(dict(labels)["network"] for name, labels in m if name == family)
            self.assertEqual(networks, ["irc", "libera"], family)

    def test_bus_lag_only_when_clustered(self):
        self.assertNotIn(("pubbot_bus_lag_seconds", frozenset()), self.scrape())
        self.h.bot.state["cluster"] = {"owner": self.h.bot.process_id, "workers": 4, "bus_lag": 0.5}
        m = self.scrape()
        self.assertEqual(m[("pubbot_bus_lag_seconds", frozenset())], 0.5)
        self.assertEqual(m[("pubbot_bus_workers", frozenset())], 4)
        self.assertEqual(m[("pubbot_irc_owner", frozenset())], 1)

    def test_brain_learner_when_present(self):
        self.assertNotIn(("pubbot_brain_learner_process", frozenset()), self.scrape())
        self.h.bot.state["brain"] = lambda: {"learner": "process", "backlog_bytes": 512,
                                             "dropped_lines": 3, "learners_lost": 1,
                                             "input_pauses": 7, "input_paused": True}
        m = self.scrape()
        self.assertEqual(m[("pubbot_brain_learner_process", frozenset())], 1)
        self.assertEqual(m[("pubbot_brain_input_paused", frozenset())], 1)
        self.assertEqual(m[("pubbot_brain_input_pauses_total", frozenset())], 7)
        self.assertEqual(m[("pubbot_brain_backlog_bytes", frozenset())], 512)
        self.assertEqual(m[("pubbot_brain_dropped_lines_total", frozenset())], 3)
        self.assertEqual(m[("pubbot_brain_learners_lost_total", frozenset())], 1)
        self.h.bot.state["brain"] = lambda: 1 / 0
        self.assertNotIn(("pubbot_brain_learner_process", frozenset()), self.scrape())
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_the_learner_process_memory_and_cpu_by_its_pid(self):
        status = {"learner": "process", "learner_pid": os.getpid()}
        self.h.bot.state["brain"] = lambda: status
        m = self.scrape()
        rss = m[("pubbot_brain_learner_process_resident_memory_bytes", frozenset())]
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        self.assertLess(abs(rss / os.sysconf("SC_PAGE_SIZE") - pages), 1024)  # bytes, not pages
        self.assertIn(("pubbot_brain_learner_process_cpu_seconds_total", frozenset()), m)
        self.assertIn(("pubbot_brain_learner_process_open_fds", frozenset()), m)
        for pid in (None, True, 0, -1, "1", 2 ** 31 - 1):  # none, nonsense, or no such process
            status["learner_pid"] = pid
            m = self.scrape()
            self.assertNotIn(("pubbot_brain_learner_process_resident_memory_bytes", frozenset()), m, pid)
            self.assertEqual(m[("pubbot_brain_learner_process", frozenset())], 1)

    def test_feed_and_process_metrics(self):
        m = self.scrape()
        self.assertEqual(m[("pubbot_feed_clients", frozenset())], 0)
        self.assertIn(("pubbot_uptime_seconds", frozenset()), m)

    def test_a_failing_collector_gives_500_not_a_crash(self):
        self.h.bot.dispatcher.topic_counts = None  # something is badly wrong
        code, _, body = http(self.site, path=b"/metrics")
        self.assertEqual(code, 500)
        self.assertNotIn(b"Traceback", body)
        self.assertEqual(len(self.flushLoggedErrors(AttributeError)), 1)


class HotPathTests(SynchronousTestCase):
    def test_collector_is_not_on_the_hot_path(self):
        # counting happens in the dispatcher already; publishing 20k lines with
        # the collector and feed attached costs no more than a few microseconds each
        h = Harness(hello)
        hub = EventHub(h.clock)
        feed = LiveFeed(h.bot, hub)
        feed.attach()
        make_registry(h.bot, feed, process=False)
        started = time.perf_counter()
        for _ in range(20000):
            feed.on_message(_chat_message)
        per_message = (time.perf_counter() - started) / 20000
        self.assertLess(per_message, 50e-6)
        self.assertEqual(len(hub.events), hub.events.maxlen)

    def test_describe_is_empty(self):
        self.assertEqual(BotCollector(Harness().bot).describe(), [])


class _Msg:
    topic = "chat.irc.#pubbot.chat"
    fields = {"network": "irc", "protocol": "irc", "channel": "#pubbot", "source": "a", "content": "b"}


_chat_message = _Msg()
