"""TOML configuration read into validated, frozen settings.

Every key has a default, so an empty file (or none) is a valid config. The
sections and keys are listed in README.rst and pubbot.example.toml.

This module holds the core's tables ([irc], [networks.NAME], [plugins],
[store], [redis], [zmq], [web], [manhole], [console]). The others are
declared next to the feature or plugin that reads them (see
L{pubbot.config.registry}) and read in a second phase, once the plugins are
known: L{parse_core}, then L{add_sections}; L{parse} does both.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, get_type_hints

from . import checks
from .channels import ALWAYS_ON, MAX_DISABLED, ChannelTable, channel_problem, check_of, place_key, split_place
from .checks import Check
from .networks import network_name_problem
from .registry import (
    Declared,
    declared,
    feature_sections,
    is_array,
    key,
    per_channel_keys,
    section_check,
    table,
)

__all__ = ["Check", "ConfigError", "Settings", "add_sections", "effective", "key", "load", "network_label",
           "parse", "parse_core", "read", "secret", "table"]


class ConfigError(ValueError):
    """A config problem: the message is one line naming the key."""


_positive = checks.positive
_not_negative = checks.not_negative
_one_line = checks.single_line
_nick = checks.nick
_nicks = checks.nicks
_channels = checks.channels
_endpoint = checks.endpoint
_url = checks.url


#: Longest values the wire takes (a USER line must fit the 512 bytes of IRC).
MAX_NICK = checks.MAX_NICK
MAX_USERNAME = 64
MAX_REALNAME_BYTES = 300
MAX_CHANNEL = checks.MAX_CHANNEL
MAX_CHANNEL_KEY = checks.MAX_CHANNEL_KEY
_controls = checks.controls


def _realname(value: str) -> str | None:
    problem = _one_line(value)
    if problem is None and len(value.encode("utf-8")) > MAX_REALNAME_BYTES:
        problem = "is longer than %d bytes" % (MAX_REALNAME_BYTES,)
    return problem


def _username(value: str) -> str | None:
    if not value or any(c in value for c in " @!:") or _controls(value) or len(value) > MAX_USERNAME:
        return "is not a valid IRC user name: %r (no spaces, '@', '!', ':' or control characters; " \
               "at most %d characters)" % (value, MAX_USERNAME)
    return None


def _secret_word(value: str) -> str | None:
    """A password sent as one word of a line (never shown: the message names no value)."""
    if any(c in value for c in "\r\n\0 "):
        return "must not contain CR, LF, NUL or spaces"
    return None


def _fingerprints(values: tuple) -> str | None:
    for v in values:
        hexed = v.replace(":", "")
        if len(hexed) != 64 or any(c not in "0123456789abcdefABCDEF" for c in hexed):
            return "has %r, which is not a SHA-256 fingerprint (64 hex digits)" % (v,)
    return None


def _mechanisms(values: tuple) -> str | None:
    for v in values:
        if v not in ("PLAIN", "SCRAM-SHA-256", "EXTERNAL"):
            return "has unknown mechanism %r (PLAIN, SCRAM-SHA-256, EXTERNAL)" % (v,)
    return None


@dataclass(frozen=True)
class SaslSettings:
    mechanisms: tuple[str, ...] = key(["SCRAM-SHA-256", "PLAIN"], _mechanisms)
    username: str = key("", _one_line)
    password: str = key("", _one_line, secret=True)
    password_env: str = key("")
    #: PLAIN sends the password itself: only on TLS connections unless this is true.
    allow_plaintext: bool = key(False)


@dataclass(frozen=True)
class ThrottleSettings:
    enabled: bool = key(True)
    burst: int = key(5, _positive)
    per_second: float = key(1.0, _positive)


@dataclass(frozen=True)
class IrcSettings:
    name: str = key("irc", network_name_problem)  # [irc] only: a [networks.NAME] table's name is NAME
    server: str = key("", _endpoint(("tcp", "tls", "ssl", "unix")))
    nick: str = key("pubbot", _nick)
    alt_nicks: tuple[str, ...] = key(["pubbot_", "pubbot__"], _nicks)
    channels: tuple[str, ...] = key(["#pubbot"], _channels)
    command_prefix: str = key("!", _one_line)
    tls_fingerprints: tuple[str, ...] = key([], _fingerprints)
    tls_ca: str = key("")
    client_cert: str = key("")
    username: str = key("pubbot", _username)
    realname: str = key("pubbot", _realname)
    nickserv_password: str = key("", _secret_word, secret=True)
    nickserv_password_env: str = key("")
    ping_interval: float = key(60.0, _positive)
    ping_timeout: float = key(30.0, _positive)
    max_reply_lines: int = key(4, _positive)
    max_private_lines: int = key(20, _positive)
    rejoin_delay: float = key(10.0, _not_negative)
    sasl: SaslSettings = table(SaslSettings)
    throttle: ThrottleSettings = table(ThrottleSettings)


@dataclass(frozen=True)
class PluginSettings:
    paths: tuple[str, ...] = key([])
    disabled: tuple[str, ...] = key([])
    timeout: float = key(10.0, _positive)
    admins: tuple[str, ...] = key([])


@dataclass(frozen=True)
class StoreSettings:
    path: str = key("pubbot.sqlite")


def _sentinels(values: tuple) -> str | None:
    if not values:
        return None
    from ..cluster.sentinel import parse_sentinels
    try:
        parse_sentinels(values)
    except ValueError as e:
        return str(e)
    return None


def _master_name(value: str) -> str | None:
    if not value:
        return None
    from ..cluster.sentinel import master_name_problem
    return master_name_problem(value)


@dataclass(frozen=True)
class RedisSettings:
    url: str = key("", _url(("redis", "rediss", "unix")))
    #: Redis Sentinel instead of url: the sentinels (host:port) and the master's name there.
    sentinels: tuple[str, ...] = key([], _sentinels)
    master: str = key("", _master_name)
    lease_seconds: float = key(10.0, _positive)
    buffer: int = key(10000, _positive)
    visibility_timeout: float = key(30.0, _positive)
    #: After taking the lease, wait (at most this long) while the bot's nick is
    #: still on the server: a frozen former owner's connection. 0: do not check.
    takeover_wait: float = key(300.0, _not_negative)

    @property
    def enabled(self) -> bool:
        """Redis mode: a url or sentinels."""
        return bool(self.url or self.sentinels)


def _z85_key(value: str) -> str | None:
    z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#"
    if value and (len(value) != 40 or any(c not in z85 for c in value)):
        return "must be a Z85-encoded CURVE key (40 characters), as zmq.curve_keypair() makes"
    return None


def _z85_keys(values: tuple) -> str | None:
    for v in values:
        problem = _z85_key(v)
        if problem:
            return "has %r, which %s" % (v, problem)
    return None


@dataclass(frozen=True)
class ZmqSettings:
    publish: str = key("", _url(("tcp", "ipc", "inproc")))
    commands: str = key("", _url(("tcp", "ipc", "inproc")))
    curve_public_key: str = key("", _z85_key)
    curve_secret_key: str = key("", _z85_key, secret=True)
    curve_clients: tuple[str, ...] = key([], _z85_keys)  # client public keys allowed in


def _public_url(value: str) -> str | None:
    problem = _url(("http", "https"))(value)
    if problem is None and (len(value) > 200 or any(c in value for c in " ?#\"'<>") or _controls(value)):
        problem = "must be a base URL (no spaces, quotes, '?' or '#'), at most 200 characters"
    return problem


@dataclass(frozen=True)
class WebSettings:
    endpoint: str = key("tcp:8080:interface=127.0.0.1", _endpoint(("tcp", "ssl", "unix")))
    token: str = key("", secret=True)
    #: The dashboard's public base URL (https://bot.example.org): !grep and !last link to its search page.
    url: str = key("", _public_url)
    #: Show private messages (to and from the bot) in the live feed.
    show_private: bool = key(False)


@dataclass(frozen=True)
class ManholeSettings:
    endpoint: str = key("", _endpoint(("tcp", "ssl", "unix")))
    authorized_keys: str = key("")
    host_key: str = key("pubbot_manhole_host_key")


@dataclass(frozen=True)
class ConsoleSettings:
    log_file: str = key("pubbot.log")


def _no_networks() -> Mapping[str, IrcSettings]:
    return MappingProxyType({})


def _no_sections() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Settings:
    """
    The core's tables as fields; the tables features and plugins declare
    (L{pubbot.config.registry.section}) in C{sections}, each also read as an
    attribute: C{settings.weather.city}.
    """

    irc: IrcSettings = table(IrcSettings)
    #: More networks, from [networks.NAME] tables, in the file's order (see L{pubbot.config.networks}).
    networks: Mapping[str, IrcSettings] = field(default_factory=_no_networks)
    plugins: PluginSettings = table(PluginSettings)
    store: StoreSettings = table(StoreSettings)
    redis: RedisSettings = table(RedisSettings)
    zmq: ZmqSettings = table(ZmqSettings)
    web: WebSettings = table(WebSettings)
    manhole: ManholeSettings = table(ManholeSettings)
    console: ConsoleSettings = table(ConsoleSettings)
    #: [permissions]: a command's word -> the level it needs (see L{pubbot.core.permissions}).
    permissions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: [channels."#c"] and [channels."#c@NETWORK"] tables by lower-cased name (see L{pubbot.config.channels}).
    channels: Mapping[str, ChannelTable] = field(default_factory=lambda: MappingProxyType({}))
    #: The declared sections' values by table name ([music], [greet], [weather], ...).
    sections: Mapping[str, Any] = field(default_factory=_no_sections, repr=False)

    def __getattr__(self, name: str) -> Any:
        # Only called when no field has the name: a declared section's, then.
        # Settings read without a plugin's section (a bot built by hand, then
        # given the plugin) had no table of it, or reading would have failed:
        # the plugin gets its defaults.
        # Found once, a section is kept in the instance's dict, where the next
        # lookup finds it as fast as a field (not a field: eq, repr and
        # replace() ignore it).
        sections = self.__dict__.get("sections")
        if sections is None or name.startswith("_"):
            raise AttributeError(name)
        if name in sections:
            value = sections[name]
        else:
            cls = declared(name)
            if cls is None:
                raise AttributeError("no [%s] table: no loaded feature or plugin declares it" % (name,))
            value = () if is_array(cls) else cls()
        self.__dict__[name] = value
        return value


#: The core's tables: no feature or plugin may declare one of these.
CORE_TABLES = frozenset(f.name for f in dataclasses.fields(Settings))


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return {int: "an integer", float: "a float", str: "a string"}.get(type(value), type(value).__name__)


def _coerce(path: str, kind: Any, value: Any) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ConfigError("%s must be true or false, not %s" % (path, _describe(value)))
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError("%s must be an integer, not %s" % (path, _describe(value)))
        return value
    if kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError("%s must be a number, not %s" % (path, _describe(value)))
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError("%s must be a finite number" % (path,))
        return float(value)
    if kind is str:
        if not isinstance(value, str):
            raise ConfigError("%s must be a string, not %s" % (path, _describe(value)))
        return value
    # tuple[str, ...]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError("%s must be an array of strings" % (path,))
    return tuple(value)


def _where(path: str) -> str:
    """How messages name the table at C{path}: C{[irc.sasl]}, or C{path} itself when bracketed."""
    return path if path.startswith("[") else "[%s]" % (path,)


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        where = _where(path) if path else "config"
        raise ConfigError("%s must be a table, not %s" % (where, _describe(data)))
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in fields and cls is not Settings:  # the top level's others: see add_sections
            where = "%s %s" % (_where(path), name) if path else "[%s]" % (name,)
            raise ConfigError("unknown key %s" % (where,))
        if cls is Settings and name == "sections":
            raise ConfigError("[sections]: plugin sections is not installed")
    values: dict[str, Any] = {}
    for name, f in fields.items():
        kind = hints[name]
        sub = "%s.%s" % (path, name) if path else name
        if cls is Settings and name in ("sections", "channels"):  # channels: see parse_core
            continue
        if cls is Settings and name == "networks":
            values[name] = _networks(data.get(name, {}))
            continue
        if cls is Settings and name == "permissions":
            values[name] = _permissions(data.get(name, {}))
            continue
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[name] = _build(kind, data.get(name, {}), sub)
            continue
        label = "%s %s" % (_where(path), name)
        if name not in data:
            continue
        value = _coerce(label, kind, data[name])
        check = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError("%s %s" % (label, problem))
        values[name] = value
    return cls(**values)


#: Most entries of an array of tables (C{[[feeds]]}).
MAX_ARRAY = 100


def _build_section(cls: type, data: Mapping[str, Any], name: str) -> Any:
    """The value of the declared section C{cls}, C{[name]} (or C{[[name]]}: a tuple), from the document."""
    if not is_array(cls):
        return _build(cls, data.get(name, {}), name)
    items = data.get(name, [])
    if not isinstance(items, list):
        raise ConfigError("[[%s]] must be an array of tables ([[%s]] entries), not %s" % (
            name, name, _describe(items)))
    if len(items) > MAX_ARRAY:
        raise ConfigError("[[%s]] has %d entries; at most %d" % (name, len(items), MAX_ARRAY))
    return tuple(_build(cls, item, "[[%s]] #%d" % (name, i)) for i, item in enumerate(items, 1))


def reread_section(cls: type, name: str, value: Any) -> Any:
    """
    C{value} (a section's value, read for another class: the code before a
    reload) read again for the section C{cls}, C{[name]}: its keys
    checked, the keys it did not have at their defaults, those C{cls}
    has no more left out (None: all defaults). Raises L{ConfigError}
    naming a key that does not fit.
    """
    keys = {f.name for f in dataclasses.fields(cls)}

    def kept(item: Any) -> dict:
        return {k: v for k, v in effective(item, mask=False).items() if k in keys}

    if value is None:
        return _build_section(cls, {}, name)
    table = [kept(item) for item in value] if isinstance(value, tuple) else kept(value)
    return _build_section(cls, {name: table}, name)


def _section_checks(settings: Settings, declared: Iterable[Declared]) -> None:
    """The checks of whole sections (L{pubbot.config.registry.section}'s C{check})."""
    for d in declared:
        check = section_check(d.cls)
        problem = check(settings.sections[d.name], settings) if check is not None else None
        if problem:
            raise ConfigError(problem)


def _networks(data: Any) -> Mapping[str, IrcSettings]:
    """
    The [networks.NAME] tables: each has [irc]'s keys and defaults (not
    [irc]'s values) except C{name}, which is the table's name, and needs a
    C{server}.
    """
    if not isinstance(data, dict):
        raise ConfigError("[networks] must be a table of [networks.NAME] tables, not %s" % (_describe(data),))
    networks = {}
    for name, network_table in data.items():
        problem = network_name_problem(name)
        if problem:
            raise ConfigError("[networks] network name %s" % (problem,))
        path = "networks.%s" % (name,)
        if isinstance(network_table, dict) and "name" in network_table:
            raise ConfigError("unknown key [%s] name (a network's name is its table's name)" % (path,))
        built = _build(IrcSettings, network_table, path)
        if not built.server:
            raise ConfigError("[%s] server must be set" % (path,))
        networks[name] = dataclasses.replace(built, name=name)
    return MappingProxyType(networks)


def _permissions(data: Any) -> Mapping[str, str]:
    """[permissions]: C{word = "level"} for any command, the word as typed after the prefix."""
    if not isinstance(data, dict):
        raise ConfigError("[permissions] must be a table, not %s" % (_describe(data),))
    table = {}
    for word, level in data.items():
        problem = checks.level(level)
        if problem:
            raise ConfigError("[permissions] %s %s" % (word, problem))
        table[word.lower()] = level
    return MappingProxyType(table)


# [channels] (see pubbot.config.channels)

def read_channel_names(data: Any, networks: set[str]) -> Mapping[str, ChannelTable]:
    """
    The first phase: C{[channels]} is a table of channel tables whose
    names are channels (and known networks, after C{@}) and whose
    C{disabled} is an array of plugin names; their sections are left for
    L{read_channel_tables}.
    """
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
        place = place_key(channel, network)
        if place in tables:
            raise ConfigError("%s: another [channels] table names the same channel" % (label,))
        tables[place] = ChannelTable(tuple(disabled))
    return MappingProxyType(tables)


def read_channel_tables(data: Any, sections: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """
    The second phase: the sections' sub-tables of each C{[channels]} table,
    against the C{sections} read (name -> values), each key per-channel and
    checked as its section checks it.
    """
    tables: dict[str, Mapping[str, Mapping[str, Any]]] = {}
    for name, body in (data or {}).items():
        channel, network = split_place(name)
        label = '[channels."%s"' % (name,)
        values: dict[str, Mapping[str, Any]] = {}
        for section, keys in body.items():
            if section == "disabled":
                continue
            if section not in sections:
                raise ConfigError('%s] %s: no loaded plugin has a [%s] section' % (label, section, section))
            if not isinstance(keys, dict):
                raise ConfigError('%s.%s] must be a table' % (label, section))
            kinds = per_channel_keys(type(sections[section]))
            read: dict[str, Any] = {}
            for word, value in keys.items():
                where = '%s.%s] %s' % (label, section, word)
                if word not in kinds:
                    if hasattr(sections[section], word):
                        raise ConfigError("%s: [%s] %s is not a per-channel key (per-channel: %s)" % (
                            where, section, word, ", ".join(sorted(kinds)) or "none"))
                    raise ConfigError("unknown key %s" % (where,))
                read[word] = checked(where, kinds[word], value, check_of(sections[section], word))
            values[section] = MappingProxyType(read)
        tables[place_key(channel, network)] = MappingProxyType(values)
    return MappingProxyType(tables)


def checked(where: str, kind: Any, value: Any, check: Any) -> Any:
    """C{value} as a value of a key of type C{kind}, or a ConfigError naming C{where}."""
    value = _coerce(where, kind, value)
    problem = check(value) if check else None
    if problem:
        raise ConfigError("%s %s" % (where, problem))
    return value



def network_label(network: IrcSettings, settings: Settings) -> str:
    """The config table of C{network}: C{irc} or C{networks.NAME}."""
    return "irc" if network is settings.irc else "networks." + network.name


def warnings(settings: Settings) -> list[str]:
    """What a valid config may still get wrong, one line each (C{pubbot config check} prints them)."""
    out = []
    for network in [settings.irc, *settings.networks.values()]:
        sasl = network.sasl
        if not network.server.startswith("tcp:") or "PLAIN" not in sasl.mechanisms:
            continue
        if not (sasl.password or sasl.password_env):
            continue
        label = network_label(network, settings)
        if sasl.allow_plaintext:
            out.append("[%s.sasl] allow_plaintext: SASL PLAIN sends the password in clear over %s; "
                       "use tls:" % (label, network.server))
        else:
            out.append("[%s.sasl] PLAIN is never tried over the plain-text %s (the password would go in "
                       "clear): use tls:, or SCRAM-SHA-256" % (label, network.server))
    return out


def _cross_checks(settings: Settings) -> None:
    if settings.manhole.endpoint and not settings.manhole.authorized_keys:
        raise ConfigError("[manhole] authorized_keys must be set when [manhole] endpoint is")
    if settings.irc.name in settings.networks:
        raise ConfigError("[networks.%s] has the name of the first network ([irc] name); rename one" % (
            settings.irc.name,))
    from ..util.people import admin_network
    for entry in settings.plugins.admins:
        scope = admin_network(entry)
        if scope is not None and scope not in settings.networks:
            raise ConfigError("[plugins] admins has %r, but there is no [networks.%s]" % (entry, scope))
    envs = []
    for network in [settings.irc, *settings.networks.values()]:
        label = network_label(network, settings)
        envs += [("[%s.sasl] password_env" % (label,), network.sasl.password_env),
                 ("[%s] nickserv_password_env" % (label,), network.nickserv_password_env)]
    for label, env in envs:
        if env and env not in os.environ:
            raise ConfigError("%s names %s, which is not set in the environment" % (label, env))
        if env and any(c in os.environ[env] for c in "\r\n\0"):
            raise ConfigError("%s names %s, whose value holds CR, LF or NUL" % (label, env))
    _cluster_checks(settings)


def _cluster_checks(settings: Settings) -> None:
    """[redis] and [zmq]: a usable URL or sentinels, sane timeouts, CURVE off loopback."""
    r = settings.redis
    if r.url and r.sentinels:
        raise ConfigError("[redis] url and [redis] sentinels cannot both be set: one Redis, found one way")
    if r.sentinels and not r.master:
        raise ConfigError("[redis] master must name the master the sentinels watch (as in their "
                          "'sentinel monitor NAME ...') when [redis] sentinels is set")
    if r.master and not r.sentinels:
        raise ConfigError("[redis] master is only used with [redis] sentinels, which is not set")
    if r.url:
        from ..cluster.redisclient import parse_url
        try:
            parse_url(r.url)
        except ValueError as e:
            raise ConfigError("[redis] url %s" % (e,)) from None
    if r.enabled and settings.redis.visibility_timeout <= settings.plugins.timeout:
        raise ConfigError("[redis] visibility_timeout must be longer than [plugins] timeout (%gs), "
                          "or slow handlers are run twice" % (settings.plugins.timeout,))
    z = settings.zmq
    if bool(z.curve_public_key) != bool(z.curve_secret_key):
        raise ConfigError("[zmq] curve_public_key and curve_secret_key must be set together")
    from ..bridges.zmq import is_loopback
    for name in ("publish", "commands"):
        address = getattr(z, name)
        if address and not is_loopback(address):
            if not z.curve_secret_key:
                raise ConfigError("[zmq] %s binds %s, off loopback: set [zmq] curve_public_key and "
                                  "curve_secret_key" % (name, address))
            if not z.curve_clients:
                raise ConfigError("[zmq] %s binds %s, off loopback: list the client public keys allowed "
                                  "in [zmq] curve_clients" % (name, address))


def parse_core(data: Any) -> Settings:
    """
    The first phase: validate the core's tables of a TOML document (as a
    dict), and the features' (L{pubbot.config.registry.FEATURES}), into
    L{Settings}. The other top-level names are left to L{add_sections}.
    """
    settings = _build(Settings, data, "")
    networks = {settings.irc.name, *settings.networks, "console"}
    settings = dataclasses.replace(settings, channels=read_channel_names(data.get("channels", {}), networks))
    declared = feature_sections()
    features = {d.name: _build_section(d.cls, data, d.name) for d in declared}
    settings = dataclasses.replace(settings, sections=MappingProxyType(features))
    _cross_checks(settings)
    _section_checks(settings, declared)
    return settings


def add_sections(settings: Settings, data: Any, sections: Iterable[Declared] = (),
                 disabled: Mapping[str, str] | None = None) -> Settings:
    """
    The second phase: C{settings} (from L{parse_core} of C{data}) with the
    tables of C{sections} (those the loaded plugins declare), every key
    checked. A table of C{disabled} (table name to its plugin's name:
    declared by a disabled plugin) is reported as such, and so is a table
    no one declares ("not installed").
    """
    values = dict(settings.sections)
    tables: dict[str, Declared] = {}
    for d in sections:
        if d.name in CORE_TABLES or d.name in values:
            raise ValueError("%s declares [%s], a table of the core or of a feature" % (d.owner, d.name))
        if d.name in tables and tables[d.name].cls is not d.cls:
            raise ValueError("%s and %s both declare [%s]" % (tables[d.name].owner, d.owner, d.name))
        tables[d.name] = d
    disabled = disabled or {}
    for name in data:
        if name in CORE_TABLES or name in values or name in tables:
            continue
        if name in disabled:
            raise ConfigError("[%s]: plugin %s is disabled" % (name, disabled[name]))
        if isinstance(data[name], list) and data[name] and all(isinstance(v, dict) for v in data[name]):
            raise ConfigError("[[%s]]: plugin %s is not installed" % (name, name))
        if not isinstance(data[name], dict):
            raise ConfigError("unknown key [%s]" % (name,))
        known = set(CORE_TABLES - {"sections"}) | set(values) | set(tables)
        raise ConfigError("[%s]: plugin %s is not installed%s" % (name, name, _did_you_mean(name, known)))
    values.update((name, _build_section(d.cls, data, name)) for name, d in tables.items())
    read = read_channel_tables(data.get("channels", {}), values)
    channels = {place: dataclasses.replace(table, values=read.get(place, MappingProxyType({})))
                for place, table in settings.channels.items()}
    settings = dataclasses.replace(settings, sections=MappingProxyType(values),
                                   channels=MappingProxyType(channels))
    _section_checks(settings, tables.values())
    return settings


def _did_you_mean(name: str, known: set[str]) -> str:
    import difflib
    close = difflib.get_close_matches(name, sorted(known), 1, 0.6)
    return " (did you mean [%s]?)" % (close[0],) if close else ""


def parse(data: Any, sections: Iterable[Declared] = (),
          disabled: Mapping[str, str] | None = None) -> Settings:
    """Validate a TOML document (as a dict) into L{Settings}: both phases (see L{add_sections})."""
    return add_sections(parse_core(data), data, sections, disabled)


def read(path: str) -> dict:
    """The TOML document at C{path}, as a dict."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ConfigError("cannot read config %s: %s" % (path, e.strerror or e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise ConfigError("config %s is not valid UTF-8 (at line %d, column %d: byte 0x%02x)" % (
            path, line, column, raw[e.start])) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        message = " ".join(str(e).split())  # one line, whatever the parser says
        raise ConfigError("config %s is not valid TOML: %s" % (path, message)) from None
    return data


def load(path: str | None, sections: Iterable[Declared] = (),
         disabled: Mapping[str, str] | None = None) -> Settings:
    """Read and validate the TOML file at C{path} (None: all defaults)."""
    return parse({} if path is None else read(path), sections, disabled)


def secret(value: str, env: str) -> str:
    """A secret from config, or from the environment variable C{env}."""
    if env:
        return os.environ.get(env, "")
    return value


def effective(settings: Any, mask: bool = True) -> dict:
    """Settings as a nested dict, secrets masked as '********' when set."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(settings, Settings) and f.name == "sections":  # each one a table of its own
            out.update((name, [effective(item, mask) for item in section] if isinstance(section, tuple)
                        else effective(section, mask)) for name, section in value.items())
        elif dataclasses.is_dataclass(value):
            out[f.name] = effective(value, mask)
        elif f.name == "permissions":
            out[f.name] = dict(value)
        elif f.name == "channels" and isinstance(settings, Settings):
            out[f.name] = {place: {"disabled": list(t.disabled),
                                   **{s: {k: list(v) if isinstance(v, tuple) else v for k, v in keys.items()}
                                      for s, keys in t.values.items()}}
                           for place, t in value.items()}
        elif isinstance(value, Mapping):  # [networks.NAME] tables (their name is the table's)
            out[f.name] = {name: {k: v for k, v in effective(table, mask).items() if k != "name"}
                           for name, table in value.items()}
        elif mask and f.metadata.get("secret") and value:
            out[f.name] = "********"
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
