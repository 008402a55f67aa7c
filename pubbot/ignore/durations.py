"""Durations people type: C{90s}, C{10m}, C{2h30m}, C{1d}, C{1w}."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(?:(\d{1,6})([smhdw]))+\Z", re.ASCII)
_PART = re.compile(r"(\d{1,6})([smhdw])", re.ASCII)
#: The longest duration taken (a year).
MOST = 366 * 86400


def parse_duration(text: str, most: float = MOST) -> float | None:
    """
    The seconds C{text} says (units s, m, h, d, w, run together, any case:
    C{2h30m}), or None when it is not a duration, is zero or is longer
    than C{most}.
    """
    text = text.strip().lower()
    if not text or len(text) > 32 or _DURATION.match(text) is None:
        return None
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(text))
    if seconds <= 0 or seconds > most:
        return None
    return float(seconds)
