"""C{/metrics}: the bot's counters in the Prometheus exposition format.

Nothing is counted twice: a custom collector reads the counters the bot
already keeps (dispatcher stats, topic counts, chat service counters, the
live feed) at scrape time, so the hot path pays nothing for metrics.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from twisted.logger import Logger
from twisted.web.resource import Resource

from ..core.dispatch import LATENCY_BUCKETS
from ..core.interfaces import IChatStatus
from .status import _number, reported

log = Logger()


def _bound(value: float) -> str:
    return "+Inf" if math.isinf(value) else repr(value)


class BotCollector:
    """A prometheus_client collector reading a L{pubbot.core.bot.Bot} at scrape time."""

    def __init__(self, bot, feed=None):
        self.bot = bot
        self.feed = feed
        # The brain's learner process: prometheus_client's process metrics
        # (memory, CPU, open files) under pubbot_brain_learner_process_*.
        self._learner_pid: int | None = None
        self._learner = ProcessCollector(namespace="pubbot_brain_learner", registry=None,
                                         pid=lambda: self._learner_pid or "none")

    def describe(self) -> list:
        # No up-front description: collect() is cheap and its families vary.
        return []

    def collect(self) -> Iterator[Metric]:
        bot = self.bot
        yield from self._chat(bot)
        yield from self._handlers(bot)
        yield from self._jobs(bot)

        messages = CounterMetricFamily(
            "pubbot_messages", "Messages published on the bus, by topic family.", labels=["family"])
        for family, count in sorted(bot.dispatcher.topic_counts.items()):
            messages.add_metric([family], count)
        yield messages

        uptime = GaugeMetricFamily("pubbot_uptime_seconds", "Seconds since the bot started.")
        uptime.add_metric([], bot.uptime())
        yield uptime

        cluster = bot.state.get("cluster")
        if isinstance(cluster, dict):
            lag = _number(cluster.get("bus_lag"))
            if lag is not None:
                yield GaugeMetricFamily("pubbot_bus_lag_seconds",
                                        "Age of the oldest message waiting on the Redis bus.", value=lag)
            workers = _number(cluster.get("workers"))
            if workers is not None:
                yield GaugeMetricFamily("pubbot_bus_workers", "Worker processes seen on the Redis bus.",
                                        value=workers)
            owner = GaugeMetricFamily("pubbot_irc_owner",
                                      "1 when this process owns the IRC connection.")
            owner.add_metric([], 1.0 if cluster.get("owner") == bot.process_id else 0.0)
            yield owner

        brain = reported(bot.state.get("brain"))
        if isinstance(brain, dict):
            yield from self._brain(brain)

        if self.feed is not None:
            yield from self._feed(self.feed)

    def _brain(self, brain: dict) -> Iterator[Metric]:
        pid = brain.get("learner_pid")
        if isinstance(pid, int) and not isinstance(pid, bool) and pid > 0:
            self._learner_pid = pid
            yield from self._learner.collect()  # nothing when it cannot be read
        yield GaugeMetricFamily("pubbot_brain_learner_process",
                                "1 when the brain learns in a process of its own.",
                                value=1.0 if brain.get("learner") == "process" else 0.0)
        yield GaugeMetricFamily("pubbot_brain_input_paused",
                                "1 while input (chat, or the Redis stream) waits for the brain's learner.",
                                value=1.0 if brain.get("input_paused") is True else 0.0)
        for name, kind, text, key in (
                ("pubbot_brain_backlog_bytes", GaugeMetricFamily,
                 "Bytes of lines sent to the brain's learner process and not learned yet.", "backlog_bytes"),
                ("pubbot_brain_dropped_lines", CounterMetricFamily,
                 "Lines the brain did not learn: its learner process was too far behind or gone.",
                 "dropped_lines"),
                ("pubbot_brain_input_pauses", CounterMetricFamily,
                 "Times input paused for the brain's learner process to catch up.", "input_pauses"),
                ("pubbot_brain_learners_lost", CounterMetricFamily,
                 "Brain learner processes that ended unasked (the brain then learns in the bot's process).",
                 "learners_lost")):
            value = _number(brain.get(key))
            if value is not None:
                yield kind(name, text, value=value)

    def _chat(self, bot) -> Iterator[Metric]:
        labels = ["network", "protocol"]  # the network's name in pubbot; what kind it is (irc, console)
        fams: dict[str, Any] = {
            "in": CounterMetricFamily("pubbot_lines_in", "Chat lines received, by network.", labels=labels),
            "out": CounterMetricFamily("pubbot_lines_out", "Chat lines sent, by network.", labels=labels),
            "reconnects": CounterMetricFamily("pubbot_reconnects", "Reconnections, by network.",
                                              labels=labels),
            "throttle": GaugeMetricFamily("pubbot_throttle_queue_depth",
                                          "Lines waiting in the output throttle, by network.", labels=labels),
            "connected": GaugeMetricFamily("pubbot_connected", "1 when connected, by network.",
                                           labels=labels),
            "lag": GaugeMetricFamily("pubbot_lag_seconds", "Server round-trip lag, by network.",
                                     labels=labels),
        }
        seen_in = dict(self.feed.lines_in) if self.feed is not None else {}
        seen_out = dict(self.feed.lines_out) if self.feed is not None else {}
        for network, service in list(bot.chat_services.items()):
            kind = service.protocol
            label = [network, kind if isinstance(kind, str) else ""]
            status = IChatStatus(service, None)
            if status is None:  # shows no connection: what the feed saw
                fams["in"].add_metric(label, seen_in.get(network, 0))
                fams["out"].add_metric(label, seen_out.get(network, 0))
                fams["connected"].add_metric(label, 1.0)
                continue
            # the service's own counters when it keeps them, else what the feed saw
            lines_in = _number(status.lines_in)
            lines_out = _number(status.lines_out)
            fams["in"].add_metric(label, lines_in if lines_in is not None else seen_in.get(network, 0))
            fams["out"].add_metric(label, lines_out if lines_out is not None else seen_out.get(network, 0))
            reconnects = _number(status.reconnects)
            if reconnects is not None:
                fams["reconnects"].add_metric(label, reconnects)
            depth = _number(reported(status.throttle_depth))
            if depth is not None:
                fams["throttle"].add_metric(label, depth)
            connected = status.connected
            fams["connected"].add_metric(label, 1.0 if (connected is None or connected) else 0.0)
            lag = _number(reported(status.lag))
            if lag is not None:
                fams["lag"].add_metric(label, lag)
        yield from fams.values()

    def _handlers(self, bot) -> Iterator[Metric]:
        calls = CounterMetricFamily("pubbot_handler_calls", "Handler calls, by plugin.", labels=["plugin"])
        errors = CounterMetricFamily("pubbot_handler_errors", "Handler failures, by plugin.",
                                     labels=["plugin"])
        timeouts = CounterMetricFamily("pubbot_handler_timeouts", "Handler timeouts, by plugin.",
                                       labels=["plugin"])
        latency = HistogramMetricFamily("pubbot_handler_latency_seconds",
                                        "Time handlers took, by plugin.", labels=["plugin"])
        for name, s in sorted(bot.dispatcher.stats.items()):
            calls.add_metric([name], s.calls)
            errors.add_metric([name], s.errors)
            timeouts.add_metric([name], s.timeouts)
            cumulative = 0
            buckets = []
            for bound, count in zip(LATENCY_BUCKETS, s.buckets, strict=False):
                cumulative += count
                buckets.append((_bound(bound), cumulative))
            if not math.isinf(LATENCY_BUCKETS[-1]):
                buckets.append(("+Inf", cumulative))
            latency.add_metric([name], buckets, s.seconds)
        yield from (calls, errors, timeouts, latency)

    def _jobs(self, bot) -> Iterator[Metric]:
        jobs = bot.jobs
        runs = CounterMetricFamily("pubbot_job_runs", "Job runs started, by job.", labels=["job"])
        failures = CounterMetricFamily("pubbot_job_failures", "Job runs that failed or timed out, by job.",
                                       labels=["job"])
        skipped = CounterMetricFamily("pubbot_job_skipped", "Job runs skipped: the last one was still going.",
                                      labels=["job"])
        next_run = GaugeMetricFamily("pubbot_job_next_run_timestamp_seconds",
                                     "When each job runs next (Unix time).", labels=["job"])
        for job in jobs.report():
            runs.add_metric([job["name"]], job["runs"])
            failures.add_metric([job["name"]], job["failures"])
            skipped.add_metric([job["name"]], job["skipped"])
            if job["next_run"] is not None:
                next_run.add_metric([job["name"]], job["next_run"])
        yield from (runs, failures, skipped, next_run)

    def _feed(self, feed) -> Iterator[Metric]:
        hub = feed.hub
        yield GaugeMetricFamily("pubbot_feed_clients", "Live feed (SSE) clients connected.",
                                value=len(hub.clients))
        yield CounterMetricFamily("pubbot_feed_events", "Events published on the live feed.",
                                  value=hub.newest)
        yield CounterMetricFamily("pubbot_feed_dropped_clients",
                                  "Live feed clients disconnected by the bot (slow or shutting down).",
                                  value=hub.dropped_total)
        yield CounterMetricFamily("pubbot_feed_refused_clients",
                                  "Live feed clients refused (too many).", value=hub.refused_total)
        yield CounterMetricFamily("pubbot_feed_gaps", "Times a live feed client missed events.",
                                  value=hub.gaps_total)


def make_registry(bot, feed=None, process: bool = True) -> CollectorRegistry:
    """A registry of its own (not the global one) holding the bot's collector."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BotCollector(bot, feed))  # type: ignore[arg-type]
    if process:
        ProcessCollector(registry=registry)
    return registry


class MetricsResource(Resource):
    """C{/metrics} for Prometheus."""

    isLeaf = True

    def __init__(self, registry: CollectorRegistry):
        super().__init__()
        self.registry = registry

    def render_GET(self, request) -> bytes:
        try:
            body = generate_latest(self.registry)
        except Exception:
            log.failure("collecting metrics failed")
            request.setResponseCode(500)
            request.setHeader(b"content-type", b"text/plain; charset=utf-8")
            return b"collecting metrics failed; see the bot's log\n"
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode("ascii"))
        return body
