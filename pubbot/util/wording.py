"""Small grammar helpers for replies: possessives, plurals, sentence endings."""

from __future__ import annotations

#: Characters that end a sentence already (a full stop after them would double it).
_ENDINGS = ".!?\u2026"


def possessive(name: str) -> str:
    """C{name}'s, or C{name}' when it ends in s (C{mondays'}, C{James'})."""
    return name + ("'" if name[-1:] in ("s", "S") else "'s")


def plural(count: int, word: str, words: str = "") -> str:
    """C{1 thing}, C{2 things}: C{count} and C{word}, or C{words} (default C{word} + s) when not 1."""
    return "%d %s" % (count, word if count == 1 else (words or word + "s"))


def sentence(text: str, end: str = ".") -> str:
    """C{text} ended with C{end}, unless it ends a sentence already (no C{hot!.})."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in _ENDINGS:
        return stripped
    return stripped + end
