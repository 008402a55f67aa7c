"""
Moderation from chat, for channel ops (and admins): C{!kick nick
[reason]}, C{!ban nick|mask [duration]}, C{!unban nick|mask}, C{!quiet
nick|mask}, C{!unquiet nick|mask}, C{!topic text}, C{!op}, C{!deop},
C{!voice}, C{!devoice} C{[nick]}, C{!bans} (the timed bans). Said in the
channel to moderate.

The bot needs ops there itself (it says so when it has none), unless
C{[moderation] chanserv} is on: then it asks ChanServ (C{KICK #chan nick
reason}, C{BAN}, C{QUIET}...), which must give it access. A nick given to
C{!ban} or C{!quiet} becomes C{*!*@host} when its host is known. A timed
ban (C{!ban troll 1h}) is kept in the store and lifted by a job, after a
restart too; C{[moderation] max_timed_bans} bound them per channel.
C{!quiet} uses the server's quiet mode (C{+q}, or a mute extended ban,
from ISUPPORT). C{[permissions]} may change who may use each command.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pubbot.api import (
    checks,
    command,
    every,
    example,
    format_duration,
    key,
    one_line,
    plural,
    require,
    section,
)
from pubbot.moderation import (
    NO_QUIET,
    Action,
    Moderator,
    TimedBans,
    glob_match,
    host_ban,
    is_mask,
    mask_problem,
    nick_problem,
    parse_duration,
)

#: Kick reasons and topics, at most (the connection cuts them to the server's limits too).
MAX_TEXT = 390
#: Timed bans C{!bans} names, at most (the rest are counted).
LIST_BANS = 10


def duration_check(value: str) -> str | None:
    if value and parse_duration(value) is None:
        return "is not a duration such as 30m, 12h or 7d (at most a year): %r" % (value[:40],)
    return None


@section("moderation")
@dataclass(frozen=True)
class ModerationSettings:
    chanserv: bool = key(False)  # moderate through ChanServ instead of the bot's own ops
    chanserv_nick: str = key("ChanServ", checks.nick)
    ban_duration: str = key("", duration_check)  # a !ban without a duration lasts this long ("": for good)
    longest_ban: str = key("30d", duration_check)  # the longest timed ban
    max_timed_bans: int = key(50, checks.positive)  # timed bans per channel, at most


def _usage(msg, text: str) -> dict:
    return {"content": "Usage: %s%s" % (msg.bot.command_prefix(msg.network), text)}


def _moderator(msg) -> Moderator:
    return Moderator(msg.bot, msg.bot.settings.moderation)


def _refusal(msg, moderator: Moderator) -> dict | None:
    """Why the bot will not moderate where C{msg} was said, as an answer; or None."""
    if msg.private:
        return {"content": "%s: say that in the channel to moderate." % (msg.source,)}
    problem = moderator.problem(msg.network, msg.channel)
    return {"content": problem} if problem else None


def _is_me(msg, nick: str) -> bool:
    return nick.lower() == msg.bot.nick(msg.network).lower()


def _absent(msg, nick: str) -> dict | None:
    """An answer when the channel's roster is known and C{nick} is not in it."""
    roster = msg.bot.roster(msg.network, msg.channel)
    if roster and nick.lower() not in {n.lower() for n in roster}:
        return {"content": "%s: %s is not in %s." % (msg.source, nick, msg.channel)}
    return None


async def _do(msg, moderator: Moderator, action: Action, done: str | None = None) -> dict | None:
    problem = await moderator.perform(msg.network, action)
    if problem:
        return {"content": problem}
    return {"content": done} if done else None


def _mask(msg, moderator: Moderator, target: str, lifting: bool = False) -> tuple[str | None, dict | None]:
    """
    C{(mask, None)} for a nick or mask given, or C{(None, answer)} when it
    will not do: a ban or quiet (not C{lifting} one) never hits the bot.
    """
    if is_mask(target):
        problem = mask_problem(target)
        if problem:
            return None, {"content": "%s: %s." % (msg.source, problem)}
        me = moderator.hostmask_of(msg.network, msg.bot.nick(msg.network))
        if me and not lifting and glob_match(target, me):
            return None, {"content": "%s: %s matches me." % (msg.source, target)}
        return target, None
    problem = nick_problem(target)
    if problem:
        return None, {"content": "%s: %s; give a nick or a mask (nick!user@host)." % (msg.source, problem)}
    if _is_me(msg, target) and not lifting:
        return None, {"content": "%s: not me." % (msg.source,)}
    hostmask = moderator.hostmask_of(msg.network, target)
    if hostmask:
        return host_ban(hostmask), None
    if moderator.settings.chanserv:
        return target, None  # ChanServ finds the nick's host itself
    return None, {"content": "%s: I do not know %s's host; give a mask (nick!user@host)." % (
        msg.source, target)}


@command("kick", args=r"(?P<nick>\S+)(?:\s+(?P<reason>\S.*))?", usage="nick [reason]")
@require("op")
async def kick(msg, nick=None, reason=None):
    """Kicks someone out of this channel."""
    if not nick:
        return _usage(msg, "kick nick [reason]")
    moderator = _moderator(msg)
    refused = _refusal(msg, moderator)
    if refused:
        return refused
    problem = nick_problem(nick)
    if problem:
        return {"content": "%s: %s." % (msg.source, problem)}
    if _is_me(msg, nick):
        return {"content": "%s: not me." % (msg.source,)}
    absent = _absent(msg, nick)
    if absent:
        return absent
    text = one_line(reason or "", MAX_TEXT) or "requested by %s" % (msg.source,)
    return await _do(msg, moderator, Action("kick", msg.channel, nick, text))


@command("ban", args=r"(?P<target>\S+)(?:\s+(?P<duration>\S+))?", usage="nick|mask [duration]")
@require("op")
async def ban(msg, target=None, duration=None):
    """Bans a mask or a nick's host from this channel (for a while: 1h, 2d)."""
    if not target:
        return _usage(msg, "ban nick|mask [duration]")
    moderator = _moderator(msg)
    refused = _refusal(msg, moderator)
    if refused:
        return refused
    settings = moderator.settings
    longest = parse_duration(settings.longest_ban) or 30 * 86400.0
    duration = duration or settings.ban_duration or None
    seconds = None
    if duration:
        seconds = parse_duration(duration, longest)
        if seconds is None:
            return {"content": "%s: a duration is like 30m, 12h or 7d, at most %s." % (
                msg.source, settings.longest_ban)}
    mask, answer = _mask(msg, moderator, target)
    if mask is None:
        return answer
    bans = TimedBans(msg.bot.store)
    if seconds is None:
        await bans.remove(msg.network, msg.channel, mask)  # banned until !unban now
    elif not await bans.add(msg.network, msg.channel, mask, msg.bot.clock.seconds() + seconds,
                            msg.source, settings.max_timed_bans):
        return {"content": "%s: %s has %d timed bans already (the most); ban without a duration, or "
                           "unban some." % (msg.source, msg.channel, settings.max_timed_bans)}
    done = "Banned %s%s." % (mask, " for %s" % (duration,) if seconds else "")
    problem = await moderator.perform(msg.network, Action("ban", msg.channel, mask))
    if problem:
        if seconds is not None:
            await bans.remove(msg.network, msg.channel, mask)
        return {"content": problem}
    return {"content": done}


@command("unban", args=r"(?P<target>\S+)", usage="nick|mask")
@require("op")
async def unban(msg, target=None):
    """Lifts a ban from this channel."""
    if not target:
        return _usage(msg, "unban nick|mask")
    moderator = _moderator(msg)
    refused = _refusal(msg, moderator)
    if refused:
        return refused
    mask, answer = _mask(msg, moderator, target, lifting=True)
    if mask is None:
        return answer
    problem = await moderator.perform(msg.network, Action("unban", msg.channel, mask))
    if problem:
        return {"content": problem}
    await TimedBans(msg.bot.store).remove(msg.network, msg.channel, mask)
    return {"content": "Unbanned %s." % (mask,)}


@command("bans", usage="")
@require("op")
@example("!bans", "No timed bans in #pubbot.")
async def bans(msg):
    """Lists this channel's timed bans: each mask, how long it has left and who set it."""
    if msg.private:
        return {"content": "%s: say that in the channel whose bans you want." % (msg.source,)}
    now = msg.bot.clock.seconds()
    folded = msg.channel.lower()
    found = sorted((e for e in await TimedBans(msg.bot.store).entries()
                    if e["network"] == msg.network and e["channel"].lower() == folded),
                   key=lambda e: (e["until"], e["mask"]))
    if not found:
        return {"content": "No timed bans in %s." % (msg.channel,)}
    shown = ["%s (%s left, by %s)" % (e["mask"], format_duration(e["until"] - now), e.get("by") or "?")
             for e in found[:LIST_BANS]]
    more = " and %d more" % (len(found) - LIST_BANS,) if len(found) > LIST_BANS else ""
    return {"content": one_line("%s: %s: %s%s." % (msg.channel, plural(len(found), "timed ban"),
                                                    ", ".join(shown), more))}


async def _quiet(msg, target: str | None, kind: str, done: str) -> dict | None:
    if not target:
        return _usage(msg, "%s nick|mask" % (kind,))
    moderator = _moderator(msg)
    refused = _refusal(msg, moderator)
    if refused:
        return refused
    if moderator.quiet_unknown(msg.network):
        return {"content": NO_QUIET}
    mask, answer = _mask(msg, moderator, target, lifting=kind == "unquiet")
    if mask is None:
        return answer
    return await _do(msg, moderator, Action(kind, msg.channel, mask), done % (mask,))


@command("quiet", args=r"(?P<target>\S+)", usage="nick|mask")
@require("op")
async def quiet(msg, target=None):
    """Quiets a mask or a nick's host in this channel: they stay, but cannot speak."""
    return await _quiet(msg, target, "quiet", "Quieted %s.")


@command("unquiet", args=r"(?P<target>\S+)", usage="nick|mask")
@require("op")
async def unquiet(msg, target=None):
    """Lets a quieted mask speak again in this channel."""
    return await _quiet(msg, target, "unquiet", "%s may speak again.")


@command("topic", args=r"(?P<text>\S.*)", usage="text")
@require("op")
async def topic(msg, text=None):
    """Sets this channel's topic."""
    if not text:
        return _usage(msg, "topic text")
    moderator = _moderator(msg)
    refused = _refusal(msg, moderator)
    if refused:
        return refused
    text = one_line(text, MAX_TEXT)
    if not text:
        return {"content": "%s: a topic needs some text." % (msg.source,)}
    return await _do(msg, moderator, Action("topic", msg.channel, text))


async def _status(msg, nick: Any, kind: str) -> dict | None:
    moderator = _moderator(msg)
    refused = _refusal(msg, moderator)
    if refused:
        return refused
    nick = nick or msg.source
    problem = nick_problem(nick)
    if problem:
        return {"content": "%s: %s." % (msg.source, problem)}
    if kind.startswith("de") and _is_me(msg, nick):
        return {"content": "%s: not me." % (msg.source,)}
    absent = _absent(msg, nick)
    if absent:
        return absent
    return await _do(msg, moderator, Action(kind, msg.channel, nick))


def _status_command(kind: str, doc: str) -> Any:
    """The command C{kind} (op, deop, voice, devoice): that mode for someone, the sender by default."""
    async def change(msg, nick=None):
        return await _status(msg, nick, kind)

    change.__name__ = change.__qualname__ = kind
    change.__doc__ = doc
    return command(kind, args=r"(?P<nick>\S+)?", usage="[nick]")(require("op")(change))


op = _status_command("op", "Gives ops (+o) in this channel to someone (you by default).")
deop = _status_command("deop", "Takes ops (+o) in this channel from someone (you by default).")
voice = _status_command("voice", "Gives voice (+v) in this channel to someone (you by default).")
devoice = _status_command("devoice", "Takes voice (+v) in this channel from someone (you by default).")


@every(30, name="moderation-unban")
async def lift_timed_bans(bot):
    """Lifts the timed bans that have ended."""
    await Moderator(bot, bot.settings.moderation).lift_due(TimedBans(bot.store))


@every(2, name="moderation-orders")
async def carry_out_orders(bot):
    """Carries out the moderation ordered in processes without the connection (Redis workers)."""
    await Moderator(bot, bot.settings.moderation).carry_out_orders()
