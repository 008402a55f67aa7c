"""
Taught responses and factoids.

Admins teach replies to phrases::

    pubbot: when someone says good morning reply morning, %(nick)s!
    pubbot: when someone says tea reply more tea, vicar? [30%]

(the optional C{[N%]} at the end is the chance of replying, default 100%;
C{somebody}/C{anyone} for C{someone}, C{say}/C{answer}/C{respond with} for
C{reply}, a comma between and quotes around either part are all fine, and a
line that splits two ways is refused until the phrase is quoted).
Anyone sets factoids with C{pubbot: coffee is hot} and recalls them with
C{coffee?} or C{pubbot: what is coffee}; C{forget coffee}, C{forget when
someone says tea} (admins) and C{what do you know about coffee} (or C{tell me
about coffee}) complete the set.

Only plain statements about a plausible subject become factoids (see
L{plausible_subject}): C{pubbot: this is great} or C{pubbot: he is late} are
chat, not facts, and are not stored.

Everything is kept in memory (one compiled regex matches every taught
phrase) with the store behind it, reloaded from the store every
L{RELOAD_SECONDS} so other processes' teaching shows up.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import (
    CHAT_LINES,
    Handler,
    IBatchHandler,
    Limits,
    command,
    command_words,
    example,
    fill,
    format_duration,
    handle_each,
    is_admin,
    one_line,
    patterns,
    person_key,
    sentence,
)

log = Logger()

TAUGHT_KEY = "education:taught"
FACTOIDS_KEY = "education:factoids"
RELOAD_SECONDS = 60.0
#: Lines longer than this are not searched for taught phrases (IRC's are < 512 bytes).
MAX_LINE = 2000
MAX_PHRASE = 100
MAX_RESPONSE = 400
MAX_FACTOID_WORDS = 6
MAX_FACTOIDS = 10000
#: RE2's memory for one pattern of taught phrases (more phrases make more patterns).
PHRASES_MEMORY = 8 << 20
#: Replies that answer a command outrank taught replies, which outrank chatter.
COMMAND_WEIGHT = 10
TAUGHT_WEIGHT = 1
_QUESTION_WORDS = frozenset(["what", "who", "where", "when", "why", "how", "which", "whose", "is",
                             "are", "do", "does", "can", "no", "yes"])
#: Words that make "X is Y" chat rather than a fact when anywhere in X:
#: pronouns, possessives and pointing words ("this is great", "my cat is sick").
_NOT_IN_SUBJECT = frozenset("""
    i me my mine myself you your yours yourself he him his himself she her hers herself it its itself
    we us our ours ourselves they them their theirs themselves this that these those there here
    what who whom whose which where when why how
""".split())
#: Words that make "X is Y" chat when X starts with them: quantities, times, fillers.
_NOT_FIRST_IN_SUBJECT = frozenset("""
    a an all any anybody anyone anything each every everybody everyone everything some somebody someone
    something nobody none nothing no not one another such both either neither
    today tomorrow yesterday tonight now then soon later also so but and or if because well oh ok okay
    yes yeah lol just only still really maybe
""".split())
#: "the X is ...": discourse, not a fact ("the thing is, ...", "the problem is that ...").
_DISCOURSE_NOUNS = frozenset("thing things problem point question issue fact reason truth idea trouble "
                             "catch plan answer difference good bad funny".split())
#: A value that is one of these says how things are now, not what something is ("bob is here").
_PASSING_VALUES = frozenset("here there back away gone home late early right wrong true false ok okay fine "
                            "done ready busy up down on off out in".split())
#: A value starting with one of these goes on talking rather than saying what X is.
_NOT_FIRST_IN_VALUE = frozenset("that because like why what how when if so".split())

# Every pattern chat text reaches runs on RE2 (pubbot.util.patterns): linear in the line.



def _normal(text: str) -> str:
    """The key of a phrase or factoid: lower case, single spaces, no surrounding quotes."""
    text = one_line(text)
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    return text.lower()


def _valid_key(key: str) -> bool:
    """Is C{key} a phrase or factoid as this module writes them (what another writer put may not be)?"""
    return 0 < len(key) <= MAX_PHRASE and key == _normal(key)


def _phrases_pattern(phrases) -> patterns.LinearPattern:
    """
    One regex finding any of C{phrases} (lower case, single spaces) in a
    lower-cased line, on word boundaries, longest first: its group
    C{phrase}. The alternatives share their prefixes (a trie), so a line
    costs about the same with ten phrases or a thousand. A boundary is a
    non-word character (taken into the match) or an end of the text.
    """
    trie: dict = {}
    for phrase in phrases:
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict) -> str:
        branches = [(r"\s+" if char == " " else re.escape(char)) + build(child)
                    for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:%s)" % "|".join(branches)
        return "(?:%s)?" % body if "" in node else body

    return patterns.linear(r"(?:\A|\W)(?P<phrase>%s)(?:\W|\Z)" % build(trie), max_mem=PHRASES_MEMORY)


class Phrases:
    """
    The taught phrases' patterns (L{_phrases_pattern}): one, or, when RE2
    finds that too big for its memory (thousands of long phrases), several
    over parts of them, whose matches L{search} makes one: the leftmost,
    then longest.
    """

    def __init__(self, phrases: Iterable[str]):
        self.patterns: list[patterns.LinearPattern] = []
        self._add(sorted(phrases))

    def _add(self, phrases: list) -> None:
        try:
            self.patterns.append(_phrases_pattern(phrases))
        except patterns.Unsupported:
            if len(phrases) == 1:
                log.error("education: RE2 cannot take the taught phrase {phrase!r}; it is ignored",
                          phrase=phrases[0])
                return
            half = len(phrases) // 2
            self._add(phrases[:half])
            self._add(phrases[half:])

    def search(self, text: str) -> patterns.Match | None:
        best = None
        for pattern in self.patterns:
            found = pattern.search(text)
            if found is not None and (best is None or (found.start("phrase"), -len(found.group("phrase")))
                                      < (best.start("phrase"), -len(best.group("phrase")))):
                best = found
        return best


class Education:
    """One bot's taught phrases and factoids: in memory, the store behind."""

    def __init__(self, bot):
        self.bot = bot
        self.taught: dict[str, dict] = {}
        self.factoids: dict[str, dict] = {}
        self.pattern: Phrases | None = None
        #: Unprompted replies to taught phrases: the original's limits.
        self.limits = Limits(bot.clock, person=(1, 15), channel=(10, 600))
        #: Unprompted factoid recalls ('coffee?' not addressed to the bot): the same
        #: limits, apart, so a recall does not use up a person's taught-reply window.
        self.recalls = Limits(bot.clock, person=(1, 15), channel=(10, 600))
        #: Factoids set per person.
        self.writes = Limits(bot.clock, person=(10, 600))
        self._changes = 0
        self._loaded_at: float | None = None
        self._loading = False
        #: The first load from the store finished (or failed): until then,
        #: commands that read or change factoids wait (L{ready}).
        self.loaded = False
        self._waiting: list[Deferred] = []

    def ready(self) -> Deferred:
        """Fires once the first load from the store has finished (or failed)."""
        if self.loaded:
            return succeed(None)
        d: Deferred = Deferred()
        self._waiting.append(d)
        return d

    def _first_load_done(self) -> None:
        if not self.loaded:
            self.loaded = True
            waiting, self._waiting = self._waiting, []
            for d in waiting:
                d.callback(None)

    # loading

    def maybe_reload(self) -> None:
        """Reload from the store at start and every L{RELOAD_SECONDS} (cheap to call per line)."""
        if self._loading:
            return
        loaded_at = self._loaded_at
        if loaded_at is not None and self.bot.clock.seconds() - loaded_at < RELOAD_SECONDS:
            return
        self._loading = True
        changes = self._changes
        store = self.bot.store

        async def load():
            taught = await store.hgetall(TAUGHT_KEY)
            factoids = await store.hgetall(FACTOIDS_KEY)
            return taught, factoids

        d = Deferred.fromCoroutine(load())

        def loaded(result):
            self._loading = False
            if self._changes != changes:
                self._first_load_done()
                return  # changed here meanwhile: load again, to see both
            self._loaded_at = self.bot.clock.seconds()
            taught, factoids = (
                {k: v for k, v in found.items() if isinstance(v, dict) and _valid_key(k)}
                for found in result)
            self.factoids = factoids
            if taught != self.taught:
                self.taught = taught
                self._compile()
            self._first_load_done()

        def failed(failure):
            self._loading = False
            self._loaded_at = self.bot.clock.seconds()
            log.failure("education could not load from the store", failure)
            self._first_load_done()

        d.addCallbacks(loaded, failed)

    def _compile(self) -> None:
        self.pattern = Phrases(self.taught) if self.taught else None

    # changes

    async def teach(self, phrase: str, entry: dict) -> None:
        await self.ready()  # (a change before the first load would be lost by it)
        self._changes += 1
        self.taught[phrase] = entry
        self._compile()
        await self.bot.store.hset(TAUGHT_KEY, phrase, entry)

    async def unteach(self, phrase: str) -> bool:
        await self.ready()  # (a change before the first load would be lost by it)
        self._changes += 1
        known = self.taught.pop(phrase, None) is not None
        self._compile()
        removed = await self.bot.store.hdel(TAUGHT_KEY, phrase)
        return known or bool(removed)

    async def set_factoid(self, key: str, entry: dict) -> None:
        await self.ready()  # (a change before the first load would be lost by it)
        self._changes += 1
        self.factoids[key] = entry
        await self.bot.store.hset(FACTOIDS_KEY, key, entry)

    async def forget_factoid(self, key: str) -> bool:
        await self.ready()  # (a change before the first load would be lost by it)
        self._changes += 1
        known = self.factoids.pop(key, None) is not None
        removed = await self.bot.store.hdel(FACTOIDS_KEY, key)
        return known or bool(removed)


@implementer(IPlugin, IBatchHandler)
class Responder(Handler):
    """
    The C{education} handler: replies to taught phrases and owns the bot's
    L{Education}. A batch costs nothing while nothing is taught, and one
    scan of its lines when none says a taught phrase.
    """

    def __init__(self):
        super().__init__(self.respond, [CHAT_LINES], name="education",
                         description="Replies to the phrases admins taught me (see 'when').",
                         triggers=("<phrase>",))
        self.education: Education | None = None

    def start(self, bot) -> None:
        super().start(bot)
        self.education = Education(bot)
        self.education.maybe_reload()

    def stop(self) -> None:
        self.education = None
        super().stop()

    def _ready(self) -> tuple[Education, Phrases] | None:
        """The education and its phrases' pattern (reloaded when due); None when nothing is taught."""
        education = self.education
        if education is None:
            return None
        education.maybe_reload()
        pattern = education.pattern
        return None if pattern is None else (education, pattern)

    def respond(self, msg) -> dict | None:
        ready = self._ready()
        return None if ready is None else self._respond(msg, *ready)

    def handle_many(self, messages: list) -> list | None:
        """L{respond} to each message in order, reloading at most once."""
        ready = self._ready()
        if ready is None:
            return None
        education, pattern = ready
        if not _may_say(pattern, messages):
            return None
        return handle_each(self, messages, handle=lambda msg: self._respond(msg, education, pattern))

    @staticmethod
    def _respond(msg, education: Education, pattern: Phrases) -> dict | None:
        content = msg.fields["content"]
        if len(content) > MAX_LINE:
            return None
        found = pattern.search(content.lower())
        if found is None:
            return None
        text = msg.fields.get("command")
        if text is not None and _is_education_command(text):
            return None
        entry = education.taught.get(_normal(found.group("phrase")))
        if entry is None:
            return None
        probability = entry.get("probability", 1.0)
        if probability < 1.0 and msg.bot.random.random() >= probability:
            return None
        if not education.limits.allow(person_key(msg), (msg.fields["network"], msg.fields["channel"])):
            log.debug("taught reply to {source} rate limited", source=msg.fields["source"])
            return None
        values = {"nick": msg.fields["source"], "channel": msg.fields["channel"]}
        return {"content": one_line(fill(str(entry.get("response", "")), values), MAX_RESPONSE),
                "weight": TAUGHT_WEIGHT}


def _may_say(pattern: Phrases, messages: Iterable) -> bool:
    """
    Could a taught phrase be in one of the messages' contents? False only
    when none has one: the lower-cased contents joined by newlines (not
    word characters, so the phrases' boundary checks see line ends as the
    ends of a line) have no match, and every line's would be one there.
    """
    try:
        joined = "\n".join([msg.fields["content"] for msg in messages])
    except (KeyError, TypeError):
        return True
    return pattern.search(joined.lower()) is not None


responder = Responder()

#: "someone says <phrase> reply <response> [N%]", also with somebody/anyone/anybody, a comma before
#: the reply, say/answer/respond (with) for reply, and the phrase in quotes (then it may hold those
#: words). The pattern only finds a teaching; L{parse_teaching} reads it, in linear time.
_TEACH_ARGS = r"(?P<teaching>(?:someone|somebody|anyone|anybody)\s+says(?:[^\w].*)?)"
_TEACH = patterns.linear(r"when\s+%s\Z" % _TEACH_ARGS, re.IGNORECASE | re.DOTALL)
_TEACH_HEAD = patterns.linear(r"(?:someone|somebody|anyone|anybody)\s+says\s+", re.IGNORECASE)
_REPLY_WORD = patterns.bounded(r"(?<![\w'])(?:reply|say|answer|respond)(?![\w'])", re.IGNORECASE)
#: After a quoted phrase (matched there, then checked not to run on into a word).
_AFTER_QUOTE = patterns.linear(r",?\s+(?:reply|say|answer|respond)", re.IGNORECASE)
_CHANCE = patterns.linear(r"\d{1,3}(?:\.\d+)?\Z")
_FORGET = patterns.linear(r"forget\s", re.IGNORECASE)
_FORGET_TAUGHT = patterns.linear(r"when\s+(?:someone|somebody|anyone|anybody)\s+says\s+(?P<phrase>.+)\Z",
                                 re.IGNORECASE | re.DOTALL)


def _is_education_command(text: str) -> bool:
    return _TEACH.match(text) is not None or _FORGET.match(text) is not None


def _education(msg) -> Education | None:
    education = responder.education
    if education is None or education.bot is not msg.bot:
        return None
    return education


_NOT_RUNNING = {"content": "Education is switched off here.", "weight": COMMAND_WEIGHT}


def _reply(text: str | list[str]) -> dict:
    return {"content": text, "weight": COMMAND_WEIGHT}


@command("when", args=_TEACH_ARGS, flags=re.IGNORECASE | re.DOTALL,
         usage="someone says <phrase> reply <response> [N%]",
         admin=True, refusal="Sorry %(nick)s, only admins can teach me replies.")
@example("!when someone says hello reply hi there", "OK, when someone says 'hello' I'll reply 'hi there'.")
@example("hello", "hi there")
async def teach(msg, teaching=None):
    """Admins: teach me a reply (%(nick)s is who spoke; [N%] replies only N% of the time)."""
    education = _education(msg)
    if education is None:
        return _NOT_RUNNING
    parsed = parse_teaching(teaching) if teaching is not None else None
    if parsed is None:
        return _reply("Teach me with: when someone says <phrase> reply <response> [N%]")
    if parsed.ambiguous:
        return _reply('That reads two ways; put the phrase in quotes, as in: '
                      'when someone says "good morning" reply morning!')
    key = _normal(parsed.phrase)
    response = _unquote(one_line(parsed.response))
    if not key or len(key) > MAX_PHRASE:
        return _reply("A phrase is 1 to %d characters." % (MAX_PHRASE,))
    if not response or len(response) > MAX_RESPONSE:
        return _reply("A reply is 1 to %d characters." % (MAX_RESPONSE,))
    probability = 1.0
    if parsed.percent is not None:
        probability = float(parsed.percent) / 100
        if not 0 < probability <= 1:
            return _reply("The chance of replying is more than 0% and at most 100%.")
    replaced = key in education.taught
    await education.teach(key, {"response": response, "probability": probability,
                                "by": msg.source, "at": msg.bot.clock.seconds()})
    chance = "" if probability == 1 else " (%s of the time)" % _percent(probability)
    return _reply("%s, when someone says '%s' I'll reply '%s'%s." % (
        "Changed" if replaced else "OK", key, response, chance))


@dataclass(frozen=True)
class Teaching:
    """A parsed 'someone says <phrase> reply <response> [N%]'."""

    phrase: str
    response: str
    percent: str | None = None
    #: Unquoted, with another reply word in it: it could be split elsewhere.
    ambiguous: bool = False


def parse_teaching(text: str) -> Teaching | None:
    """
    Read 'someone says <phrase> reply <response> [N%]' (see L{_TEACH_ARGS});
    None when it has no phrase, reply word or response. Each step is one
    scan of the text: no backtracking over its length.
    """
    head = _TEACH_HEAD.match(text)
    if head is None:
        return None
    rest = text[head.end():].strip()
    percent = None
    if rest.endswith("%]"):
        start = rest.rfind("[")
        if start > 0 and rest[start - 1].isspace() and _CHANCE.match(rest[start + 1:-2]):
            percent = rest[start + 1:-2]
            rest = rest[:start].rstrip()
    if rest[:1] in ("\"", "'"):
        close = rest.find(rest[0], 1)
        after = _AFTER_QUOTE.match(rest, close + 1) if close > 1 else None
        if after is not None and not _is_word(rest[after.end():after.end() + 1] or " ", "'"):
            response = _response(rest[after.end():])
            if response:
                return Teaching(rest[1:close], response, percent)
    for word in _REPLY_WORD.finditer(rest):
        start, end = word.span()
        if not (rest[start - 1:start].isspace() and rest[end:end + 1].isspace()):
            continue  # checked before anything is copied: a line of such words stays linear
        phrase = rest[:start].rstrip().rstrip(",").rstrip()
        response = _response(rest[end:])
        if not phrase or not response:
            continue
        others = _REPLY_WORD.search(phrase) is not None or _REPLY_WORD.search(response) is not None
        return Teaching(phrase, response, percent, ambiguous=others)
    return None


def _response(text: str) -> str:
    """The response after the reply word: without a leading 'with' (as in 'respond with')."""
    if not text[:1].isspace():
        return ""
    text = text.strip()
    word, _, rest = text.partition(" ")
    if word.lower() == "with" and rest.strip():
        return rest.strip()
    return text


def _unquote(text: str) -> str:
    """C{text} without one pair of quotes around it."""
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1].strip()
    return text


def _percent(probability: float) -> str:
    return "%g%%" % (round(probability * 100, 2),)


@command("forget", args=r"(?P<what>.+)", flags=re.IGNORECASE | re.DOTALL, usage="<thing>")
@example("!forget tea", "I knew nothing about tea.")
async def forget(msg, what=None):
    """Forgets a factoid; admins: 'forget when someone says <phrase>' forgets a taught reply."""
    education = _education(msg)
    if education is None:
        return _NOT_RUNNING
    if what is None:
        return _reply("Forget what?")
    taught = _FORGET_TAUGHT.match(what)
    if taught is not None:
        if not is_admin(msg):
            return _reply("Sorry %s, only admins can make me forget replies." % (msg.source,))
        key = _normal(taught.group("phrase"))
        if await education.unteach(key):
            return _reply("OK, I'll say nothing when someone says '%s'." % (key,))
        return _reply("I had no reply to '%s'." % (key[:MAX_PHRASE],))
    key = _factoid_key(what)
    if key and await education.forget_factoid(key):
        return _reply("I've forgotten %s." % (key,))
    return _reply("I knew nothing about %s." % (key[:MAX_PHRASE] or "that",))


def _after_loading(education: Education, f: Callable, *args: Any) -> Deferred:
    """C{f(*args)} once C{education} has been loaded from the store."""
    async def later():
        await education.ready()
        return f(*args)
    return Deferred.fromCoroutine(later())


def _factoid_key(text: str) -> str:
    """The key of a factoid's subject: normalised, without end punctuation or a leading "a"/"an"."""
    key = _normal(text).rstrip("?!. ")
    article, _, rest = key.partition(" ")
    return rest if article in ("a", "an") and rest else key


@command("what", args=r"do\s+you\s+know\s+about\s+(?P<what>.+?)\??", flags=re.IGNORECASE | re.DOTALL,
         usage="do you know about <thing>")
@example("!what do you know about tea", "I know nothing about tea.")
def what_do_you_know(msg, what=None):
    """Tells what I know about something: its factoid and the taught replies it appears in."""
    return _what_i_know(msg, what)


def _what_i_know(msg, what: str | None):
    education = _education(msg)
    if education is None:
        return _NOT_RUNNING
    if what is None:
        return None
    if not education.loaded:  # right after start: answer once the store was read
        return _after_loading(education, _what_i_know, msg, what)
    key = _factoid_key(what)
    if not key or len(key) > MAX_PHRASE:
        return _reply("I know nothing about that.")
    now = msg.bot.clock.seconds()
    lines = []
    factoid = education.factoids.get(key)
    if factoid is not None:
        lines.append("%s is %s (%s)" % (key, factoid.get("value"), _told(factoid, now)))
    for phrase in sorted(education.taught):
        if _has_words(phrase, key):
            entry = education.taught[phrase]
            chance = entry.get("probability", 1.0)
            lines.append("When someone says '%s' I reply '%s'%s (%s)" % (
                phrase, entry.get("response"), "" if chance >= 1 else ", %s of the time" % _percent(chance),
                _told(entry, now)))
    if not lines:
        return _reply("I know nothing about %s." % (key,))
    limit = msg.bot.settings.irc.max_reply_lines
    if len(lines) > limit:
        lines[limit - 1:] = ["...and %d more." % (len(lines) - limit + 1,)]
    return _reply(lines)


_TELL_ME_ABOUT = patterns.linear(r"tell\s+(?:me|us)\s+(?:about|of)\s+(?P<what>.+)", re.IGNORECASE | re.DOTALL)


def _match_tell_me_about(msg) -> dict | None:
    text = msg.fields.get("command")
    if text is None or text[:4].lower() != "tell":
        return None
    found = _TELL_ME_ABOUT.match(text)
    what = None if found is None else found.group("what").strip().rstrip("?.!").rstrip()
    return {"what": what} if what else None


def _tell_me_about(msg, what):
    """Tells what I know about something, as 'what do you know about' does."""
    return _what_i_know(msg, what)


#: "tell me about X" is asked of me (tell's notes are for a nick, never "me" or "us").
tell_me_about = Handler(_tell_me_about, [CHAT_LINES], name="tell-me-about",
                        triggers=("tell me about <thing>",), matcher=_match_tell_me_about,
                        content_filter=patterns.linear(r"^tell\s", re.MULTILINE | re.IGNORECASE))


def _has_words(text: str, words: str) -> bool:
    """Does C{text} hold C{words} between non-word characters (as re's C{\\w}) or its ends?"""
    start = text.find(words)
    while start >= 0:
        end = start + len(words)
        if ((start == 0 or not _is_word(text[start - 1]))
                and (end == len(text) or not _is_word(text[end]))):
            return True
        start = text.find(words, start + 1)
    return False


def _is_word(char: str, more: str = "") -> bool:
    return char.isalnum() or char == "_" or char in more


def _told(entry: dict, now: float) -> str:
    at = entry.get("at")
    ago = " %s ago" % format_duration(now - at) if isinstance(at, (int, float)) else ""
    return "%s told me%s" % (entry.get("by") or "someone", ago)


_FACTOID_SET = patterns.linear(r"(?P<key>[^\n]{1,%d}?)\s+is\s+(?P<value>.+)\Z" % (MAX_PHRASE,),
                               re.IGNORECASE | re.DOTALL)


def _words(text: str) -> list[str]:
    """The lower-case words of C{text}, punctuation around them cut ("bob's," -> "bob's")."""
    return [w for w in (word.strip(".,;:!?\"'()[]") for word in text.lower().split()) if w]


def plausible_subject(key: str) -> bool:
    """
    Could C{key} (a factoid key: lower case) be what a fact is about? Not
    when it has a pronoun or pointing word ("this", "my cat", "what I
    mean"), starts with a quantity, time or filler ("everything", "today",
    "all"), or is "the thing", "the problem" and the like.
    """
    words = _words(key)
    if not words or len(words) > MAX_FACTOID_WORDS:
        return False
    if words[0] in _QUESTION_WORDS or words[0] in _NOT_FIRST_IN_SUBJECT:
        return False
    if any(word in _NOT_IN_SUBJECT for word in words):
        return False
    return not (len(words) == 2 and words[0] == "the" and words[1] in _DISCOURSE_NOUNS)


def plain_statement(value: str) -> bool:
    """Does C{value} say what something is (not a question, a passing state or more talk)?"""
    stripped = value.strip()
    if not stripped or stripped.endswith("?") or stripped[0] in ",;:-":
        return False
    words = _words(stripped)
    if not words:
        return False
    return not ((len(words) == 1 and words[0] in _PASSING_VALUES) or words[0] in _NOT_FIRST_IN_VALUE)


def _match_factoid(msg) -> dict | None:
    text = msg.fields.get("command")
    if text is None or not msg.fields.get("direct") or " is " not in text.lower():
        return None
    found = _FACTOID_SET.match(text)
    if found is None:
        return None
    key = _factoid_key(found.group("key"))
    if not plausible_subject(key) or not plain_statement(found.group("value")):
        return None
    if key.split()[0] in _command_words(msg.bot):
        return None
    return {"key": key, "value": found.group("value")}


def _command_words(bot) -> set:
    return command_words(bot.handlers) if bot is not None else set()


async def _set_factoid(msg, key, value):
    """Remembers a factoid: 'pubbot: <thing> is <text>' (anyone; recall it with '<thing>?')."""
    education = _education(msg)
    if education is None:
        return _NOT_RUNNING
    await education.ready()  # what is known decides the answer: not before the store was read
    value = one_line(value)
    if value.endswith(".") and not value.endswith(".."):
        value = value[:-1].rstrip()  # the statement's full stop, not part of the fact
    if len(value) > MAX_RESPONSE:
        return _reply("That's too long to remember; %d characters at most." % (MAX_RESPONSE,))
    if not value:
        return None
    if not education.writes.allow(person_key(msg)):
        return _reply("Slow down, %s: you can set another factoid in %s." % (
            msg.source, format_duration(education.writes.retry_after(person_key(msg)))))
    if key not in education.factoids and len(education.factoids) >= MAX_FACTOIDS:
        return _reply("I know too much already; make me forget something first.")
    old = education.factoids.get(key)
    await education.set_factoid(key, {"value": value, "by": msg.source, "at": msg.bot.clock.seconds()})
    if old is not None and old.get("value") != value:
        return _reply("OK, %s is now %s (it was %s)." % (key, value, old.get("value")))
    return _reply(sentence("OK, %s is %s" % (key, value)))


#: What every line _match_factoid takes has: " is " in its lowered command,
#: the end of its content. Only "I" lowers to "i" ("\u0130" to "i" and a
#: combining dot, never followed by "s"), only "S" to "s" and nothing else
#: to " ", so IGNORECASE finds every " is " str.lower() makes. On RE2
#: (Python's meaning, see pubbot.patterns): one DFA pass over a batch's
#: joined lines, where Python's re compared case-insensitively at every
#: character (and four substrings take four scans): 90 -> 16 us for 470
#: flood lines.
FACTOID_FILTER = patterns.linear(" is ", re.IGNORECASE)

factoid = Handler(_set_factoid, [CHAT_LINES], name="factoid", triggers=("<thing> is <text>",),
                  matcher=_match_factoid, content_filter=FACTOID_FILTER)
factoid = example("pubbot: tea is hot", "OK, tea is hot.")(example("tea?", "tea is hot")(factoid))

_ASKING = patterns.linear(r"(?:what|who)(?:\s+is|'s)\s+", re.IGNORECASE)
#: Asked about, unknown, and still no answer: "what is up", "what is going on".
_NOT_ASKED_ABOUT = frozenset("up going happening new next wrong the-matter".split())


def _match_recall(msg) -> dict | None:
    """
    A factoid asked for: '<thing>?' or 'what is <thing>?' anywhere, and
    'what is <thing>' without the question mark when addressed to me. An
    addressed 'what is <thing>' I don't know gets a hint how to teach me,
    when <thing> could be a factoid's subject.
    """
    content = msg.fields["content"]
    direct = bool(msg.fields.get("direct"))
    if len(content) > MAX_PHRASE + 20 or not (content.endswith("?") or direct):
        return None
    education = _education(msg)
    if education is None:
        return None
    if not education.loaded:  # right after start: decide once the store was read
        return {"key": None, "entry": None, "education": education, "pending": True}
    key = _factoid_key(content)
    entry = education.factoids.get(key)
    if entry is not None and content.endswith("?"):
        return {"key": key, "entry": entry, "education": education}
    asked = _ASKING.match(key)
    if asked is None:
        return None
    asked_about = key[asked.end():]
    key = _factoid_key(asked_about)
    entry = education.factoids.get(key)
    if entry is not None:
        return {"key": key, "entry": entry, "education": education}
    words = _words(key)
    if not direct or not plausible_subject(key) or len(words) > 3 or words[0] in _NOT_ASKED_ABOUT:
        return None
    return {"key": asked_about, "entry": None, "education": education}


def _recall(msg, key, entry, education, pending=False):
    """Recalls a factoid: '<thing>?'."""
    if pending:
        def again():
            found = _match_recall(msg)
            return None if found is None or found.get("pending") else _recall(msg, **found)
        return _after_loading(education, again)
    if not msg.fields.get("direct") and not education.recalls.allow(
            person_key(msg), (msg.fields["network"], msg.fields["channel"])):
        return None
    if entry is None:
        return _reply("I don't know what %s is yet; teach me with: %s: %s is <what it is>" % (
            key, msg.bot.nick(msg.fields["network"]), key))
    return _reply("%s is %s" % (key, entry.get("value")))


#: What every line _match_recall takes has: content ending with "?", or
#: (addressed) starting with "what" or "who" (found at the ends of lines,
#: so a batch's joined lines are one scan). On RE2 (Python's meaning, see
#: pubbot.patterns): one DFA pass over a batch, where Python's re tried the
#: alternation at every character (617 -> 47 us for 470 flood lines).
RECALL_FILTER = patterns.linear(r"\?$|^(?:what|who)", re.MULTILINE | re.IGNORECASE)

recall = Handler(_recall, [CHAT_LINES], name="recall", triggers=("<thing>?",), matcher=_match_recall,
                 content_filter=RECALL_FILTER)
