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

Every command word the bot answers has a L{Guard}: C{@command} makes one,
and a handler that recognises its own lines (natural phrasings, bare
words) holds one per word and says so by providing L{ICommandWords}. The
handler asks its guard, once it knows a line is that command and before
it acts on the arguments (L{Guard.admit}); the guard applies the level
and the rate limits and gives the one standard, rate-limited refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from twisted.logger import Logger

from ..config import checks
from ..config.checks import LEVELS
from ..util.people import is_admin, person_key
from ..util.ratelimit import Limits, RateLimiter
from .interfaces import ICommandWords, IHandler

log = Logger()

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
#: A refusal outranks chatter answering the same line.
REFUSAL_WEIGHT = 10


level_problem = checks.level


def _mark(target: Any, name: str, value: Any) -> Any:
    """
    Set C{name} on the guard of a handler made already (one with a single
    command word), or note it on the function for L{pubbot.api.command}.
    """
    if ICommandWords.providedBy(target):
        guards = target.guards
        if len(guards) != 1:
            raise TypeError("%s answers %d command words: declare each guard's level on the guard"
                            % (target.name, len(guards)))
        setattr(guards[0], name, value)
    elif IHandler.providedBy(target):
        raise TypeError("%s answers no command word (it does not provide ICommandWords)" % (target.name,))
    else:
        setattr(target, "_pubbot_" + name, value)
    return target


#: What L{require} and L{rate} go on (a function, or a handler), returned as it is.
T = TypeVar("T")


def require(level: str) -> Callable[[T], T]:
    """
    Only senders of C{level} (C{"admin"}, C{"op"} or C{"voice"}) may use the
    command; checked before its arguments are read. Others get one short
    answer saying what is needed (at most one a minute each). Goes on a
    C{@command} function, or on a handler with one command word (an
    L{ICommandWords} provider: it sets that word's L{Guard}).
    """
    problem = level_problem(level)
    if problem:
        raise ValueError("require(): the level %s" % (problem,))

    def decorate(target: T) -> T:
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


def rate(user: Any = None, channel: Any = None, per: float = 60.0) -> Callable[[T], T]:
    """
    At most C{user} uses of the command per person and C{channel} per
    channel every C{per} seconds (each may also be C{(count, seconds)}).
    Refused uses are not counted, so the window never grows; the person
    refused hears so once a minute at most.
    """
    spec = (_spec(user, per), _spec(channel, per))
    if spec == (None, None):
        raise ValueError("rate(): give user=, channel= or both")

    def decorate(target: T) -> T:
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
    if bot is None:
        return declared
    return bot.settings.permissions.get(word.lower(), declared)


def refusal_text(msg, word: str, level: str) -> str:
    if level == "admin":
        return "Sorry %s, only admins can use %s." % (msg.fields.get("source"), word)
    channel = msg.fields.get("channel") or "the channel"
    if level != "admin" and msg.fields.get("private"):
        needs = NEEDS[level] % {"channel": "a channel (ask there)"}
    else:
        needs = NEEDS[level] % {"channel": channel}
    return "Sorry %s, %s needs %s." % (msg.fields.get("source"), word, needs)


def guards_of(handlers) -> list[Guard]:
    """The guards of every command word C{handlers} answer (L{ICommandWords}), in order."""
    return [guard for h in handlers if ICommandWords.providedBy(h) for guard in h.guards]


def unenforced(bot) -> list[str]:
    """The words of C{[permissions]} that no loaded command has (so they change nothing)."""
    return unenforced_by(bot.settings.permissions, bot.handlers)


def unenforced_by(permissions, handlers) -> list[str]:
    """The words of C{permissions} (C{[permissions]}) that none of C{handlers} answers."""
    checked = {guard.word for guard in guards_of(handlers)}
    return sorted(word for word in permissions if word.lower() not in checked)


class Answers:
    """Rate limits of a command's own answers (refusals, usage, slow down): one per person a minute."""

    def __init__(self, clock) -> None:
        self._limiter = RateLimiter(clock, 1, ANSWER_WINDOW)

    def allow(self, msg, kind: str) -> bool:
        return self._limiter.allow((kind, person_key(msg)))


@dataclass(frozen=True)
class Refusal:
    """A line its sender may not use (now): C{answer} is what to say, or None when told already."""

    answer: dict | None


class Guard:
    """
    Who may use the command C{word} and how often: the level it declares
    (C{requirement}: C{anyone}, C{voice}, C{op} or C{admin}; L{require}
    sets it, C{[permissions]} overrides it) and its rate limits
    (C{rate_spec}, from L{rate}). C{refusal}, when given, is what admins-only
    refusals say (C{%(nick)s} and C{%(command)s} filled in).

    A handler calls L{admit} (or L{refuse}, then L{throttle}) for a line it
    knows is this command, before it reads the arguments; it starts and
    stops the guard with itself.
    """

    def __init__(self, word: str, requirement: str = "anyone", rate_spec: tuple | None = None,
                 refusal: str | None = None):
        problem = level_problem(requirement)
        if problem:
            raise ValueError("Guard(): the level %s" % (problem,))
        #: The command word as C{[permissions]} names it (lower case; it may have spaces: "feed add").
        self.word = word.lower()
        #: The word as shown in answers.
        self.shown = word
        self.requirement = requirement
        self.rate_spec = rate_spec
        self.refusal = refusal
        self._answers: Answers | None = None
        self._limits: Limits | None = None

    def start(self, clock) -> None:
        self._answers = Answers(clock)
        self._limits = make_limits(clock, self.rate_spec)

    def stop(self) -> None:
        self._answers = None
        self._limits = None

    def level(self, bot) -> str:
        """The level the command needs now: C{[permissions]}'s, else the declared one."""
        return effective_level(bot, self.word, self.requirement)

    def may_answer(self, msg, kind: str) -> bool:
        """May the command answer C{msg}'s sender with a C{kind} answer (one a minute each)?"""
        answers = self._answers
        return answers is None or answers.allow(msg, kind + " " + self.word)

    def refuse(self, msg) -> Refusal | None:
        """None when the sender of C{msg} may use the command; else the L{Refusal}."""
        level = self.level(msg.bot)
        if level == "anyone" or allowed(msg, level):
            return None
        source = msg.fields.get("source")
        log.info("{source} may not use {command}: needs {needed}", source=source, command=self.shown,
                 needed=level)
        if not self.may_answer(msg, "refused"):
            return Refusal(None)
        if self.refusal and level == "admin":
            content = self.refusal % {"nick": source, "command": self.shown}
        else:
            content = refusal_text(msg, self.shown, level)
        return Refusal({"content": content, "weight": REFUSAL_WEIGHT})

    def throttle(self, msg) -> Refusal | None:
        """None when C{msg} is within the command's rate limits (and counted); else the L{Refusal}."""
        limits = self._limits
        if limits is None:
            return None
        fields = msg.fields
        person, place = person_key(msg), (fields.get("network"), fields.get("channel"))
        if limits.allow(person, place):
            return None
        if not self.may_answer(msg, "slow"):
            return Refusal(None)
        wait = max(1, int(limits.retry_after(person, place) + 0.999))
        source = fields.get("source")
        return Refusal({"content": "%s: slow down; %s again in %ds." % (source, self.shown, wait)})

    def admit(self, msg) -> Refusal | None:
        """L{refuse}, then L{throttle}: None when the command may go ahead."""
        refused = self.refuse(msg)
        return refused if refused is not None else self.throttle(msg)

    def __repr__(self) -> str:
        return "<Guard %s: %s>" % (self.word, self.requirement)
