"""
The title of a fetched HTML page, in bounded work whatever the bytes.

Decoding: only text encodings are read (L{page_encoding}): UTF-8/16/32,
the ISO-8859 and Windows code pages, KOI8, the CJK encodings... A page or
server naming anything else (C{utf-7}, C{punycode}, C{idna}, C{rot13},
C{zlib}, C{hex}...: codecs Python knows but that are no page encodings,
some of them quadratic or not text at all) is read as UTF-8 with
replacement characters, with a log line.

Finding the title: L{TitleScan} walks the markup once, left to right, the
way a browser's tokenizer does for what matters here (comments, tags with
quoted attributes, raw-text elements such as C{<script>}, C{<svg>}'s own
titles); every scan is C{str.find} or one anchored regex without nested
quantifiers, each starting where the last stopped, so the characters
examined are at most a small multiple of the text's length, and it gives
up after L{MAX_STEPS} markup constructs. (The standard library's
C{HTMLParser} re-scans unfinished constructs on every feed, quadratic in
hostile pages: a megabyte of C{<!--<title>x</title>} held the reactor for
half a minute.)
"""

from __future__ import annotations

import codecs
import html
import re

from twisted.logger import Logger

log = Logger()

#: Most markup constructs (tags, comments, quoted attribute values) examined.
MAX_STEPS = 10000
#: Longest title text kept (characters, before character references are resolved).
MAX_TITLE = 4096
#: How far into a body a C{<meta charset>} is looked for (bytes).
META_WINDOW = 4096

#: Canonical Python codec names read as page encodings.
TEXT_ENCODINGS = frozenset(
    ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be",
     "ascii", "cp866", "cp874", "koi8-r", "koi8-u", "koi8-t", "mac-roman", "mac-cyrillic", "tis-620",
     "shift_jis", "shift_jis_2004", "shift_jisx0213", "cp932", "euc_jp", "euc_jis_2004", "euc_jisx0213",
     "iso2022_jp", "euc_kr", "cp949", "iso2022_kr", "gb2312", "gbk", "gb18030", "big5", "big5hkscs",
     "cp950"]
    + ["iso8859-%d" % (n,) for n in range(1, 17) if n != 12]
    + ["cp%d" % (n,) for n in range(1250, 1259)])
#: Labels browsers know that Python spells differently.
_ALIASES = {"windows-874": "cp874", "windows-31j": "cp932", "x-sjis": "shift_jis",
            "x-mac-cyrillic": "mac-cyrillic", "x-mac-roman": "mac-roman", "x-gbk": "gbk",
            "x-euc-jp": "euc_jp", "ks_c_5601-1987": "euc_kr"}
#: Read as windows-1252, as browsers do.
_AS_1252 = frozenset(("ascii", "iso8859-1"))

_META_CHARSET = re.compile(rb"<meta[^>]{0,200}?charset[ \t\r\n]{0,8}=[ \t\r\n]{0,8}[\"']?[ \t\r\n]{0,8}"
                           rb"([A-Za-z0-9._:-]{1,40})", re.I)


def page_encoding(label: str | bytes | None) -> str | None:
    """
    The Python codec for a charset label if it is a text encoding we read,
    else None (also for labels naming no codec at all).
    """
    if not label:
        return None
    if isinstance(label, bytes):
        label = label.decode("ascii", "replace")
    name = label.strip().strip("\"'").strip().lower()
    if not name or len(name) > 40:
        return None
    name = _ALIASES.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):
        return None
    if codec not in TEXT_ENCODINGS:
        return None
    return "cp1252" if codec in _AS_1252 else codec


def choose_encoding(body: bytes, charset: str | None = None) -> str:
    """
    How to decode C{body}: its byte-order mark, else the C{charset} the
    server sent, else a C{<meta charset>} near its start, else UTF-8. A
    named charset that is not a text encoding is logged and skipped.
    """
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    found = _META_CHARSET.search(body[:META_WINDOW])
    for source, label in (("server", charset), ("page", found.group(1) if found else None)):
        if not label:
            continue
        encoding = page_encoding(label)
        if encoding is not None:
            return encoding
        shown = label.decode("ascii", "replace") if isinstance(label, bytes) else label
        log.info("page charset {charset!r} (from the {source}) is not a text encoding we read; "
                 "trying the next hint or utf-8", charset=shown[:40], source=source)
    return "utf-8"


# the scan

_TAG = re.compile(r"<(/?)([A-Za-z][^\t\n\f\r />]*)")
#: Inside a tag: its end, or an attribute value's opening quote (after "=").
_TAG_STOP = re.compile(r">|=[\t\n\f\r ]*([\"'])")
#: Elements whose content is text up to their end tag, not markup.
_RAW = ("title", "script", "style", "textarea", "xmp", "iframe", "noembed", "noframes")
_CLOSE = {name: re.compile(r"</%s(?=[\t\n\f\r />]|\Z)" % (name,), re.I) for name in _RAW}


class TitleScan:
    """
    One pass over C{text} looking for the first C{<title>} outside C{<svg>}.
    C{steps} counts the markup constructs examined, C{scanned} the
    characters the scans went over (both bounded, see the module docstring).
    """

    def __init__(self, text: str, max_steps: int = MAX_STEPS):
        self.text = text
        self.max_steps = max_steps
        self.steps = 0
        self.scanned = 0
        self.exhausted = False

    def _step(self) -> bool:
        self.steps += 1
        if self.steps > self.max_steps:
            self.exhausted = True
            return False
        return True

    def title(self) -> str | None:
        """The raw text of the first title (character references resolved), or None."""
        text = self.text
        pos = 0
        svg = 0
        while self._step():
            lt = text.find("<", pos)
            if lt < 0:
                self.scanned += len(text) - pos
                return None
            self.scanned += lt - pos + 1
            pos = lt + 1
            tag = None if text.startswith("!--", pos) else _TAG.match(text, lt)
            if tag is None:  # a comment, doctype, CDATA, bogus comment or a lone "<"
                pos = self._skip_markup(pos)
                if pos < 0:
                    return None
                continue
            self.scanned += tag.end() - pos
            end = self._tag_end(tag.end())
            if end < 0:
                return None
            pos = end
            closing, name = tag.group(1), tag.group(2).lower()
            if closing or name == "svg":
                svg = self._svg_depth(svg, closing, name, end)
                continue
            if name == "plaintext":
                return None
            close = _CLOSE.get(name)
            if close is None:
                continue
            found = close.search(text, pos)
            if found is None:
                return None
            self.scanned += found.end() - pos
            if name == "title" and not svg:
                return html.unescape(text[pos:min(found.start(), pos + MAX_TITLE)])
            pos = found.start()
        return None

    def _skip_markup(self, pos: int) -> int:
        """After a "<" that starts no tag: where what it starts ends, or -1 when it never does."""
        text = self.text
        if not text.startswith("!--", pos):
            return self._skip_declaration(pos)
        if text.startswith(("!-->", "!--->"), pos):  # empty comments
            return text.index(">", pos) + 1
        end = text.find("-->", pos + 3)
        if end < 0:
            return -1
        self.scanned += end + 3 - pos
        return end + 3

    def _skip_declaration(self, pos: int) -> int:
        """After a "<" that starts no tag: where a doctype, CDATA or bogus comment ends (-1: never)."""
        text = self.text
        if text.startswith(("!", "?", "/"), pos):  # a doctype, CDATA, bogus comment
            end = text.find(">", pos)
            if end < 0:
                return -1
            self.scanned += end + 1 - pos
            return end + 1
        return pos  # a lone "<" is text

    def _svg_depth(self, svg: int, closing: str, name: str, end: int) -> int:
        """How deep in svg after a closing tag, or an svg tag ending at C{end}."""
        if closing:
            return svg - 1 if name == "svg" and svg else svg
        return svg + 1 if self.text[end - 2] != "/" else svg

    def _tag_end(self, pos: int) -> int:
        """Where the tag whose attributes start at C{pos} ends (after its ">"), or -1."""
        text = self.text
        while self._step():
            stop = _TAG_STOP.search(text, pos)
            if stop is None:
                self.scanned += len(text) - pos
                return -1
            self.scanned += stop.end() - pos
            if stop.group(1) is None:
                return stop.end()
            close = text.find(stop.group(1), stop.end())
            if close < 0:
                self.scanned += len(text) - stop.end()
                return -1
            self.scanned += close + 1 - stop.end()
            pos = close + 1
        return -1


def find_title(body: bytes, charset: str | None = None) -> str | None:
    """
    The text of an HTML document's first C{<title>}, raw (see
    L{pubbot.links.fetch.clean_text}), or None.
    """
    text = body.decode(choose_encoding(body, charset), errors="replace")
    scan = TitleScan(text)
    title = scan.title()
    if scan.exhausted:
        log.info("page title: gave up after {steps} markup constructs", steps=scan.max_steps)
    return title
