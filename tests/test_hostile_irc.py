"""
The real bot (L{Bot} and its L{IRCService}, on the real reactor) against
the hostile IRC server of L{tests.support.hostile_irc}: after each flood it
still answers, and what it keeps from the server stays bounded. No timing
is asserted here (bench/hostile_irc.py measures the stalls).
"""

from __future__ import annotations

import pytest
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import formatEvent
from twisted.trial.unittest import TestCase

from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.irc import caps as capsmod
from pubbot.irc import isupport as isupportmod
from pubbot.irc import registration, roster
from pubbot.irc.service import BAD_LINE_LOGS, IRCService
from pubbot.plugins.core import ping
from pubbot.plugins.greet import greeter
from pubbot.store.memory import MemoryStore

from .support.hostile_irc import (
    FLOODS,
    Battery,
    EndlessCapLs,
    ErrorWithoutClose,
    HostileIRCServer,
    NeverPong,
    NickAlwaysTaken,
    Script,
)
from .support.logs import capture_logs

#: The real reactor and sockets in real time (a refused nick waits out the
#: throttle, ~30 s): the full loop runs these, tox -e unit does not.
pytestmark = pytest.mark.integration


class Base(TestCase):
    timeout = 120

    def start(self, script: Script, **irc) -> None:
        self.server = HostileIRCServer(reactor, script)
        self.addCleanup(self.server.stop)
        config = {"server": self.server.endpoint, "channels": ["#pubbot"], "nick": "pubbot"}
        config.update(irc)
        self.bot = Bot(parse({"irc": config}), reactor, MemoryStore(reactor))
        self.bot.add_handler(ping)
        self.bot.add_handler(greeter)
        self.bot.start()
        self.addCleanup(self.bot.stop)
        self.service = IRCService(self.bot, reactor)
        self.logs = capture_logs(self)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def log_text(self) -> str:
        return "\n".join(formatEvent(e) for e in self.logs)

    async def joined(self):
        peer = await self.server.peer(0)
        await peer.welcomed
        for _ in range(3000):
            if "#pubbot" in peer.channels and "#pubbot" in self.service.rosters.channels:
                return peer
            await deferLater(reactor, 0.01, lambda: None)
        self.fail("the bot did not join #pubbot")

    async def flood(self, name: str):
        """Connect, join, play the flood C{name}; the bot still answers."""
        self.start(Script())
        peer = await self.joined()
        await peer.play([FLOODS[name]])
        await peer.ask("!ping", "pong")
        self.assertTrue(self.service.current.transport.connected)
        self.assertEqual(len(self.server.peers), 1)  # never dropped on the way
        return peer


class FloodTests(Base):
    async def test_huge_and_malformed_lines(self):
        await self.flood("huge_lines")
        self.assertGreater(self.service.bad_lines, 100)
        self.assertIn("dropped a line from the server", self.log_text())

    async def test_bad_utf8(self):
        await self.flood("bad_utf8")
        self.assertNotIn("#pub\ufffdbot", self.service.rosters.channels)

    async def test_joins_for_channels_never_joined(self):
        peer = await self.flood("foreign_joins")
        channels = list(self.service.rosters.channels)
        self.assertFalse([c for c in channels if c.startswith("#never")])
        # The server forced us into 3000 channels: the roster keeps a bounded number.
        self.assertLessEqual(len(channels), roster.MAX_CHANNELS)
        self.assertLessEqual(len(self.service.rosters.users), roster.MAX_USERS)
        greetings = [p for c, p in peer.lines if c == "PRIVMSG" and p and p[0].startswith("#never")]
        self.assertEqual(greetings, [])

    async def test_batch_that_never_ends(self):
        await self.flood("endless_batch")

    async def test_isupport_flood(self):
        await self.flood("isupport_flood")
        self.assertLessEqual(len(self.service.isupport.raw), isupportmod.MAX_TOKENS)

    async def test_line_of_a_megabyte_without_newline(self):
        await self.flood("megaline")
        self.assertIn("longer than", self.log_text())
        self.assertLess(len(self.service.current._buffer), 16 * 1024)

    async def test_lines_without_crlf(self):
        await self.flood("no_crlf")

    async def test_capability_flood(self):
        await self.flood("cap_flood")
        caps = self.service.state.caps
        self.assertLessEqual(len(caps.available), capsmod.MAX_CAPS)
        self.assertLessEqual(caps.enabled, capsmod.WANTED)

    async def test_ctcp_flood(self):
        peer = await self.flood("ctcp_flood")
        answers = [p for c, p in peer.lines if c == "NOTICE" and p and p[-1].startswith("\x01")]
        self.assertLessEqual(len(answers), 6)  # 6 per 30 s overall
        self.assertGreater(self.service.ctcp_refused, 10000)
        refused = [e for e in self.logs if "not answered (rate limit" in formatEvent(e)]
        self.assertLessEqual(len(refused), BAD_LINE_LOGS)

    async def test_server_chatter(self):
        peer = await self.flood("server_chatter")
        text = self.log_text()
        for kind, said in (("invited", "invited us to"), ("kicked", "kicked from"),
                           ("join-error", "cannot join"), ("cap-del", "withdrew capabilities"),
                           ("standard-reply", "server says FAIL"),
                           ("sts-malformed", "ignoring a malformed STS policy")):
            self.assertLessEqual(text.count(said), BAD_LINE_LOGS, kind)
            self.assertGreater(self.service.unlogged[kind], 3000, kind)
        # Kicked from 3,333 channels never wanted: none is rejoined.
        self.assertEqual([c for c in self.service._rejoins if c.startswith("#kick")], [])
        self.assertEqual([p for c, p in peer.lines if c == "JOIN" and p and p[0].startswith("#kick")], [])

    async def test_ping_flood_while_not_reading_the_pongs(self):
        from .support.hostile_irc import ping_flood
        self.start(Script(), ping_interval=2.0, ping_timeout=2.0)
        peer = await self.joined()
        protocol = self.service.current
        transport = protocol.transport
        biggest = [0]

        def unsent():
            return len(transport.dataBuffer) - transport.offset + transport._tempDataLen
        from twisted.internet.task import LoopingCall
        watch = LoopingCall(lambda: biggest.__setitem__(0, max(biggest[0], unsent())))
        watch.start(0.005)
        self.addCleanup(lambda: watch.stop() if watch.running else None)
        peer.play([ping_flood(100000)]).addErrback(lambda f: None)  # 21 MB of PINGs, PONGs unread
        await peer.lost  # the bot stopped reading a server that does not read, then timed it out
        watch.stop()
        self.assertTrue(peer.closed_by_client)
        self.assertTrue(protocol.writes_blocked)
        self.assertLess(biggest[0], 2 * 1024 * 1024)  # what it had not sent stayed bounded
        self.assertIn("the server is not reading what we send", self.log_text())
        again = await self.server.peer(1)
        await again.welcomed

    async def test_every_flood_in_one_battery(self):
        self.start(Battery(list(FLOODS)))
        peer = await self.server.peer(0)
        await peer.welcomed
        await peer.played
        await self.joined()
        await peer.ask("!ping", "pong")
        self.assertEqual(len(self.server.peers), 1)


class RegistrationTests(Base):
    async def test_every_nick_refused(self):
        self.start(NickAlwaysTaken())
        first = await self.server.peer(0)
        await first.lost  # the bot gave up on this connection itself
        self.assertFalse(first.registered)
        self.assertLessEqual(first.counts["NICK"], registration.MAX_NICK_TRIES + 1)
        self.assertIn("refused %d nicks" % (registration.MAX_NICK_TRIES,), self.log_text())
        await self.server.peer(1)  # and came back later

    async def test_capability_list_without_end(self):
        self.start(EndlessCapLs())
        first = await self.server.peer(0)
        await first.lost
        self.assertTrue(first.closed_by_client)
        self.assertIn("capability list", self.log_text())
        self.assertLessEqual(len(self.service.state.caps.available), capsmod.MAX_CAPS)
        await self.server.peer(1)

    async def test_error_without_close(self):
        self.start(ErrorWithoutClose())
        first = await self.server.peer(0)
        await first.lost
        self.assertTrue(first.closed_by_client)
        await self.server.peer(1)

    async def test_server_that_never_answers_ping(self):
        self.start(NeverPong(), ping_interval=0.3, ping_timeout=0.3)
        first = await self.server.peer(0)
        await first.welcomed
        await first.lost
        self.assertTrue(first.closed_by_client)
        self.assertIn("no reply from the server", self.log_text())
        await self.server.peer(1)
