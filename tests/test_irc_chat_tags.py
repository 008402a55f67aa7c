"""
A chat line's tags as the connection state reads them without parsing them:
its time (a cache of the time item's text), its sender's account (the
roster's while account-notify keeps it current, else the account tag) and
the bot field. Each is checked against what the parsed tags say.
"""

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.lines import Line, Tags, escape_tag_value, parse, parse_tags
from pubbot.irc.state import ConnectionState, parse_server_time

NOW = 1000.0
CAPS = "account-tag account-notify extended-join message-tags server-time batch"


def joined(names: str = "", caps: str = CAPS) -> ConnectionState:
    """A state registered with C{caps} acknowledged, in #pubbot with C{names} (accounts unknown)."""
    state = ConnectionState("pubbot", lambda: NOW)
    for text in (":srv CAP pubbot ACK :" + caps, ":srv 001 pubbot :Welcome",
                 ":srv 005 pubbot CHANTYPES=# PREFIX=(ov)@+ :ok",
                 ":pubbot!u@h JOIN #pubbot * :Pub Bot", ":srv 353 pubbot = #pubbot :@pubbot " + names,
                 ":srv 366 pubbot #pubbot :End"):
        state.apply(parse(text))
    state.events.clear()
    return state


def said(state: ConnectionState, text: str) -> dict:
    """The fields of the one chat event C{text} makes (the events before it dropped)."""
    state.events.clear()
    state.apply(parse(text))
    [event] = state.events
    state.events.clear()
    return event.fields


# The pieces of a tag text: time items (valid, repeated, escaped, unreadable,
# empty), other tags, items a server should not send; a small pool of times,
# so that lines share them as on a busy channel.
_TIMES = ["2026-12-08T01:02:03.456Z", "2026-12-08T01:02:03.457Z", "2026-12-08T01:02:04.000Z",
          "2026-12-08T01:02:03.456+01:00", "bogus", ""]
_ITEMS = st.one_of(
    st.sampled_from(_TIMES).map(lambda t: "time=" + t),
    st.sampled_from(_TIMES).map(lambda t: "time=" + escape_tag_value(t + " x")),
    st.just("time"), st.just("time=2026-12-08T01:02:03.456Z\\"), st.just("timezone=2026-12-08T01:02:03.456Z"),
    st.just("+time=2026-12-08T01:02:03.456Z"),
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8).map(lambda m: "msgid=" + m),
    st.sampled_from(["account=al", "account=robot", "bot", "draft/bot", "+bot", "=x", "+", ""]))


class TimeTests(SynchronousTestCase):
    @settings(max_examples=300)
    @given(st.lists(st.lists(_ITEMS, min_size=1, max_size=5).map(";".join), min_size=1, max_size=12))
    def test_each_line_has_the_time_its_parsed_tags_give(self, texts):
        state = joined("alice")
        for text in texts:
            fields = said(state, "@%s :alice!a@h PRIVMSG #pubbot :hi" % (text,))
            value = parse_tags(text).get("time")
            stamp = parse_server_time(value) if value is not None else None
            self.assertEqual(fields["time"], NOW if stamp is None else stamp, text)
            self.assertEqual(dict(fields["tags"]), parse_tags(text))

    def test_the_time_item_first_last_or_within_is_read_without_a_parse(self):
        state = joined("alice")
        stamp = "time=2026-12-08T01:02:03.456Z"
        for layout in ("{t};msgid={m}", "msgid={m};{t}", "account=al;{t};msgid={m}"):
            said(state, "@%s :alice!a@h PRIVMSG #pubbot :hi" % (layout.format(t=stamp, m="a"),))
            fields = said(state, "@%s :alice!a@h PRIVMSG #pubbot :hi" % (layout.format(t=stamp, m="b"),))
            self.assertIsNone(fields["tags"]._parsed, layout)
            self.assertEqual(fields["time"], parse_server_time("2026-12-08T01:02:03.456Z"))

    def test_a_second_time_item_wins_over_the_cached_first(self):
        state = joined("alice")
        said(state, "@time=2026-12-08T01:02:03.456Z;msgid=a :alice!a@h PRIVMSG #pubbot :hi")
        fields = said(state, "@time=2026-12-08T01:02:03.456Z;msgid=b;time=2026-12-08T01:02:04.000Z "
                             ":alice!a@h PRIVMSG #pubbot :hi")
        self.assertEqual(fields["time"], parse_server_time("2026-12-08T01:02:04.000Z"))

    def test_a_line_made_with_a_dict_of_tags(self):
        state = joined("alice")
        state.apply(Line("PRIVMSG", ["#pubbot", "hi"], "alice!a@h",
                         {"time": "2026-12-08T01:02:03.456Z", "account": "al", "bot": ""}))
        [event] = state.events
        self.assertEqual((event.fields["time"], event.fields["account"], event.fields["bot"]),
                         (parse_server_time("2026-12-08T01:02:03.456Z"), "al", True))
        self.assertIsInstance(event.fields["tags"], Tags)


class BotFieldTests(SynchronousTestCase):
    def test_bot_is_the_bot_tag_or_its_draft(self):
        state = joined("alice")
        for tags, bot in (("bot", True), ("draft/bot", True), ("msgid=x;bot=", True),
                          ("account=robot", False), ("+bot", False), ("msgid=bot", False),
                          ("botany=1", False)):
            self.assertIs(said(state, "@%s :alice!a@h PRIVMSG #pubbot :hi" % (tags,))["bot"], bot, tags)
        self.assertIs(said(state, ":alice!a@h PRIVMSG #pubbot :hi")["bot"], False)


class AccountTests(SynchronousTestCase):
    def test_the_roster_answers_once_it_was_told(self):
        # (the tag here disagrees with what the server said before: the roster is believed)
        state = joined()
        state.apply(parse(":alice!a@h JOIN #pubbot alice-acct :Alice"))
        said(state, "@time=2026-12-08T01:02:03.456Z;account=other :alice!a@h PRIVMSG #pubbot :hi")
        fields = said(state, "@time=2026-12-08T01:02:03.456Z;account=other :alice!a@h PRIVMSG #pubbot :hi")
        self.assertEqual((fields["account"], fields["source_id"]), ("alice-acct", "alice-acct"))
        self.assertIsNone(fields["tags"]._parsed)  # (the time from the cache, the account from the roster)
        state.apply(parse(":alice!a@h ACCOUNT *"))
        self.assertIsNone(said(state, "@account=other :alice!a@h PRIVMSG #pubbot :hi")["account"])

    def test_unknown_accounts_take_the_tag_then_are_known(self):
        state = joined("alice")
        self.assertEqual(said(state, "@account=al :alice!a@h PRIVMSG #pubbot :hi")["account"], "al")
        self.assertEqual(said(state, "@account=al :alice!a@h PRIVMSG #pubbot :hi")["account"], "al")
        self.assertTrue(state.rosters.users.get("alice").account_known)

    def test_without_account_notify_every_line_takes_its_tag(self):
        state = joined("alice", caps="account-tag extended-join message-tags server-time")
        state.apply(parse(":bob!b@h JOIN #pubbot bob-acct :Bob"))
        self.assertEqual(said(state, "@account=new :bob!b@h PRIVMSG #pubbot :hi")["account"], "new")
        self.assertIsNone(said(state, ":bob!b@h PRIVMSG #pubbot :hi")["account"])

    def test_when_account_notify_goes_or_comes_back_what_was_known_is_not(self):
        state = joined()
        state.apply(parse(":alice!a@h JOIN #pubbot alice-acct :Alice"))
        state.apply(parse(":srv CAP pubbot DEL :account-notify"))
        self.assertEqual(said(state, "@account=else :alice!a@h PRIVMSG #pubbot :hi")["account"], "else")
        state.apply(parse(":alice!a@h JOIN #pubbot alice-acct :Alice"))  # (known again, but not kept current)
        state.apply(parse(":srv CAP pubbot ACK :account-notify"))
        self.assertFalse(state.rosters.users.get("alice").account_known)
        self.assertEqual(said(state, "@account=later :alice!a@h PRIVMSG #pubbot :hi")["account"], "later")

    def test_a_batch_line_takes_its_tag_and_teaches_the_roster_nothing(self):
        state = joined()
        state.apply(parse(":alice!a@h JOIN #pubbot alice-acct :Alice"))
        fields = said(state, "@batch=h1;account=old :alice!a@h PRIVMSG #pubbot :said an hour ago")
        self.assertEqual(fields["account"], "old")
        self.assertEqual(said(state, "@account=x :alice!a@h PRIVMSG #pubbot :hi")["account"], "alice-acct")

    def test_a_stranger_in_private_takes_the_tag(self):
        state = joined()
        self.assertEqual(said(state, "@account=str :stranger!s@h PRIVMSG pubbot :psst")["account"], "str")

    # An honest server (HonestServer) tells the bot what happens. Whatever
    # does, each chat line has its sender's account at the time (a batch
    # line: its own tag's, as it may be history).
    _ACCOUNTS = st.sampled_from([None, "acct-a", "acct-b"])
    _USERS = st.integers(0, 1)
    _STEPS = st.one_of(
        st.tuples(st.just("join"), _USERS, _ACCOUNTS), st.tuples(st.just("login"), _USERS, _ACCOUNTS),
        st.tuples(st.just("say"), _USERS, st.booleans()), st.tuples(st.just("history"), _USERS, _ACCOUNTS),
        st.tuples(st.just("part"), _USERS), st.tuples(st.just("quit"), _USERS),
        st.tuples(st.just("nick"), _USERS, _USERS), st.tuples(st.just("whox")),
        st.tuples(st.just("notify"), st.booleans()), st.tuples(st.just("private"), _ACCOUNTS))

    @settings(max_examples=600)
    @given(st.lists(_ACCOUNTS, min_size=4, max_size=4), st.lists(_STEPS, max_size=40))
    @example([None] * 4, [("say", 0, False), ("notify", False), ("login", 0, "acct-a"), ("notify", True),
                          ("say", 0, False)])  # (what was known before account-notify came back)
    @example([None] * 4, [("whox",), ("history", 1, "acct-b"), ("say", 1, False)])
    def test_each_line_has_its_senders_account(self, start, steps):
        server = HonestServer(start)
        for step in steps:
            heard = getattr(server, step[0])(*step[1:])
            if heard is not None:
                self.assertEqual(heard[0], heard[1], (steps, step))


class HonestServer:
    """
    What a server tells a bot in #pubbot, and the truth: C{truth} is who is
    in the channel with what account; the bot starts knowing their nicks
    only. The chat steps return (the account the bot gave, the right one).
    """

    def __init__(self, accounts: list):
        self.state = joined(" ".join("u%d" % i for i in range(len(accounts))))
        self.truth = {"u%d" % i: account for i, account in enumerate(accounts)}
        self.notifying = True

    def send(self, text: str) -> None:
        self.state.apply(parse(text))

    def join(self, user: int, account: str | None) -> None:
        nick = "u%d" % user
        if nick not in self.truth:
            self.truth[nick] = account
            self.send(":%s!u@h JOIN #pubbot %s :Real" % (nick, account or "*"))

    def login(self, user: int, account: str | None) -> None:
        nick = "u%d" % user
        if nick in self.truth:
            self.truth[nick] = account
            if self.notifying:
                self.send(":%s!u@h ACCOUNT %s" % (nick, account or "*"))

    def say(self, user: int, live_batch: bool) -> tuple | None:
        nick = "u%d" % user
        if nick not in self.truth:
            return None
        account = self.truth[nick]
        tags = "time=2026-12-08T01:02:03.456Z;msgid=m" + (";account=" + account if account else "")
        if live_batch:
            tags += ";batch=live"
        return said(self.state, "@%s :%s!u@h PRIVMSG #pubbot :hi" % (tags, nick))["account"], account

    def history(self, user: int, account: str | None) -> tuple | None:
        nick = "u%d" % user
        if nick not in self.truth:
            return None
        tags = "batch=b1;msgid=h" + (";account=" + account if account else "")
        return said(self.state, "@%s :%s!u@h PRIVMSG #pubbot :long ago" % (tags, nick))["account"], account

    def private(self, account: str | None) -> tuple:
        tags = "msgid=p" + (";account=" + account if account else "")
        return said(self.state, "@%s :outsider!o@h PRIVMSG pubbot :hi" % (tags,))["account"], account

    def part(self, user: int) -> None:
        nick = "u%d" % user
        if self.truth.pop(nick, False) is not False:
            self.send(":%s!u@h PART #pubbot" % (nick,))

    def quit(self, user: int) -> None:
        nick = "u%d" % user
        if self.truth.pop(nick, False) is not False:
            self.send(":%s!u@h QUIT :bye" % (nick,))

    def nick(self, user: int, other: int) -> None:
        old, new = "u%d" % user, "u%d" % other
        if old in self.truth and new not in self.truth:
            self.truth[new] = self.truth.pop(old)
            self.send(":%s!u@h NICK %s" % (old, new))

    def whox(self) -> None:
        for nick, account in self.truth.items():
            self.send(":srv 354 pubbot 152 #pubbot u h %s H %s :Real" % (nick, account or "0"))

    def notify(self, on: bool) -> None:
        if on != self.notifying:
            self.notifying = on
            self.send(":srv CAP pubbot %s :account-notify" % ("ACK" if on else "DEL",))
