"""
The IRC protocol driven through StringTransport with scripted server lines:
registration, CAP, SASL, STS, ISUPPORT, nicks, channels, rosters, topics,
output, liveness, CTCP and hostile input.
"""

from __future__ import annotations

import base64
import os

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import succeed
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.service import BAD_LINE_LOGS, STS_WRITE_EVERY

from .support.irc import Connection, ScramServer, make_service
from .support.logs import capture_logs


class Base(SynchronousTestCase):
    irc: dict = {}

    def connect(self, irc=None, tls=False, **sections) -> Connection:
        config = dict(self.irc)
        config.update(irc or {})
        self.service = make_service(config, **sections)
        self.conn = Connection(self.service, tls=tls)
        return self.conn


class RegistrationTests(Base):
    def test_opening_lines(self):
        c = self.connect()
        self.assertEqual(c.sent(), ["CAP LS 302", "NICK pubbot", "USER pubbot 0 * pubbot"])

    def test_server_without_cap(self):
        c = self.connect()
        c.sent()
        c.register()
        self.assertTrue(self.service.connected)
        self.assertEqual(self.service.server_network, "TestNet")
        self.assertEqual(self.service.hostmask, "pubbot!~pubbot@host.example")
        self.assertEqual(c.sent(), ["JOIN #pubbot", "JOIN #secret key"])

    def test_channellen_respected(self):
        logs = capture_logs(self)
        c = self.connect({"channels": ["#ok", "#" + "x" * 60]})
        c.sent()
        c.register(isupport="CHANNELLEN=50")
        self.assertEqual(c.sent(), ["JOIN #ok"])
        self.assertIn("allows channel names of 50 characters", logs.text())

    def test_empty_cap_ls_ends_negotiation(self):
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS :")
        self.assertEqual(c.sent(), ["CAP END"])

    def test_multiline_ls_requests_what_is_offered(self):
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS * :multi-prefix sasl=PLAIN server-time foo",
               ":srv CAP * LS * :account-tag extended-join=x echo-message",
               ":srv CAP * LS :away-notify chghost batch message-tags")
        self.assertEqual(c.sent(), ["CAP REQ :account-tag away-notify batch chghost echo-message "
                                    "extended-join message-tags multi-prefix server-time"])
        c.feed(":srv CAP pubbot ACK :account-tag away-notify batch chghost echo-message "
               "extended-join message-tags multi-prefix server-time")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertIn("echo-message", self.service.caps.enabled)
        self.assertNotIn("sasl", self.service.caps.enabled)  # not configured, not requested

    def test_nak_still_ends(self):
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS :multi-prefix")
        c.sent()
        c.feed(":srv CAP * NAK :multi-prefix")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertEqual(self.service.caps.enabled, set())

    def test_naks_said_again_and_again_are_logged_within_bounds(self):
        logs = capture_logs(self)
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS :multi-prefix")
        c.sent()
        for i in range(100):  # refusing what was never asked: still waiting for multi-prefix
            c.feed(":srv CAP * NAK :bogus%d" % (i,))
        self.assertEqual(c.sent(), [])
        c.feed(":srv CAP * NAK :multi-prefix")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertEqual(len(logs.matching("server refused capabilities")), BAD_LINE_LOGS)
        self.assertEqual(self.service.unlogged["cap-nak"], 101 - BAD_LINE_LOGS)

    def test_cap_new_and_del(self):
        c = self.connect()
        c.sent()
        c.register(caps="cap-notify")
        c.sent()
        c.feed(":srv CAP pubbot NEW :away-notify unknown-thing")
        self.assertEqual(c.sent(), ["CAP REQ away-notify"])
        c.feed(":srv CAP pubbot ACK :away-notify")
        self.assertIn("away-notify", self.service.caps.enabled)
        c.feed(":srv CAP pubbot DEL :away-notify")
        self.assertNotIn("away-notify", self.service.caps.enabled)
        self.assertEqual(c.sent(), [])  # no CAP END after registration

    def test_nick_in_use_falls_back(self):
        c = self.connect()
        c.sent()
        c.feed(":srv 433 * pubbot :Nickname is already in use")
        c.feed(":srv 433 * pubbot_ :Nickname is already in use")
        c.feed(":srv 432 * pubbot__ :Erroneous nickname")
        c.feed(":srv 436 * pubbot_ :collision")
        self.assertEqual(c.sent(), ["NICK pubbot_", "NICK pubbot__", "NICK pubbot_", "NICK pubbot__"])
        c.feed(":srv 437 * x :unavailable", ":srv 433 * x :in use", ":srv 433 * x :in use")
        nicks = c.sent()
        self.assertEqual(nicks[0], "NICK pubbot___")
        self.assertTrue(all(n.startswith("NICK pubbot") for n in nicks))
        self.assertEqual(len(set(nicks)), 3)

    def test_registration_timeout(self):
        c = self.connect()
        c.clock.advance(119)
        self.assertFalse(c.transport.disconnected)
        c.feed("PING :x")  # a live but stuck server
        c.clock.advance(2)
        self.assertTrue(c.transport.disconnected)


class SaslTests(Base):
    irc = {"sasl": {"username": "bot", "password": "hunter2-secret"}}

    def negotiate(self, ls="sasl=PLAIN,SCRAM-SHA-256", tls=True):
        c = self.connect(tls=tls)
        self.logs = capture_logs(self)
        c.sent()
        c.feed(":srv CAP * LS :" + ls)
        sent = c.sent()
        self.assertEqual(len(sent), 1)
        requested = sent[0].split(" ", 2)[2].lstrip(":")
        self.assertTrue(sent[0].startswith("CAP REQ ") and "sasl" in requested.split(), sent)
        c.feed(":srv CAP * ACK :" + requested)
        return c

    def assertNoSecretLogged(self):
        self.assertNotIn("hunter2-secret", self.logs.text())
        self.assertNotIn(base64.b64encode(b"bot\0bot\0hunter2-secret").decode(), self.logs.text())

    def assertGaveUp(self, c):
        sent = c.sent()
        self.assertIn("QUIT :SASL failed", sent)
        self.assertNotIn("CAP END", sent)
        self.assertTrue(c.transport.disconnecting)
        self.assertFalse(self.service.connected)
        self.assertIn("SASL authentication failed", self.logs.text())

    def test_plain(self):
        self.irc = {"sasl": {"username": "bot", "password": "hunter2-secret", "mechanisms": ["PLAIN"]}}
        c = self.negotiate()
        self.assertEqual(c.sent(), ["AUTHENTICATE PLAIN"])
        c.feed("AUTHENTICATE +")
        self.assertEqual(c.sent(), ["AUTHENTICATE " + base64.b64encode(b"bot\0bot\0hunter2-secret").decode()])
        c.feed(":srv 900 pubbot pubbot!u@h bot :You are now logged in as bot",
               ":srv 903 pubbot :SASL authentication successful")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertEqual(self.service.account, "bot")
        c.feed(":srv 001 pubbot :Welcome")
        self.assertTrue(self.service.connected)
        self.assertNoSecretLogged()

    def test_scram_sha_256(self):
        c = self.negotiate()
        self.assertEqual(c.sent(), ["AUTHENTICATE SCRAM-SHA-256"])
        server = ScramServer("hunter2-secret")
        c.feed("AUTHENTICATE +")
        first = base64.b64decode(c.sent()[0].split(" ", 1)[1])
        c.feed("AUTHENTICATE " + base64.b64encode(server.first(first)).decode())
        final = base64.b64decode(c.sent()[0].split(" ", 1)[1])
        c.feed("AUTHENTICATE " + base64.b64encode(server.final(final)).decode())
        self.assertTrue(server.proof_ok)
        self.assertEqual(c.sent(), ["AUTHENTICATE +"])
        c.feed(":srv 903 pubbot :SASL authentication successful")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertNoSecretLogged()

    def test_scram_bad_server_signature_aborts(self):
        c = self.negotiate()
        c.sent()
        server = ScramServer("hunter2-secret")
        c.feed("AUTHENTICATE +")
        first = base64.b64decode(c.sent()[0].split(" ", 1)[1])
        c.feed("AUTHENTICATE " + base64.b64encode(server.first(first)).decode())
        c.sent()
        c.feed("AUTHENTICATE " + base64.b64encode(b"v=" + base64.b64encode(b"x" * 32)).decode())
        sent = c.sent()
        self.assertEqual(sent[0], "AUTHENTICATE *")
        self.assertIn("signature does not verify", self.logs.text())
        c.feed(":srv 903 pubbot :success anyway")  # a malicious server cannot talk us past it
        self.assertTrue(c.transport.disconnecting)
        self.assertNotIn("CAP END", sent + c.sent())
        self.assertNoSecretLogged()

    def test_scram_success_without_server_final_refused(self):
        c = self.negotiate()
        c.sent()
        c.feed("AUTHENTICATE +")
        c.sent()
        c.feed(":srv 903 pubbot :SASL authentication successful")
        self.assertGaveUp(c)

    def test_hostile_scram_challenge(self):
        c = self.negotiate()
        c.sent()
        c.feed("AUTHENTICATE +")
        c.sent()
        c.feed("AUTHENTICATE " + base64.b64encode(b"r=evil,s=c2FsdA==,i=4096").decode())
        self.assertEqual(c.sent()[0], "AUTHENTICATE *")
        self.assertTrue(c.transport.disconnecting)

    def test_only_advertised_mechanisms(self):
        c = self.negotiate(ls="sasl=PLAIN,EXTERNAL")
        self.assertEqual(c.sent(), ["AUTHENTICATE PLAIN"])

    def test_falls_back_on_904_and_908(self):
        c = self.negotiate(ls="sasl")  # no mechanism list: try in config order
        self.assertEqual(c.sent(), ["AUTHENTICATE SCRAM-SHA-256"])
        c.feed(":srv 908 pubbot PLAIN,EXTERNAL :are available SASL mechanisms",
               ":srv 904 pubbot :SASL authentication failed")
        self.assertEqual(c.sent(), ["AUTHENTICATE PLAIN"])
        c.feed("AUTHENTICATE +")
        c.sent()
        c.feed(":srv 903 pubbot :ok")
        self.assertEqual(c.sent(), ["CAP END"])

    def test_all_mechanisms_fail(self):
        c = self.negotiate()
        c.sent()
        c.feed(":srv 904 pubbot :failed")
        self.assertEqual(c.sent(), ["AUTHENTICATE PLAIN"])
        c.feed("AUTHENTICATE +", ":srv 904 pubbot :failed")
        self.assertGaveUp(c)
        self.assertEqual(self.service.sasl_failures, 1)

    def test_nick_locked(self):
        c = self.negotiate()
        c.sent()
        c.feed(":srv 902 pubbot :You must use a nick assigned to you")
        self.assertGaveUp(c)

    def test_no_sasl_offered(self):
        c = self.connect()
        self.logs = capture_logs(self)
        c.sent()
        c.feed(":srv CAP * LS :multi-prefix")
        self.assertGaveUp(c)

    def test_server_without_cap_registers_us_anyway(self):
        c = self.connect()
        self.logs = capture_logs(self)
        c.sent()
        c.feed(":srv 421 * CAP :Unknown command", ":srv 001 pubbot :Welcome")
        self.assertGaveUp(c)

    def test_sasl_refused_by_nak(self):
        c = self.connect()
        self.logs = capture_logs(self)
        c.sent()
        c.feed(":srv CAP * LS :sasl")
        c.sent()
        c.feed(":srv CAP * NAK :sasl")
        self.assertGaveUp(c)

    def test_chunked_payload(self):
        # username\0username\0password of exactly 300 bytes -> 400 base64 characters, then "+".
        password = "p" * (300 - len("bot\0bot\0"))
        self.irc = {"sasl": {"username": "bot", "password": password, "mechanisms": ["PLAIN"]}}
        c = self.negotiate()
        c.sent()
        c.feed("AUTHENTICATE +")
        sent = c.sent()
        self.assertEqual(len(sent), 2)
        self.assertEqual(len(sent[0].split(" ", 1)[1]), 400)
        self.assertEqual(sent[1], "AUTHENTICATE +")

    def test_password_from_environment(self):
        os.environ["PUBBOT_TEST_SASL"] = "env-secret"
        self.addCleanup(os.environ.pop, "PUBBOT_TEST_SASL")
        self.irc = {"sasl": {"username": "bot", "password_env": "PUBBOT_TEST_SASL", "mechanisms": ["PLAIN"]}}
        c = self.negotiate()
        c.sent()
        c.feed("AUTHENTICATE +")
        self.assertEqual(c.sent(), ["AUTHENTICATE " + base64.b64encode(b"bot\0bot\0env-secret").decode()])


class ExternalTests(Base):
    def test_external_with_client_cert(self):
        from .support.irc import write_client_cert
        path = write_client_cert(self.mktemp())
        c = self.connect({"client_cert": path, "sasl": {"mechanisms": ["EXTERNAL"]}})
        c.sent()
        c.feed(":srv CAP * LS :sasl=EXTERNAL")
        c.sent()
        c.feed(":srv CAP * ACK :sasl")
        self.assertEqual(c.sent(), ["AUTHENTICATE EXTERNAL"])
        c.feed("AUTHENTICATE +")
        self.assertEqual(c.sent(), ["AUTHENTICATE +"])
        c.feed(":srv 903 pubbot :ok")
        self.assertEqual(c.sent(), ["CAP END"])

    def test_external_needs_a_client_cert(self):
        c = self.connect({"sasl": {"mechanisms": ["EXTERNAL"]}})
        self.assertFalse(self.service.sasl_configured)
        c.sent()
        c.feed(":srv CAP * LS :sasl=EXTERNAL")
        self.assertEqual(c.sent(), ["CAP END"])


class StsTests(Base):
    def test_plain_connection_upgrades(self):
        logs = capture_logs(self)
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS :sts=port=6697,duration=300 multi-prefix")
        self.assertEqual(self.service.endpoint.upgrade_port, 6697)
        self.assertTrue(self.service.retry_now)
        sent = c.sent()
        self.assertNotIn("CAP END", sent)
        self.assertFalse([s for s in sent if s.startswith("CAP REQ")])
        self.assertTrue(c.transport.disconnecting)
        self.assertIn("requires TLS", logs.text())
        self.assertIsNone(self.successResultOf(self.service.policies.get("irc.example.net")))

    def test_plain_without_port_is_ignored(self):
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS :sts=duration=300")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertIsNone(self.service.endpoint.upgrade_port)

    def test_tls_connection_stores_policy(self):
        c = self.connect({"server": "tls:irc.example.net:6697"}, tls=True)
        c.sent()
        c.feed(":srv CAP * LS :sts=port=7000,duration=300")
        self.assertEqual(c.sent(), ["CAP END"])
        self.assertEqual(self.successResultOf(self.service.policies.get("irc.example.net")), {"port": 6697})
        c.clock.advance(301)
        self.assertIsNone(self.successResultOf(self.service.policies.get("irc.example.net")))

    def test_tls_duration_zero_removes_policy(self):
        c = self.connect({"server": "tls:irc.example.net:6697"}, tls=True)
        self.service.policies.save("irc.example.net", 6697, 1000)
        c.feed(":srv CAP * LS :sts=duration=0")
        self.assertIsNone(self.successResultOf(self.service.policies.get("irc.example.net")))

    def test_malformed_policy_ignored(self):
        c = self.connect()
        c.sent()
        c.feed(":srv CAP * LS :sts=port=99999")
        self.assertEqual(c.sent(), ["CAP END"])

    def test_sts_offered_on_every_line_is_written_once_a_minute(self):
        # A server can offer the policy on every CAP NEW: the store is
        # written at once, then at most every STS_WRITE_EVERY seconds, the
        # latest offer winning; malformed offers are logged within bounds.
        logs = capture_logs(self)
        c = self.connect({"server": "tls:irc.example.net:6697"}, tls=True)
        c.sent()
        c.register(caps="cap-notify")
        writes = []
        save = self.service.policies.save
        self.service.policies.save = lambda *a: writes.append(a) or save(*a)
        for i in range(1, 1001):
            c.feed(":srv CAP pubbot NEW :sts=duration=%d" % (1000 + i))
            c.feed(":srv CAP pubbot NEW :sts=port=bad%d" % (i,))
        self.assertEqual(writes, [("irc.example.net", 6697, 1001)])
        c.clock.advance(STS_WRITE_EVERY)
        self.assertEqual(writes[1:], [("irc.example.net", 6697, 2000)])
        c.clock.advance(STS_WRITE_EVERY)
        self.assertEqual(len(writes), 2)  # nothing new was offered
        self.assertEqual(len(logs.matching("ignoring a malformed STS policy")), BAD_LINE_LOGS)
        self.assertEqual(self.service.unlogged["sts-malformed"], 1000 - BAD_LINE_LOGS)
        c.feed(":srv CAP pubbot NEW :sts=duration=0")
        self.assertIsNone(self.successResultOf(self.service.policies.get("irc.example.net")))
        c.feed(":srv CAP pubbot NEW :sts=duration=5")
        self.service.stopService()  # the waiting offer is written as the service stops
        self.assertEqual(writes[-1], ("irc.example.net", 6697, 5))

    def test_cap_new_sts_upgrades(self):
        c = self.connect()
        c.sent()
        c.register(caps="cap-notify")
        c.feed(":srv CAP pubbot NEW :sts=port=6697,duration=60")
        self.assertEqual(self.service.endpoint.upgrade_port, 6697)
        self.assertTrue(c.transport.disconnecting)


class NickTests(Base):
    def test_regain_on_quit(self):
        c = self.connect()
        c.sent()
        c.feed(":srv 433 * pubbot :in use")
        c.register(nick="pubbot_")
        c.join(nick="pubbot_")
        self.assertEqual(self.service.nick, "pubbot_")
        c.feed(":PubBot!x@y QUIT :bye")
        self.assertEqual(c.sent(), ["NICK pubbot"])
        c.feed(":pubbot_!~pubbot@host NICK pubbot")
        self.assertEqual(self.service.nick, "pubbot")

    def test_regain_on_nick_change(self):
        c = self.connect()
        c.sent()
        c.feed(":srv 433 * pubbot :in use")
        c.register(nick="pubbot_")
        c.sent()
        c.feed(":pubbot!x@y NICK other")
        self.assertEqual(c.sent(), ["NICK pubbot"])
        c.feed(":srv 433 pubbot_ pubbot :in use")  # lost the race: keep the current nick
        self.assertEqual(c.sent(), [])
        self.assertEqual(self.service.nick, "pubbot_")

    def test_a_nick_flipped_again_and_again_is_logged_within_bounds(self):
        logs = capture_logs(self)
        c = self.connect()
        c.sent()
        c.feed(":srv 433 * pubbot :in use")
        c.register(nick="pubbot_")
        for _ in range(50):  # the server changes our nick back and forth
            c.feed(":pubbot_!~pubbot@host NICK pubbot", ":pubbot!~pubbot@host NICK pubbot_")
        self.assertEqual(len(logs.matching("regained nick pubbot")), BAD_LINE_LOGS)
        self.assertEqual(self.service.unlogged["regained-nick"], 50 - BAD_LINE_LOGS)

    def test_regain_with_monitor(self):
        c = self.connect()
        c.sent()
        c.feed(":srv 433 * pubbot :in use")
        c.sent()
        c.register(nick="pubbot_", isupport="MONITOR=100")
        self.assertEqual(c.sent()[0], "MONITOR + pubbot")
        c.feed(":srv 731 pubbot_ :PUBBOT")
        self.assertEqual(c.sent(), ["NICK pubbot"])
        c.feed(":pubbot_!u@h NICK :pubbot")
        self.assertEqual(c.sent(), ["MONITOR - pubbot"])

    def test_nickserv_identify_without_sasl(self):
        logs = capture_logs(self)
        c = self.connect({"nickserv_password": "ns-secret-pw"})
        c.sent()
        c.register()
        sent = c.sent()
        self.assertEqual(sent[0], "PRIVMSG NickServ :IDENTIFY pubbot ns-secret-pw")
        self.assertEqual(sent[1:], ["JOIN #pubbot", "JOIN #secret key"])
        self.assertNotIn("ns-secret-pw", logs.text())

    def test_casemapping_applies_to_own_nick(self):
        c = self.connect({"nick": "bot[x]", "alt_nicks": []})
        c.sent()
        c.register(nick="bot[x]")
        c.join(nick="bot[x]")
        c.feed(":BOT{X}!u@h PRIVMSG #pubbot :echoed line")  # rfc1459: [] == {}
        self.assertEqual(c.messages, [])
        c.feed(":srv 005 bot[x] CASEMAPPING=ascii :are supported")
        c.feed(":BOT{X}!u@h PRIVMSG #pubbot :another user under ascii")
        self.assertEqual(len(c.messages), 1)


class ChannelTests(Base):
    def setUp(self):
        c = self.connect()
        c.sent()
        c.register(caps="extended-join account-notify away-notify chghost multi-prefix "
                        "userhost-in-names account-tag")
        c.sent()

    def entries(self, channel="#pubbot"):
        return {e["nick"]: e for e in self.service.channels()[channel]}

    def test_join_sends_who_and_builds_roster(self):
        c = self.conn
        c.feed(":pubbot!~pubbot@cloak/pubbot JOIN #pubbot * :pubbot")
        self.assertEqual(c.sent(), ["WHO #pubbot"])
        self.assertEqual(self.service.hostmask, "pubbot!~pubbot@cloak/pubbot")
        c.feed(":srv 353 pubbot = #pubbot :pubbot @+op!o@ophost alice!a@ahost",
               ":srv 366 pubbot #pubbot :End",
               ":srv 352 pubbot #pubbot a ahost srv alice G :0 Alice")
        self.assertEqual(sorted(self.service.roster("#PUBBOT")), ["alice", "op", "pubbot"])
        self.assertEqual(self.entries()["op"], {"nick": "op", "prefix": "@+", "modes": "ov", "account": None,
                                                "away": False, "host": "ophost"})
        self.assertTrue(self.entries()["alice"]["away"])

    def test_whox(self):
        c = self.conn
        c.feed(":srv 005 pubbot WHOX :are supported")
        c.join(names="bob")
        c.feed(":pubbot!u@h JOIN #other * :pubbot")
        self.assertEqual(c.sent(), ["WHO #other %tcuhnfa,152"])
        c.feed(":srv 354 pubbot 152 #pubbot ~b bhost bob H bobacct", ":srv 354 pubbot 999 x y z bob H evil")
        self.assertEqual(self.entries()["bob"]["account"], "bobacct")

    def test_roster_events(self):
        c = self.conn
        c.join(names="@op alice")
        c.feed(":bob!b@bhost JOIN #pubbot bobacct :Bob B")
        self.assertEqual(self.entries()["bob"]["account"], "bobacct")
        c.feed(":op!o@h MODE #pubbot +ov-o bob alice op")
        e = self.entries()
        self.assertEqual((e["bob"]["prefix"], e["alice"]["prefix"], e["op"]["prefix"]), ("@", "+", ""))
        c.feed(":op!o@h MODE #pubbot +lk 10 key", ":op!o@h MODE #pubbot +b-v *!*@x alice")
        self.assertEqual(self.entries()["alice"]["prefix"], "")
        c.feed(":bob!b@bhost ACCOUNT *")
        self.assertIsNone(self.entries()["bob"]["account"])
        c.feed(":bob!b@bhost ACCOUNT newacct", ":bob!b@bhost AWAY :lunch",
               ":bob!b@bhost CHGHOST bb new.host")
        self.assertEqual(self.entries()["bob"], {"nick": "bob", "prefix": "@", "modes": "o",
                                                 "account": "newacct", "away": True, "host": "new.host"})
        c.feed(":bob!b@bhost AWAY")
        self.assertFalse(self.entries()["bob"]["away"])
        c.feed(":bob!bb@new.host NICK robert")
        self.assertIn("robert", self.entries())
        self.assertNotIn("bob", self.entries())
        c.feed(":alice!a@h PART #pubbot :later")
        c.feed(":op!o@h KICK #pubbot robert :out")
        self.assertEqual(sorted(self.entries()), ["op", "pubbot"])
        c.feed(":op!o@h QUIT :gone")
        self.assertEqual(sorted(self.entries()), ["pubbot"])

    def test_rejoin_after_kick(self):
        c = self.conn
        c.join(channel="#secret")
        c.feed(":op!o@h KICK #secret pubbot :bye")
        self.assertNotIn("#secret", self.service.channels())
        c.clock.advance(9)
        self.assertEqual(c.sent(), [])
        c.clock.advance(1.5)
        self.assertEqual(c.sent(), ["JOIN #secret key"])

    def test_no_rejoin_of_a_channel_not_wanted(self):
        logs = capture_logs(self)
        c = self.conn
        c.join()
        c.feed(":srv 001 pubbot :hi", ":pubbot!u@h JOIN #forced", ":op!o@h KICK #forced pubbot :out",
               ":op!o@h KICK #never pubbot :out")
        c.sent()
        c.clock.advance(20)
        self.assertEqual(c.sent(), [])
        self.assertIn("joined #forced (the server's doing)", logs.text())
        self.assertIn("joined #pubbot\n", logs.text() + "\n")

    def test_rejoin_cancelled_by_disconnect(self):
        c = self.conn
        c.join()
        c.feed(":op!o@h KICK #pubbot pubbot :bye")
        c.protocol.connectionLost(None)
        c.clock.advance(20)
        self.assertEqual(c.transport.value(), b"")

    def test_join_errors_logged(self):
        logs = capture_logs(self)
        self.conn.feed(":srv 474 pubbot #banned :Cannot join channel (+b)")
        self.assertIn("cannot join #banned: banned", logs.text())

    def test_names_for_channel_not_joined(self):
        self.conn.feed(":srv 353 pubbot = #elsewhere :a b c", ":srv 366 pubbot #elsewhere :End")
        self.assertEqual(self.service.channels(), {})


class TopicTests(Base):
    def setUp(self):
        c = self.connect()
        c.sent()
        c.register(caps="account-tag server-time echo-message extended-join message-tags")
        c.join()
        c.messages.clear()

    def only(self):
        self.assertEqual(len(self.conn.messages), 1, self.conn.messages)
        return self.conn.messages.pop()

    def test_channel_message(self):
        self.conn.feed("@time=2023-11-14T22:13:20.500Z;account=alice;+draft/x=1 "
                       ":alice!a@ahost PRIVMSG #pubbot :pubbot: hello there")
        m = self.only()
        self.assertEqual(m.topic, "chat.irc.#pubbot.chat")
        self.assertEqual((m.channel, m.source, m.content, m.direct, m.private),
                         ("#pubbot", "alice", "hello there", True, False))
        self.assertEqual((m.account, m.source_id, m.hostmask), ("alice", "alice", "alice!a@ahost"))
        self.assertEqual(m.time, 1700000000.5)
        self.assertEqual(m.tags["+draft/x"], "1")
        self.assertFalse(m.action)

    def test_no_account_no_source_id(self):
        self.conn.feed(":bob!b@h PRIVMSG #pubbot :hi")
        m = self.only()
        self.assertIsNone(m.account)
        self.assertIsNone(m.source_id)
        self.assertEqual(m.time, self.conn.clock.seconds())  # no server-time: when it arrived

    def test_action(self):
        self.conn.feed(":bob!b@h PRIVMSG #pubbot :\x01ACTION waves\x01")
        m = self.only()
        self.assertTrue(m.action)
        self.assertEqual(m.content, "waves")

    def test_private_message(self):
        self.conn.feed(":bob!b@h PRIVMSG pubbot :help")
        m = self.only()
        self.assertEqual(m.topic, "chat.irc.bob.chat")
        self.assertEqual((m.channel, m.private, m.direct), ("bob", True, True))

    def test_statusmsg(self):
        self.conn.feed(":bob!b@h PRIVMSG @#pubbot :ops only")
        self.assertEqual(self.only().channel, "#pubbot")

    def test_echo_not_published(self):
        self.conn.feed(":pubbot!~pubbot@host PRIVMSG #pubbot :my own line", ":PUBBOT!x@y PRIVMSG bob :hi")
        self.assertEqual(self.conn.messages, [])

    def test_join_and_leave_events(self):
        c = self.conn
        c.feed(":carol!c@chost JOIN #pubbot carolacct :Carol")
        m = self.only()
        self.assertEqual(m.topic, "chat.irc.#pubbot.join")
        self.assertEqual((m.source, m.account, m.source_id, m.hostmask),
                         ("carol", "carolacct", "carolacct", "carol!c@chost"))
        c.feed(":carol!c@chost PART #pubbot :bye now")
        m = self.only()
        self.assertEqual((m.topic, m.kind, m.reason, m.source), ("chat.irc.#pubbot.leave", "part", "bye now",
                                                                 "carol"))
        c.feed(":op!o@h KICK #pubbot alice :behave")
        m = self.only()
        self.assertEqual((m.kind, m.reason, m.source, m.by), ("kick", "behave", "alice", "op"))
        c.feed(":op!o@h QUIT :Quit: gone")
        m = self.only()
        self.assertEqual((m.kind, m.reason, m.source, m.channel), ("quit", "Quit: gone", "op", "#pubbot"))

    def test_own_join_not_published(self):
        self.conn.feed(":pubbot!u@h JOIN #new * :pubbot")
        self.assertEqual(self.conn.messages, [])

    def test_notice_not_published(self):
        self.conn.feed(":bob!b@h NOTICE #pubbot :a notice", ":srv NOTICE * :*** Looking up your hostname")
        self.assertEqual(self.conn.messages, [])


class OutputTests(Base):
    def setUp(self):
        c = self.connect()
        c.sent()
        c.register()
        c.join()

    def test_say_notice_action(self):
        s = self.service
        s.send("#pubbot", "hello")
        s.send("#pubbot", "note", "notice")
        s.send("bob", "waves", "action")
        sent = self.conn.sent()
        self.assertEqual(sorted(sent), sorted(["PRIVMSG #pubbot :hello", "NOTICE #pubbot :note",
                                               "PRIVMSG bob :\x01ACTION waves\x01"]))
        self.assertLess(sent.index("PRIVMSG #pubbot :hello"), sent.index("NOTICE #pubbot :note"))

    def test_say_notice_action_methods(self):
        self.service.say("#pubbot", "a")
        self.service.notice("#pubbot", "b")
        self.service.action("#pubbot", "c")
        self.assertEqual(self.conn.sent(), ["PRIVMSG #pubbot :a", "NOTICE #pubbot :b",
                                            "PRIVMSG #pubbot :\x01ACTION c\x01"])

    def test_crlf_in_reply_content(self):
        self.service.send("#pubbot", "one\r\nQUIT :pwned\rtwo\0\x01three")
        self.assertEqual(self.conn.sent(), ["PRIVMSG #pubbot :one", "PRIVMSG #pubbot :QUIT :pwned",
                                            "PRIVMSG #pubbot :twothree"])

    def test_long_text_split_by_bytes_with_prefix(self):
        text = ("é" * 300 + " ") * 3
        c = self.connect({"max_reply_lines": 20})
        c.register()
        c.join()
        self.service.send("#pubbot", text)
        lines = self.conn.sent()
        self.assertGreater(len(lines), 1)
        hostmask = self.service.hostmask
        for line in lines:
            relayed = (":%s %s\r\n" % (hostmask, line)).encode("utf-8")
            self.assertLessEqual(len(relayed), 512)
        self.assertEqual("".join(line.split(" :", 1)[1] for line in lines), text)

    def test_split_assumes_long_host_before_it_is_known(self):
        self.service.state.hostmask = None
        self.service.send("#pubbot", "x" * 1000)
        for line in self.conn.sent():
            worst = ":pubbot!~pubbot@%s %s\r\n" % ("h" * 63, line)
            self.assertLessEqual(len(worst.encode()), 512)

    def test_action_split_fits(self):
        self.service.send("#pubbot", "y" * 1000, "action")
        for line in self.conn.sent():
            self.assertTrue(line.endswith("\x01"))
            self.assertLessEqual(len((":%s %s\r\n" % (self.service.hostmask, line)).encode()), 512)

    def test_channel_cap(self):
        self.service.send("#pubbot", "\n".join("line %d" % i for i in range(10)))
        self.assertEqual(self.conn.sent(), ["PRIVMSG #pubbot :line %d" % i for i in range(4)]
                         + ["PRIVMSG #pubbot :(6 more lines dropped: ask me in private for the rest)"])

    def test_private_cap_is_larger(self):
        self.service.send("bob", "\n".join("line %d" % i for i in range(30)))
        lines = self.conn.sent()
        self.assertEqual(len(lines), 21)
        self.assertEqual(lines[-1], "PRIVMSG bob :(10 more lines dropped)")

    def test_throttled(self):
        c = self.conn
        c.clock.advance(100)  # full bucket
        c.sent()
        c.clock.advance(2)
        c.transport.clear()
        for i in range(10):
            self.service.send("#pubbot", "msg %d" % i)
        self.assertEqual(len(c.transport.value().split(b"\r\n")) - 1, 5)
        self.assertEqual(self.service.throttle_depth(), 5)
        c.clock.advance(2.01)
        self.assertEqual(len(c.transport.value().split(b"\r\n")) - 1, 7)
        c.clock.advance(10)
        self.assertEqual(self.service.throttle_depth(), 0)

    def test_one_persons_long_answers_do_not_hold_back_anothers(self):
        c = self.conn
        c.clock.advance(100)
        c.sent()
        for i in range(5):  # five long answers to one person, as !help was
            self.service.bot.send("irc", "#pubbot", "\n".join("help %d.%d" % (i, j) for j in range(4)),
                                  person="flooder")
        self.service.bot.send("irc", "#pubbot", "pong", person="amy")
        sent = c.sent()
        self.assertLessEqual(sent.index("PRIVMSG #pubbot :pong"), 6)  # the burst, then one line each
        self.assertEqual(len(sent), 21)

    def test_a_full_queue_drops_counts_and_logs(self):
        logs = capture_logs(self)
        c = self.conn
        for _i in range(40):
            self.service.send("#pubbot", "a\nb\nc\nd", person="flooder")
        self.assertGreater(self.service.output_dropped, 0)
        self.assertLessEqual(self.service.throttle_depth(), self.service.throttle.max_per_person)
        self.assertIn("output queue full for flooder", logs.text())
        self.service.send("#pubbot", "still answered", person="amy")
        self.assertIn("PRIVMSG #pubbot :still answered", c.sent())

    def test_invalid_targets(self):
        logs = capture_logs(self)
        for target in ("#a b", "x\r\nQUIT", "", ":x", "a,b"):
            self.service.send(target, "hi")
        self.assertEqual(self.conn.sent(), [])
        self.assertIn("invalid target", logs.text())

    def test_not_connected(self):
        logs = capture_logs(self)
        self.conn.protocol.connectionLost(None)
        self.service.send("#pubbot", "hi")
        self.assertIn("not connected", logs.text())

    def test_bot_reply_path(self):
        self.service.bot.send("irc", "#pubbot", "via the bot")
        self.assertEqual(self.conn.sent(), ["PRIVMSG #pubbot :via the bot"])

    def test_counters(self):
        before = self.service.lines_out
        self.service.send("#pubbot", "a\nb")
        self.conn.sent()
        self.assertEqual(self.service.lines_out, before + 2)
        self.assertGreater(self.service.lines_in, 5)


class SendPropertyTests(Base):
    """Whatever handlers return, every line on the wire is safe and fits."""

    @classmethod
    def setUpClass(cls):
        cls.service = make_service({"max_reply_lines": 1000, "max_private_lines": 1000,
                                    "throttle": {"enabled": False}})
        cls.conn = Connection(cls.service)
        cls.conn.register()
        cls.conn.join()

    @given(st.text(max_size=3000), st.sampled_from(["say", "notice", "action"]),
           st.sampled_from(["#pubbot", "bob", "#a-much-longer-channel-name-than-usual"]),
           st.sampled_from([None, "pubbot!~pubbot@" + "h" * 63, "pubbot!u@h"]))
    def test_wire_lines(self, text, kind, target, hostmask):
        service, transport = self.service, self.conn.transport
        service.state.hostmask = hostmask
        transport.clear()
        service.send(target, text, kind)
        data = transport.value()
        self.assertTrue(data == b"" or data.endswith(b"\r\n"))
        sent_text = []
        for raw in data.split(b"\r\n")[:-1]:
            self.assertNotIn(b"\r", raw)
            self.assertNotIn(b"\n", raw)
            self.assertNotIn(b"\0", raw)
            relayed = b":%s %s\r\n" % ((hostmask or "pubbot!~pubbot@" + "h" * 63).encode(), raw)
            self.assertLessEqual(len(relayed), 512)
            line = raw.decode("utf-8")  # never split inside a character
            body = line.split(" :", 1)[1]
            if kind == "action":
                self.assertTrue(body.startswith("\x01ACTION ") and body.endswith("\x01"))
                body = body[8:-1]
            sent_text.append(body)
        def clean(line: str) -> str:  # controls dropped but formatting, a tab as a space
            kept = "\t\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f"
            return "".join(" " if c == "\t" else c for c in line
                           if c in kept or not (ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0))
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        expected = "".join(line for line in map(clean, lines) if line.strip())
        self.assertEqual("".join(sent_text), expected.encode("utf-8", "replace").decode("utf-8"))


class LivenessTests(Base):
    def pinged(self) -> Connection:
        """A registered connection (ping every 30 s, timeout 10 s) that has just sent its first PING."""
        c = self.connect({"ping_interval": 30, "ping_timeout": 10})
        c.register()
        c.clock.advance(30)
        return c

    def assert_dropped_in(self, c: Connection, seconds: float) -> None:
        """Still connected 0.1 s before C{seconds} from now, dropped 0.1 s after."""
        c.clock.advance(seconds - 0.1)
        self.assertFalse(c.transport.disconnected)
        c.clock.advance(0.2)
        self.assertTrue(c.transport.disconnected)

    def test_answers_ping(self):
        c = self.connect()
        c.sent()
        c.feed("PING :irc.example.net", "PING")
        self.assertEqual(c.sent(), ["PONG irc.example.net", "PONG :"])

    def test_pings_quiet_server_and_measures_lag(self):
        c = self.connect({"ping_interval": 30, "ping_timeout": 10})
        c.sent()
        c.register()
        c.sent()
        self.assertIsNone(self.service.lag)
        c.clock.advance(30)
        self.assertEqual(c.sent(), ["PING pubbot-1"])
        c.clock.advance(0.25)
        c.feed(":srv PONG srv :pubbot-1")
        self.assertEqual(self.service.lag, 0.25)
        c.clock.advance(10)
        self.assertFalse(c.transport.disconnected)
        c.clock.advance(20)
        self.assertEqual(c.sent(), ["PING pubbot-2"])

    def test_drops_dead_server(self):
        logs = capture_logs(self)
        c = self.pinged()
        self.assert_dropped_in(c, 10)
        self.assertIn("no reply from the server", logs.text())

    def test_reading_paused_waits_one_timeout_more_for_the_pong(self):
        logs = capture_logs(self)
        c = self.pinged()
        self.assertEqual(c.sent()[-1], "PING pubbot-1")
        self.service.pause_input()  # Bot.hold_input: the PONG waits unread
        self.assertEqual(c.transport.producerState, "paused")
        c.clock.advance(10.1)
        self.assertFalse(c.transport.disconnected)
        self.service.resume_input()
        c.feed(":srv PONG srv :pubbot-1")
        self.assertAlmostEqual(self.service.lag, 10.1, places=3)
        c.clock.advance(10)
        self.assertFalse(c.transport.disconnected)
        c.clock.advance(10)
        self.assertEqual(c.sent(), ["PING pubbot-2"])
        self.assertNotIn("no reply", logs.text())

    def test_reading_paused_still_drops_a_dead_server_after_two_timeouts(self):
        logs = capture_logs(self)
        c = self.pinged()
        self.service.pause_input()
        c.clock.advance(10)
        self.assertFalse(c.transport.disconnected)
        self.assert_dropped_in(c, 10)
        self.assertIn("no reply from the server in 20", logs.text())

    def test_a_pause_that_ended_before_the_ping_gives_no_grace(self):
        c = self.connect({"ping_interval": 30, "ping_timeout": 10})
        c.register()
        self.service.pause_input()
        c.clock.advance(5)
        self.service.resume_input()
        c.clock.advance(25)
        self.assertEqual(c.sent()[-1], "PING pubbot-1")
        c.clock.advance(10.1)
        self.assertTrue(c.transport.disconnected)

    def test_a_pause_during_the_wait_that_has_ended_gives_grace(self):
        c = self.pinged()
        self.service.pause_input()
        c.clock.advance(2)
        self.service.resume_input()  # resumed; what was unread may not be read yet
        c.clock.advance(8)
        self.assertFalse(c.transport.disconnected)
        self.assert_dropped_in(c, 10)

    def test_connection_lost_cancels_timers(self):
        c = self.connect()
        c.register()
        c.protocol.connectionLost(None)
        self.assertEqual([call for call in c.clock.getDelayedCalls() if call.active()], [])


class HostileInputTests(Base):
    def setUp(self):
        c = self.connect()
        c.sent()
        c.register()
        c.join()
        c.messages.clear()
        self.logs = capture_logs(self)

    def still_works(self):
        self.conn.feed(":bob!b@h PRIVMSG #pubbot :still alive")
        self.assertEqual(self.conn.messages[-1].content, "still alive")

    def test_invalid_utf8(self):
        self.conn.feed(b":bob!b@h PRIVMSG #pubbot :caf\xe9 \xff\xfe na\xefve")
        self.assertEqual(self.conn.messages[-1].content, "café ÿþ naïve")
        self.conn.feed(b":bob!b@h PRIVMSG #pubbot :\xe2\x98\x83 snowman")
        self.assertEqual(self.conn.messages[-1].content, "☃ snowman")

    def test_10kb_line_dropped(self):
        self.conn.feed(":bob!b@h PRIVMSG #pubbot :" + "x" * 10000)
        self.assertEqual(self.conn.messages, [])
        self.assertIn("longer than", self.logs.text())
        self.still_works()

    def test_10kb_without_newline_is_discarded_in_pieces(self):
        c = self.conn
        for _i in range(20):
            c.protocol.dataReceived(b"y" * 1000)
        c.protocol.dataReceived(b"tail\r\n")
        self.assertEqual(c.messages, [])
        self.assertLess(len(c.protocol._buffer), 20000)
        self.still_works()

    def test_lines_before_an_oversized_tail_in_one_read_are_kept(self):
        c = self.conn
        c.sent()
        c.protocol.dataReceived(b"PING :keep\r\n:bob!b@h PRIVMSG #pubbot :kept\r\n" + b"z" * 20000)
        c.protocol.dataReceived(b"z" * 20000)
        c.protocol.dataReceived(b"zz\r\n:bob!b@h PRIVMSG #pubbot :after\r\n")
        self.assertIn("PONG keep", c.sent())
        self.assertEqual([m.content for m in c.messages], ["kept", "after"])
        self.assertEqual(c.protocol._buffer, b"")

    def test_a_server_not_reading_is_not_read(self):
        c = self.conn
        backpressure = c.transport.producer
        self.assertIsNotNone(backpressure)
        backpressure.pauseProducing()  # our unsent lines filled the transport's buffer
        self.assertEqual(c.transport.producerState, "paused")
        self.assertIn("the server is not reading what we send", self.logs.text())
        self.service.resume_input()  # Bot.hold_input letting go does not resume it
        self.assertEqual(c.transport.producerState, "paused")
        backpressure.resumeProducing()
        self.assertEqual(c.transport.producerState, "producing")
        self.service.pause_input()
        backpressure.pauseProducing()
        backpressure.resumeProducing()  # drained, but the bot still holds input
        self.assertEqual(c.transport.producerState, "paused")
        self.service.resume_input()
        self.assertEqual(c.transport.producerState, "producing")

    def test_long_tags_allowed_up_to_limit(self):
        self.conn.feed("@+x=" + "v" * 8000 + " :bob!b@h PRIVMSG #pubbot :tagged")
        self.assertEqual(self.conn.messages[-1].content, "tagged")

    def test_nul_dropped(self):
        self.conn.feed(b":bob!b@h PRIVMSG #pubbot :a\0b")
        self.assertEqual(self.conn.messages, [])
        self.assertIn("contains NUL", self.logs.text())
        self.still_works()

    def test_malformed_lines(self):
        for line in [":", "@", "@tags-only", ":src", ":src 12 x", "??? x", ":bob!b@h PRIVMSG",
                     ":bob!b@h PRIVMSG #pubbot", ":op!o@h KICK #pubbot", "JOIN", ":x JOIN",
                     ":srv CAP", ":srv 353 pubbot", ":srv 005", "NICK", ":a!b@c CHGHOST x",
                     ":op MODE #pubbot +o", ":op MODE #pubbot +l", "AUTHENTICATE", ":srv 904",
                     "\x01\x01\x01", ":srv 354 pubbot 152"]:
            self.conn.feed(line)
        self.assertTrue(self.service.connected)
        self.assertFalse(self.conn.transport.disconnecting)
        self.still_works()

    def test_bad_line_logging_is_rate_limited(self):
        for _i in range(100):
            self.conn.feed(b":bob PRIVMSG #pubbot :\0")
        self.assertEqual(self.service.bad_lines, 100)
        self.assertEqual(self.service.bad_lines_unlogged, 90)

    def test_lines_after_crlf_split_are_separate(self):
        self.conn.protocol.dataReceived(b":bob!b@h PRIVMSG #pubbot :one\r\n:bob!b@h PRIVMSG #pubbot :tw")
        self.conn.protocol.dataReceived(b"o\n")
        self.assertEqual([m.content for m in self.conn.messages], ["one", "two"])


class CtcpTests(Base):
    def setUp(self):
        c = self.connect()
        c.sent()
        c.register()
        c.sent()

    def test_version_ping_time_clientinfo(self):
        c = self.conn
        c.feed(":bob!b@h PRIVMSG pubbot :\x01VERSION\x01", ":bob!b@h PRIVMSG pubbot :\x01PING 12345\x01")
        c.feed(":amy!b@h PRIVMSG #pubbot :\x01TIME\x01", ":amy!b@h PRIVMSG pubbot :\x01CLIENTINFO\x01")
        sent = c.sent()
        bob = [line for line in sent if line.startswith("NOTICE bob ")]
        amy = [line for line in sent if line.startswith("NOTICE amy ")]
        self.assertEqual(len(sent), 4)
        self.assertTrue(bob[0].startswith("NOTICE bob :\x01VERSION pubbot "))
        self.assertEqual(bob[1], "NOTICE bob :\x01PING 12345\x01")
        self.assertEqual(amy[0], "NOTICE amy :\x01TIME Tue, 14 Nov 2023 22:13:20 GMT\x01")
        self.assertEqual(amy[1], "NOTICE amy :\x01CLIENTINFO ACTION CLIENTINFO PING TIME VERSION\x01")
        self.assertEqual(c.messages, [])

    def test_rate_limited(self):
        c = self.conn
        for _i in range(10):
            c.feed(":bob!b@h PRIVMSG pubbot :\x01VERSION\x01")
        self.assertEqual(len(c.sent()), 2)
        for nick in "cdefgh":
            c.feed(":%s!b@h PRIVMSG pubbot :\x01VERSION\x01" % nick)
        self.assertEqual(len(c.sent()), 4)  # 6 per 30 s overall
        c.clock.advance(31)
        c.feed(":bob!b@h PRIVMSG pubbot :\x01VERSION\x01")
        self.assertEqual(len(c.sent()), 1)

    def test_requests_amid_chat_are_answered_after_the_read(self):
        c = self.conn
        c.feed(":amy!a@h PRIVMSG #pubbot :before", ":bob!b@h PRIVMSG pubbot :\x01PING 1\x01",
               ":amy!a@h PRIVMSG #pubbot :after")
        self.assertEqual(c.sent(), ["NOTICE bob :\x01PING 1\x01"])
        self.assertEqual([m.fields["content"] for m in c.messages], ["before", "after"])

    def test_a_failing_answer_is_logged_and_reading_goes_on(self):
        c = self.conn

        def broken(nick, command, arg):
            raise RuntimeError("boom")
        self.patch(c.protocol, "_ctcp", broken)
        c.feed(":bob!b@h PRIVMSG pubbot :\x01VERSION\x01", ":amy!a@h PRIVMSG #pubbot :still here")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        c.feed(":amy!a@h PRIVMSG #pubbot :and here")
        self.assertEqual([m.fields["content"] for m in c.messages], ["still here", "and here"])

    def test_unknown_and_hostile_ctcp(self):
        c = self.conn
        c.feed(":bob!b@h PRIVMSG pubbot :\x01DCC SEND x 1 2 3\x01",
               ":bob!b@h PRIVMSG pubbot :\x01PING \x02\x03" + "9" * 400 + "\x01")
        sent = c.sent()
        self.assertEqual(len(sent), 1)
        self.assertEqual(sent[0], "NOTICE bob :\x01PING " + "9" * 64 + "\x01")


class ChatBatchTests(Base):
    """Every line goes one way: each read's events are dispatched as one batch, in order."""

    def setUp(self):
        c = self.connect()
        c.sent()
        c.register()
        c.join(names="@op +voiced alice Bob[m]")
        self.service.rosters.users.get("alice").account = "alice-acct"
        c.messages.clear()

    def read(self, *chunks: bytes):
        """What the bot is given for C{chunks}, each one read from the socket."""
        self.conn.messages.clear()
        for chunk in chunks:
            self.conn.protocol.dataReceived(chunk)
        return [(m.topic, m.fields) for m in self.conn.messages]

    def test_every_line_of_one_read_is_one_batch_in_order(self):
        batches = []
        before = self.service.lines_in
        bus = self.service.bot.bus
        bus.submit_many = lambda ms: batches.append(
            [(m.topic.rpartition(".")[2], m.fields.get("content")) for m in ms]) or succeed(None)
        self.conn.protocol.dataReceived(
            b":alice!a@h PRIVMSG #pubbot :one\r\n:bob!b@h PRIVMSG #pubbot :two\r\n"
            b":carol!c@h JOIN #pubbot\r\n"
            b"@time=2024-01-01T00:00:00.000Z;msgid=x :bob!b@h PRIVMSG #pubbot :three\r\n"
            b":bob!b@h PRIVMSG #pubbot :\x01ACTION four\x01\r\n:carol!c@h PART #pubbot :bye\r\n"
            b":bob!b@h PRIVMSG #pubbot :fi")
        self.assertEqual(batches, [[("chat", "one"), ("chat", "two"), ("join", None), ("chat", "three"),
                                    ("chat", "four"), ("leave", None)]])
        self.conn.protocol.dataReceived(b"ve\r\n")
        self.assertEqual(batches[-1], [("chat", "five")])
        self.assertEqual(self.service.lines_in - before, 7)

    def test_fields_of_a_chat_line(self):
        [(topic, fields)] = self.read(b":alice!a@h PRIVMSG #pubbot :pubbot: hi there\r\n")
        self.assertEqual(topic, "chat.irc.#pubbot.chat")
        self.assertEqual(fields, {
            "account": "alice-acct", "hostmask": "alice!a@h", "tags": {},
            "time": self.service.clock.seconds(),
            "action": False, "bot": False,
            "source_id": "alice-acct", "network": "irc", "protocol": "irc", "channel": "#pubbot",
            "source": "alice", "content": "hi there", "direct": True, "command": "hi there",
            "private": False})

    def test_tags_of_a_chat_line(self):
        c = self.connect()
        c.sent()
        c.register(caps="message-tags server-time account-tag")
        c.join(names="alice")
        c.messages.clear()
        c.feed("@time=2023-11-14T22:13:20.500Z;msgid=abc;account=al\\sice;+draft/x=a\\:b "
               ":alice!a@h PRIVMSG #pubbot :!ping")
        [m] = c.messages
        self.assertEqual((m.time, m.account, m.source_id, m.command),
                         (1700000000.5, "al ice", "al ice", "ping"))
        self.assertEqual(m.tags, {"time": "2023-11-14T22:13:20.500Z", "msgid": "abc", "account": "al ice",
                                  "+draft/x": "a;b"})

    @given(st.lists(st.tuples(
        st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=30),
        st.sampled_from(["alice", "Bob[m]", "pubbot", "PUBBOT", "x", "carol"]),
        st.sampled_from(["", "pubbot: ", "PubBot,", "!", "\x01", ":", " ", "\x01ACTION "]),
        st.sampled_from(["PRIVMSG #pubbot", "PRIVMSG pubbot", "NOTICE #pubbot", "JOIN #pubbot",
                         "PART #pubbot", "PRIVMSG @#pubbot", "QUIT"]),
        st.booleans(), st.sampled_from([b"\r\n", b"\n"])), max_size=12),
        st.lists(st.integers(0, 2000), max_size=6))
    def test_how_lines_are_split_into_reads_changes_nothing(self, lines, cuts):
        stream = b""
        for text, nick, lead, command, tagged, ending in lines:
            tags = b"@time=2024-02-03T04:05:06.789Z;account=%s " % nick.encode() if tagged else b""
            stream += tags + b":%s!u@h %s :%s%s" % (nick.encode(), command.encode(), lead.encode(),
                                                    text.encode("utf-8")) + ending
        self.setUp()  # a fresh connection (and clock) for each example
        at_once = self.read(stream)
        self.setUp()
        bounds = sorted({min(c, len(stream)) for c in cuts} | {0, len(stream)})
        pieces = [stream[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
        self.assertEqual(self.read(*pieces), at_once)
        self.setUp()
        self.assertEqual(self.read(*[stream[i:i + 1] for i in range(len(stream))]), at_once)

    def test_account_tag_without_tag_means_logged_out(self):
        c = self.connect()
        c.sent()
        c.register(caps="account-tag")
        c.join(names="alice")
        self.service.rosters.users.get("alice").account = "alice-acct"
        c.messages.clear()
        c.feed(":alice!a@h PRIVMSG #pubbot :hi")
        m = c.messages.pop()
        self.assertEqual((m.account, m.source_id), (None, None))
        self.assertIsNone(self.service.rosters.users.get("alice").account)

    def test_hostile_lines_are_dropped_and_the_rest_read(self):
        logs = capture_logs(self)
        self.conn.protocol.dataReceived(b":x!y@z PRIVMSG #pubbot :nul\0here\r\n"
                                        b":x!y@z PRIVMSG #pubbot :" + b"b" * 600 + b"\r\n"
                                        b":x!y@z PRIVMSG #pubbot :fine\r\n")
        self.assertEqual([m.content for m in self.conn.messages], ["fine"])
        self.assertIn("contains NUL", logs.text())
        self.assertIn("longer than the protocol allows", logs.text())

    def test_casemapping_change_refolds_own_nick(self):
        self.conn.feed(":PUBBOT!p@h PRIVMSG #pubbot :echo of my own line")
        self.assertEqual(self.conn.messages, [])
        self.service.state.nick = "pub[bot]"
        self.conn.feed(":pub{bot}!p@h PRIVMSG #pubbot :rfc1459 folds [ to {")
        self.assertEqual(self.conn.messages, [])
        self.conn.feed(":srv 005 pub[bot] CASEMAPPING=ascii :are supported")
        self.conn.feed(":pub{bot}!p@h PRIVMSG #pubbot :now someone else")
        self.assertEqual([m.source for m in self.conn.messages], ["pub{bot}"])
