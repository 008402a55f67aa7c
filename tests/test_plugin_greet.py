"""greet: greets joiners, once a day each, once a minute per channel, never itself."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins import core
from pubbot.plugins.greet import greeter
from pubbot.testing import Harness


def text(reply):
    return None if reply is None else "\n".join(reply.lines)


class GreetTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(greeter, core.help, config={"greet": {"templates": ["Hello %(nick)s!"]}})

    def test_greets_a_joiner(self):
        self.assertEqual(text(self.bot.join("bob")), "Hello bob!")

    def test_templates_are_picked_at_random(self):
        bot = Harness(greeter, config={"greet": {"templates": ["a %(nick)s", "b %(nick)s", "c %(nick)s"]}})
        seen = set()
        for i in range(30):
            bot.clock.advance(61)
            seen.add(text(bot.join("p%d" % i)).split()[0])
        self.assertEqual(seen, {"a", "b", "c"})

    def test_default_templates(self):
        bot = Harness(greeter)
        self.assertIn("bob", text(bot.join("bob")))

    def test_never_greets_itself(self):
        self.assertIsNone(self.bot.join("pubbot"))
        self.assertIsNone(self.bot.join("PubBot"))
        self.assertEqual(text(self.bot.join("bob")), "Hello bob!")  # and used no limit

    def test_once_a_minute_per_channel(self):
        self.bot.join("bob")
        self.bot.clock.advance(59)
        self.assertIsNone(self.bot.join("carol"))
        self.assertEqual(text(self.bot.join("carol", channel="#other")), "Hello carol!")
        self.bot.clock.advance(1)
        self.assertEqual(text(self.bot.join("dave")), "Hello dave!")

    def test_once_a_day_per_person_even_after_a_nick_change(self):
        self.bot.join("bob", hostmask="bob!b@home.example")
        self.bot.clock.advance(3600)
        self.assertIsNone(self.bot.join("bob_", hostmask="bob_!b@home.example"))
        self.assertIsNone(self.bot.join("bob", channel="#other", hostmask="bob!b@home.example"))
        self.bot.clock.advance(86400 - 3600)
        self.assertEqual(text(self.bot.join("bob", hostmask="bob!b@home.example")), "Hello bob!")

    def test_refused_joins_do_not_extend_the_channel_minute(self):
        self.bot.join("bob")
        for i in range(59):
            self.bot.clock.advance(1)
            self.assertIsNone(self.bot.join("p%d" % i))
        self.bot.clock.advance(1)
        self.assertEqual(text(self.bot.join("zed")), "Hello zed!")

    def test_bad_templates_never_raise(self):
        bot = Harness(greeter, config={"greet": {"templates": ["%d %s %(who)s 100% %(nick)s\r\nQUIT"]}})
        self.assertEqual(text(bot.join("bob")), "%d %s %(who)s 100% bob QUIT")

    def test_no_templates_no_greeting(self):
        bot = Harness(greeter, config={"greet": {"templates": []}})
        self.assertIsNone(bot.join("bob"))

    def test_shown_by_help(self):
        self.assertIn("(someone joins): Greets people who join",
                      self.bot.reply("!help", private=True))
