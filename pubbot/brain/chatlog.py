"""
Chat lines from IRC client logs, for teaching the brain offline.

Two formats are understood, line by line (a file may even mix them):

- irssi: C{12:34 <@nick> text} (any timestamp of digits and C{:-/.[]T},
  the nick's mode character optional); C{---} and C{-!-} lines, actions
  (C{ * nick waves}) and anything else are not chat and are skipped.
- WeeChat: C{2013-05-01 12:34:56<TAB>nick<TAB>text}, the nick maybe with a
  mode character; join/part/quit (C{-->}, C{<--}), network (C{--}), action
  (C{*}) and error (C{=!=}) lines are skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

_IRSSI = re.compile(r"(?P<time>[\d:\-/.\[\]T ]*?)\s*<[ @%+~&!]?(?P<nick>[^\s<>]+)> ?(?P<text>.*)\Z")
_WEECHAT_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d)?\Z")
_NICK = re.compile(r"[A-Za-z\[\]\\`_^{|}][A-Za-z0-9\[\]\\`_^{|}\-]*\Z")
_MODES = "@%+~&!"


class ChatLine(NamedTuple):
    nick: str
    text: str


def decode(raw: bytes) -> str:
    """A log line's text: UTF-8, else Windows-1252 (old logs mix both)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def parse_line(line: str) -> ChatLine | None:
    """The nick and text of a chat line from an irssi or WeeChat log, or None."""
    line = line.rstrip("\r\n")
    if "\t" in line:
        parts = line.split("\t", 2)
        if len(parts) == 3 and _WEECHAT_TIME.match(parts[0].strip()):
            nick = parts[1].strip().lstrip(_MODES)
            if not _NICK.match(nick):
                return None
            return ChatLine(nick, parts[2])
    found = _IRSSI.match(line)
    if found is None or not _NICK.match(found.group("nick")):
        return None
    return ChatLine(found.group("nick"), found.group("text"))


def addressee(text: str) -> str | None:
    """The nick a line is addressed to (C{nick: hi}, C{nick, hi}), or None."""
    head, sep, _ = text.partition(" ")
    if len(head) > 1 and head[-1] in ":," and _NICK.match(head[:-1]):
        return head[:-1]
    return None


@dataclass
class Tally:
    """What reading a log found: lines, chat lines, chat lines skipped."""

    lines: int = 0
    chat: int = 0
    skipped: int = 0


def chatter(raw_lines: Iterable[bytes], bots: Iterable[str], command_prefix: str = "!",
            tally: Tally | None = None) -> Iterator[str]:
    """
    The chatter in a log worth learning: chat lines neither said by nor
    addressed to one of C{bots}, nor commands. C{tally} counts as it goes.
    """
    ignore = {b.lower() for b in bots}
    if tally is None:
        tally = Tally()
    for raw in raw_lines:
        tally.lines += 1
        parsed = parse_line(decode(raw))
        if parsed is None:
            continue
        tally.chat += 1
        text = parsed.text.strip()
        to = addressee(text)
        if (not text or parsed.nick.lower() in ignore or (to is not None and to.lower() in ignore)
                or (command_prefix and text.startswith(command_prefix))):
            tally.skipped += 1
            continue
        yield text
