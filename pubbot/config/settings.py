"""TOML configuration read into validated, frozen settings.

Every key has a default, so an empty file (or none) is a valid config. The
sections and keys are listed in README.rst and pubbot.example.toml.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, get_type_hints

from .networks import network_name_problem

Check = Callable[[Any], str | None]


class ConfigError(ValueError):
    """A config problem: the message is one line naming the key."""


def _positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def _not_negative(value: Any) -> str | None:
    return None if value >= 0 else "must not be negative"


def _one_line(value: str) -> str | None:
    if any(c in value for c in "\r\n\0"):
        return "must not contain CR, LF or NUL"
    return None


#: Longest values the wire takes (a USER line must fit the 512 bytes of IRC).
MAX_NICK = 64
MAX_USERNAME = 64
MAX_REALNAME_BYTES = 300
MAX_CHANNEL = 200
MAX_CHANNEL_KEY = 100


def _controls(value: str) -> bool:
    """Does C{value} hold a control character (C0, DEL) or other whitespace than a plain space?"""
    return any(c < " " or c == "\x7f" or (c.isspace() and c != " ") for c in value)


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


def _nick(value: str) -> str | None:
    if (not value or any(c in value for c in " ,*?!@:") or value[0] in "#&$:0123456789-"
            or _controls(value) or len(value) > MAX_NICK):
        return "is not a valid nick: %r" % (value,)
    return None


def _secret_word(value: str) -> str | None:
    """A password sent as one word of a line (never shown: the message names no value)."""
    if any(c in value for c in "\r\n\0 "):
        return "must not contain CR, LF, NUL or spaces"
    return None


def _nicks(values: tuple) -> str | None:
    for v in values:
        problem = _nick(v)
        if problem:
            return problem
    return None


def _channels(values: tuple) -> str | None:
    for v in values:
        name, _, channel_key = v.partition(" ")
        if (not name or name[0] not in "#&+!" or "," in v or _controls(v) or " " in channel_key
                or (_ and not channel_key) or channel_key.startswith(":")
                or len(name) > MAX_CHANNEL or len(channel_key) > MAX_CHANNEL_KEY):
            return ("has a bad channel %r (want \"#name\" or \"#name key\": no commas or control characters, "
                    "names of %d characters at most, keys of %d)" % (v, MAX_CHANNEL, MAX_CHANNEL_KEY))
    return None


def _endpoint(kinds: tuple[str, ...]) -> Check:
    def check(value: str) -> str | None:
        if value and value.split(":", 1)[0] not in kinds:
            return "must be an endpoint string starting with one of %s, not %r" % (
                ", ".join(k + ":" for k in kinds), value)
        return _one_line(value)
    return check


def _music_source(value: str) -> str | None:
    from ..music.sources import check_source
    return check_source(value)


def _url(schemes: tuple[str, ...]) -> Check:
    def check(value: str) -> str | None:
        if value and value.split("://", 1)[0] not in schemes:
            return "must be a URL starting with one of %s" % ", ".join(s + "://" for s in schemes)
        return None
    return check


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


def key(default: Any, check: Check | None = None, secret: bool = False) -> Any:
    """A config key with its default, an optional check and secrecy."""
    if isinstance(default, list):
        default = tuple(default)
    meta = {"check": check, "secret": secret}
    return field(default=default, metadata=meta, repr=not secret)


def section(cls: type) -> Any:
    return field(default_factory=cls)


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
    sasl: SaslSettings = section(SaslSettings)
    throttle: ThrottleSettings = section(ThrottleSettings)


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


@dataclass(frozen=True)
class MusicSettings:
    source: str = key("", _music_source)
    poll_seconds: float = key(5.0, _positive)
    announce: tuple[str, ...] = key(["#pubbot"], _channels)
    skip_votes: int = key(3, _positive)
    vote_timeout: float = key(30.0, _positive)
    bare_words: bool = key(True)
    request_limit: int = key(5, _positive)
    request_window: float = key(60.0, _positive)


@dataclass(frozen=True)
class WebSettings:
    endpoint: str = key("tcp:8080:interface=127.0.0.1", _endpoint(("tcp", "ssl", "unix")))
    token: str = key("", secret=True)
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


@dataclass(frozen=True)
class GreetSettings:
    templates: tuple[str, ...] = key(["Hello %(nick)s!", "Hi %(nick)s", "Welcome back, %(nick)s"])


@dataclass(frozen=True)
class SeenSettings:
    flush_seconds: float = key(10.0, _positive)


@dataclass(frozen=True)
class TellSettings:
    per_sender: int = key(5, _positive)
    per_sender_seconds: float = key(3600.0, _positive)
    max_pending: int = key(10, _positive)


def _timezone(value: str) -> str | None:
    if not value:
        return None
    from zoneinfo import ZoneInfo
    try:
        ZoneInfo(value)
    except (ValueError, OSError, KeyError):
        return "is not a known time zone: %r" % (value,)
    return None


@dataclass(frozen=True)
class FunSettings:
    timezone: str = key("", _timezone)


@dataclass(frozen=True)
class ReminderSettings:
    #: The time zone of reminder times for people who set none with !tz.
    timezone: str = key("UTC", _timezone)


@dataclass(frozen=True)
class BrainSettings:
    max_trigrams: int = key(200000, _positive)
    flush_seconds: float = key(5.0, _positive)
    ignore: tuple[str, ...] = key([], _nicks)  # nicks (other bots) never learned from
    process: bool = key(True)  # learn in a process of its own (another core), when the reactor can start one


def _link_allow(values: tuple) -> str | None:
    """Host names (C{*.} for subdomains), IP addresses or CIDR networks."""
    import ipaddress
    import re
    name = re.compile(r"(\*\.)?([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*"
                      r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.?\Z")
    for v in values:
        try:
            ipaddress.ip_network(v, strict=False)
            continue
        except ValueError:
            pass
        try:
            ascii_name = v.encode("idna").decode("ascii")  # IDN host names
        except UnicodeError:
            ascii_name = ""
        if not name.match(ascii_name):
            return "has %r, which is not a host name, IP address or CIDR network" % (v,)
    return None


@dataclass(frozen=True)
class LinkSettings:
    allow: tuple[str, ...] = key([], _link_allow)
    max_bytes: int = key(1024 * 1024, _positive)
    timeout: float = key(10.0, _positive)


def _vcs_routes(values: tuple) -> str | None:
    from ..vcs.events import parse_route
    for entry in values:
        try:
            _, channels = parse_route(entry)
        except ValueError as e:
            return str(e)
        problem = _channels(channels)
        if problem:
            return problem
    return None


def _vcs_events(values: tuple) -> str | None:
    known = ("push", "pull_request", "issues", "release", "workflow_run")
    unknown = [v for v in values if v not in known]
    if unknown:
        return "has unknown events %s (known: %s)" % (", ".join(map(repr, unknown)), ", ".join(known))
    return None


@dataclass(frozen=True)
class VcsSettings:
    secret: str = key("", secret=True)
    secret_env: str = key("")
    announce: tuple[str, ...] = key(["#pubbot"], _channels)
    #: "owner/repo #chan ..." (the repository may hold * and ?): the first match wins, else announce.
    routes: tuple[str, ...] = key([], _vcs_routes)
    events: tuple[str, ...] = key(["push", "pull_request", "issues", "release", "workflow_run"], _vcs_events)


def _no_networks() -> Mapping[str, IrcSettings]:
    return MappingProxyType({})


@dataclass(frozen=True)
class Settings:
    irc: IrcSettings = section(IrcSettings)
    #: More networks, from [networks.NAME] tables, in the file's order (see L{pubbot.config.networks}).
    networks: Mapping[str, IrcSettings] = field(default_factory=_no_networks)
    plugins: PluginSettings = section(PluginSettings)
    store: StoreSettings = section(StoreSettings)
    redis: RedisSettings = section(RedisSettings)
    zmq: ZmqSettings = section(ZmqSettings)
    music: MusicSettings = section(MusicSettings)
    web: WebSettings = section(WebSettings)
    manhole: ManholeSettings = section(ManholeSettings)
    console: ConsoleSettings = section(ConsoleSettings)
    greet: GreetSettings = section(GreetSettings)
    brain: BrainSettings = section(BrainSettings)
    links: LinkSettings = section(LinkSettings)
    vcs: VcsSettings = section(VcsSettings)
    seen: SeenSettings = section(SeenSettings)
    tell: TellSettings = section(TellSettings)
    fun: FunSettings = section(FunSettings)
    reminders: ReminderSettings = section(ReminderSettings)


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


def _build(cls: type, data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        where = "[%s]" % (path,) if path else "config"
        raise ConfigError("%s must be a table, not %s" % (where, _describe(data)))
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for name in data:
        if name not in fields:
            where = "[%s] %s" % (path, name) if path else "[%s]" % (name,)
            raise ConfigError("unknown key %s" % (where,))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        kind = hints[name]
        sub = "%s.%s" % (path, name) if path else name
        if cls is Settings and name == "networks":
            values[name] = _networks(data.get(name, {}))
            continue
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            values[name] = _build(kind, data.get(name, {}), sub)
            continue
        label = "[%s] %s" % (path, name)
        if name not in data:
            continue
        value = _coerce(label, kind, data[name])
        check = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError("%s %s" % (label, problem))
        values[name] = value
    return cls(**values)


def _networks(data: Any) -> Mapping[str, IrcSettings]:
    """
    The [networks.NAME] tables: each has [irc]'s keys and defaults (not
    [irc]'s values) except C{name}, which is the table's name, and needs a
    C{server}.
    """
    if not isinstance(data, dict):
        raise ConfigError("[networks] must be a table of [networks.NAME] tables, not %s" % (_describe(data),))
    networks = {}
    for name, table in data.items():
        problem = network_name_problem(name)
        if problem:
            raise ConfigError("[networks] network name %s" % (problem,))
        path = "networks.%s" % (name,)
        if isinstance(table, dict) and "name" in table:
            raise ConfigError("unknown key [%s] name (a network's name is its table's name)" % (path,))
        built = _build(IrcSettings, table, path)
        if not built.server:
            raise ConfigError("[%s] server must be set" % (path,))
        networks[name] = dataclasses.replace(built, name=name)
    return MappingProxyType(networks)


def network_label(network: IrcSettings, settings: Settings) -> str:
    """The config table of C{network}: C{irc} or C{networks.NAME}."""
    return "irc" if network is settings.irc else "networks." + network.name


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
    envs = [("[vcs] secret_env", settings.vcs.secret_env)]
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


def parse(data: dict) -> Settings:
    """Validate a TOML document (as a dict) into L{Settings}."""
    settings = _build(Settings, data, "")
    _cross_checks(settings)
    return settings


def load(path: str | None) -> Settings:
    """Read and validate the TOML file at C{path} (None: all defaults)."""
    if path is None:
        return parse({})
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
    return parse(data)


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
        if dataclasses.is_dataclass(value):
            out[f.name] = effective(value, mask)
        elif isinstance(value, Mapping):  # [networks.NAME] tables (their name is the table's)
            out[f.name] = {name: {k: v for k, v in effective(table, mask).items() if k != "name"}
                           for name, table in value.items()}
        elif mask and f.metadata.get("secret") and value:
            out[f.name] = "********"
        else:
            out[f.name] = list(value) if isinstance(value, tuple) else value
    return out
