"""
The registration machine and the connection state, driven by lines alone:
no transport, no service, no bot. Each phase of registration on its own.
"""

from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.core.events import ChatEvent
from pubbot.irc.lines import Line, escape_tag_value, parse, parse_tags, serialise
from pubbot.irc.registration import (
    MAX_LS_LINES,
    MAX_NICK_TRIES,
    Authenticating,
    AwaitingWelcome,
    Failed,
    ListingCaps,
    Registered,
    Registration,
    RequestingCaps,
    SaslConfig,
)
from pubbot.irc.roster import MAX_CHANNELS, MAX_MEMBERS, MAX_USERS
from pubbot.irc.state import ConnectionState


class RecordingIO:
    """A RegistrationIO that writes down what the machine did."""

    def __init__(self):
        self.now: list[str] = []
        self.queued: list[str] = []
        self.failures: list[tuple[str, bool]] = []
        self.upgrades: list[int] = []
        self.policies: list[int] = []
        self.notes: list[str] = []
        self.welcomes = 0

    def send_now(self, command, *params):
        self.now.append(serialise(Line(command, list(params))))

    def send(self, command, *params):
        self.queued.append(serialise(Line(command, list(params))))

    def fail(self, reason, sasl=False):
        self.failures.append((reason, sasl))

    def upgrade(self, port):
        self.upgrades.append(port)

    def keep_sts_policy(self, duration):
        self.policies.append(duration)

    def note(self, kind, level, format, **fields):
        self.notes.append(kind)

    def welcomed(self):
        self.welcomes += 1

    def take(self) -> list[str]:
        out, self.now = self.now, []
        return out


def nicks(index: int) -> str:
    return ["pubbot", "pubbot_"][index] if index < 2 else "pubbot%d" % index


class Machine:
    def __init__(self, sasl=None, tls=False, sts_host="irc.example.net"):
        self.state = ConnectionState("pubbot", lambda: 1000.0)
        self.io = RecordingIO()
        self.reg = Registration(self.state, self.io, nicks, "bot", "Pub Bot", sasl, tls, sts_host)
        self.reg.start()

    def feed(self, *texts: str) -> None:
        for text in texts:
            line = parse(text)
            self.state.apply(line)
            self.reg.receive(line)

    @property
    def phase(self):
        return type(self.reg.phase)


PLAIN_AND_SCRAM = SaslConfig(("SCRAM-SHA-256", "PLAIN"), "bot", "hunter2")


class PhaseTests(SynchronousTestCase):
    def test_start_sends_cap_ls_nick_user_and_lists_caps(self):
        m = Machine()
        self.assertEqual(m.io.take(), ["CAP LS 302", "NICK pubbot", "USER bot 0 * :Pub Bot"])
        self.assertIs(m.phase, ListingCaps)

    def test_listing_caps_waits_for_the_last_ls_line(self):
        m = Machine()
        m.io.take()
        m.feed(":srv CAP * LS * :server-time message-tags", ":srv CAP * LS * :account-tag")
        self.assertEqual((m.io.take(), m.phase), ([], ListingCaps))
        m.feed(":srv CAP * LS :batch unknown-cap")
        self.assertEqual(m.io.take(), ["CAP REQ :account-tag batch message-tags server-time"])
        self.assertIs(m.phase, RequestingCaps)

    def test_nothing_wanted_ends_negotiation(self):
        m = Machine()
        m.io.take()
        m.feed(":srv CAP * LS :unknown-cap")
        self.assertEqual((m.io.take(), m.phase), (["CAP END"], AwaitingWelcome))

    def test_server_without_cap(self):
        m = Machine()
        m.feed(":srv 421 * CAP :Unknown command")
        self.assertIs(m.phase, AwaitingWelcome)
        m.feed(":srv 001 pubbot :Welcome pubbot!u@h")
        self.assertEqual((m.phase, m.io.welcomes, m.state.hostmask), (Registered, 1, "pubbot!u@h"))

    def test_requesting_caps_until_every_ack_or_nak(self):
        m = Machine()
        m.feed(":srv CAP * LS :server-time batch")
        m.io.take()
        m.feed(":srv CAP * NAK :batch server-time")
        self.assertEqual((m.io.take(), m.phase), (["CAP END"], AwaitingWelcome))
        self.assertEqual(m.state.caps.enabled, set())
        self.assertEqual(m.io.notes, ["cap-nak"])  # logged through the IO's bounded note

    def test_ack_enables(self):
        m = Machine()
        m.feed(":srv CAP * LS :server-time batch", ":srv CAP * ACK :batch server-time")
        self.assertEqual(m.state.caps.enabled, {"batch", "server-time"})
        self.assertIs(m.phase, AwaitingWelcome)

    def test_a_capability_list_without_end_fails(self):
        m = Machine()
        for i in range(MAX_LS_LINES + 20):
            m.feed(":srv CAP * LS * :c%d=v d%d" % (i, i))
        self.assertEqual(m.phase, Failed)
        self.assertEqual(len(m.io.failures), 1)
        self.assertIn("capability list does not end", m.io.failures[0][0])

    def test_refused_nicks_before_welcome_are_paced_and_bounded(self):
        m = Machine()
        m.io.take()
        m.feed(":srv 433 * pubbot :Nickname is already in use")
        self.assertEqual((m.io.queued, m.io.take()), (["NICK pubbot_"], []))
        for _ in range(MAX_NICK_TRIES):
            m.feed(":srv 433 * x :in use")
        self.assertEqual(len(m.io.queued), MAX_NICK_TRIES)
        self.assertEqual(m.io.failures, [("the server refused %d nicks" % MAX_NICK_TRIES, False)])
        self.assertIs(m.phase, Failed)
        m.feed(":srv 433 * x :in use", ":srv 001 x :Welcome")
        self.assertEqual((len(m.io.queued), m.io.welcomes), (MAX_NICK_TRIES, 0))

    def test_sts_on_plain_text_upgrades(self):
        m = Machine()
        m.feed(":srv CAP * LS :sts=port=6697,duration=300 server-time")
        self.assertEqual((m.io.upgrades, m.phase), ([6697], Failed))
        self.assertNotIn("CAP END", m.io.take())

    def test_sts_on_tls_keeps_the_policy(self):
        m = Machine(tls=True)
        m.feed(":srv CAP * LS :sts=port=6697,duration=300")
        self.assertEqual((m.io.upgrades, m.io.policies), ([], [300]))

    def test_registered_requests_what_cap_new_offers(self):
        m = Machine()
        m.feed(":srv CAP * LS :server-time", ":srv CAP * ACK :server-time", ":srv 001 pubbot :hi")
        m.feed(":srv CAP pubbot NEW :away-notify unknown")
        self.assertEqual(m.io.queued, ["CAP REQ away-notify"])
        m.feed(":srv CAP pubbot ACK :away-notify")
        self.assertIn("away-notify", m.state.caps.enabled)


class SaslPhaseTests(SynchronousTestCase):
    def authenticating(self, sasl=PLAIN_AND_SCRAM, tls=True, ls="sasl=PLAIN,SCRAM-SHA-256") -> Machine:
        m = Machine(sasl, tls)
        m.feed(":srv CAP * LS :" + ls, ":srv CAP * ACK :sasl")
        return m

    def test_plain_on_tls(self):
        m = self.authenticating(SaslConfig(("PLAIN",), "bot", "hunter2"))
        self.assertIs(m.phase, Authenticating)
        self.assertEqual(m.io.take()[-1], "AUTHENTICATE PLAIN")
        m.feed("AUTHENTICATE +")
        self.assertEqual(m.io.take(), ["AUTHENTICATE " + base64.b64encode(b"bot\0bot\0hunter2").decode()])
        m.feed(":srv 900 pubbot pubbot!u@h bot :logged in", ":srv 903 pubbot :ok")
        self.assertEqual((m.io.take(), m.phase, m.state.account), (["CAP END"], AwaitingWelcome, "bot"))
        m.feed(":srv 001 pubbot :Welcome")
        self.assertIs(m.phase, Registered)

    def test_plain_is_never_sent_in_clear(self):
        m = self.authenticating(SaslConfig(("PLAIN",), "bot", "hunter2"), tls=False)
        sent = m.io.take()
        self.assertNotIn("AUTHENTICATE PLAIN", sent)
        self.assertEqual(m.io.failures, [("SASL failed", True)])

    def test_scram_failure_in_clear_does_not_fall_back_to_plain(self):
        m = self.authenticating(tls=False)
        self.assertEqual(m.io.take()[-1], "AUTHENTICATE SCRAM-SHA-256")
        m.feed(":srv 904 pubbot :SASL authentication failed")
        self.assertEqual(m.io.take(), [])
        self.assertEqual((m.io.failures, m.phase), ([("SASL failed", True)], Failed))

    def test_plain_in_clear_when_allowed(self):
        m = self.authenticating(SaslConfig(("PLAIN",), "bot", "hunter2", allow_plaintext=True), tls=False)
        self.assertEqual(m.io.take()[-1], "AUTHENTICATE PLAIN")

    def test_scram_failure_on_tls_falls_back(self):
        m = self.authenticating()
        m.io.take()
        m.feed(":srv 904 pubbot :failed")
        self.assertEqual(m.io.take(), ["AUTHENTICATE PLAIN"])

    def test_welcome_without_sasl_is_refused(self):
        m = self.authenticating()
        m.feed(":srv 001 pubbot :Welcome")
        self.assertEqual((m.io.failures, m.io.welcomes), ([("SASL failed", True)], 0))

    def test_no_sasl_offered(self):
        m = Machine(PLAIN_AND_SCRAM, True)
        m.feed(":srv CAP * LS :server-time")
        self.assertEqual(m.io.failures, [("SASL failed", True)])

    def test_hostile_authenticate_is_bounded(self):
        m = self.authenticating()
        m.io.take()
        for _ in range(100):
            m.feed("AUTHENTICATE " + "A" * 400)
        self.assertEqual(m.io.failures, [("SASL failed", True)])
        self.assertIn("AUTHENTICATE *", m.io.take())


class StateTests(SynchronousTestCase):
    def joined(self, *names: str) -> ConnectionState:
        state = ConnectionState("pubbot", lambda: 1000.0)
        for text in (":srv 001 pubbot :Welcome", ":srv 005 pubbot CHANTYPES=# PREFIX=(ov)@+ :ok",
                     ":pubbot!u@h JOIN #pubbot", ":srv 353 pubbot = #pubbot :@pubbot " + " ".join(names),
                     ":srv 366 pubbot #pubbot :End"):
            state.apply(parse(text))
        state.events.clear()
        return state

    def test_joins_elsewhere_neither_grow_rosters_nor_make_events(self):
        state = self.joined("alice")
        for i in range(100):
            with self.assertRaises(ValueError):
                state.apply(parse(":u%d!u@h JOIN #elsewhere%d" % (i, i)))
        self.assertEqual((list(state.rosters.channels), len(state.rosters.users), state.events),
                         (["#pubbot"], 2, []))

    def test_forced_joins_are_bounded(self):
        state = self.joined("alice")
        refused = 0
        for i in range(MAX_CHANNELS + 50):
            try:
                state.apply(parse(":pubbot!u@h JOIN #forced%d" % (i,)))
            except ValueError:
                refused += 1
        self.assertEqual((len(state.rosters.channels), refused), (MAX_CHANNELS, 51))

    def test_members_and_people_are_bounded(self):
        state = self.joined()
        for start in range(0, MAX_MEMBERS + 1000, 500):
            names = " ".join("n%d" % i for i in range(start, start + 500))
            state.apply(parse(":srv 353 pubbot = #pubbot :" + names))
        state.apply(parse(":srv 366 pubbot #pubbot :End"))
        for i in range(1000):
            state.apply(parse(":j%d!u@h JOIN #pubbot" % (i,)))
        self.assertEqual(len(state.rosters.channels["#pubbot"].members), MAX_MEMBERS)
        self.assertEqual(len(state.events), 1000)  # each join still heard
        self.assertLessEqual(len(state.rosters.users), MAX_USERS)

    def test_chat_join_leave_events_in_order(self):
        state = self.joined("alice")
        for text in (":alice!a@h PRIVMSG #pubbot :hi", ":bob!b@h JOIN #pubbot",
                     ":alice!a@h NOTICE #pubbot :n", ":bob!b@h PRIVMSG pubbot :private",
                     ":alice!a@h QUIT :bye",
                     ":bob!b@h PRIVMSG #pubbot :\x01VERSION\x01",
                     ":bob!b@h PRIVMSG #pubbot :\x01ACTION waves\x01"):
            state.apply(parse(text))
        seen = [(e.kind, e.place, e.fields.get("content"), e.fields.get("kind")) for e in state.events]
        self.assertEqual(seen,
                         [("chat", "#pubbot", "hi", None), ("join", "#pubbot", None, None),
                          ("chat", "bob", "private", None), ("leave", "#pubbot", None, "quit"),
                          ("chat", "#pubbot", "waves", None)])
        self.assertTrue(all(isinstance(e, ChatEvent) for e in state.events))
        self.assertTrue(state.events[2].fields["private"])
        self.assertEqual(state.ctcp_requests, [("bob", "VERSION", "")])

    def test_ctcp_requests_for_the_protocol(self):
        # Requests (not ACTIONs, which are chat) are listed for the protocol
        # to answer, in order, the command upper-cased; never our own echo.
        state = self.joined("alice")
        for text in (":bob!b@h PRIVMSG pubbot :\x01ping 12 34\x01", ":bob!b@h PRIVMSG #pubbot :\x01TIME",
                     ":PubBot!u@h PRIVMSG #pubbot :\x01VERSION\x01", ":amy!a@h PRIVMSG pubbot :\x01\x01",
                     ":amy!a@h PRIVMSG pubbot :\x01action\x01"):
            state.apply(parse(text))
        self.assertEqual(state.ctcp_requests,
                         [("bob", "PING", "12 34"), ("bob", "TIME", ""), ("amy", "", "")])
        self.assertEqual(state.events, [])

    def test_own_kick_forgets_the_channel(self):
        state = self.joined("alice")
        state.apply(parse(":op!o@h KICK #pubbot pubbot :out"))
        self.assertEqual((list(state.rosters.channels), state.events), ([], []))

    def test_server_time_and_account(self):
        state = self.joined("alice")
        state.caps.enabled.add("account-tag")
        state.apply(parse("@time=2023-11-14T22:13:20.250Z;account=al :alice!a@h PRIVMSG #pubbot :x"))
        state.apply(parse("@time=bogus :alice!a@h PRIVMSG #pubbot :y"))
        self.assertEqual([(e.fields["time"], e.fields["account"]) for e in state.events],
                         [(1700000000.25, "al"), (1000.0, None)])


class TagTests(SynchronousTestCase):
    @given(st.dictionaries(st.from_regex(r"\+?[a-z][a-z0-9/.-]{0,20}", fullmatch=True),
                           st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"),
                                   max_size=30), max_size=6))
    def test_escaping_round_trips(self, tags):
        text = ";".join(k + "=" + escape_tag_value(v) for k, v in tags.items())
        self.assertEqual(parse_tags(text), tags)
        line = Line("PRIVMSG", ["#c", "hi"], "n!u@h", tags)
        self.assertEqual(parse(serialise(line)), line)
