"""
Per-channel settings: the config's C{[channels]} tables and the overrides
made from chat (C{!channel}), kept in the store.

What holds in a channel, lowest first: the sections' values, the
C{[channels."#c"]} table, the C{[channels."#c@NETWORK"]} table, then the
overrides made from chat there. The same order says which plugins are
disabled: an override can disable a plugin or enable one the file
disables.

The overrides are one hash in the bot's L{IStore} (L{OVERRIDES}: a field
per channel and name, its value the value with who set it and when) and a
counter (L{VERSION}) every change bumps. Each process keeps them in memory:
a change made here applies at once; one made by another process (Redis
mode, where every process reads the same store) is seen when this process
next looks at the counter and finds it moved: at most every
L{POLL_SECONDS}, when a batch is dispatched (or the settings are read)
that long after the last look, without waiting for the answer. So the
dispatcher's check costs a clock read and one dict lookup per batch of a
channel's lines, never waits on the store, and an idle bot has no timer.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from ..config.channels import ALWAYS_ON, channel_problem, check_of, place_key
from ..config.registry import per_channel_keys
from ..config.settings import checked

log = Logger()

#: The store's hash of overrides: field "NETWORK CHANNEL NAME" -> {"value", "who", "when"}.
OVERRIDES = "channels:overrides"
#: The counter every change bumps (other processes poll it).
VERSION = "channels:version"
#: How often (at most) a process looks whether another changed the overrides.
POLL_SECONDS = 2.0
#: Most overrides in one channel; longest value (as JSON).
MAX_OVERRIDES = 32
MAX_VALUE = 400
#: Most channels (of every network) with overrides: admins may name any channel, not without end.
MAX_CHANNELS = 200
#: An override's name for a plugin's state (its value: True for disabled, False for enabled).
PLUGIN = "plugin:"


@dataclass(frozen=True)
class Override:
    """A setting made from chat in one channel: C{name} is C{section.key} or C{plugin:NAME}."""

    network: str
    channel: str
    name: str
    value: Any
    who: str
    when: float

    @property
    def field(self) -> str:
        return "%s %s %s" % (self.network, self.channel, self.name)

    def shown(self) -> str:
        """The value as C{!channel show} and C{pubbot config diff} print it."""
        if self.name.startswith(PLUGIN):
            return "disabled" if self.value else "enabled"
        return json.dumps(list(self.value) if isinstance(self.value, tuple) else self.value,
                          ensure_ascii=False)

    def to_dict(self) -> dict:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {"network": self.network, "channel": self.channel, "name": self.name, "value": value,
                "who": self.who, "when": self.when}


def parse_overrides(stored: Mapping[str, Any]) -> list[Override]:
    """The overrides of the store's hash (malformed fields skipped), by channel, then name."""
    found = []
    for field, entry in stored.items():
        parts = field.split(" ")
        if len(parts) != 3 or not isinstance(entry, dict) or "value" not in entry:
            continue
        found.append(Override(parts[0], parts[1], parts[2], entry["value"], str(entry.get("who", "?")),
                              float(entry.get("when") or 0)))
    return sorted(found, key=lambda o: (o.network, o.channel, o.name))


def parse_value(kind: Any, text: str) -> Any:
    """
    C{text} typed in chat as a value of type C{kind}: C{true}/C{false} (on,
    off, yes, no), a number, a string, or for a list a JSON array or items
    separated by C{|}. Raises ValueError saying what was expected.
    """
    text = text.strip()
    if kind is bool:
        lowered = text.lower()
        if lowered in ("true", "on", "yes", "1"):
            return True
        if lowered in ("false", "off", "no", "0"):
            return False
        raise ValueError("true or false")
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError("an integer") from None
    if kind is float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("a number") from None
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("a finite number")
        return value
    if kind is str:
        return text
    return _parse_list(text)


def _parse_list(text: str) -> tuple[str, ...]:
    """A list typed in chat: a JSON array of strings, or items separated by C{|}."""
    if text.startswith("["):
        try:
            items = json.loads(text)
        except ValueError:
            raise ValueError('a list: ["a", "b"] or a | b') from None
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise ValueError("a list of strings")
        return tuple(items)
    return tuple(item.strip() for item in text.split("|") if item.strip())


class ChannelSettings:
    """
    The bot's per-channel settings (C{bot.channels}): which plugins are off
    where, the settings as they hold in a channel, and the overrides from
    chat, changed here and kept in C{bot.store}.
    """

    def __init__(self, bot: Any):
        self.bot = bot
        #: The overrides, by (network, lower-cased channel), by name.
        self.overrides: dict[tuple[str, str], dict[str, Override]] = {}
        self.version: Any = None
        self._from: Any = None  # the settings the tables below were built from
        self._off: dict[tuple[str, str], frozenset[str]] = {}
        self._views: dict[tuple[str, str], Any] = {}
        self._running = False
        self._looking = False
        self._next_look = 0.0

    # reading

    def off_in(self, message: Any) -> frozenset[str] | None:
        """The plugins disabled where C{message} was said (None: none): the dispatcher asks once a batch."""
        if self._running and self.bot.clock.seconds() >= self._next_look:
            self.look()
        if self._from is not self.bot.settings:
            self._rebuild()
        off = self._off
        if not off:
            return None
        fields = message.fields
        channel = fields.get("channel")
        if type(channel) is not str:
            return None
        return off.get((fields.get("network"), channel.lower()))

    def disabled(self, network: str, channel: str) -> frozenset[str]:
        """The plugins disabled in C{channel} on C{network}."""
        self._fresh()
        if self._from is not self.bot.settings:
            self._rebuild()
        return self._off.get((network, channel.lower()), frozenset())

    def settings_for(self, network: str, channel: str | None) -> Any:
        """The bot's settings as they hold in C{channel} on C{network} (per-channel keys changed)."""
        self._fresh()
        settings = self.bot.settings
        if self._from is not settings:
            self._rebuild()
        if not channel:
            return settings
        view = self._views.get((network, channel.lower()))
        if view is None:
            view = self._views[(network, channel.lower())] = self._view(network, channel.lower())
        return view

    def all_disabled(self) -> dict[tuple[str, str], frozenset[str]]:
        """
        The plugins disabled in each channel where any is: (network, channel)
        -> names, on the networks this process is connected to (all of them
        where it has none: a worker).
        """
        self._fresh()
        if self._from is not self.bot.settings:
            self._rebuild()
        live = set(self.bot.chat_services)
        return {place: off for place, off in self._off.items() if not live or place[0] in live}

    def listing(self, network: str | None = None, channel: str | None = None) -> list[Override]:
        """The overrides (of C{channel} on C{network} when given), by channel and name."""
        self._fresh()
        if network is not None and channel is not None:
            return sorted(self.overrides.get((network, channel.lower()), {}).values(), key=lambda o: o.name)
        return sorted((o for place in self.overrides.values() for o in place.values()),
                      key=lambda o: (o.network, o.channel, o.name))

    def configured(self, network: str, channel: str) -> tuple[frozenset[str], dict[str, dict[str, Any]]]:
        """What the config file says of C{channel}: the plugins it disables, and its sections' values."""
        tables = self.bot.settings.channels
        off: set[str] = set()
        values: dict[str, dict[str, Any]] = {}
        for place in (place_key(channel), place_key(channel, network)):
            table = tables.get(place)
            if table is None:
                continue
            off.update(table.disabled)
            for section, keys in table.values.items():
                values.setdefault(section, {}).update(keys)
        return frozenset(off), values

    def plugin_names(self) -> set[str]:
        """The loaded plugins' names (what C{!channel disable} takes)."""
        from .help import plugin_of
        return {plugin_of(h) for h in self.bot.handlers}

    def keys(self) -> dict[str, Any]:
        """The per-channel keys of the loaded sections: C{section.key} -> its type."""
        found = {}
        for section, values in self.bot.settings.sections.items():
            for key, kind in per_channel_keys(type(values)).items():
                found["%s.%s" % (section, key)] = kind
        return found

    def value(self, name: str, text: str) -> Any:
        """
        C{text} as a value of the per-channel key C{name} (C{section.key}),
        checked as the config file's would be. Raises ValueError saying why not.
        """
        kind = self.keys().get(name)
        if kind is None:
            section, _, key = name.partition(".")
            values = self.bot.settings.sections.get(section)
            if values is None:
                raise ValueError("no loaded plugin has a [%s] section" % (section,))
            mine = sorted(per_channel_keys(type(values)))
            raise ValueError("%s is not a per-channel key (%s)" % (
                name, "per-channel: " + ", ".join(mine) if mine else "[%s] has none" % (section,)))
        if len(text) > MAX_VALUE:
            raise ValueError("that value is too long (%d characters at most)" % (MAX_VALUE,))
        try:
            parsed = parse_value(kind, text)
        except ValueError as e:
            raise ValueError("%s takes %s" % (name, e)) from None
        section, _, key = name.partition(".")
        return checked(name, kind, list(parsed) if isinstance(parsed, tuple) else parsed,
                       check_of(self.bot.settings.sections[section], key))

    # changing

    async def set(self, network: str, channel: str, name: str, value: Any, who: str) -> Override:
        """
        Keep C{name} (C{section.key}, or C{plugin:NAME} with True for
        disabled) set to C{value} in C{channel}. Raises ValueError when the
        channel has too many overrides or the value is too long.
        """
        problem = channel_problem(channel)
        if problem:
            raise ValueError("%r %s" % (channel[:60], problem))
        channel = channel.lower()
        place = self.overrides.get((network, channel), {})
        if name not in place and len(place) >= MAX_OVERRIDES:
            raise ValueError("%s has %d overrides already (the most): unset one first" % (
                channel, MAX_OVERRIDES))
        if not place and len(self.overrides) >= MAX_CHANNELS:
            raise ValueError("%d channels have overrides already (the most): unset some first" % (
                MAX_CHANNELS,))
        override = Override(network, channel, name, value, who, self.bot.clock.seconds())
        entry = {"value": override.to_dict()["value"], "who": who, "when": override.when}
        if len(json.dumps(entry["value"])) > MAX_VALUE:
            raise ValueError("that value is too long (%d characters at most)" % (MAX_VALUE,))
        store = self.bot.store
        await store.hset(OVERRIDES, override.field, entry)
        self.version = await store.incr(VERSION)
        self.overrides.setdefault((network, channel), {})[name] = override
        self._rebuild()
        return override

    async def unset(self, network: str, channel: str, name: str) -> bool:
        """Forget the override C{name} in C{channel}; False when there was none."""
        channel = channel.lower()
        place = self.overrides.get((network, channel), {})
        store = self.bot.store
        removed = await store.hdel(OVERRIDES, "%s %s %s" % (network, channel, name))
        self.version = await store.incr(VERSION)
        found = place.pop(name, None) is not None
        if not place:
            self.overrides.pop((network, channel), None)
        self._rebuild()
        return bool(removed) or found

    # keeping up with other processes

    def start(self) -> None:
        """Read the overrides now, then look for others' changes as they are read (see L{look})."""
        self._running = True
        self.look()

    def stop(self) -> None:
        self._running = False

    def _fresh(self) -> None:
        if self._running and self.bot.clock.seconds() >= self._next_look:
            self.look()

    def look(self) -> None:
        """Read the counter (and the overrides when it moved), unless a look is under way."""
        if self._looking:
            return
        self._looking = True
        self._next_look = self.bot.clock.seconds() + POLL_SECONDS

        def done(_: Any) -> None:
            self._looking = False

        self.refresh().addBoth(done)

    def refresh(self) -> Deferred:
        """Read the overrides again when the counter moved; a failure is logged (and tried again later)."""
        d = Deferred.fromCoroutine(self._refresh())
        d.addErrback(lambda f: log.failure("per-channel settings: reading the store failed", f))
        return d

    async def _refresh(self) -> None:
        store = self.bot.store
        version = await store.get(VERSION)
        if version == self.version and self._from is not None:
            return
        stored = await store.hgetall(OVERRIDES)
        overrides: dict[tuple[str, str], dict[str, Override]] = {}
        for o in parse_overrides(stored):
            overrides.setdefault((o.network, o.channel), {})[o.name] = o
        self.overrides, self.version = overrides, version
        self._rebuild()

    # the tables

    def _rebuild(self) -> None:
        settings = self.bot.settings
        self._from = settings
        self._views = {}
        places = {(n, c) for n, c in self.overrides}
        networks = [settings.irc.name, *settings.networks, "console"]
        for place in settings.channels:
            channel, _, network = place.partition("@")
            places.update((n, channel) for n in ([network] if network else networks))
        off = {}
        for network, channel in places:
            disabled = set(self.configured(network, channel)[0])
            for o in self.overrides.get((network, channel), {}).values():
                if o.name.startswith(PLUGIN):
                    plugin = o.name[len(PLUGIN):]
                    (disabled.add if o.value else disabled.discard)(plugin)
            disabled -= ALWAYS_ON
            if disabled:
                off[(network, channel)] = frozenset(disabled)
        self._off = off

    def _view(self, network: str, channel: str) -> Any:
        settings = self.bot.settings
        _, values = self.configured(network, channel)
        for o in self.overrides.get((network, channel), {}).values():
            section, dot, key = o.name.partition(".")
            if dot:
                values.setdefault(section, {})[key] = o.value
        if not values:
            return settings
        sections = dict(settings.sections)
        for section, keys in values.items():
            current = sections.get(section)
            if current is None:
                continue
            kinds = per_channel_keys(type(current))
            changed = {}
            for key, value in keys.items():
                if key not in kinds:
                    continue
                if isinstance(value, tuple):
                    value = list(value)
                try:
                    changed[key] = checked("%s.%s" % (section, key), kinds[key], value,
                                           check_of(current, key))
                except ValueError as e:  # the section changed since it was set (a reload): ignore it
                    log.warn("per-channel {channel}: {problem}; ignored", channel=channel, problem=str(e))
            if changed:
                sections[section] = dataclasses.replace(current, **changed)
        return dataclasses.replace(settings, sections=MappingProxyType(sections))
