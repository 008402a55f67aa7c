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
(L{pubbot.config.settings.add_sections}): L{read_names} checks the first
phase's part, L{read_tables} the rest. Overrides made from chat live in the
store (L{pubbot.core.channels}); the file is never rewritten.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from . import checks
from .registry import per_channel_keys

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


def read_names(data: Any, networks: set[str]) -> Mapping[str, ChannelTable]:
    """
    The first phase: C{[channels]} is a table of channel tables whose
    names are channels (and known networks, after C{@}) and whose
    C{disabled} is an array of plugin names; their sections are left for
    L{read_tables}.
    """
    from .settings import ConfigError, _coerce, _describe
    if not isinstance(data, dict):
        raise ConfigError('[channels] must be a table of [channels."#name"] tables, not %s' % (
            _describe(data),))
    tables = {}
    for name, body in data.items():
        channel, network = split_place(name)
        label = '[channels."%s"]' % (name,)
        problem = channel_problem(channel)
        if problem:
            raise ConfigError("%s: %r %s" % (label, channel, problem))
        if network is not None and network not in networks:
            raise ConfigError("%s: no network is named %r (%s)" % (
                label, network, ", ".join(sorted(networks))))
        if not isinstance(body, dict):
            raise ConfigError("%s must be a table, not %s" % (label, _describe(body)))
        disabled = _coerce("%s disabled" % (label,), tuple[str, ...], body.get("disabled", []))
        if len(disabled) > MAX_DISABLED:
            raise ConfigError("%s disabled has more than %d plugins" % (label, MAX_DISABLED))
        for plugin in disabled:
            if plugin in ALWAYS_ON:
                raise ConfigError("%s disabled has %r, which cannot be disabled in a channel" % (
                    label, plugin))
        key = place_key(channel, network)
        if key in tables:
            raise ConfigError("%s: another [channels] table names the same channel" % (label,))
        tables[key] = ChannelTable(tuple(disabled))
    return MappingProxyType(tables)


def read_tables(data: Any, sections: Mapping[str, Any]) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    """
    The second phase: the sections' sub-tables of each C{[channels]} table,
    against the C{sections} read (name -> values), each key per-channel and
    checked as its section checks it.
    """
    from .settings import ConfigError
    tables: dict[str, Mapping[str, Mapping[str, Any]]] = {}
    for name, body in (data or {}).items():
        channel, network = split_place(name)
        label = '[channels."%s"' % (name,)
        values: dict[str, Mapping[str, Any]] = {}
        for table, keys in body.items():
            if table == "disabled":
                continue
            if table not in sections:
                raise ConfigError('%s] %s: no loaded plugin has a [%s] section' % (label, table, table))
            if not isinstance(keys, dict):
                raise ConfigError('%s.%s] must be a table' % (label, table))
            kinds = per_channel_keys(type(sections[table]))
            read: dict[str, Any] = {}
            for key, value in keys.items():
                where = '%s.%s] %s' % (label, table, key)
                if key not in kinds:
                    if hasattr(sections[table], key):
                        raise ConfigError("%s: [%s] %s is not a per-channel key (per-channel: %s)" % (
                            where, table, key, ", ".join(sorted(kinds)) or "none"))
                    raise ConfigError("unknown key %s" % (where,))
                read[key] = checked(where, kinds[key], value, check_of(sections[table], key))
            values[table] = MappingProxyType(read)
        tables[place_key(channel, network)] = MappingProxyType(values)
    return MappingProxyType(tables)


def check_of(section: Any, key: str) -> Any:
    """The check of C{key} of the section value C{section}, or None."""
    import dataclasses
    for f in dataclasses.fields(section):
        if f.name == key:
            return f.metadata.get("check")
    return None


def checked(where: str, kind: Any, value: Any, check: Any) -> Any:
    """C{value} as a value of a key of type C{kind}, or a ConfigError naming C{where}."""
    from .settings import ConfigError, _coerce
    value = _coerce(where, kind, value)
    problem = check(value) if check else None
    if problem:
        raise ConfigError("%s %s" % (where, problem))
    return value


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
