"""
Channel logs (C{[logs] channels}, opt-in per channel): every line, action,
join, part, kick and quit there is written with its server time (see
L{pubbot.chatlogs}). C{!grep [#chan] words} and C{!last <nick> [#chan]}
answer privately with the newest matching lines (at most C{[logs]
max_results}) and, when C{[web] url} is set, a link to the dashboard's
search page; C{!nolog} stops logging the asker and removes what was
kept, C{!nolog off} starts again (answered privately; ignored senders may
use it too, as the log keeps their lines).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import (
    Handler,
    IBatchHandler,
    Limits,
    checks,
    command,
    format_duration,
    handle_each,
    key,
    one_line,
    person_key,
    section,
)
from pubbot.chatlogs import (
    MAX_RESULTS,
    OPTOUT_KEY,
    PRUNE_SECONDS,
    LogChannels,
    format_line,
    index_for,
    query_words,
    search_link,
)


def _log_channels(values: tuple) -> str | None:
    for v in values:
        name = v.rpartition("@")[0] if "@" in v[1:] else v
        if (not name or name[0] not in "#&+!" or len(v) > 100
                or any(c in v for c in " ,\r\n\0\a")):
            return "has a bad channel %r (want \"#name\", or \"#name@network\" for one network)" % (v,)
    return None


@section("logs")
@dataclass(frozen=True)
class LogSettings:
    channels: tuple[str, ...] = key([], _log_channels)  # opt-in, per channel
    retention_days: float = key(90.0, checks.positive)
    max_results: int = key(3, checks.positive)  # lines !grep and !last answer with, at most

log = Logger()

#: Searches per person, per minute.
SEARCHES = (5, 60.0)
OPTOUT_REFRESH = 60.0
_LEAVES = ("part", "kick", "quit")
_OWN_COMMANDS = frozenset(("grep", "last", "nolog"))


@implementer(IPlugin, IBatchHandler)
class LogWriter(Handler):
    """
    Writes the lines of the logged channels; hears ignored senders too (the
    log is the channel's). Takes a read's lines in one call, so that
    without logged channels it costs a call a batch, not a line.
    """

    hears_ignored = True

    def __init__(self) -> None:
        super().__init__(self.observe, ["chat.*.*.chat", "chat.*.*.join", "chat.*.*.leave"], name="chatlog",
                         description="")
        self.channels = LogChannels(())
        self.optout: set = set()
        self.searches: Limits | None = None
        self.index: Any = None
        self._loops: list = []

    def start(self, bot) -> None:
        super().start(bot)
        self.channels = LogChannels(bot.settings.logs.channels)
        self.searches = Limits(bot.clock, person=SEARCHES)
        self.index = index_for(bot)
        self._loops = []
        for call, seconds in ((self.refresh_optout, OPTOUT_REFRESH), (self.prune, PRUNE_SECONDS)):
            loop = LoopingCall(call)
            loop.clock = bot.clock
            loop.start(seconds, now=True).addErrback(lambda f: log.failure("a channel log loop stopped", f))
            self._loops.append(loop)

    def stop(self) -> None:
        for loop in self._loops:
            if loop.running:
                loop.stop()
        self._loops = []
        super().stop()

    def refresh_optout(self) -> None:
        if self.bot is None or self.channels.empty:
            return
        d = self.bot.store.smembers(OPTOUT_KEY)
        d.addCallback(lambda found: setattr(self, "optout", set(found)))
        d.addErrback(lambda f: log.failure("reading who opted out of the log failed", f))

    def prune(self) -> None:
        if self.bot is None or self.channels.empty:
            return
        before = self.bot.clock.seconds() - self.bot.settings.logs.retention_days * 86400
        d = self.index.prune(before)
        d.addCallback(lambda n: log.info("removed {count} old log lines", count=n) if n else None)
        d.addErrback(lambda f: log.failure("pruning the channel log failed", f))

    def handle_many(self, messages) -> list | None:
        if self.channels.empty:
            return None
        handle_each(self, messages)
        return None

    def observe(self, msg) -> None:
        fields = msg.fields
        channel = fields.get("channel")
        if self.channels.empty or fields.get("private") or type(channel) is not str:
            return None
        network = fields.get("network")
        if not self.channels.logged(network, channel):
            return None
        person = person_key(msg)
        if person in self.optout:
            return None
        kind = msg.topic.rpartition(".")[2]
        command_text = fields.get("command")
        if kind == "chat" and type(command_text) is str:
            first = command_text.split(None, 1)
            if first and first[0].lower() in _OWN_COMMANDS:
                return None  # searching does not fill the log
        if kind == "chat":
            kind, text = ("action" if fields.get("action") else "say"), fields.get("content") or ""
        elif kind == "leave":
            kind = fields.get("kind") if fields.get("kind") in _LEAVES else "part"
            text = fields.get("reason") or ""
            if kind == "kick" and fields.get("by"):
                text = "by %s%s" % (fields["by"], ": " + text if text else "")
        else:
            text = ""
        when = fields.get("time")
        if not isinstance(when, (int, float)):
            when = msg.bot.clock.seconds()
        line = {"network": network, "channel": channel, "time": when, "kind": kind,
                "nick": str(fields.get("source") or "?"), "person": person, "text": one_line(str(text), 600)}
        # in the background: a reply never waits for the log
        self.index.add([line]).addErrback(lambda f: log.failure("writing the channel log failed", f))
        return None


chatlog = LogWriter()


def _place(msg, given: str | None) -> tuple[str | None, str | None]:
    """The channel to search, or C{(None, why not)}."""
    bot = msg.bot
    if given:
        channel = given
        if msg.private or channel.lower() != str(msg.channel).lower():
            nicks = {n.lower() for n in bot.roster(msg.network, channel)}
            if msg.source.lower() not in nicks:
                return None, "You can only search the log of a channel you are in."
    elif msg.private:
        return None, "Say which channel: %sgrep #channel words" % (bot.command_prefix(msg.network),)
    else:
        channel = msg.channel
    if not LogChannels(bot.settings.logs.channels).logged(msg.network, channel):
        return None, "%s is not logged." % (one_line(channel, 50),)
    return channel, None


def _limited(msg) -> str | None:
    limits = chatlog.searches
    who = person_key(msg)
    if limits is not None and not limits.allow(who):
        return "Slow down: search again in %s." % (format_duration(limits.retry_after(who)),)
    return None


def _with_link(msg, lines: list, channel: str | None, found: list | tuple = ()) -> list:
    """C{lines}, and the dashboard's search page when there is one (see L{search_link})."""
    link = search_link(msg.bot.settings.web, msg.network, channel, found) if channel else None
    return lines + [link] if link else lines


def _answer(msg, lines: list) -> dict | None:
    """Results go to the asker privately."""
    if msg.private:
        return {"content": lines}
    msg.bot.send(msg.network, msg.source, "\n".join(lines), "notice", msg.source)
    return None


@command("grep", args=r"(?P<rest>.*)", usage="[#channel] words")
async def grep(msg, rest=""):
    """Finds the newest lines of this channel's log with all these words (answered privately)."""
    text = (rest or "").strip()
    given = None
    if text[:1] in ("#", "&"):
        given, _, text = text.partition(" ")
    found = query_words(text)
    if found is None:
        return _answer(msg, ["Usage: %sgrep [#channel] words (at most 8 words, 200 characters)"
                             % (msg.bot.command_prefix(msg.network),)])
    channel, problem = _place(msg, given)
    problem = problem or _limited(msg)
    if problem:
        return _answer(msg, [problem])
    limit = min(msg.bot.settings.logs.max_results, MAX_RESULTS)
    lines = await index_for(msg.bot).search(msg.network, channel, found, limit)
    if not lines:
        return _answer(msg, ["No line of %s has %s." % (channel, " and ".join(found))])
    return _answer(msg, _with_link(msg, [format_line(ln) for ln in lines], channel, found))


@command("last", args=r"(?P<rest>.*)", usage="<nick> [#channel]")
async def last(msg, rest=""):
    """The newest lines someone said in this channel (answered privately)."""
    words = (rest or "").split()
    if not words or len(words) > 2 or len(words[0]) > 64:
        return _answer(msg, ["Usage: %slast <nick> [#channel]" % (msg.bot.command_prefix(msg.network),)])
    channel, problem = _place(msg, words[1] if len(words) > 1 else None)
    problem = problem or _limited(msg)
    if problem:
        return _answer(msg, [problem])
    limit = min(msg.bot.settings.logs.max_results, MAX_RESULTS)
    lines = await index_for(msg.bot).last(msg.network, channel, words[0], limit)
    if not lines:
        return _answer(msg, ["%s said nothing in %s that I kept." % (one_line(words[0], 64), channel)])
    return _answer(msg, _with_link(msg, [format_line(ln) for ln in reversed(lines)], channel))


@command("nolog", args=r"(?P<rest>.*)", usage="[off]")
async def nolog(msg, rest=""):
    """Stops keeping your lines in the channel logs and removes what was kept ('nolog off' undoes it)."""
    word = (rest or "").strip().lower()
    who = person_key(msg)
    store = msg.bot.store
    if word and word not in ("off", "undo", "stop"):
        return _answer(msg, ["Usage: %snolog [off]" % (msg.bot.command_prefix(msg.network),)])
    problem = _limited(msg)
    if problem:
        return _answer(msg, [problem])
    if word:
        await store.srem(OPTOUT_KEY, who)
        chatlog.optout.discard(who)
        return _answer(msg, ["%s: your lines are logged again where channels are logged." % (msg.source,)])
    await store.sadd(OPTOUT_KEY, who)
    chatlog.optout.add(who)
    removed = await index_for(msg.bot).forget(who)
    return _answer(msg, ["%s: your lines are no longer logged; %d kept line%s removed." % (
        msg.source, removed, "" if removed == 1 else "s")])


#: The log hears everyone, so everyone may leave it: ignored senders too (answered privately, as
#: every answer of this plugin is, and within the searches' limit, so an ignored troll gets no stage).
nolog.hears_ignored = True
