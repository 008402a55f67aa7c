"""
One clean line of chat text, whatever came in: what a reply, a stored
phrase, a page title or a track tag may put on the wire.

- L{one_line}: control characters become spaces, runs of space one; IRC
  formatting (bold, colours...) is kept: for text people taught the bot.
- L{clean_text}: every control character (IRC formatting too) becomes a
  space and invisible characters (format, surrogate, private, unassigned)
  are dropped, cut with an ellipsis: for text from outside (web pages,
  music players).
- L{fill}: a taught template's C{%(name)s} placeholders, never raising.
"""

from __future__ import annotations

import re
import unicodedata

from . import patterns

# Every pattern chat text reaches runs on RE2 (pubbot.util.patterns): linear in the line.
# Names are ASCII (nick, channel): a non-ASCII one is unknown, so kept as written either way.
_PLACEHOLDER = patterns.linear(r"%(?:\((\w{1,32})\)s|%)", re.ASCII)
# C0/C1 controls except IRC formatting (bold, colours, reset, monospace, reverse,
# italic, strike-through, underline), plus Unicode line and paragraph separators.
# One character class: Python's re takes one step a character (patterns.bounded
# proves it), and its sub costs a fifth of RE2's call overhead on every quote.
_CONTROLS = patterns.bounded(r"[\x00\x01\x05-\x0e\x10\x12-\x15\x17-\x1c\x7f-\x9f\u2028\u2029]")


_DROPPED = frozenset(("Cf", "Cs", "Co", "Cn"))


def clean_text(text: str, limit: int = 200) -> str:
    """
    Text safe for one chat line: control characters turned to spaces, format
    (bidi, zero-width) and unassigned characters dropped, whitespace
    collapsed, at most C{limit} characters (cut with an ellipsis).
    """
    out = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc":
            out.append(" ")
        elif category not in _DROPPED:
            out.append(ch)
    cleaned = " ".join("".join(out).split())
    if len(cleaned) > limit:
        cleaned = cleaned[:limit - 1].rstrip() + "\u2026"
    return cleaned


def fill(template: str, values: dict) -> str:
    """
    C{template} with each C{%(name)s} whose name is in C{values} replaced
    and C{%%} made C{%}. Anything else (C{%s}, C{%d}, C{%(unknown)s}, a lone
    C{%}) is kept as written: it never raises.
    """
    if "%" not in template:
        return template

    def replace(m) -> str:
        name = m.group(1)
        if name is None:
            return "%"
        value = values.get(name)
        return m.group(0) if value is None else str(value)

    return _PLACEHOLDER.sub(replace, template)


def one_line(text: str, limit: int | None = None) -> str:
    """C{text} on one line: control characters (but IRC formatting) and runs of space made one space."""
    if limit is not None:
        text = text[:limit * 2]
    text = " ".join(_CONTROLS.sub(" ", text).split())
    return text if limit is None else text[:limit].rstrip(" ")
