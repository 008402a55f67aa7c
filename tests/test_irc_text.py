"""Decoding, sanitising and byte-based splitting of IRC text."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.text import decode, sanitise, split_bytes, split_lines, split_text


class DecodeTests(SynchronousTestCase):
    def test_utf8(self):
        self.assertEqual(decode("héllo ☃".encode()), "héllo ☃")

    def test_latin1_line_falls_back(self):
        self.assertEqual(decode("héllo".encode("latin-1")), "héllo")

    def test_cp1252_specials(self):
        # 0x80 is the euro sign and 0x93/0x94 curly quotes in CP1252.
        self.assertEqual(decode(b"\x80 \x93hi\x94"), "€ “hi”")

    def test_bytes_cp1252_leaves_undefined_decode_as_latin1(self):
        self.assertEqual(decode(b"a\x81\x8d\x8f\x90\x9db"), "a\x81\x8d\x8f\x90\x9db")

    def test_truncated_utf8_does_not_raise(self):
        self.assertEqual(decode(b"caf\xc3"), "caf\xc3")

    @given(st.binary(max_size=300))
    def test_any_bytes_decode(self, raw):
        text = decode(raw)
        self.assertIsInstance(text, str)
        # Nothing is lost: every byte maps to at least one character.
        self.assertGreaterEqual(len(text), len(raw) // 4)


class SanitiseTests(SynchronousTestCase):
    def test_strips_cr_lf_nul_and_ctcp(self):
        self.assertEqual(sanitise("a\rb\nc\0d\x01e"), "abcde")

    def test_keeps_formatting(self):
        self.assertEqual(sanitise("\x02bold\x02 \x0304red"), "\x02bold\x02 \x0304red")
        codes = "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f"
        self.assertEqual(sanitise(codes), codes)

    def test_strips_every_other_control(self):
        # a bell, a terminal escape, DEL and C1 controls never reach the wire; a tab is a space
        self.assertEqual(sanitise("ding\x07 \x1b[31mred\x7f\x9b2J\x85 a\tb"), "ding [31mred2J a b")

    @given(st.text(max_size=300))
    def test_only_printable_text_and_formatting_pass(self, text):
        for c in sanitise(text):
            self.assertTrue(c in "\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f" or not (
                ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), repr(c))

    def test_split_lines(self):
        self.assertEqual(split_lines("one\r\ntwo\rthree\n\n  \nfour\0"), ["one", "two", "three", "four"])

    def test_crlf_injection_becomes_separate_text(self):
        self.assertEqual(split_lines("hi\r\nQUIT :pwned"), ["hi", "QUIT :pwned"])


class SplitTests(SynchronousTestCase):
    def test_short_is_one_piece(self):
        self.assertEqual(split_text("hello", 10), ["hello"])

    def test_prefers_spaces(self):
        self.assertEqual(split_text("aaaa bbbb cccc", 10), ["aaaa bbbb ", "cccc"])

    def test_hard_break_without_spaces(self):
        self.assertEqual(split_text("a" * 25, 10), ["a" * 10, "a" * 10, "a" * 5])

    def test_never_inside_a_character(self):
        pieces = split_bytes("ééééé".encode(), 5)
        self.assertEqual(pieces, ["éé".encode(), "éé".encode(), "é".encode()])

    def test_four_byte_characters(self):
        text = "😀" * 5
        pieces = split_text(text, 6)
        self.assertEqual(pieces, ["😀"] * 5)

    def test_limit_too_small(self):
        self.assertRaises(ValueError, split_bytes, b"abc", 3)

    @given(st.text(max_size=2000), st.integers(min_value=4, max_value=600))
    def test_split_properties(self, text, limit):
        clean = sanitise(text)
        pieces = split_text(clean, limit)
        self.assertEqual("".join(pieces), clean)  # loses no text
        for piece in pieces:
            data = piece.encode("utf-8")
            self.assertLessEqual(len(data), limit)
            for bad in ("\r", "\n", "\0"):
                self.assertNotIn(bad, piece)
            data.decode("utf-8")  # never breaks a UTF-8 sequence
        if len(clean.encode("utf-8")) > limit:
            self.assertTrue(all(piece for piece in pieces))
