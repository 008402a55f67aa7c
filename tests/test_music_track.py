"""Tracks, states and the one-line text made from tags."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.music.track import MAX_TAG, Status, Track, clean_text, format_track


class CleanTextTests(SynchronousTestCase):
    def test_control_characters_become_single_spaces(self):
        self.assertEqual(clean_text("a\r\nb\x00c\x02\x03d\te"), "a b c d e")

    def test_none_and_lists(self):
        self.assertEqual(clean_text(None), "")
        self.assertEqual(clean_text(["A", "", "B"]), "A, B")

    def test_long_values_are_cut_with_an_ellipsis(self):
        text = clean_text("x" * 500)
        self.assertEqual(len(text), MAX_TAG)
        self.assertTrue(text.endswith("\u2026"))

    @given(st.text())
    def test_always_one_clean_line(self, value):
        text = clean_text(value)
        self.assertLessEqual(len(text), MAX_TAG)
        for bad in "\r\n\x00\x01\x1f\x7f\u2028":
            self.assertNotIn(bad, text)
        self.assertEqual(text, text.strip())


class FormatTests(SynchronousTestCase):
    def test_title_artist_album(self):
        self.assertEqual(format_track("Song", "Band", "Album"), "Song - Band (Album)")

    def test_missing_tags_are_left_out(self):
        self.assertEqual(format_track("Song", "", "Album"), "Song (Album)")
        self.assertEqual(format_track("Song", "Band", None), "Song - Band")
        self.assertEqual(format_track(None, None, None), "Unknown track")

    def test_from_tags_falls_back_to_the_file_name(self):
        track = Track.from_tags(None, ["A", "B"], None, uri="x/y.flac", entry=3, fallback="y")
        self.assertEqual(track, Track("y", "A, B", "", "x/y.flac", "3"))
        self.assertEqual(track.fields(), {"title": "y", "artist": "A, B", "album": ""})

    def test_the_key_ignores_the_queue_entry(self):
        self.assertEqual(Track("t", entry="1").key, Track("t", entry="2").key)

    def test_unknown_state_is_refused(self):
        self.assertRaises(ValueError, Status, "playing")
