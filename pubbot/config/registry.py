"""
The config tables features and plugins declare.

The core's tables (C{[irc]}, C{[plugins]}, C{[store]}, ...) are fields of
L{pubbot.config.settings.Settings}. Every other table is a frozen
dataclass marked with L{section}: the features' (listed in L{FEATURES},
always there) and the plugins' (found in their modules by
L{pubbot.loader}). The file is read in two phases: the core first (it says
where the plugins are and which are disabled), then the tables of the
sections the loaded plugins declare (L{pubbot.config.settings.add_sections}).
A section's values are read as C{bot.settings.NAME.KEY}::

    @section("weather")
    @dataclass(frozen=True)
    class WeatherSettings:
        city: str = key("London")
        days: int = key(3, checks.positive)

C{@section("feeds", array=True)} declares an array of tables
(C{[[feeds]]} entries, each one checked like a table), read as a tuple of
the class's instances (empty by default). A section's C{check(value,
settings)}, run once the whole file is read, sees the other tables (which
networks there are) and returns a one-line problem or None.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TypeVar, get_type_hints

from .checks import Check

T = TypeVar("T")

#: The attribute L{section} sets on the class: its table's name.
SECTION_ATTRIBUTE = "__pubbot_section__"
#: The attribute L{section} sets on the class: C{(array, check)}.
FORM_ATTRIBUTE = "__pubbot_section_form__"
#: A table's name: what C{bot.settings.NAME} can read.
TABLE_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
#: The types a key can have.
KEY_TYPES: tuple = (str, int, float, bool, tuple[str, ...])

#: The features' sections: modules declaring sections that are always read,
#: whichever plugins are loaded (named, not imported, here: they import this).
FEATURES = ("pubbot.music.settings",)
#: Who declares the features' sections, in messages.
FEATURE_OWNER = "pubbot"

#: Every section declared so far (by imported modules), by table: the latest of a name.
_declared: dict[str, type] = {}


def key(default: Any, check: Check | None = None, secret: bool = False, per_channel: bool = False) -> Any:
    """
    A config key with its default, an optional C{check} (see
    L{pubbot.config.checks}) and secrecy (C{secret}: masked by C{pubbot
    config check}, never shown in a repr). A list default becomes a tuple.
    A C{per_channel} key may differ by channel: set in a
    C{[channels."#c".SECTION]} table or with C{!channel #c set}, and read
    for a message's channel with L{pubbot.api.channel_settings}.
    """
    if isinstance(default, list):
        default = tuple(default)
    if per_channel and secret:
        raise TypeError("a secret key cannot be per_channel (it would be shown in chat)")
    meta = {"check": check, "secret": secret, "per_channel": per_channel}
    return field(default=default, metadata=meta, repr=not secret)


def per_channel_keys(cls: type) -> dict[str, Any]:
    """The keys of the section class C{cls} marked C{per_channel}, by name, to their types."""
    if not dataclasses.is_dataclass(cls):
        return {}
    hints = get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls) if f.metadata.get("per_channel")}


def table(cls: type) -> Any:
    """A sub-table (C{[irc.sasl]}) of a section: a field holding the frozen dataclass C{cls}."""
    return field(default_factory=cls)


def _kind_problem(cls: type, seen: tuple = ()) -> str | None:
    if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        return "%s is not a frozen dataclass: put @dataclass(frozen=True) under @section" % (
            cls.__qualname__,)
    try:
        hints = get_type_hints(cls)
    except Exception as e:
        return "%s has annotations that do not resolve: %s" % (cls.__qualname__, e)
    for f in dataclasses.fields(cls):
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            return "%s.%s has no default: use key(default)" % (cls.__qualname__, f.name)
        kind = hints[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind) and kind not in seen:
            problem = _kind_problem(kind, seen + (cls,))
            if problem:
                return problem
        elif kind not in KEY_TYPES:
            return "%s.%s is a %s; a config key is str, int, float, bool or tuple[str, ...]" % (
                cls.__qualname__, f.name, kind)
    return None


#: A section's check of its value with the whole settings (see L{section}).
SectionCheck = Callable[[Any, Any], "str | None"]


def section(name: str, array: bool = False,
            check: SectionCheck | None = None) -> Callable[[type[T]], type[T]]:
    """
    Declare the class below (a frozen dataclass whose fields are L{key}s)
    as the config table C{[name]}, read as C{bot.settings.name}; with
    C{array}, as the array of tables C{[[name]]}, read as a tuple of
    instances. C{check(value, settings)} (optional) is run once every table
    is read: None, or the problem in one line naming the key. A bad
    declaration raises TypeError when its module is imported.
    """
    if not isinstance(name, str) or not TABLE_NAME.match(name):
        raise ValueError("a section's name is a lower-case word (a-z, 0-9, _; at most 32), not %r" % (name,))

    def declare(cls: type[T]) -> type[T]:
        problem = _kind_problem(cls)
        if problem:
            raise TypeError("@section(%r): %s" % (name, problem))
        setattr(cls, SECTION_ATTRIBUTE, name)
        setattr(cls, FORM_ATTRIBUTE, (bool(array), check))
        _declared[name] = cls
        return cls

    return declare


def declared(name: str) -> type | None:
    """The class an imported module declared as C{[name]} (the latest), or None."""
    return _declared.get(name)


def section_name(cls: Any) -> str | None:
    """The table C{cls} is declared as by L{section} (not inherited), or None."""
    if not isinstance(cls, type):
        return None
    value = cls.__dict__.get(SECTION_ATTRIBUTE)
    return value if isinstance(value, str) else None


def is_array(cls: Any) -> bool:
    """Is C{cls} declared as an array of tables (C{[[name]]})?"""
    return bool(cls.__dict__.get(FORM_ATTRIBUTE, (False, None))[0]) if isinstance(cls, type) else False


def section_check(cls: Any) -> SectionCheck | None:
    """The check of the whole value C{cls} was declared with, or None."""
    return cls.__dict__.get(FORM_ATTRIBUTE, (False, None))[1] if isinstance(cls, type) else None


@dataclass(frozen=True)
class Declared:
    """The section C{cls}, the table C{[name]}, declared by C{owner} (a plugin's name, or pubbot)."""

    name: str
    cls: type
    owner: str


def declared_in(module: ModuleType, owner: str) -> list[Declared]:
    """The sections among C{module}'s attributes, each once, in definition order."""
    found, seen = [], set()
    for value in list(vars(module).values()):
        name = section_name(value)
        if name is not None and value not in seen:
            seen.add(value)
            found.append(Declared(name, value, owner))
    return found


def feature_sections() -> list[Declared]:
    """The sections of the features (L{FEATURES}), always read."""
    found = []
    for name in FEATURES:
        found += declared_in(importlib.import_module(name), FEATURE_OWNER)
    return found
