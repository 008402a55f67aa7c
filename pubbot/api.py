"""
The public plugin API.

A plugin is a module in C{pubbot.plugins}, in a directory named by
C{[plugins] paths}, or named in the entry-point group C{pubbot.plugins} of
an installed distribution; every module-level object providing L{IHandler}
is loaded, and every class marked with L{section} declares a config table.
This module is the whole public surface (typed: the package ships
C{py.typed}); the rest of pubbot is internal. The decorators here turn
plain functions into handlers::

    from pubbot.api import handler, parse_chat_text

    @parse_chat_text(r'foo=(?P<foo>[\\d\\w]+), bar=(?P<bar>[\\d\\w]+)')
    def my_chat_handler(msg, foo, bar):
        return {'content': 'Foo was "%s", bar was "%s"' % (foo, bar)}

    @handler(subscribe=['chat.irc.#.chat'])
    def my_other_handler(msg):
        return {'content': 'You set something in irc'}

Patterns are Python's regex syntax, run by RE2 in time linear in the line
(L{pubbot.util.patterns}); one RE2 cannot run (lookarounds, backreferences,
C{\\b} without C{re.ASCII}) still works on Python's re, with a warning in
the log. C{pubbot.testing.check_patterns(module)} checks a plugin's.

A plugin's settings are a frozen dataclass of L{key}s marked with
L{section}: the table C{[weather]} of the config file, checked when the bot
starts (and by C{pubbot config check}), read as C{msg.bot.settings.weather}::

    from dataclasses import dataclass
    from pubbot.api import checks, command, key, section

    @section("weather")
    @dataclass(frozen=True)
    class WeatherSettings:
        city: str = key("London")
        days: int = key(3, checks.positive)

    @command("weather", args=r"(?P<place>\\S.*)?", usage="[place]")
    def weather(msg, place=None):
        "Today's weather."
        return "%s: sunny" % (place or msg.bot.settings.weather.city,)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from .config import checks
from .config.channels import ALWAYS_ON
from .config.registry import key, section
from .config.settings import Settings, secret
from .core.botapi import PluginBot
from .core.help import example, help_text
from .core.interfaces import IBatchHandler, ICommandWords, IHandler, IStore
from .core.jobs import cron, every
from .core.message import ChatFields, Message, Reply
from .core.permissions import Guard, Refusal, guards_of, rate, require
from .util import patterns
from .util.boundedlog import BoundedLog
from .util.people import is_admin, person_key, user_host
from .util.ratelimit import Limits, RateLimiter
from .util.text import clean_text, fill, one_line
from .util.timefmt import format_duration
from .util.wording import plural, possessive, sentence
from .version import __version__ as PUBBOT_VERSION

__all__ = [
    "CHAT_LINES", "ChatFields", "Command", "Guard", "Handler", "IBatchHandler", "ICommandWords", "IHandler",
    "IStore", "Message", "PatternHandler", "Refusal", "Reply", "command", "command_words", "cron", "every",
    "example", "handle_each", "handler", "help_text", "parse_chat_text", "rate", "require", "secret",
    # the bot as plugins see it (msg.bot, a job's bot)
    "PluginBot",
    # settings (see pubbot.config.registry)
    "key", "section", "checks", "Settings", "channel_settings", "ALWAYS_ON",
    # helpers
    "person_key", "is_admin", "one_line", "fill", "clean_text", "format_duration", "possessive", "plural",
    "sentence", "Limits", "RateLimiter", "BoundedLog", "patterns", "PUBBOT_VERSION", "user_host",
]

log = Logger()

#: The pattern of every chat line on every network.
CHAT_LINES = "chat.*.*.chat"
#: A usage line (arguments that did not match) yields to any other answer.
USAGE_WEIGHT = -1


def channel_settings(msg: Message) -> Settings:
    """
    The bot's settings as they hold where C{msg} was said: the keys marked
    C{key(..., per_channel=True)} as the config's C{[channels."#c"]} tables
    and C{!channel #c set} changed them there (other keys as
    C{msg.bot.settings} has them)::

        templates = channel_settings(msg).greet.templates
    """
    fields = msg.fields
    network = fields.get("network")
    channel = None if fields.get("private") else fields.get("channel")
    if network is None:  # not a chat message: said nowhere
        return msg.bot.settings
    return msg.bot.settings_for(network, channel)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


def _owner(func: Callable) -> str:
    """Who wrote a pattern, for the log: the function's module and name."""
    return "%s.%s" % (getattr(func, "__module__", "?"), getattr(func, "__qualname__", repr(func)))


@implementer(IPlugin, IHandler)
class Handler:
    """
    A function made into an L{IHandler}. C{matcher}, when given, is called
    with the message and returns the keyword arguments for the function, or
    None when the message is not for it.

    C{content_filter}, when given, becomes the handler's C{content_filter}
    attribute: the dispatcher then calls it only for messages whose
    C{content} (a str) has one of its substrings (a tuple of str,
    case-sensitive: much the cheapest) or that its regex finds (source
    text, or a compiled pattern whose flags are kept; searched with
    C{re.MULTILINE}). It must find something in every message the handler
    acts on (extra matches are fine: C{matcher} still decides), so only
    handlers of chat lines may have one; see
    L{pubbot.core.interfaces.IBatchHandler}.

    C{patterns} holds the compiled patterns it runs on chat text (see
    L{pubbot.util.patterns}), for L{pubbot.testing.check_patterns}.
    """

    #: True: the handler hears ignored senders too (see L{pubbot.ignore}).
    hears_ignored: bool = False

    def __init__(
        self,
        func: Callable,
        subscriptions: Iterable[str],
        name: str | None = None,
        description: str | None = None,
        triggers: Iterable[str] = (),
        matcher: Callable[[Message], dict | None] | None = None,
        content_filter: Any = None,
    ):
        self.func = func
        self.subscriptions = tuple(subscriptions)
        self.name = name or func.__name__
        self.description = description if description is not None else _first_line(func.__doc__)
        self.triggers = tuple(triggers)
        self.matcher = matcher
        self.content_filter = content_filter
        self.patterns: tuple = ()
        self.bot = None
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    def handle(self, message: Message) -> Any:
        matcher = self.matcher
        if matcher is None:
            return self.func(message)
        kwargs = matcher(message)
        if kwargs is None:
            return None
        return self.func(message, **kwargs)

    def start(self, bot) -> None:
        self.bot = bot

    def stop(self) -> None:
        self.bot = None

    def __call__(self, *args, **kwargs):
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return "<Handler %s>" % (self.name,)


def handler(subscribe: Iterable[str], name: str | None = None,
            description: str | None = None, triggers: Iterable[str] = (),
            content_filter: Any = None) -> Callable[[Callable[..., Any]], Handler]:
    """
    Make a function a handler of the topics matching C{subscribe}. With
    C{content_filter} (substrings or a regex, see L{Handler}) it is only
    called for messages whose C{content} has one or that the regex finds.
    """
    if isinstance(subscribe, str):
        subscribe = [subscribe]

    def decorate(func: Callable) -> Handler:
        return Handler(func, subscribe, name, description, triggers, content_filter=content_filter)

    return decorate


class PatternHandler(Handler):
    """
    A handler made by L{parse_chat_text}: called for chat lines whose
    content C{pattern} finds, with its named groups as keyword arguments.

    A batch costs one search of its lines joined by newlines when none has
    a match: the pattern is also the handler's C{content_filter}, which the
    dispatcher runs with C{re.MULTILINE} added on the same engine (see
    L{pubbot.core.dispatch.ContentFilter}).
    """

    def __init__(self, func: Callable, pattern: Any, subscriptions: Iterable[str], name: str | None,
                 description: str | None, triggers: Iterable[str]):
        super().__init__(func, subscriptions, name, description, triggers, self.arguments,
                         content_filter=pattern)
        self.pattern = pattern
        self.patterns = (pattern,)

    def arguments(self, message: Message) -> dict | None:
        content = message.fields.get("content")
        if type(content) is not str:
            return None
        found = self.pattern.search(content)
        return None if found is None else found.groupdict()


def parse_chat_text(regex: Any, flags: int = 0, subscribe: Iterable[str] = (CHAT_LINES,),
                    name: str | None = None, description: str | None = None,
                    trigger: str | None = None) -> Callable[[Callable[..., Any]], PatternHandler]:
    """
    Call the function for chat lines whose content C{regex} finds (a
    search). Named groups become keyword arguments. Lines addressed to the
    bot (C{pubbot: foo}) arrive with the address stripped and C{direct=True}.

    C{regex} runs on RE2 (see L{pubbot.util.patterns}: time linear in the line);
    one that RE2 cannot run is run by Python's re, with a warning in the
    log naming the function and the pattern. See L{PatternHandler} for how
    batches are skipped.
    """
    def decorate(func: Callable) -> PatternHandler:
        pattern = patterns.compile(regex, flags, owner=_owner(func))
        return PatternHandler(func, pattern, subscribe, name, description, (trigger or pattern.pattern,))

    return decorate


def handle_each(handler: Any, messages: Sequence[Message], positions: Iterable[int] | None = None,
                handle: Callable[[Message], Any] | None = None) -> list:
    """
    For an L{IBatchHandler.handle_many}: call C{handle} (by default
    C{handler.handle}) on the messages at C{positions} (by default all), in
    order, and return the C{(position, value)} pairs of those that gave a
    value. One that raises is counted and logged with the handler's name,
    as the dispatcher does its own failures (L{PluginBot.handler_failed}),
    and the others still go.
    """
    if handle is None:
        handle = handler.handle
    answers = []
    for i in range(len(messages)) if positions is None else positions:
        message = messages[i]
        try:
            value = handle(message)
        except Exception:
            if message.bot is not None:
                message.bot.handler_failed(handler, message)
            else:  # (a message made outside a bot)
                log.failure("handler {plugin} failed on {topic}", plugin=handler.name, topic=message.topic)
            continue
        if value is not None:
            answers.append((i, value))
    return answers


@implementer(IPlugin, ICommandWords)
class Command(Handler):
    """
    A command made by L{command}: C{pattern} (the word, then its C{args})
    gives the function's keyword arguments. A line with what every line of
    the command starts with (C{said}: the word alone, or the word and the
    fixed start of C{args}, such as C{when someone says}) is this
    command's; other lines are not. For such a line, in order:

      - its C{guard}'s level (L{pubbot.api.require}; C{admin} makes it
        C{"admin"}; C{[permissions]} in the config overrides it) is
        checked before the arguments are read: a sender below it gets a
        refusal saying what is needed, at most one a minute;
      - arguments that C{pattern} does not match get the usage line (at
        most one a minute, and only for lines given with the command
        prefix or in private: a remark addressed to the bot that happens
        to start with the word is left to others);
      - its rate limits (L{pubbot.api.rate}) are applied: refused uses are
        not counted, and the person hears so at most once a minute.

    C{examples} (L{pubbot.api.example}) are shown by C{!help} and run by
    L{pubbot.testing.check_examples}.
    """

    def __init__(self, func: Callable, word: str, pattern: Any, flags: int,
                 subscriptions: Iterable[str], name: str, description: str | None,
                 triggers: Iterable[str], admin: bool = False, refusal: str | None = None,
                 args: str | None = None, usage: str = ""):
        super().__init__(func, subscriptions, name, description, triggers, self.arguments)
        self.word = word
        self.pattern = pattern
        self.admin = admin
        self.usage = usage
        self.command_word = word.lower()
        self.guard = Guard(word, getattr(func, "_pubbot_requirement", "admin" if admin else "anyone"),
                           getattr(func, "_pubbot_rate_spec", None), refusal)
        self.guards: tuple[Guard, ...] = (self.guard,)
        self.examples: tuple = tuple(getattr(func, "_pubbot_examples", ()))
        # Lets the dispatcher skip this handler for lines not starting with it.
        self.trigger_words = (word.split()[0].lower(),)
        start = patterns.fixed_start(args, flags) if args else ""
        said = r"(?:\s*\Z|\s+%s)" % (start,) if start else r"(?:\s|\Z)"
        self.said = patterns.linear(re.escape(word) + said, flags)
        self.patterns = (pattern, self.said)

    @property
    def requirement(self) -> str:
        """The level the command declares (C{[permissions]} may change it: see L{Guard.level})."""
        return self.guard.requirement

    def start(self, bot) -> None:
        super().start(bot)
        self.guard.start(bot.clock)

    def stop(self) -> None:
        self.guard.stop()
        super().stop()

    def arguments(self, message: Message) -> dict | None:
        """The keyword arguments for this command's line, or None when the line is not one."""
        text = message.fields.get("command")
        if type(text) is not str:
            return None
        found = self.pattern.match(text)
        return None if found is None else found.groupdict()

    def handle(self, message: Message) -> Any:
        fields = message.fields
        text = fields.get("command")
        if type(text) is not str or self.said.match(text) is None:
            return None
        guard = self.guard
        refused = guard.refuse(message)
        if refused is not None:
            return refused.answer
        kwargs = self.arguments(message)
        if kwargs is None:
            given = fields.get("private") or fields.get("content") != text  # in private, or with the prefix
            if given and guard.may_answer(message, "usage"):
                return {"content": "Usage: %s" % (self.usage_line(message),), "weight": USAGE_WEIGHT}
            return None
        refused = guard.throttle(message)
        if refused is not None:
            return refused.answer
        return self.func(message, **kwargs)

    def usage_line(self, message: Message | None = None) -> str:
        """C{!word usage}, with the command prefix of the network C{message} came from."""
        prefix = "!"
        bot = message.bot if message is not None else self.bot
        if bot is not None:
            network = message.fields.get("network") if message is not None else None
            prefix = bot.command_prefix(network) if network else bot.settings.irc.command_prefix
        return "%s%s" % (prefix, self.triggers[0] if self.triggers else self.word)


def command_words(handlers: Iterable[Any]) -> set[str]:
    """The command words C{handlers} answer (lower case; L{ICommandWords}), e.g. to keep clear of them."""
    return {guard.word for guard in guards_of(handlers)}


def command(word: str, args: str | None = None, flags: int = re.IGNORECASE,
            subscribe: Iterable[str] = (CHAT_LINES,), name: str | None = None,
            description: str | None = None, usage: str = "", admin: bool = False,
            refusal: str | None = None) -> Callable[[Callable[..., Any]], Command]:
    """
    Call the function for the command C{word}: a line addressed to the bot
    (C{pubbot: word ...}) or starting with the command prefix (C{!word
    ...}). C{args}, a regex for the rest of the line, gives keyword
    arguments from its named groups; without it the command takes none.
    The whole runs on RE2 when it can (see L{parse_chat_text}).

    With C{admin} (or C{@require("admin")}), only admins
    (L{pubbot.util.people.is_admin}) may use it: the others get C{refusal}
    (C{%(nick)s} and C{%(command)s} filled in), checked before C{args}
    reads the line (see L{Command}). L{require}, L{rate} and L{example}
    go under C{@command}, on the function.
    """
    rest = r"(?:\s+(?:%s))?" % args if args else ""
    source = r"(?:%s)%s\s*\Z" % (re.escape(word), rest)

    def decorate(func: Callable) -> Command:
        trigger = "%s %s" % (word, usage) if usage else word
        return Command(func, word, patterns.compile(source, flags, owner=_owner(func)), flags, subscribe,
                       name or func.__name__, description, (trigger,), admin, refusal, args, usage)

    return decorate
