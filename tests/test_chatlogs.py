"""
The channel log: one suite for every log index (memory, SQLite with FTS5,
a real Redis shared by two clients), and the plugin's commands through
the harness: logging opt-in per channel, !grep, !last, !nolog, refusals,
bad arguments and limits.
"""

from __future__ import annotations

import os
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from pubbot.chatlogs import (
    MAX_WORDS,
    OPTOUT_KEY,
    ILogIndex,
    LogChannels,
    format_line,
    make_index,
    query_words,
    words,
)
from pubbot.chatlogs.redis import RedisLogIndex
from pubbot.chatlogs.sql import fts_query
from pubbot.cluster.redisclient import RedisClient
from pubbot.plugins import chatlogs as plugin
from pubbot.plugins import ignore
from pubbot.store.memory import MemoryStore
from pubbot.store.redis import RedisStore
from pubbot.store.sqlite import SQLiteStore
from pubbot.testing import Harness

from .support.servers.redis import RedisServer

T0 = 1_700_000_000.0


def line(text, nick="alice", t=0.0, kind="say", channel="#pubbot", network="irc", person=None):
    return {"network": network, "channel": channel, "time": T0 + t, "kind": kind, "nick": nick,
            "person": person if person is not None else "account:" + nick, "text": text}


class IndexSuite:
    """Every ILogIndex: mix into a trial TestCase with C{make_index()}."""

    def setUp(self):
        d = self.make_index()
        return d

    def test_provides_ilogindex(self):
        self.assertTrue(verifyObject(ILogIndex, self.index))

    async def test_search_all_words_newest_first(self):
        await self.index.add([line("the build is broken", t=1), line("the Build is GREEN", nick="bob", t=2),
                              line("lunch?", t=3), line("build broken again", nick="carol", t=4),
                              line("build broken elsewhere", channel="#other", t=5),
                              line("build broken on libera", network="libera", t=6)])
        found = await self.index.search("irc", "#PubBot", ["build", "broken"], 5)
        self.assertEqual([(f["nick"], f["text"]) for f in found],
                         [("carol", "build broken again"), ("alice", "the build is broken")])
        self.assertEqual(found[0]["time"], T0 + 4)
        self.assertEqual([f["nick"] for f in await self.index.search("irc", "#pubbot", ["build"], 2)],
                         ["carol", "bob"])
        self.assertEqual(await self.index.search("irc", "#pubbot", ["nothing"], 5), [])

    async def test_words_are_not_syntax(self):
        await self.index.add([line('quote " and NEAR( OR * - ^ "x"', t=1)])
        for query in (['"'], ["near"], ["or"], ["x"], ["quote", "x"]):
            found = await self.index.search("irc", "#pubbot", [w for w in query if w.strip('"')] or ["a"], 3)
            self.assertIsInstance(found, list)
        self.assertEqual(len(await self.index.search("irc", "#pubbot", ["near", "x"], 3)), 1)

    async def test_last_by_nick(self):
        await self.index.add([line("one", t=1), line("two", t=2, kind="action"), line("", t=3, kind="join"),
                              line("other", nick="bob", t=4), line("three", t=5)])
        found = await self.index.last("irc", "#pubbot", "ALICE", 2)
        self.assertEqual([(f["kind"], f["text"]) for f in found], [("say", "three"), ("action", "two")])

    async def test_forget_a_person(self):
        await self.index.add([line("mine", t=1), line("mine too", t=2, channel="#other"),
                              line("mine as well", nick="bob", t=3)])
        self.assertEqual(await self.index.forget("account:alice"), 2)
        self.assertEqual(await self.index.search("irc", "#pubbot", ["mine"], 5),
                         [{"time": T0 + 3, "kind": "say", "nick": "bob", "text": "mine as well"}])
        self.assertEqual(await self.index.search("irc", "#other", ["mine"], 5), [])
        self.assertEqual(await self.index.last("irc", "#pubbot", "alice", 5), [])
        self.assertEqual(await self.index.forget("account:alice"), 0)

    async def test_prune(self):
        await self.index.add([line("old words", t=1), line("new words", t=100)])
        self.assertEqual(await self.index.prune(T0 + 50), 1)
        self.assertEqual([f["text"] for f in await self.index.search("irc", "#pubbot", ["words"], 5)],
                         ["new words"])
        self.assertEqual([f["text"] for f in await self.index.last("irc", "#pubbot", "alice", 5)],
                         ["new words"])

    async def test_many_lines(self):
        await self.index.add([line("line %d of many" % i, t=i) for i in range(300)])
        found = await self.index.search("irc", "#pubbot", ["many"], 3)
        self.assertEqual([f["text"] for f in found],
                         ["line 299 of many", "line 298 of many", "line 297 of many"])


class MemoryIndexTests(IndexSuite, TestCase):
    def make_index(self):
        self.index = make_index(MemoryStore(Clock()))
        self.assertEqual(self.index.kind, "memory")


class SQLiteIndexTests(IndexSuite, TestCase):
    def make_index(self):
        self.path = os.path.abspath(self.mktemp())
        self.store = SQLiteStore(self.path, reactor, clock=Clock())
        self.addCleanup(self.store.close)
        self.index = make_index(self.store)
        self.assertEqual(self.index.kind, "sqlite")

    async def test_in_the_store_file_with_fts5(self):
        await self.index.add([line("kept in the file")])
        await self.store.set("other", 1)
        self.store.close()
        db = sqlite3.connect(self.path)
        self.addCleanup(db.close)
        fts = db.execute("SELECT rowid FROM chatlog_fts WHERE chatlog_fts MATCH 'file'").fetchall()
        self.assertEqual(fts, [(1,)])
        self.assertEqual(db.execute("SELECT value FROM strings WHERE key='other'").fetchall(), [("1",)])


@pytest.mark.integration  # a real redis-server
class RedisIndexTests(IndexSuite, TestCase):
    """Two clients (two processes' worth) of one real redis-server."""

    def make_index(self):
        self.server = RedisServer().start()
        self.addCleanup(self.server.stop)
        self.clients = []
        for name in ("one", "two"):
            client = RedisClient(reactor, self.server.url, name=name)
            client.start()
            self.addCleanup(client.stop)
            self.clients.append(client)
        self.store = RedisStore(self.clients[0])
        self.index = make_index(self.store)
        self.other = make_index(RedisStore(self.clients[1]))
        self.assertIsInstance(self.index, RedisLogIndex)
        return self.clients[0].when_connected().addCallback(lambda _: self.clients[1].when_connected())

    async def test_written_by_one_found_by_another(self):
        await self.index.add([line("shared across processes")])
        found = await self.other.search("irc", "#pubbot", ["processes", "shared"], 3)
        self.assertEqual([f["text"] for f in found], ["shared across processes"])

    async def test_opted_out_lines_are_not_written_by_any_process(self):
        await self.store.sadd(OPTOUT_KEY, "account:alice")
        self.assertEqual(await self.other.add([line("secret"), line("public", nick="bob")]), 1)
        self.assertEqual([f["nick"] for f in await self.index.search("irc", "#pubbot", ["secret"], 3)], [])

    async def test_nothing_is_left_behind(self):
        await self.index.add([line("words to remove", t=1)])
        await self.index.forget("account:alice")
        keys = await self.clients[0].execute("KEYS", "pubbot:logs:*")
        self.assertEqual(sorted(keys), ["pubbot:logs:places", "pubbot:logs:seq"])


class WordTests(SynchronousTestCase):
    def test_query_bounds(self):
        self.assertEqual(query_words("Build, BROKEN! build"), ["build", "broken"])
        self.assertIsNone(query_words(""))
        self.assertIsNone(query_words("!!! ???"))
        self.assertIsNone(query_words(" ".join("w%d" % i for i in range(MAX_WORDS + 1))))
        self.assertIsNone(query_words("x" * 201))
        self.assertEqual(words("a " * 1000), ["a"])

    @settings(derandomize=True, max_examples=300)
    @given(st.text(max_size=300))
    def test_any_query_is_safe_fts(self, text):
        found = query_words(text)
        if found is None:
            return
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE t USING fts5(x)")
        db.execute("SELECT * FROM t WHERE t MATCH ?", (fts_query(found),)).fetchall()

    def test_log_channels(self):
        c = LogChannels(["#All", "#one@libera"])
        self.assertTrue(c.logged("irc", "#all") and c.logged("libera", "#ALL") and c.logged("libera", "#One"))
        self.assertFalse(c.logged("irc", "#one") or c.logged("irc", "#else"))

    def test_format(self):
        self.assertEqual(format_line({"time": T0, "kind": "say", "nick": "a", "text": "hi"}),
                         "[2023-11-14 22:13 UTC] <a> hi")
        self.assertEqual(format_line({"time": T0, "kind": "action", "nick": "a", "text": "waves"}),
                         "[2023-11-14 22:13 UTC] * a waves")
        self.assertEqual(format_line({"time": T0, "kind": "kick", "nick": "a", "text": "by op"}),
                         "[2023-11-14 22:13 UTC] -- a was kicked (by op)")


CONFIG = {"logs": {"channels": ["#pubbot"], "max_results": 2}}
HANDLERS = (plugin.chatlog, plugin.grep, plugin.last, plugin.nolog)


class PluginTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(*HANDLERS, config=CONFIG)
        self.addCleanup(self.bot.stop)
        self.bot.chat.rosters["#pubbot"] = ["alice", "bob", "carol"]

    def notices(self):
        out = [text for target, text, kind in self.bot.sent if kind == "notice"]
        del self.bot.sent[:]
        return out

    def test_grep_answers_privately(self):
        self.bot.say("the deploy failed again", source="bob", time=T0)
        self.bot.say("unrelated", source="carol", time=T0 + 60)
        self.bot.say("deploy is fine now", source="carol", time=T0 + 120)
        self.assertIsNone(self.bot.reply("!grep deploy"))
        self.assertEqual(self.bot.sent[-1][0], "alice")
        self.assertEqual(self.notices(), ["[2023-11-14 22:15 UTC] <carol> deploy is fine now\n"
                                          "[2023-11-14 22:13 UTC] <bob> the deploy failed again"])
        self.assertEqual(self.bot.reply("!grep #pubbot deploy failed", private=True),
                         "[2023-11-14 22:13 UTC] <bob> the deploy failed again")
        self.assertEqual(self.bot.reply("!grep nothing-like-it", private=True, channel="x"),
                         "Say which channel: !grep #channel words")

    def test_joins_parts_kicks_actions(self):
        self.bot.join("dave", time=T0)
        self.bot.event("#pubbot", "leave", source="dave", kind="kick", reason="spam", by="op", time=T0 + 1,
                       hostmask="dave!d@h")
        self.bot.say("waves at the deploy", source="bob", action=True, time=T0 + 2)
        self.bot.reply("!grep spam")
        self.assertEqual(self.notices(), ["[2023-11-14 22:13 UTC] -- dave was kicked (by op: spam)"])
        self.bot.reply("!last bob")
        self.assertEqual(self.notices(), ["[2023-11-14 22:13 UTC] * bob waves at the deploy"])

    def test_only_logged_channels(self):
        self.bot.say("secret plans", source="bob", channel="#private")
        self.bot.say("secret plans", source="bob", private=True)
        self.bot.chat.rosters["#private"] = ["alice"]
        self.bot.reply("!grep #private plans")
        self.assertEqual(self.notices(), ["#private is not logged."])
        self.bot.reply("!grep plans")
        self.assertEqual(self.notices(), ["No line of #pubbot has plans."])

    def test_only_channels_you_are_in(self):
        self.bot.reply("!grep #pubbot x", source="mallory", private=True)
        self.assertEqual(self.bot.reply("!grep #pubbot x", source="mallory", private=True),
                         "You can only search the log of a channel you are in.")

    def test_last(self):
        for i in range(4):
            self.bot.say("bob line %d" % i, source="bob", time=T0 + i * 60)
        self.bot.reply("!last BOB")
        self.assertEqual(self.notices(), ["[2023-11-14 22:15 UTC] <bob> bob line 2\n"
                                          "[2023-11-14 22:16 UTC] <bob> bob line 3"])
        self.bot.reply("!last nobody")
        self.assertEqual(self.notices(), ["nobody said nothing in #pubbot that I kept."])

    def test_nolog(self):
        self.bot.say("my private words", source="bob", account="bob")
        self.bot.say("more of my words", source="bob", account="bob")
        self.assertIsNone(self.bot.reply("!nolog", source="bob", account="bob"))
        self.assertEqual(self.bot.sent[-1][0], "bob")
        self.assertEqual(self.notices(), ["bob: your lines are no longer logged; 2 kept lines removed."])
        self.bot.say("words after", source="bob", account="bob")
        self.bot.reply("!grep words")
        self.assertEqual(self.notices(), ["No line of #pubbot has words."])
        self.assertEqual(self.successResultOf(self.bot.store.smembers(OPTOUT_KEY)), {"account:bob"})
        self.assertEqual(self.bot.reply("!nolog off", source="bob", account="bob", private=True),
                         "bob: your lines are logged again where channels are logged.")
        self.bot.say("words again", source="bob", account="bob")
        self.bot.reply("!grep words")
        self.assertEqual(len(self.notices()[0].splitlines()), 1)
        self.bot.reply("!nolog please", source="bob")
        self.assertEqual(self.notices(), ["Usage: !nolog [off]"])

    def test_an_ignored_person_may_leave_the_log_too(self):
        bot = Harness(ignore.ignore_gate, ignore.ignore, *HANDLERS,
                      config=dict(CONFIG, plugins={"admins": ["root"]}))
        self.addCleanup(bot.stop)
        bot.chat.rosters["#pubbot"] = ["root", "troll"]
        self.assertEqual(bot.reply("!ignore add troll", source="root", account="root"), "Ignoring troll.")
        bot.say("zebras of an ignored person", source="troll", account="troll")  # the log hears them
        self.assertEqual(len(self.successResultOf(plugin.index_for(bot.bot).search(
            "irc", "#pubbot", ["zebras"], 5))), 1)
        self.assertIsNone(bot.reply("!nolog", source="troll", account="troll"))  # never in the channel
        self.assertEqual(bot.sent[-1], (
            "troll", "troll: your lines are no longer logged; 1 kept line removed.", "notice"))
        self.assertEqual(self.successResultOf(plugin.index_for(bot.bot).search(
            "irc", "#pubbot", ["zebras"], 5)), [])
        for _ in range(plugin.SEARCHES[0]):  # and within the searches' limit
            bot.reply("!nolog", source="troll", account="troll")
        self.assertEqual(bot.sent[-1], ("troll", "Slow down: search again in 1:00.", "notice"))

    def test_bad_arguments_and_limits(self):
        usage = "Usage: !grep [#channel] words (at most 8 words, 200 characters)"
        nine = " ".join("w%d" % i for i in range(9))
        for text in ("!grep", "!grep ???", "!grep " + nine, "!grep " + "y" * 201):
            self.bot.reply(text)
            self.assertEqual(self.notices(), [usage], text)
        self.bot.reply("!last")
        self.assertEqual(self.notices(), ["Usage: !last <nick> [#channel]"])
        for _ in range(plugin.SEARCHES[0]):
            self.bot.reply("!grep x", source="carol")
        self.bot.reply("!grep x", source="carol")
        self.assertEqual(self.notices()[-1], "Slow down: search again in 1:00.")

    def test_searching_does_not_fill_the_log(self):
        self.bot.reply("!grep needle")
        self.bot.reply("!grep needle")
        self.assertEqual(self.notices()[-1], "No line of #pubbot has needle.")

    def test_retention(self):
        self.bot.say("ancient words", source="bob", time=self.bot.clock.seconds() - 91 * 86400)
        self.bot.say("recent words", source="bob", time=self.bot.clock.seconds())
        self.bot.clock.advance(plugin.PRUNE_SECONDS)
        self.bot.reply("!grep words")
        self.assertEqual(self.notices(), ["[2001-09-09 01:46 UTC] <bob> recent words"])

    def test_nothing_logged_without_channels(self):
        bot = Harness(*HANDLERS)
        bot.say("hello", source="bob")
        found = plugin.index_for(bot.bot).search("irc", "#pubbot", ["hello"], 3)
        self.assertEqual(self.successResultOf(found), [])
        bot.stop()


class SearchPageTests(TestCase):
    """The dashboard's /logs page over real HTTP, behind the token."""

    def setUp(self):
        import treq  # noqa: F401 - the real client

        from pubbot.web.service import WebService

        from .support.servers import free_port
        self.h = Harness(*HANDLERS, config=dict(CONFIG, web={"token": "s3cret"}))
        self.addCleanup(self.h.stop)
        self.port = free_port()
        self.service = WebService(self.h.bot, reactor, endpoint="tcp:%d:interface=127.0.0.1" % self.port)

    async def get(self, path, token="s3cret"):
        import treq
        headers = {"Authorization": "Bearer " + token} if token else {}
        response = await treq.get("http://127.0.0.1:%d%s" % (self.port, path), headers=headers,
                                  persistent=False)
        return response.code, await response.text()

    async def test_search(self):
        self.service.startService()
        self.addCleanup(self.service.stopService)
        await self.service.listening
        self.h.say("the <b>deploy</b> & friends", source="bob", time=T0)
        code, page = await self.get("/logs?channel=%23pubbot&q=deploy+friends")
        self.assertEqual(code, 200)
        self.assertIn("<li>[2023-11-14 22:13 UTC] &lt;bob&gt; the &lt;b&gt;deploy&lt;/b&gt; "
                      "&amp; friends</li>", page)
        self.assertIn("1 line with deploy and friends.", page)
        code, page = await self.get("/logs?channel=%23pubbot&q=%3Cscript%3E")
        self.assertNotIn("<script>", page)
        code, page = await self.get("/logs?channel=%23else&q=deploy")
        self.assertIn("#else on irc is not logged.", page)
        code, page = await self.get("/logs?q=" + "x" * 5000)
        self.assertIn("Search for 1 to 8 words", page)
        code, _ = await self.get("/logs?q=deploy", token="")
        self.assertEqual(code, 401)


class ContractTests(SynchronousTestCase):
    def test_handlers(self):
        from pubbot.core.interfaces import IBatchHandler, IHandler
        from pubbot.testing import check_patterns
        self.assertTrue(verifyObject(IBatchHandler, plugin.chatlog))
        for h in HANDLERS[1:]:
            self.assertTrue(verifyObject(IHandler, h))
        check_patterns(plugin)


class BatchTests(SynchronousTestCase):
    def test_prune_and_forget_go_in_batches(self):
        from pubbot.chatlogs import sql
        self.patch(sql, "BATCH", 7)
        index = make_index(MemoryStore(Clock()))
        self.successResultOf(index.add([line("x %d" % i, t=i) for i in range(30)]))
        self.assertEqual(self.successResultOf(index.prune(T0 + 20)), 20)
        self.assertEqual(self.successResultOf(index.forget("account:alice")), 10)
        self.assertEqual(self.successResultOf(index.search("irc", "#pubbot", ["x"], 50)), [])


class SearchLinkTests(SynchronousTestCase):
    """!grep and !last link to the dashboard's search page when [web] url is set (and the web service on)."""

    def bot(self, web):
        bot = Harness(*HANDLERS, config=dict(CONFIG, web=web))
        self.addCleanup(bot.stop)
        bot.chat.rosters["#pubbot"] = ["alice", "bob"]
        bot.say("the deploy failed", source="bob", time=T0)
        return bot

    def test_a_link_with_the_channel_and_words_url_encoded(self):
        bot = self.bot({"url": "https://bot.example.org/"})
        self.assertEqual(bot.reply("!grep #pubbot deploy Failed", private=True).split("\n"), [
            "[2023-11-14 22:13 UTC] <bob> the deploy failed",
            "Search the log: https://bot.example.org/logs?network=irc&channel=%23pubbot&q=deploy%20failed"])
        self.assertEqual(bot.reply("!last bob #pubbot", private=True).split("\n")[-1],
                         "Search the log: https://bot.example.org/logs?network=irc&channel=%23pubbot")
        self.assertEqual(bot.reply("!grep #pubbot nothing", private=True), "No line of #pubbot has nothing.")

    def test_never_the_token(self):
        bot = self.bot({"url": "https://bot.example.org", "token": "s3cret-token"})
        answer = bot.reply("!grep #pubbot deploy", private=True)
        self.assertNotIn("s3cret", answer)
        self.assertTrue(answer.endswith("q=deploy (the dashboard's token needed)"), answer)

    def test_no_link_without_a_url_or_a_web_service(self):
        for web in ({}, {"url": "https://bot.example.org", "endpoint": ""}):
            answer = self.bot(web).reply("!grep #pubbot deploy", private=True)
            self.assertEqual(answer, "[2023-11-14 22:13 UTC] <bob> the deploy failed")

    def test_the_url_is_checked(self):
        from pubbot.config.settings import ConfigError
        for bad in ("ftp://x", "https://x/?a=b", "https://x y", "https://x/\r\n"):
            with self.assertRaises(ConfigError) as e:
                Harness(config={"web": {"url": bad}})
            self.assertTrue(str(e.exception).startswith("[web] url must be"), bad)
