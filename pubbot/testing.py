"""
A harness for testing handler plugins in a few lines::

    from pubbot.testing import Harness
    from myplugin import my_handler

    def test_foo():
        bot = Harness(my_handler)
        assert bot.reply("foo=1, bar=2") == 'Foo was "1", bar was "2"'
        bot.clock.advance(60)            # drive time

Everything runs on a L{Clock} and a memory store; what the bot sends is
recorded in C{bot.sent}.

L{check_patterns} checks that a plugin module's patterns take bounded work
on hostile lines (see L{pubbot.util.patterns})::

    from pubbot.testing import check_patterns
    import myplugin

    def test_patterns():
        check_patterns(myplugin)

L{ReactorStalls} measures how long the reactor thread was held while
something ran (built on L{pubbot.stallwatch.StallWatch}): use it around a
hostile battery in a benchmark, or to find the input that holds the
reactor (tests assert what happened, not how fast)::

    from pubbot.testing import ReactorStalls

    with ReactorStalls(reactor) as stalls:
        await run_the_battery()
    print(stalls.worst_ms, stalls.worst_at)
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from zope.interface import implementer

from .config.registry import Declared, declared_in, section_name
from .config.settings import Settings, add_sections, parse
from .core.bot import Bot
from .core.interfaces import IChannelModeration, IChatService, IChatStatus, IHandler
from .core.message import Reply
from .loader import handler_sections as loader_sections
from .store.memory import MemoryStore
from .util import patterns
from .util.stallwatch import StallWatch


@implementer(IChatService, IChatStatus, IChannelModeration)
class FakeChat:
    """
    A chat network that records what is sent and has a settable roster;
    what it shows the dashboard (L{IChatStatus}) can be set too. What it
    is asked to do to channels (L{IChannelModeration}) is kept in
    C{moderated} as IRC lines would say it (C{"KICK #c nick reason"},
    C{"MODE #c +b mask"}); C{quiet} is the list mode quieting a mask
    (C{"q"}, or a prefix such as C{"~m:"} meaning C{+b} with it; C{""}
    for none) and C{hostmasks} (nick -> C{nick!user@host}) the hosts it
    knows.
    """

    connected = True
    server_network: str | None = None
    lines_in = lines_out = reconnects = lag = None

    def __init__(self, network: str = "irc", nick: str = "pubbot", protocol: str = "",
                 command_prefix: str = "!"):
        self.network = network
        self.protocol = protocol or ("console" if network == "console" else "irc")
        self.command_prefix = command_prefix
        self.nick = nick
        self.sent: list[tuple[str, str, str]] = []
        self.rosters: dict[str, list[str]] = {}
        #: (channel, nick) -> the mode letters they hold there ("o", "v"); see L{Harness.give_modes}.
        self.channel_modes: dict[tuple[str, str], str] = {}
        self.moderated: list[str] = []
        self.quiet = "q"
        self.hostmasks: dict[str, str] = {}

    def send(self, target: str, text: str, kind: str = "say", person: str | None = None) -> None:
        self.sent.append((target, text, kind))

    def roster(self, channel: str) -> list:
        return list(self.rosters.get(channel, ()))

    def modes(self, channel: str, nick: str) -> str:
        return self.channel_modes.get((channel.lower(), nick.lower()), "")

    def kick(self, channel: str, nick: str, reason: str = "") -> bool:
        self.moderated.append(" ".join(["KICK", channel, nick] + ([reason] if reason else [])))
        return True

    def mode(self, channel: str, change: str, argument: str) -> bool:
        self.moderated.append("MODE %s %s %s" % (channel, change, argument))
        return True

    def set_topic(self, channel: str, text: str) -> bool:
        self.moderated.append("TOPIC %s %s" % (channel, text))
        return True

    def quiet_mode(self, mask: str) -> tuple[str, str] | None:
        if not self.quiet:
            return None
        return ("q", mask) if self.quiet == "q" else ("b", self.quiet + mask)

    def hostmask_of(self, nick: str) -> str | None:
        return self.hostmasks.get(nick.lower())

    def channels(self) -> dict:
        return {channel: list(nicks) for channel, nicks in self.rosters.items()}

    def throttle_depth(self) -> None:
        return None


def builtin_sections() -> list[Declared]:
    """The sections the built-in plugins declare (always installed, as in the bot)."""
    if not _BUILTIN_SECTIONS:
        from .loader import load_plugins
        _BUILTIN_SECTIONS.extend(load_plugins(installed=False).sections)
    return list(_BUILTIN_SECTIONS)


#: L{builtin_sections}, found once (the built-in plugins do not change while tests run).
_BUILTIN_SECTIONS: list[Declared] = []


def handler_sections(handlers: Iterable[Any], extra: Iterable[type] = (),
                     builtins: bool = False) -> list[Declared]:
    """
    The sections (L{pubbot.api.section}) declared in the modules of
    C{handlers}, as the loader finds them, then the section classes C{extra},
    then (with C{builtins}) those of the built-in plugins.
    """
    found = loader_sections(handlers, extra)
    if builtins:
        taken = {f.name for f in found}
        found += [d for d in builtin_sections() if d.name not in taken]
    return found


def make_settings(config: dict | None = None, *plugins: Any) -> Settings:
    """
    C{config} (a TOML document as a dict) checked as the bot checks its file,
    with the sections of C{plugins}: modules (their declared sections),
    handlers or handler classes (their modules') or section classes.
    """
    declared: list[Declared] = []
    for plugin in plugins:
        if isinstance(plugin, ModuleType):
            found = declared_in(plugin, plugin.__name__.rpartition(".")[2])
        elif section_name(plugin) is not None:
            found = handler_sections((), (plugin,))
        else:
            found = handler_sections((plugin,))
        declared += [d for d in found if d.cls not in {f.cls for f in declared}]
    return parse(config or {}, declared)


class Harness:
    """
    A bot with the given handlers, a L{Clock}, a memory store and a
    L{FakeChat} (C{chat}, on C{network}); with C{[networks.NAME]} tables in
    the config, a L{FakeChat} for each of them too (C{chats} by name).

    C{config} (a TOML document as a dict) is checked as the bot checks the
    file: against the core's tables, the sections the handlers' modules
    declare (and the section classes in C{sections}) and the built-in
    plugins' (installed in every bot), read as
    C{bot.settings.NAME}. Given C{settings} without a section of theirs, its
    defaults are added.
    """

    def __init__(self, *handlers: Any, settings: Settings | None = None,
                 config: dict | None = None, network: str = "irc",
                 nick: str = "pubbot", seed: int = 0, start_time: float = 1_000_000_000.0,
                 sections: Iterable[type] = (), store: Any = None):
        self.clock = Clock()
        self.clock.advance(start_time)
        declared = handler_sections(handlers, sections, builtins=True)
        if settings is None:
            settings = parse(config or {}, declared)
        else:
            settings = add_sections(settings, {}, [d for d in declared if d.name not in settings.sections])
        self.settings = settings
        #: C{store} shared by several harnesses stands for several processes of one cluster.
        self.store = store if store is not None else MemoryStore(self.clock)
        from .reload import PluginReloader
        self.bot = Bot(self.settings, self.clock, self.store, rng=random.Random(seed),
                       reloader=PluginReloader)
        self.chat = FakeChat(network, nick, command_prefix=self.settings.irc.command_prefix)
        self.bot.register_chat(self.chat)
        self.chats: dict[str, FakeChat] = {network: self.chat}
        for name, more in self.settings.networks.items():
            self.chats[name] = FakeChat(name, more.nick, command_prefix=more.command_prefix)
            self.bot.register_chat(self.chats[name])
        for h in handlers:
            self.bot.add_handler(h)
        self.bot.start()

    @property
    def sent(self) -> list[tuple[str, str, str]]:
        return self.chat.sent

    def say(self, content: str, source: str = "alice", channel: str = "#pubbot",
            private: bool = False, *, network: str | None = None, **fields: Any) -> Deferred:
        """Publish a chat line (on C{network}, default C{chat}'s); fires with the chosen L{Reply} or None."""
        fields.setdefault("hostmask", "%s!%s@example.org" % (source, source.lower()))
        fields.setdefault("account", None)
        if private:
            channel = source
        return self.bot.chat_line(network or self.chat.network, channel, source, content,
                                  private=private, **fields)

    def reply(self, content: str, **kwargs: Any) -> str | None:
        """
        Say C{content} and return the reply's text (lines joined with
        newlines), or None. The handlers must have finished by the time this
        returns (advance the clock first if they wait on it).
        """
        result = self._now(self.say(content, **kwargs))
        return "\n".join(result.lines) if isinstance(result, Reply) else None

    def event(self, channel: str, kind: str, /, *, network: str | None = None, **fields: Any) -> Any:
        """Publish a join or leave (C{kind} the topic's last word); returns the reply, if any."""
        return self._now(self.bot.chat_event(network or self.chat.network, channel, kind, **fields))

    def join(self, nick: str, channel: str = "#pubbot", *, network: str | None = None,
             **fields: Any) -> Any:
        fields.setdefault("hostmask", "%s!%s@example.org" % (nick, nick.lower()))
        return self.event(channel, "join", network=network, source=nick, **fields)

    def publish(self, topic: str, **fields: Any) -> Any:
        return self._now(self.bot.publish(topic, **fields))

    def give_modes(self, nick: str, modes: str, channel: str = "#pubbot", *,
                   network: str | None = None) -> None:
        """C{nick} now holds C{modes} (letters: C{"o"}, C{"v"}, C{""} for none) in C{channel}."""
        chat = self.chats[network] if network else self.chat
        if channel not in chat.rosters:
            chat.rosters[channel] = []
        if nick not in chat.rosters[channel]:
            chat.rosters[channel].append(nick)
        chat.channel_modes[(channel.lower(), nick.lower())] = modes

    def stop(self) -> Any:
        return self._now(self.bot.stop())

    @staticmethod
    def _now(d: Deferred) -> Any:
        results: list = []
        d.addBoth(results.append)
        if not results:
            raise AssertionError("the handlers have not finished; advance the clock?")
        outcome = results[0]
        if hasattr(outcome, "raiseException"):
            outcome.raiseException()
        return outcome


#: Runs of these (and of each pattern's own words) make the hostile lines.
_SEPARATORS = (" ", "\t", " \t", ",", ", ", ":", "-", "+", "++", "--", ".", "(", ")", "()", "[", "]", "%",
               "?", "!", "/", "=", "\\", "a", "a ", "\u00e9", "\u3000", "\u0130")


def fit(text: str, size: int = 512) -> str:
    """C{text} cut to at most C{size} bytes of UTF-8, on a character boundary."""
    return text.encode("utf-8")[:size].decode("utf-8", "ignore")


#: Where the nested items of a regex parse-tree node are: op name -> index in its argument.
_NESTED_AT = {"SUBPATTERN": 3, "MAX_REPEAT": 2, "MIN_REPEAT": 2, "POSSESSIVE_REPEAT": 2,
              "ASSERT": 1, "ASSERT_NOT": 1}


def pattern_words(pattern: Any, ordered: bool = False) -> list[str]:
    """
    The literal runs of C{pattern} (Python syntax, source or compiled):
    the 20 longest, or with C{ordered} all, in the order they come in it.
    """
    source = pattern.pattern if isinstance(pattern, (re.Pattern, patterns.LinearPattern)) else pattern
    words: dict[str, None] = {}
    run: list[str] = []

    def walk(items: Any) -> None:
        for op, av in items:
            if str(op) == "LITERAL":
                run.append(chr(av))
                continue
            if run:
                words["".join(run)] = None
                del run[:]
            if str(op) == "BRANCH":
                for alt in av[1]:
                    walk(alt)
            elif str(op) in _NESTED_AT:
                walk(av[_NESTED_AT[str(op)]])
        if run:
            words["".join(run)] = None
            del run[:]

    if isinstance(source, str):
        walk(re._parser.parse(source))  # type: ignore[attr-defined]
    if ordered:
        return list(words)
    return sorted(words, key=lambda w: (-len(w), w))[:20]


def hostile_lines(pattern: Any, size: int = 512) -> list[str]:
    """
    Lines of C{size} bytes made to stall a backtracking matcher on
    C{pattern}: long runs of whitespace and of separators, its own words
    repeated and run into whitespace, near misses of them, and each start
    of its words in order (C{when someone says}) then a long run.
    """
    words = pattern_words(pattern)
    ordered = [w.strip() for w in pattern_words(pattern, ordered=True) if w.strip()]
    lines = []
    for sep in _SEPARATORS:
        lines += [sep * size, "x" + sep * size, sep * (size // 2) + "x" + sep * size]
    for word in words:
        lines += [(word + " ") * size, word + " " * size + "x", (word + "\t  ") * size, word * size,
                  (word[:-1] + " ") * size, word + word[-1:] * size, word + " x" * size, (" " + word) * size,
                  word + " " + "reply " * size, word + "(" + "a " * size, word + " " * (size // 2) + word]
    if words:
        lines.append(fit(" ".join(words) + " " * size + "x", size))
        lines.append(fit((" " * 40).join(words) * size, size))
    for count in range(1, min(len(ordered), 8) + 1):
        start = " ".join(ordered[:count])
        for run in (" ", "\t", " x", " " + ordered[-1]):
            lines.append(start + " " + run * size)
            lines.append(start + " x" + run * size + "x")
    return [fit(line, size) for line in lines]


def module_patterns(module: ModuleType, extra: Iterable[Any] = ()) -> dict[str, Any]:
    """
    The patterns chat text may reach in C{module}, by name: its compiled
    patterns (RE2's or Python's), and of its handlers the C{patterns}
    (see L{pubbot.api.Handler}) and a regex C{content_filter}, compiled as
    the dispatcher does (Python's re, with C{re.MULTILINE}); then C{extra}.
    """
    found: dict[str, Any] = {}
    prefix = module.__name__
    for name, value in sorted(vars(module).items()):
        if isinstance(value, (re.Pattern, patterns.LinearPattern)) and isinstance(value.pattern, str):
            found["%s.%s" % (prefix, name)] = value
        elif IHandler.providedBy(value):
            for i, pattern in enumerate(getattr(value, "patterns", ())):
                found["%s.%s.patterns[%d]" % (prefix, name, i)] = pattern
            content_filter = getattr(value, "content_filter", None)
            if isinstance(content_filter, (str, re.Pattern)):
                found["%s.%s.content_filter" % (prefix, name)] = patterns.with_flags(
                    re.compile(content_filter) if isinstance(content_filter, str) else content_filter,
                    re.MULTILINE)
    for i, pattern in enumerate(extra):
        found["%s.extra[%d]" % (prefix, i)] = pattern
    return found


def check_patterns(module: ModuleType, extra: Iterable[Any] = (), size: int = 512,
                   limit: int = patterns.LIMIT) -> dict[str, int]:
    """
    Check every pattern of C{module} (L{module_patterns}, plus C{extra}:
    patterns it makes at run time): its L{pubbot.util.patterns.work_bound} on a
    line of C{size} bytes is known and at most C{limit}, and searching,
    matching and iterating over each of L{hostile_lines} works. Raises
    AssertionError naming every pattern that fails; returns the bounds by
    name. A pattern left on Python's re fails when its backtracking is not
    bounded by its structure: rewrite it for RE2 (no lookarounds or
    backreferences) or without nested or ambiguous quantifiers.
    """
    bounds: dict[str, int] = {}
    problems = []
    for name, pattern in module_patterns(module, extra).items():
        bound = patterns.work_bound(pattern, size)
        if bound is None or bound > limit:
            engine = "RE2" if isinstance(pattern, patterns.LinearPattern) else "Python's re"
            problems.append("%s %r (%s): may take %s steps on a %d-byte line, over %d" % (
                name, pattern.pattern, engine, "unboundedly many" if bound is None else bound, size, limit))
            continue
        bounds[name] = bound
        for line in hostile_lines(pattern, size):
            pattern.search(line)
            pattern.match(line)
            for _ in pattern.finditer(line):
                pass
    if problems:
        raise AssertionError("patterns whose work is not bounded:\n" + "\n".join(problems))
    return bounds


class ReactorStalls:
    """
    The reactor's stalls while a block runs: a L{StallWatch} ticking every
    C{interval} seconds on C{reactor} (injected: a real reactor, or a
    L{Clock} in tests), started on entering the block and stopped on
    leaving it (also when it raises). C{worst} is the longest stall in
    seconds (a gap between ticks minus C{interval}), C{worst_ms} the same
    in milliseconds, C{worst_at} the reactor time it ended, C{ticks} how
    many ticks ran. Usable again: each block measures afresh.
    """

    def __init__(self, reactor: Any, interval: float = 0.005):
        self.watch = StallWatch(reactor, interval)

    def __enter__(self) -> ReactorStalls:
        self.watch.reset()
        if not self.watch.running:
            self.watch.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.watch.stop()

    @property
    def worst(self) -> float:
        return self.watch.worst

    @property
    def worst_ms(self) -> float:
        return self.watch.worst * 1000.0

    @property
    def worst_at(self) -> float | None:
        return self.watch.worst_at

    @property
    def ticks(self) -> int:
        return self.watch.ticks
#: Who says the examples L{check_examples} runs: an admin and a channel op.
EXAMPLE_SPEAKER = "tester"


def _finished(harness: Harness, d: Deferred, limit: float = 60.0) -> Any:
    """What C{d} fires with, advancing the clock a second at a time (at most C{limit}) until it does."""
    results: list = []
    d.addBoth(results.append)
    waited = 0.0
    while not results and waited < limit:
        harness.clock.advance(1.0)
        waited += 1.0
    if not results:
        raise AssertionError("no answer after %gs" % (limit,))
    outcome = results[0]
    if hasattr(outcome, "raiseException"):
        outcome.raiseException()
    return outcome


def check_examples(module: ModuleType, config: dict | None = None) -> int:
    """
    Run the examples (L{pubbot.api.example}) of C{module}'s handlers and
    return how many ran. Each handler's run in order, in a L{Harness} of
    all the module's handlers (with C{config}), said in C{#pubbot} by
    someone who is an admin and a channel op; the answer must be the
    example's (C{...} stands for any text). Raises AssertionError naming
    every example that failed.
    """
    from .core.help import matches
    from .loader import _providers
    handlers = _providers([module])
    settings = dict(config or {})
    plugins = dict(settings.get("plugins", {}))
    plugins["admins"] = list(plugins.get("admins", ())) + [EXAMPLE_SPEAKER]
    settings["plugins"] = plugins
    count, problems = 0, []
    for handler in handlers:
        examples = getattr(handler, "examples", ())
        if not examples:
            continue
        harness = Harness(*handlers, config=settings)
        harness.give_modes(EXAMPLE_SPEAKER, "o")
        for said, expected in examples:
            count += 1
            try:
                reply = _finished(harness, harness.say(said, source=EXAMPLE_SPEAKER, account=EXAMPLE_SPEAKER))
            except Exception as e:
                problems.append("%s: %r raised %s: %s" % (handler.name, said, type(e).__name__, e))
                continue
            answer = "\n".join(reply.lines) if isinstance(reply, Reply) else None
            if answer is None or not matches(answer, expected):
                problems.append("%s: %r answered %r, not %r" % (handler.name, said, answer, expected))
    if problems:
        raise AssertionError("examples that failed:\n" + "\n".join(problems))
    return count
