"""greet: greets joiners, once a day each, once a minute per channel, never itself."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins import core
from pubbot.plugins.greet import DAY, greeter
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
                      self.bot.reply("!help greet", private=True))


class FirstTimeTests(SynchronousTestCase):
    """A first-time joiner is never welcomed back; someone who was here before may be."""

    def test_first_time_joiner_not_welcomed_back(self):
        bot = Harness(greeter, config={"greet": {"templates": ["Welcome back, %(nick)s"]}})
        self.assertEqual(text(bot.join("newbie")), "Welcome, newbie!")
        bot.clock.advance(DAY)
        self.assertEqual(text(bot.join("newbie")), "Welcome back, newbie")

    def test_default_templates_for_a_first_timer(self):
        for seed in range(20):
            bot = Harness(greeter, seed=seed)
            greeting = text(bot.join("newbie"))
            self.assertNotIn("back", greeting)
            self.assertIn("newbie", greeting)

    def test_returning_people_get_any_template(self):
        templates = ["Hi %(nick)s", "Good to see you again, %(nick)s"]
        bot = Harness(greeter, config={"greet": {"templates": templates}})
        seen = set()
        for i in range(30):
            bot.join("p%d" % i, channel="#c%d" % i)  # first time: only "Hi"
        bot.clock.advance(DAY)
        for i in range(30):
            seen.add(text(bot.join("p%d" % i, channel="#c%d" % i)).split()[0])
        self.assertEqual(seen, {"Hi", "Good"})

    def test_first_timers_choose_among_the_other_templates(self):
        bot = Harness(greeter, config={"greet": {"templates": ["Welcome back, %(nick)s", "Hi %(nick)s"]}})
        for i in range(20):
            self.assertEqual(text(bot.join("p%d" % i, channel="#c%d" % i)), "Hi p%d" % i)

    def test_known_by_person_not_by_nick(self):
        bot = Harness(greeter, config={"greet": {"templates": ["Welcome back, %(nick)s"]}})
        bot.join("bob", hostmask="bob!b@home.example")
        bot.clock.advance(DAY)
        self.assertEqual(text(bot.join("bobby", hostmask="bobby!b@home.example")), "Welcome back, bobby")
        # Another person taking a known nick is new here.
        self.assertEqual(text(bot.join("bob", channel="#other", hostmask="bob!x@elsewhere.example")),
                         "Welcome, bob!")

    def test_a_join_not_greeted_still_counts(self):
        bot = Harness(greeter, config={"greet": {"templates": ["Welcome back, %(nick)s"]}})
        bot.join("alice")
        self.assertIsNone(bot.join("bob"))  # the channel's minute
        bot.clock.advance(DAY)
        self.assertEqual(text(bot.join("bob")), "Welcome back, bob")

    def test_forgotten_after_a_year_away(self):
        bot = Harness(greeter, config={"greet": {"templates": ["Welcome back, %(nick)s"]}})
        bot.join("bob")
        bot.clock.advance(400 * DAY)
        self.assertEqual(text(bot.join("bob")), "Welcome, bob!")

    def test_store_failure_greets_as_new(self):
        from twisted.internet.defer import fail
        bot = Harness(greeter, config={"greet": {"templates": ["Welcome back, %(nick)s", "Hi %(nick)s"]}})
        bot.store.get = lambda key: fail(ConnectionError("store down"))
        self.assertEqual(text(bot.join("bob")), "Hi bob")
        self.assertEqual(len(self.flushLoggedErrors(ConnectionError)), 1)
