"""
Several networks in one daemon, against real servers: two real ngircd
servers started here on free loopback ports, one real C{twistd -n pubbot}
process configured with both ([irc] and [networks.two]), and a real client
in C{#pubbot} on each server.

- the bot joins #pubbot on both; each client's command is answered on its
  own network only (the same channel name on both: routing is by network);
- /status and /metrics show both networks;
- SIGKILL one server: the other network goes on answering, /metrics says
  which one is down; the killed one, restarted on the same port, gets the
  bot back by itself (rejoined, answering).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import urllib.request

from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase

from ..support.scaleout import CHANNEL, Observer, Pubbot, other_plugins
from ..support.servers import free_port
from ..support.servers.ngircd import NgircdServer

PLUGIN = '''
from pubbot.api import command


@command("where", args=r"(?P<text>\\w+)")
def networks_where(msg, text):
    return {"content": "%s heard on %s (%s)" % (text, msg.network, msg.protocol)}
'''


class TwoNetworksTests(TestCase):
    timeout = 240

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="pubbot-networks-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        plugins = os.path.join(self.directory, "plugins")
        os.makedirs(plugins)
        with open(os.path.join(plugins, "networks_test_plugin.py"), "w") as f:
            f.write(PLUGIN)
        self.one = NgircdServer(name="irc.one.test").start()
        self.addCleanup(self.one.stop)
        self.two = NgircdServer(name="irc.two.test").start()
        self.addCleanup(self.two.stop)
        self.web_port = free_port()
        config = "\n".join([
            "[irc]",
            'server = "tcp:127.0.0.1:%d"' % self.one.port,
            'channels = ["%s"]' % CHANNEL,
            "[networks.two]",
            'server = "tcp:127.0.0.1:%d"' % self.two.port,
            'nick = "pubbot2"',
            'channels = ["%s"]' % CHANNEL,
            "[plugins]",
            "paths = [%s]" % json.dumps(plugins),
            "disabled = %s" % json.dumps(other_plugins()),
            "[web]",
            'endpoint = "tcp:%d:interface=127.0.0.1"' % self.web_port,
        ]) + "\n"
        self.bot = Pubbot(self.directory, 0, config).start()
        self.addCleanup(self.stop_bot)

    def stop_bot(self):
        self.bot.stop()
        if os.environ.get("PUBBOT_SHOW_LOGS"):  # for debugging a failure
            sys.stderr.write("---- pubbot log ----\n%s\n" % (self.bot.log(),))

    async def until(self, predicate, what: str, seconds: float = 30.0, step: float = 0.05) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                self.fail("timed out waiting for %s\n---- pubbot log ----\n%s" % (
                    what, self.bot.log()[-6000:]))
            await deferLater(reactor, step, lambda: None)

    async def person(self, server: NgircdServer, nick: str) -> Observer:
        client = Observer(nick)
        protocol = await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", server.port), client)
        self.addCleanup(lambda: protocol.transport.loseConnection() if protocol.transport else None)
        await self.until(lambda: client.in_channel, "%s to join %s" % (nick, CHANNEL), 10)
        return client

    async def get(self, path: str) -> bytes:
        url = "http://127.0.0.1:%d%s" % (self.web_port, path)

        def fetch() -> bytes:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()
        return await deferToThread(fetch)

    async def ask(self, person: Observer, text: str, answer: str, seconds: float = 30.0) -> None:
        """C{person} says C{!where text} until the bot's answer is heard (it may still be joining)."""
        deadline = time.monotonic() + seconds
        while not any(h[2] == answer for h in person.heard):
            if time.monotonic() > deadline:
                self.fail("%s never heard %r\n---- pubbot log ----\n%s" % (
                    person.nick, answer, self.bot.log()[-6000:]))
            person.say("!where " + text)
            for _ in range(40):
                if any(h[2] == answer for h in person.heard):
                    break
                await deferLater(reactor, 0.05, lambda: None)

    async def connected(self) -> dict:
        """{network: connected} from /status."""
        status = json.loads(await self.get("/status"))
        return {c["network"]: c["connected"] for c in status["connections"]}

    async def status_is(self, expected: dict, seconds: float = 20.0) -> None:
        deadline = time.monotonic() + seconds
        while (found := await self.connected()) != expected:
            if time.monotonic() > deadline:
                self.fail("/status says %r, not %r" % (found, expected))
            await deferLater(reactor, 0.2, lambda: None)

    async def test_two_networks_each_answered_on_its_own_and_one_outage_leaves_the_other(self):
        alice = await self.person(self.one, "alice")
        bob = await self.person(self.two, "bob")
        # the bot joins #pubbot on both servers (as pubbot on one, pubbot2 on two) and answers there
        await self.ask(alice, "first", "first heard on irc (irc)", seconds=60)
        await self.ask(bob, "second", "second heard on two (irc)", seconds=60)
        await deferLater(reactor, 0.5, lambda: None)
        # each answer went to its own network only, by the bot's nick there
        self.assertEqual({(n, t) for _, n, t in alice.heard}, {("pubbot", "first heard on irc (irc)")})
        self.assertEqual({(n, t) for _, n, t in bob.heard}, {("pubbot2", "second heard on two (irc)")})
        # /status and /metrics show both
        self.assertEqual(await self.connected(), {"irc": True, "two": True})
        metrics = (await self.get("/metrics")).decode()
        self.assertIn('pubbot_connected{network="two",protocol="irc"} 1.0', metrics)
        self.assertIn('pubbot_connected{network="irc",protocol="irc"} 1.0', metrics)

        # the second server dies: the first network goes on
        self.two.kill()
        await self.until(lambda: bob.transport is None or not bob.transport.connected,
                         "bob to lose his server", 10)
        await self.ask(alice, "alone", "alone heard on irc (irc)")
        await self.status_is({"irc": True, "two": False})
        metrics = (await self.get("/metrics")).decode()
        self.assertIn('pubbot_connected{network="two",protocol="irc"} 0.0', metrics)

        # back on the same port: the bot reconnects and rejoins by itself
        self.two.start()
        carol = await self.person(self.two, "carol")
        await self.ask(carol, "again", "again heard on two (irc)", seconds=90)
        await self.status_is({"irc": True, "two": True})
        await self.ask(alice, "still", "still heard on irc (irc)")
        self.assertNotIn("again heard on two (irc)", [t for _, _, t in alice.heard])
        self.assertNotIn("still heard on irc (irc)", [t for _, _, t in carol.heard])
