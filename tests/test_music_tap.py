"""makeService adds the music child when [music] source is set."""

from twisted.application.service import IServiceCollection
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from pubbot import tap
from pubbot.music.mpd import MPDSource


class MusicChildTests(SynchronousTestCase):
    def make(self, config_text):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(config_text)
        options = tap.Options()
        options["divert_log"] = False
        options.parseOptions(["--config", path])
        top = tap.makeService(options, MemoryReactorClock())
        self.addCleanup(top.bot.store.close)
        return top

    def test_music_child_when_a_source_is_set(self):
        top = self.make('[music]\nsource = "mpd:tcp:127.0.0.1:6600"\n')
        music = top.getServiceNamed("music")
        self.assertEqual(sorted(s.name for s in IServiceCollection(music)), ["poll", "source"])
        self.assertIsInstance(top.bot.music_source, MPDSource)
        self.assertIn("music_skip", [h.name for h in top.bot.handlers])

    def test_no_music_child_without_a_source(self):
        top = self.make("")
        self.assertNotIn("music", [s.name for s in IServiceCollection(top)])
        self.assertIsNone(top.bot.music_source)

    def test_a_bad_source_is_one_line_and_exit_1(self):
        path = self.mktemp()
        with open(path, "w") as f:
            f.write('[music]\nsource = "mpd:localhost:6600"\n')
        with self.assertRaises(SystemExit) as e:
            tap.Options().parseOptions(["--config", path])
        self.assertEqual(e.exception.code, 1)
