"""
The music service against a real mpd (Debian package), started by the test
with a null audio output and generated tagged FLAC files: play, change
track, stop, skip by three people, canhas, hostile requests, an outage.
"""

import os
import subprocess
import threading
import time

from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.logger import LogLevel
from twisted.trial.unittest import SynchronousTestCase, TestCase

from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.music.poll import make_music_service
from pubbot.plugins import music
from pubbot.store.memory import MemoryStore
from pubbot.testing import FakeChat

from ..support.logs import capture_logs
from ..support.servers import bot_env, twistd_argv
from ..support.servers.mpd import MPDServer, Song

SONGS = [
    Song("01-first.flac", 2.5, 'First "Song"', "Alpha Band", "Tests"),
    Song("02-second.flac", 300, "Second", "Alpha Band", "Tests"),
    Song("03-third.flac", 300, "Third", "Beta Crew", "Other"),
    Song("04-fourth.flac", 300, "Fourth", "Beta Crew", "Other"),
    Song("05-untagged.flac", 300),
]

HANDLERS = (music.announce, music.np, music.skip, music.noskip, music.canhas, music.canhaslater,
            music.doeswant, music.doeswantlater)


class MPDIntegrationTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.mpd = MPDServer(SONGS).start()
        self.addCleanup(self.mpd.stop)
        self.settings = parse({"music": {"source": self.mpd.source, "poll_seconds": 0.2}})
        self.bot = Bot(self.settings, reactor, MemoryStore(reactor))
        self.chat = FakeChat()
        self.bot.register_chat(self.chat)
        for handler in HANDLERS:
            self.bot.add_handler(handler)
        self.bot.start()
        self.published = []
        self.bot.dispatcher.observers.append(
            lambda m: self.published.append(m.topic) if m.topic.startswith("music.") else None)
        self.logs = capture_logs(self)
        self.service = make_music_service(self.bot, self.settings.music, reactor)
        self.service.startService()
        self.addCleanup(self.bot.stop)
        self.addCleanup(self.service.stopService)

    async def eventually(self, predicate, what, timeout=15.0):
        deadline = reactor.seconds() + timeout
        while not predicate():
            if reactor.seconds() > deadline:
                self.fail("timed out waiting for %s; sent %r, published %r" % (
                    what, self.chat.sent, self.published))
            await deferLater(reactor, 0.05, lambda: None)

    def notices(self):
        return [text for target, text, kind in self.chat.sent if kind == "notice"]

    async def announced(self, text):
        await self.eventually(lambda: text in self.notices(), "the announcement %r" % (text,))

    async def say(self, text, who="alice", user=None):
        """C{who} says C{text} as C{who!user@user.example} (user: the nick)."""
        before = len(self.chat.sent)
        user = user or who
        await self.bot.chat_line("irc", "#pubbot", who, text, hostmask="%s!%s@%s.example" % (
            who, user, user), account=None)
        replies = [t for target, t, kind in self.chat.sent[before:] if kind == "say"]
        return replies[-1] if replies else None

    async def test_play_change_track_stop(self):
        self.mpd.command('add "01-first.flac"', 'add "02-second.flac"', 'add "05-untagged.flac"', "play 0")
        await self.announced('First "Song" - Alpha Band (Tests)')
        self.assertEqual(self.chat.sent[0], ("#pubbot", 'First "Song" - Alpha Band (Tests)', "notice"))
        self.assertEqual(await self.say("!np"), 'Now playing: First "Song" - Alpha Band (Tests)')
        # The first track ends by itself after 2.5 s.
        await self.announced("Second - Alpha Band (Tests)")
        self.mpd.command("next")
        await self.announced("05-untagged")  # no tags: the file name stands in
        self.mpd.command("stop")
        await self.eventually(lambda: "music.stop" in self.published, "music.stop")
        await deferLater(reactor, 0.6, lambda: None)  # a few more polls
        self.assertEqual(self.published, ["music.track"] * 3 + ["music.stop"])
        self.assertEqual(self.notices(), ['First "Song" - Alpha Band (Tests)', "Second - Alpha Band (Tests)",
                                          "05-untagged"])
        self.assertEqual(await self.say("pubbot: np"), "Nothing is playing.")

    async def test_three_people_skip(self):
        self.mpd.command('add "02-second.flac"', 'add "03-third.flac"', 'add "04-fourth.flac"', "play 0")
        await self.announced("Second - Alpha Band (Tests)")
        self.assertIn("wants to skip this track: 1/3", await self.say("skip", "alice"))
        self.assertIn("already voted", await self.say("skip", "alice_", user="alice"))
        self.assertEqual(await self.say("!skip", "bob"), "bob votes to skip: 2/3.")
        self.assertEqual(self.mpd.status()["song"], "0")
        self.assertEqual(await self.say("skip", "carol"), "Skipping this track (3 for, 0 against).")
        self.assertEqual(self.mpd.status()["song"], "1")
        await self.announced("Third - Beta Crew (Other)")

    async def test_canhas_queues_by_artist(self):
        self.mpd.command('add "01-first.flac"', 'add "02-second.flac"', "play 1")
        await self.announced("Second - Alpha Band (Tests)")
        self.assertEqual(await self.say("canhas beta"),
                         "Replaced the queue with 2 tracks by Beta Crew: Third, Fourth.")
        self.assertEqual(self.mpd.queue(), ["03-third.flac", "04-fourth.flac"])
        self.assertEqual(self.mpd.status()["state"], "play")
        await self.announced("Third - Beta Crew (Other)")
        self.assertEqual(await self.say("!canhaslater Alpha"),
                         'Queued 2 tracks by Alpha Band: First "Song", Second.')
        self.assertEqual(self.mpd.queue(), ["03-third.flac", "04-fourth.flac", "01-first.flac",
                                            "02-second.flac"])
        self.assertEqual(self.mpd.status()["song"], "0")
        self.assertEqual(await self.say("doeswant FOURTH"),
                         "Replaced the queue with 1 track matching \u201cFOURTH\u201d: Fourth - Beta Crew.")
        self.assertEqual(self.mpd.queue(), ["04-fourth.flac"])
        self.assertEqual(await self.say("canhaslater nobody at all"), "Nothing by \u201cnobody at all\u201d "
                                                                       "in the library.")
        self.assertEqual(self.mpd.queue(), ["04-fourth.flac"])

    async def test_canhaslater_when_stopped_starts_the_new_tracks(self):
        self.mpd.command('add "05-untagged.flac"')
        self.assertEqual(await self.say("doeswantlater third"),
                         "Queued 1 track matching \u201cthird\u201d: Third - Beta Crew.")
        self.assertEqual(self.mpd.status()["state"], "play")
        self.assertEqual(self.mpd.status()["song"], "1")
        await self.announced("Third - Beta Crew (Other)")

    async def test_user_text_is_one_argument_and_runs_no_other_command(self):
        mark = len(self.mpd.commands_run())
        hostile = 'nobody" \\" %0A%s %%\nrandom 1\n"\x00consume 1\r\nclear'
        reply = await self.say("canhaslater " + hostile)
        self.assertEqual(reply, 'Nothing by \u201cnobody" \\" %0A%s %% random 1 " consume 1 clear\u201d '
                                "in the library.")
        ran = [line for client, line in self.mpd.commands_run()[mark:]
               if line not in ("status", "currentsong")]
        self.assertEqual(ran, ['search "artist" "nobody\\" \\\\\\" %0A%s %% random 1 \\" consume 1  clear" '
                               '"window" "0:50"'])
        status = self.mpd.status()
        self.assertEqual((status["random"], status["consume"]), ("0", "0"))
        # Quotes in a real title round-trip: the request finds it.
        self.assertEqual(await self.say('doeswantlater First "Song"', "bob"),
                         'Queued 1 track matching \u201cFirst "Song"\u201d: First "Song" - Alpha Band.')

    async def test_outage_logs_once_and_recovers_quietly(self):
        self.mpd.command('add "02-second.flac"', 'add "03-third.flac"', "play 0")
        await self.announced("Second - Alpha Band (Tests)")
        self.mpd.terminate()  # saves the queue and position
        await self.eventually(lambda: self.bot.state["music"]["state"] == "unreachable", "the outage")
        self.assertIn("can't reach", await self.say("!np"))
        await deferLater(reactor, 1.0, lambda: None)  # several failed polls, with backoff
        self.mpd.restart()
        await self.eventually(lambda: self.bot.state["music"]["state"] == "play", "the recovery", 30)
        await deferLater(reactor, 0.6, lambda: None)
        self.assertEqual(self.published, ["music.track"])
        warnings = [e for e in self.logs if e.get("log_namespace") == "pubbot.music.poll"
                    and e.get("log_level") == LogLevel.warn]
        self.assertEqual(len(warnings), 1)
        self.assertTrue(any("is back" in e.get("log_format", "") for e in self.logs))
        self.assertEqual(await self.say("!np"), "Now playing: Second - Alpha Band (Tests)")


class TwistdConsoleTests(SynchronousTestCase):
    """C{twistd -n pubbot --console} with an mpd source: the whole daemon, end to end."""

    def test_announces_and_answers_in_the_console_room(self):
        mpd = MPDServer(SONGS[:3]).start()
        self.addCleanup(mpd.stop)
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        config = os.path.join(directory, "pubbot.toml")
        with open(config, "w") as f:
            f.write('[music]\nsource = "%s"\npoll_seconds = 0.2\n[web]\nendpoint = ""\n'
                    '[store]\npath = "%s"\n' % (mpd.source, os.path.join(directory, "store.sqlite")))
        bot = subprocess.Popen(twistd_argv("-n", "--pidfile=", "pubbot", "--config", config, "--console"),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env=bot_env(), cwd=directory)
        self.addCleanup(lambda: bot.poll() is None and bot.kill())
        lines = []
        reader = threading.Thread(target=lambda: lines.extend(bot.stdout), daemon=True)
        reader.start()

        def until(text, timeout=20.0):
            deadline = time.monotonic() + timeout
            while not any(text in line.decode("utf-8", "replace") for line in list(lines)):
                if time.monotonic() > deadline or bot.poll() is not None:
                    self.fail("no %r in the console output %r" % (text, lines))
                time.sleep(0.05)

        until_polling = time.monotonic() + 20
        while not any(cmd == "currentsong" or cmd == "status" for _, cmd in mpd.commands_run()):
            self.assertLess(time.monotonic(), until_polling, "pubbot never polled mpd")
            time.sleep(0.05)
        mpd.command('add "02-second.flac"', 'add "03-third.flac"', "play")
        until("[#pubbot] -pubbot- Second - Alpha Band (Tests)")
        bot.stdin.write(b"!np\n")
        bot.stdin.flush()
        until("<pubbot> Now playing: Second - Alpha Band (Tests)")
        bot.stdin.write(b"doeswant third\n")
        bot.stdin.flush()
        until("<pubbot> Replaced the queue with 1 track matching")
        until("[#pubbot] -pubbot- Third - Beta Crew (Other)")
        bot.stdin.close()
        self.assertEqual(bot.wait(30), 0)
        reader.join(10)
