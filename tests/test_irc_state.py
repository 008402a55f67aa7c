"""Casemapping, ISUPPORT, rosters, capabilities, STS values and the throttle."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.caps import Capabilities, request_lines
from pubbot.irc.casemap import FoldedDict, folder
from pubbot.irc.isupport import ISupport
from pubbot.irc.roster import Roster
from pubbot.irc.sts import StsPolicies, parse_value
from pubbot.irc.throttle import Throttle
from pubbot.store.memory import MemoryStore


class CasemapTests(SynchronousTestCase):
    def test_ascii(self):
        fold = folder("ascii")
        self.assertEqual(fold("Nick[]\\~"), "nick[]\\~")

    def test_rfc1459(self):
        self.assertEqual(folder("rfc1459")("Nick[]\\~"), "nick{}|^")

    def test_rfc1459_strict(self):
        self.assertEqual(folder("rfc1459-strict")("Nick[]\\~"), "nick{}|~")

    def test_unknown_is_ascii(self):
        self.assertEqual(folder("rfc7613")("A[")[0:2], "a[")

    def test_folded_dict(self):
        d = FoldedDict(folder("rfc1459"))
        d["Nick[a]"] = 1
        self.assertEqual(d["nick{A}"], 1)
        self.assertIn("NICK[A]", d)
        self.assertEqual(d.name("nick{a}"), "Nick[a]")
        d.rename("nick{a}", "Other")
        self.assertEqual(list(d), ["Other"])
        d.refold(folder("ascii"))
        self.assertIn("OTHER", d)

    @given(st.text(max_size=20))
    def test_fold_is_idempotent(self, text):
        for name in ("ascii", "rfc1459", "rfc1459-strict"):
            fold = folder(name)
            self.assertEqual(fold(fold(text)), fold(text))


class ISupportTests(SynchronousTestCase):
    def test_defaults(self):
        i = ISupport()
        self.assertEqual((i.casemapping, i.chantypes, i.prefix_modes, i.prefix_symbols, i.linelen),
                         ("rfc1459", "#&", "ov", "@+", 512))
        self.assertIsNone(i.nicklen)

    def test_update(self):
        i = ISupport()
        i.update(["CASEMAPPING=ascii", "CHANTYPES=#", "PREFIX=(qaohv)~&@%+", "NICKLEN=30",
                  "CHANNELLEN=64", "LINELEN=2048", "NETWORK=Example\\x20Net", "MONITOR=100", "WHOX",
                  "CHANMODES=beI,k,l,imnpst"])
        self.assertEqual(i.fold("A[]"), "a[]")
        self.assertEqual((i.chantypes, i.prefix_modes, i.prefix_symbols), ("#", "qaohv", "~&@%+"))
        self.assertEqual((i.nicklen, i.channellen, i.linelen), (30, 64, 2048))
        self.assertEqual(i.network, "Example Net")
        self.assertEqual(i.monitor, 100)
        self.assertTrue(i.whox)
        self.assertTrue(i.mode_takes_param("h", False))
        self.assertTrue(i.mode_takes_param("l", True))
        self.assertFalse(i.mode_takes_param("l", False))
        self.assertFalse(i.mode_takes_param("m", True))

    def test_negation_resets(self):
        i = ISupport()
        i.update(["CASEMAPPING=ascii", "MONITOR"])
        i.update(["-CASEMAPPING", "-MONITOR"])
        self.assertEqual(i.casemapping, "rfc1459")
        self.assertIsNone(i.monitor)

    def test_hostile_values(self):
        i = ISupport()
        i.update(["PREFIX=(ov)@", "NICKLEN=abc", "LINELEN=10", "CHANMODES=", "", "=x", "PREFIX=garbage"])
        self.assertEqual((i.prefix_modes, i.prefix_symbols), ("ov", "@+"))
        self.assertIsNone(i.nicklen)
        self.assertEqual(i.linelen, 512)

    def test_a_hostile_server_cannot_grow_it(self):
        i = ISupport()
        for n in range(100):
            i.update(["TOKEN%d=%s" % (n * 100 + k, "v" * 5000) for k in range(100)] + ["LINELEN=999999999"])
        self.assertLessEqual(len(i.raw), 200)
        self.assertLessEqual(max(len(v or "") for v in i.raw.values()), 300)
        self.assertEqual(i.linelen, 8192)
        i.update(["NETWORK=Still"])  # known tokens already in are still updated; new ones wait
        self.assertIsNone(i.network)


class RosterTests(SynchronousTestCase):
    def setUp(self):
        self.roster = Roster(folder("rfc1459"), "@+")

    def test_names_and_modes(self):
        r = self.roster
        r.join("#c", "me", "u", "h")
        r.names("#c", ["@+Alice", "bob!b@bhost", "+carol", "me"])
        r.end_of_names("#c")
        self.assertEqual(sorted(r.nicks("#C")), ["Alice", "bob", "carol", "me"])
        entries = {e["nick"]: e for e in r.entries("#c")}
        self.assertEqual(entries["Alice"]["prefix"], "@+")
        self.assertEqual(entries["bob"]["host"], "bhost")
        r.set_prefix("#c", "bob", "@", True)
        r.set_prefix("#c", "bob", "+", True)
        self.assertEqual({e["nick"]: e for e in r.entries("#c")}["bob"]["prefix"], "@+")
        r.set_prefix("#c", "alice", "@", False)
        self.assertEqual({e["nick"]: e for e in r.entries("#c")}["Alice"]["prefix"], "+")

    def test_quit_nick_part(self):
        r = self.roster
        r.join("#a", "x")
        r.join("#b", "x")
        r.join("#a", "y")
        r.nick_change("X", "z[1]")
        self.assertIn("Z{1}", r.users)
        self.assertEqual(sorted(r.quit("z[1]")), ["#a", "#b"])
        self.assertNotIn("z[1]", r.users)
        r.part("#a", "y")
        self.assertNotIn("y", r.users)
        r.leave_channel("#a")
        self.assertNotIn("#a", r.channels)

    def test_second_names_replaces(self):
        r = self.roster
        r.join("#c", "me")
        r.names("#c", ["me", "gone"])
        r.end_of_names("#c")
        r.names("#c", ["me"])
        r.end_of_names("#c")
        self.assertEqual(r.nicks("#c"), ["me"])
        self.assertNotIn("gone", r.users)

    def test_names_for_unknown_channel_ignored(self):
        self.roster.names("#nope", ["a"])
        self.roster.end_of_names("#nope")
        self.assertEqual(self.roster.nicks("#nope"), [])


class CapsTests(SynchronousTestCase):
    def test_multiline_ls_with_values(self):
        caps = Capabilities()
        self.assertFalse(caps.ls_line("sasl=PLAIN,EXTERNAL multi-prefix", more=True))
        self.assertTrue(caps.ls_line("sts=port=6697,duration=10 unknown-cap", more=False))
        self.assertEqual(caps.available["sasl"], "PLAIN,EXTERNAL")
        self.assertEqual(caps.available["sts"], "port=6697,duration=10")
        self.assertEqual(caps.wanted(caps.available, sasl=False), ["multi-prefix"])
        self.assertEqual(caps.wanted(caps.available, sasl=True), ["multi-prefix", "sasl"])

    def test_ack_nak_new_del(self):
        caps = Capabilities()
        caps.ls_line("a b", False)
        caps.pending.add("multi-prefix echo-message")
        caps.ack("multi-prefix echo-message ")
        self.assertEqual(caps.enabled, {"multi-prefix", "echo-message"})
        self.assertFalse(caps.pending)
        caps.ack("-echo-message")
        self.assertEqual(caps.enabled, {"multi-prefix"})
        caps.ack("not-wanted")
        self.assertNotIn("not-wanted", caps.enabled)
        self.assertEqual(caps.new("away-notify=x"), {"away-notify": "x"})
        caps.delete("multi-prefix away-notify")
        self.assertEqual(caps.enabled, set())
        self.assertNotIn("away-notify", caps.available)

    def test_request_lines_fit(self):
        names = ["cap-%03d-with-a-long-name" % i for i in range(100)]
        lines = request_lines(names)
        self.assertGreater(len(lines), 1)
        self.assertTrue(all(len(line) <= 400 for line in lines))
        self.assertEqual(" ".join(lines).split(), names)

    def test_hostile_ls_is_bounded(self):
        caps = Capabilities()
        for i in range(100):
            caps.ls_line(" ".join("c%d-%d" % (i, j) for j in range(100)), more=True)
        caps.ls_line("", more=False)
        self.assertLessEqual(len(caps.available), 500)


class StsTests(SynchronousTestCase):
    def test_parse(self):
        v = parse_value("port=6697,duration=300,preload")
        self.assertEqual((v.port, v.duration, v.preload), (6697, 300, True))
        self.assertEqual(parse_value("duration=5").port, None)
        for bad in (None, "", "port=x", "port=70000", "duration=-1"):
            self.assertIsNone(parse_value(bad))
        self.assertEqual(parse_value("duration=99999999999").duration, 366 * 86400)

    def test_store_and_expire(self):
        clock = Clock()
        store = MemoryStore(clock)
        policies = StsPolicies(store)
        policies.save("Irc.Example.NET", 6697, 100)
        self.assertEqual(self.successResultOf(policies.get("irc.example.net")), {"port": 6697})
        clock.advance(101)
        self.assertIsNone(self.successResultOf(policies.get("irc.example.net")))
        policies.save("h", 1, 100)
        policies.save("h", 1, 0)
        self.assertIsNone(self.successResultOf(policies.get("h")))


class ThrottleTests(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.out = []
        self.t = Throttle(self.clock, burst=3, per_second=2.0, write=self.out.append)

    def test_burst_then_paced(self):
        for i in range(7):
            self.t.send(b"%d" % i)
        self.assertEqual(self.out, [b"0", b"1", b"2"])
        self.assertEqual(self.t.depth(), 4)
        self.clock.advance(0.5)
        self.assertEqual(len(self.out), 4)
        self.clock.advance(0.5)
        self.assertEqual(len(self.out), 5)
        self.clock.advance(10)
        self.assertEqual(self.out, [b"%d" % i for i in range(7)])
        self.assertEqual(self.t.depth(), 0)

    def test_refills_to_burst_only(self):
        self.clock.advance(1000)
        for _i in range(5):
            self.t.send(b"x")
        self.assertEqual(len(self.out), 3)

    def test_send_now_costs_a_token(self):
        self.t.send_now(b"pong")
        self.t.send_now(b"pong")
        self.t.send_now(b"pong")
        self.t.send(b"later")
        self.assertEqual(self.out, [b"pong"] * 3)
        self.clock.advance(0.5)
        self.assertEqual(self.out[-1], b"later")

    def test_send_now_debt_is_bounded(self):
        for _ in range(1000):
            self.t.send_now(b"cap")
        self.t.send(b"later")
        self.clock.advance(2 * 3 / 2.0)  # the debt is at most a burst: two bursts' refill pays it
        self.assertEqual(self.out[-1], b"later")

    def test_uncharged_lines_never_starve_the_queues(self):
        self.t.send(b"a")
        self.t.send(b"b")
        self.t.send(b"c")
        self.t.send(b"queued")
        for _ in range(40):  # a server PINGing 20 times a second
            self.t.send_now(b"pong", charge=False)
            self.clock.advance(0.05)
        self.assertIn(b"queued", self.out)

    def test_disabled_writes_at_once(self):
        t = Throttle(self.clock, 1, 1.0, enabled=False, write=self.out.append)
        for _i in range(10):
            t.send(b"x")
        self.assertEqual(len(self.out), 10)

    def test_detach_drops_queue(self):
        for _i in range(6):
            self.t.send(b"x")
        self.assertEqual(self.t.detach(), 3)
        self.clock.advance(10)
        self.assertEqual(len(self.out), 3)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_queue_bound(self):
        t = Throttle(self.clock, 1, 1.0, write=self.out.append, max_queue=2)
        results = [t.send(b"x") for i in range(5)]
        self.assertEqual(results, [True, True, True, False, False])
        self.assertEqual(t.dropped, 2)

    def test_keys_take_turns(self):
        for i in range(6):
            self.t.send(b"help %d" % i, "flooder")
        self.t.send(b"pong for amy", "amy")
        self.t.send(b"pong for bob", "bob")
        for _ in range(10):
            self.clock.advance(0.5)
        self.assertEqual(self.out[:3], [b"help 0", b"help 1", b"help 2"])  # the burst
        # then a line each in turn: amy and bob wait one line at most
        self.assertEqual(self.out[3:7], [b"help 3", b"pong for amy", b"pong for bob", b"help 4"])

    def test_per_person_bound(self):
        t = Throttle(self.clock, 1, 1.0, write=self.out.append, max_per_person=2)
        results = [t.send(b"x", "flooder", person=True) for i in range(5)] + [t.send(b"y", "other", True)]
        self.assertEqual(results, [True, True, True, False, False, True])
        self.assertEqual((t.dropped, t.depth()), (2, 3))
        # a place's lines (announcements, the bot's own) are bounded by the whole queue only
        self.assertTrue(all(t.send(b"z", "#channel") for i in range(50)))

    def test_a_token_short_by_rounding_does_not_spin_the_clock(self):
        # Found by hypothesis: the drain's refill came to 0.999...9 tokens and
        # rescheduled ~1e-16 s ahead, which a Clock at 1.0176 s runs at once, for ever.
        clock = Clock()
        out = []
        t = Throttle(clock, burst=2, per_second=1.0, write=out.append)
        clock.advance(1.0176443342106867)
        for line in (b"a1", b"a2", b"a3"):
            t.send(line, "a")
        clock.advance(1)
        self.assertEqual(out, [b"a1", b"a2", b"a3"])

    @given(st.lists(st.tuples(st.sampled_from("abcde"), st.floats(min_value=0, max_value=2)), max_size=60))
    def test_nothing_lost_and_each_key_keeps_its_order(self, sends):
        clock = Clock()
        out = []
        t = Throttle(clock, burst=2, per_second=1.0, write=out.append, max_per_person=1000)
        for n, (key, gap) in enumerate(sends):
            clock.advance(gap)
            t.send(b"%s%d" % (key.encode(), n), key)
        for _ in range(len(sends) + 1):
            clock.advance(1)
        self.assertEqual(sorted(out), sorted(b"%s%d" % (k.encode(), n) for n, (k, _) in enumerate(sends)))
        for key in "abcde":
            mine = [int(line[1:]) for line in out if line[:1] == key.encode()]
            self.assertEqual(mine, sorted(mine))

    @given(st.lists(st.floats(min_value=0, max_value=3), max_size=40))
    def test_never_exceeds_rate(self, gaps):
        clock = Clock()
        stamps = []
        t = Throttle(clock, burst=5, per_second=1.0, write=lambda d: stamps.append(clock.seconds()))
        for gap in gaps:
            clock.advance(gap)
            t.send(b"x")
        clock.advance(100)
        self.assertEqual(len(stamps), len(gaps))
        # Any window of w seconds holds at most burst + w * rate lines.
        for i in range(len(stamps)):
            for j in range(i, len(stamps)):
                self.assertLessEqual(j - i + 1, 5 + (stamps[j] - stamps[i]) * 1.0 + 1e-6)
