"""IRC test helpers against a real ngircd: a human client, the test base."""

from __future__ import annotations

from twisted.internet import protocol, reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.task import deferLater
from twisted.logger import formatEvent
from twisted.trial.unittest import TestCase
from twisted.words.protocols import irc

import tests.support.servers.ngircd as ngircd_server
from pubbot.api import handler, parse_chat_text
from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.irc.service import IRCService
from pubbot.store.memory import MemoryStore

from .logs import capture_logs


class HumanClient(irc.IRCClient):
    """The second client: Twisted's IRCClient, recording what it hears."""

    def __init__(self, nick):
        self.nickname = nick
        self.heard: list[tuple[str, str, str]] = []
        self.joined_channels: set[str] = set()
        self.lost = Deferred()

    def joined(self, channel):
        self.joined_channels.add(channel)

    def privmsg(self, user, channel, message):
        self.heard.append((user.split("!")[0], channel, message))

    def noticed(self, user, channel, message):
        self.heard.append((user.split("!")[0], channel, message))

    def connectionLost(self, reason):
        super().connectionLost(reason)
        if not self.lost.called:
            self.lost.callback(None)


class Base(TestCase):
    timeout = 120
    cert = None

    def start_server(self, cert=None):
        self.ngircd = ngircd_server.NgircdServer(cert=cert, channels={"#secret": "sesame"}).start()
        self.addCleanup(self.ngircd.stop)

    def start_bot(self, handlers=(), **irc_config):
        config = {"server": "tcp:127.0.0.1:%d" % self.ngircd.port, "nick": "pubbot",
                  "channels": ["#pubbot", "#secret sesame"], "ping_interval": 20, "ping_timeout": 10}
        config.update(irc_config)
        self.settings = parse({"irc": config})
        self.bot = Bot(self.settings, reactor, MemoryStore(reactor))
        self.watcher = Watcher()
        for h in (echo, burst, self.watcher.handler, *handlers):
            self.bot.add_handler(h)
        self.bot.start()
        self.addCleanup(self.bot.stop)
        self.service = IRCService(self.bot, reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def capture_logs(self):
        self.logs = capture_logs(self)

    def log_text(self):
        return "\n".join(formatEvent(e) for e in self.logs)

    async def eventually(self, predicate, what, timeout=20.0):
        deadline = reactor.seconds() + timeout
        while not predicate():
            if reactor.seconds() > deadline:
                self.fail("timed out waiting for %s\nngircd log:\n%s" % (what, self.ngircd.log()))
            await deferLater(reactor, 0.05, lambda: None)

    async def bot_ready(self, channels=("#pubbot", "#secret")):
        def ready():
            nick = self.service.nick
            return self.service.connected and all(nick in self.service.roster(c) for c in channels)
        await self.eventually(ready, "the bot to join %s" % (channels,))

    async def human(self, nick="alice", channel="#pubbot"):
        factory = protocol.Factory.forProtocol(lambda: HumanClient(nick))
        client = await TCP4ClientEndpoint(reactor, "127.0.0.1", self.ngircd.port).connect(factory)
        self.addCleanup(self._drop, client)
        await self.eventually(lambda: client._registered, "%s to register" % nick)
        client.join(channel)
        await self.eventually(lambda: channel in client.joined_channels, "%s to join" % nick)
        return client

    @staticmethod
    def _drop(client):
        if client.transport is not None and client.transport.connected:
            client.transport.loseConnection()
            return client.lost


@parse_chat_text(r"^!echo (?P<text>.+)$", name="echo")
def echo(msg, text):
    return {"content": "echo: %s (from %s%s)" % (text, msg.source, ", private" if msg.private else "")}


@parse_chat_text(r"^!burst$", name="burst")
def burst(msg):
    for i in range(50):
        msg.bot.send("irc", msg.channel, "burst line %02d" % i)


class Watcher:
    """Records the topics the bot publishes."""

    def __init__(self):
        self.topics = []

    @property
    def handler(self):
        @handler(subscribe=["chat.irc.#"], name="watcher")
        def watch(msg):
            self.topics.append((msg.topic, msg.fields.get("source"), msg.fields.get("kind")))
        return watch
