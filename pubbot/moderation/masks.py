"""Ban masks people give (C{nick!user@host}), and which of them would hit whom."""

from __future__ import annotations

import re

#: A mask given to !ban, !unban, !quiet, at most (characters).
MAX_MASK = 100
_MASK = re.compile(r"[^!@\s]+![^!@\s]+@[^!@\s]+\Z")
_NICK_FIRST_BAD = "#&$:~0123456789-+!"


def mask_problem(mask: str) -> str | None:
    """Why C{mask} cannot be a ban mask (C{nick!user@host}, wildcards allowed), or None."""
    if len(mask) > MAX_MASK:
        return "a mask is at most %d characters" % (MAX_MASK,)
    if any(c < " " or c == "\x7f" or c == "," for c in mask) or mask.startswith(":"):
        return "a mask has no commas or control characters"
    if _MASK.match(mask) is None:
        return "a mask is nick!user@host (* and ? match anything)"
    if all(c in "*?!@" for c in mask):
        return "that mask matches everyone"
    return None


def nick_problem(nick: str) -> str | None:
    """Why C{nick} cannot be a nick, or None."""
    if (not nick or len(nick) > 64 or nick[0] in _NICK_FIRST_BAD
            or any(c in nick for c in " ,*?!@:") or any(c < " " or c == "\x7f" for c in nick)):
        return "%r cannot be a nick" % (nick[:40],)
    return None


def is_mask(text: str) -> bool:
    """Does C{text} look like a mask (rather than a nick)?"""
    return any(c in text for c in "!@*?")


def host_ban(hostmask: str) -> str:
    """The mask banning everyone from C{hostmask}'s host: C{*!*@host}."""
    return "*!*@" + hostmask.rpartition("@")[2]


def glob_match(pattern: str, text: str) -> bool:
    """
    Does the IRC wildcard C{pattern} (C{*} any run, C{?} one character)
    match C{text}, ignoring case? Greedy with one backtrack point: time
    at most the product of the lengths, for any pattern.
    """
    p, t = pattern.lower(), text.lower()
    i = j = 0
    star, mark = -1, 0
    while j < len(t):
        if i < len(p) and (p[i] == "?" or p[i] == t[j]):
            i += 1
            j += 1
        elif i < len(p) and p[i] == "*":
            star, mark = i, j
            i += 1
        elif star >= 0:
            i = star + 1
            mark += 1
            j = mark
        else:
            return False
    while i < len(p) and p[i] == "*":
        i += 1
    return i == len(p)
