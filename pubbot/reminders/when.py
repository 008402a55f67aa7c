"""
When a reminder is due, from what people type: C{in 2h30m}, C{in 10
minutes}, C{in 1 day 3 hours}, C{at 09:55} (the next 09:55 in the
person's time zone), C{tomorrow at 9}. At most L{MAX_AHEAD} ahead.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ..util import patterns

#: The furthest ahead a reminder may be set.
MAX_AHEAD = 366 * 86400.0

_UNITS = {"d": 86400, "day": 86400, "days": 86400, "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600,
          "hours": 3600, "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60, "s": 1, "sec": 1,
          "secs": 1, "second": 1, "seconds": 1, "w": 604800, "week": 604800, "weeks": 604800}
# At most six parts of at most five digits each; a unit ends at a space or the end.
_PART = r"(\d{1,5}) ?(weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)"
# Chat text reaches these: RE2 where it can run them, else proven bounded (see pubbot.util.patterns).
_IN = patterns.linear(r"in (%s(?:(?: ?, ?| and | )?%s){0,5})" % (_PART, _PART), re.IGNORECASE | re.ASCII)
_PARTS = patterns.linear(_PART, re.IGNORECASE | re.ASCII)
_AT = patterns.linear(r"(?:(tomorrow) )?at (\d{1,2})(?::(\d{2}))? ?(am|pm)?(?: |$)", re.IGNORECASE)


class WhenError(ValueError):
    """Not a time this understands, or too far ahead."""


def parse_when(text: str, now: float, zone: ZoneInfo) -> tuple[float, str]:
    """
    The due time (epoch seconds) at the start of C{text}, and the rest of
    the text (the reminder itself). Raises L{WhenError}.
    """
    text = " ".join(text.split())
    found = _IN.match(text)
    if found is not None and text[found.end():found.end() + 1] not in ("", " "):
        found = None  # "in 5 mangoes": a unit must end a word
    if found is not None:
        seconds = sum(int(n) * _UNITS[unit.lower()] for n, unit in _PARTS.findall(found.group(1)))
        rest = text[found.end():].strip()
        due = now + seconds
    else:
        found = _AT.match(text)
        if found is None:
            raise WhenError("say when: 'in 2h30m', 'in 10 minutes', 'at 09:55' or 'tomorrow at 9am'")
        tomorrow, hour_text, minute_text, half = found.groups()
        hour, minute = int(hour_text), int(minute_text or 0)
        if half:
            if not 1 <= hour <= 12:
                raise WhenError("%d%s is not an hour" % (hour, half))
            hour = hour % 12 + (12 if half.lower() == "pm" else 0)
        if hour > 23 or minute > 59:
            raise WhenError("%02d:%02d is not a time of day" % (hour, minute))
        local = datetime.fromtimestamp(now, zone)
        target = local.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if tomorrow or target.timestamp() <= now:
            target += timedelta(days=1)
        due = target.timestamp()
        rest = text[found.end():].strip()
    if due <= now:
        raise WhenError("that is now; say a time ahead")
    if due - now > MAX_AHEAD:
        raise WhenError("that is more than a year ahead")
    if rest.lower().startswith(("to ", "that ")):
        rest = rest.split(" ", 1)[1]
    if not rest:
        raise WhenError("remind you of what? say it after the time")
    return due, rest


def zone_of(name: str | None, default: str = "UTC") -> ZoneInfo:
    """The zone C{name} (else C{default}, else UTC)."""
    for candidate in (name, default, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ValueError, OSError, KeyError):
                continue
    return ZoneInfo("UTC")
