"""
Text on the IRC wire: decoding what arrives, sanitising and splitting what leaves.

IRC has no declared encoding. Lines are decoded as UTF-8 and, when that fails,
as Windows-1252 with the five bytes it leaves undefined read as Latin-1, per
line: any byte sequence decodes, nothing raises.

Outgoing text never carries CR, LF or NUL (they would end or corrupt the
line), and is split by UTF-8 *bytes*, never inside a character, preferring
to break after a space.
"""

from __future__ import annotations

import codecs
import re

_FALLBACK_ERRORS = "pubbot-latin1"


def _latin1_errors(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start:error.end].decode("latin-1"), error.end


codecs.register_error(_FALLBACK_ERRORS, _latin1_errors)


def decode(raw: bytes) -> str:
    """Decode one line: UTF-8, else CP1252 with Latin-1 for its undefined bytes."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", _FALLBACK_ERRORS)


#: IRC's formatting codes: bold, colour, hex colour, reset, monospace,
#: reverse, italic, strike-through, underline. They pass.
FORMATTING = frozenset("\x02\x03\x04\x0f\x11\x16\x1d\x1e\x1f")
#: Characters that can never reach the wire inside a line: every other C0
#: and C1 control and DEL (a bell, a terminal escape), a tab as a space.
#: \x01 is among them so text cannot smuggle a CTCP request; actions are
#: built by the service.
_STRIP: dict[int, str | None] = {
    c: None for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if chr(c) not in FORMATTING}
_STRIP[9] = " "
_NEWLINES = re.compile(r"\r\n|\r|\n")


def sanitise(text: str) -> str:
    """One line of text without control characters but IRC's formatting (see L{_STRIP})."""
    return text.translate(_STRIP)


def split_lines(text: str) -> list[str]:
    """Split C{text} on any newline into sanitised lines, dropping blank ones."""
    out = []
    for line in _NEWLINES.split(text):
        line = line.translate(_STRIP)
        if line.strip():
            out.append(line)
    return out


def split_bytes(data: bytes, limit: int) -> list[bytes]:
    """
    Split UTF-8 C{data} into pieces of at most C{limit} bytes, never inside
    a character, breaking after the last space in a piece when there is one
    in its second half. The pieces joined are C{data}.
    """
    if limit < 4:
        raise ValueError("limit must allow a whole UTF-8 character (>= 4 bytes)")
    pieces = []
    start = 0
    end_all = len(data)
    while end_all - start > limit:
        cut = start + limit
        # Back up off continuation bytes (0b10xxxxxx) to a character start.
        while data[cut] & 0xC0 == 0x80:
            cut -= 1
        space = data.rfind(b" ", start + limit // 2, cut)
        if space >= 0:
            cut = space + 1
        pieces.append(data[start:cut])
        start = cut
    pieces.append(data[start:])
    return pieces


def split_text(text: str, limit: int) -> list[str]:
    """
    L{split_bytes} for a str: pieces whose UTF-8 encoding fits C{limit}
    bytes. Lone surrogates (undecodable input) become "?".
    """
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return [text]
    return [piece.decode("utf-8", "replace") for piece in split_bytes(data, limit)]
