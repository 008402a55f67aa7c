"""
The Redis Streams bus and the fan-out, several bots in one process against
a real redis-server: exactly-once handling and answering, redelivery,
outages, bounded buffering, malformed entries, cluster state.
"""

from __future__ import annotations

import json

import pytest
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from pubbot.api import command
from pubbot.cluster.fanout import FanOut
from pubbot.cluster.redisclient import RedisClient
from pubbot.cluster.remote import RemoteChat
from pubbot.cluster.streams import (
    IN,
    OUT,
    OWNER_HEARD,
    PARTITIONS,
    SENT,
    STREAMS,
    WORKERS,
    Backoff,
    RedisBus,
    entries,
)
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.core.interfaces import IBus
from pubbot.core.message import Message
from pubbot.irc.lines import parse as parse_line
from pubbot.store.memory import MemoryStore
from pubbot.testing import FakeChat

from .support.servers.redis import RedisServer


def handlers(node: Node):
    @command("echo", args=r"(?P<text>.+)")
    def echo(msg, text):
        node.handled.append(text)
        return {"content": "echo %s" % text}

    @command("tell")
    def tell(msg):
        node.handled.append("tell")
        msg.bot.send(msg.network, msg.channel, "told by %s" % node.name, "notice")

    @command("announce")
    def announce(msg):
        node.handled.append("announce")
        msg.bot.announce(["#pubbot"], "hello from %s; %s sees %s" % (
            node.name, msg.bot.nick("irc"), ",".join(msg.bot.roster("irc", "#pubbot"))))

    @command("hang")
    def hang(msg):
        node.handled.append("hang")
        d = Deferred()  # never fires by itself: the process "dies" while handling
        node.hanging.append(d)
        return d

    return [echo, tell, announce, hang]


class Node:
    """One bot with its own Redis bus, as one pubbot process would have."""

    def __init__(self, test: BusTestCase, name: str, owner: bool, **bus_options):
        self.name = name
        self.handled: list = []
        self.hanging: list = []
        self.owner = owner
        settings = parse({"redis": {"url": test.server.url}, "plugins": {"timeout": 5}})
        url = test.server.url
        self.command = RedisClient(reactor, url, name=name + "-bus", timeout=1.0)
        self.fanout = FanOut(reactor, url, self.command, origin=name, keepalive=1.0)
        options = dict(visibility_timeout=test.visibility, block=0.2, heartbeat=0.2)
        options.update(bus_options)
        self.bus = RedisBus(reactor, self.command,
                            RedisClient(reactor, url, name=name + "-reader", timeout=1.0),
                            RedisClient(reactor, url, name=name + "-replies", timeout=1.0),
                            process_id=name,
                            is_owner=lambda: self.owner, owner_active=lambda: self.owner,
                            fanout=self.fanout, **options)
        self.bot = Bot(settings, reactor, MemoryStore(reactor), process_id=name,
                       bus=self.bus, outbox=self.bus.outbox)
        for h in handlers(self):
            self.bot.add_handler(h)
        self.chat = OwnerChat(nick="pubbot_")
        self.chat.rosters["#pubbot"] = ["alice", "pubbot_"]
        if owner:
            self.bot.register_chat(self.chat)
        self.seen: list = []
        self.broadcasts: list = []
        self.sent_seen: list = []
        self.bot.dispatcher.observers.append(self.seen.append)
        self.bot.broadcast_observers.append(self.broadcasts.append)
        self.bot.sent_observers.append(lambda *a: self.sent_seen.append(a))
        self.bot.start()
        self.fanout.startService()
        self.bus.startService()
        self.stopped = False
        test.addCleanup(self.stop)
        test.addCleanup(lambda: [d.callback(None) for d in self.hanging if not d.called])

    def stop(self):
        if self.stopped:
            return None
        self.stopped = True
        d = self.bus.stopService()
        d.addBoth(lambda _: self.fanout.stopService())
        return d

    def crash(self):
        """Like SIGKILL: connections gone, nothing acknowledged or drained."""
        self.stopped = True
        self.bus.running = False
        self.fanout.running = False
        for d in list(self.bus._waits):
            d.cancel()
        for c in (self.bus.command, self.bus.reader, self.bus.replies, self.fanout.subscriber):
            c.drop()
            c.stop()
        if self.fanout._keepalive.running:
            self.fanout._keepalive.stop()

    def say(self, text: str):
        return self.bot.chat_line("irc", "#pubbot", "alice", text, hostmask="alice!a@x", account=None)


class OwnerChat(FakeChat):
    """The owner's network, with a channel list and a nick of its own."""

    connected = True
    server_network = "TestNet"

    def channels(self):
        return {"#pubbot": []}


@pytest.mark.integration  # a real redis-server
class BusTestCase(TestCase):
    visibility = 30.0

    def setUp(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)

    async def until(self, predicate, seconds: float = 10.0, step: float = 0.05):
        for _ in range(int(seconds / step)):
            if predicate():
                return True
            await deferLater(reactor, step, lambda: None)
        return predicate()

    async def settle(self, seconds: float = 0.5):
        await deferLater(reactor, seconds, lambda: None)

    def redis(self, *args):
        return self.server.command(*args)


class RedisBusTests(BusTestCase):
    def test_provides_ibus(self):
        owner = Node(self, "owner", True)
        self.assertTrue(verifyObject(IBus, owner.bus))

    async def test_each_line_is_handled_once_and_answered_once(self):
        owner = Node(self, "owner", True)
        workers = [Node(self, "w%d" % i, False) for i in range(2)]
        nodes = [owner] + workers
        # the partitions are shared out (each process takes its fair share)
        self.assertTrue(await self.until(lambda: all(n.bus.held for n in nodes)
                                         and sum(len(n.bus.held) for n in nodes) == PARTITIONS))
        channels = ["#c%d" % c for c in range(12)]
        for i in range(60):
            await owner.bot.chat_line("irc", channels[i % 12], "alice", "!echo %d" % i, hostmask="alice!a@x")
        self.assertTrue(await self.until(lambda: len(owner.chat.sent) >= 60))
        await self.settle()
        handled = sorted(int(t) for n in nodes for t in n.handled)
        self.assertEqual(handled, list(range(60)))
        self.assertEqual(sorted(owner.chat.sent),
                         sorted((channels[i % 12], "echo %d" % i, "say") for i in range(60)))
        # the work was spread: every process handled some
        self.assertTrue(all(n.handled for n in nodes), [len(n.handled) for n in nodes])
        # each channel's lines were handled, and answered, in order
        for n in nodes:
            for c in range(12):
                mine = [int(t) for t in n.handled if int(t) % 12 == c]
                self.assertEqual(mine, sorted(mine))
        for channel in channels:
            said = [int(t.split()[1]) for target, t, _ in owner.chat.sent if target == channel]
            self.assertEqual(said, sorted(said))
        # nothing is left unacknowledged
        for stream in STREAMS:
            pending = await owner.command.execute("XPENDING", stream, WORKERS)
            self.assertEqual(pending[0], 0)
        # answered entries are deleted: the streams stay short
        self.assertTrue(await self.until(lambda: self.redis_len(IN) == 0 and self.redis_len(OUT) == 0))

    def redis_len(self, stream):
        """Entries in C{stream}; for IN, in every partition of it."""
        return sum(self.server.query("XLEN", s) for s in (STREAMS if stream == IN else [stream]))

    async def test_held_input_leaves_messages_in_the_stream_not_the_chat_paused(self):
        owner = Node(self, "owner", True)
        paused_chat = []
        owner.chat.pause_input = lambda: paused_chat.append("pause")  # must not be called
        owner.bot.hold_input("brain")
        self.assertTrue(owner.bus.input_paused)
        for i in range(3):
            await owner.say("!echo %d" % i)
        await self.settle(1.0)
        self.assertEqual(owner.handled, [])  # waiting in the stream ...
        self.assertEqual(self.redis_len(IN), 3)
        worker = Node(self, "w", False)  # ... for any process that takes messages
        self.assertTrue(await self.until(lambda: len(worker.handled) == 3))
        owner.bot.release_input("brain")
        await owner.say("!echo again")
        self.assertTrue(await self.until(lambda: ("#pubbot", "echo again", "say") in owner.chat.sent))
        self.assertEqual(paused_chat, [])  # chat reading was never paused: other processes read on
        self.assertEqual(sorted(owner.handled + worker.handled), ["0", "1", "2", "again"])

    async def test_long_gone_consumers_are_removed(self):
        owner = Node(self, "owner", True)
        # the owner reads the partition of IN (its only consumer)
        self.assertTrue(await self.until(lambda: owner.bus._groups_ready and 0 in owner.bus.held
                                         and not owner.bus.fresh))
        await self.settle(0.3)
        await owner.command.execute("XGROUP", "CREATECONSUMER", IN, WORKERS, "ghost")
        owner.bus.stale_consumer = -1
        await owner.bus._forget_stale_consumers()
        names = [c[1] for c in await owner.command.execute("XINFO", "CONSUMERS", IN, WORKERS)]
        self.assertNotIn("ghost", names)
        self.assertIn("owner", names)

    async def test_send_from_a_worker_goes_through_the_owner(self):
        owner = Node(self, "owner", True, consume=False)  # only the worker handles
        worker = Node(self, "w", False)
        await owner.say("!tell")
        self.assertTrue(await self.until(lambda: owner.chat.sent))
        await self.settle()
        self.assertEqual(worker.handled, ["tell"])
        self.assertEqual(owner.chat.sent, [("#pubbot", "told by w", "notice")])
        # the worker's own sent observers saw it when it called bot.send, the owner's when it sent
        self.assertEqual(worker.sent_seen, [("irc", "#pubbot", "told by w", "notice")])
        self.assertEqual(owner.sent_seen, [("irc", "#pubbot", "told by w", "notice")])

    async def test_a_worker_announces_through_the_owner_and_sees_its_network(self):
        owner = Node(self, "owner", True, consume=False)
        worker = Node(self, "w", False)
        remote = RemoteChat(worker.bot, "irc", "pubbot")
        worker.bus.remote_chats["irc"] = remote
        worker.bot.chat_services["irc"] = remote
        self.assertTrue(await self.until(lambda: remote.connected))
        self.assertEqual((remote.nick, remote.network, remote.server_network, remote.owner),
                         ("pubbot_", "irc", "TestNet", None))
        self.assertEqual(worker.bot.roster("irc", "#PubBot"), ["alice", "pubbot_"])
        await owner.say("!announce")
        self.assertTrue(await self.until(lambda: owner.chat.sent))
        self.assertEqual(owner.chat.sent, [("#pubbot", "hello from w; pubbot_ sees alice,pubbot_", "notice")])
        self.assertEqual(worker.chat.sent, [])

    async def test_replies_go_back_to_the_network_they_came_from(self):
        owner = Node(self, "owner", True, consume=False)
        libera = OwnerChat("libera", nick="pubbot")
        libera.rosters["#pubbot"] = ["bob", "pubbot"]
        owner.bot.register_chat(libera)
        worker = Node(self, "w", False)
        for network, remote in (("irc", RemoteChat(worker.bot, "irc", "pubbot")),
                                ("libera", RemoteChat(worker.bot, "libera", "pubbot"))):
            worker.bus.remote_chats[network] = remote
            worker.bot.chat_services[network] = remote
        # each network's state is published under its name
        self.assertTrue(await self.until(lambda: worker.bot.roster("libera", "#pubbot") == ["bob", "pubbot"]))
        self.assertEqual(worker.bot.roster("irc", "#pubbot"), ["alice", "pubbot_"])
        self.assertEqual(worker.bot.nick("irc"), "pubbot_")
        await owner.bot.chat_line("libera", "#pubbot", "bob", "!echo from libera", hostmask="bob!b@x")
        await owner.bot.chat_line("irc", "#pubbot", "alice", "!tell", hostmask="alice!a@x")
        self.assertTrue(await self.until(lambda: libera.sent and owner.chat.sent))
        await self.settle()
        self.assertEqual(libera.sent, [("#pubbot", "echo from libera", "say")])
        self.assertEqual(owner.chat.sent, [("#pubbot", "told by w", "notice")])
        self.assertEqual(sorted(owner.sent_seen), [("irc", "#pubbot", "told by w", "notice"),
                                                   ("libera", "#pubbot", "echo from libera", "say")])
        # an announcement from the worker reaches every network
        await owner.bot.chat_line("libera", "#pubbot", "bob", "!announce", hostmask="bob!b@x")
        self.assertTrue(await self.until(lambda: len(libera.sent) == 2 and len(owner.chat.sent) == 2))
        self.assertEqual(libera.sent[1][1], owner.chat.sent[1][1])

    async def test_worker_without_owner_never_speaks_itself(self):
        owner = Node(self, "owner", True, consume=False)
        worker = Node(self, "w", False)
        worker.bot.register_chat(worker.chat)  # even with a chat service, it is not the owner
        await owner.say("!echo x")
        self.assertTrue(await self.until(lambda: owner.chat.sent))
        self.assertEqual(worker.chat.sent, [])
        self.assertEqual(worker.handled, ["x"])

    async def test_replies_are_sent_once_even_when_queued_twice(self):
        owner = Node(self, "owner", True, consume=False)
        envelope = json.dumps({"key": "k1", "origin": None, "network": "irc", "target": "#pubbot",
                               "text": "once", "kind": "say"})
        # a redelivered reply appended again bypassing the add-once key
        for _ in range(3):
            await owner.command.execute("XADD", OUT, "*", "m", envelope)
        self.assertTrue(await self.until(lambda: owner.chat.sent))
        await self.settle()
        self.assertEqual(owner.chat.sent, [("#pubbot", "once", "say")])
        self.assertEqual(await owner.command.execute("EXISTS", SENT + "k1"), 1)

    async def test_envelopes_name_the_network_and_old_ones_still_work(self):
        owner = Node(self, "owner", True, consume=False)
        libera = OwnerChat("libera", nick="pubbot")
        owner.bot.register_chat(libera)
        await owner.command.execute("XADD", OUT, "*", "m", json.dumps(  # the release before networks
            {"key": "old", "origin": None, "protocol": "irc", "target": "#pubbot", "text": "old",
             "kind": "say"}))
        await owner.command.execute("XADD", OUT, "*", "m", json.dumps(
            {"key": "new", "origin": None, "network": "libera", "target": "#pubbot", "text": "new",
             "kind": "say"}))
        self.assertTrue(await self.until(lambda: owner.chat.sent and libera.sent))
        self.assertEqual((owner.chat.sent, libera.sent),
                         ([("#pubbot", "old", "say")], [("#pubbot", "new", "say")]))
        # what a process writes names the network (and says protocol too, for an owner not yet upgraded)
        owner.owner = False
        await owner.bot.send("libera", "#x", "relayed", "notice")
        stream = await owner.command.execute("XRANGE", OUT, "-", "+")
        written = [json.loads(fields[1]) for _, fields in stream]
        self.assertEqual([(e["network"], e["protocol"], e["target"], e["text"]) for e in written
                          if e["key"] not in ("old", "new")],
                         [("libera", "libera", "#x", "relayed")])

    async def test_a_chat_lines_tags_cross_the_bus_as_an_object(self):
        # (a parsed line's tags are a read-only mapping: they go on the bus as a JSON object)
        owner = Node(self, "owner", True, consume=False)
        tags = parse_line("@time=2026-12-08T01:02:03.456Z;msgid=a\\sb PRIVMSG #c :x").tags
        await owner.bot.chat_line("irc", "#c", "alice", "hi", tags=tags, bot=False)

        def written():
            return [json.loads(entry[1][1])["message"]["fields"]
                    for stream in STREAMS for entry in self.server.query("XRANGE", stream, "-", "+")]
        self.assertTrue(await self.until(lambda: written()))
        [fields] = written()
        self.assertEqual((fields["tags"], fields["bot"]),
                         ({"time": "2026-12-08T01:02:03.456Z", "msgid": "a b"}, False))

    async def test_a_message_queued_by_the_release_before_networks_is_answered(self):
        owner = Node(self, "owner", True)
        fields = {"protocol": "irc", "channel": "#pubbot", "source": "alice", "content": "!echo old",
                  "direct": False, "command": "echo old", "private": False, "source_id": None,
                  "account": None, "hostmask": "alice!a@x"}
        await owner.command.execute("XADD", IN, "*", "m", json.dumps(
            {"id": "old-1", "message": {"topic": "chat.irc.#pubbot.chat", "fields": fields}}))
        self.assertTrue(await self.until(lambda: owner.chat.sent))
        self.assertEqual(owner.chat.sent, [("#pubbot", "echo old", "say")])
        self.assertEqual(owner.seen[-1].fields["network"], "irc")

    async def test_malformed_entries_are_logged_and_skipped(self):
        owner = Node(self, "owner", True)
        for junk in ("not json", "[1]", json.dumps({"id": 1}), json.dumps({"id": "x", "message": "no"}),
                     "{" * 5000, json.dumps({"id": "y", "message": {"topic": 5}})):
            await owner.command.execute("XADD", IN, "*", "m", junk)
        await owner.command.execute("XADD", IN, "*", "other", "field")
        for junk in ("nope", json.dumps({"key": "k", "network": "irc", "target": "#x", "text": 1,
                                         "kind": "say"}),
                     json.dumps({"key": "k2", "network": 5, "target": "#x", "text": "t", "kind": "say"})):
            await owner.command.execute("XADD", OUT, "*", "m", junk)
        await owner.say("!echo after")
        self.assertTrue(await self.until(lambda: owner.chat.sent == [("#pubbot", "echo after", "say")]))
        await self.settle()
        pending = await owner.command.execute("XPENDING", IN, WORKERS)
        self.assertEqual(pending[0], 0)
        self.assertEqual(owner.chat.sent, [("#pubbot", "echo after", "say")])
        self.flushLoggedErrors()

    async def test_messages_of_a_crashed_worker_are_claimed_and_answered_once(self):
        self.visibility = 1.0
        owner = Node(self, "owner", True, consume=False)
        doomed = Node(self, "doomed", False)
        await owner.say("!hang")
        self.assertTrue(await self.until(lambda: doomed.hanging))
        doomed.crash()
        # a fresh worker that answers "hang" lines
        survivor = Node(self, "survivor", False)
        survivor_hang = [h for h in survivor.bot.handlers if h.name == "hang"][0]
        survivor_hang.func = lambda msg: {"content": "handled after a crash"}
        survivor_hang.matcher = lambda msg: {} if msg.fields.get("command") == "hang" else None
        self.assertTrue(await self.until(lambda: owner.chat.sent, seconds=10))
        await self.settle(1.5)
        self.assertEqual(owner.chat.sent, [("#pubbot", "handled after a crash", "say")])

    async def test_redis_paused_owner_buffers_then_delivers_everything_once(self):
        owner = Node(self, "owner", True)
        worker = Node(self, "w", False)
        await owner.say("!echo before")
        self.assertTrue(await self.until(lambda: len(owner.chat.sent) == 1))
        self.server.pause()
        try:
            for i in range(20):
                await owner.say("!echo %d" % i)
                await deferLater(reactor, 0.1, lambda: None)
            self.assertGreater(owner.bot.state["cluster"]["buffered"], 0)
        finally:
            self.server.resume()
        self.assertTrue(await self.until(lambda: len(owner.chat.sent) == 21, seconds=20))
        await self.settle(1.0)
        texts = sorted(t for _, t, _ in owner.chat.sent)
        self.assertEqual(texts, sorted(["echo before"] + ["echo %d" % i for i in range(20)]))
        handled = sorted(owner.handled + worker.handled)
        self.assertEqual(handled, sorted(["before"] + [str(i) for i in range(20)]))
        self.assertEqual(owner.bus.dropped, 0)

    async def test_buffer_overflow_is_counted_and_logged(self):
        owner = Node(self, "owner", True, buffer=5)
        await owner.say("!echo first")
        self.assertTrue(await self.until(lambda: owner.chat.sent))
        self.server.kill()
        self.assertTrue(await self.until(lambda: not owner.bus.command.connected))
        for i in range(8):
            await owner.say("!echo %d" % i)
        self.assertEqual(owner.bus.dropped, 3)
        self.assertEqual(owner.bot.state["cluster"]["dropped"], 3)
        self.assertEqual(owner.bot.state["cluster"]["buffered"], 5)
        # Redis comes back (empty: it lost everything); the 5 buffered go through.
        self.server.start()
        self.assertTrue(await self.until(lambda: len(owner.chat.sent) == 6, seconds=30))
        self.assertEqual(sorted(t for _, t, _ in owner.chat.sent),
                         ["echo %d" % i for i in range(5)] + ["echo first"])

    async def test_fanout_shows_every_process_everything(self):
        owner = Node(self, "owner", True)
        worker = Node(self, "w", False)
        await self.until(lambda: owner.fanout.subscriber.connected and worker.fanout.subscriber.connected)
        await self.settle(0.3)
        for i in range(6):
            await owner.say("!echo %d" % i)
        self.assertTrue(await self.until(lambda: len(owner.chat.sent) == 6))
        await self.settle(0.5)
        for node in (owner, worker):
            self.assertEqual(sorted(m.fields["content"] for m in node.seen),
                             sorted("!echo %d" % i for i in range(6)), node.name)
            self.assertEqual(len(node.sent_seen), 6, node.name)
        worker.bus.broadcast(Message("status.now", {"x": 1}))
        self.assertTrue(await self.until(lambda: owner.broadcasts))
        self.assertEqual(owner.broadcasts[0].topic, "status.now")
        self.assertEqual(len(worker.broadcasts), 1)

    async def test_cluster_state(self):
        owner = Node(self, "owner", True)
        Node(self, "w", False)
        await self.server_command_async("SET", "pubbot:bus:lease:irc", "owner#abc")
        self.assertTrue(await self.until(lambda: owner.bot.state["cluster"].get("workers") == 2))
        self.assertTrue(await self.until(lambda: owner.bot.state["cluster"].get("owner") == "owner"))
        state = owner.bot.state["cluster"]
        self.assertEqual(state["redis"], "up")
        self.assertEqual(state["process"], "owner")
        self.assertIsNone(state["bus_lag"])

    async def server_command_async(self, *args):
        return self.redis(*args)

    async def test_bus_lag_is_the_age_of_the_oldest_waiting_message(self):
        owner = Node(self, "owner", True, consume=False)
        await owner.say("!echo nobody handles this")
        self.assertTrue(await self.until(lambda: (owner.bot.state["cluster"].get("bus_lag") or 0) >= 0.5))

    async def test_nothing_crashes_while_redis_is_down(self):
        owner = Node(self, "owner", True)
        worker = Node(self, "w", False)
        self.server.kill()
        await self.settle(1.0)
        await owner.say("!echo while down")
        worker.bot.send("irc", "#pubbot", "from worker while down")
        owner.bus.broadcast(Message("x.y", {}))
        await self.settle(1.0)
        self.assertEqual(owner.bot.state["cluster"]["redis"], "down")
        self.server.start()
        self.assertTrue(await self.until(
            lambda: sorted(t for _, t, _ in owner.chat.sent) == ["echo while down", "from worker while down"],
            seconds=30))


class HelperTests(SynchronousTestCase):
    def test_entries(self):
        self.assertEqual(entries([["1-0", ["m", "x", "n", "y"]], ["2-0", None], "junk", ["3-0"]]),
                         [("1-0", {"m": "x", "n": "y"}), ("2-0", None)])
        self.assertEqual(entries(None), [])

    def test_backoff(self):
        b = Backoff(0.1, 1.0)
        self.assertEqual([b.next() for _ in range(6)], [0.1, 0.2, 0.4, 0.8, 1.0, 1.0])
        b.reset()
        self.assertEqual(b.next(), 0.1)


class HandOverBusTests(BusTestCase):
    async def test_replies_wait_for_the_new_owners_connection(self):
        owner = Node(self, "owner", True, consume=False)
        owner.chat.connected = False  # taking over: not registered on IRC yet
        Node(self, "w", False)
        await owner.say("!echo while connecting")
        await self.settle(1.5)
        self.assertEqual(owner.chat.sent, [])  # not dropped: waiting
        owner.chat.connected = True
        self.assertTrue(await self.until(lambda: owner.chat.sent, seconds=10))
        await self.settle(1.5)
        self.assertEqual(owner.chat.sent, [("#pubbot", "echo while connecting", "say")])

    async def test_a_new_owner_logs_the_window_nobody_read(self):
        former = Node(self, "former", True)
        self.assertTrue(await self.until(lambda: self.server.query("GET", OWNER_HEARD)))
        former.crash()
        successor = Node(self, "successor", False)
        successor.owner = True
        successor.bot.register_chat(successor.chat)
        successor.bus.owner_changed()
        self.assertTrue(await self.until(lambda: successor.bot.state["cluster"].get("last_gap")))
        gap = successor.bot.state["cluster"]["last_gap"]
        self.assertEqual(gap["former"], "former")
        self.assertLessEqual(gap["from"], gap["to"])
        self.assertTrue(await self.until(
            lambda: json.loads(self.server.query("GET", OWNER_HEARD))["owner"] == "successor"))
