"""
Music: track announcements, now playing, skip votes and requests.

Commands work with the command prefix or addressed to the bot; with
C{[music] bare_words} (the default) C{skip}, C{noskip}, C{canhas},
C{canhaslater}, C{doeswant} and C{doeswantlater} also work as a whole
line on their own, as in the original bot.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import CHAT_LINES, Guard, Handler, ICommandWords, Limits, handler, patterns, person_key
from pubbot.music.interfaces import MusicError, SourceUnavailable, Unsupported
from pubbot.music.track import MAX_QUEUE, PAUSE, PLAY, STOP, Status, clean_text, format_track
from pubbot.music.votes import BUSY, JOINED, NO_VOTE, PASSED, REPEATED, STARTED, SWITCHED, SkipVotes, Vote

log = Logger()

#: The most tracks one vote may skip.
MAX_SKIP = 50
#: Longest request text accepted, in characters.
MAX_REQUEST = 200
#: Replies to music commands outrank chatter that answers the same line.
WEIGHT = 1


class MusicControls:
    """One bot's skip vote (in its store) and rate limits (votes and requests, per person)."""

    def __init__(self, bot: Any):
        settings = bot.settings.music
        self._bot = weakref.ref(bot)
        self.votes = SkipVotes(bot.store, bot.clock, settings.skip_votes, settings.vote_timeout,
                               self._lapsed)
        limit = (settings.request_limit, settings.request_window)
        self.vote_limits = Limits(bot.clock, person=limit)
        self.request_limits = Limits(bot.clock, person=limit)

    def _lapsed(self, vote: Vote) -> None:
        bot = self._bot()
        if bot is None or vote.place is None:
            return
        network, channel = vote.place
        bot.send(network, channel, "The vote to skip %s timed out (%s)." % (
            _tracks(vote.count), _tally(vote)))


_controls: weakref.WeakKeyDictionary[Any, MusicControls] = weakref.WeakKeyDictionary()


def controls(bot: Any) -> MusicControls:
    """The L{MusicControls} of C{bot}, made on first use."""
    found = _controls.get(bot)
    if found is None:
        found = _controls[bot] = MusicControls(bot)
    return found


def _stop_controls(bot: Any) -> None:
    found = _controls.pop(bot, None)
    if found is not None:
        found.votes.stop()


@implementer(IPlugin, ICommandWords)
class MusicCommand(Handler):
    """
    A music command: prefixed or addressed, and with C{bare} also a whole
    line on its own while C{[music] bare_words} is on. Its guard
    (C{[permissions] skip = "voice"}) is asked before the arguments are
    read; a bare line is the command only when it matches whole (chatter
    starting with C{skip} is no command, and gets no refusal).
    """

    def __init__(self, func: Callable, word: str, args: str | None, bare: bool, usage: str = ""):
        trigger = "%s %s" % (word, usage) if usage else word
        super().__init__(func, [CHAT_LINES], "music_" + word, None, (trigger,))
        rest = r"(?:\s+(?:%s))?" % (args,) if args else ""
        self.pattern = patterns.linear(r"%s%s\s*\Z" % (re.escape(word), rest), re.IGNORECASE | re.DOTALL)
        self.said = patterns.linear(r"%s(?:\s|\Z)" % (re.escape(word),), re.IGNORECASE)
        self.patterns = (self.pattern, self.said)
        self.bare = bare
        self.guard = Guard(word)
        self.guards: tuple[Guard, ...] = (self.guard,)
        # The dispatcher calls it only for lines starting with the word
        # (after the prefix or address, or bare): not for every line of chatter.
        self.trigger_words = (word.lower(),)

    def start(self, bot: Any) -> None:
        super().start(bot)
        self.guard.start(bot.clock)

    def stop(self) -> None:
        if self.bot is not None:
            _stop_controls(self.bot)
        self.guard.stop()
        super().stop()

    def handle(self, message: Any) -> Any:
        fields = message.fields
        text = fields.get("command")
        found = None
        if text is None:
            bot = message.bot
            if not self.bare or bot is None or not bot.settings.music.bare_words:
                return None
            text = fields.get("content")
            if not isinstance(text, str):
                return None
            found = self.pattern.match(text.strip())
            if found is None:
                return None
        elif not isinstance(text, str) or self.said.match(text.strip()) is None:
            return None
        guard = self.guard
        refused = guard.refuse(message)
        if refused is not None:
            return refused.answer
        if found is None:
            found = self.pattern.match(text.strip())
            if found is None:
                return None
        refused = guard.throttle(message)
        if refused is not None:
            return refused.answer
        return self.func(message, **found.groupdict())


def music_command(word: str, args: str | None = None, bare: bool = False, usage: str = ""):
    """
    Like L{pubbot.api.command}, and with C{bare} the whole line C{word ...}
    also works without prefix or address while C{[music] bare_words} is on.
    """
    def decorate(func: Callable) -> MusicCommand:
        return MusicCommand(func, word, args, bare, usage)
    return decorate


def _reply(text: str) -> dict:
    return {"content": text, "weight": WEIGHT}


def _tracks(count: int) -> str:
    return "this track" if count == 1 else "%d tracks" % (count,)


def _tally(vote: Vote) -> str:
    return "%d for, %d against" % (vote.yes, vote.no)


def _trouble(failure: Any, doing: str) -> dict:
    if failure.check(SourceUnavailable):
        return _reply("I can't reach the music player right now, so I couldn't %s." % (doing,))
    if failure.check(Unsupported):
        return _reply("The music player can't %s." % (doing,))
    if failure.check(MusicError):
        return _reply("The music player said no: %s" % (clean_text(failure.getErrorMessage(), 200),))
    log.failure("music command failed while trying to {doing}", failure, doing=doing)
    return _reply("Something went wrong talking to the music player.")


def _describe(state: str, title: Any = "", artist: Any = "", album: Any = "") -> str:
    if state == PLAY:
        return "Now playing: " + format_track(title, artist, album)
    if state == PAUSE:
        return "Paused: " + format_track(title, artist, album)
    if state == STOP:
        return "Nothing is playing."
    return "I can't reach the music player right now."


# Announcements

@handler(subscribe=["music.track"], name="music_announce")
def announce(msg: Any) -> Any:
    """Announces each new track to the [music] announce channels."""
    bot = msg.bot
    text = format_track(msg.get("title"), msg.get("artist"), msg.get("album"))
    for network in list(bot.chat_services):
        for target in bot.settings.music.announce:
            here = bot.settings_for(network, target).music
            if here.announce_tracks and bot.enabled_in(network, target, "music"):
                bot.send(network, target, text, "notice")

    def ended(vote: Vote | None) -> None:
        if vote is not None:
            log.info("the track changed; the vote to skip {count} ended", count=vote.count)

    # A new track ends the vote about the old one.
    d = Deferred.fromCoroutine(controls(bot).votes.cancel())
    d.addCallbacks(ended, lambda f: log.failure("could not end the skip vote", f))
    return None


# Now playing

@music_command("np")
def np(msg: Any) -> Any:
    """Says what is playing now."""
    bot = msg.bot
    state = bot.state.get("music")
    if state:
        return _reply(_describe(state.get("state"), state.get("title"), state.get("artist"),
                                state.get("album")))
    source = bot.music_source
    if source is None:
        return _reply("No music player is configured.")

    def described(status: Status) -> dict:
        track = status.track
        if track is None:
            return _reply(_describe(STOP))
        return _reply(_describe(status.state, track.title, track.artist, track.album))

    return source.status().addCallbacks(described, _trouble, errbackArgs=("see what's playing",))


# Skip votes

def _source_for(msg: Any, doing: str) -> tuple[Any, dict | None]:
    source = msg.bot.music_source
    if source is None:
        return None, _reply("No music player is configured.")
    if not source.controllable:
        return None, _reply("The music source (%s) is read-only: I can't %s." % (source.kind, doing))
    return source, None


def _vote_word(msg: Any, word: str) -> str:
    if msg.bot.settings.music.bare_words:
        return word
    return msg.bot.command_prefix(msg.network) + word


def _counted(vote: Vote, needed: int) -> str:
    return "%d/%d" % (max(vote.margin, 0), needed)


def _vote_reply(msg: Any, outcome: Any, side: str) -> Any:
    needed = controls(msg.bot).votes.needed
    vote, nick = outcome.vote, msg.source
    kind = outcome.kind
    if kind == NO_VOTE:
        return _reply("There's no skip vote running; say %s to start one." % (_vote_word(msg, "skip"),))
    if kind == BUSY:
        return _reply("%s: there's already a vote to skip %s; say %s or %s." % (
            nick, _tracks(vote.count), _vote_word(msg, "skip"), _vote_word(msg, "noskip")))
    if kind == REPEATED:
        return _reply("%s: you've already voted %s." % (
            nick, "to skip" if side == "skip" else "against skipping"))
    if kind == STARTED:
        return _reply("%s wants to skip %s: %s. Say %s or %s." % (
            nick, _tracks(vote.count), _counted(vote, needed),
            _vote_word(msg, "skip"), _vote_word(msg, "noskip")))
    if kind == JOINED:
        return _reply("%s votes %s: %s." % (
            nick, "to skip" if side == "skip" else "to keep it", _counted(vote, needed)))
    if kind == SWITCHED:
        return _reply("%s changed their vote to %s: %s." % (nick, side, _counted(vote, needed)))
    if kind == PASSED:
        source = msg.bot.music_source
        d = source.skip(vote.count)
        d.addCallback(lambda _: _reply("Skipping %s (%s)." % (_tracks(vote.count), _tally(vote))))
        d.addErrback(_trouble, "skip")
        return d
    raise AssertionError("unknown vote outcome %r" % (kind,))


def _slow_down(msg: Any, limits: Limits, who: str) -> dict:
    wait = max(1, int(limits.retry_after(who) + 0.999))
    return _reply("%s: slow down; try again in %ds." % (msg.source, wait))


async def _vote(msg: Any, side: str, count: int | None) -> Any:
    ctl = controls(msg.bot)
    who = person_key(msg)
    try:
        current = await ctl.votes.current()
        if side == "skip" and current is None and (msg.bot.state.get("music") or {}).get("state") == STOP:
            return _reply("Nothing is playing, so there's nothing to skip.")
        if (current is not None or side == "skip") and not ctl.vote_limits.allow(who):
            return _slow_down(msg, ctl.vote_limits, who)
        if side == "skip":
            outcome = await ctl.votes.skip(who, count, place=(msg.network, msg.channel))
        else:
            outcome = await ctl.votes.noskip(who)
    except Exception:
        log.failure("skip vote failed")
        return _reply("I can't count votes right now; try again in a moment.")
    return _vote_reply(msg, outcome, side)


@music_command("skip", r"(?P<count>[-+]?[0-9]+)", bare=True, usage="[N]")
def skip(msg: Any, count: str | None = None) -> Any:
    """Starts or joins a vote to skip N tracks (default 1)."""
    source, refusal = _source_for(msg, "skip")
    if refusal is not None:
        return refusal
    number = None
    if count is not None:
        number = int(count) if len(count) <= 9 else MAX_SKIP + 1
        if number <= 0:
            return _reply("%s: I can only skip a positive number of tracks." % (msg.source,))
        if number > MAX_SKIP:
            return _reply("%s: I skip at most %d tracks at a time." % (msg.source, MAX_SKIP))
    if msg.private:
        return _reply("Vote in a channel, where everyone can see.")
    return _vote(msg, "skip", number)


@music_command("noskip", bare=True)
def noskip(msg: Any) -> Any:
    """Votes against skipping in the running skip vote."""
    source, refusal = _source_for(msg, "skip")
    if refusal is not None:
        return refusal
    if msg.private:
        return _reply("Vote in a channel, where everyone can see.")
    return _vote(msg, "noskip", None)


# Requests

def _listing(tracks: list, field: str) -> str:
    shown = [format_track(t.title, t.artist if field == "title" else "", "") for t in tracks[:3]]
    text = ", ".join(shown)
    if len(tracks) > 3:
        text += " and %d more" % (len(tracks) - 3,)
    return text


def _request(msg: Any, what: str | None, field: str, replace: bool, word: str) -> Any:
    if what is None or not what.strip():
        if msg.command is None:
            return None  # a bare word on its own is just chat
        return _reply("Say %s <%s>." % (word, field))
    source, refusal = _source_for(msg, "queue tracks")
    if refusal is not None:
        return refusal
    text = what.strip()
    if len(text) > MAX_REQUEST:
        return _reply("%s: that's too long to look for." % (msg.source,))
    ctl = controls(msg.bot)
    who = person_key(msg)
    if not ctl.request_limits.allow(who):
        return _slow_down(msg, ctl.request_limits, who)
    shown = clean_text(text, 60)

    def queued(tracks: list) -> dict:
        if not tracks:
            if field == "artist":
                return _reply("Nothing by \u201c%s\u201d in the library." % (shown,))
            return _reply("No track called \u201c%s\u201d in the library." % (shown,))
        many = "%d track%s" % (len(tracks), "" if len(tracks) == 1 else "s")
        if len(tracks) >= MAX_QUEUE:
            many = "the first %d tracks" % (len(tracks),)
        whose = "by " + (tracks[0].artist or shown) if field == "artist" else "matching “%s”" % (shown,)
        verb = "Replaced the queue with" if replace else "Queued"
        return _reply("%s %s %s: %s." % (verb, many, whose, _listing(tracks, field)))

    d = source.queue(field, text, replace)
    return d.addCallbacks(queued, _trouble, errbackArgs=("queue tracks",))


@music_command("canhas", r"(?P<what>.+)", bare=True, usage="<artist>")
def canhas(msg: Any, what: str | None = None) -> Any:
    """Replaces the queue with tracks by that artist."""
    return _request(msg, what, "artist", True, "canhas")


@music_command("canhaslater", r"(?P<what>.+)", bare=True, usage="<artist>")
def canhaslater(msg: Any, what: str | None = None) -> Any:
    """Adds tracks by that artist to the end of the queue."""
    return _request(msg, what, "artist", False, "canhaslater")


@music_command("doeswant", r"(?P<what>.+)", bare=True, usage="<title>")
def doeswant(msg: Any, what: str | None = None) -> Any:
    """Replaces the queue with tracks of that title."""
    return _request(msg, what, "title", True, "doeswant")


@music_command("doeswantlater", r"(?P<what>.+)", bare=True, usage="<title>")
def doeswantlater(msg: Any, what: str | None = None) -> Any:
    """Adds tracks of that title to the end of the queue."""
    return _request(msg, what, "title", False, "doeswantlater")
