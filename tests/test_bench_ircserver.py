"""
The benchmarks' IRC server (bench/ircserver.py) negotiates and tags like a
modern network. Driven in memory on a Clock; lines are checked with a
parser written here from the message-tags spec, not pubbot's.
"""

import importlib.util
import os
import re

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial.unittest import SynchronousTestCase

from .support.servers import ROOT

_spec = importlib.util.spec_from_file_location("bench_ircserver", os.path.join(ROOT, "bench", "ircserver.py"))
assert _spec is not None and _spec.loader is not None
ircserver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ircserver)

NOW = 1_700_000_000.123
TIME = re.compile(r"\A\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\Z")
PUBBOT_CAPS = ("account-notify account-tag away-notify batch cap-notify chghost echo-message extended-join "
               "invite-notify message-tags multi-prefix server-time setname userhost-in-names")
_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}


def unescape(value):
    """The message-tags spec's unescaping (an unknown escape drops the backslash, so does a trailing one)."""
    return re.sub(r"\\(.?)", lambda m: _UNESCAPES.get(m.group(1), m.group(1)), value, flags=re.S)


def parse(line):
    """C{[@tags ][:source ]COMMAND params}: (tags dict, source or None, [command, params...])."""
    tags = {}
    if line.startswith("@"):
        raw, line = line[1:].split(" ", 1)
        for item in raw.split(";"):
            key, _, value = item.partition("=")
            tags[key] = unescape(value)
    source = None
    if line.startswith(":"):
        source, line = line[1:].split(" ", 1)
    head, colon, trailing = line.partition(" :")
    words = head.split(" ")
    return tags, source, words + [trailing] if colon else words


class Client:
    """One connection to a server, speaking raw lines."""

    def __init__(self, server):
        self.protocol = server.buildProtocol(None)
        self.transport = StringTransport()
        self.protocol.makeConnection(self.transport)

    def say(self, *lines):
        """Send lines; the lines the server answered (without CR LF), each at most 510 bytes past its tags."""
        self.transport.clear()
        self.protocol.dataReceived(b"".join(line.encode() + b"\r\n" for line in lines))
        data = self.transport.value().decode()
        assert data == "" or data.endswith("\r\n"), data
        out = data.split("\r\n")[:-1]
        for line in out:
            assert "\n" not in line and "\r" not in line
            assert len((line.split(" ", 1)[1] if line.startswith("@") else line).encode()) <= 510, line
        return out

    def parsed(self, *lines):
        return [parse(line) for line in self.say(*lines)]


def server(tagged=True, **kwargs):
    clock = Clock()
    clock.advance(NOW)
    return ircserver.BenchServer(clock, tagged=tagged, listen=False, **kwargs)


def commands(parsed):
    return [words[0] for _, _, words in parsed]


def negotiated(caps=PUBBOT_CAPS, srv=None):
    """A client that asked for C{caps} (as pubbot does), registered; the lines of its registration."""
    c = Client(srv or server())
    c.say("CAP LS 302", "NICK pubbot", "USER pubbot 0 * :Pub Bot")
    if caps:
        assert commands(c.parsed("CAP REQ :" + caps)) == ["CAP"]
    return c, c.parsed("CAP END")


class NegotiationTests(SynchronousTestCase):
    def test_ls_302_offers_what_pubbot_asks_for(self):
        c = Client(server())
        (tags, source, words), = c.parsed("CAP LS 302")
        self.assertEqual(words[:3], ["CAP", "*", "LS"])
        offered = set(words[-1].split())
        self.assertTrue(set(PUBBOT_CAPS.split()) <= offered)
        self.assertEqual(tags, {})  # nothing granted yet

    def test_registration_waits_for_cap_end(self):
        c = Client(server())
        self.assertEqual(commands(c.parsed("CAP LS 302", "NICK pubbot", "USER pubbot 0 * :Pub Bot")), ["CAP"])
        self.assertEqual(commands(c.parsed("CAP REQ :server-time")), ["CAP"])
        self.assertFalse(c.protocol.registered)
        lines = c.parsed("CAP END")
        self.assertEqual(commands(lines)[0], "001")
        self.assertIn("376", commands(lines))
        self.assertTrue(c.protocol.registered)

    def test_req_alone_also_holds_registration(self):
        c = Client(server())
        self.assertEqual(commands(c.parsed("CAP REQ :batch", "NICK a", "USER a 0 * :A")), ["CAP"])
        self.assertEqual(commands(c.parsed("CAP END"))[0], "001")

    def test_no_cap_registers_at_once_with_plain_lines(self):
        c = Client(server())
        lines = c.say("NICK bare", "USER bare 0 * :Bare")
        self.assertTrue(lines[0].startswith(":irc.bench.example 001 bare "))
        self.assertFalse(any(line.startswith("@") for line in lines))
        self.assertFalse(any(line.startswith("@") for line in c.say("JOIN #bench", "WHO #bench")))

    def test_req_is_acked_and_applied(self):
        c = Client(server())
        c.say("CAP LS 302")
        (_, _, words), = c.parsed("CAP REQ :server-time  account-tag ")
        self.assertEqual(words, ["CAP", "*", "ACK", "server-time account-tag"])
        self.assertEqual(c.protocol.enabled, {"server-time", "account-tag", "cap-notify"})
        (tags, _, words), = c.parsed("CAP REQ :-account-tag")
        self.assertEqual(words[-1], "-account-tag")
        self.assertIn("time", tags)  # server-time applies to the lines after its ACK
        self.assertEqual(c.protocol.enabled, {"server-time", "cap-notify"})
        (_, _, words), = c.parsed("CAP LIST")
        self.assertEqual(words[-1].split(), ["cap-notify", "server-time"])

    def test_req_naming_anything_not_offered_is_refused_whole(self):
        c = Client(server())
        c.say("CAP LS 302")
        for req in ("server-time sasl", "-sts batch", "draft/multiline"):
            (_, _, words), = c.parsed("CAP REQ :" + req)
            self.assertEqual(words[2:], ["NAK", req])
        self.assertEqual(c.protocol.enabled, {"cap-notify"})

    def test_bad_cap_commands(self):
        c = Client(server())
        (_, _, words), = c.parsed("CAP FOO")
        self.assertEqual(words[:3], ["410", "*", "FOO"])
        (_, _, words), = c.parsed("CAP")
        self.assertEqual(words[:2], ["410", "*"])
        (_, _, words), = c.parsed("CAP REQ")
        self.assertEqual(words[2], "NAK")
        self.assertEqual(commands(c.parsed("CAP LS x")), ["CAP"])  # a version that is no number: 0

    def test_end_without_negotiation_is_ignored(self):
        c = Client(server())
        self.assertEqual(c.say("CAP END"), [])
        c.say("NICK a", "USER a 0 * :A")
        self.assertEqual(c.say("CAP END"), [])

    def test_long_listing_is_split_with_the_302_continuation(self):
        many = ircserver.CAPS + tuple("example.org/cap-number-%d=some,value" % i for i in range(40))
        c = Client(server(caps=many))
        lines = c.parsed("CAP LS 302")
        self.assertGreater(len(lines), 2)
        for _, _, words in lines[:-1]:
            self.assertEqual(words[:4], ["CAP", "*", "LS", "*"])
        self.assertEqual(len(lines[-1][2]), 4)
        self.assertEqual([name for _, _, words in lines for name in words[-1].split()], list(many))

    def test_a_cap_with_a_value_is_requested_by_name(self):
        c = Client(server(caps=ircserver.CAPS + ("sasl=PLAIN,EXTERNAL",)))
        (_, _, words), = c.parsed("CAP LS 302")
        self.assertIn("sasl=PLAIN,EXTERNAL", words[-1].split())
        (_, _, words), = c.parsed("CAP REQ :sasl batch")
        self.assertEqual(words[2:], ["ACK", "sasl batch"])
        (_, _, words), = c.parsed("CAP REQ :sasl=PLAIN")
        self.assertEqual(words[2], "NAK")

    def test_listing_before_302_has_no_values(self):
        many = ircserver.CAPS + tuple("example.org/cap-number-%d=value" % i for i in range(40))
        c = Client(server(caps=many))
        lines = c.parsed("CAP LS")
        self.assertGreater(len(lines), 1)
        self.assertEqual([name for _, _, words in lines for name in words[-1].split()],
                         [name.partition("=")[0] for name in many])
        self.assertNotIn("cap-notify", c.protocol.enabled)

    def test_plain_server_knows_no_cap(self):
        c = Client(server(tagged=False))
        (_, _, words), = c.parsed("CAP LS 302")
        self.assertEqual(words[:3], ["421", "*", "CAP"])
        lines = c.say("NICK pubbot", "USER pubbot 0 * :Pub Bot", "CAP REQ :server-time", "CAP END")
        self.assertTrue(lines[0].startswith(":irc.bench.example 001 "))
        self.assertFalse(any(line.startswith("@") for line in lines))
        self.assertEqual(c.protocol.enabled, set())

    def test_listens_on_loopback(self):
        reactor = MemoryReactorClock()
        ircserver.BenchServer(reactor)
        (port, _, _, interface), = reactor.tcpServers
        self.assertEqual((port, interface), (0, "127.0.0.1"))


class TaggingTests(SynchronousTestCase):
    def test_every_line_after_negotiation_carries_the_time(self):
        c, lines = negotiated()
        lines += c.parsed("JOIN #bench", "WHO #bench %tcuhnfa,152", "PING x", "MODE #bench")
        self.assertGreater(len(lines), 30)
        for tags, _, words in lines:
            self.assertRegex(tags.get("time", ""), TIME, words)
            self.assertEqual(tags["time"], "2023-11-14T22:13:20.123Z")

    def test_server_time_is_the_clock_time_in_utc_with_milliseconds(self):
        self.assertEqual(ircserver.server_time(0.0), "1970-01-01T00:00:00.000Z")
        self.assertEqual(ircserver.server_time(1_700_000_000.9999), "2023-11-14T22:13:20.999Z")
        self.assertEqual(ircserver.server_time(951_782_400.05), "2000-02-29T00:00:00.050Z")

    def test_only_the_tags_of_enabled_caps(self):
        chats, _ = ircserver.chat_messages(200, 10)
        for caps, wanted in (("server-time", {"time"}), ("account-tag", {"account"}),
                             ("message-tags", {"msgid", "+draft/reply"}), ("batch", set()),
                             ("", set())):
            c, _ = negotiated(caps)
            seen = set()
            for line in c.protocol.chat_wire(chats).chunk(0, len(chats), NOW).decode().split("\r\n")[:-1]:
                seen.update(parse(line)[0])
            self.assertEqual(seen, wanted, caps)

    def test_chat_tags_as_a_network_sends_them(self):
        c, _ = negotiated()
        chats, triggers = ircserver.chat_messages(2000, 100)
        data = c.protocol.chat_wire(chats).chunk(0, len(chats), NOW).decode()
        lines = [parse(line) for line in data.split("\r\n")[:-1]]
        self.assertEqual(len(lines), 2000)
        ids = [tags["msgid"] for tags, _, _ in lines]
        self.assertEqual(len(set(ids)), len(ids))
        for (tags, source, words), chat in zip(lines, chats, strict=False):
            self.assertEqual(list(tags)[:2], ["time", "msgid"])
            self.assertEqual(tags["time"], "2023-11-14T22:13:20.123Z")
            self.assertRegex(tags["msgid"], r"\A[a-z2-7]{26}\Z")
            self.assertEqual(tags.get("account"), chat.sender.account)
            self.assertEqual(source, chat.sender.mask)
            self.assertEqual(words, ["PRIVMSG", "#bench", chat.text])
            if chat.reply_to is not None:
                self.assertEqual(tags["+draft/reply"], ids[chat.reply_to])
                self.assertEqual(list(tags)[-1], "+draft/reply")  # client-only tags after the server's
        accounts = sum(1 for tags, _, _ in lines if "account" in tags)
        self.assertTrue(0.5 * len(lines) < accounts < 0.9 * len(lines), accounts)  # some logged out
        self.assertGreater(sum(1 for tags, _, _ in lines if "+draft/reply" in tags), 20)
        self.assertEqual([i for i, (_, _, w) in enumerate(lines) if w[-1] == "!ping"], triggers)

    def test_msgids_are_unique_across_connections(self):
        srv = server()
        chats, _ = ircserver.chat_messages(500, 0)
        ids = set()
        for _ in range(3):
            c, _ = negotiated("message-tags", srv)
            for line in c.protocol.chat_wire(chats).chunk(0, 500, NOW).decode().split("\r\n")[:-1]:
                ids.add(parse(line)[0]["msgid"])
        self.assertEqual(len(ids), 1500)

    def test_plain_wire_is_the_plain_flood(self):
        c = Client(server())
        c.say("NICK bare", "USER bare 0 * :Bare")
        chats, _ = ircserver.chat_messages(300, 7)
        lines, _ = ircserver.chat_lines(300, 7)
        self.assertEqual(c.protocol.chat_wire(chats).chunk(0, 300, NOW), b"".join(lines))

    @given(st.lists(st.integers(min_value=0, max_value=120), max_size=8), st.booleans())
    def test_chunks_keep_every_line_in_order(self, cuts, timed):
        c, _ = negotiated(PUBBOT_CAPS if timed else "message-tags account-tag")
        chats, _ = ircserver.chat_messages(120, 10)
        wire = c.protocol.chat_wire(chats)
        bounds = [0] + sorted(cuts) + [120]
        data = b"".join(wire.chunk(a, b, NOW + i)
                         for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)))
        lines = [parse(line) for line in data.decode().split("\r\n")[:-1]]
        self.assertEqual([(source, words[-1]) for _, source, words in lines],
                         [(chat.sender.mask, chat.text) for chat in chats])
        self.assertEqual(len({tags["msgid"] for tags, _, _ in lines}), 120)
        self.assertEqual(all("time" in tags for tags, _, _ in lines), timed)

    @given(st.text())
    def test_tag_values_are_escaped_per_the_spec(self, value):
        escaped = ircserver.escape_tag_value(value)
        self.assertFalse(set(escaped) & {";", " ", "\r", "\n"})
        self.assertEqual(unescape(escaped), value)

    def test_account_names_are_escaped_on_the_wire(self):
        member = ircserver.User("odd", "u", "h", "semi;colon sp\\ace", "Odd", "", False)
        c, _ = negotiated()
        data = c.protocol.chat_wire([ircserver.Chat(member, "hi", None)]).chunk(0, 1, NOW).decode()
        self.assertIn(r"account=semi\:colon\ssp\\ace ", data)
        self.assertEqual(parse(data[:-2])[0]["account"], "semi;colon sp\\ace")


class ChannelTests(SynchronousTestCase):
    def test_join_names_in_a_batch_with_every_prefix_and_mask(self):
        c, _ = negotiated()
        lines = c.parsed("JOIN #bench")
        tags, source, words = lines[0]
        self.assertEqual(words, ["JOIN", "#bench", "*", "Pub Bot"])  # extended-join, logged out
        self.assertEqual(source, "pubbot!pubbot@127.0.0.1")
        self.assertIn("msgid", tags)
        starts = [i for i, (_, _, w) in enumerate(lines) if w[0] == "BATCH"]
        self.assertEqual(len(starts), 2)
        start, end = (lines[i][2] for i in starts)
        self.assertEqual(start[0:1] + start[2:], ["BATCH", "pubbot.bench/names", "#bench"])
        ref = start[1][1:]
        self.assertEqual(start[1][0] + end[1], "+-" + ref)
        inside = lines[starts[0] + 1:starts[1]]
        self.assertEqual({w[0] for _, _, w in inside}, {"353", "366"})
        self.assertTrue(all(tags.get("batch") == ref for tags, _, _ in inside))
        self.assertNotIn("batch", lines[starts[1]][0])
        names = [n for _, _, w in inside if w[0] == "353" for n in w[-1].split()]
        self.assertEqual(len(names), 201)
        self.assertIn("pubbot!pubbot@127.0.0.1", names)
        self.assertIn("@+user0!u0@user/acct0", names)
        self.assertIn("+user5!~u5@user/user5", names)
        self.assertTrue(c.protocol.server.on_join.called)

    def test_names_without_caps(self):
        c = Client(server())
        c.say("NICK bare", "USER bare 0 * :Bare")
        lines = c.parsed("JOIN #bench")
        self.assertEqual(lines[0][2], ["JOIN", "#bench"])
        self.assertNotIn("BATCH", commands(lines))
        names = [n for _, _, w in lines if w[0] == "353" for n in w[-1].split()]
        self.assertEqual(names[:2], ["bare", "@user0"])
        self.assertIn("+user5", names)
        self.assertIn("user199", names)

    def test_whox_answers_in_a_batch(self):
        c, _ = negotiated()
        lines = c.parsed("WHO #bench %tcuhnfa,152")
        self.assertEqual(commands(lines)[0], "BATCH")
        replies = [w for _, _, w in lines if w[0] == "354"]
        self.assertEqual(len(replies), 201)
        head = ["354", "pubbot", "152", "#bench"]
        self.assertEqual(replies[1], head + ["u0", "user/acct0", "user0", "H@+", "acct0"])
        # user199: away, logged out
        self.assertEqual(replies[-1], head + ["~u199", replies[-1][5], "user199", "G", "0"])
        self.assertEqual(commands(lines)[-2:], ["315", "BATCH"])

    def test_plain_who(self):
        c = Client(server())
        c.say("NICK bare", "USER bare 0 * :Bare")
        lines = c.parsed("WHO #bench")
        self.assertEqual(lines[1][2][:8], ["352", "bare", "#bench", "u0", "user/acct0", "irc.bench.example",
                                           "user0", "H@"])
        self.assertEqual(lines[1][2][8], "0 User 0")
        self.assertEqual(commands(lines)[-1], "315")

    def test_echo_message_and_answers(self):
        c, _ = negotiated()
        replies = []
        c.protocol.server.on_reply = replies.append
        (tags, source, words), = c.parsed("@+draft/reply=abc;label=x PRIVMSG #bench :user1: pong")
        self.assertEqual((source, words), ("pubbot!pubbot@127.0.0.1", ["PRIVMSG", "#bench", "user1: pong"]))
        self.assertEqual(tags["+draft/reply"], "abc")
        self.assertNotIn("label", tags)
        self.assertEqual(len(replies), 1)
        (tags, _, words), = c.parsed("NOTICE #bench :hello")
        self.assertEqual(words, ["NOTICE", "#bench", "hello"])
        self.assertEqual(set(tags), {"time", "msgid"})  # pubbot is logged out: no account
        self.assertEqual(len(c.protocol.server.reply_times), 1)

    def test_no_echo_without_the_cap(self):
        c, _ = negotiated("server-time")
        self.assertEqual(c.say("PRIVMSG #bench :pong"), [])
        self.assertEqual(len(c.protocol.server.reply_times), 1)


class BadInputTests(SynchronousTestCase):
    def test_commands_before_registration_unknown_and_garbage(self):
        c = Client(server())
        self.assertEqual(parse(c.say("JOIN #bench")[0])[2][:2], ["451", "*"])
        self.assertEqual(c.say("", "   ", "@only=tags", ":only.source", "\x00"), [
            ":irc.bench.example 421 * \x00 :Unknown command"])
        self.assertEqual(parse(c.say("FROB x")[0])[2][:3], ["421", "*", "FROB"])
        self.assertEqual(parse(c.say("USER x")[0])[2][:3], ["461", "*", "USER"])
        self.assertEqual(parse(c.say("NICK")[0])[2][:2], ["431", "*"])
        self.assertFalse(c.protocol.registered)

    def test_undecodable_bytes(self):
        c = Client(server())
        c.protocol.dataReceived(b"NICK \xff\xfe\r\nUSER a 0 * :\xe9\r\n")
        self.assertTrue(c.protocol.registered)

    def test_overlong_lines_are_refused(self):
        c = Client(server())
        (_, _, words), = c.parsed("PING " + "x" * 600)
        self.assertEqual(words[:2], ["417", "*"])
        tags = "@+a=" + "y" * 5000
        self.assertEqual(commands(c.parsed(tags + " PING x")), ["PONG"])  # tags have their own room
        self.assertEqual(commands(c.parsed(tags * 2 + " PING x")), ["417"])

    def test_a_line_without_end_is_bounded(self):
        c = Client(server())
        c.transport.clear()
        for _ in range(20):
            c.protocol.dataReceived(b"z" * 1000)
        self.assertLessEqual(len(c.protocol.buffer), ircserver.MAX_INPUT)
        self.assertEqual(c.transport.value().count(b" 417 "), 1)
        (_, _, words), = c.parsed("rest of it", "PING ok")  # the tail is dropped, the next line read
        self.assertEqual(words, ["PONG", "irc.bench.example", "ok"])


class CpuSharesTests(SynchronousTestCase):
    def test_the_share_of_a_core_each_side_used(self):
        import subprocess
        import sys
        import time
        # a parent idle in wait(), its child busy for 5 s of CPU: the shape of pubbot and its learner
        busy = "import time\nt = time.process_time()\nwhile time.process_time() - t < 5: pass\n"
        proc = subprocess.Popen([sys.executable, "-c",
                                 "import subprocess, sys; subprocess.run([sys.executable, '-c', %r])" % busy])
        self.addCleanup(proc.wait)
        self.addCleanup(lambda: [os.kill(p, 9) for p in ircserver.descendants(proc.pid)])
        deadline = time.monotonic() + 10
        while not ircserver.descendants(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        shares = ircserver.CpuShares(proc.pid)
        started = time.monotonic()
        time.sleep(0.5)
        client, under, server = shares.stop(time.monotonic() - started)
        self.assertLess(client, 50)  # waiting
        self.assertGreater(under, 20)  # busy (a share of a core the machine gave it)
        self.assertLess(server, 50)  # this process slept

    def test_a_process_gone_reads_as_nan(self):
        self.assertNotEqual(ircserver.cpu_seconds(2 ** 22 + 12345), ircserver.cpu_seconds(2 ** 22 + 12345))
