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
from typing import Any, Callable, Iterable, Optional

from twisted.plugin import IPlugin
from zope.interface import implementer

from .interfaces import IHandler, IStore
from .message import Message, Reply

__all__ = [
    "CHAT_LINES", "Handler", "IHandler", "IStore", "Message", "Reply",
    "command", "handler", "parse_chat_text",
]

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
    """

    def __init__(
        self,
        func: Callable,
        subscriptions: Iterable[str],
        name: Optional[str] = None,
        description: Optional[str] = None,
        triggers: Iterable[str] = (),
        matcher: Optional[Callable[[Message], Optional[dict]]] = None,
    ):
        self.func = func
        self.subscriptions = tuple(subscriptions)
        self.name = name or func.__name__
        self.description = description if description is not None else _first_line(func.__doc__)
        self.triggers = tuple(triggers)
        self.matcher = matcher
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
            description: Optional[str] = None, triggers: Iterable[str] = ()):
    """Make a function a handler of the topics matching C{subscribe}."""
    if isinstance(subscribe, str):
        subscribe = [subscribe]

    def decorate(func: Callable) -> Handler:
        return Handler(func, subscribe, name, description, triggers)

    return decorate


def parse_chat_text(regex: str, flags: int = 0, subscribe: Iterable[str] = (CHAT_LINES,),
                    name: Optional[str] = None, description: Optional[str] = None,
                    trigger: Optional[str] = None):
    """
    Call the function for chat lines whose content C{regex} finds (a
    search). Named groups become keyword arguments. Lines addressed to the
    bot (C{pubbot: foo}) arrive with the address stripped and C{direct=True}.
    """
    pattern = re.compile(regex, flags)

    def match(message: Message) -> Optional[dict]:
        content = message.fields.get("content")
        if content is None:
            return None
        found = pattern.search(content)
        return None if found is None else found.groupdict()

    def decorate(func: Callable) -> Handler:
        return Handler(func, subscribe, name, description, (trigger or regex,), match)

    return decorate


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
