"""Feeds: parsing bounded, each entry announced once (across processes and restarts), admins only."""

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.resource import Resource
from zope.interface.verify import verifyObject

from pubbot.api import IHandler
from pubbot.feeds.parse import MAX_ENTRIES, FeedError, entries
from pubbot.feeds.parsers import FeedParsers, parse_feed
from pubbot.feeds.poller import MAX_FEEDS, TICK, Feed, FeedPoller
from pubbot.plugins import feeds as feeds_module
from pubbot.plugins.feeds import Feeds, feed_add, feed_del, feed_list
from pubbot.store.memory import MemoryStore
from pubbot.testing import Harness

from .support.linkserver import WebServer, async_test


def rss(*items, title="News"):
    body = "".join("<item><title>%s</title><link>http://example.org/%s</link><guid>%s</guid></item>"
                   % (t, i, i) for i, t in items)
    return ('<?xml version="1.0"?><rss version="2.0"><channel><title>%s</title>%s</channel></rss>'
            % (title, body)).encode("utf-8")


ATOM = b"""<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>
<entry><title>Atom one</title><id>tag:a,1</id><link href="https://a.example/1"/></entry></feed>"""
RDF = b"""<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"
xmlns="http://purl.org/rss/1.0/"><channel rdf:about="x"><title>R</title></channel>
<item rdf:about="http://r.example/1"><title>RDF one</title><link>http://r.example/1</link></item></rdf:RDF>"""


class ParseTests(SynchronousTestCase):
    def test_rss_atom_and_rdf(self):
        self.assertEqual([(e.title, e.link) for e in entries(rss(("1", "First"), ("2", "Second")))],
                         [("First", "http://example.org/1"), ("Second", "http://example.org/2")])
        self.assertEqual([(e.title, e.link) for e in entries(ATOM)], [("Atom one", "https://a.example/1")])
        self.assertEqual([(e.title, e.link) for e in entries(RDF)], [("RDF one", "http://r.example/1")])

    def test_ids_are_stable_and_texts_one_line(self):
        (entry,) = entries(rss(("1", "evil&#13;&#10;QUIT :bye\x03" + "x" * 500)))
        self.assertEqual(entry, entries(rss(("1", "evil&#13;&#10;QUIT :bye\x03" + "x" * 500)))[0])
        self.assertNotIn("\r", entry.title)
        self.assertNotIn("\n", entry.title)
        self.assertLessEqual(len(entry.title), 200)

    def test_hostile_documents(self):
        laughs = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                  b"<rss><channel><item><title>&b;</title></item></channel></rss>")
        with self.assertRaises(FeedError):
            entries(laughs)
        with self.assertRaises(FeedError):
            entries(b"<html><body>not a feed</body></html>\x00\xff")
        many = entries(rss(*[(str(i), "t%d" % i) for i in range(MAX_ENTRIES * 3)]))
        self.assertEqual(len(many), MAX_ENTRIES)
        links = entries(b'<rss><channel><item><title>x</title><link>javascript:alert(1)</link>'
                        b'<guid>g</guid></item></channel></rss>')
        self.assertEqual(links[0].link, "")


class FeedResource(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.body = rss(("1", "First"))
        self.kind = b"application/rss+xml"

    def render_GET(self, request):
        request.setHeader(b"content-type", self.kind)
        return self.body


class PollingTests(TestCase):
    """Against a real local web server; two bots on one store stand for two processes."""

    def setUp(self):
        self.feed = FeedResource()
        root = Resource()
        root.putChild(b"feed.xml", self.feed)
        self.server = WebServer(reactor, root=root)
        self.addCleanup(self.server.stop)
        self.store = MemoryStore(reactor)

    def bot(self, allow=("127.0.0.1",)):
        plugin = Feeds(reactor=reactor)
        h = Harness(plugin, feed_add, feed_del, feed_list, store=self.store,
                    config={"links": {"allow": list(allow)}, "plugins": {"admins": ["root"]}})
        self.addCleanup(plugin.stop)
        return h, plugin.poller

    @async_test
    async def test_each_entry_once_across_processes_and_restarts(self):
        one, poller = self.bot()
        two, other = self.bot()
        url = self.server.url("/feed.xml")
        self.assertIn("OK, following", (await one.say("!feed add %s #news every 10m" % (url,),
                                                      account="root")).lines[0])
        (feed,) = await poller.feeds()
        self.assertEqual((feed.places, feed.interval), ([("irc", "#news")], 600.0))
        self.assertEqual(await poller.poll(feed), 0)  # the first poll records what is there
        self.feed.body = rss(("3", "Third"), ("2", "Second"), ("1", "First"))  # newest first, as feeds list
        results = [await poller.poll(feed), await other.poll(feed)]
        self.assertEqual(sorted(results), [0, 2])
        said = [text for _, text, _ in one.sent + two.sent if "example.org" in text]
        self.assertEqual(said, ["Second http://example.org/2\nThird http://example.org/3"])
        restarted, again = self.bot()
        self.assertEqual(await again.poll(feed), 0)

    @async_test
    async def test_a_filter_and_the_list(self):
        h, poller = self.bot()
        url = self.server.url("/feed.xml")
        await h.say("!feed add %s only release" % (url,), account="root", channel="#dev")
        (feed,) = await poller.feeds()
        await poller.poll(feed)
        self.feed.body = rss(("1", "First"), ("2", "Release 2.0"), ("3", "chatter"))
        self.assertEqual(await poller.poll(feed), 1)
        listed = (await h.say("!feed list", account="root")).lines
        self.assertEqual(listed, ("%s %s -> #dev every 15m only /release/" % (feed.id, url),))
        removed = await h.say("!feed del %s" % (feed.id,), account="root")
        self.assertIn("no longer following", removed.lines[0])
        self.assertEqual(await poller.feeds(), [])

    @async_test
    async def test_admins_only_and_bad_input(self):
        h, poller = self.bot()
        self.assertIn("only admins", (await h.say("!feed add http://example.org/x", source="eve")).lines[0])
        self.assertIn("can't follow", (await h.say("!feed add ftp://x/y", account="root")).lines[0])
        self.assertIn("at most often", (await h.say("!feed add http://a.example/ every 1m",
                                                    account="root")).lines[0])
        self.assertIn("won't do", (await h.say("!feed add http://a.example/ only (?<=x)y",
                                               account="root")).lines[0])
        # channels as the config's [[feeds]] takes them: no commas or control characters, at most 20
        self.assertEqual((await h.say("!feed add http://a.example/ #a,#b", account="root")).lines[0],
                         "Not followed: the feed has a bad channel '#a,#b' (want \"#name\", or "
                         "\"#name@network\" on another network).")
        self.assertIn("bad channel '#a\\x07b'", (await h.say("!feed add http://a.example/ #a\x07b",
                                                             account="root")).lines[0])
        many = " ".join("#c%d" % i for i in range(21))
        self.assertEqual((await h.say("!feed add http://a.example/ " + many, account="root")).lines[0],
                         "Not followed: the feed has 21 channels; at most 20.")
        self.assertEqual(await poller.feeds(), [])

    @async_test
    async def test_private_addresses_and_broken_feeds_are_logged_not_fatal(self):
        h, poller = self.bot(allow=())
        url = self.server.url("/feed.xml")
        feed = Feed(url, [("irc", "#news")])
        self.assertEqual(await poller.poll(feed), 0)  # loopback refused by the fetcher's policy
        self.assertEqual(poller.failures[feed.id], 1)
        self.assertEqual(self.server.site.connections, {})
        h2, allowed = self.bot()
        self.feed.body = b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'a'>]><rss/>"
        self.assertEqual(await allowed.poll(feed), 0)
        self.assertEqual(allowed.failures[feed.id], 1)

    @async_test
    async def test_due_feeds_are_polled_by_the_tick_a_few_at_a_time(self):
        h, poller = self.bot()
        url = self.server.url("/feed.xml")
        await h.say("!feed add %s #news every 5m" % (url,), account="root")
        await poller.tick()
        self.assertEqual(len(poller.running), 1)
        while poller.running:
            await deferLater(reactor, 0.01, lambda: None)
        (feed,) = await poller.feeds()
        seen = await self.store.smembers("feeds:seen:" + feed.id)
        self.assertEqual(seen, {e.id for e in entries(self.feed.body)})
        self.assertEqual(poller.next_at[feed.id], h.clock.seconds() + 300)
        await poller.tick()  # not due again yet
        self.assertEqual(poller.running, set())
        h.clock.advance(300)
        await poller.tick()
        self.assertEqual(poller.running, {feed.id})

    def test_interfaces(self):
        self.assertTrue(verifyObject(IHandler, feeds_module.feeds))

    def test_poller_is_a_feed_poller(self):
        self.assertIsInstance(self.bot()[1], FeedPoller)


class WorkerTests(TestCase):
    """Parsing in a process of its own: the real child, its deadline, its refusals."""

    @async_test
    async def test_a_feed_parsed_in_a_child_process(self):
        found = await parse_feed(reactor, rss(("2", "Second"), ("1", "First")))
        self.assertEqual([(e.title, e.link) for e in found],
                         [("Second", "http://example.org/2"), ("First", "http://example.org/1")])
        self.assertEqual(found, entries(rss(("2", "Second"), ("1", "First"))))

    @async_test
    async def test_what_the_parser_refuses_is_a_feed_error(self):
        with self.assertRaises(FeedError) as e:
            await parse_feed(reactor, b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'a'>]><rss/>")
        self.assertIn("entities", str(e.exception))

    @async_test
    async def test_a_parse_past_its_deadline_is_killed(self):
        import sys
        slow = [sys.executable, "-c", "import time; time.sleep(60)"]
        with self.assertRaises(FeedError) as e:
            await parse_feed(reactor, b"<rss/>", timeout=0.2, argv=slow)
        self.assertIn("took more than 0.2s", str(e.exception))

    @async_test
    async def test_a_child_that_floods_its_output_is_stopped(self):
        import sys
        loud = [sys.executable, "-c", "import sys\nwhile True: sys.stdout.write('x' * 65536)"]
        with self.assertRaises(FeedError) as e:
            await parse_feed(reactor, b"<rss/>", timeout=10, argv=loud)
        self.assertIn("said more than", str(e.exception))

    @async_test
    async def test_stopping_kills_what_runs_and_waits_for_it(self):
        import sys
        slow = [sys.executable, "-c", "import time; time.sleep(60)"]
        parsers = FeedParsers(reactor, timeout=30, argv=slow)
        parsing = parsers.parse(b"<rss/>")
        await deferLater(reactor, 0.2, lambda: None)
        started = reactor.seconds()
        await parsers.stop()
        self.assertLess(reactor.seconds() - started, 5)  # killed, not waited for
        self.assertEqual(parsers.live, set())
        with self.assertRaises(FeedError) as e:
            await parsing
        self.assertIn("was stopped", str(e.exception))


class StoppingTests(TestCase):
    """A bot stopping in the middle of a poll leaves no process, connection or timer behind."""

    @async_test
    async def test_a_poll_under_way_is_cancelled_by_stop(self):
        import sys
        feed = FeedResource()
        root = Resource()
        root.putChild(b"feed.xml", feed)
        server = WebServer(reactor, root=root)
        self.addCleanup(server.stop)
        plugin = Feeds(reactor=reactor)
        h = Harness(plugin, feed_add, store=MemoryStore(reactor),
                    config={"links": {"allow": ["127.0.0.1"]}, "plugins": {"admins": ["root"]}})
        plugin.parsers.argv = [sys.executable, "-c", "import time; time.sleep(60)"]
        await h.say("!feed add %s #news" % (server.url("/feed.xml"),), account="root")
        plugin.poller.tick()
        for _ in range(50):  # until its parser runs
            if plugin.parsers.live:
                break
            await deferLater(reactor, 0.1, lambda: None)
        self.assertEqual((len(plugin.poller.polling), len(plugin.parsers.live)), (1, 1))
        parsers = plugin.parsers
        await plugin.stop()
        self.assertEqual(parsers.live, set())
        self.assertFalse([text for _, text, _ in h.sent if "example.org" in text])


class Pages:
    """The poller's fetcher, answering from memory (the real one is tested above); C{held} URLs never do."""

    def __init__(self):
        self.bodies = {}
        self.held = set()
        self.fetched = []
        self.waiting = []

    def fetch(self, url):
        from twisted.internet.defer import Deferred, succeed

        from pubbot.links.fetch import Page
        self.fetched.append(url)
        if url in self.held:
            d = Deferred()
            self.waiting.append(d)
            return d
        body = self.bodies[url]
        return succeed(Page(url, 200, "application/rss+xml", len(body), body, True, None))


NEWS = "https://news.example/feed.xml"
DEV = "https://dev.example/atom.xml"
CONFIG = {"plugins": {"admins": ["root"]},
          "networks": {"oftc": {"server": "tcp:irc.oftc.example:6667"}},
          "feeds": [{"url": NEWS, "channels": ["#news", "#x@oftc"], "interval": 600.0},
                    {"url": DEV, "channels": ["#dev"], "filter": "release"}]}


class ConfigFeedTests(SynchronousTestCase):
    """[[feeds]] of the config file: the base of the list, polled by the job in the process that runs jobs."""

    def setUp(self):
        self.store = MemoryStore(None)
        self.pages = Pages()
        self.pages.bodies = {NEWS: rss(("1", "First")), DEV: rss(("a", "Release 1"))}

    def bot(self, config=CONFIG, store=None):
        from pubbot.api import every
        from pubbot.feeds.poller import TICK
        plugin = Feeds()
        job = every(TICK)(feeds_module.poll_feeds.func)  # a job of its own: several bots here
        h = Harness(plugin, job, feed_add, feed_del, feed_list, config=config, store=store or self.store)
        self.store._clock = h.clock
        plugin.poller.fetcher = self.pages
        return h, plugin

    def said(self, h):
        return [(network, target, text) for network, chat in sorted(h.chats.items())
                for target, text, _ in chat.sent if "example.org" in text]

    def test_config_feeds_are_listed_and_cannot_be_deleted_from_chat(self):
        h, plugin = self.bot()
        news, dev = plugin.poller.configured
        self.assertEqual((news.places, news.interval, dev.filter), ([("irc", "#news"), ("oftc", "#x")], 600.0,
                                                                      "release"))
        self.assertEqual(h.reply("!feed list", account="root").split("\n"), [
            "%s %s -> #news #x@oftc every 10m (config file)" % (news.id, NEWS),
            "%s %s -> #dev every 15m only /release/ (config file)" % (dev.id, DEV)])
        self.assertEqual(h.reply("!feed del %s" % (news.id,), account="root"),
                         "%s is in the config file ([[feeds]]): remove it there." % (NEWS,))
        self.assertEqual(h.reply("!feed add %s #other" % (NEWS,), account="root"),
                         "I follow %s already (in the config file)." % (NEWS,))
        self.assertIn("OK, following", h.reply("!feed add https://more.example/rss #a@oftc", account="root"))
        self.assertEqual(h.reply("!feed add https://more.example/x #a@nowhere", account="root"),
                         "I am not on nowhere.")
        listed = h.reply("!feed list", account="root").split("\n")
        self.assertEqual(len(listed), 3)
        self.assertTrue(listed[2].endswith("https://more.example/rss -> #a@oftc every 15m"))

    def test_a_bound_on_the_feeds_followed(self):
        # admins cannot queue unlimited feeds: the config's count, and the cap holds until one is removed
        h, plugin = self.bot()
        for i in range(MAX_FEEDS - 2):
            said = h.reply("!feed add https://f%d.example/rss #a" % (i,), account="root")
            self.assertIn("OK, following", said)
        refusal = "I follow %d feeds already; remove one first." % (MAX_FEEDS,)
        self.assertEqual(h.reply("!feed add https://more.example/rss #a", account="root"), refusal)
        self.assertIn("no longer following", h.reply("!feed del https://f0.example/rss", account="root"))
        self.assertIn("OK, following", h.reply("!feed add https://more.example/rss #a", account="root"))
        self.assertEqual(h.reply("!feed add https://f0.example/rss #a", account="root"), refusal)

    def test_the_job_polls_and_announces_each_entry_once(self):
        h, plugin = self.bot()
        h.clock.advance(TICK)
        self.assertEqual(sorted(self.pages.fetched), [DEV, NEWS])  # both due: the first poll records
        self.assertEqual(self.said(h), [])
        self.pages.bodies[NEWS] = rss(("2", "Second"), ("1", "First"))
        self.pages.bodies[DEV] = rss(("c", "chatter"), ("b", "Release 2"), ("a", "Release 1"))
        h.clock.advance(TICK)  # not due yet
        self.assertEqual(len(self.pages.fetched), 2)
        for _ in range(15):  # past both intervals
            h.clock.advance(TICK)
        self.assertEqual(sorted(self.said(h)), [("irc", "#dev", "Release 2 http://example.org/b"),
                                        ("irc", "#news", "Second http://example.org/2"),
                                        ("oftc", "#x", "Second http://example.org/2")])
        # a restart (a new bot on the same store) announces nothing again
        h.stop()
        fetched = len(self.pages.fetched)
        h.clock.advance(TICK * 20)
        self.assertEqual(len(self.pages.fetched), fetched)  # the stopped bot's job is cancelled
        again, _ = self.bot()
        again.clock.advance(TICK)
        self.assertEqual(len(self.pages.fetched), fetched + 2)
        self.assertEqual(self.said(again), [])

    def test_one_process_polls(self):
        owner, _ = self.bot()
        other, _ = self.bot()
        other.bot.jobs.owner = lambda: False  # another process holds the IRC lease
        other.clock.advance(TICK)
        self.assertEqual(self.pages.fetched, [])
        owner.clock.advance(TICK)
        self.assertEqual(sorted(self.pages.fetched), [DEV, NEWS])

    def test_at_most_a_few_polls_at_once_and_stop_cancels_them(self):
        from pubbot.feeds.poller import CONCURRENT
        many = ["https://f%d.example/rss" % (i,) for i in range(CONCURRENT + 2)]
        self.pages.held.update(many)
        h, plugin = self.bot(config={"feeds": [{"url": u, "channels": ["#news"]} for u in many]})
        h.clock.advance(TICK)
        h.clock.advance(TICK)
        self.assertEqual(len(self.pages.fetched), CONCURRENT)
        poller = plugin.poller
        self.assertEqual(len(poller.polling), CONCURRENT)
        stopped = []
        plugin.stop().addCallback(stopped.append)
        self.assertTrue(stopped)
        self.assertTrue(all(d.called for d in self.pages.waiting))
        self.assertEqual((poller.polling, poller.running), (set(), set()))

    def test_config_check_names_the_key(self):
        from pubbot.config.settings import ConfigError
        from pubbot.testing import make_settings

        def error(feed, **more):
            with self.assertRaises(ConfigError) as e:
                make_settings(dict(more, feeds=[dict({"url": NEWS, "channels": ["#a"]}, **feed)]),
                              feeds_module)
            return str(e.exception)

        self.assertEqual(error({"url": "ftp://x.example/f"}), "[[feeds]] #1 url is not a feed pubbot can "
                         "fetch: only http and https URLs are fetched")
        self.assertEqual(error({"interval": 60}), "[[feeds]] #1 interval must be at least 300 (seconds)")
        self.assertIn("[[feeds]] #1 filter is not a pattern pubbot runs", error({"filter": "(?<=x)y"}))
        self.assertEqual(error({"channels": ["#a@nowhere"]}),
                         "[[feeds]] #1 channels has '#a@nowhere', but there is no network nowhere "
                         "(networks: irc)")
        self.assertIn("[[feeds]] #1 channels has a bad channel 'news'", error({"channels": ["news"]}))
        self.assertEqual(error({"channels": []}), "[[feeds]] #1 channels must name at least one channel")
        self.assertEqual(error({"chanels": ["#a"]}), "unknown key [[feeds]] #1 chanels")
        self.assertEqual(error({"channels": ["#a"], "url": ""}), "[[feeds]] #1 url must be set")
        with self.assertRaises(ConfigError) as e:
            make_settings({"feeds": {"url": NEWS}}, feeds_module)
        self.assertEqual(str(e.exception),
                         "[[feeds]] must be an array of tables ([[feeds]] entries), not a table")
        with self.assertRaises(ConfigError) as e:
            make_settings({"feeds": [{"url": NEWS, "channels": ["#a"]}, {"url": NEWS, "channels": ["#b"]}]},
                          feeds_module)
        self.assertEqual(str(e.exception), "[[feeds]] #2 url is the url of #1")
        self.assertEqual(make_settings({}, feeds_module).feeds, ())

    def test_pubbot_config_check_shows_them(self):
        import contextlib
        import io
        import json

        from pubbot import cli
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[networks.oftc]\nserver = "tcp:irc.oftc.example:6667"\n'
                    '[[feeds]]\nurl = "%s"\nchannels = ["#news", "#x@oftc"]\n' % (NEWS,))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            self.assertEqual(cli.main(["config", "check", path]), 0)
        self.assertEqual(json.loads(out.getvalue())["feeds"], [
            {"url": NEWS, "channels": ["#news", "#x@oftc"], "interval": 900.0, "filter": ""}])
        with open(path, "a") as f:
            f.write('[[feeds]]\nurl = "%s"\nchannels = ["#dev@elsewhere"]\n' % (DEV,))
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            self.assertEqual(cli.main(["config", "check", path]), 1)
        self.assertIn("[[feeds]] #2 channels has '#dev@elsewhere', but there is no network elsewhere",
                      err.getvalue())
