"""The plugin API: decorators, addressing, commands, IHandler providers."""

import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.logger import capturedLogs
from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import (
    CHAT_LINES,
    Handler,
    IBatchHandler,
    IHandler,
    Message,
    Reply,
    command,
    handle_each,
    handler,
    parse_chat_text,
)
from pubbot.core.dispatch import FAILURE_LOGS, ContentFilter, joined_contents
from pubbot.testing import Harness
from pubbot.util import patterns

from .support.logs import capture_logs


@parse_chat_text(r'foo=(?P<foo>[\d\w]+), bar=(?P<bar>[\d\w]+)')
def my_chat_handler(msg, foo, bar):
    return {'content': 'Foo was "%s", bar was "%s"' % (foo, bar)}


@handler(subscribe=['chat.irc.#.chat'])
def my_other_handler(msg):
    """Says you said something."""
    return {'content': 'You set something in irc'}


@command("echo", args=r"(?P<text>.+)", usage="<text>")
def echo(msg, text):
    """Echoes text."""
    return text


class ApiTests(SynchronousTestCase):
    def test_decorated_functions_are_handlers(self):
        for h in (my_chat_handler, my_other_handler, echo):
            self.assertTrue(verifyObject(IHandler, h))
            self.assertTrue(IPlugin.providedBy(h))
        self.assertEqual(my_other_handler.description, "Says you said something.")
        self.assertEqual(my_other_handler.name, "my_other_handler")
        self.assertEqual(echo.triggers, ("echo <text>",))

    def test_still_callable(self):
        self.assertEqual(my_other_handler(None), {'content': 'You set something in irc'})

    def test_seed_example_regex(self):
        bot = Harness(my_chat_handler)
        self.assertEqual(bot.reply("foo=1, bar=2"), 'Foo was "1", bar was "2"')
        self.assertEqual(bot.reply("well foo=a1, bar=b2 ok"), 'Foo was "a1", bar was "b2"')
        self.assertIsNone(bot.reply("foo=, bar=2"))

    def test_addressed_line_stripped_and_direct(self):
        seen = []

        @handler(subscribe=["chat.*.*.chat"])
        def spy(msg):
            seen.append((msg.content, msg.direct, msg.command))
        bot = Harness(spy, my_chat_handler)
        self.assertEqual(bot.reply("pubbot: foo=1, bar=2"), 'Foo was "1", bar was "2"')
        bot.reply("PubBot, hello there")
        bot.reply("pubbotx: not me")
        bot.reply("!cmd arg")
        self.assertEqual(seen, [("foo=1, bar=2", True, "foo=1, bar=2"),
                                ("hello there", True, "hello there"),
                                ("pubbotx: not me", False, None),
                                ("!cmd arg", False, "cmd arg")])

    def test_seed_subscription_on_irc_only(self):
        self.assertEqual(Harness(my_other_handler).reply("anything"), "You set something in irc")
        self.assertIsNone(Harness(my_other_handler, network="console").reply("anything"))

    def test_command_prefix_or_address(self):
        bot = Harness(echo)
        self.assertEqual(bot.reply("!echo hi there"), "hi there")
        self.assertEqual(bot.reply("pubbot: echo hi"), "hi")
        self.assertEqual(bot.reply("echo hi", private=True), "hi")
        self.assertIsNone(bot.reply("echo hi"))
        self.assertIsNone(bot.reply("!echoes hi"))
        self.assertIsNone(bot.reply("!echo"))

    def test_configured_prefix(self):
        bot = Harness(echo, config={"irc": {"command_prefix": "."}})
        self.assertEqual(bot.reply(".echo x"), "x")
        self.assertIsNone(bot.reply("!echo x"))

    def test_private_reply_goes_to_sender(self):
        bot = Harness(echo)
        bot.reply("echo secret", private=True, source="bob")
        self.assertEqual(bot.sent, [("bob", "secret", "say")])

    def test_one_reply_per_line_by_weight(self):
        @handler(subscribe=["chat.#"])
        def heavy(msg):
            return {"content": "heavy", "weight": 10}

        @handler(subscribe=["chat.#"])
        def light(msg):
            return {"content": "light"}
        bot = Harness(light, heavy)
        self.assertEqual(bot.reply("x"), "heavy")
        self.assertEqual(bot.sent, [("#pubbot", "heavy", "say")])

    def test_async_handler(self):
        @handler(subscribe=["chat.#"])
        async def slow(msg):
            await msg.bot.store.set("k", msg.content)
            return {"content": "stored " + await msg.bot.store.get("k")}
        self.assertEqual(Harness(slow).reply("v"), "stored v")

    def test_message_attribute_access(self):
        m = Message("t.x", {"content": "hi", "source_id": None})
        self.assertEqual(m.content, "hi")
        self.assertIsNone(m.source_id)
        self.assertRaises(AttributeError, getattr, m, "missing")
        self.assertEqual(Message.from_dict(m.to_dict()), m)

    def test_reply_round_trip(self):
        r = Reply(("a", "b"), "notice", 2)
        self.assertEqual(Reply.from_dict(r.to_dict()), r)


def let_through(content_filter, texts):
    """The positions of C{texts}, one batch, that the dispatcher lets a handler with C{content_filter} see."""
    batch = [Message("chat.irc.#c.chat", {"content": t}) for t in texts]
    return set(ContentFilter(content_filter).select(batch, joined_contents(batch)))


# Regexes of the kinds plugins write: anchors (which the filter searches
# with re.MULTILINE, over a batch's joined lines when it can), case
# folding, lookarounds, \A and \Z (searched line by line).
_REGEXES = [r"^foo", r"bar$", r"^$", r"o\?$", r"a.b", r"stra\u00dfe", r"x\Z", r"\Aq", r"(?<!\w)w(?!\w)",
            r"^(?P<a>\w+)=(?P<b>\w*)$", r"\s+is\s+", r"(?s)o.o"]
_TEXT = st.text(alphabet="fobarxqw?= \n\r\u00dfSs\u0130iI", max_size=12)


class ContentFilterTests(SynchronousTestCase):
    def test_parse_chat_text_filters_by_its_own_regex(self):
        self.assertIsInstance(my_chat_handler.pattern, patterns.LinearPattern)
        self.assertEqual(my_chat_handler.pattern.pattern, r'foo=(?P<foo>[\d\w]+), bar=(?P<bar>[\d\w]+)')
        # The pattern is its content filter, which the dispatcher runs on RE2 too.
        self.assertIs(my_chat_handler.content_filter, my_chat_handler.pattern)
        self.assertIsInstance(ContentFilter(my_chat_handler.content_filter).pattern, patterns.LinearPattern)
        self.assertFalse(IBatchHandler.providedBy(my_chat_handler))
        loud = parse_chat_text(r"^hello$", re.IGNORECASE)(lambda msg: "hi")
        self.assertEqual(loud.pattern.flags & re.IGNORECASE, re.IGNORECASE)
        bot = Harness(loud)
        bot.bot.bus.submit_many([bot.bot.chat_message("irc", "#c", "ann", text, False, {})
                                 for text in ("HELLO", "hello there", "oh hello", "Hello")])
        self.assertEqual(bot.sent, [("#c", "hi", "say"), ("#c", "hi", "say")])

    def test_a_batch_without_a_match_is_one_search(self):
        searched = []
        h = parse_chat_text(r"b+c")(lambda msg: "bc")
        found = ContentFilter(h.content_filter)
        self.assertIsInstance(found.pattern, patterns.LinearPattern)

        class Counting:
            def __init__(self, pattern):
                self.pattern = pattern

            def search(self, text):
                searched.append(text)
                return self.pattern.search(text)
        found.pattern = Counting(found.pattern)
        batch = [Message("chat.irc.#c.chat", {"content": t}) for t in ("ab", "c b", "xyz")]
        self.assertEqual(found.select(batch, joined_contents(batch)), [])
        self.assertEqual(searched, ["ab\nc b\nxyz"])
        batch.append(Message("chat.irc.#c.chat", {"content": "abbc"}))
        self.assertEqual(found.select(batch, joined_contents(batch)), [3])

    def test_anchored_to_the_text_searches_line_by_line(self):
        for regex in (r"\Afoo", r"foo\Z"):
            h = parse_chat_text(regex)(lambda msg: "foo")
            found = ContentFilter(h.content_filter)
            self.assertFalse(found.safe, regex)
            self.assertEqual(let_through(h.content_filter, ["x", "foo", "y"]), {1})

    def test_a_pattern_re2_refuses_filters_on_pythons_re(self):
        h = parse_chat_text(r"(?<!x)foo")(lambda msg: "foo")
        self.assertNotIsInstance(ContentFilter(h.content_filter).pattern, patterns.LinearPattern)
        self.assertEqual(let_through(h.content_filter, ["xfoo", "a foo", "y"]), {1})

    def test_handlers_take_a_filter(self):
        @handler(subscribe=CHAT_LINES, content_filter="x+y")
        def xy(msg):
            return "xy"
        self.assertEqual(xy.content_filter, "x+y")
        self.assertIsNone(my_other_handler.content_filter)
        self.assertIsNone(echo.content_filter)
        self.assertEqual(Handler(len, [CHAT_LINES], content_filter="z").content_filter, "z")
        bot = Harness(xy)
        self.assertEqual(bot.reply("an xxy here"), "xy")
        self.assertIsNone(bot.reply("an x y here"))
        bot.bot.bus.submit_many([bot.bot.chat_message("irc", "#c", "ann", text, False, {})
                                 for text in ("no", "xy", "y x", "xxxy")])
        self.assertEqual([text for _, text, _ in bot.sent], ["xy", "xy", "xy"])

    @given(st.sampled_from(_REGEXES), st.sampled_from([0, re.IGNORECASE]), st.lists(_TEXT, max_size=6))
    def test_parse_chat_text_filter_finds_every_line_its_matcher_takes(self, regex, flags, texts):
        h = parse_chat_text(regex, flags)(lambda msg, **kwargs: "ok")
        batch = [Message("chat.irc.#c.chat", {"content": t}) for t in texts]
        taken = {i for i, m in enumerate(batch) if h.matcher(m) is not None}
        self.assertIs(h.content_filter, h.pattern)
        self.assertLessEqual(taken, let_through(h.content_filter, texts))


class HandleEachTests(SynchronousTestCase):
    """L{pubbot.api.handle_each}: a batch handler's own calls fail as the dispatcher's do."""

    def setUp(self):
        from zope.interface import implementer

        @implementer(IBatchHandler)
        class Picky(Handler):
            def handle_many(self, messages):
                return handle_each(self, messages, handle=self.pick)

            def pick(self, msg):
                if msg.content == "boom":
                    raise RuntimeError("picky")
                return "picked " + msg.content

        self.handler = Picky(lambda msg: None, [CHAT_LINES], name="picky")
        verifyObject(IBatchHandler, self.handler)
        self.bot = Harness(self.handler)
        self.log = capture_logs(self)

    def test_failures_counted_and_logged_within_bounds(self):
        # A line that makes it raise can be sent without end: logged
        # FAILURE_LOGS times a minute at most, every one counted.
        for _ in range(3 * FAILURE_LOGS):
            self.assertIsNone(self.bot.reply("boom"))
        self.assertEqual(self.bot.reply("fine"), "picked fine")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), FAILURE_LOGS)
        self.assertEqual(self.bot.bot.dispatcher.stats["picky"].errors, 3 * FAILURE_LOGS)
        logged = self.log.matching("handler picky failed on chat.irc.#pubbot.chat")
        self.assertEqual(len(logged), FAILURE_LOGS)
        self.bot.clock.advance(60)
        self.assertIsNone(self.bot.reply("boom"))
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertTrue(self.log.matching("(%d failures so far)" % (3 * FAILURE_LOGS + 1)))

    def test_a_message_outside_a_bot_is_logged(self):
        self.assertEqual(handle_each(self.handler, [Message("chat.irc.#c.chat", {"content": "boom"}),
                                                    Message("chat.irc.#c.chat", {"content": "x"})],
                                     handle=self.handler.pick), [(1, "picked x")])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class Spy:
    """A pattern that records the texts it is asked to match."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.texts = []

    def match(self, text):
        self.texts.append(text)
        return self.pattern.match(text)


@command("purge", args=r"(?P<what>.+?)", usage="<what>", admin=True)
def purge(msg, what=None):
    """Admins: purges something."""
    return "purged %s" % (what,)


class AdminCommandTests(SynchronousTestCase):
    ADMINS = {"plugins": {"admins": ["root", "ops@trusted.example"]}}

    def setUp(self):
        self.spy = purge.pattern = Spy(purge.pattern)
        self.addCleanup(setattr, purge, "pattern", self.spy.pattern)
        self.bot = Harness(purge, echo, config=self.ADMINS)

    def test_admins_use_it(self):
        self.assertEqual(self.bot.reply("!purge logs", account="root"), "purged logs")
        self.assertEqual(self.bot.reply("!purge logs", source="x", hostmask="x!ops@trusted.example"),
                         "purged logs")
        self.assertEqual(self.spy.texts, ["purge logs", "purge logs"])

    def test_others_are_refused_before_the_args_pattern_runs(self):
        hostile = "purge " + "x " + " " * 500 + "y"
        self.assertEqual(self.bot.reply("!" + hostile, source="root", account=None),
                         "Sorry root, only admins can use purge.")
        self.assertEqual(self.bot.reply("pubbot: PURGE", source="eve"),
                         "Sorry eve, only admins can use purge.")
        self.assertEqual(self.spy.texts, [])

    def test_other_words_are_not_refused(self):
        self.assertIsNone(self.bot.reply("!purges logs", source="eve"))
        self.assertIsNone(self.bot.reply("purge logs", source="eve"))  # not addressed
        self.assertEqual(self.bot.reply("!echo purge", source="eve"), "purge")
        self.assertEqual(self.spy.texts, [])

    def test_only_lines_with_the_fixed_start_of_args_are_refused(self):
        spy = Spy(None)

        @command("when", args=r"someone\s+says\s+(?P<phrase>.+?)\s+reply\s+(?P<reply>.+)", admin=True)
        def teach(msg, phrase=None, reply=None):
            return "taught"
        spy.pattern, teach.pattern = teach.pattern, spy
        self.assertEqual(teach.said.pattern, r"when(?:\s*\Z|\s+someone\s{1,}says\s{1,})")
        bot = Harness(teach, echo, config=self.ADMINS)
        self.assertIsNone(bot.reply("pubbot: when is lunch?", source="eve"))
        self.assertEqual(bot.reply("pubbot: when  Someone  says x reply y", source="eve"),
                         "Sorry eve, only admins can use when.")
        # (one refusal a minute each)
        self.assertIsNone(bot.reply("!when", source="eve"))
        bot.clock.advance(60)
        self.assertEqual(bot.reply("!when", source="eve"), "Sorry eve, only admins can use when.")
        self.assertEqual(spy.texts, [])
        self.assertIsNone(bot.reply("pubbot: when is lunch?", account="root"))
        self.assertEqual(bot.reply("!when someone says x reply y", account="root"), "taught")
        # Not even an admin's line runs it without the fixed start: it could not match.
        self.assertEqual(spy.texts, ["when someone says x reply y"])

    def test_a_custom_refusal(self):
        refusal = "No, %(nick)s: %(command)s is for admins."
        h = command("nuke", admin=True, refusal=refusal)(lambda msg: "boom")
        self.assertEqual(Harness(h, config=self.ADMINS).reply("!nuke", source="eve"),
                         "No, eve: nuke is for admins.")
        self.assertTrue(verifyObject(IHandler, h))


class PatternTests(SynchronousTestCase):
    def test_commands_and_chat_patterns_run_on_re2(self):
        for h in (echo, purge, my_chat_handler):
            self.assertIsInstance(h.pattern, patterns.LinearPattern, h)
            self.assertLessEqual(patterns.work_bound(h.pattern, 512), patterns.LIMIT)

    def test_a_pattern_re2_refuses_still_works_with_a_warning(self):
        with capturedLogs() as events:
            @parse_chat_text(r"(?<![\w@])@(?P<who>\w+)")
            def mention(msg, who):
                return "hi " + who
        self.assertIsInstance(mention.pattern, re.Pattern)
        self.assertIs(mention.content_filter, mention.pattern)  # the dispatcher filters batches
        [event] = events
        self.assertEqual(event["owner"], "%s.%s" % (__name__, "PatternTests.test_a_pattern_re2_refuses_still_"
                                                              "works_with_a_warning.<locals>.mention"))
        self.assertEqual(event["pattern"], r"(?<![\w@])@(?P<who>\w+)")
        self.assertEqual(Harness(mention).reply("ping @bob"), "hi bob")
        self.assertIsNone(Harness(mention).reply("mail a@bob"))

    def test_named_groups_still_come_as_arguments(self):
        self.assertEqual(Harness(my_chat_handler).reply("x foo=\u00e91, bar=\u0663 y"),
                         'Foo was "\u00e91", bar was "\u0663"')
        self.assertEqual(echo.matcher(Message("t", {"command": "ECHO  a b"})), {"text": "a b"})


class PublicSurfaceTests(SynchronousTestCase):
    """pubbot.api is all a plugin needs; the package says it is typed."""

    def test_every_export_exists_and_the_helpers_are_there(self):
        import pubbot.api as api
        for name in api.__all__:
            self.assertTrue(hasattr(api, name), name)
        for name in ("key", "section", "checks", "Message", "Reply", "IStore", "person_key", "is_admin",
                     "one_line", "fill", "clean_text", "format_duration", "possessive", "plural", "sentence",
                     "Limits", "RateLimiter", "BoundedLog", "patterns", "secret"):
            self.assertIn(name, api.__all__)
        from pubbot.config.registry import key
        self.assertIs(api.key, key)  # the key the core's tables use

    def test_py_typed_is_shipped(self):
        import configparser
        import os

        from .support.servers import ROOT
        self.assertTrue(os.path.exists(os.path.join(ROOT, "pubbot", "py.typed")))
        setup = configparser.ConfigParser()
        setup.read(os.path.join(ROOT, "setup.cfg"))
        self.assertIn("py.typed", setup["options.package_data"]["pubbot"])

    def test_the_decorators_are_typed_for_a_plugin_checked_strictly(self):
        # mypy --strict on a plugin refuses untyped decorators ("makes function untyped")
        import typing

        import pubbot.api as api
        from pubbot.core.jobs import Job
        made = {api.command: api.Command, api.handler: api.Handler, api.parse_chat_text: api.PatternHandler,
                api.every: Job, api.cron: Job}
        for decorator, kind in made.items():
            returned = typing.get_type_hints(decorator).get("return")
            self.assertIsNotNone(returned, decorator.__name__)
            self.assertIs(typing.get_args(returned)[1], kind, decorator.__name__)
        for decorator in (api.require, api.rate, api.example):  # the function (or handler) as it was
            returned = typing.get_type_hints(decorator).get("return")
            self.assertIsNotNone(returned, decorator.__name__)
            [given], gives = typing.get_args(returned)
            self.assertIsInstance(given, typing.TypeVar, decorator.__name__)
            self.assertIs(gives, given, decorator.__name__)

    def test_a_bot_has_all_a_plugin_bot_lists(self):
        # mypy checks the types (pubbot.core.bot._provides_plugin_bot); this, that the names are there
        from pubbot.api import PluginBot
        bot = Harness().bot
        listed = [name for name in vars(PluginBot) if not name.startswith("_")]
        self.assertIn("store", listed)
        for name in listed:
            self.assertTrue(hasattr(bot, name), name)


GOOD_PLUGIN = '''
from pubbot.api import Message, PluginBot, command, every
from pubbot.testing import Harness


@command("hello")
def hello(msg: Message) -> str:
    seen = msg.bot.store.get("seen:" + msg.source)
    seen.addCallback(lambda value: None)
    prefix = msg.bot.command_prefix(msg.network)
    return "%shello %s, I am %s" % (prefix, msg.source, msg.bot.nick(msg.network))


@every(60)
def tick(bot: PluginBot) -> None:
    bot.state["ticks"] = bot.clock.seconds() + bot.random.random()
    bot.store.incr("ticks").addCallback(lambda n: bot.send("irc", "#c", "tick %d" % (n,)))
    bot.later(5.0, tick, bot)


def harness_bot() -> PluginBot:
    return Harness(hello, tick).bot
'''

TYPO_PLUGIN = '''
from pubbot.api import Message, PluginBot, command, every


@command("hello")
def hello(msg: Message) -> str:
    msg.bot.sotre.get("seen:" + msg.source)
    return "hello"


@every(60)
def tick(bot: PluginBot) -> None:
    bot.clokc.seconds()


@every(60)
def takes_a_number(seconds: float) -> None:
    pass
'''


class PluginTypesTests(SynchronousTestCase):
    """mypy --strict on a plugin using pubbot.api sees what msg.bot and a job's bot have."""

    def test_mypy_strict_passes_a_plugin_and_finds_its_typos(self):
        import os
        import subprocess
        import sys
        import tempfile

        from .support.servers import ROOT
        with tempfile.TemporaryDirectory() as tmp:
            for name, text in (("good_plugin", GOOD_PLUGIN), ("typo_plugin", TYPO_PLUGIN)):
                with open(os.path.join(tmp, name + ".py"), "w") as f:
                    f.write(text)
            run = subprocess.run(
                [sys.executable, "-m", "mypy", "--strict", "--config-file", os.path.join(ROOT, "setup.cfg"),
                 "--cache-dir", os.path.join(tmp, "cache"), "--no-error-summary", "--show-error-codes",
                 os.path.join(tmp, "good_plugin.py"), os.path.join(tmp, "typo_plugin.py")],
                cwd=ROOT, capture_output=True, text=True, timeout=600)
        errors = [line.split(os.sep)[-1] for line in run.stdout.splitlines() if ": error:" in line]
        self.assertEqual([e for e in errors if e.startswith("good_plugin")], [], run.stdout + run.stderr)
        typos = [e for e in errors if e.startswith("typo_plugin")]
        self.assertEqual(len(typos), 3, run.stdout + run.stderr)
        self.assertIn('"PluginBot" has no attribute "sotre"', typos[0])
        self.assertIn('"PluginBot" has no attribute "clokc"', typos[1])
        self.assertIn('expected "Callable[[PluginBot], Any]"', typos[2])  # a job is given the bot
