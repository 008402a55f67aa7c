"""
The admin commands on a real IRC service (scripted server on a
StringTransport, the real local bus): join, part, say, act, nick, quit;
refusals, bad arguments, limits, text that cannot inject lines, joins
and parts kept across a restart, and orders given in another process.
"""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from pubbot import admin as adminmod
from pubbot.admin import CHANNELS_KEY, ORDER_KEY, Keeper, channel_problem, split_place
from pubbot.core.localbus import LocalBus
from pubbot.irc.service import IRCService
from pubbot.plugins import admin as plugin

from .support.irc import Connection, make_service

ADMIN = ":root!root@admin.example"
EVE = ":eve!eve@elsewhere.example"
HANDLERS = (plugin.admin_keeper, plugin.join, plugin.part, plugin.say, plugin.act, plugin.nick, plugin.quit)


def start_bot(store=None, **irc):
    service = make_service(dict({"channels": ["#pubbot"]}, **irc), plugins={"admins": ["*@admin.example"]})
    bot = service.bot
    if store is not None:
        bot.store = store
    bot.bus = LocalBus(bot)
    for h in HANDLERS:
        bot.add_handler(h)
    bot.start()
    return service


class AdminTests(SynchronousTestCase):
    def setUp(self):
        self.service = start_bot()
        self.bot = self.service.bot
        self.addCleanup(self.bot.stop)
        self.conn = self.connect(self.service)
        self.stopped = []
        self.bot.shutdown = lambda: self.stopped.append(True)

    def connect(self, service):
        conn = Connection(service)
        conn.register()
        conn.join("#pubbot", "root eve")
        conn.sent()
        return conn

    def line(self, text, who=ADMIN, channel="#pubbot"):
        self.conn.feed("%s PRIVMSG %s :%s" % (who, channel, text))
        return self.conn.sent()

    def test_join_and_part(self):
        self.assertEqual(self.line("!join #new"), ["JOIN #new", "PRIVMSG #pubbot :Joining #new."])
        self.assertEqual(self.line("!join #locked sesame"),
                         ["JOIN #locked sesame", "PRIVMSG #pubbot :Joining #locked."])
        self.assertEqual(self.line("!part #new see you"),
                         ["PART #new :see you", "PRIVMSG #pubbot :Leaving #new."])
        self.assertIn(("#locked", "sesame"), self.service.wanted_channels)
        self.assertNotIn("#new", [n for n, _ in self.service.wanted_channels])
        kept = self.successResultOf(self.bot.store.hgetall(CHANNELS_KEY % ("irc",)))
        self.assertEqual({k: (v["joined"], v["key"]) for k, v in kept.items()}, {"#locked": (True, "sesame")})

    def test_part_here_by_default(self):
        self.assertEqual(self.line("!part"), ["PART #pubbot", "PRIVMSG #pubbot :Leaving #pubbot."])
        kept = self.successResultOf(self.bot.store.hgetall(CHANNELS_KEY % ("irc",)))
        self.assertFalse(kept["#pubbot"]["joined"])

    def test_part_needs_a_channel_in_private(self):
        self.assertEqual(self.line("!part", channel="pubbot"),
                         ["PRIVMSG root :Usage: !part #channel[@network] [--network NAME] [reason]"])

    def test_say_and_act(self):
        self.assertEqual(self.line("!say #other hello there"),
                         ["PRIVMSG #other :hello there", "PRIVMSG #pubbot :Sent to #other."])
        self.assertEqual(self.line("!act #pubbot waves"), ["PRIVMSG #pubbot :\x01ACTION waves\x01"])

    def test_text_cannot_inject_lines(self):
        # what arrives from a network never has CR or LF, but the console and the
        # other processes are not IRC: the admin plugin sends one line whatever it gets
        replies = []
        self.bot.sent_observers.append(lambda *a: replies.append(a))
        msg = plugin.say.func
        from pubbot.core.message import Message
        m = Message("chat.irc.#pubbot.chat", {"network": "irc", "channel": "#pubbot", "source": "root",
                                              "private": False}, self.bot)
        self.assertEqual(msg(m, "#pubbot hi\r\nQUIT :bye\nJOIN #x\x00"), None)
        self.assertEqual(replies[-1][2], "hi QUIT :bye JOIN #x")
        self.assertEqual(self.conn.sent(), ["PRIVMSG #pubbot :hi QUIT :bye JOIN #x"])
        refusal = "PRIVMSG #pubbot :root: a channel's name has no spaces, commas or control characters."
        self.assertEqual(self.line("!join #a\x07b"), [refusal])
        self.assertEqual(self.line("!join #a,#b"), [refusal])
        self.assertEqual(self.line("!join #a k:ey")[0][:24], "PRIVMSG #pubbot :root: a")

    def test_nick(self):
        self.assertEqual(self.line("!nick botty"),
                         ["NICK botty", "PRIVMSG #pubbot :Changing my nick to botty."])
        self.assertEqual(self.line("!nick 9lives"), ["PRIVMSG #pubbot :root: '9lives' cannot be a nick."])
        self.assertEqual(self.line("!nick a!b"), ["PRIVMSG #pubbot :root: 'a!b' cannot be a nick."])

    def test_quit_stops_the_daemon(self):
        # (the QUIT itself, with its reason, is seen by a real server: tests/integration)
        reasons = []
        self.service.stop_connection = lambda reason: reasons.append(reason)
        self.conn.feed("%s PRIVMSG #pubbot :!quit time for bed" % (ADMIN,))
        self.assertEqual((reasons, self.stopped), (["time for bed"], [True]))
        self.conn.feed("%s PRIVMSG #pubbot :!quit again" % (ADMIN,))
        self.assertEqual(self.stopped, [True])

    def test_refused_to_others(self):
        for text in ("!join #x", "!part", "!say #x hi", "!act #x hi", "!nick evil", "!quit"):
            word = text.split()[0][1:]
            self.assertEqual(self.line(text, who=EVE),
                             ["PRIVMSG #pubbot :Sorry eve, only admins can use %s." % (word,)])
        self.assertEqual(self.stopped, [])
        self.assertEqual(self.successResultOf(self.bot.store.keys("admin:")), [])

    def test_bad_arguments_get_the_usage(self):
        join = "!join #channel[@network] [key] [--network NAME]"
        for text, usage in (("!join", join), ("!join #a b c", join),
                            ("!say #x", "!say #channel[@network] [--network NAME] text"),
                            ("!act", "!act #channel[@network] [--network NAME] text"),
                            ("!nick", "!nick name [--network NAME]")):
            self.assertEqual(self.line(text), ["PRIVMSG #pubbot :Usage: " + usage])
        self.assertEqual(self.line("!join nochannel"), [
            "PRIVMSG #pubbot :root: a channel's name starts with # and is at most 50 characters."])
        self.assertEqual(self.line("!say #x@nowhere hi"),
                         ["PRIVMSG #x@nowhere :hi", "PRIVMSG #pubbot :Sent to #x@nowhere."])

    def test_a_limit_on_kept_channels(self):
        for i in range(adminmod.MAX_CHANNELS):
            self.successResultOf(self.bot.store.hset(CHANNELS_KEY % ("irc",), "#c%d" % i,
                                                     {"name": "#c%d" % i, "joined": False}))
        self.assertEqual(self.line("!join #one-more"),
                         ["PRIVMSG #pubbot :I already keep 100 channel changes for irc; part some first."])

    def test_joins_and_parts_survive_a_restart(self):
        self.line("!join #new")
        self.line("!part #pubbot")
        store = self.bot.store
        again = start_bot(store=store)
        self.addCleanup(again.bot.stop)
        self.assertEqual(again.wanted_channels, [("#new", None)])
        conn = Connection(again)
        conn.register()
        self.assertEqual([line for line in conn.sent() if line.startswith("JOIN")], ["JOIN #new"])

    def test_orders_from_another_process(self):
        # a worker (no connection here) keeps the orders; the process holding
        # the connection carries them out on its next poll
        worker = Keeper(self.bot)
        self.successResultOf(worker.record("irc", "#far", True, None, "root"))
        self.successResultOf(worker.order("irc", "nick", "faraway"))
        self.conn.clock.advance(adminmod.POLL_SECONDS)
        self.assertEqual(sorted(self.conn.sent()), ["JOIN #far", "NICK faraway"])
        self.conn.clock.advance(adminmod.POLL_SECONDS)
        self.assertEqual(self.conn.sent(), [])  # once
        self.successResultOf(worker.order("*", "quit", "maintenance"))
        self.conn.clock.advance(adminmod.POLL_SECONDS)
        self.assertEqual(self.stopped, [True])

    def test_an_old_quit_is_not_obeyed(self):
        self.successResultOf(self.bot.store.set(ORDER_KEY % ("quit", "*"),
                                                {"id": "x", "value": "old", "at": self.bot.started_at - 1}))
        self.conn.clock.advance(adminmod.POLL_SECONDS * 2)
        self.assertEqual(self.stopped, [])


class NetworkTests(SynchronousTestCase):
    def test_channel_at_network(self):
        self.assertEqual(split_place("#c@libera", {"irc": 1, "libera": 2}, "irc"), ("libera", "#c"))
        self.assertEqual(split_place("#c@nowhere", {"irc": 1}, "irc"), ("irc", "#c@nowhere"))
        self.assertEqual(split_place("#c", {"irc": 1}, "irc"), ("irc", "#c"))

    def test_channel_names(self):
        self.assertIsNone(channel_problem("#ok"))
        for bad in ("", "nochan", "#a b", "#a,b", "#a\rb", "#" + "x" * 60):
            self.assertIsNotNone(channel_problem(bad), bad)

    def test_the_service_checks_too(self):
        service = make_service()
        self.assertIsInstance(service, IRCService)
        self.assertFalse(service.join_channel("#a b"))
        self.assertFalse(service.join_channel("nochan"))
        self.assertFalse(service.part_channel("#a\r\nQUIT"))
        self.assertFalse(service.change_nick("#chan"))
        self.assertTrue(service.join_channel("#fine"))


class ContractTests(SynchronousTestCase):
    def test_handlers_provide_ihandler(self):
        from zope.interface.verify import verifyObject

        from pubbot.core.interfaces import IHandler
        for h in HANDLERS:
            self.assertTrue(verifyObject(IHandler, h))

    def test_patterns_are_bounded(self):
        from pubbot.testing import check_patterns
        check_patterns(plugin)


class ConsoleTests(SynchronousTestCase):
    def test_no_channels_on_the_console(self):
        from pubbot.testing import Harness
        bot = Harness(*HANDLERS, network="console", config={"plugins": {"admins": ["*@*"]}})
        self.addCleanup(bot.stop)
        for text in ("!join #x", "!part #x", "!nick other"):
            self.assertEqual(bot.reply(text, channel="#console"),
                             "There are no channels to join or part on console.")
        self.assertEqual(bot.reply("!nick other irc", channel="#console"), "I am not on irc.")
        self.assertEqual(bot.reply("!say #console hello", channel="#console"), None)
        self.assertEqual(bot.sent[-1], ("#console", "hello", "say"))
        self.assertEqual(self.successResultOf(bot.store.keys("admin:")), [])


class NetworkWordTests(SynchronousTestCase):
    """C{--network NAME}: the other way to name a network (C{#chan@network} being one)."""

    def setUp(self):
        from pubbot.testing import Harness
        self.h = Harness(*HANDLERS, config={"plugins": {"admins": ["*@*"]},
                                            "networks": {"oftc": {"server": "tcp:irc.oftc.example:6667"}}})
        self.addCleanup(self.h.stop)

    def kept(self, network):
        return sorted(self.successResultOf(self.h.bot.store.hgetall(CHANNELS_KEY % (network,))) or {})

    def test_join_and_part_on_another_network(self):
        h = self.h
        self.assertEqual(h.reply("!join #new --network oftc"), "Joining #new on oftc.")
        self.assertEqual(h.reply("!join --network=oftc #other"), "Joining #other on oftc.")
        self.assertEqual(h.reply("!join #locked --network oftc sesame"), "Joining #locked on oftc.")
        self.assertEqual((self.kept("oftc"), self.kept("irc")), (["#locked", "#new", "#other"], []))
        self.assertEqual(h.reply("!join #same@oftc --network oftc"), "Joining #same on oftc.")
        self.assertEqual(h.reply("!part #new --network oftc bye --network now"), "Leaving #new on oftc.")
        self.assertEqual(h.reply("!join #here"), "Joining #here.")
        self.assertEqual(self.kept("irc"), ["#here"])

    def test_say_act_and_nick(self):
        h = self.h
        self.assertEqual(h.reply("!say #x --network oftc hello --network there"), "Sent to #x on oftc.")
        self.assertEqual(h.chats["oftc"].sent, [("#x", "hello --network there", "say")])
        self.assertEqual(h.reply("!act --network oftc #x waves"), "Sent to #x on oftc.")
        self.assertEqual(h.chats["oftc"].sent[-1], ("#x", "waves", "action"))
        self.assertEqual(h.reply("!nick botty --network oftc"), "Changing my nick to botty on oftc.")
        self.assertEqual(h.reply("!nick botty2 oftc"), "Changing my nick to botty2 on oftc.")

    def test_unknown_networks_and_conflicts(self):
        h = self.h
        for text in ("!join #x --network nowhere", "!part #x --network nowhere",
                     "!say #x --network nowhere hi", "!nick botty --network nowhere"):
            self.assertEqual(h.reply(text), "I know no network nowhere (networks: irc, oftc).", text)
        self.assertEqual(h.reply("!join #x --network"), "Say --network NAME (one of irc, oftc).")
        self.assertEqual(h.reply("!join #x@oftc --network irc"),
                         "alice: #x@oftc is on oftc, not irc: say one network.")
        self.assertEqual(h.reply("!nick a b --network oftc"), "Usage: !nick name [--network NAME]")
        self.assertEqual(h.reply("!part --network oftc"), "Usage: !part #channel[@network] [--network NAME] "
                                                          "[reason]")
        self.assertEqual((self.kept("oftc"), self.kept("irc")), ([], []))
