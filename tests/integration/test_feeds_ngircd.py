"""
A feed of the config file (C{[[feeds]]}) on a real ngircd, a real local
web server, the real SQLite store and the real parser process: its first
poll records what is there, a new entry is announced in the channel once,
and a restarted bot does not announce it again.
"""

from __future__ import annotations

import os

from twisted.internet import reactor
from twisted.web.resource import Resource

from pubbot.api import every
from pubbot.core.bot import Bot
from pubbot.feeds.poller import SEEN_PREFIX, feed_id
from pubbot.irc.service import IRCService
from pubbot.plugins import feeds as feeds_module
from pubbot.plugins import links as links_module
from pubbot.store.sqlite import SQLiteStore
from pubbot.testing import make_settings

from ..support.linkserver import WebServer
from ..support.ngircd import Base


def rss(*items):
    body = "".join("<item><title>%s</title><link>http://example.org/%s</link><guid>%s</guid></item>"
                   % (t, i, i) for i, t in items)
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>%s</channel></rss>'
            % (body,)).encode("utf-8")


class FeedResource(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.body = rss(("1", "First"))
        self.requests = 0

    def render_GET(self, request):
        self.requests += 1
        request.setHeader(b"content-type", b"application/rss+xml")
        return self.body


class ConfigFeedTests(Base):
    def setUp(self):
        self.feed = FeedResource()
        root = Resource()
        root.putChild(b"feed.xml", self.feed)
        self.web = WebServer(reactor, root=root)
        self.addCleanup(self.web.stop)
        self.url = self.web.url("/feed.xml")
        self.path = os.path.abspath(self.mktemp())

    async def run_bot(self):
        """A bot on the same SQLite file (a restart); returns its plugin and a way to stop it all."""
        config = {"irc": {"server": "tcp:127.0.0.1:%d" % self.ngircd.port, "nick": "pubbot",
                          "channels": ["#news"]},
                  "links": {"allow": ["127.0.0.1"]},
                  "feeds": [{"url": self.url, "channels": ["#news"], "interval": 300.0}]}
        store = SQLiteStore(self.path, reactor)
        bot = Bot(make_settings(config, feeds_module, links_module), reactor, store)
        plugin = feeds_module.Feeds(reactor=reactor)
        bot.add_handler(plugin)
        bot.add_handler(every(0.2)(feeds_module.poll_feeds.func))  # the plugin's job, ticking faster
        bot.start()
        service = IRCService(bot, reactor)
        service.startService()
        self.service = service
        stopped = []

        async def stop():
            if not stopped:  # once: by the test, or by its clean-up when it failed first
                stopped.append(True)
                await service.stopService()
                await bot.stop()
                store.close()
        self.addCleanup(stop)
        await self.bot_ready(("#news",))
        return store, plugin, stop

    async def polled_once(self, plugin, before):
        await self.eventually(lambda: self.feed.requests > before and not plugin.poller.polling,
                              "a poll of the feed")

    async def test_announced_once_across_restarts(self):
        self.start_server()
        reader = await self.human("reader", "#news")
        store, plugin, stop = await self.run_bot()
        (configured,) = plugin.poller.configured
        self.assertEqual((configured.url, configured.places), (self.url, [("irc", "#news")]))
        await self.polled_once(plugin, 0)  # the first poll only records what is there
        self.assertEqual(len(await store.smembers(SEEN_PREFIX + feed_id(self.url))), 1)
        await stop()

        self.feed.body = rss(("2", "Second"), ("1", "First"))
        store, plugin, stop = await self.run_bot()
        line = "Second http://example.org/2"
        await self.eventually(lambda: any(h[1:] == ("#news", line) for h in reader.heard), "the announcement")
        await stop()

        before = self.feed.requests
        store, plugin, stop = await self.run_bot()
        await self.polled_once(plugin, before)
        self.service.bot.send("irc", "#news", "after the poll")  # what the poll said arrives before this
        await self.eventually(lambda: any(h[2] == "after the poll" for h in reader.heard), "the marker")
        await stop()
        self.assertEqual([h[2] for h in reader.heard if "example.org" in h[2]], [line])
