"""
The public plugin API.

A plugin is a module in C{pubbot.plugins} or in a directory named by
C{[plugins] paths}; every module-level object providing L{IHandler} is
loaded. The decorators here turn plain functions into such objects::

    from pubbot.api import handler, parse_chat_text

    @parse_chat_text(r'foo=(?P<foo>[\\d\\w]+), bar=(?P<bar>[\\d\\w]+)')
    def my_chat_handler(msg, foo, bar):
        return {'content': 'Foo was "%s", bar was "%s"' % (foo, bar)}

    @handler(subscribe=['chat.irc.#.chat'])
    def my_other_handler(msg):
        return {'content': 'You set something in irc'}
"""

from __future__ import annotations

import re
from typing import Any, Callable, Iterable, Optional, Sequence

from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from .interfaces import IBatchHandler, IHandler, IStore
from .message import Message, Reply

__all__ = [
    "CHAT_LINES", "Handler", "IBatchHandler", "IHandler", "IStore", "Message", "Reply",
    "command", "handle_each", "handler", "parse_chat_text",
]

log = Logger()

#: The pattern of every chat line on every network.
CHAT_LINES = "chat.*.*.chat"


def _first_line(doc: Optional[str]) -> str:
    return (doc or "").strip().split("\n", 1)[0].strip()


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
    L{pubbot.interfaces.IBatchHandler}.
    """

    def __init__(
        self,
        func: Callable,
        subscriptions: Iterable[str],
        name: Optional[str] = None,
        description: Optional[str] = None,
        triggers: Iterable[str] = (),
        matcher: Optional[Callable[[Message], Optional[dict]]] = None,
        content_filter: Any = None,
    ):
        self.func = func
        self.subscriptions = tuple(subscriptions)
        self.name = name or func.__name__
        self.description = description if description is not None else _first_line(func.__doc__)
        self.triggers = tuple(triggers)
        self.matcher = matcher
        self.content_filter = content_filter
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


def handler(subscribe: Iterable[str], name: Optional[str] = None,
            description: Optional[str] = None, triggers: Iterable[str] = (),
            content_filter: Any = None):
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


def parse_chat_text(regex: str, flags: int = 0, subscribe: Iterable[str] = (CHAT_LINES,),
                    name: Optional[str] = None, description: Optional[str] = None,
                    trigger: Optional[str] = None):
    """
    Call the function for chat lines whose content C{regex} finds (a
    search). Named groups become keyword arguments. Lines addressed to the
    bot (C{pubbot: foo}) arrive with the address stripped and C{direct=True}.

    The compiled C{regex} is also the handler's C{content_filter} (see
    L{Handler}), so the dispatcher skips the lines it cannot find anything
    in, often a whole batch in one scan: searched with C{re.MULTILINE}
    added, it finds everything the plain search does.
    """
    pattern = re.compile(regex, flags)

    def match(message: Message) -> Optional[dict]:
        content = message.fields.get("content")
        if content is None:
            return None
        found = pattern.search(content)
        return None if found is None else found.groupdict()

    def decorate(func: Callable) -> Handler:
        return Handler(func, subscribe, name, description, (trigger or regex,), match,
                       content_filter=pattern)

    return decorate


def handle_each(handler: Any, messages: Sequence[Message], positions: Optional[Iterable[int]] = None,
                handle: Optional[Callable[[Message], Any]] = None) -> list:
    """
    For an L{IBatchHandler.handle_many}: call C{handle} (by default
    C{handler.handle}) on the messages at C{positions} (by default all), in
    order, and return the C{(position, value)} pairs of those that gave a
    value. One that raises is logged with the handler's name, as the
    dispatcher would, and the others still go.
    """
    if handle is None:
        handle = handler.handle
    answers = []
    for i in range(len(messages)) if positions is None else positions:
        message = messages[i]
        try:
            value = handle(message)
        except Exception:
            log.failure("handler {plugin} failed on {topic}", plugin=handler.name, topic=message.topic)
            continue
        if value is not None:
            answers.append((i, value))
    return answers


def command(word: str, args: Optional[str] = None, flags: int = re.IGNORECASE,
            subscribe: Iterable[str] = (CHAT_LINES,), name: Optional[str] = None,
            description: Optional[str] = None, usage: str = ""):
    """
    Call the function for the command C{word}: a line addressed to the bot
    (C{pubbot: word ...}) or starting with the command prefix (C{!word
    ...}). C{args}, a regex for the rest of the line, gives keyword
    arguments from its named groups; without it the command takes none.
    """
    rest = r"(?:\s+(?:%s))?" % args if args else ""
    pattern = re.compile(r"(?:%s)%s\s*\Z" % (re.escape(word), rest), flags)

    def match(message: Message) -> Optional[dict]:
        text = message.fields.get("command")
        if text is None:
            return None
        found = pattern.match(text)
        return None if found is None else found.groupdict()

    def decorate(func: Callable) -> Handler:
        trigger = "%s %s" % (word, usage) if usage else word
        handler = Handler(func, subscribe, name or func.__name__, description, (trigger,), match)
        handler.command_word = word.lower()  # type: ignore[attr-defined]
        # Lets the dispatcher skip this handler for lines not starting with it.
        handler.trigger_words = (word.split()[0].lower(),)  # type: ignore[attr-defined]
        return handler

    return decorate
