"""Several networks in one bot: every reply goes back where its message came from, per-network state."""

from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins import core, fun, greet
from pubbot.plugins import seen as seen_module
from pubbot.plugins.seen import SEEN_PREFIX
from pubbot.testing import Harness

#: The [irc] network and [networks.libera], whose nick and command prefix differ.
TWO = {"irc": {"server": "tcp:a.example:6667"},
       "networks": {"libera": {"server": "tcp:b.example:6667", "nick": "pb", "command_prefix": "?"}}}


class RoutingTests(SynchronousTestCase):
    def setUp(self):
        self.h = Harness(core.ping, core.help, fun.blame, config=TWO)
        self.irc, self.libera = self.h.chats["irc"], self.h.chats["libera"]

    def test_a_reply_goes_back_to_its_network(self):
        self.assertEqual(self.h.reply("?ping", network="libera", channel="#l"), "pong")
        self.assertEqual((self.libera.sent, self.irc.sent), ([("#l", "pong", "say")], []))
        self.assertEqual(self.h.reply("!ping"), "pong")
        self.assertEqual(self.irc.sent, [("#pubbot", "pong", "say")])
        self.assertEqual(len(self.libera.sent), 1)

    def test_private_replies_too(self):
        self.h.reply("ping", network="libera", source="bob", private=True)
        self.assertEqual((self.libera.sent, self.irc.sent), ([("bob", "pong", "say")], []))

    def test_each_network_has_its_prefix_and_nick(self):
        self.assertIsNone(self.h.reply("!ping", network="libera"))
        self.assertIsNone(self.h.reply("?ping"))
        self.assertEqual(self.h.reply("pb: ping", network="libera"), "pong")
        self.assertIsNone(self.h.reply("pb: ping"))  # not the bot's nick on irc
        self.h.reply("help", network="libera", private=True, source="bob")
        self.assertIn("?ping", self.libera.sent[-1][1])  # help shows that network's prefix

    def test_help_by_notice_goes_to_the_asking_network(self):
        self.h.reply("?help", network="libera", source="bob")
        self.assertEqual([target for target, _, kind in self.libera.sent], ["#pubbot"])
        self.assertEqual(self.irc.sent, [])

    def test_announce_reaches_every_network(self):
        self.h.bot.announce(["#pubbot", "#music"], "now playing", "notice")
        for chat in (self.irc, self.libera):
            self.assertEqual(chat.sent, [("#pubbot", "now playing", "notice"),
                                         ("#music", "now playing", "notice")])

    def test_rosters_are_per_network(self):
        self.irc.rosters["#pubbot"] = ["pubbot", "carol"]
        self.libera.rosters["#pubbot"] = ["pb", "bob"]
        self.assertEqual(self.h.reply("?blame", network="libera"), "It's all bob's fault!")
        self.assertEqual(self.h.reply("!blame"), "It's all carol's fault!")

    def test_messages_say_their_network(self):
        seen = []
        self.h.bot.dispatcher.observers.append(seen.append)
        self.h.reply("hi", network="libera")
        self.h.join("carol", network="libera")
        self.assertEqual([(m.topic, m.fields["network"], m.fields["protocol"]) for m in seen],
                         [("chat.libera.#pubbot.chat", "libera", "irc"),
                          ("chat.libera.#pubbot.join", "libera", "irc")])


class StateTests(SynchronousTestCase):
    def test_seen_keeps_each_network_apart_and_the_first_keys_unchanged(self):
        h = Harness(seen_module.seen, config=TWO)
        h.reply("on irc", source="Zed")
        h.reply("on libera", source="Yan", network="libera")
        self.assertEqual(h.reply("!seen yan"), "I haven't seen yan.")
        self.assertIn("saying: on libera", h.reply("?seen yan", network="libera"))
        self.assertEqual(h.reply("?seen zed", network="libera"), "I haven't seen zed.")
        h.clock.advance(h.settings.seen.flush_seconds + 1)
        on_irc = h._now(h.store.hgetall(SEEN_PREFIX + "irc"))  # the key from before several networks
        on_libera = h._now(h.store.hgetall(SEEN_PREFIX + "libera"))
        self.assertEqual(("zed" in on_irc, "yan" in on_irc), (True, False))
        self.assertEqual(("zed" in on_libera, "yan" in on_libera), (False, True))
        self.assertIn("saying: on irc", h.reply("!seen zed"))

    def test_a_note_is_delivered_on_its_network_only(self):
        h = Harness(seen_module.tell, config=TWO)
        self.assertIn("I'll tell dave", h.reply("?tell dave the cake", network="libera", source="bob"))
        h.reply("hello", source="dave")  # dave on the other network is someone else
        self.assertEqual(h.chats["irc"].sent, [])
        h.reply("hello", source="dave", network="libera")
        self.assertIn("the cake", h.chats["libera"].sent[-1][1])

    def test_greetings_know_the_bot_on_each_network(self):
        h = Harness(greet.greeter, config=TWO)
        self.assertIsNone(h.join("pb", network="libera"))  # the bot itself, there
        self.assertIsNotNone(h.join("pubbot", network="libera"))  # someone else, there
        self.assertIsNone(h.join("pubbot"))
