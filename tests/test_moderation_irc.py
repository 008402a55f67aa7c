"""
The IRC side of moderation: IChannelModeration on the IRC service (KICK,
MODE, TOPIC through the throttle, one bounded line each, refusing what
IRC cannot carry) and the quiet mode ISUPPORT offers.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from pubbot.core.interfaces import IChannelModeration
from pubbot.irc.isupport import ISupport
from pubbot.testing import FakeChat

from .test_irc_service import Session, make


def isupport(*tokens: str) -> ISupport:
    found = ISupport()
    found.update(list(tokens))
    return found


class QuietModeTests(SynchronousTestCase):
    def test_a_q_list_mode(self):
        # solanum, charybdis: q is a list mode (quiet)
        self.assertEqual(isupport("CHANMODES=eIbq,k,flj,CFLMPQScgimnprstuz", "PREFIX=(ov)@+").quiet_mode(
            "*!*@h"), ("q", "*!*@h"))

    def test_q_as_a_prefix_mode_is_no_quiet(self):
        # ngircd: q is the founder prefix, and there is no extended ban
        ngircd = isupport("CHANMODES=beI,k,l,imMnOPQRstVz", "PREFIX=(qaohv)~&@%+")
        self.assertIsNone(ngircd.quiet_mode("*!*@h"))

    def test_a_mute_extended_ban(self):
        self.assertEqual(isupport("EXTBAN=~,m").quiet_mode("*!*@h"), ("b", "~m:*!*@h"))
        # InspIRCd: no prefix character
        self.assertEqual(isupport("PREFIX=(qaohv)~&@%+", "EXTBAN=,ACOQRSTUacjmnprswz").quiet_mode("a!b@c"),
                         ("b", "m:a!b@c"))

    def test_unrealircds_quiet_extended_ban(self):
        # its ~m is "message bypass", not a mute
        self.assertEqual(isupport("PREFIX=(qaohv)~&@%+", "EXTBAN=~,GOSTacfjmnpqrt").quiet_mode("*!*@h"),
                         ("b", "~q:*!*@h"))

    def test_no_way_to_quiet(self):
        self.assertIsNone(ISupport().quiet_mode("*!*@h"))  # RFC defaults
        self.assertIsNone(isupport("EXTBAN=$,ajrxz").quiet_mode("*!*@h"))  # no mute among the types
        self.assertIsNone(isupport("EXTBAN=~m").quiet_mode("*!*@h"))  # malformed
        self.assertIsNone(isupport("CHANMODES=eI,k,l,imnpst", "EXTBAN=~,m").quiet_mode("*!*@h"))  # no +b

    @given(st.text(max_size=40), st.text(max_size=40))
    def test_any_tokens_give_a_mode_or_none(self, chanmodes, extban):
        found = isupport("CHANMODES=" + chanmodes, "EXTBAN=" + extban).quiet_mode("*!*@h")
        self.assertTrue(found is None or (found[0] in ("q", "b") and found[1].endswith("*!*@h")))


class ServiceTests(SynchronousTestCase):
    def setUp(self):
        self.reactor, self.service = make({"throttle": {"enabled": False}})
        self.session = Session(self.reactor)
        self.service.startService()
        self.addCleanup(self.service.stopService)

    def connect(self, *isupport_tokens: str) -> None:
        self.session.accept()
        self.session.register()
        if isupport_tokens:
            self.session.feed(":srv 005 pubbot %s :are supported" % (" ".join(isupport_tokens),))
        self.session.feed(":pubbot!bot@bot.example JOIN #pubbot",
                          ":srv 353 pubbot = #pubbot :@pubbot troll",
                          ":srv 366 pubbot #pubbot :End of NAMES",
                          ":troll!t@bad.example JOIN #pubbot")
        self.session.transport.clear()

    def written(self) -> list[str]:
        return self.session.transport.value().decode("utf-8").splitlines()

    def test_provides_the_interface(self):
        self.assertTrue(verifyObject(IChannelModeration, self.service))
        self.assertTrue(verifyObject(IChannelModeration, FakeChat()))

    def test_kick_mode_and_topic_lines(self):
        self.connect()
        self.assertTrue(self.service.kick("#pubbot", "troll", "flooding, again"))
        self.assertTrue(self.service.kick("#pubbot", "troll"))
        self.assertTrue(self.service.mode("#pubbot", "+b", "*!*@bad.example"))
        self.assertTrue(self.service.mode("#pubbot", "-o", "troll"))
        self.assertTrue(self.service.set_topic("#pubbot", "welcome: be nice"))
        self.assertEqual(self.written(), ["KICK #pubbot troll :flooding, again", "KICK #pubbot troll",
                                          "MODE #pubbot +b *!*@bad.example", "MODE #pubbot -o troll",
                                          "TOPIC #pubbot :welcome: be nice"])

    def test_text_is_one_line_cut_to_the_servers_limits(self):
        self.connect("KICKLEN=20", "TOPICLEN=5000")
        self.assertTrue(self.service.kick("#pubbot", "troll", "one\r\nQUIT :two\x00 and\x07 more words"))
        self.assertTrue(self.service.set_topic("#pubbot", "x" * 1000))
        kick, topic = self.written()
        self.assertEqual(kick, "KICK #pubbot troll :one QUIT :two and mo")  # 20 characters
        self.assertEqual(topic, "TOPIC #pubbot " + "x" * 390)

    def test_what_irc_cannot_carry_is_refused(self):
        self.connect()
        for refused in (self.service.kick("pubbot", "troll"), self.service.kick("#pubbot", "a b"),
                        self.service.kick("#pubbot", "#other"), self.service.kick("#pu\r\nbbot", "troll"),
                        self.service.mode("#pubbot", "+k", "secret"),  # not a list or prefix mode
                        self.service.mode("#pubbot", "+bb", "x"), self.service.mode("#pubbot", "b", "x"),
                        self.service.mode("#pubbot", "+b", "a b"), self.service.mode("#pubbot", "+b", ":x"),
                        self.service.mode("#pubbot", "+b", "x" * 201),
                        self.service.set_topic("nochannel", "hi")):
            self.assertFalse(refused)
        self.assertEqual(self.written(), [])

    def test_nothing_is_sent_when_not_connected(self):
        self.assertFalse(self.service.kick("#pubbot", "troll", "bye"))
        self.assertFalse(self.service.mode("#pubbot", "+b", "*!*@h"))
        self.assertFalse(self.service.set_topic("#pubbot", "hi"))

    def test_hosts_and_quiet_from_the_connection(self):
        self.connect("CHANMODES=eIbq,k,flj,imnpst")
        self.assertEqual(self.service.hostmask_of("TROLL"), "troll!t@bad.example")
        self.assertEqual(self.service.hostmask_of("pubbot"), "pubbot!bot@bot.example")
        self.assertIsNone(self.service.hostmask_of("nobody"))
        self.assertEqual(self.service.quiet_mode("*!*@h"), ("q", "*!*@h"))
        self.assertTrue(self.service.mode("#pubbot", "+q", "*!*@bad.example"))
        self.assertEqual(self.written(), ["MODE #pubbot +q *!*@bad.example"])

    def test_a_nick_seen_only_in_names_has_no_known_host(self):
        self.connect()
        self.session.feed(":srv 353 pubbot = #pubbot :quiet", ":srv 366 pubbot #pubbot :End of NAMES")
        self.assertIsNone(self.service.hostmask_of("quiet"))
