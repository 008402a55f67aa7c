"""!reload in every process of a cluster: the fan-out carries the request and each process's outcome."""

import os
import sys
import textwrap
from dataclasses import replace

from twisted.internet.defer import succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.cluster.fanout import FanOut
from pubbot.cluster.reloads import ClusterReload
from pubbot.core.interfaces import IReloadPeers
from pubbot.loader import load_handlers
from pubbot.plugins import core
from pubbot.reload import PeerReport, everywhere
from pubbot.testing import Harness

from .test_reload import V1, V2

MODULE = "pubbot.plugins.hotreload"


class PubSub:
    """Redis's PUBLISH in memory: every fan-out subscribed hears each message, its sender too."""

    def __init__(self):
        self.fanouts = []
        self.published = []

    def execute(self, command, channel, payload):
        assert command == "PUBLISH", command
        self.published.append(payload)
        for fanout in list(self.fanouts):
            fanout.received(channel, payload)
        return succeed(1)


class ClusterReloadTests(SynchronousTestCase):
    def setUp(self):
        self.dir = self.mktemp()
        self.dirs = []
        self.addCleanup(sys.modules.pop, MODULE, None)
        self.pubsub = PubSub()
        self.processes = []

    def write(self, text):
        """The drop-in as every process finds it (each its own copy, so none shares another's handlers)."""
        for directory in self.dirs:
            with open(os.path.join(directory, "hotreload.py"), "w") as f:
                f.write(textwrap.dedent(text))

    def process(self, name, connected=True, with_plugin=True):
        """One process of the cluster: a bot with the drop-in (or without), on the shared pub/sub."""
        directory = os.path.join(self.dir, name)
        os.makedirs(directory)
        with open(os.path.join(directory, "hotreload.py"), "w") as f:
            f.write(textwrap.dedent(V1))
        self.dirs.append(directory)
        paths = [directory] if with_plugin else []
        handlers = [h for h in load_handlers(paths) if h.name in ("hot", "tick")] if with_plugin else []
        h = Harness(*handlers, core.reload, config={"plugins": {"paths": paths, "admins": ["root"],
                                                                "timeout": 10.0}})
        h.bot.process_id = name
        fanout = FanOut(MemoryReactorClock(), "redis://127.0.0.1:6390/0", command=self.pubsub, origin=name)
        fanout.attach(h.bot)
        h.bot.reloader.peers = ClusterReload(h.bot, h.bot.reloader, fanout, h.clock)
        if connected:
            self.pubsub.fanouts.append(fanout)
        self.processes.append(h)
        return h

    def heartbeat(self):
        """Every process learns the live processes, as the bus's heartbeat tells them."""
        listed = [{"process": h.bot.process_id} for h in self.processes]
        for h in self.processes:
            h.bot.state["cluster"] = {"processes": listed}

    def reload(self, h):
        return h.reply("!reload hotreload", source="root", account="root")

    def test_interface(self):
        h = self.process("p1")
        self.assertTrue(verifyObject(IReloadPeers, h.bot.reloader.peers))

    def test_every_process_reloads_and_the_answer_counts_them(self):
        p1, p2, p3 = self.process("p1"), self.process("p2"), self.process("p3")
        self.heartbeat()
        for h in (p1, p2, p3):
            self.assertEqual(h.reply("!hot"), "v1")
        self.write(V2)
        self.assertEqual(self.reload(p2), "Reloaded hotreload in 3 processes: 2 handlers; commands !hot; "
                                          "jobs tick.")
        for h in (p1, p2, p3):
            self.assertEqual(h.reply("!hot"), "v2")
            self.assertEqual([x.name for x in h.bot.handlers].count("hot"), 1)
            h.clock.advance(10)
            self.assertEqual(h.bot.state["ticks"], ["v2"])  # the job runs the new code too

    def test_failures_are_named_and_the_others_still_reload(self):
        p1, p2 = self.process("p1"), self.process("p2")
        self.process("p3", with_plugin=False)
        self.heartbeat()
        self.write(V2)
        self.assertEqual(self.reload(p1), "Reloaded hotreload in 2 of 3 processes: 2 handlers; commands "
                                          "!hot; jobs tick. Failed in p3: I know no plugin 'hotreload'.")
        self.assertEqual(p2.reply("!hot"), "v2")

    def test_processes_not_answering_in_time_are_named(self):
        p1, p2 = self.process("p1"), self.process("p2")
        self.process("p3", connected=False)
        self.heartbeat()
        self.write(V2)
        d = p1.say("!reload hotreload", source="root", account="root")
        answers = []
        d.addCallback(answers.append)
        p1.clock.advance(4.9)
        self.assertEqual(answers, [])
        p1.clock.advance(0.1)
        self.assertEqual(list(answers[0].lines), ["Reloaded hotreload in 2 of 3 processes: 2 handlers; "
                                                  "commands !hot; jobs tick. No answer from p3."])
        self.assertEqual(p2.reply("!hot"), "v2")

    def test_a_broken_new_version_is_not_asked_of_the_others(self):
        p1, p2 = self.process("p1"), self.process("p2")
        self.heartbeat()
        self.write("def broken(:\n")
        self.assertTrue(self.reload(p1).startswith("Not reloaded: SyntaxError: "))
        self.assertEqual(self.pubsub.published, [])
        self.assertEqual(p2.reply("!hot"), "v1")
        self.flushLoggedErrors(SyntaxError)

    def test_alone_it_answers_at_once(self):
        p1 = self.process("p1")
        self.heartbeat()
        self.write(V2)
        self.assertEqual(self.reload(p1),
                         "Reloaded hotreload in 1 process: 2 handlers; commands !hot; jobs tick.")

    def test_the_wait_fits_in_the_handler_timeout(self):
        h = self.process("p1")
        peers = h.bot.reloader.peers
        self.assertEqual(peers.timeout(), 5.0)
        h.bot.settings = replace(h.bot.settings, plugins=replace(h.bot.settings.plugins, timeout=2.0))
        self.assertEqual(peers.timeout(), 1.6)

    def test_malformed_events_are_ignored(self):
        self.process("p1")
        p2 = self.process("p2")
        self.heartbeat()
        fanout = self.pubsub.fanouts[1]
        fanout.received("c", '{"kind": "reload", "origin": "x", "plugin": 5}')
        fanout.received("c", '{"kind": "reloaded", "origin": "x", "request": "nosuch", "ok": true}')
        self.assertEqual(self.pubsub.published, [])
        self.assertEqual(p2.reply("!hot"), "v1")


class AnswerTests(SynchronousTestCase):
    def test_bounded_names_and_errors(self):
        failed = tuple(("w%d" % i, "SyntaxError: " + "x" * 500) for i in range(5))
        text = everywhere("weather", "Reloaded weather: 1 handler.", PeerReport(("a",), failed, ("s1", "s2")))
        self.assertTrue(text.startswith("Reloaded weather in 2 of 9 processes: 1 handler. Failed in w0: "
                                        "SyntaxError: xxx"), text)
        self.assertIn("… and 2 more. No answer from s1, s2.", text.replace("w2: SyntaxError", ""))
        self.assertLess(len(text), 600)
        self.assertNotIn("w3", text)
