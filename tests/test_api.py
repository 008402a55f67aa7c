"""The plugin API: decorators, addressing, commands, IHandler providers."""

from twisted.plugin import IPlugin
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.api import IHandler, Message, Reply, command, handler, parse_chat_text
from pubbot.testing import Harness


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
        self.assertIsNone(Harness(my_other_handler, protocol="console").reply("anything"))

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
