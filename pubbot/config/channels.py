"""
The C{[channels."#c"]} tables: what differs in one channel.

Each table names a channel (C{"#work"}: on every network) or a channel on
one network (C{"#work@libera"}: the network's name after the last C{@};
it outranks the first kind). It holds C{disabled} (the plugins whose
handlers do not hear that channel) and sub-tables of sections with their
keys marked C{per_channel} (L{pubbot.config.registry.key})::

    [channels."#work"]
    disabled = ["brain"]
    [channels."#work".greet]
    templates = ["Morning %(nick)s"]

The core's tables are read first, the sections once the plugins are known
(L{pubbot.config.settings.add_sections}): C{read_channel_names} checks the
first phase's part, C{read_channel_tables} the rest. Overrides made from chat live in the
store (L{pubbot.core.channels}); the file is never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import checks

#: Plugins that cannot be disabled in a channel: the core commands and C{!channel} itself.
ALWAYS_ON = frozenset({"core", "channels"})
#: Most plugins a table may disable.
MAX_DISABLED = 64


def _no_values() -> Mapping[str, Mapping[str, Any]]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ChannelTable:
    """One C{[channels."#c"]} table: the plugins disabled there and the per-channel keys set."""

    disabled: tuple[str, ...] = ()
    #: Section name -> key -> value (of the key's type, checked).
    values: Mapping[str, Mapping[str, Any]] = field(default_factory=_no_values)


def split_place(name: str) -> tuple[str, str | None]:
    """C{"#c@net"} -> (C{"#c"}, C{"net"}); C{"#c"} -> (C{"#c"}, None)."""
    channel, at, network = name.rpartition("@")
    if at and network and channel:
        return channel, network
    return name, None


def place_key(channel: str, network: str | None = None) -> str:
    """How a table is kept in L{pubbot.config.settings.Settings.channels}: lower-cased C{#c} or C{#c@net}."""
    return channel.lower() if network is None else "%s@%s" % (channel.lower(), network)


def channel_problem(channel: str) -> str | None:
    """What is wrong with C{channel} as a channel's name, or None."""
    if not channel or channel[0] not in "#&+!" or " " in channel or "," in channel \
            or checks.controls(channel) or len(channel) > checks.MAX_CHANNEL:
        return "is not a channel name (#name: no spaces, commas or control characters; at most %d)" % (
            checks.MAX_CHANNEL,)
    return None


def check_of(section: Any, key: str) -> Any:
    """The check of C{key} of the section value C{section}, or None."""
    import dataclasses
    for f in dataclasses.fields(section):
        if f.name == key:
            return f.metadata.get("check")
    return None


def unknown_plugins(tables: Mapping[str, ChannelTable], plugins: set[str]) -> str | None:
    """The first plugin a table disables that is not among C{plugins} (every plugin's name), as a problem."""
    for place, table in tables.items():
        for plugin in table.disabled:
            if plugin not in plugins:
                import difflib
                close = difflib.get_close_matches(plugin, sorted(plugins), 1, 0.6)
                hint = " (did you mean %r?)" % (close[0],) if close else ""
                return '[channels."%s"] disabled has %r, which is no plugin%s' % (place, plugin, hint)
    return None
