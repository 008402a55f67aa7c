"""
The IRC service against a real ngircd (Debian package) started by the tests
on free loopback ports: connect, join (with a key), chat with a second real
client (Twisted's own IRCClient), private replies, a server killed and
restarted, a burst of 50 replies through the default throttle, reading
paused and resumed (by hand, and by the brain's real learner process far
behind: nothing lost), TLS verified
with a test CA, refused on a bad certificate or pin, trusted when a
self-signed certificate is pinned, and an STS upgrade to ngircd's TLS port.
"""

from __future__ import annotations

import os
import re

from twisted.internet import protocol, reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.task import deferLater
from twisted.protocols.basic import LineOnlyReceiver

from ..support.irc import make_cert
from ..support.ngircd import Base
from ..support.servers import free_port


class StsTeaser(LineOnlyReceiver):
    """A plain-text 'server' that only advertises an STS policy pointing at ngircd's TLS port."""

    def lineReceived(self, line):
        if line.startswith(b"CAP LS"):
            self.sendLine(b":sts.test CAP * LS :sts=port=%d,duration=60 multi-prefix" % self.factory.tls_port)




class ChatTests(Base):
    async def test_connect_join_and_chat(self):
        self.start_server()
        self.start_bot()
        await self.bot_ready()
        self.assertEqual(self.service.server_network, None)  # ngircd announces no NETWORK
        self.assertEqual(self.service.isupport.casemapping, "ascii")
        alice = await self.human("alice")
        await self.eventually(lambda: "alice" in self.service.roster("#pubbot"), "alice in the roster")
        await self.eventually(lambda: ("chat.irc.#pubbot.join", "alice", None) in self.watcher.topics,
                              "the join event")
        alice.say("#pubbot", "!echo hello there")
        await self.eventually(lambda: ("pubbot", "#pubbot", "echo: hello there (from alice)") in alice.heard,
                              "the channel reply")
        alice.msg("pubbot", "!echo just us")
        private = ("pubbot", "alice", "echo: just us (from alice, private)")
        await self.eventually(lambda: private in alice.heard, "the private reply")
        alice.describe("#pubbot", "waves")
        await self.eventually(lambda: ("chat.irc.#pubbot.chat", "alice", None) in self.watcher.topics,
                              "the action")
        alice.part("#pubbot", "bye")
        await self.eventually(lambda: ("chat.irc.#pubbot.leave", "alice", "part") in self.watcher.topics,
                              "the part event")
        entries = self.service.channels()["#pubbot"]
        self.assertEqual([e["nick"] for e in entries], ["pubbot"])
        self.assertGreater(self.service.lines_in, 10)
        self.assertGreater(self.service.lines_out, 5)

    async def test_nick_in_use_falls_back_and_regains(self):
        self.start_server()
        squatter = await self.human("pubbot")
        self.start_bot()
        await self.bot_ready()
        self.assertEqual(self.service.nick, "pubbot_")
        squatter.quit("leaving")
        await self.eventually(lambda: self.service.nick == "pubbot", "the bot to regain its nick")

    async def test_server_killed_and_restarted(self):
        self.start_server()
        self.start_bot()
        await self.bot_ready()
        self.ngircd.restart()
        await self.eventually(lambda: not self.service.connected, "the bot to notice")
        await self.bot_ready()
        self.assertEqual(self.service.reconnects, 1)
        alice = await self.human("alice")
        alice.say("#pubbot", "!echo back again")
        await self.eventually(lambda: ("pubbot", "#pubbot", "echo: back again (from alice)") in alice.heard,
                              "a reply after the restart")

    async def test_burst_of_50_replies_with_default_throttle(self):
        self.start_server()
        self.start_bot()
        self.assertEqual((self.settings.irc.throttle.burst, self.settings.irc.throttle.per_second), (5, 1.0))
        await self.bot_ready()
        alice = await self.human("alice")
        alice.say("#pubbot", "!burst")
        expected = [("pubbot", "#pubbot", "burst line %02d" % i) for i in range(50)]
        await self.eventually(lambda: [h for h in alice.heard if h[2].startswith("burst")] == expected,
                              "all 50 lines, in order", timeout=90)
        self.assertTrue(self.service.connected)
        self.assertEqual(self.service.reconnects, 0)
        self.assertNotIn("exhausted", self.ngircd.log())
        self.assertNotIn("Flood", self.ngircd.log())


class InputPauseTests(Base):
    """Bot.hold_input on a real connection: what the server sends waits there, then flows."""

    async def test_held_input_waits_at_the_server_then_flows(self):
        self.start_server()
        self.start_bot()
        await self.bot_ready()
        alice = await self.human("alice")
        self.bot.hold_input("test")
        alice.say("#pubbot", "!echo while paused")
        await deferLater(reactor, 1.5, lambda: None)
        reply = ("pubbot", "#pubbot", "echo: while paused (from alice)")
        self.assertNotIn(reply, alice.heard)
        self.assertFalse(any(t == ("chat.irc.#pubbot.chat", "alice", None) for t in self.watcher.topics))
        self.bot.release_input("test")
        await self.eventually(lambda: reply in alice.heard, "the reply once reading resumed")
        self.assertTrue(self.service.connected)
        self.assertEqual(self.service.reconnects, 0)

    async def test_brain_learner_far_behind_pauses_reading_and_loses_nothing(self):
        from pubbot.brain.host import LearnerProcess
        from pubbot.plugins.brain import Brain
        self.start_server()
        brain = Brain()
        self.start_bot(handlers=(brain,))
        self.assertIsInstance(brain.host, LearnerProcess)  # a real learner process
        brain.host.pause_backlog, brain.host.resume_backlog = 1, 0  # pause after every batch
        await self.bot_ready()
        alice = await self.human("alice")
        lines = ["wombats dig burrows %d" % i for i in range(5)]
        for line in lines:
            alice.say("#pubbot", line)
        alice.say("#pubbot", "!echo after the chatter")
        reply = ("pubbot", "#pubbot", "echo: after the chatter (from alice)")
        await self.eventually(lambda: reply in alice.heard, "the reply after the chatter")
        await self.eventually(lambda: brain.host.backlog == 0 and not brain.host.pausing,
                              "the learner to catch up")
        status = brain.status()
        self.assertGreaterEqual(status["input_pauses"], 1)
        self.assertEqual((status["dropped_lines"], status["input_paused"]), (0, False))
        self.assertEqual(self.bot.input_holders, set())
        size = await brain.host.size()
        self.assertEqual(size, 3 + 2 * 5)  # three shared by the lines, two of each's own
        alice.say("#pubbot", "pubbot: wombats")
        await self.eventually(lambda: any(who == "pubbot" and "wombats" in text.split()
                                          for who, _, text in alice.heard), "the brain's reply")
        self.assertTrue(self.service.connected)


class TLSTests(Base):
    @classmethod
    def setUpClass(cls):
        cls.ca = make_cert("pubbot test CA", ca=True)
        cls.server_cert = make_cert("localhost", names=["localhost"], ips=["127.0.0.1"], issuer=cls.ca)
        cls.self_signed = make_cert("selfie", names=["selfie.example"])

    def write(self, cert, name):
        return cert.write(os.path.abspath(self.mktemp()), name)

    async def test_verified_with_tls_ca(self):
        self.start_server(cert=self.write(self.server_cert, "server"))
        ca_path, _ = self.write(self.ca, "ca")
        self.start_bot(server="tls:localhost:%d" % self.ngircd.tls_port, tls_ca=ca_path)
        await self.bot_ready()
        self.assertTrue(self.service.current.tls)
        alice = await self.human("alice")
        alice.say("#pubbot", "!echo over tls")
        await self.eventually(lambda: ("pubbot", "#pubbot", "echo: over tls (from alice)") in alice.heard,
                              "a reply over TLS")

    async def refused(self, why):
        await deferLater(reactor, 3, lambda: None)
        self.assertFalse(self.service.connected)
        await self.eventually(lambda: why.search(self.log_text()), "the refusal to be logged")

    async def test_unknown_ca_refused(self):
        self.capture_logs()
        self.start_server(cert=self.write(self.server_cert, "server"))
        self.start_bot(server="tls:localhost:%d" % self.ngircd.tls_port)
        await self.refused(re.compile("certificate verify failed"))

    async def test_wrong_host_name_refused(self):
        self.capture_logs()
        self.start_server(cert=self.write(self.server_cert, "server"))
        ca_path, _ = self.write(self.ca, "ca")
        other = make_cert("elsewhere", names=["irc.elsewhere.example"], issuer=self.ca)
        self.ngircd.stop()
        self.start_server(cert=self.write(other, "other"))
        self.start_bot(server="tls:localhost:%d" % self.ngircd.tls_port, tls_ca=ca_path)
        await self.refused(re.compile("connection lost: VerificationError.*DNSMismatch"))
        self.assertNotIn("registered as", self.log_text())

    async def test_tls_against_a_plain_text_port_says_so(self):
        self.capture_logs()
        self.start_server(cert=self.write(self.server_cert, "server"))
        self.start_bot(server="tls:127.0.0.1:%d" % self.ngircd.port)
        await self.refused(re.compile(r"TLS handshake with 127\.0\.0\.1 port %d failed: if that is a "
                                      r"plain-text port, use tcp:127\.0\.0\.1:%d" % (self.ngircd.port,
                                                                                 self.ngircd.port)))
        self.assertNotIn("registered as", self.log_text())

    async def test_pinned_self_signed_trusted(self):
        self.start_server(cert=self.write(self.self_signed, "selfie"))
        self.start_bot(server="tls:127.0.0.1:%d" % self.ngircd.tls_port,
                       tls_fingerprints=[self.self_signed.fingerprint.upper()])
        await self.bot_ready()

    async def test_pin_mismatch_refused(self):
        self.capture_logs()
        self.start_server(cert=self.write(self.server_cert, "server"))
        ca_path, _ = self.write(self.ca, "ca")
        self.start_bot(server="tls:localhost:%d" % self.ngircd.tls_port, tls_ca=ca_path,
                       tls_fingerprints=[self.self_signed.fingerprint])
        await self.refused(re.compile("not pinned"))

    async def test_sts_upgrade_to_tls(self):
        self.capture_logs()
        self.start_server(cert=self.write(self.server_cert, "server"))
        ca_path, _ = self.write(self.ca, "ca")
        factory = protocol.Factory.forProtocol(StsTeaser)
        factory.tls_port = self.ngircd.tls_port
        port = free_port()
        listener = await TCP4ServerEndpoint(reactor, port, interface="127.0.0.1").listen(factory)
        self.addCleanup(listener.stopListening)
        self.start_bot(server="tcp:localhost:%d" % port, tls_ca=ca_path)
        await self.bot_ready()
        self.assertTrue(self.service.current.tls)
        self.assertEqual(self.service.endpoint.last, (True, "localhost", self.ngircd.tls_port))
        self.assertIn("requires TLS", self.log_text())
