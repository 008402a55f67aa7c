"""
Karma: C{thing++} and C{thing--} in chat (C{(two words)++} for more than
one word), C{karma thing}, C{karma top} and C{karma bottom}.

Nobody changes their own karma; each person makes at most L{PER_PERSON}
changes a minute and changes one thing at most once every L{SAME_THING}
seconds. Scores live in the store's C{karma} hash.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred

from pubbot.api import (
    CHAT_LINES,
    Handler,
    Limits,
    RateLimiter,
    command,
    example,
    format_duration,
    one_line,
    patterns,
    person_key,
    possessive,
)

KARMA_KEY = "karma"
MAX_THING = 64
#: Changes counted from one line at most.
PER_LINE = 3
PER_PERSON = (5, 60)
SAME_THING = 600
LIST_LENGTH = 5
#: A change's reply yields to any other reply to the same line.
CHANGE_WEIGHT = -1

#: On Python's re for its lookarounds (RE2 has none, and taking the context into
#: the match would lose changes next to each other, "a++ b++"): its quantifiers
#: are bounded and not nested, so pubbot.util.patterns.bounded proves its work bounded.
_CHANGE = patterns.bounded(
    r"(?:\((?P<group>[^()\r\n]{1,%d})\)|(?<![\w.+-])(?P<word>\w[\w.-]{0,%d}))(?P<op>\+\+|--)(?![\w+-])"
    % (MAX_THING, MAX_THING - 1))
#: What karma checks first (every _CHANGE match has one): the dispatcher
#: calls it only for lines with one of these (see
#: L{pubbot.core.interfaces.IBatchHandler}), so chatter costs it one substring
#: scan a batch.
CHANGE_FILTER = ("++", "--")


def _thing(text: str) -> str:
    return one_line(text).lower().rstrip(".-")


class Karma(Handler):
    """The C{karma} handler: counts C{++} and C{--}; its limits live as long as its bot."""

    def __init__(self):
        super().__init__(self.changes, [CHAT_LINES], name="karma", triggers=("<thing>++", "<thing>--"),
                         content_filter=CHANGE_FILTER)
        self.limits: Limits | None = None
        self.repeats: RateLimiter | None = None

    def start(self, bot) -> None:
        super().start(bot)
        self.limits = Limits(bot.clock, person=PER_PERSON)
        self.repeats = RateLimiter(bot.clock, 1, SAME_THING)

    def stop(self) -> None:
        self.limits = self.repeats = None
        super().stop()

    def changes(self, msg) -> Deferred | None:
        """Gives or takes a point of karma: 'tea++', 'mondays--', '(free coffee)++'."""
        content = msg.fields["content"]
        if "++" not in content and "--" not in content:
            return None
        limits, repeats = self.limits, self.repeats
        if msg.fields.get("private") or limits is None or repeats is None:
            return None
        changes: dict[str, int] = {}
        for found in _CHANGE.finditer(content):
            thing = _thing(found.group("group") or found.group("word"))
            if thing and thing not in changes:
                changes[thing] = 1 if found.group("op") == "++" else -1
                if len(changes) == PER_LINE:
                    break
        if not changes:
            return None
        return Deferred.fromCoroutine(self._apply(msg, changes, limits, repeats))

    @staticmethod
    async def _apply(msg, changes: dict[str, int], limits: Limits, repeats: RateLimiter) -> dict | None:
        source = msg.fields["source"]
        selves = {source.lower(), (msg.fields.get("account") or "").lower()}
        who = person_key(msg)
        done, refusals = [], []
        for thing, amount in changes.items():
            if thing in selves:
                refusals.append("%s: you can't change your own karma!" % (source,))
                continue
            if not repeats.would_allow((who, thing)):
                refusals.append("%s: you can change %s karma again in %s." % (
                    source, possessive(thing), format_duration(repeats.retry_after((who, thing)))))
                continue
            if not limits.allow(who):
                refusals.append("Slow down, %s: karma again in %s." % (
                    source, format_duration(limits.retry_after(who))))
                break
            repeats.record((who, thing))
            score = await msg.bot.store.hincr(KARMA_KEY, thing, amount)
            done.append("%s karma is now %d." % (possessive(thing), score))
        lines = refusals + done
        return {"content": " ".join(lines), "weight": CHANGE_WEIGHT} if lines else None


karma = example("tea++", "tea's karma is now 1.")(Karma())


@command("karma", args=r"(?P<thing>.+)", usage="[<thing>|top|bottom]")
@example("!karma tea", "tea has no karma.")
@example("!karma top", "Nobody has any karma yet.")
async def karma_query(msg, thing=None):
    """Tells a thing's karma, or the best ('karma top') or worst ('karma bottom') five."""
    word = (thing or "top").strip().lower()
    if word in ("top", "best", "bottom", "worst"):
        scores = await msg.bot.store.hgetall(KARMA_KEY)
        worst = word in ("bottom", "worst")
        known = [(s, t) for t, s in scores.items() if isinstance(s, int) and not isinstance(s, bool) and s]
        if not known:
            return {"content": "Nobody has any karma yet."}
        # The best are the positive scores only, the worst the negative ones.
        ranked = sorted(((s, t) for s, t in known if (s < 0 if worst else s > 0)),
                        key=lambda st: (st[0] if worst else -st[0], st[1]))[:LIST_LENGTH]
        if not ranked:
            return {"content": "Nothing has %s karma yet." % ("negative" if worst else "positive",)}
        return {"content": "%s karma: %s." % ("Worst" if worst else "Best",
                                              ", ".join("%s (%d)" % (t, s) for s, t in ranked))}
    name = _thing(word[1:-1] if word.startswith("(") and word.endswith(")") else word)
    if not name or len(name) > MAX_THING:
        return {"content": "Karma is for things of 1 to %d characters." % (MAX_THING,)}
    score = await msg.bot.store.hget(KARMA_KEY, name)
    if not score:
        return {"content": "%s has no karma." % (name,)}
    return {"content": "%s karma is %d." % (possessive(name), score)}
