"""
Checks for config keys: C{key(default, check)} calls C{check(value)} with
the value read from the file, which returns None when it is fine or what is
wrong with it, completing "[table] key ..." (one line).

Plugins get these as C{pubbot.api.checks}::

    from pubbot.api import checks, key, section

    @section("weather")
    @dataclass(frozen=True)
    class WeatherSettings:
        days: int = key(3, checks.positive)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

#: A key's check: None when the value is fine, else what is wrong with it.
Check = Callable[[Any], str | None]


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def not_negative(value: Any) -> str | None:
    return None if value >= 0 else "must not be negative"


def chance(value: Any) -> str | None:
    """A probability: from 0 (never) to 1 (always)."""
    return None if 0 <= value <= 1 else "must be from 0 to 1"


def single_line(value: str) -> str | None:
    if any(c in value for c in "\r\n\0"):
        return "must not contain CR, LF or NUL"
    return None


#: Longest values the wire takes (a USER line must fit the 512 bytes of IRC).
MAX_NICK = 64
MAX_CHANNEL = 200
MAX_CHANNEL_KEY = 100


def controls(value: str) -> bool:
    """Does C{value} hold a control character (C0, DEL) or other whitespace than a plain space?"""
    return any(c < " " or c == "\x7f" or (c.isspace() and c != " ") for c in value)


def nick(value: str) -> str | None:
    if (not value or any(c in value for c in " ,*?!@:") or value[0] in "#&$:0123456789-"
            or controls(value) or len(value) > MAX_NICK):
        return "is not a valid nick: %r" % (value,)
    return None


def nicks(values: tuple) -> str | None:
    for v in values:
        problem = nick(v)
        if problem:
            return problem
    return None


def channels(values: tuple) -> str | None:
    for v in values:
        name, space, channel_key = v.partition(" ")
        if (not name or name[0] not in "#&+!" or "," in v or controls(v) or " " in channel_key
                or (space and not channel_key) or channel_key.startswith(":")
                or len(name) > MAX_CHANNEL or len(channel_key) > MAX_CHANNEL_KEY):
            return ("has a bad channel %r (want \"#name\" or \"#name key\": no commas or control characters, "
                    "names of %d characters at most, keys of %d)" % (v, MAX_CHANNEL, MAX_CHANNEL_KEY))
    return None


def endpoint(kinds: tuple[str, ...]) -> Check:
    """An endpoint string of one of C{kinds} (C{tcp}, C{ssl}, ...), or empty."""
    def check(value: str) -> str | None:
        if value and value.split(":", 1)[0] not in kinds:
            return "must be an endpoint string starting with one of %s, not %r" % (
                ", ".join(k + ":" for k in kinds), value)
        return single_line(value)
    return check


def url(schemes: tuple[str, ...]) -> Check:
    """A URL of one of C{schemes} (C{https}, ...), or empty."""
    def check(value: str) -> str | None:
        if value and value.split("://", 1)[0] not in schemes:
            return "must be a URL starting with one of %s" % ", ".join(s + "://" for s in schemes)
        return None
    return check


def one_of(*choices: str) -> Check:
    def check(value: str) -> str | None:
        return None if value in choices else "must be one of %s, not %r" % (", ".join(choices), value)
    return check


def timezone(value: str) -> str | None:
    """An IANA time zone name (C{Europe/Paris}), or empty."""
    if not value:
        return None
    from zoneinfo import ZoneInfo
    try:
        ZoneInfo(value)
    except (ValueError, OSError, KeyError):
        return "is not a known time zone: %r" % (value,)
    return None


def environment(value: str) -> str | None:
    """The name of an environment variable that is set, or empty (for C{..._env} keys)."""
    if value and value not in os.environ:
        return "names %s, which is not set in the environment" % (value,)
    return None


def hosts(values: tuple) -> str | None:
    """Host names (C{*.} for subdomains), IP addresses or CIDR networks."""
    import ipaddress
    import re
    name = re.compile(r"(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                      r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?\Z")
    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
            continue
        except ValueError:
            pass
        try:
            ascii_name = v.encode("idna").decode("ascii")  # IDN host names
        except UnicodeError:
            ascii_name = ""
        if not name.match(ascii_name):
            return "has %r, which is not a host name, IP address or CIDR network" % (v,)
    return None


#: Who may use a command, from least to most ([permissions], pubbot.core.permissions).
LEVELS = ("anyone", "voice", "op", "admin")


def level(value: Any) -> str | None:
    """A permission level (C{anyone}, C{voice}, C{op}, C{admin})."""
    if value not in LEVELS:
        return "must be one of %s, not %r" % (", ".join(LEVELS), value)
    return None
