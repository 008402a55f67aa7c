"""The links plugin: titles of pasted URLs from a real local server, lastlink, refusals."""

import itertools
import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from pubbot.api import IBatchHandler, IHandler
from pubbot.core.message import Message, Reply
from pubbot.links.fetch import Page
from pubbot.plugins import links as links_module
from pubbot.plugins.links import _LASTLINK, Links, describe, find_urls, may_answer
from pubbot.testing import Harness

from .support.hostile_http import (
    HostileHTTPServer,
    drip_headers,
    endless_headers,
    hostile_pages,
)
from .support.hostile_http import (
    response as hostile_response,
)
from .support.linkserver import StaticResolver, WebServer, async_test
from .support.logs import capture_logs


class FindURLTests(SynchronousTestCase):

    def test_find_urls(self):
        self.assertEqual(find_urls("see http://example.com/a, and https://x.org/b."),
                         ["http://example.com/a", "https://x.org/b"])
        self.assertEqual(find_urls("(http://en.wikipedia.org/wiki/Foo_(bar))"),
                         ["http://en.wikipedia.org/wiki/Foo_(bar)"])
        self.assertEqual(find_urls("<http://example.com/>"), ["http://example.com/"])
        self.assertEqual(find_urls('"http://example.com/q?a=1&b=2"!'), ["http://example.com/q?a=1&b=2"])
        self.assertEqual(find_urls("HTTP://EXAMPLE.COM http://example.com"),
                         ["HTTP://EXAMPLE.COM", "http://example.com"])
        self.assertEqual(find_urls("http://a.com http://a.com http://b.com"), ["http://a.com", "http://b.com"])
        self.assertEqual(find_urls(" ".join("http://h%d.com" % i for i in range(100))),
                         ["http://h0.com", "http://h1.com", "http://h2.com"])
        self.assertEqual(find_urls("ftp://x.com file:///etc/passwd http:// nothing"), [])

    @given(st.text(max_size=300))
    def test_any_text(self, text):
        for url in find_urls(text):
            self.assertTrue(url.lower().startswith(("http://", "https://")))
            self.assertFalse(any(c.isspace() for c in url))

    def test_describe(self):
        def page(**kw):
            fields = dict(url="http://x/", status=200, content_type="text/html", length=None, body=b"",
                          complete=True, title=None)
            fields.update(kw)
            return Page(**fields)

        self.assertEqual(describe(page(title=" A\r\n\x02title ")), "[ A title ]")
        self.assertEqual(describe(page(title="x" * 500)), "[ %s\u2026 ]" % ("x" * 199,))
        self.assertEqual(describe(page(content_type="image/png", length=2048)), "[ image/png, 2.0 KiB ]")
        self.assertEqual(describe(page(content_type="application/pdf")), "[ application/pdf ]")
        self.assertEqual(describe(page(content_type="", length=5)), "[ unknown type, 5 B ]")
        self.assertEqual(describe(page(body=b"x" * 100)), "[ text/html, 100 B ]")
        self.assertEqual(describe(page(body=b"x" * 2048, complete=False)), "[ text/html, over 2.0 KiB ]")
        self.assertEqual(describe(page(title="   ", length=10)), "[ text/html, 10 B ]")
        self.assertIsNone(describe(page(status=404, title="Not found")))
        self.assertIsNone(describe(page(status=500)))


class PluginTests(TestCase):
    """Through pubbot.testing, against a real local twisted.web server."""

    def setUp(self):
        self.server = WebServer(reactor)
        self.addCleanup(self.server.stop)
        self.resolver = StaticResolver({"allowed.test": ["127.0.0.1"], "private.test": ["10.0.0.7"]})

    def harness(self, allow=("127.0.0.1",), **kwargs):
        plugin = Links(reactor=reactor, resolver=self.resolver)
        bot = Harness(plugin, config={"links": {"allow": list(allow), "timeout": 5}, **kwargs})
        return bot, plugin

    async def reply(self, bot, text, **kwargs):
        result = await bot.say(text, **kwargs)
        return "\n".join(result.lines) if isinstance(result, Reply) else None

    def test_interfaces(self):
        self.assertTrue(verifyObject(IHandler, links_module.links))
        self.assertTrue(verifyObject(IPlugin, links_module.links))

    @async_test
    async def test_title(self):
        bot, plugin = self.harness()
        reply = await self.reply(bot, "look at %s !" % (self.server.url("/title"),))
        self.assertEqual(reply, "[ Hello & welcome PRIVMSG #x :evil \u00e9t\u00e9 ]")

    @async_test
    async def test_refused_without_the_allow_list(self):
        logs = capture_logs(self)
        bot, plugin = self.harness(allow=())
        self.assertIsNone(await self.reply(bot, self.server.url("/plain")))
        self.assertTrue(logs.matching("127.0.0.1 is a loopback address"))
        self.assertEqual(self.server.site.connections, {})

    @async_test
    async def test_allowed_by_name(self):
        bot, plugin = self.harness(allow=("allowed.test",))
        self.assertEqual(await self.reply(bot, self.server.url("/plain", host="allowed.test")),
                         "[ Plain page ]")

    @async_test
    async def test_private_name_refused(self):
        logs = capture_logs(self)
        bot, plugin = self.harness(allow=())
        self.assertIsNone(await self.reply(bot, "http://private.test/"))
        self.assertTrue(logs.matching("private.test resolves to 10.0.0.7, a private address"))

    @async_test
    async def test_redirect_to_loopback(self):
        logs = capture_logs(self)
        bot, plugin = self.harness(allow=("allowed.test",))
        url = self.server.url("/redirect?to=" + self.server.url("/plain"), host="allowed.test")
        self.assertIsNone(await self.reply(bot, url))
        self.assertTrue(logs.matching("127.0.0.1 is a loopback address"))

    @async_test
    async def test_other_content_and_errors(self):
        bot, plugin = self.harness()
        self.assertEqual(await self.reply(bot, self.server.url("/binary")),
                         "[ application/octet-stream, 12 KiB ]")
        self.assertEqual(await self.reply(bot, self.server.url("/huge")), "[ text/html, 50 MiB ]")
        self.assertEqual(await self.reply(bot, self.server.url("/notitle")), "[ text/html, 39 B ]")
        self.assertIsNone(await self.reply(bot, self.server.url("/missing")))

    @async_test
    async def test_several_urls(self):
        bot, plugin = self.harness()
        reply = await self.reply(bot, "%s and %s and %s" % (
            self.server.url("/plain"), self.server.url("/missing"), self.server.url("/latin1")))
        self.assertEqual(reply, "[ Plain page ]\n[ caf\u00e9 ]")

    @async_test
    async def test_malformed_urls(self):
        logs = capture_logs(self)
        bot, plugin = self.harness()
        for text in ["http://[::1", "http://exa$mple.com/", "https://:80/", "http://a.com:99999/",
                     "http://user:pw@" + "127.0.0.1/", "http://" + "x" * 5000 + ".com"]:
            self.assertIsNone(await self.reply(bot, text), text)
        self.assertGreaterEqual(len(logs.matching("links: not fetching")), 5)

    @async_test
    async def test_refusals_are_logged_within_bounds(self):
        # Anyone in a channel can post links the bot refuses, as often as
        # they like: each kind is logged REFUSAL_LOGS times a minute, the
        # rest counted.
        logs = capture_logs(self)
        bot, plugin = self.harness(allow=())
        bound = links_module.REFUSAL_LOGS
        for i in range(20):  # 60 links: 10 fetches refused (private), 50 over the channel's limit
            text = " ".join("http://10.0.%d.%d/" % (i, j) for j in range(3))
            self.assertIsNone(await self.reply(bot, text))
        for _ in range(3 * bound):  # malformed: never fetched
            self.assertIsNone(await self.reply(bot, "http://[::1 and http://a.com:99999/"))
        self.assertEqual(len(logs.matching("is a private address")), bound)
        self.assertEqual(len(logs.matching("too many links in #pubbot")), bound)
        self.assertEqual(len(logs.matching("links: not fetching")), bound)
        self.assertEqual(dict(plugin.logs.unlogged), {"channel-limit": 50 - bound, "refused": 5 * bound})
        bot.clock.advance(60)
        self.assertIsNone(await self.reply(bot, "http://10.9.9.9/"))
        self.assertEqual(len(logs.matching("is a private address")), bound + 1)

    @async_test
    async def test_timeout(self):
        logs = capture_logs(self)
        plugin = Links(reactor=reactor, resolver=self.resolver)
        bot = Harness(plugin, config={"links": {"allow": ["127.0.0.1"], "timeout": 0.2}})
        self.assertIsNone(await self.reply(bot, self.server.url("/hang")))
        self.assertTrue(logs.matching("timed out after 0.2s"))

    @async_test
    async def test_lastlink(self):
        bot, plugin = self.harness()
        self.assertEqual(await self.reply(bot, "!lastlink"), "I have seen no links in #pubbot yet.")
        url = self.server.url("/plain")
        await self.reply(bot, "first %s" % (self.server.url("/latin1"),))
        await self.reply(bot, "then %s" % (url,), source="bob")
        await self.reply(bot, "elsewhere http://elsewhere.test/", channel="#other")
        bot.clock.advance(65)
        self.assertEqual(await self.reply(bot, "pubbot: lastlink"),
                         "bob posted %s 1:05 ago [ Plain page ]" % (url,))
        self.assertEqual(await self.reply(bot, "!lastlink", channel="#other"),
                         "alice posted http://elsewhere.test/ 1:05 ago")
        self.assertEqual(await self.reply(bot, "lastlink", private=True), "Ask me for lastlink in a channel.")
        await self.reply(bot, "private %s" % (self.server.url("/binary"),), private=True)
        self.assertIn("Plain page", await self.reply(bot, "!lastlink"))

    @async_test
    async def test_rate_limited_per_channel(self):
        logs = capture_logs(self)
        bot, plugin = self.harness()
        for i in range(10):
            self.assertEqual(await self.reply(bot, self.server.url("/plain?%d" % i)), "[ Plain page ]")
        self.assertIsNone(await self.reply(bot, self.server.url("/plain?again")))
        self.assertTrue(logs.matching("too many links in #pubbot"))
        self.assertEqual(await self.reply(bot, self.server.url("/plain"), channel="#other"), "[ Plain page ]")
        bot.clock.advance(61)
        self.assertEqual(await self.reply(bot, self.server.url("/plain")), "[ Plain page ]")

    @async_test
    async def test_huge_line(self):
        bot, plugin = self.harness()
        text = " ".join(self.server.url("/plain?%d" % i) for i in range(1000)) + " " + "x" * 100000
        reply = await self.reply(bot, text)
        self.assertEqual(reply, "\n".join(["[ Plain page ]"] * 3))


class NoNetworkTests(SynchronousTestCase):

    def test_without_a_network_reactor(self):
        bot = Harness(Links())
        self.assertIsNone(bot.reply("http://example.com/"))
        self.assertEqual(bot.reply("!lastlink"), "alice posted http://example.com/ 0s ago")
        self.assertIsNone(bot.reply("no links here"))


    def test_links_in_a_batch_of_chatter(self):
        h = Harness(Links())
        lines = ["hello", "see HTTPS://example.com/a", "no", "pubbot: LastLink", "!lastlink now", "x://y"]
        h.bot.bus.submit_many([h.bot.chat_message("irc", "#pubbot", "ann", t, False, {}) for t in lines])
        self.assertEqual([text for _, text, _ in h.sent], ["ann posted https://example.com/a 0s ago"])


_LINK_LINE = st.lists(st.sampled_from(["pubbot: ", "pubbot, ", "!", " ", "\n", "\t", "x", "http", "HTTPS",
                                       "https", "s", "://", ":/", "/", "h", "lastlink", "LastLink", "lastlin",
                                       "\u212a", "k", "<", "'"]), max_size=8).map("".join)


def answers(msg):
    """Would links answer C{msg} (its checks, before fetching)?"""
    return bool(msg.command is not None and _LASTLINK.match(msg.command)
                or "://" in msg.content and find_urls(msg.content))


class LinksBatchTests(SynchronousTestCase):
    def test_provides_the_batch_interface(self):
        self.assertTrue(verifyObject(IBatchHandler, links_module.links))

    @settings(max_examples=500)
    @given(st.lists(_LINK_LINE, max_size=6))
    def test_a_batch_is_looked_at_whenever_a_line_would_be_answered(self, lines):
        bot = Harness(Links()).bot
        messages = [bot.chat_message("irc", "#c", "ann", line, False, {}) for line in lines]
        if any(map(answers, messages)):
            self.assertTrue(may_answer(messages))

    def test_lastlink_in_every_case_the_command_takes(self):
        letters = "lastink"
        any_letter = re.compile("[%s]" % letters, re.IGNORECASE)
        forms = {letter: [] for letter in letters}
        for c in map(chr, range(sys.maxunicode + 1)):
            if any_letter.fullmatch(c):
                for letter in letters:
                    if re.fullmatch(letter, c, re.IGNORECASE):
                        forms[letter].append(c)
        self.assertEqual(len(forms["i"]), 4)  # i, I, dotted capital I, dotless i
        bot = Harness(Links()).bot
        for word in itertools.product(*(forms[letter] for letter in "lastlink")):
            msg = bot.chat_message("irc", "#c", "ann", "!%s " % "".join(word), False, {})
            self.assertTrue(answers(msg), msg.content)
            self.assertTrue(may_answer([Message("chat.irc.#c.chat", {"content": "x"}), msg]), msg.content)

    def test_chatter_is_not_looked_at(self):
        bot = Harness(Links()).bot
        chatter = ["hello", "last link", "lastlin k", "http:/ nope", "x"]
        self.assertFalse(may_answer([bot.chat_message("irc", "#c", "ann", t, False, {}) for t in chatter]))
        self.assertTrue(may_answer([Message("chat.irc.#c.chat", {"content": None})]))

    def test_a_failing_line_loses_only_its_answer(self):
        h = Harness(Links())
        plugin = h.bot.handlers[0]
        handle = plugin.handle

        def failing(msg):
            if msg.content == "http://boom":
                raise ZeroDivisionError()
            return handle(msg)
        self.patch(plugin, "handle", failing)
        h.bot.bus.submit_many([h.bot.chat_message("irc", "#pubbot", "ann", t, False, {})
                               for t in ("http://example.com/", "http://boom", "!lastlink")])
        self.assertEqual([text for _, text, _ in h.sent], ["ann posted http://example.com/ 0s ago"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class ConfigTests(SynchronousTestCase):

    def test_allow_list_is_checked(self):
        from pubbot.config.settings import ConfigError
        from pubbot.plugins import links
        from pubbot.testing import make_settings

        def parse(config):
            return make_settings(config, links)
        for good in (["127.0.0.1", "10.0.0.0/8", "::1", "intranet", "*.lan.example", "b\u00fccher.de"],):
            self.assertEqual(parse({"links": {"allow": good}}).links.allow, tuple(good))
        for bad in ("not a host", "http://x", "10.0.0.0/33", "*.", ""):
            with self.assertRaises(ConfigError) as e:
                parse({"links": {"allow": [bad]}})
            self.assertEqual(str(e.exception), "[links] allow has %r, which is not a host name, "
                                               "IP address or CIDR network" % (bad,))


class HostilePeerTests(TestCase):
    """The plugin against the hostile HTTP server: bad peers are logged, good links still answered."""

    def setUp(self):
        self.server = HostileHTTPServer(reactor, max_seconds=20)
        self.addCleanup(self.server.stop)

    async def reply(self, bot, text, **kwargs):
        result = await bot.say(text, **kwargs)
        return "\n".join(result.lines) if isinstance(result, Reply) else None

    @async_test
    async def test_hostile_peers_beside_a_good_link(self):
        logs = capture_logs(self)
        bot = Harness(Links(reactor=reactor), config={"links": {"allow": ["127.0.0.1"], "timeout": 2}})
        good = self.server.route("/good", hostile_response(b"<title>Good page</title>"))
        pages = dict(hostile_pages(256 * 1024))
        cases = [
            (self.server.route("/headers", endless_headers()), "more than 128 response header lines"),
            (self.server.route("/drip", drip_headers(0.1)), "timed out after 2s"),
            (self.server.route("/comments", hostile_response(pages["titles in comments"])), None),
            (self.server.route("/tags", hostile_response(pages["tiny tags"])), None),
            (self.server.route("/punycode", hostile_response(b"<title>caf\xc3\xa9</title>",
                                                              b"text/html; charset=punycode")), None),
        ]
        for url, logged in cases:
            reply = await self.reply(bot, "see %s and %s" % (url, good))
            self.assertEqual(reply.splitlines()[-1], "[ Good page ]", url)
            if logged is not None:
                self.assertTrue(logs.matching(logged), logged)
        # (another channel: this one used its 10 fetches a minute)
        self.assertEqual(await self.reply(bot, cases[-1][0], channel="#other"), "[ caf\u00e9 ]")
        self.assertTrue(logs.matching("'punycode' (from the server) is not a text encoding"))
