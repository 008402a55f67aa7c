"""
Help that fits IRC: what C{!help} says, built from the loaded handlers,
and the examples commands declare with L{example}.

C{!help} names the plugins and their command words, packed into at most
the reply cap's lines; C{!help <command>} gives a command's usage,
description and first example; C{!help <plugin>} lists a plugin's
commands. The dashboard's C{/help} page shows L{catalogue}.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from .interfaces import ICommandWords

#: A help line's most bytes (UTF-8): one line on the wire, whatever the prefixes.
LINE_WIDTH = 300


def _width(text: str) -> int:
    """How many bytes C{text} takes on the wire."""
    return len(text.encode("utf-8"))


def _cut(text: str, width: int = LINE_WIDTH) -> str:
    """C{text} cut to at most C{width} bytes, never inside a character."""
    return text if len(text) * 4 <= width else text.encode("utf-8")[:width].decode("utf-8", "ignore")


#: What L{example} goes on (a function, or a handler), returned as it is.
T = TypeVar("T")


def example(said: str, answer: str) -> Callable[[T], T]:
    """
    Declare an example of a command: C{said} (a chat line, such as
    C{"!weather Paris"}) gets C{answer} (C{...} stands for any text).
    C{!help <command>} shows the first; L{pubbot.testing.check_examples}
    runs them all. Goes under C{@command}, on the function; several may
    be stacked, and are kept in the order written.
    """
    if not isinstance(said, str) or not isinstance(answer, str) or not said.strip():
        raise ValueError("example(): give the line said and the answer, both strings")

    def decorate(target: T) -> T:
        handler = hasattr(target, "func") and hasattr(target, "subscriptions")  # a Handler already
        name = "examples" if handler else "_pubbot_examples"
        setattr(target, name, ((said, answer),) + tuple(getattr(target, name, ())))
        return target

    return decorate


def matches(answer: str, expected: str) -> bool:
    """Does C{answer} match C{expected}, where C{...} in it stands for any text?"""
    if "..." not in expected:
        return answer == expected
    pattern = ".*".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, answer, re.DOTALL) is not None


#: Installed plugins' names by module (the entry-point's name: see L{name_plugin}).
_ENTRY_NAMES: dict[str, str] = {}


def name_plugin(module: str, name: str) -> None:
    """
    Call the handlers of C{module} (and of its submodules) plugin C{name}:
    the loader's doing for an installed plugin, named by its entry point.
    """
    _ENTRY_NAMES[module] = name


def plugin_of(handler: Any) -> str:
    """
    The plugin a handler comes from: C{core}, C{seen}, a drop-in's file
    name, an installed plugin's entry-point name.
    """
    func = getattr(handler, "func", None)
    module = getattr(func, "__module__", None) or type(handler).__module__
    if _ENTRY_NAMES:
        for named, name in _ENTRY_NAMES.items():
            if module == named or module.startswith(named + "."):
                return name
    return module.rsplit(".", 1)[-1]


def command_word(handler: Any) -> str | None:
    """The main command word of a handler (L{ICommandWords}: its first guard's), or None."""
    if ICommandWords.providedBy(handler) and handler.guards:
        return handler.guards[0].word
    return None


def usage_of(handler: Any) -> str:
    """The trigger text (C{word usage}) of a command handler."""
    triggers = getattr(handler, "triggers", ())
    word = command_word(handler) or ""
    for trigger in triggers:
        if trigger.split(" ", 1)[0].lower() == word.split(" ", 1)[0]:
            return trigger
    return word


def requirement_of(bot: Any, handler: Any) -> str:
    """
    What a handler's main command needs: its guard's level as
    C{[permissions]} sets it. A handler without command words is open to
    anyone.
    """
    if ICommandWords.providedBy(handler) and handler.guards:
        return handler.guards[0].level(bot)
    return "anyone"


def catalogue(bot: Any) -> list[dict]:
    """Every command and trigger of the loaded handlers, for the dashboard's C{/help}."""
    out = []
    prefix = bot.settings.irc.command_prefix
    for h in bot.handlers:
        word = command_word(h)
        triggers = getattr(h, "triggers", ())
        if not word and not triggers:
            continue
        out.append({
            "plugin": plugin_of(h), "name": h.name,
            "command": prefix + word if word else None,
            "usage": prefix + usage_of(h) if word else ", ".join(triggers),
            "description": getattr(h, "description", "") or "",
            "requires": requirement_of(bot, h),
            "examples": [list(e) for e in getattr(h, "examples", ())],
        })
    return out


def _groups(handlers: list) -> dict[str, list]:
    groups: dict[str, list] = {}
    for h in handlers:
        if getattr(h, "triggers", ()) or command_word(h):
            groups.setdefault(plugin_of(h), []).append(h)
    return groups


def _pack(items: list[str], cap: int, more: str, sep: str = "; ") -> list[str]:
    """
    C{items} joined by C{sep} into lines of at most L{LINE_WIDTH}, an item
    too long for one line wrapped at its spaces; at most C{cap} lines, the
    last ending with C{more} when the list is cut short.
    """
    tokens: list[tuple[str, str]] = []  # (separator before it, word)
    for item in items:
        for j, word in enumerate(item.split(" ")):
            tokens.append((sep if j == 0 else " ", _cut(word)))
    lines: list[str] = []
    current = ""
    for before, word in tokens:
        candidate = current + before + word if current else word
        if _width(candidate) <= LINE_WIDTH:
            current = candidate
            continue
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    if len(lines) <= cap:
        return lines
    lines = lines[:cap]
    room = LINE_WIDTH - _width(more) - 1
    last = lines[-1]
    lines[-1] = (last if _width(last) <= room else _cut(last, room).rsplit(" ", 1)[0]) + " " + more
    return lines


def overview(bot: Any, prefix: str, cap: int) -> list[str]:
    """The plugins and their command words, grouped, in at most C{cap} lines."""
    items = []
    for plugin, handlers in _groups(bot.handlers).items():
        words = sorted({prefix + w for h in handlers if (w := command_word(h))})
        items.append("%s: %s" % (plugin, " ".join(words)) if words else plugin)
    tail = "%shelp <command> or <plugin> for more." % (prefix,)
    items.append(tail)
    return _pack(items, cap, "… " + tail)


def _describe(bot: Any, h: Any, prefix: str) -> str:
    word = command_word(h)
    what = getattr(h, "description", "") or "(no description)"
    level = requirement_of(bot, h)
    needs = "" if level == "anyone" else " [%s]" % (level,)
    if word:
        return "%s%s%s: %s" % (prefix, usage_of(h), needs, what)
    return "%s: %s" % (" | ".join(getattr(h, "triggers", ())), what)


def command_help(bot: Any, word: str, prefix: str, cap: int) -> list[str] | None:
    """Usage, description and an example of the command C{word}; None when there is none."""
    found = [h for h in bot.handlers if command_word(h) == word]
    if not found:  # a word of several-word commands: "feed" for "feed add", "feed list"
        found = [h for h in bot.handlers if (command_word(h) or "").startswith(word + " ")]
    if not found:
        found = [h for h in bot.handlers if not command_word(h)
                 and any(t.split(" ", 1)[0].lower() == word for t in getattr(h, "triggers", ()))]
    if not found:
        return None
    lines = [_cut(_describe(bot, h, prefix)) for h in found]
    for h in found:
        for said, answer in getattr(h, "examples", ())[:1]:
            lines.append(_cut("e.g. %s → %s" % (said, answer)))
    if len(lines) > cap:
        lines = _pack(lines, cap, "…", sep=" — ")
    return lines


def plugin_help(bot: Any, name: str, prefix: str, cap: int) -> list[str] | None:
    """The commands and triggers of the plugin C{name}; None when no such plugin is loaded."""
    handlers = _groups(bot.handlers).get(name)
    if not handlers:
        return None
    lines = [_cut(_describe(bot, h, prefix)) for h in handlers]
    if len(lines) <= cap:
        return lines
    words = [prefix + usage_of(h) if command_word(h) else " | ".join(h.triggers) for h in handlers]
    return _pack(["%s: %s" % (name, words[0])] + words[1:], cap, "…")


def reply_cap(bot: Any, network: str | None, private: bool) -> int:
    """How many lines a reply may have where C{network} sends it."""
    settings = bot.network_settings(network) if network else bot.settings.irc
    return max(1, settings.max_private_lines if private else settings.max_reply_lines)


def help_text(msg: Any, topic: str | None = None) -> list[str]:
    """
    What C{!help} answers C{msg}: the overview, or for C{topic} a
    command's or a plugin's help, in at most the reply cap's lines where
    C{msg} came from.
    """
    bot = msg.bot
    fields = msg.fields
    network = fields.get("network")
    prefix = bot.command_prefix(network) if network else bot.settings.irc.command_prefix
    cap = reply_cap(bot, network, bool(fields.get("private")) or fields.get("protocol") == "console")
    if not topic:
        return overview(bot, prefix, cap)
    word = topic.lower()
    if prefix and word.startswith(prefix):
        word = word[len(prefix):]
    lines = command_help(bot, word, prefix, cap) or plugin_help(bot, word, prefix, cap)
    if lines:
        return lines
    shown = topic if len(topic) <= 32 else topic[:31] + "…"
    return ["I know no command or plugin '%s'; say %shelp for the list." % (shown, prefix)]
