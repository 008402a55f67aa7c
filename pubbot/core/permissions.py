"""
Who may use a command (L{require}) and how often (L{rate}).

Levels, lowest first: C{anyone}, C{voice}, C{op}, C{admin}. Admins come
from C{[plugins] admins} (L{pubbot.util.people.is_admin}); C{op} and
C{voice} from the sender's live modes in the channel the line was said in,
which the chat service reports (C{modes(channel, nick)}: mode letters such
as C{"ov"}; see L{pubbot.core.bot.Bot.modes}). Each level passes the ones
below it: an admin may do what an op may, an op what a voiced user may.
C{[permissions]} in the config sets any command's level by its word
(C{forget = "op"}), raising or lowering what the plugin declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..config import checks
from ..config.checks import LEVELS
from ..util.people import is_admin, person_key
from ..util.ratelimit import Limits, RateLimiter

#: The levels, lowest first.
_RANK = {level: i for i, level in enumerate(LEVELS)}
#: Channel mode letters giving each level (owner, admin, op; halfop, voice).
OP_MODES = frozenset("qao")
VOICE_MODES = frozenset("hv")
#: How the refusals name each level.
NEEDS = {"voice": "voice (+v) or ops in %(channel)s", "op": "ops (+o) in %(channel)s",
         "admin": "to be a bot admin"}
#: One refusal, usage line or slow-down answer per person and command in this many seconds.
ANSWER_WINDOW = 60.0


level_problem = checks.level


def _mark(target: Any, name: str, value: Any) -> Any:
    """Set C{name} on a handler made already, or note it on the function for L{pubbot.api.command}."""
    if hasattr(target, "func") and hasattr(target, "subscriptions"):  # a Handler
        setattr(target, name, value)
        declare = getattr(target, "declared", None)
        if callable(declare):
            declare()
    else:
        setattr(target, "_pubbot_" + name, value)
    return target


def require(level: str) -> Callable[[Any], Any]:
    """
    Only senders of C{level} (C{"admin"}, C{"op"} or C{"voice"}) may use the
    command; checked before its arguments are read. Others get one short
    answer saying what is needed (at most one a minute each).
    """
    problem = level_problem(level)
    if problem:
        raise ValueError("require(): the level %s" % (problem,))

    def decorate(target: Any) -> Any:
        return _mark(target, "requirement", level)

    return decorate


def _spec(value: Any, per: float) -> tuple[int, float] | None:
    if value is None:
        return None
    if isinstance(value, tuple):
        count, seconds = value
    else:
        count, seconds = value, per
    if isinstance(count, bool) or not isinstance(count, int) or count < 1 or seconds <= 0:
        raise ValueError("rate(): a limit is a count >= 1 (or (count, seconds)), not %r" % (value,))
    return (count, float(seconds))


def rate(user: Any = None, channel: Any = None, per: float = 60.0) -> Callable[[Any], Any]:
    """
    At most C{user} uses of the command per person and C{channel} per
    channel every C{per} seconds (each may also be C{(count, seconds)}).
    Refused uses are not counted, so the window never grows; the person
    refused hears so once a minute at most.
    """
    spec = (_spec(user, per), _spec(channel, per))
    if spec == (None, None):
        raise ValueError("rate(): give user=, channel= or both")

    def decorate(target: Any) -> Any:
        return _mark(target, "rate_spec", spec)

    return decorate


def make_limits(clock, spec: tuple | None) -> Limits | None:
    """The L{Limits} of a L{rate} declaration, or None."""
    if spec is None:
        return None
    user, channel = spec
    return Limits(clock, person=user, channel=channel)


def sender_level(msg) -> str:
    """The highest level the sender of C{msg} has where they said it."""
    if is_admin(msg):
        return "admin"
    fields = msg.fields
    if fields.get("private"):
        return "anyone"
    bot = msg.bot
    modes_of = getattr(bot, "modes", None)
    if modes_of is None:
        return "anyone"
    modes = set(modes_of(fields.get("network"), fields.get("channel"), fields.get("source")) or "")
    if modes & OP_MODES:
        return "op"
    if modes & VOICE_MODES:
        return "voice"
    return "anyone"


def allowed(msg, level: str) -> bool:
    """May the sender of C{msg} use a command needing C{level}?"""
    if level == "anyone":
        return True
    if level == "admin":
        return is_admin(msg)
    return _RANK[sender_level(msg)] >= _RANK[level]


def effective_level(bot, word: str, declared: str) -> str:
    """C{[permissions]}'s level for the command C{word}, else what it declared."""
    table = getattr(getattr(bot, "settings", None), "permissions", None) or {}
    return table.get(word.lower(), declared) if bot is not None else declared


def refusal_text(msg, word: str, level: str) -> str:
    if level == "admin":
        return "Sorry %s, only admins can use %s." % (msg.fields.get("source"), word)
    channel = msg.fields.get("channel") or "the channel"
    if level != "admin" and msg.fields.get("private"):
        needs = NEEDS[level] % {"channel": "a channel (ask there)"}
    else:
        needs = NEEDS[level] % {"channel": channel}
    return "Sorry %s, %s needs %s." % (msg.fields.get("source"), word, needs)


def unenforced(bot) -> list[str]:
    """
    The words of C{[permissions]} that no loaded command checks: no
    command has that word, or the one that has is not made by
    C{@command} (it checks its own callers).
    """
    table = getattr(bot.settings, "permissions", None) or {}
    checked = {getattr(h, "command_word", None) for h in bot.handlers if hasattr(h, "requirement")}
    return sorted(word for word in table if word not in checked)


class Answers:
    """Rate limits of a command's own answers (refusals, usage, slow down): one per person a minute."""

    def __init__(self, clock) -> None:
        self._limiter = RateLimiter(clock, 1, ANSWER_WINDOW)

    def allow(self, msg, kind: str) -> bool:
        return self._limiter.allow((kind, person_key(msg)))
