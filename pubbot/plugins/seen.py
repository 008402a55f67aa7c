"""
C{seen <nick>}: when and where someone last spoke, joined or left (also
asked as C{have you seen <nick>}, C{has anyone seen <nick> lately?}, C{did
you see <nick>}, C{when did you last see <nick>}).
C{tell <nick> [privately] [that] <message>}: a note delivered when they next
speak. Notes are for nicks: C{tell me about...} is asked of the bot (see
C{tell-me-about} in education) and a pronoun (C{tell him...}) is answered
with how to leave a note, never stored.

Both watch every chat line, so both keep what they need in memory: C{seen}
notes activity in a dict and writes it to the store every C{[seen]
flush_seconds}; C{tell} keeps the set of nicks with notes waiting, so a
line from anyone else costs one set lookup. Both take a batch of lines in
one call (L{IBatchHandler}): C{seen} notes a run of plain chat lines in
one dict update, and a batch costs C{tell} nothing while no note waits
and no line is a C{tell} command.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter

from twisted.internet.defer import Deferred, DeferredList
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import (
    CHAT_LINES,
    Guard,
    Handler,
    IBatchHandler,
    ICommandWords,
    Limits,
    checks,
    example,
    format_duration,
    handle_each,
    key,
    one_line,
    patterns,
    person_key,
    plural,
    section,
)


@section("seen")
@dataclass(frozen=True)
class SeenSettings:
    """[seen]: how often what was seen is written to the store."""

    flush_seconds: float = key(10.0, checks.positive)


@section("tell")
@dataclass(frozen=True)
class TellSettings:
    """[tell]: how many notes one person may leave, and how many wait for one person."""

    per_sender: int = key(5, checks.positive)
    per_sender_seconds: float = key(3600.0, checks.positive)
    max_pending: int = key(10, checks.positive)


log = Logger()

SEEN_PREFIX = "seen:"
TELL_PREFIX = "tell:"
#: Pending activity that triggers an early flush.
MAX_PENDING = 10000
MAX_QUOTE = 200
MAX_NOTE = 400
#: Notes delivered for one line; the rest come with the next.
DELIVER_AT_ONCE = 3
RELOAD_SECONDS = 60.0

# On RE2 (pubbot.util.patterns): linear in the line. (After "privately" comes \s+, so
# the word boundary the original had there always held.)
_SEEN = patterns.linear(r"(?:(?:have|has)\s+(?:you|anyone|anybody|someone|somebody)\s+seen"
                        r"|did\s+(?:you|anyone|anybody)\s+see|when\s+did\s+you\s+last\s+see|seen)"
                        r"\s+(?P<nick>[^\s?]{1,64})(?:\s+(?:lately|recently|today|around|anywhere))?\s*(?:\?\s*)?\Z",
                        re.IGNORECASE)
#: How the lines _SEEN may match start (lower case, four characters).
_SEEN_STARTS = ("seen", "have", "has ", "did ", "when")
#: The command word said as such: "seen ...". Its guard is asked before the nick is read;
#: a natural phrasing ("have you seen bob?") is the command only once _SEEN matches it all.
_SEEN_WORD = patterns.linear(r"seen(?:\s|\Z)", re.IGNORECASE)
_TELL = patterns.linear(r"tell\s+(?P<nick>\S+?)[:,]?(?:\s+(?P<private>privately))?\s+(?P<text>.+)\Z",
                        re.IGNORECASE | re.DOTALL)
_NICK = patterns.linear(r"[^\s#&:,!@*?\x00-\x1f][^\s:,!@*?\x00-\x1f]{0,31}\Z")
#: Who "tell"/"seen" take for the one asking, and for the bot.
_ASKER = frozenset(["me", "myself", "us"])
_BOT = frozenset(["you", "yourself"])
#: "tell me ...", "tell you what": no note (so not the tell command; "tell me about" is education's).
_NOT_A_NOTE = _ASKER | _BOT
#: Words in a nick's place that name nobody in particular: never a note's addressee.
_NOBODY_IN_PARTICULAR = frozenset("""
    him her them it this that these those everyone everybody all anyone anybody someone somebody
    people folks guys y'all yall ya
""".split())
#: "tell bob that lunch is ready": the note is "lunch is ready".
_that = patterns.linear(r"that\s+\S", re.IGNORECASE)
_fields_of = attrgetter("fields")
_topic_of = attrgetter("topic")
_SAID = ("private", "source", "network", "channel", "content")
_said_fields = itemgetter(*_SAID)


def _said_fields_lenient(f: dict) -> tuple:
    """L{_said_fields} of a message that may lack some of them (None for those)."""
    return tuple(map(f.get, _SAID))


def _reply(text: str) -> dict:
    return {"content": text, "weight": 10}


def _commanded(fields: Sequence[dict], *words: str) -> list[int]:
    """The positions of the lines whose C{command} starts with one of C{words} (lower case), any case."""
    commands = [f.get("command") for f in fields]
    if commands.count(None) == len(commands):
        return []
    n = max(map(len, words))
    return [i for i, text in enumerate(commands) if text is not None and text[:n].lower().startswith(words)]


@implementer(IPlugin, IBatchHandler, ICommandWords)
class Seen(Handler):
    """
    The C{seen} handler: notes activity and answers C{seen <nick>}; its
    guard (C{[permissions] seen}) covers every phrasing of the question.
    """

    def __init__(self):
        super().__init__(self.observe, [CHAT_LINES, "chat.*.*.join", "chat.*.*.leave"], name="seen",
                         description="Says when and where someone last spoke, joined or left.",
                         triggers=("seen <nick>",))
        self.guard = Guard("seen")
        self.guards: tuple[Guard, ...] = (self.guard,)
        self._pending: dict[tuple[str, str], tuple] = {}
        self._flush_call = None

    def start(self, bot) -> None:
        super().start(bot)
        self.guard.start(bot.clock)
        self._pending = {}
        self._flush_call = None

    def stop(self) -> Deferred | None:  # type: ignore[override]  # IHandler.stop may return one
        d = self.flush() if self.bot is not None else None
        self.guard.stop()
        super().stop()
        return d

    def handle_many(self, messages: Sequence) -> list:
        """
        L{observe} each message in order: the runs of plain chat lines (no
        C{seen} command) between the others are noted in one dict update.
        """
        fields = list(map(_fields_of, messages))
        special = _commanded(fields, *_SEEN_STARTS)
        if not all(topic.endswith(".chat") for topic in set(map(_topic_of, messages))):
            special = sorted(set(special).union(
                i for i, msg in enumerate(messages) if not msg.topic.endswith(".chat")))
        answers: list = []
        start = 0
        for i in [*special, len(messages)]:
            if i > start:
                try:
                    self._note_said(fields[start:i] if start or i < len(fields) else fields)
                except Exception:
                    # One by one, so only the bad line is lost (noting twice is harmless).
                    answers += handle_each(self, messages, range(start, i), self.observe)
            if i < len(messages):
                answers += handle_each(self, messages, (i,), self.observe)
            start = i + 1
        return answers

    def observe(self, msg) -> Deferred | dict | None:
        f = msg.fields
        topic = msg.topic
        if topic.endswith(".chat"):
            self._note_said((f,))
            text = f.get("command")
            if text is not None and text[:4].lower() in _SEEN_STARTS:
                return self.asked(msg, text)
        elif topic.endswith(".join"):
            self._note(f, "joined", None)
        else:
            self._note(f, f.get("kind") or "part", f.get("reason"))
        return None

    def asked(self, msg, text: str) -> Deferred | dict | None:
        """The answer to the command line C{text} when it asks C{seen}, after the guard's check."""
        guard = self.guard
        found = None
        if _SEEN_WORD.match(text) is None:
            found = _SEEN.match(text)  # a phrasing is the command only when it matches whole
            if found is None:
                return None
        refused = guard.refuse(msg)
        if refused is not None:
            return refused.answer
        if found is None:
            found = _SEEN.match(text)
            if found is None:
                return None
        refused = guard.throttle(msg)
        if refused is not None:
            return refused.answer
        return Deferred.fromCoroutine(self.answer(msg, found.group("nick")))

    def _note_said(self, lines: Sequence[dict]) -> None:
        """Note the chat lines (their fields) but private ones, in order."""
        bot = self.bot
        if bot is None:
            return
        now = bot.clock.seconds()
        pending = self._pending
        said = False
        # Chat lines have every field: read at once, without a get per field;
        # a message without one of them: all again (noting twice is harmless).
        for fields_of in (_said_fields, _said_fields_lenient):
            try:
                for private, source, network, channel, content in map(fields_of, lines):
                    if not private and source:
                        pending[(network, source.lower())] = (now, source, channel, "said", content)
                        said = True
                break
            except KeyError:
                continue
        if said:
            self._noted(bot)

    def _note(self, f, event: str, text) -> None:
        source = f.get("source")
        if not source or self.bot is None:
            return
        network = f.get("network")
        self._pending[(network, source.lower())] = (
            self.bot.clock.seconds(), source, f.get("channel"), event, text)
        self._noted(self.bot)

    def _noted(self, bot) -> None:
        """Activity was noted: flush in C{[seen] flush_seconds}, or now when there is much."""
        if self._flush_call is None:
            self._flush_call = bot.clock.callLater(bot.settings.seen.flush_seconds, self.flush)
        elif len(self._pending) >= MAX_PENDING:
            self.flush()

    def flush(self) -> Deferred:
        """Write the activity noted since the last flush to the store."""
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        pending, self._pending = self._pending, {}
        store = self.bot.store  # type: ignore[attr-defined]  # flushes run while started
        writes = [store.hset(SEEN_PREFIX + network, nick, _record(entry))
                  for (network, nick), entry in pending.items()]
        d = DeferredList(writes, consumeErrors=True)

        def logged(results):
            failed = [r for ok, r in results if not ok]
            if failed:
                log.failure("seen could not save {count} records", failed[0], count=len(failed))
        return d.addCallback(logged)

    async def answer(self, msg, nick: str) -> dict | None:
        f = msg.fields
        network, wanted = f["network"], nick.lower()
        if wanted == f["source"].lower() or wanted in _ASKER:
            return _reply("That's you, %s!" % (f["source"],))
        if wanted == msg.bot.nick(network).lower() or wanted in _BOT:
            return _reply("I'm right here.")
        if wanted in _NOBODY_IN_PARTICULAR:
            return None  # "seen it?", "have you seen him?": not a nick
        entry = self._pending.get((network, wanted))
        record = _record(entry) if entry is not None else await msg.bot.store.hget(
            SEEN_PREFIX + network, wanted)
        if not isinstance(record, dict):
            return _reply("I haven't seen %s." % (one_line(nick, 64),))
        return _reply(_describe(record, msg.bot.clock.seconds()))


def _record(entry: tuple) -> dict:
    at, nick, channel, event, text = entry
    record = {"at": at, "nick": nick, "channel": channel, "event": event}
    if text:
        record["text"] = one_line(str(text), MAX_QUOTE)
    return record


def _describe(record: dict, now: float) -> str:
    at = record.get("at")
    ago = format_duration(now - at) if isinstance(at, (int, float)) else "some time"
    nick, channel, text = record.get("nick", "?"), record.get("channel") or "?", record.get("text")
    event = record.get("event")
    why = " (%s)" % (text,) if text else ""
    if event == "said":
        return "%s was last seen %s ago in %s, saying: %s" % (nick, ago, channel, text or "")
    if event == "joined":
        return "%s was last seen %s ago joining %s." % (nick, ago, channel)
    if event == "quit":
        return "%s was last seen %s ago quitting%s." % (nick, ago, why)
    if event == "kick":
        return "%s was last seen %s ago being kicked from %s%s." % (nick, ago, channel, why)
    return "%s was last seen %s ago leaving %s%s." % (nick, ago, channel, why)


seen = example("!seen bob", "I haven't seen bob.")(Seen())


@implementer(IPlugin, IBatchHandler, ICommandWords)
class Tell(Handler):
    """
    The C{tell} handler: takes notes and delivers them when their nick next
    speaks. Its guard (C{[permissions] tell}) is asked for lines leaving a
    note, once the word after C{tell} is known to be no C{me} or C{you}
    (C{tell me about...} is education's); delivering is for everyone.
    """

    def __init__(self):
        super().__init__(self.observe, [CHAT_LINES], name="tell",
                         description="Leaves a note for someone, given when they next speak "
                                     "('privately' sends it to them alone).",
                         triggers=("tell <nick> [privately] <message>",))
        self.guard = Guard("tell")
        self.guards: tuple[Guard, ...] = (self.guard,)
        #: network -> lower-cased nicks with notes waiting.
        self.waiting: dict[str, set] = {}
        #: How many times a nick was added to C{waiting} (a batch rereads it then).
        self._added = 0
        self.limits: Limits | None = None
        self._loaded_at: float | None = None
        self._loading = False

    def start(self, bot) -> None:
        super().start(bot)
        settings = bot.settings.tell
        self.guard.start(bot.clock)
        self.limits = Limits(bot.clock, person=(settings.per_sender, settings.per_sender_seconds))
        self.waiting = {}
        self._loaded_at = None
        self._loading = False
        self._maybe_reload(bot)

    def stop(self) -> None:
        self.limits = None
        self.guard.stop()
        super().stop()

    def _maybe_reload(self, bot) -> None:
        """
        Learn which nicks have notes from the store, at start and every
        L{RELOAD_SECONDS} (notes left through another process). Adds only:
        a nick wrongly thought waiting costs one empty lookup when it speaks.
        """
        if self._loading or (self._loaded_at is not None
                             and bot.clock.seconds() - self._loaded_at < RELOAD_SECONDS):
            return
        self._loading = True

        def loaded(keys):
            for stored in keys:
                network, _, nick = stored[len(TELL_PREFIX):].partition(":")
                if nick:
                    self._wait(network, nick)

        def done(result):
            self._loading = False
            self._loaded_at = bot.clock.seconds()
            return result

        d = bot.store.keys(TELL_PREFIX)
        d.addCallback(loaded)
        d.addErrback(lambda f: log.failure("tell could not read waiting notes", f))
        d.addBoth(done)

    def _wait(self, network: str, nick: str) -> None:
        """C{nick} (lower case) has notes waiting."""
        self.waiting.setdefault(network, set()).add(nick)
        self._added += 1

    def handle_many(self, messages: Sequence) -> list | None:
        """
        L{observe} each message in order; only the lines that are C{tell}
        commands or come from a nick with notes waiting are looked at.
        """
        limits = self.limits
        if limits is None or not messages:
            return None
        self._maybe_reload(messages[0].bot)
        fields = list(map(_fields_of, messages))
        commanded = _commanded(fields, "tell")
        todo = self._todo(fields, 0, commanded)
        if not todo:
            return None
        answers = []
        added = self._added
        k = 0

        def observe(msg):
            return self._observe(msg, limits)
        while k < len(todo):
            i = todo[k]
            k += 1
            answers += handle_each(self, messages, (i,), observe)
            if self._added != added:
                # Someone now has a note waiting: their next lines here deliver it.
                added = self._added
                todo = self._todo(fields, i + 1, commanded)
                k = 0
        return answers

    def _todo(self, fields: Sequence[dict], start: int, commanded: list[int]) -> list[int]:
        """The positions from C{start} of the commands and of the lines from nicks with notes waiting."""
        todo = [i for i in commanded if i >= start]
        waiting = self.waiting
        if any(waiting.values()):
            todo = sorted(set(todo).union(
                i for i in range(start, len(fields))
                if (nicks := waiting.get(fields[i].get("network", "")))
                and str(fields[i].get("source")).lower() in nicks))
        return todo

    def observe(self, msg) -> Deferred | dict | None:
        limits = self.limits
        if limits is None:
            return None
        self._maybe_reload(msg.bot)
        return self._observe(msg, limits)

    def _observe(self, msg, limits: Limits) -> Deferred | dict | None:
        f = msg.fields
        waiting = self.waiting.get(f["network"])
        delivery = None
        if waiting:
            nick = f["source"].lower()
            if nick in waiting:
                waiting.discard(nick)  # now, so the next line cannot deliver twice
                delivery = Deferred.fromCoroutine(self.deliver(msg, nick))
        text = f.get("command")
        if text is not None and text[:4].lower() == "tell":
            found = _TELL.match(text)
            if found is not None and found.group("nick").lower() not in _NOT_A_NOTE:
                refused = self.guard.admit(msg)
                if refused is None:
                    return Deferred.fromCoroutine(self.take(msg, limits, delivery, **found.groupdict()))
                if delivery is None:
                    return refused.answer
                answer = refused.answer
                return delivery.addCallback(lambda _: answer)
        return delivery

    async def deliver(self, msg, nick: str) -> None:
        f = msg.fields
        network = f["network"]
        key = "%s%s:%s" % (TELL_PREFIX, network, nick)
        notes = await msg.bot.store.hgetall(key)
        if not notes:
            return None
        broken = [note_id for note_id, note in notes.items() if not isinstance(note, dict)]
        ready = sorted((item for item in notes.items() if isinstance(item[1], dict)),
                       key=lambda item: (item[1].get("at", 0), item[0]))[:DELIVER_AT_ONCE]
        await msg.bot.store.hdel(key, *broken, *(note_id for note_id, _ in ready))
        if len(notes) > len(ready) + len(broken):
            self._wait(network, nick)
        now = msg.bot.clock.seconds()
        for _, note in ready:
            at = note.get("at")
            ago = format_duration(now - at) if isinstance(at, (int, float)) else "a while"
            said = str(note.get("text", ""))
            # "tell bob to call me" -> "...to tell you to call me"; else "...to tell you: <note>"
            joint = " " if said[:6].lower().startswith(("to ", "about ")) else ": "
            text = "%s: %s asked me %s ago to tell you%s%s" % (
                f["source"], note.get("from", "someone"), ago, joint, said)
            target = f["source"] if note.get("private") or f.get("private") else f["channel"]
            msg.bot.send(network, target, one_line(text))
        return None

    async def take(self, msg, limits: Limits, delivery: Deferred | None, nick: str,
                   private: str | None, text: str) -> dict | None:
        if delivery is not None:
            await delivery
        f = msg.fields
        network, source = f["network"], f["source"]
        wanted = nick.lower()
        if wanted in _ASKER or wanted in _BOT:
            return None  # "tell me a joke", "tell you what": not a note ("tell me about" is education's)
        if wanted in _NOBODY_IN_PARTICULAR:
            return _reply("%s: who is '%s'? Notes are for a nick: tell <nick> <message>." % (source, nick))
        if not _NICK.match(nick):
            return _reply("%s: I can't tell %s anything; that's not a nick." % (source, one_line(nick, 32)))
        if wanted == source.lower():
            return _reply("You can tell yourself that, %s!" % (source,))
        if wanted == msg.bot.nick(network).lower():
            return _reply("I'm listening already, %s." % (source,))
        text = one_line(text)
        that = _that.match(text)
        if that is not None:
            text = text[that.end() - 1:]
        if len(text) > MAX_NOTE:
            return _reply("%s: that note is too long; %d characters at most." % (source, MAX_NOTE))
        key = "%s%s:%s" % (TELL_PREFIX, network, wanted)
        settings = msg.bot.settings.tell
        if len(await msg.bot.store.hgetall(key)) >= settings.max_pending:
            return _reply("%s: %s already has %s waiting; that's enough." % (
                source, nick, plural(settings.max_pending, "note")))
        who = person_key(msg)
        if not limits.allow(who):
            return _reply("Slow down, %s: you can leave another note in %s." % (
                source, format_duration(limits.retry_after(who))))
        now = msg.bot.clock.seconds()
        note_id = "%d-%08x" % (int(now * 1000000), msg.bot.random.getrandbits(32))
        await msg.bot.store.hset(key, note_id, {"from": source, "text": text, "at": now,
                                                "private": bool(private)})
        self._wait(network, wanted)
        return _reply("OK %s, I'll tell %s%s when they next speak." % (
            source, nick, " privately" if private else ""))


tell = example("!tell bob hi", "OK tester, I'll tell bob when they next speak.")(Tell())
