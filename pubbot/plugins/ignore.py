"""
The ignore list (admins): C{!ignore add <account|nick!user@host> [duration]
[reason]}, C{!ignore del <account|mask>}, C{!ignore list}. An ignored
sender's lines reach no handler, but an admin's admin commands; lines with
the IRCv3 C{bot} tag and from C{[ignore] bots} are ignored too (see
L{pubbot.ignore}).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from pubbot.api import Handler, checks, command, format_duration, key, one_line, patterns, section
from pubbot.ignore import MAX_REASON, Gate, IgnoreList, mask_problem, scope_of
from pubbot.ignore.durations import parse_duration


@section("ignore")
@dataclass(frozen=True)
class IgnoreSettings:
    bots: tuple[str, ...] = key([], checks.nicks)  # nicks of other bots: never answered
    bot_tag: bool = key(True)  # lines with the IRCv3 bot tag are ignored
    max_entries: int = key(200, checks.positive)

#: Entries !ignore list shows, at most.
LISTED = 10
#: A word meant as a duration (digits and units) that may not be a valid one: never taken as a reason.
_LOOKS_LIKE_DURATION = patterns.linear(r"(?i)[0-9]+[smhdw](?:[0-9]+[smhdw])*\Z")

_gates: WeakKeyDictionary = WeakKeyDictionary()


class IgnoreGate(Handler):
    """Puts the ignore list's gate in front of the bot's handlers while the bot runs."""

    def __init__(self) -> None:
        super().__init__(lambda msg: None, (), name="ignore-gate", description="")

    def start(self, bot) -> None:
        super().start(bot)
        gate = _gates[bot] = Gate(bot, bot.settings.ignore)
        bot.dispatcher.gate = gate
        gate.start()

    def stop(self) -> None:
        bot = self.bot
        if bot is not None:
            gate = _gates.pop(bot, None)
            if gate is not None:
                gate.stop()
                if bot.dispatcher.gate is gate:
                    bot.dispatcher.gate = None
        super().stop()


ignore_gate = IgnoreGate()


def _refresh(bot: Any) -> None:
    gate = _gates.get(bot)
    if gate is not None:
        gate.refresh(force=True)


def _usage(msg) -> dict:
    return {"content": "Usage: %signore add <account|nick!user@host> [duration] [reason] | "
                       "del <account|mask> | list" % (msg.bot.command_prefix(msg.network),)}


@command("ignore", args=r"(?P<rest>.*)", admin=True,
         usage="add <account|nick!user@host> [duration] [reason] | del | list")
async def ignore(msg, rest=""):
    """Keeps the bot from answering someone (admins)."""
    words = (rest or "").split(None, 2)
    if not words:
        return _usage(msg)
    action = words[0].lower()
    entries = IgnoreList(msg.bot, msg.bot.settings.ignore.max_entries, scope_of(msg))
    if action == "list" and len(words) == 1:
        found = await entries.entries()
        if not found:
            return {"content": "Nobody is ignored."}
        now = msg.bot.clock.seconds()
        shown = []
        for e in found[:LISTED]:
            until = e.get("until")
            left = "" if until is None else ", %s left" % (format_duration(until - now),)
            why = ": %s" % (e["reason"],) if e.get("reason") else ""
            shown.append("%s (by %s%s%s)" % (e.get("mask"), e.get("by"), left, why))
        more = " and %d more" % (len(found) - LISTED,) if len(found) > LISTED else ""
        return {"content": "Ignored (%d): %s%s." % (len(found), "; ".join(shown), more)}
    if action in ("del", "remove", "rm") and len(words) == 2:
        if await entries.remove(words[1]):
            _refresh(msg.bot)
            return {"content": "No longer ignoring %s." % (one_line(words[1], 64),)}
        return {"content": "%s is not on the ignore list." % (one_line(words[1], 64),)}
    if action != "add" or len(words) < 2:
        return _usage(msg)
    mask = words[1]
    problem = mask_problem(mask)
    if problem:
        return {"content": "%s: %s." % (msg.source, problem)}
    tail = words[2] if len(words) > 2 else ""
    first, _, reason = tail.partition(" ")
    seconds = parse_duration(first) if first else None
    if seconds is None and _LOOKS_LIKE_DURATION.match(first):
        return {"content": "%s: a duration is like 30m, 12h or 7d, at most a year; %s is not one." % (
            msg.source, one_line(first, 40))}
    if seconds is None:
        reason = tail
    reason = one_line(reason, MAX_REASON)
    refusal = await entries.add(mask, msg.source, seconds, reason)
    if refusal:
        return {"content": refusal}
    _refresh(msg.bot)
    return {"content": "Ignoring %s%s." % (mask, " for %s" % (format_duration(seconds),) if seconds else "")}
