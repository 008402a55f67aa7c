"""The small ones from the original: C{blame} and the C{christmas} countdown."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from pubbot.api import (
    CHAT_LINES,
    Handler,
    RateLimiter,
    checks,
    command,
    example,
    key,
    patterns,
    possessive,
    section,
)


@section("fun")
@dataclass(frozen=True)
class FunSettings:
    """[fun]: the time zone of the dates the fun commands give."""

    timezone: str = key("", checks.timezone)


#: Mentions of Christmas are answered this many days before it, at most.
SEASON_DAYS = 60
#: ...and at most once per channel in this many seconds.
MENTION_WINDOW = 6 * 60 * 60

#: "christmas", any case (Python's case folding: C{\u017f} is an s); L{mentioned} checks
#: that it stands as a word. (The whole test as one pattern, C{(?:\A|\W)christmas(?:\W|\Z)},
#: holds Python's Unicode C{\W} twice: RE2 compiles that to ~1 MB of program, for a test
#: run only on the few lines that mention Christmas.)
_CHRISTMAS = patterns.linear("christmas", re.IGNORECASE)
#: What christmas-mentions checks first, case-sensitively: the dispatcher
#: calls it only for lines with one of these (see
#: L{pubbot.core.interfaces.IBatchHandler}), so chatter costs it one substring
#: scan a batch.
MENTION_FILTER = ("hristmas", "HRISTMAS")


@command("blame")
@example("!blame", "It's all ... fault...")
def blame(msg):
    """Finds someone in the channel to blame."""
    me = msg.bot.nick(msg.network).lower()
    nicks = [] if msg.private else sorted(
        n for n in msg.bot.roster(msg.network, msg.channel) if n and n.lower() != me)
    if not nicks:
        return {"content": "It's all my fault!"}
    nick = msg.bot.random.choice(nicks)
    if nick.lower() == "you":  # the console room's user (or a nick like it): never "you's"
        return {"content": "It's all your fault!"}
    if nick.lower() != msg.source.lower():
        return {"content": "It's all %s fault!" % (possessive(nick),)}
    return {"content": "It's all your fault, %s!" % (nick,)}  # the one who asked


def _word_character(c: str) -> bool:
    """Python's C{\\w} for one character (as re reads it: alphanumeric or underscore)."""
    return c.isalnum() or c == "_"


def mentioned(text: str) -> bool:
    """Whether "christmas" (any case) is a word of C{text}: between non-word characters or the ends."""
    for found in _CHRISTMAS.finditer(text):
        start, end = found.span()
        if (start == 0 or not _word_character(text[start - 1])) and (
                end == len(text) or not _word_character(text[end])):
            return True
    return False


def today(bot) -> date:
    """The date on the bot's clock, in C{[fun] timezone} (the host's when empty)."""
    zone = bot.settings.fun.timezone
    now = bot.clock.seconds()
    return (datetime.fromtimestamp(now, ZoneInfo(zone)) if zone else datetime.fromtimestamp(now)).date()


def days_until_christmas(day: date) -> int:
    christmas = date(day.year, 12, 25)
    if day > christmas:
        christmas = date(day.year + 1, 12, 25)
    return (christmas - day).days


def _countdown(days: int) -> str:
    if days == 0:
        return "It's Christmas! \\o/"
    return "Only %d day%s 'til Christmas!" % (days, "" if days == 1 else "s")


@command("christmas")
@example("!christmas", "Only ... 'til Christmas!")
def christmas(msg):
    """Counts the days until Christmas."""
    return {"content": _countdown(days_until_christmas(today(msg.bot)))}


class ChristmasMentions(Handler):
    """The C{christmas-mentions} handler: mentions of Christmas in season get the countdown."""

    def __init__(self):
        super().__init__(self.mention, [CHAT_LINES], name="christmas-mentions",
                         description="Says how long until Christmas when it is mentioned in the "
                                     "%d days before (once every few hours)." % (SEASON_DAYS,),
                         triggers=("(christmas mentioned)",), content_filter=MENTION_FILTER)
        self.limiter: RateLimiter | None = None

    def start(self, bot) -> None:
        super().start(bot)
        self.limiter = RateLimiter(bot.clock, 1, MENTION_WINDOW)

    def stop(self) -> None:
        self.limiter = None
        super().stop()

    def mention(self, msg) -> dict | None:
        content = msg.fields["content"]
        if "hristmas" not in content and "HRISTMAS" not in content:
            return None
        if msg.fields.get("command") is not None or self.limiter is None:
            return None
        if not mentioned(content):
            return None
        days = days_until_christmas(today(msg.bot))
        if days > SEASON_DAYS:
            return None
        if not self.limiter.allow((msg.fields["network"], msg.fields["channel"])):
            return None
        return {"content": _countdown(days), "weight": -1}


christmas_mentions = ChristmasMentions()
