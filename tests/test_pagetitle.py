"""Page titles in bounded work: the charset allow-list and the one-pass title scan."""

import codecs

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.links.title import MAX_STEPS, MAX_TITLE, TitleScan, choose_encoding, find_title, page_encoding

from .support.hostile_http import hostile_pages, unusual_charsets
from .support.logs import capture_logs


class EncodingTests(SynchronousTestCase):

    def test_text_encodings(self):
        for label, codec in [
            ("UTF-8", "utf-8"), ("utf8", "utf-8"), ("'utf-8'", "utf-8"), ("iso-8859-2", "iso8859-2"),
            ("latin-1", "cp1252"), ("us-ascii", "cp1252"), ("windows-1251", "cp1251"),
            ("windows-874", "cp874"), ("koi8-r", "koi8-r"), ("Shift_JIS", "shift_jis"),
            ("windows-31j", "cp932"), ("euc-kr", "euc_kr"), ("gb2312", "gb2312"), ("GBK", "gbk"),
            ("gb18030", "gb18030"), ("big5", "big5"), ("utf-16le", "utf-16-le"), ("utf-32", "utf-32"),
            ("iso-2022-jp", "iso2022_jp"), ("x-mac-cyrillic", "mac-cyrillic"), (b"euc-jp", "euc_jp"),
        ]:
            self.assertEqual(page_encoding(label), codec, label)

    def test_other_codecs_are_refused(self):
        for label, _ in unusual_charsets():
            self.assertIsNone(page_encoding(label), label)
        for label in ["", None, "no-such-codec", "utf-8" * 20, "hz", "cp437", "utf_7", "x-user-defined",
                      "\x00", "punycode ", " IDNA"]:
            self.assertIsNone(page_encoding(label), label)

    def test_unusual_charsets_are_read_as_utf8_with_a_log_line(self):
        log = capture_logs(self)
        for label, body in unusual_charsets():
            for page, charset in [(b"<meta charset=" + label.encode() + b">" + body, None),
                                  (body, label)]:
                title = find_title(page + b"<title>caf\xc3\xa9</title>", charset)
                self.assertTrue(title is None or isinstance(title, str), (label, title))
            self.assertEqual(choose_encoding(body, label), "utf-8", label)
            self.assertEqual(find_title(b"<title>caf\xc3\xa9</title>", label), "caf\u00e9", label)
        self.assertTrue(any("'punycode' (from the server) is not a text encoding" in line
                            for line in log.texts()))
        self.assertTrue(any("'rot13' (from the page) is not a text encoding" in line for line in log.texts()))

    def test_hints_in_order(self):
        self.assertEqual(choose_encoding(codecs.BOM_UTF8 + b"<meta charset=koi8-r>", "latin-1"), "utf-8-sig")
        self.assertEqual(choose_encoding(b"<meta charset=koi8-r>", "iso-8859-5"), "iso8859-5")
        self.assertEqual(choose_encoding(b"<meta charset=koi8-r>", "utf-7"), "koi8-r")
        self.assertEqual(choose_encoding(b"<meta http-equiv=x content='text/html; charset=big5'>"), "big5")
        self.assertEqual(choose_encoding(b" " * 5000 + b"<meta charset=koi8-r>"), "utf-8")


class ScanTests(SynchronousTestCase):

    def test_titles(self):
        for body, title in [
            (b"<html><TITLE lang=en>Hi &amp; bye</TITLE>", "Hi & bye"),
            (b"<!-- <title>no</title> --><title>yes</title>", "yes"),
            (b"<!--><title>after empty comment</title>", "after empty comment"),
            (b"<!---><title>after empty comment</title>", "after empty comment"),
            (b"<!DOCTYPE html><?xml x?><title>t</title>", "t"),
            (b"<a title='<title>no</title>' b=\"</title>\"><title>yes</title>", "yes"),
            (b"<a href=x'y><title>unquoted apostrophe</title>", "unquoted apostrophe"),
            (b"<script>document.write('<title>no</title>')</script><title>yes</title>", "yes"),
            (b"<style>/* <title>no</title> */</style><title>yes</title>", "yes"),
            (b"<svg><title>icon</title><svg><title>in</title></svg></svg><title>Real</title>", "Real"),
            (b"<svg/><title>after self-closed svg</title>", "after self-closed svg"),
            (b"<title><b>markup</b> is text</title>", "<b>markup</b> is text"),
            (b"a < b <3 <title>lone</title>", "lone"),
            (b"<title>spaced</title >", "spaced"),
            (b"<title>at end</title", "at end"),
            (b"<title></title>", ""),
        ]:
            self.assertEqual(TitleScan(body.decode()).title(), title, body)

    def test_no_title(self):
        for body in [b"", b"<html><body>none", b"<title>never closed", b"<!-- <title>x</title>",
                     b"<a x='<title>x</title>", b"<script><title>x</title>", b"<plaintext><title>x</title>",
                     b"<svg><title>only an icon</title></svg>", b"<titles>x</titles>", b"<title", b"<"]:
            self.assertIsNone(TitleScan(body.decode()).title(), body)

    def test_title_length_is_capped(self):
        title = find_title(b"<title>" + b"a" * 100000 + b"</title>")
        self.assertEqual(len(title), MAX_TITLE)

    def test_gives_up_after_max_steps(self):
        text = "<a>" * (MAX_STEPS + 10) + "<title>late</title>"
        scan = TitleScan(text)
        self.assertIsNone(scan.title())
        self.assertTrue(scan.exhausted)
        self.assertEqual(TitleScan("<a>" * 100 + "<title>soon</title>").title(), "soon")

    def test_hostile_pages_cost_linear_bounded_work(self):
        for name, body in hostile_pages(256 * 1024):
            text = body.decode("utf-8", "replace")
            scan = TitleScan(text)
            scan.title()
            self.assertLessEqual(scan.steps, MAX_STEPS + 1, name)
            self.assertLessEqual(scan.scanned, 2 * len(text) + 64, name)

    @given(st.lists(st.sampled_from([
        "<a href='x>y'>", "<!-- c -->", "text", "<br/>", "</p>", "<!doctype html>", "<meta charset=utf-8>",
        "<script>var t='<title>';</script>", "<svg><title>i</title></svg>", "a < b", "1<2", "&amp;",
    ]), max_size=30),
           st.text(st.characters(blacklist_characters="<&", blacklist_categories=("Cs",)), max_size=50))
    def test_title_after_any_ordinary_markup(self, before, title):
        text = "".join(before) + "<title>" + title + "</title>" + "".join(before)
        self.assertEqual(TitleScan(text).title(), title)

    @given(st.text(st.sampled_from("<>!-/'\"= atisvgcrp"), max_size=300))
    def test_any_markup_is_bounded(self, text):
        scan = TitleScan(text)
        title = scan.title()
        self.assertTrue(title is None or isinstance(title, str))
        self.assertLessEqual(scan.scanned, 2 * len(text) + 64)
