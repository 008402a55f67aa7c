"""The music plugin: announcements, np, skip votes and requests, through the plugin Harness."""

from twisted.internet.defer import Deferred, fail, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from pubbot.core.interfaces import IHandler
from pubbot.loader import load_handlers
from pubbot.music.interfaces import IMusicSource, MusicError, SourceUnavailable
from pubbot.music.track import Status, Track
from pubbot.plugins import core, music
from pubbot.testing import Harness

HANDLERS = (music.announce, music.np, music.skip, music.noskip, music.canhas, music.canhaslater,
            music.doeswant, music.doeswantlater)


@implementer(IMusicSource)
class FakeSource:
    """Records what the plugin asks; answers with what the test set."""

    kind = "mpd"
    description = "fake MPD"
    controllable = True

    def __init__(self):
        self.calls = []
        self.found = [Track("First", "Alpha Band", "Tests"), Track("Second", "Alpha Band"),
                      Track("Third", "Alpha Band"), Track("Fourth", "Alpha Band")]
        self.error = None
        self.now = Status("play", Track("Now", "Someone", "Somewhere"))

    def start(self):
        pass

    def stop(self):
        return succeed(None)

    def status(self):
        self.calls.append(("status",))
        return fail(self.error) if self.error else succeed(self.now)

    def skip(self, count):
        self.calls.append(("skip", count))
        return fail(self.error) if self.error else succeed(None)

    def queue(self, field, text, replace):
        self.calls.append(("queue", field, text, replace))
        return fail(self.error) if self.error else succeed(list(self.found))


class PluginTestCase(SynchronousTestCase):
    config: dict = {}

    def setUp(self):
        self.h = Harness(*HANDLERS, config=self.config)
        self.addCleanup(self.h.stop)
        self.source = FakeSource()
        self.h.bot.register_music(self.source)
        self.h.bot.state["music"] = {"state": "play", "title": "Now", "artist": "Someone", "album": ""}

    def say(self, text, who="alice", **kwargs):
        return self.h.reply(text, source=who, **kwargs)

    def vote(self):
        return self.successResultOf(Deferred.fromCoroutine(music.controls(self.h.bot).votes.current()))


class HandlerTests(PluginTestCase):
    def test_handlers_provide_the_interface_and_are_found(self):
        for h in HANDLERS:
            verifyObject(IHandler, h)
        names = {h.name for h in load_handlers()}
        self.assertTrue({"music_announce", "music_np", "music_skip", "music_noskip", "music_canhas",
                         "music_canhaslater", "music_doeswant", "music_doeswantlater"} <= names)

    def test_help_lists_the_commands(self):
        h = Harness(core.help, *HANDLERS)
        text = h.reply("!help music", private=True)
        self.assertIn("!skip [N]: Starts or joins a vote to skip N tracks", text)
        self.assertIn("!canhas <artist>: Replaces the queue with tracks by that artist.", text)


class AnnounceTests(PluginTestCase):
    config = {"music": {"announce": ["#pubbot", "#music"]}}

    def test_notice_to_each_announce_channel(self):
        self.h.publish("music.track", title="Song", artist="Band", album="LP")
        self.assertEqual(self.h.sent, [("#pubbot", "Song - Band (LP)", "notice"),
                                       ("#music", "Song - Band (LP)", "notice")])

    def test_missing_and_hostile_tags(self):
        self.h.publish("music.track", title="Song\r\nQUIT :bye", artist="", album=None)
        self.assertEqual(self.h.sent[0], ("#pubbot", "Song QUIT :bye", "notice"))
        self.h.publish("music.track")
        self.assertEqual(self.h.sent[-1], ("#music", "Unknown track", "notice"))

    def test_a_track_change_ends_the_skip_vote(self):
        self.say("skip")
        self.h.publish("music.track", title="Next")
        self.assertIn("wants to skip", self.say("skip", who="bob"))


class NowPlayingTests(PluginTestCase):
    def test_np_from_the_poll_state(self):
        self.assertEqual(self.say("!np"), "Now playing: Now - Someone")
        self.h.bot.state["music"] = {"state": "pause", "title": "T", "artist": "", "album": "A"}
        self.assertEqual(self.say("pubbot: np"), "Paused: T (A)")
        self.h.bot.state["music"]["state"] = "stop"
        self.assertEqual(self.say("!np"), "Nothing is playing.")
        self.h.bot.state["music"]["state"] = "unreachable"
        self.assertEqual(self.say("!np"), "I can't reach the music player right now.")
        self.assertEqual(self.source.calls, [])

    def test_np_is_not_a_bare_word(self):
        self.assertIsNone(self.say("np"))

    def test_np_asks_the_source_without_a_poller(self):
        del self.h.bot.state["music"]
        self.assertEqual(self.say("!np"), "Now playing: Now - Someone (Somewhere)")
        self.source.now = Status("stop")
        self.assertEqual(self.say("!np"), "Nothing is playing.")
        self.source.error = SourceUnavailable("down")
        self.assertEqual(self.say("!np"), "I can't reach the music player right now, so I couldn't see "
                                          "what's playing.")

    def test_np_without_a_source(self):
        del self.h.bot.state["music"]
        self.h.bot.register_music(None)
        self.assertEqual(self.say("!np"), "No music player is configured.")


class SkipVoteTests(PluginTestCase):
    def test_three_people_skip(self):
        self.assertEqual(self.say("skip"), "alice wants to skip this track: 1/3. Say skip or noskip.")
        self.assertEqual(self.say("!skip", who="bob"), "bob votes to skip: 2/3.")
        self.assertEqual(self.source.calls, [])
        self.assertEqual(self.say("pubbot: skip", who="carol"), "Skipping this track (3 for, 0 against).")
        self.assertEqual(self.source.calls, [("skip", 1)])

    def test_skip_n(self):
        self.assertIn("wants to skip 2 tracks", self.say("skip 2"))
        self.assertEqual(self.say("skip 3", who="bob"),
                         "bob: there's already a vote to skip 2 tracks; say skip or noskip.")
        self.say("skip", who="bob")
        self.say("skip 2", who="carol")
        self.assertEqual(self.source.calls, [("skip", 2)])

    def test_n_must_be_positive_and_sane(self):
        self.assertEqual(self.say("skip 0"), "alice: I can only skip a positive number of tracks.")
        self.assertEqual(self.say("!skip -3"), "alice: I can only skip a positive number of tracks.")
        self.assertEqual(self.say("skip 51"), "alice: I skip at most 50 tracks at a time.")
        self.assertEqual(self.say("skip " + "9" * 5000), "alice: I skip at most 50 tracks at a time.")
        self.assertIsNone(self.vote())

    def test_a_nick_change_is_not_a_second_vote(self):
        self.say("skip", who="alice", hostmask="alice!al@home.example")
        self.assertEqual(self.say("skip", who="alice_", hostmask="alice_!al@home.example"),
                         "alice_: you've already voted to skip.")
        self.assertEqual(self.vote().yes, 1)

    def test_an_account_is_one_person_on_any_host(self):
        self.say("skip", who="alice", account="Alice", hostmask="alice!a@one.example")
        reply = self.say("skip", who="al", account="alice", hostmask="al!b@two.example")
        self.assertIn("already voted", reply)

    def test_noskip_and_switching_sides(self):
        self.assertEqual(self.say("noskip"), "There's no skip vote running; say skip to start one.")
        self.say("skip")
        self.say("skip", who="bob")
        self.assertEqual(self.say("noskip", who="carol"), "carol votes to keep it: 1/3.")
        self.assertEqual(self.say("noskip", who="bob"), "bob changed their vote to noskip: 0/3.")
        self.assertEqual(self.say("noskip", who="bob"), "bob: you've already voted against skipping.")
        self.assertEqual(self.say("skip", who="bob"), "bob changed their vote to skip: 1/3.")
        self.say("skip", who="dave")
        self.assertEqual(self.source.calls, [])
        self.assertIn("Skipping this track (4 for, 1 against)", self.say("skip", who="erin"))

    def test_the_vote_times_out_with_a_message(self):
        self.say("skip")
        self.h.clock.advance(20)
        self.say("skip", who="bob")
        self.h.clock.advance(29)
        self.assertEqual(self.h.sent[-1][1], "bob votes to skip: 2/3.")
        self.h.clock.advance(1)
        self.assertEqual(self.h.sent[-1],
                         ("#pubbot", "The vote to skip this track timed out (2 for, 0 against).", "say"))
        self.assertIn("wants to skip", self.say("skip", who="carol"))

    def test_stopping_the_bot_cancels_the_timer(self):
        self.say("skip")
        self.h.stop()
        self.h.clock.advance(60)
        self.assertNotIn("timed out", self.h.sent[-1][1])

    def test_votes_are_rate_limited_per_person(self):
        h = Harness(*HANDLERS, config={"music": {"request_limit": 2, "request_window": 60,
                                                 "vote_timeout": 100}})
        h.bot.register_music(self.source)
        h.reply("skip", source="alice")
        h.reply("noskip", source="alice")
        self.assertEqual(h.reply("skip", source="alice"), "alice: slow down; try again in 60s.")
        h.clock.advance(30)
        self.assertEqual(h.reply("skip", source="alice"), "alice: slow down; try again in 30s.")
        self.assertEqual(h.reply("skip", source="bob"), "bob votes to skip: 0/3.")
        h.clock.advance(30)  # refused tries did not extend the window
        self.assertEqual(h.reply("skip", source="alice"), "alice changed their vote to skip: 2/3.")
        h.stop()

    def test_one_vote_needed(self):
        h = Harness(*HANDLERS, config={"music": {"skip_votes": 1, "vote_timeout": 5}})
        h.bot.register_music(self.source)
        self.assertEqual(h.reply("skip"), "Skipping this track (1 for, 0 against).")
        h.stop()

    def test_not_in_private(self):
        self.assertEqual(self.say("skip", private=True), "Vote in a channel, where everyone can see.")

    def test_nothing_playing(self):
        self.h.bot.state["music"]["state"] = "stop"
        self.assertEqual(self.say("skip"), "Nothing is playing, so there's nothing to skip.")

    def test_read_only_source(self):
        self.source.controllable = False
        self.source.kind = "icecast"
        self.assertEqual(self.say("skip"), "The music source (icecast) is read-only: I can't skip.")

    def test_no_source(self):
        self.h.bot.register_music(None)
        self.assertEqual(self.say("!skip"), "No music player is configured.")

    def test_skip_failure_is_reported(self):
        self.source.error = SourceUnavailable("gone")
        self.say("skip")
        self.say("skip", who="bob")
        self.assertEqual(self.say("skip", who="carol"),
                         "I can't reach the music player right now, so I couldn't skip.")

    def test_bare_words_only_as_a_whole_line(self):
        self.assertIsNone(self.say("I would skip this one"))
        self.assertIsNone(self.say("skipping"))
        self.assertIsNone(self.say("skip it"))
        self.assertIn("wants to skip", self.say("  SKIP  "))


class BareWordsOffTests(PluginTestCase):
    config = {"music": {"bare_words": False}}

    def test_only_prefixed_or_addressed(self):
        self.assertIsNone(self.say("skip"))
        self.assertIsNone(self.say("canhas x"))
        self.assertEqual(self.say("!skip"), "alice wants to skip this track: 1/3. Say !skip or !noskip.")
        self.assertIn("Queued", self.say("pubbot: canhaslater x"))


class RequestTests(PluginTestCase):
    def test_canhas_replaces_with_an_artist(self):
        self.assertEqual(self.say("canhas alpha"), "Replaced the queue with 4 tracks by Alpha Band: "
                                                   "First, Second, Third and 1 more.")
        self.assertEqual(self.source.calls, [("queue", "artist", "alpha", True)])

    def test_canhaslater_appends(self):
        self.source.found = self.source.found[:1]
        self.assertEqual(self.say("!canhaslater Alpha Band"), "Queued 1 track by Alpha Band: First.")
        self.assertEqual(self.source.calls, [("queue", "artist", "Alpha Band", False)])

    def test_doeswant_and_later_by_title(self):
        self.source.found = self.source.found[:2]
        self.assertEqual(self.say("doeswant sec"),
                         "Replaced the queue with 2 tracks matching \u201csec\u201d: "
                         "First - Alpha Band, Second - Alpha Band.")
        self.say("pubbot: doeswantlater sec")
        self.assertEqual(self.source.calls,
                         [("queue", "title", "sec", True), ("queue", "title", "sec", False)])

    def test_nothing_matched(self):
        self.source.found = []
        self.assertEqual(self.say("canhas nobody"), "Nothing by \u201cnobody\u201d in the library.")
        self.assertEqual(self.say("doeswant nothing"), "No track called \u201cnothing\u201d in the library.")

    def test_the_cap_is_mentioned(self):
        self.source.found = [Track("T%d" % i, "X") for i in range(50)]
        self.assertIn("the first 50 tracks by X", self.say("canhas x"))

    def test_usage(self):
        self.assertIsNone(self.say("canhas"))
        self.assertEqual(self.say("!canhas"), "Say canhas <artist>.")
        self.assertEqual(self.say("pubbot: doeswant  "), "Say doeswant <title>.")
        self.assertEqual(self.source.calls, [])

    def test_user_text_reaches_the_source_verbatim_and_comes_back_clean(self):
        hostile = 'a"b\\c %0A%s\x00\x01 d'
        self.say("canhas " + hostile)
        self.assertEqual(self.source.calls, [("queue", "artist", hostile, True)])
        self.source.found = []
        reply = self.say("canhas " + hostile, who="bob")
        self.assertEqual(reply, "Nothing by \u201ca\"b\\c %0A%s d\u201d in the library.")

    def test_too_long(self):
        self.assertEqual(self.say("canhas " + "x" * 300), "alice: that's too long to look for.")

    def test_requests_are_rate_limited_per_person(self):
        for _ in range(5):
            self.say("canhaslater x")
        self.assertIn("slow down", self.say("canhaslater x"))
        self.assertIn("Queued", self.say("canhaslater x", who="bob"))
        self.assertEqual(len(self.source.calls), 6)

    def test_errors(self):
        self.source.error = SourceUnavailable("down")
        self.assertEqual(self.say("canhas x"), "I can't reach the music player right now, "
                                               "so I couldn't queue tracks.")
        self.source.error = MusicError("MPD refused add: Access denied")
        self.assertEqual(self.say("canhas x", who="bob"), "The music player said no: MPD refused add: "
                                                          "Access denied")
        self.source.error = ZeroDivisionError()
        self.assertEqual(self.say("canhas x", who="carol"),
                         "Something went wrong talking to the music player.")
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_read_only_source(self):
        self.source.controllable = False
        self.source.kind = "icecast"
        self.assertEqual(self.say("canhas x"),
                         "The music source (icecast) is read-only: I can't queue tracks.")


class SharedStoreTests(PluginTestCase):
    """Two worker processes (two bots) on one store, as with the Redis bus, count one vote."""

    def test_votes_from_two_processes_add_up(self):
        other = Harness(*HANDLERS)
        self.addCleanup(other.stop)
        other.bot.store = self.h.store
        other.bot.clock = self.h.clock
        other.bot.register_music(self.source)
        other.bot.state["music"] = dict(self.h.bot.state["music"])
        self.assertIn("alice wants to skip", self.say("skip"))
        self.assertEqual(other.reply("skip", source="bob"), "bob votes to skip: 2/3.")
        self.assertIn("already voted", other.reply("skip", source="alice"))
        self.assertEqual(self.say("skip", who="carol"), "Skipping this track (3 for, 0 against).")
        self.assertEqual(self.source.calls, [("skip", 1)])

    def test_a_broken_store_is_a_reply_not_a_crash(self):
        def broken(key):
            raise OSError("store down")

        self.h.store.hgetall = broken
        self.assertEqual(self.say("skip"), "I can't count votes right now; try again in a moment.")
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
