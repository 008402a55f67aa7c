"""
Changing plugins and settings without leaving IRC.

L{PluginReloader} re-imports one drop-in or entry-point plugin (C{!reload
<plugin>}, admins; an installed plugin with the other modules of its
package) and swaps its handlers and jobs at once: the new module is
imported and its handlers started before anything of the old one is
touched, so when the new code fails to import or start, the old one (and
its package's old modules) keeps running and the error is answered.

With C{[redis]}, L{PluginReloader.peers} (an L{IReloadPeers}: see
L{pubbot.cluster.reloads}) reaches the other processes: the process that
handled C{!reload} reloads first, then asks the others, and answers how
many processes reloaded and which failed or did not answer in time.

L{Reconfigurer} re-reads the config file (on SIGHUP, see
L{ReconfigureService}): plugin settings, C{[plugins] disabled},
C{[permissions]}, each network's channels (joined and parted),
throttle, reply caps and command prefix apply at once; what cannot
change on a live connection (a network's server, nick, TLS, SASL ...)
or process (the store, Redis, the web and manhole endpoints) is logged
and keeps its old value until a restart. Neither drops a connection.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import signal
import sys
from collections.abc import Callable, Iterable
from types import MappingProxyType, ModuleType
from typing import Any

from twisted.application.service import Service
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.logger import Logger

from .config import settings as configmod
from .config.registry import declared_in, feature_sections
from .core.help import command_word, plugin_of
from .core.interfaces import IReloadPeers
from .core.permissions import unenforced
from .loader import _dropin_modules, _providers, handler_sections, is_disabled, load_handlers, load_plugins

log = Logger()

#: Settings tables a running process cannot take up: they keep their old values until a restart.
RESTART_TABLES = ("store", "redis", "zmq", "music", "web", "manhole", "console", "brain")
#: Keys of a network's table a live connection cannot change.
RESTART_NETWORK_KEYS = ("name", "server", "nick", "alt_nicks", "tls_fingerprints", "tls_ca", "client_cert",
                        "username", "realname", "nickserv_password", "nickserv_password_env", "sasl")


def _module_name(handler: Any) -> str:
    func = getattr(handler, "func", None)
    return getattr(func, "__module__", None) or type(handler).__module__


def builtin_stems() -> set[str]:
    import pubbot.plugins as package
    return {stem for d in package.__path__ for stem, _ in _dropin_modules(d)}


#: How many failing or silent processes C{!reload}'s answer names; the rest are counted.
MOST_NAMED = 3
#: The longest error quoted for one process.
ERROR_QUOTED = 120


class ReloadError(Exception):
    """A reload that did not happen; the message says why, in one line."""


@dataclasses.dataclass(frozen=True)
class PeerReport:
    """What the other processes did when asked to reload a plugin (see L{IReloadPeers})."""

    #: The processes that reloaded it.
    reloaded: tuple[str, ...] = ()
    #: (process, the error in one line) of those whose reload failed (their old code runs on).
    failed: tuple[tuple[str, str], ...] = ()
    #: The processes that did not answer in time.
    silent: tuple[str, ...] = ()


class PluginReloader:
    """Reloads the plugins of C{bot}; C{paths} are the drop-in directories ([plugins] paths)."""

    def __init__(self, bot: Any, paths: Callable[[], Iterable[str]] | None = None,
                 peers: Callable[[Any, PluginReloader], IReloadPeers] | None = None):
        self.bot = bot
        #: The drop-in directories, asked each time (a reloaded config may change them).
        self.paths = paths or (lambda: [os.path.abspath(p) for p in bot.settings.plugins.paths])
        #: The other processes of the cluster (made by C{peers(bot, self)}: see
        #: L{pubbot.cluster.wiring.Cluster.reload_peers}), or None: this process alone.
        self.peers: IReloadPeers | None = peers(bot, self) if peers is not None else None

    def _import(self, name: str, old: ModuleType | None) -> ModuleType:
        """A fresh module for plugin C{name}; sys.modules keeps the old one if this fails."""
        if old is not None:
            module_name = old.__name__
            spec = old.__spec__
            origin = getattr(spec, "origin", None) or getattr(old, "__file__", None)
            if not origin or not os.path.exists(origin):
                raise ReloadError("%s has no source file to read again" % (name,))
            locations = getattr(spec, "submodule_search_locations", None)
        else:
            module_name = "pubbot.plugins." + name
            origin = next((os.path.join(d, name + ".py") for d in self.paths()
                           if os.path.isfile(os.path.join(d, name + ".py"))), None)
            if origin is None:
                raise ReloadError("I know no plugin %r" % (name,))
            locations = None
        new_spec = importlib.util.spec_from_file_location(module_name, origin,
                                                          submodule_search_locations=locations)
        if new_spec is None or new_spec.loader is None:
            raise ReloadError("%s cannot be imported from %s" % (name, origin))
        module = importlib.util.module_from_spec(new_spec)
        previous = sys.modules.get(module_name)
        sys.modules[module_name] = module
        try:
            new_spec.loader.exec_module(module)
        except (Exception, SystemExit) as e:  # a plugin's import may raise anything
            if previous is not None:
                sys.modules[module_name] = previous
            else:
                sys.modules.pop(module_name, None)
            log.failure("plugin {plugin} failed to import again; the old one stays", plugin=name)
            raise ReloadError(_one_line_error(e)) from e
        return module

    def _import_package(self, name: str, old_module: ModuleType | None) -> _Import:
        """
        L{_import}, an installed plugin's package read again whole: its
        other modules leave sys.modules, so the new code imports them
        afresh; those it does not import stay as they were.
        """
        siblings = package_modules(old_module) if old_module is not None else {}
        for sibling in siblings:
            del sys.modules[sibling]
        try:
            module = self._import(name, old_module)
        except ReloadError:
            for sibling in package_modules(old_module) if old_module is not None else ():
                del sys.modules[sibling]  # what the failed import read
            sys.modules.update(siblings)
            raise
        for sibling, old in siblings.items():
            sys.modules.setdefault(sibling, old)
        return _Import(module, old_module, siblings)

    def reload(self, name: str) -> str:
        """
        Reload plugin C{name} (a drop-in's file name, an installed
        plugin's entry-point name); returns what was done, or raises
        L{ReloadError} with the reason, the old code still running.
        """
        bot = self.bot
        if not name.isidentifier():
            raise ReloadError("%r is not a plugin name" % (name[:40],))
        if name in bot.settings.plugins.disabled:
            raise ReloadError("%s is disabled ([plugins] disabled)" % (name,))
        old_handlers = [h for h in bot.handlers if plugin_of(h) == name]
        module_name = self._module_of(name, old_handlers)
        old_module = sys.modules.get(module_name) if module_name else None
        imported = self._import_package(name, old_module)
        new_handlers = self._new_handlers(name, imported, old_handlers)
        old_settings = bot.settings
        settings = self._settings(name, imported)
        if settings is not None:
            bot.apply_settings(settings)
        try:
            self._start_all(new_handlers, imported)
        except ReloadError:
            bot.apply_settings(old_settings)
            raise
        # The swap: no turn of the reactor between removing the old and adding the new.
        for h in old_handlers:
            bot.dispatcher.remove(h)
        for h in new_handlers:
            bot.dispatcher.add(h)
        for h in old_handlers:
            _stop(h)
        if old_module is not None:
            bot.jobs.cancel_module(old_module)
        log.info("reloaded plugin {plugin}: {count} handlers", plugin=name, count=len(new_handlers))
        return "Reloaded %s: %s." % (name, _what_runs(new_handlers))

    @staticmethod
    def _module_of(name: str, old_handlers: list) -> str | None:
        """The module plugin C{name}'s handlers come from (None: not loaded); refuses built-ins."""
        modules = {_module_name(h) for h in old_handlers}
        if len(modules) > 1:
            raise ReloadError("%s names more than one module: %s" % (name, ", ".join(sorted(modules))))
        module_name = modules.pop() if modules else None
        if name in builtin_stems():
            if module_name is None:
                raise ReloadError("%s is built in and disabled or not loaded" % (name,))
            if module_name.startswith("pubbot.plugins."):
                raise ReloadError("%s is built in: it changes with pubbot itself (restart)" % (name,))
        return module_name

    def _new_handlers(self, name: str, imported: _Import, old_handlers: list) -> list:
        """The handlers of the module just imported (but the disabled); none may take another's name."""
        module = imported.module
        bot = self.bot
        disabled = set(bot.settings.plugins.disabled)
        others = {h.name for h in bot.handlers if h not in old_handlers}
        new_handlers = []
        for h in _providers([module]):
            if is_disabled(h, disabled):
                continue
            if h.name in others:
                imported.undo()
                raise ReloadError("%s has a handler named %s, as another plugin has" % (name, h.name))
            new_handlers.append(h)
        return new_handlers

    def _settings(self, name: str, imported: _Import) -> Any:
        """
        The bot's settings with the tables C{module} declares read for its
        new classes (the values as they were, a new key at its default);
        None when no class changed. A value the new code refuses stops
        the reload.
        """
        settings = self.bot.settings
        values = dict(settings.sections)
        changed = False
        for d in declared_in(imported.module, name):
            old = values.get(d.name)
            if type(old) is d.cls or (isinstance(old, tuple) and all(type(i) is d.cls for i in old)):
                continue
            if d.name in configmod.CORE_TABLES or d.name in {f.name for f in feature_sections()}:
                continue  # not the plugin's to declare (the loader skipped it too)
            try:
                values[d.name] = configmod.reread_section(d.cls, d.name, old)
            except configmod.ConfigError as e:
                imported.undo()
                raise ReloadError("the new code refuses the config: %s" % (e,)) from e
            changed = True
        return dataclasses.replace(settings, sections=MappingProxyType(values)) if changed else None

    def _start_all(self, handlers: list, imported: _Import) -> None:
        """Start each; when one fails, stop those started, put the old module back and say why."""
        started: list = []
        for h in handlers:
            try:
                h.start(self.bot)
            except Exception as e:
                log.failure("reloaded plugin {plugin} failed to start", plugin=h.name)
                for s in started:
                    _stop(s)
                imported.undo()
                raise ReloadError("%s failed to start: %s" % (h.name, _one_line_error(e))) from e
            started.append(h)

    def answer(self, name: str) -> str | Deferred:
        """
        L{reload}, as the one line C{!reload} answers; with L{peers}, once
        reloaded here, in every other process too (a Deferred of the line).
        """
        try:
            done = self.reload(name)
        except ReloadError as e:
            return "Not reloaded: %s." % (str(e).rstrip("."),)
        peers = self.peers
        if peers is None:
            return done
        return peers.reload(name).addCallback(lambda report: everywhere(name, done, report))


def package_modules(module: ModuleType) -> dict[str, ModuleType]:
    """
    The other modules of an installed plugin's own package, as
    sys.modules holds them: the package's submodules when C{module} is a
    package, else its siblings (its parent package's modules; not the
    parent itself). Nothing for a drop-in (C{pubbot.plugins.*}).
    """
    name = module.__name__
    if name.startswith("pubbot."):
        return {}
    scope = name if getattr(module, "__path__", None) is not None else name.rpartition(".")[0]
    if not scope:
        return {}
    prefix = scope + "."
    return {n: m for n, m in list(sys.modules.items()) if n.startswith(prefix) and n != name}


@dataclasses.dataclass
class _Import:
    """A plugin's module imported again, and what it replaced in sys.modules."""

    module: ModuleType
    old: ModuleType | None
    siblings: dict[str, ModuleType]

    def undo(self) -> None:
        """Put back the old module and its package's old modules (the new ones leave)."""
        for name in package_modules(self.module):
            del sys.modules[name]
        sys.modules.update(self.siblings)
        if self.old is not None:
            sys.modules[self.module.__name__] = self.old
        else:
            sys.modules.pop(self.module.__name__, None)


def _stop(handler: Any) -> None:
    maybeDeferred(handler.stop).addErrback(
        lambda f: log.failure("plugin {plugin} failed to stop", f, plugin=handler.name))


def _what_runs(handlers: list) -> str:
    """What C{!reload} says of a plugin's new code: the handlers, commands and jobs now running."""
    words = sorted({"!" + w for h in handlers if (w := command_word(h))})
    jobs = sorted(h.name for h in handlers if hasattr(h, "schedule"))
    parts = ["%d handler%s" % (len(handlers), "" if len(handlers) == 1 else "s")]
    if words:
        parts.append("commands " + " ".join(words))
    if jobs:
        parts.append("jobs " + " ".join(jobs))
    return "; ".join(parts)


def everywhere(name: str, here: str, report: PeerReport) -> str:
    """
    C{!reload}'s answer in a cluster: C{here} (what this process said)
    with how many processes reloaded, naming at most L{MOST_NAMED} that
    failed and as many that did not answer.
    """
    done = 1 + len(report.reloaded)
    total = done + len(report.failed) + len(report.silent)
    detail = here.split(": ", 1)[1] if ": " in here else here + "."
    counted = "%d process%s" % (done, "" if done == 1 else "es")
    if done < total:
        counted = "%d of %d processes" % (done, total)
    parts = ["Reloaded %s in %s: %s" % (name, counted, detail)]
    if report.failed:
        named = ["%s: %s" % (process, _quoted(error)) for process, error in report.failed[:MOST_NAMED]]
        parts.append("Failed in %s%s." % ("; ".join(named), _more(len(report.failed))))
    if report.silent:
        silent = ", ".join(report.silent[:MOST_NAMED])
        parts.append("No answer from %s%s." % (silent, _more(len(report.silent))))
    return " ".join(parts)


def _quoted(error: str) -> str:
    error = " ".join(error.split()).rstrip(".")
    return error if len(error) <= ERROR_QUOTED else error[:ERROR_QUOTED - 1] + "…"


def _more(count: int) -> str:
    return " and %d more" % (count - MOST_NAMED,) if count > MOST_NAMED else ""


def _one_line_error(e: BaseException) -> str:
    text = "%s: %s" % (type(e).__name__, e)
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:199] + "…"


class Reconfigurer:
    """Re-reads C{path} and applies what can change live to C{bot} and its chat services."""

    def __init__(self, bot: Any, path: str | None):
        self.bot = bot
        self.path = path

    def read(self) -> Any:
        """
        The file's settings: the core's tables, then those the bot's running
        plugins declare and those of the plugins the file enables (a
        disabled plugin's table refused as at start).
        """
        data = {} if self.path is None else configmod.read(self.path)
        core = configmod.parse_core(data)
        plugins = load_plugins(self.bot.settings.plugins.paths, core.plugins.disabled)
        running = [d for d in handler_sections(self.bot.handlers) if d.name not in plugins.disabled]
        names = {d.name for d in running}
        sections = running + [d for d in plugins.sections if d.name not in names]
        return configmod.add_sections(core, data, sections, plugins.disabled)

    def reconfigure(self) -> list[str]:
        """Apply the config file now; returns what needs a restart (also logged). Never raises."""
        try:
            new = self.read()
        except configmod.ConfigError as e:
            log.error("config not reloaded, the old one stays: {error}", error=str(e))
            return []
        except Exception:
            log.failure("config not reloaded, the old one stays")
            return []
        try:
            return self._apply(new)
        except Exception:
            log.failure("applying the reloaded config failed part way")
            return []

    def _apply(self, new: Any) -> list[str]:
        bot = self.bot
        old = bot.settings
        fixed: list[str] = []
        kept: dict[str, Any] = {}
        for table in RESTART_TABLES:
            if getattr(old, table, None) != getattr(new, table, None):
                fixed.append("[%s]" % (table,))
                kept[table] = getattr(old, table)
        if old.plugins.paths != new.plugins.paths:
            fixed.append("[plugins] paths")
        networks = self._networks(old, new, fixed)
        for name in new.networks:
            if name not in old.networks:
                fixed.append("[networks.%s] (added)" % (name,))
        irc = networks.get(old.irc.name, new.irc)
        if irc.name != old.irc.name:
            fixed.append("[irc] name")
            irc = dataclasses.replace(irc, name=old.irc.name)
        more = {n: networks.get(n, t) for n, t in new.networks.items() if n in old.networks}
        more.update({n: t for n, t in old.networks.items() if n not in new.networks})
        applied = dataclasses.replace(new, irc=irc, networks=MappingProxyType(more), **kept)
        bot.apply_settings(applied)
        for name, service in list(bot.chat_services.items()):
            if name in networks:
                service.reconfigure(networks[name])
                bot.chat_factories.pop(name, None)  # the command prefix may have changed
        self._plugins(old, applied)
        for what in fixed:
            log.warn("config: {what} cannot change while running; restart to apply it", what=what)
        for word in unenforced(bot):
            log.warn("[permissions] {word}: no loaded command has that word; it changes nothing", word=word)
        log.info("config reloaded from {path}", path=self.path)
        return fixed

    def _networks(self, old: Any, new: Any, fixed: list[str]) -> dict:
        """
        Each running chat service's new settings, with what cannot change
        live (the server, the nick...) kept as it is and named in C{fixed}.
        """
        networks = {}
        for name, service in list(self.bot.chat_services.items()):
            current = getattr(service, "settings", None)
            if current is None or not hasattr(service, "reconfigure"):
                continue
            wanted = new.irc if name == old.irc.name else new.networks.get(name)
            if wanted is None:
                fixed.append("[networks.%s] (removed)" % (name,))
                continue
            label = "irc" if name == old.irc.name else "networks." + name
            stuck = [k for k in RESTART_NETWORK_KEYS if getattr(current, k) != getattr(wanted, k)]
            fixed += ["[%s] %s" % (label, k) for k in stuck]
            if stuck:
                wanted = dataclasses.replace(wanted, **{k: getattr(current, k) for k in stuck})
            networks[name] = wanted
        return networks

    def _plugins(self, old: Any, new: Any) -> None:
        bot = self.bot
        disabled = set(new.plugins.disabled)
        gone = [h for h in bot.handlers if is_disabled(h, disabled)]
        for h in gone:
            bot.dispatcher.remove(h)
            _stop(h)
            log.info("plugin {plugin} disabled", plugin=h.name)
        running = {_module_name(h) for h in bot.handlers}
        for module in {_module_name(h) for h in gone} - running:  # a plugin stopped: its bot.later runs too
            bot.jobs.cancel_module(module)
        loaded = {h.name for h in bot.handlers}
        enabled = set(old.plugins.disabled) - disabled
        if enabled:
            for h in load_handlers(old.plugins.paths, disabled):
                if is_disabled(h, enabled) and h.name not in loaded:
                    bot.add_handler(h)
                    log.info("plugin {plugin} enabled", plugin=h.name)
        # Plugins whose own table changed start again, to read it (others read settings live).
        fields = {f.name for f in dataclasses.fields(new)} - {"sections"}
        tables = fields | set(old.sections) | set(new.sections)
        changed = {name for name in tables if name not in RESTART_TABLES
                   and getattr(old, name, None) != getattr(new, name, None)}
        for h in list(bot.handlers):
            if plugin_of(h) in changed or h.name in changed:
                _stop(h)
                try:
                    h.start(bot)
                except Exception:
                    log.failure("plugin {plugin} failed to start again", plugin=h.name)


class ReconfigureService(Service):
    """Re-reads the config on SIGHUP (where there is one), on the reactor thread."""

    name = "reconfigure"

    def __init__(self, reconfigurer: Reconfigurer, reactor: Any):
        self.reconfigurer = reconfigurer
        self.reactor = reactor
        self._previous: Any = None

    def startService(self) -> None:
        super().startService()
        if hasattr(signal, "SIGHUP"):
            self._previous = signal.signal(signal.SIGHUP, self._signalled)

    def stopService(self) -> Any:
        super().stopService()
        if hasattr(signal, "SIGHUP") and self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None

    def _signalled(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.reconfigurer.reconfigure)
