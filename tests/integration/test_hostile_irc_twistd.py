"""
The hostile IRC batteries against the real bot process: one real
C{twistd -n pubbot} (every built-in plugin loaded) connected to the hostile
IRC server of L{tests.support.hostile_irc}, which plays each flood in turn
on one connection and checks after each that the bot still answers a
command and every PING of the server's (it PINGs 4 times a second and
times the PONGs: a stalled reactor answers late, a dead one never). Then
ERROR without closing (the bot must close and come back by itself), and a
server refusing every nick (the bot must give up after a bounded number of
tries, and come back later).

What only the whole process shows: plugins, the bus, the store and the
web service all on one reactor, with the real twistd logging. The worst
PONG delay and the RSS growth are printed (bench/hostile_irc.py measures
them; no time is asserted here).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import TestCase

from pubbot.irc.registration import MAX_NICK_TRIES

from ..support.hostile_irc import FLOODS, HostileIRCServer, NickAlwaysTaken, Script
from ..support.scaleout import Pubbot


def rss_kib(pid: int) -> int:
    with open("/proc/%d/status" % (pid,)) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class HostileServerTests(TestCase):
    timeout = 600

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="pubbot-hostile-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.server = HostileIRCServer(reactor, Script(), max_seconds=60.0)
        self.addCleanup(self.server.stop)
        config = "\n".join([
            "[irc]",
            'server = "%s"' % (self.server.endpoint,),
            'channels = ["#pubbot"]',
            "[store]",
            "path = %s" % (json.dumps(os.path.join(self.directory, "store.sqlite")),),
            "[web]",
            'endpoint = ""',
        ]) + "\n"
        self.bot = Pubbot(self.directory, 0, config).start()
        self.addCleanup(self.stop_bot)

    def stop_bot(self):
        self.bot.stop()
        if os.environ.get("PUBBOT_SHOW_LOGS"):
            sys.stderr.write("---- pubbot log ----\n%s\n" % (self.bot.log()[-20000:],))

    async def until(self, predicate, what: str, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline or not self.bot.alive():
                self.fail("timed out waiting for %s (bot alive: %s)\n%s" % (
                    what, self.bot.alive(), self.bot.log()[-6000:]))
            await deferLater(reactor, 0.05, lambda: None)

    async def test_batteries_against_twistd(self):
        peer = await self.server.peer(0)
        await peer.welcomed
        await self.until(lambda: "#pubbot" in peer.channels, "the bot to join")
        await peer.ask("!ping", "pong", timeout=60)
        rss_before = rss_kib(self.bot.pid)
        for name, flood in FLOODS.items():
            pings_before = peer._ping_count
            answered_before = len(self.server.pong_delays)
            await peer.play([flood])
            await peer.ask("!ping", "pong", timeout=60)
            pinged = peer._ping_count - pings_before
            answered = len(self.server.pong_delays) - answered_before
            # every PING of ours was answered but the last few still in flight
            self.assertGreaterEqual(answered, pinged - 3, name)
            self.assertTrue(self.bot.alive(), name)
            sys.stderr.write("hostile battery %-14s worst PONG %.0f ms, RSS %+d KiB\n" % (
                name, self.server.worst_pong * 1000, rss_kib(self.bot.pid) - rss_before))
        self.assertEqual(len(self.server.peers), 1)  # one connection held through them all

        # ERROR without closing: the bot closes, and comes back; that server refuses every nick
        self.server.script = NickAlwaysTaken()
        peer.send(b"ERROR :Closing Link: (but the socket stays open)")
        await peer.lost
        self.assertTrue(peer.closed_by_client)
        refusing = await self.server.peer(1)
        await refusing.lost
        self.assertTrue(refusing.closed_by_client)
        self.assertLessEqual(refusing.counts["NICK"], MAX_NICK_TRIES + 1)
        self.server.script = Script()
        back = await self.server.peer(2)
        await back.welcomed
        await self.until(lambda: "#pubbot" in back.channels, "the bot to join again")
        await back.ask("!ping", "pong", timeout=60)
        log = self.bot.log()
        self.assertNotIn("Traceback", log)
        self.assertIn("refused %d nicks" % (MAX_NICK_TRIES,), log)
