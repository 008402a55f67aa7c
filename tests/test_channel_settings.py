"""
Per-channel settings: the [channels] tables, !channel from chat, the
dispatcher leaving disabled plugins out of a channel, the overrides kept in
the store (and seen by another process on the same store), pubbot config diff.
"""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import channel_settings, command, handler
from pubbot.config.channels import MAX_DISABLED, ChannelTable
from pubbot.config.settings import ConfigError
from pubbot.core.channels import (
    MAX_CHANNELS,
    MAX_OVERRIDES,
    MAX_VALUE,
    OVERRIDES,
    POLL_SECONDS,
    VERSION,
    parse_overrides,
    parse_value,
)
from pubbot.core.dispatch import Dispatcher
from pubbot.core.message import Message
from pubbot.plugins import brain, core, fun, greet, links
from pubbot.plugins.channels import SHOW_LINES, channel
from pubbot.store.memory import MemoryStore
from pubbot.testing import Harness, make_settings

ADMINS = {"plugins": {"admins": ["boss"]}}


@command("marco")
def marco(msg):
    """Answers polo (stands for any plugin)."""
    return "polo"


def harness(config=None, store=None, *more):
    config = {**ADMINS, **(config or {})}
    return Harness(channel, core.ping, greet.greeter, marco, fun.blame, *more, config=config, store=store)


class ConfigTests(SynchronousTestCase):
    def settings(self, channels, **more):
        return make_settings({"channels": channels, **more}, greet, links, brain)

    def test_tables_by_channel_and_network(self):
        s = self.settings({"#Work": {"disabled": ["brain"], "greet": {"templates": ["Yo %(nick)s"]}},
                           "#work@irc": {"links": {"titles": False}}})
        self.assertEqual(s.channels["#work"],
                         ChannelTable(("brain",), {"greet": {"templates": ("Yo %(nick)s",)}}))
        self.assertEqual(dict(s.channels["#work@irc"].values), {"links": {"titles": False}})

    def assertProblem(self, channels, expected, **more):
        with self.assertRaises(ConfigError) as caught:
            self.settings(channels, **more)
        self.assertEqual(str(caught.exception), expected)

    def test_problems_name_the_key(self):
        self.assertProblem({"#w": {"greet": {"nope": 1}}}, 'unknown key [channels."#w".greet] nope')
        self.assertProblem({"#w": {"links": {"allow": ["x"]}}},
                           '[channels."#w".links] allow: [links] allow is not a per-channel key '
                           '(per-channel: titles)')
        self.assertProblem({"#w": {"greet": {"templates": "hi"}}},
                           '[channels."#w".greet] templates must be an array of strings')
        self.assertProblem({"#w": {"brain": {"chattiness": 2}}},
                           '[channels."#w".brain] chattiness must be from 0 to 1')
        self.assertProblem({"#w": {"weather": {}}},
                           '[channels."#w"] weather: no loaded plugin has a [weather] section')
        self.assertProblem({"w": {}}, '[channels."w"]: \'w\' is not a channel name (#name: no spaces, '
                           'commas or control characters; at most 200)')
        self.assertProblem({"#w@nowhere": {}}, '[channels."#w@nowhere"]: no network is named \'nowhere\' '
                           '(console, irc)')
        self.assertProblem({"#w": {"disabled": ["core"]}},
                           '[channels."#w"] disabled has \'core\', which cannot be disabled in a channel')
        self.assertProblem({"#w": {"disabled": "brain"}},
                           '[channels."#w"] disabled must be an array of strings')
        self.assertProblem({"#w": {"disabled": ["p%d" % i for i in range(MAX_DISABLED + 1)]}},
                           '[channels."#w"] disabled has more than %d plugins' % (MAX_DISABLED,))
        self.assertProblem({"#w": 3}, '[channels."#w"] must be a table, not an integer')
        self.assertProblem({"#w": {}, "#W": {}},
                           '[channels."#W"]: another [channels] table names the same channel')

    def test_a_table_for_another_network(self):
        s = self.settings({"#w@libera": {"disabled": ["fun"]}},
                          networks={"libera": {"server": "tcp:127.0.0.1:6667"}})
        self.assertEqual(s.channels["#w@libera"].disabled, ("fun",))

    def test_unknown_plugins_are_refused_by_the_start_and_config_check(self):
        from pubbot.tap import load_config
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[channels."#work"]\ndisabled = ["brian"]\n')
        with self.assertRaises(ConfigError) as caught:
            load_config(path)
        self.assertEqual(str(caught.exception),
                         '[channels."#work"] disabled has \'brian\', which is no plugin '
                         '(did you mean \'brain\'?)')

    def test_secret_keys_cannot_be_per_channel(self):
        from pubbot.api import key
        with self.assertRaises(TypeError):
            key("", secret=True, per_channel=True)


class ParseValueTests(SynchronousTestCase):
    def test_types(self):
        self.assertIs(parse_value(bool, "off"), False)
        self.assertIs(parse_value(bool, "Yes"), True)
        self.assertEqual(parse_value(int, " 3 "), 3)
        self.assertEqual(parse_value(float, "0.5"), 0.5)
        self.assertEqual(parse_value(str, "a b"), "a b")
        self.assertEqual(parse_value(tuple[str, ...], "a | b |"), ("a", "b"))
        self.assertEqual(parse_value(tuple[str, ...], '["a|b", "c"]'), ("a|b", "c"))
        for kind, text in [(bool, "maybe"), (int, "x"), (float, "nan"), (float, "inf"),
                           (tuple[str, ...], "[1]"), (tuple[str, ...], "[oops")]:
            with self.assertRaises(ValueError):
                parse_value(kind, text)


class ParseValueHostileTests(SynchronousTestCase):
    @given(st.sampled_from([bool, int, float, str, tuple[str, ...]]), st.text(max_size=400))
    def test_any_text_gives_a_value_of_the_type_or_a_value_error(self, kind, text):
        try:
            value = parse_value(kind, text)
        except ValueError:
            return
        expected = tuple if kind == tuple[str, ...] else kind
        self.assertIsInstance(value, expected)
        if expected is tuple:
            self.assertTrue(all(isinstance(item, str) for item in value))

    @given(st.lists(st.text(min_size=1, max_size=20).filter(lambda s: s.strip() == s and "|" not in s
                                                            and not s.startswith("[")), max_size=8))
    def test_a_list_said_with_bars_comes_back(self, items):
        self.assertEqual(parse_value(tuple[str, ...], " | ".join(items)), tuple(items))


class CommandTests(SynchronousTestCase):
    def setUp(self):
        self.h = harness()
        self.h.give_modes("alice", "o")

    def test_refused_to_people_without_ops(self):
        self.assertEqual(self.h.reply("!channel disable fun", source="bob"),
                         "Sorry bob, channel needs ops (+o) in #pubbot.")
        self.assertIn("fault", self.h.reply("!blame", source="bob"))  # still on

    def test_in_private_only_admins(self):
        self.assertEqual(self.h.reply("!channel #pubbot disable fun", private=True),
                         "Sorry alice, channel needs ops (+o) in a channel (ask there).")
        self.assertEqual(self.h.reply("!channel #pubbot disable fun", private=True, source="root",
                                      account="boss"), "fun is now off in #pubbot.")
        self.assertEqual(self.h.reply("!channel show", private=True, source="root", account="boss"),
                         "Say which channel: !channel #name show")

    def test_ops_change_only_their_channel(self):
        self.assertEqual(self.h.reply("!channel #other disable fun"),
                         "Sorry alice, only admins can change another channel: say it in #other, "
                         "where you have ops.")
        self.assertEqual(self.h.reply("!channel #other disable fun", account="boss"),
                         "fun is now off in #other.")
        self.assertEqual(self.h.reply("!channel #PubBot disable fun"), "fun is now off in #PubBot.")

    def test_disable_and_enable(self):
        self.assertEqual(self.h.reply("!channel disable fun"), "fun is now off in #pubbot.")
        self.assertEqual(self.h.reply("!channel disable fun"), "fun is already off in #pubbot.")
        self.assertIsNone(self.h.reply("!blame"))
        self.assertIn("fault", self.h.reply("!blame", channel="#other"))
        self.assertEqual(self.h.reply("!channel enable fun"), "fun is now on in #pubbot.")
        self.assertEqual(self.h.reply("!channel enable fun"), "fun is already on in #pubbot.")
        self.assertIn("fault", self.h.reply("!blame"))
        self.assertEqual(self.h.bot.channels.listing(), [])  # back to the config: nothing kept

    def test_what_cannot_be_disabled(self):
        self.assertEqual(self.h.reply("!channel disable core"), "core cannot be turned off in a channel.")
        self.assertEqual(self.h.reply("!channel disable channels"),
                         "channels cannot be turned off in a channel.")
        self.assertEqual(self.h.reply("!channel disable nosuch"),
                         "I know no plugin 'nosuch' (fun, greet, test_channel_settings).")
        self.assertEqual(self.h.reply("!ping"), "pong")

    def test_bad_arguments(self):
        self.assertEqual(self.h.reply("!channel frob"), "Usage: !channel " + channel.usage)
        self.assertEqual(self.h.reply("!channel set greet.templates"), "Usage: !channel " + channel.usage)
        self.assertEqual(self.h.reply("!channel disable"), "Usage: !channel " + channel.usage)
        self.assertEqual(self.h.reply("!channel set greet.nope 1"),
                         "Not set: greet.nope is not a per-channel key (per-channel: templates).")
        self.assertEqual(self.h.reply("!channel set music.source mpd:tcp:x:1"),
                         "Not set: music.source is not a per-channel key (per-channel: announce_tracks).")
        self.assertEqual(self.h.reply("!channel set weather.city Paris"),
                         "Not set: no loaded plugin has a [weather] section.")
        self.assertEqual(self.h.reply("!channel set music.announce_tracks perhaps"),
                         "Not set: music.announce_tracks takes true or false.")
        self.assertEqual(self.h.reply("!channel set greet.templates [1, 2]"),
                         "Not set: greet.templates takes a list of strings.")
        self.assertEqual(self.h.reply("!channel unset greet.templates"),
                         "greet.templates was not set from chat in #pubbot.")
        self.assertEqual(self.h.reply("!channel unset fun"),
                         "Say !channel #pubbot enable fun to turn a plugin back on.")
        self.assertEqual(self.h.bot.channels.listing(), [])

    def test_a_check_of_the_key_holds(self):
        h = harness({}, None, brain.Brain())
        h.give_modes("alice", "o")
        self.assertEqual(h.reply("!channel set brain.chattiness 2"),
                         "Not set: brain.chattiness must be from 0 to 1.")
        self.assertEqual(h.reply("!channel set brain.chattiness 0"),
                         "brain.chattiness is now 0.0 in #pubbot.")

    def test_set_show_unset(self):
        self.assertEqual(self.h.reply("!channel show"),
                         "#pubbot has the config's settings: nothing set from chat.")
        self.assertEqual(self.h.reply("!channel set greet.templates Yo %(nick)s | Hey %(nick)s"),
                         'greet.templates is now ["Yo %(nick)s", "Hey %(nick)s"] in #pubbot.')
        self.h.clock.advance(120)
        self.h.reply("!channel disable fun")
        self.assertEqual(self.h.reply("!channel show").splitlines(), [
            "Off in #pubbot: fun (chat).",
            'greet.templates = ["Yo %(nick)s", "Hey %(nick)s"] '
            '(set by alice (host:alice@example.org), 2:00 ago)',
            "fun = disabled (set by alice (host:alice@example.org), 0s ago)"])
        self.assertEqual(self.h.reply("!channel unset greet.templates"),
                         "greet.templates is back to the config's value in #pubbot.")

    def test_at_most_ten_a_minute(self):
        for _ in range(10):
            self.h.reply("!channel show")
        self.assertEqual(self.h.reply("!channel show"), "alice: slow down; channel again in 60s.")
        self.h.clock.advance(60)
        self.assertEqual(self.h.reply("!channel show"),
                         "#pubbot has the config's settings: nothing set from chat.")

    def test_limits(self):
        self.assertEqual(self.h.reply("!channel set greet.templates " + "x" * (MAX_VALUE + 1)),
                         "Not set: that value is too long (%d characters at most)." % (MAX_VALUE,))
        keeper = self.h.bot.channels
        for i in range(MAX_OVERRIDES):
            Harness._now(Deferred.fromCoroutine(keeper.set("irc", "#pubbot", "x.k%d" % i, 1, "test")))
        self.assertEqual(self.h.reply("!channel disable fun"),
                         "Not changed: #pubbot has %d overrides already (the most): unset one first." % (
                             MAX_OVERRIDES,))
        lines = self.h.reply("!channel show", private=True, source="root", account="boss")
        self.assertEqual(lines, "Say which channel: !channel #name show")
        lines = self.h.reply("!channel #pubbot show", private=True, source="root",
                             account="boss").splitlines()
        self.assertEqual(len(lines), SHOW_LINES)
        self.assertEqual(lines[-1], "... and %d more: pubbot config diff shows them all." % (
            MAX_OVERRIDES - SHOW_LINES + 1,))


    def test_admins_name_real_channels_and_not_without_end(self):
        admin = {"private": True, "source": "root", "account": "boss"}
        self.assertEqual(self.h.reply("!channel #a,#b disable fun", **admin),
                         "Not changed: '#a,#b' is not a channel name (#name: no spaces, commas or control "
                         "characters; at most 200).")
        self.assertTrue(self.h.reply("!channel #a\x07b disable fun", **admin).startswith(
            "Not changed: '#a\\x07b' is not a channel name"))
        keeper = self.h.bot.channels
        for i in range(MAX_CHANNELS):
            Harness._now(Deferred.fromCoroutine(keeper.set("irc", "#c%d" % i, "x.k", 1, "test")))
        self.assertEqual(self.h.reply("!channel #one-more disable fun", **admin),
                         "Not changed: %d channels have overrides already (the most): unset some first." % (
                             MAX_CHANNELS,))
        self.assertEqual(self.h.reply("!channel #c3 disable fun", **admin), "fun is now off in #c3.")


class EffectTests(SynchronousTestCase):
    def test_config_disables_and_chat_enables(self):
        h = harness({"channels": {"#pubbot": {"disabled": ["test_channel_settings"]}}})
        h.give_modes("alice", "o")
        self.assertIsNone(h.reply("!marco"))
        self.assertEqual(h.reply("!marco", channel="#other"), "polo")
        self.assertEqual(h.reply("!channel show"), "Off in #pubbot: test_channel_settings (config).\n"
                         "#pubbot has the config's settings: nothing set from chat.")
        self.assertEqual(h.reply("!channel enable test_channel_settings"),
                         "test_channel_settings is now on in #pubbot.")
        self.assertEqual(h.reply("!marco"), "polo")
        [kept] = h.bot.channels.listing()
        self.assertEqual((kept.name, kept.value, kept.who), ("plugin:test_channel_settings", False,
                                                             "alice (host:alice@example.org)"))
        self.assertEqual(h.reply("!channel disable test_channel_settings"),
                         "test_channel_settings is now off in #pubbot.")
        self.assertEqual(h.bot.channels.listing(), [])

    def test_new_settings_apply_at_once(self):
        h = harness()
        self.assertEqual(h.reply("!marco"), "polo")
        h.bot.settings = make_settings({"channels": {"#pubbot": {"disabled": ["test_channel_settings"]}}},
                                       greet)
        self.assertIsNone(h.reply("!marco"))

    def test_an_idle_bot_has_no_timer(self):
        h = harness()
        h.give_modes("alice", "o")
        h.reply("!channel disable fun")
        self.assertEqual(h.clock.getDelayedCalls(), [])

    def test_a_network_table_outranks_the_channel_table(self):
        h = harness({"networks": {"libera": {"server": "tcp:127.0.0.1:6667"}},
                     "channels": {"#w": {"greet": {"templates": ["all %(nick)s"]}},
                                  "#w@libera": {"greet": {"templates": ["libera %(nick)s"]}}}})
        self.assertEqual(h.join("bob", "#w").lines, ("all bob",))
        self.assertEqual(h.join("bob", "#w", network="libera").lines, ("libera bob",))
        self.assertEqual(h.join("carol", "#x").lines[0].split()[0], "Hello")

    def test_chat_outranks_the_file_and_only_in_its_channel(self):
        h = harness({"channels": {"#pubbot": {"greet": {"templates": ["file %(nick)s"]}}}})
        h.give_modes("alice", "o")
        self.assertEqual(h.join("bob").lines, ("file bob",))
        h.reply("!channel set greet.templates chat %(nick)s")
        h.clock.advance(61)
        self.assertEqual(h.join("carol").lines, ("chat carol",))
        self.assertEqual(h.join("dave", "#other").lines[0].split()[0], "Hello")
        self.assertEqual(h.bot.settings.greet.templates, greet.GreetSettings().templates)

    def test_channel_settings_in_private_are_the_bots(self):
        seen = []

        @handler(subscribe=["chat.*.*.chat"])
        def look(msg):
            seen.append(channel_settings(msg).greet.templates)

        h = Harness(look, config={"channels": {"#pubbot": {"greet": {"templates": ["x"]}}}})
        h.say("hi")
        h.say("hi", private=True)
        self.assertEqual(seen, [("x",), greet.GreetSettings().templates])

    def test_brain_chattiness_zero_learns_but_never_answers(self):
        h = harness({"channels": {"#quiet": {"brain": {"chattiness": 0.0}}}}, None, brain.Brain())
        h.say("the cat sat on the mat", channel="#quiet")
        self.assertIsNone(h.reply("pubbot: the cat", channel="#quiet"))
        self.assertIsNotNone(h.reply("pubbot: the cat"))

    def test_links_titles_off_in_a_channel(self):
        from pubbot.links.fetch import FetchError
        asked = []

        class Fetcher:
            async def fetch(self, url):
                asked.append(url)
                raise FetchError("no network here")

        plugin = links.Links()
        h = Harness(plugin, config={"channels": {"#quiet": {"links": {"titles": False}}}})
        plugin.fetcher = Fetcher()
        self.assertIsNone(h.reply("see https://example.org/q", channel="#quiet"))
        self.assertEqual(asked, [])
        self.assertEqual(h.reply("!lastlink", channel="#quiet"), "alice posted https://example.org/q 0s ago")
        self.assertIsNone(h.reply("see https://example.org/loud"))
        self.assertEqual(asked, ["https://example.org/loud"])

    def test_music_announcements_follow_the_channel(self):
        from pubbot.plugins import music
        h = Harness(music.announce, config={"music": {"announce": ["#a", "#b", "#c"]},
                                            "channels": {"#b": {"music": {"announce_tracks": False}},
                                                         "#c": {"disabled": ["music"]}}})
        h.publish("music.track", title="Song", artist="Band", album="")
        self.assertEqual([target for target, _, _ in h.sent], ["#a"])


class DispatchTests(SynchronousTestCase):
    def test_a_batch_skips_plugins_off_in_its_channel(self):
        h = harness({"channels": {"#a": {"disabled": ["test_channel_settings"]}}})
        from pubbot.core.events import ChatEvent
        lines = [ChatEvent("chat", place, {"source": who, "content": "!marco", "private": False})
                 for place, who in [("#a", "alice"), ("#b", "bob"), ("#a", "carol")]]
        Harness._now(h.bot.chat_events("irc", lines))
        self.assertEqual([(target, text) for target, text, _ in h.sent], [("#b", "polo")])

    def test_without_a_gate_every_plugin_hears(self):
        d = Dispatcher(None)
        d.add(marco)
        line = Message("chat.irc.#a.chat", {"command": "marco", "channel": "#a"})
        self.assertEqual(len(d.dispatch(line)), 1)

    def test_a_failing_gate_lets_the_batch_through(self):
        d = Dispatcher(None)
        d.add(marco)

        def broken(message):
            raise RuntimeError("boom")

        d.channel_gate = broken
        line = Message("chat.irc.#a.chat", {"command": "marco", "channel": "#a"})
        self.assertEqual(len(d.dispatch(line)), 1)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class SharedStoreTests(SynchronousTestCase):
    """Two processes on one store (as in Redis mode): one's change holds in the other within the poll."""

    def test_a_change_made_in_one_process_holds_in_the_other(self):
        one = harness()
        two = harness(store=one.store)
        one.give_modes("alice", "o")
        self.assertEqual(one.reply("!channel disable test_channel_settings"),
                         "test_channel_settings is now off in #pubbot.")
        self.assertIsNone(one.reply("!marco"))
        self.assertEqual(two.reply("!marco"), "polo")  # not yet looked
        two.clock.advance(POLL_SECONDS)
        self.assertIsNone(two.reply("!marco"))
        one.reply("!channel set greet.templates shared %(nick)s")
        two.clock.advance(POLL_SECONDS)
        self.assertEqual(two.join("bob").lines, ("shared bob",))
        self.assertEqual(two.reply("!channel show", channel="#pubbot", account="boss").splitlines()[0],
                         "Off in #pubbot: test_channel_settings (chat).")

    def test_a_new_process_reads_the_overrides_at_start(self):
        store = MemoryStore(None)
        one = harness(store=store)
        one.give_modes("alice", "o")
        one.reply("!channel disable fun")
        self.assertEqual(harness(store=store).bot.channels.disabled("irc", "#PUBBOT"), frozenset({"fun"}))

    def test_what_is_kept(self):
        h = harness()
        h.give_modes("alice", "o")
        h.reply("!channel disable fun", account="alice")
        stored = Harness._now(h.store.hgetall(OVERRIDES))
        self.assertEqual(stored, {"irc #pubbot plugin:fun": {"value": True, "who": "alice (account:alice)",
                                                             "when": h.clock.seconds()}})
        self.assertEqual(Harness._now(h.store.get(VERSION)), 1)
        self.assertEqual([o.to_dict() for o in parse_overrides({**stored, "bad": 1, "a b c": "x"})],
                         [{"network": "irc", "channel": "#pubbot", "name": "plugin:fun", "value": True,
                           "who": "alice (account:alice)", "when": h.clock.seconds()}])

    def test_the_dashboard_state(self):
        from pubbot.web.status import snapshot
        h = harness({"channels": {"#w": {"disabled": ["fun"]}}})
        h.give_modes("alice", "o")
        h.reply("!channel set greet.templates hi")
        state = snapshot(h.bot)["channel_settings"]
        self.assertIn({"network": "irc", "channel": "#w", "plugins": ["fun"]}, state["disabled"])
        [override] = state["overrides"]
        self.assertEqual((override["name"], override["shown"], override["who"]),
                         ("greet.templates", '["hi"]', "alice (host:alice@example.org)"))
        json.dumps(state)


def test_config_diff_prints_the_overrides(tmp_path):
    """pubbot config diff reads the store the config selects (SQLite here, seeded by pubbot store import)."""
    from .test_cli import run_cli
    config = tmp_path / "c.toml"
    config.write_text('[store]\npath = "s.sqlite"\n')
    fields = {"irc #work plugin:brain": {"value": True, "who": "alice (account:a)", "when": 0},
              "irc #work greet.templates": {"value": ["Yo"], "who": "bob", "when": 60}}
    dump = tmp_path / "dump.jsonl"
    dump.write_text("\n".join(json.dumps(line) for line in [
        {"format": "pubbot-store", "version": 1, "source": "sqlite"},
        {"key": OVERRIDES, "type": "hash", "fields": fields}, {"end": True, "keys": 1, "lines": 1}]) + "\n")
    done = run_cli(tmp_path, "store", "import", "--config", str(config), str(dump))
    assert done.returncode == 0, done.stderr
    done = run_cli(tmp_path, "config", "diff", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        'irc #work greet.templates = ["Yo"]  (by bob, 1970-01-01 00:01:00Z)',
        "irc #work brain = disabled  (by alice (account:a), 1970-01-01 00:00:00Z)"]
    done = run_cli(tmp_path, "config", "diff", "--config", str(config), "--json")
    assert [json.loads(line)["name"] for line in done.stdout.splitlines()] == [
        "greet.templates", "plugin:brain"]


def test_config_diff_of_an_empty_store(tmp_path):
    from .test_cli import run_cli
    (tmp_path / "c.toml").write_text('[store]\npath = "e.sqlite"\n')
    done = run_cli(tmp_path, "config", "diff", "--config", "c.toml")
    assert (done.returncode, done.stdout) == (
        0, "No per-channel settings were changed from chat (e.sqlite).\n")
