"""/status: the state JSON, read defensively from chat services, and the live feed observers."""

import json

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import handler, parse_chat_text
from pubbot.console import ConsoleService
from pubbot.core.message import Message
from pubbot.testing import Harness
from pubbot.web.feed import LiveFeed
from pubbot.web.sse import EventHub
from pubbot.web.status import latency_quantile, snapshot

from .support.web import FakeIrc, http, make_site


class BrokenIrc(FakeIrc):
    """A service whose accessors fail or return nonsense."""

    lag = float("nan")
    lines_in = "lots"

    def channels(self):
        raise RuntimeError("boom")

    def throttle_depth(self):
        raise RuntimeError("boom")


@parse_chat_text(r"^hello$")
def hello(msg):
    return {"content": "hi %s" % msg.source}


@handler(subscribe=["chat.irc.#.chat"], name="explodes")
def explodes(msg):
    raise ValueError("kaboom")




class StatusTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(hello, explodes)
        self.h.bot.chat_services["irc"] = FakeIrc()
        self.site, self.feed = make_site(self.h)

    def status(self):
        code, headers, body = http(self.site, path=b"/status")
        self.assertEqual(code, 200)
        self.assertEqual(headers[b"content-type"], [b"application/json"])
        return json.loads(body)

    def test_connection_state_channels_and_rosters(self):
        state = self.status()
        irc = state["connections"][0]
        self.assertEqual((irc["network"], irc["protocol"], irc["server_network"]),
                         ("irc", "irc", "ExampleNet"))
        self.assertEqual(irc["nick"], "pubbot")
        self.assertTrue(irc["connected"])
        self.assertEqual(irc["lag"], 0.125)
        self.assertEqual((irc["lines_in"], irc["lines_out"], irc["reconnects"], irc["throttle_depth"]),
                         (120, 33, 2, 4))
        self.assertEqual(irc["channels"]["#pubbot"][0], {"nick": "alice", "prefix": "@", "account": "alice"})
        self.assertEqual(irc["channels"]["#dev.ops"], [])
        self.assertEqual(state["owner"], self.h.bot.process_id)
        self.assertIsNone(state["cluster"])
        self.assertIsNone(state["music"])
        self.assertFalse(state["auth"])

    def test_plugins_with_counts_errors_and_latency(self):
        self.h.say("hello")
        self.h.say("hello")
        state = self.status()
        plugins = {p["name"]: p for p in state["plugins"]}
        self.assertEqual(plugins["hello"]["calls"], 2)
        self.assertEqual(plugins["hello"]["errors"], 0)
        self.assertIsNotNone(plugins["hello"]["mean_ms"])
        self.assertIsNotNone(plugins["hello"]["p95_ms"])
        self.assertEqual(plugins["explodes"]["errors"], 2)
        self.assertEqual(state["topics"], {"chat": 2})
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 2)

    def test_music_shows_only_when_a_source_is_configured(self):
        self.assertFalse(self.status()["music_configured"])
        self.h = Harness(hello, config={"music": {"source": "mpd:tcp:127.0.0.1:6600"}})
        self.site, self.feed = make_site(self.h)
        self.assertTrue(self.status()["music_configured"])

    def test_music_and_cluster_when_present(self):
        self.h.bot.state["music"] = {"title": "Blue Monday", "artist": "New Order", "album": "Substance"}
        self.h.bot.state["cluster"] = {"owner": "box:42", "workers": 3, "bus_lag": 0.25}
        state = self.status()
        self.assertEqual(state["music"]["title"], "Blue Monday")
        self.assertEqual(state["cluster"], {"owner": "box:42", "workers": 3, "bus_lag": 0.25})
        self.assertEqual(state["owner"], "box:42")

    def test_brain_read_when_asked(self):
        self.assertIsNone(self.status()["brain"])
        asked = []
        self.h.bot.state["brain"] = lambda: asked.append(1) or {"learner": "inline", "backlog_bytes": 0,
                                                                "dropped_lines": 0, "learners_lost": 0}
        self.assertEqual(asked, [])
        self.assertEqual(self.status()["brain"]["learner"], "inline")
        self.assertEqual(asked, [1])

    def test_each_network_is_shown(self):
        libera = FakeIrc()
        libera.network, libera.server_network, libera.nick = "libera", "Libera.Chat", "pb"
        self.h.bot.register_chat(libera)
        connections = {c["network"]: c for c in self.status()["connections"]}
        self.assertEqual(sorted(connections), ["irc", "libera"])
        self.assertEqual((connections["libera"]["nick"], connections["libera"]["server_network"]),
                         ("pb", "Libera.Chat"))
        self.assertEqual(connections["irc"]["server_network"], "ExampleNet")

    def test_console_service_works_too(self):
        console = ConsoleService(self.h.bot, lambda proto: None, lambda: None)
        self.h.bot.chat_services = {"console": console}
        conn = self.status()["connections"][0]
        self.assertEqual((conn["network"], conn["protocol"], conn["server_network"]),
                         ("console", "console", None))
        self.assertEqual(conn["channels"], {"#console": [{"nick": "you"}, {"nick": "pubbot"}]})
        self.assertIsNone(conn["lag"])

    def test_broken_service_accessors_do_not_break_status(self):
        self.h.bot.chat_services["irc"] = BrokenIrc()
        conn = self.status()["connections"][0]
        self.assertIsNone(conn["lag"])
        self.assertIsNone(conn["lines_in"])
        self.assertIsNone(conn["throttle_depth"])
        self.assertEqual(conn["channels"], {})
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 2)

    def test_odd_values_in_state_are_made_json(self):
        self.h.bot.state["music"] = {"title": object(), "length": float("inf"), "tags": {"a", "b"}}
        music = self.status()["music"]
        self.assertIsInstance(music["title"], str)
        self.assertIsNone(music["length"])

    def test_latency_quantile(self):
        self.assertIsNone(latency_quantile([0] * 10, 0.95))
        self.assertEqual(latency_quantile([10, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0.95), 0.0005)
        self.assertEqual(latency_quantile([90, 0, 0, 0, 0, 0, 0, 10, 0, 0], 0.95), 1.0)
        self.assertIsNone(latency_quantile([0] * 9 + [5], 0.5))  # only the +Inf bucket


class FeedTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(hello)
        self.hub = EventHub(self.h.clock, run="0badf00d")
        self.feed = LiveFeed(self.h.bot, self.hub)
        self.feed.attach()

    def bodies(self):
        return [json.loads(e.encode(self.hub.run).split(b"data: ", 1)[1]) for e in self.hub.events]

    def test_chat_in_reply_out_and_bus_messages(self):
        self.h.say("hello", source="alice")
        self.h.bot.publish("music.track", title="Song", artist="Band", album="LP")
        self.h.bot.bus.broadcast(Message("vcs.commit", {"repo": "pubbot", "big": {"no": 1}}))
        chat, sent, bus, broadcast = self.bodies()
        self.assertEqual((chat["kind"], chat["source"], chat["channel"], chat["content"]),
                         ("chat", "alice", "#pubbot", "hello"))
        self.assertEqual((sent["kind"], sent["content"], sent["how"]), ("sent", "hi alice", "say"))
        self.assertEqual((bus["kind"], bus["topic"], bus["fields"]["title"]), ("bus", "music.track", "Song"))
        self.assertEqual(broadcast["fields"], {"repo": "pubbot"})  # plain fields only
        self.assertEqual((chat["network"], chat["protocol"], sent["network"]), ("irc", "irc", "irc"))
        self.assertEqual(self.feed.lines_in, {"irc": 1})
        self.assertEqual(self.feed.lines_out, {"irc": 1})

    def test_private_messages_are_counted_but_not_shown(self):
        self.h.say("hello", source="bob", private=True)
        self.h.say("hello", source="alice")
        shown = self.bodies()
        self.assertEqual([(e["kind"], e["channel"]) for e in shown],
                         [("chat", "#pubbot"), ("sent", "#pubbot")])
        self.assertNotIn("bob", json.dumps(shown))
        self.assertEqual((self.feed.lines_in, self.feed.lines_out), ({"irc": 2}, {"irc": 2}))

    def test_private_messages_are_shown_when_configured(self):
        h = Harness(hello, config={"web": {"show_private": True}})
        hub = EventHub(h.clock, run="0badf00d")
        feed = LiveFeed(h.bot, hub, h.bot.settings.web.show_private)
        feed.attach()
        h.say("hello", source="bob", private=True)
        shown = [json.loads(e.encode(hub.run).split(b"data: ", 1)[1]) for e in hub.events]
        self.assertEqual([(e["kind"], e["channel"]) for e in shown], [("chat", "bob"), ("sent", "bob")])

    def test_lines_are_counted_and_shown_by_network(self):
        h = Harness(hello, config={"networks": {"libera": {"server": "tcp:a:1"}}})
        hub = EventHub(h.clock, run="0badf00d")
        feed = LiveFeed(h.bot, hub)
        feed.attach()
        h.say("hello", network="libera")
        h.say("hello", network="libera")
        h.say("hello")
        h.bot.dispatcher.batch_observers[-1]([  # one read with lines of two networks
            Message("chat.irc.#a.chat", {"network": "irc"}),
            Message("chat.irc.#a.chat", {"network": "libera"})])
        self.assertEqual(feed.lines_in, {"libera": 3, "irc": 2})
        self.assertEqual(feed.lines_out, {"libera": 2, "irc": 1})
        bodies = [json.loads(e.encode(hub.run).split(b"data: ", 1)[1]) for e in hub.events]
        self.assertEqual([(b["kind"], b["network"]) for b in bodies[:4]],
                         [("chat", "libera"), ("sent", "libera"), ("chat", "libera"), ("sent", "libera")])

    def test_long_text_is_cut(self):
        self.h.say("x" * 100000)
        self.assertEqual(len(self.bodies()[0]["content"]), 1001)

    def test_detach_removes_the_observers(self):
        self.feed.detach()
        self.assertNotIn(self.feed.on_message, self.h.bot.dispatcher.observers)
        self.assertNotIn(self.feed.on_sent, self.h.bot.sent_observers)
        self.assertNotIn(self.feed.on_broadcast, self.h.bot.broadcast_observers)
        self.h.say("hello")
        self.assertEqual(len(self.hub.events), 0)

    def test_snapshot_counts_feed(self):
        self.h.say("hello")
        state = snapshot(self.h.bot, self.feed)
        self.assertEqual(state["feed"]["events"], 2)
        self.assertEqual(state["feed"]["clients"], 0)


class HugeRosterTests(SynchronousTestCase):
    """/status stays small and cheap with the biggest rosters the IRC service keeps, on many networks."""

    def setUp(self):
        import random

        from pubbot.irc import roster as rostermod
        from pubbot.irc.service import IRCService
        from pubbot.web import status as statusmod

        self.status_module = statusmod
        self.h = Harness(config={"irc": {"server": "tcp:127.0.0.1:6667"}})
        self.services = []
        for n in range(statusmod.MAX_CONNECTIONS + 5):
            service = IRCService(self.h.bot, MemoryReactorClock(), network="net%d" % (n,),
                                 settings=self.h.bot.settings.irc, rng=random.Random(n))
            self.h.bot.chat_services["net%d" % (n,)] = service
            self.services.append(service)
        rosters = self.services[0].rosters
        for c in range(rostermod.MAX_CHANNELS):
            rosters.join("#c%d" % (c,), "pubbot")
        for i in range(rostermod.MAX_MEMBERS):
            rosters.join("#c0", "nick%d" % (i,), "u", "h")
        self.site, _ = make_site(self.h)

    def test_bounded_with_counts_of_what_was_left_out(self):
        statusmod = self.status_module
        rosters = self.services[0].rosters
        looked_up = []

        class Counting(type(rosters.users)):
            def get(self, nick, default=None):
                looked_up.append(nick)
                return super().get(nick, default)
        counting = Counting(rosters.fold)
        counting._data = rosters.users._data
        rosters.users = counting
        code, _, body = http(self.site, path=b"/status")
        self.assertEqual(code, 200)
        state = json.loads(body)
        self.assertLess(len(body), 2 * 1024 * 1024)
        self.assertEqual(len(state["connections"]), statusmod.MAX_CONNECTIONS)
        self.assertEqual(state["connections_omitted"],
                         len(self.h.bot.chat_services) - statusmod.MAX_CONNECTIONS)
        first = [c for c in state["connections"] if c["network"] == "net0"][0]
        self.assertEqual(len(first["channels"]), statusmod.MAX_CHANNELS)
        self.assertEqual(first["channel_count"], len(rosters.channels))
        self.assertEqual(first["channels_omitted"], len(rosters.channels) - statusmod.MAX_CHANNELS)
        self.assertEqual(len(first["channels"]["#c0"]), statusmod.MAX_MEMBERS)
        self.assertEqual(first["members"]["#c0"], len(rosters.channels["#c0"].members))
        self.assertEqual(first["members_omitted"], first["members"]["#c0"] - statusmod.MAX_MEMBERS)
        # built from what is shown: no walk over the 20000 members of #c0
        self.assertLessEqual(len(looked_up), statusmod.MAX_CHANNELS * statusmod.MAX_MEMBERS)
        self.assertLess(len(looked_up), 1000)

    def test_other_services_lists_are_cut_too(self):
        statusmod = self.status_module

        class Crowd(FakeIrc):
            def channels(self):
                return {"#big%d" % c: [{"nick": "n%d" % i} for i in range(500)] for c in range(80)}
        self.h.bot.chat_services.clear()
        self.h.bot.chat_services["irc"] = Crowd()
        code, _, body = http(self.site, path=b"/status")
        irc = json.loads(body)["connections"][0]
        self.assertEqual((len(irc["channels"]), irc["channel_count"], irc["channels_omitted"]),
                         (statusmod.MAX_CHANNELS, 80, 80 - statusmod.MAX_CHANNELS))
        self.assertEqual(len(irc["channels"]["#big0"]), statusmod.MAX_MEMBERS)
        self.assertEqual(irc["members"]["#big0"], 500)
