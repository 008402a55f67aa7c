"""Finds handler plugins: built-ins, drop-in directories and installed packages.

Drop-in directories join the C{__path__} of the C{pubbot.plugins} package
while plugins are imported, the way Twisted's own plugin package takes in
extra directories (C{pluginPackagePaths}), so a drop-in C{foo.py} becomes
the module C{pubbot.plugins.foo}. A built-in module of the same name wins.

A plugin is what C{twisted.plugin} would find: a module attribute providing
C{IPlugin} and C{IHandler}. The modules are imported and read here rather
than through C{twisted.plugin.getPlugins}, which writes a C{dropin.cache}
into every directory it searches (the user's plugin folder among them);
that cache only saves imports, and every module is imported here anyway.

Installed distributions add plugins through the entry-point group
C{pubbot.plugins}: each entry names a module (C{weather = "pubbot_weather"}),
the plugin called by the entry's name. A module that fails to import is
logged with its file or its distribution's name and skipped.

A plugin's module also declares its config tables (classes marked with
L{pubbot.config.registry.section}): L{load_plugins} returns them, for the
second phase of reading the config (L{pubbot.config.settings.add_sections}).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import ModuleType

from twisted.logger import Logger, LogLevel
from twisted.plugin import IPlugin

from .config.registry import FEATURE_OWNER, Declared, declared_in, feature_sections, section_name
from .config.settings import CORE_TABLES
from .core.help import name_plugin
from .core.help import plugin_of as plugin_name
from .core.interfaces import IHandler

log = Logger()

#: The entry-point group installed plugins are listed in.
ENTRY_POINT_GROUP = "pubbot.plugins"


def _dropin_modules(directory: str) -> list[tuple[str, str]]:
    """(module stem, file path) of each importable .py file in C{directory}."""
    found = []
    for entry in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(entry)
        if ext == ".py" and stem.isidentifier() and stem != "__init__":
            found.append((stem, os.path.join(directory, entry)))
    return found


def _import(package, stem: str, path: str, kind: str, broken: dict | None = None) -> ModuleType | None:
    """
    The module C{stem} of C{package} from C{path}; None (logged with the
    file name, and the error kept in C{broken} by C{stem}) when it fails.
    """
    try:
        module = importlib.import_module("%s.%s" % (package.__name__, stem))
    except Exception as e:  # a plugin may raise anything
        if broken is not None:
            broken[stem] = "%s: %s" % (type(e).__name__, e)
        log.failure("{kind} plugin {file} failed to import and was skipped: {error}",
                    kind=kind, file=path, error="%s: %s" % (type(e).__name__, e), level=LogLevel.error)
        return None
    where = os.path.abspath(getattr(module, "__file__", "") or "")
    if where != os.path.abspath(path):
        log.error("{kind} plugin {file} has the module name of {other}; skipped",
                  kind=kind, file=path, other=where)
        return None
    return module


def _import_dropins(package, directory: str, builtin: set[str], taken: dict,
                    broken: dict | None = None) -> list[ModuleType]:
    """
    Each drop-in module of C{directory} that imports; a broken one is logged
    with its file name. C{taken} maps the stems imported so far in this load
    to their files: a second file of the same stem is skipped, while a module
    of that name left by an earlier load (another directory) is replaced.
    """
    modules = []
    for stem, path in _dropin_modules(directory):
        if stem in builtin:
            log.error("drop-in plugin {file} has the name of a built-in plugin module; skipped",
                      file=path)
            continue
        if stem in taken:
            log.error("drop-in plugin {file} has the module name of {other}; skipped",
                      file=path, other=taken[stem])
            continue
        taken[stem] = path
        name = "%s.%s" % (package.__name__, stem)
        earlier = sys.modules.get(name)
        if earlier is not None and os.path.abspath(getattr(earlier, "__file__", "") or "") != path:
            del sys.modules[name]
        module = _import(package, stem, path, "drop-in", broken)
        if module is not None:
            modules.append(module)
    return modules


def _entry_point_modules(taken: set[str], plugins: set[str],
                         broken: dict | None = None) -> list[tuple[str, ModuleType]]:
    """
    (plugin name, module) of each entry of the group C{pubbot.plugins} of the
    installed distributions that imports, in name order; a broken one is
    logged with its distribution's name. C{taken}: module names already
    loaded (a built-in or drop-in), which an entry cannot load again;
    C{plugins}: their plugins' names, which an entry cannot take.
    """
    found: list[tuple[str, ModuleType]] = []
    names: set[str] = set(plugins)
    try:
        entries = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: (e.name, e.value))
    except Exception:
        log.failure("the installed plugins' entry points could not be read; none were loaded",
                    level=LogLevel.error)
        return found
    for entry in entries:
        dist = getattr(getattr(entry, "dist", None), "name", None) or "an unknown distribution"
        module_name = entry.module
        if entry.name in names:
            log.error("installed plugin {plugin} of {distribution} has the name of another plugin; skipped",
                      plugin=entry.name, distribution=dist)
            continue
        if module_name in taken or module_name == "pubbot.plugins" or module_name.startswith("pubbot."):
            log.error("installed plugin {plugin} of {distribution} names {module}, which is pubbot's own "
                      "or already loaded; skipped", plugin=entry.name, distribution=dist, module=module_name)
            continue
        try:
            module = importlib.import_module(module_name)
        except Exception as e:
            if broken is not None:
                broken[entry.name] = "%s: %s" % (type(e).__name__, e)
            log.failure("installed plugin {plugin} of {distribution} ({module}) failed to import and was "
                        "skipped: {error}", plugin=entry.name, distribution=dist, module=module_name,
                        error="%s: %s" % (type(e).__name__, e), level=LogLevel.error)
            continue
        names.add(entry.name)
        taken.add(module_name)
        name_plugin(module_name, entry.name)
        found.append((entry.name, module))
    return found


def _providers(modules: Iterable[ModuleType]) -> list:
    """The IHandler plugins among the modules' attributes, each once, in definition order."""
    return [h for _, h in _module_providers(modules)]


def _module_providers(modules: Iterable[ModuleType]) -> list:
    """(module, handler) of the IHandler plugins among the modules' attributes, each once."""
    found, seen = [], set()
    for module in modules:
        for value in list(vars(module).values()):
            if id(value) in seen or not IPlugin.providedBy(value):
                continue
            handler = IHandler(value, None)
            if handler is not None:
                seen.add(id(value))
                found.append((module, handler))
    return found


def _module_of(handler) -> str:
    func = getattr(handler, "func", None)
    return getattr(func, "__module__", None) or type(handler).__module__


def load_handlers(paths: Iterable[str] = (), disabled: Iterable[str] = (),
                  unconfigured: Iterable[str] = ()) -> list:
    """The handlers of L{load_plugins}."""
    return load_plugins(paths, disabled, unconfigured).handlers


@dataclass
class Plugins:
    """What L{load_plugins} found."""

    #: The handlers to add, in order.
    handlers: list = field(default_factory=list)
    #: The sections the loaded plugins declare (disabled ones' aside).
    sections: list[Declared] = field(default_factory=list)
    #: The tables of the sections of disabled plugins, to their plugin's name.
    disabled: dict[str, str] = field(default_factory=dict)
    #: Each plugin's name (a module's last word, or an installed plugin's entry name) to its module.
    modules: dict[str, ModuleType] = field(default_factory=dict)
    #: The plugins that failed to import, to the error (one line).
    broken: dict[str, str] = field(default_factory=dict)


def load_plugins(paths: Iterable[str] = (), disabled: Iterable[str] = (),
                 unconfigured: Iterable[str] = (), installed: bool = True) -> Plugins:
    """
    Every IHandler provider in C{pubbot.plugins}, the directories in
    C{paths} and (with C{installed}) the modules of the entry-point group
    C{pubbot.plugins}: built-ins first, the core commands first of them, then
    the others by module name, each module's in definition order. Skipped:
    handlers named in C{disabled}, every handler of a plugin named there
    (by its module's last word, or its entry's name; its jobs too, and its
    tables are then refused), duplicates, and the
    handlers of the built-in modules named (by their last word) in
    C{unconfigured}: features with nothing to work with.

    The sections the plugins' modules declare come too: a disabled plugin's
    (every handler of it disabled) in C{disabled}, by table.
    """
    import pubbot.plugins as package

    builtin_path = list(package.__path__)
    builtin = {stem for d in builtin_path for stem, _ in _dropin_modules(d)}
    extra = []
    for directory in paths:
        directory = os.path.abspath(directory)
        if not os.path.isdir(directory):
            log.error("plugin directory {directory} does not exist; skipped", directory=directory)
        elif directory not in extra and directory not in builtin_path:
            extra.append(directory)
    broken: dict[str, str] = {}
    owners: list[tuple[str, ModuleType, bool]] = [  # (plugin name, module, built-in)
        (stem, module, True) for d in builtin_path for stem, path in _dropin_modules(d)
        if (module := _import(package, stem, path, "built-in", broken)) is not None]
    package.__path__[:] = builtin_path + extra
    try:
        taken: dict[str, str] = {}
        for directory in extra:
            owners += [(m.__name__.rpartition(".")[2], m, False)
                       for m in _import_dropins(package, directory, builtin, taken, broken)]
    finally:
        package.__path__[:] = builtin_path
    if installed:
        owners += [(name, m, False) for name, m in _entry_point_modules(
            {m.__name__ for _, m, _ in owners}, {name for name, _, _ in owners}, broken)]
    plugin_of = {id(m): (name, is_builtin) for name, m, is_builtin in owners}
    found = _module_providers(m for _, m, _ in owners)

    def order(pair):
        # The core commands first, then the other built-ins, then the others.
        module, h = pair
        name, is_builtin = plugin_of[id(module)]
        return (not is_builtin, not (is_builtin and name == "core"), _module_of(h))

    result = Plugins(modules={name: m for name, m, _ in owners}, broken=broken)
    names, skip = set(), set(disabled)
    off = {"pubbot.plugins." + m for m in unconfigured}
    kept: dict[str, int] = {}  # plugin name: how many of its handlers are kept
    whole = {p for p in skip if p in result.modules}  # a plugin's name disables all its handlers
    for module, h in sorted(found, key=order):
        plugin = plugin_of[id(module)][0]
        kept.setdefault(plugin, 0)
        if module.__name__ in off or _module_of(h) in off:
            kept[plugin] += 1  # not disabled: nothing to work with
            continue
        if h.name in skip or plugin in whole:
            log.info("plugin {plugin} is disabled", plugin=h.name)
        elif h.name in names:
            log.error("plugin {plugin} from {module} has the name of another; skipped",
                      plugin=h.name, module=_module_of(h))
        else:
            names.add(h.name)
            result.handlers.append(h)
            kept[plugin] += 1
    _collect_sections(result, owners, {p for p, n in kept.items() if n == 0} | whole)
    _warn_unknown(skip, set(result.modules) | set(broken), {h.name for _, h in found})
    return result


def _warn_unknown(disabled: set[str], plugins: set[str], handlers: set[str]) -> None:
    """Log each name of C{[plugins] disabled} that is no plugin and no handler (a typo disables nothing)."""
    import difflib
    for name in sorted(disabled - plugins - handlers):
        close = difflib.get_close_matches(name, sorted(plugins | handlers), 1, 0.6)
        log.warn("[plugins] disabled: {name!r} is no plugin or handler; it disables nothing{hint}",
                 name=name, hint=" (did you mean %r?)" % (close[0],) if close else "")


def _collect_sections(result: Plugins, owners: list, off: set[str]) -> None:
    """The sections of C{owners}' modules into C{result}: those of the plugins in C{off} as disabled."""
    tables = {d.name: d for d in feature_sections()}
    for name, module, _ in owners:
        for d in declared_in(module, name):
            if d.name in CORE_TABLES or (d.name in tables and tables[d.name].cls is not d.cls):
                other = "the core" if d.name in CORE_TABLES else tables[d.name].owner
                log.error("plugin {plugin} declares [{table}], which {other} has; its section is skipped",
                          plugin=name, table=d.name, other=other if other != FEATURE_OWNER else "pubbot")
                continue
            if d.name in tables:
                continue
            tables[d.name] = d
            if name in off:
                result.disabled[d.name] = name
            else:
                result.sections.append(d)


def is_disabled(handler, disabled: Iterable[str]) -> bool:
    """Does C{disabled} (C{[plugins] disabled}) name C{handler} or its plugin?"""
    names = set(disabled)
    return handler.name in names or plugin_name(handler) in names


def handler_sections(handlers: Iterable, extra: Iterable[type] = ()) -> list[Declared]:
    """
    The sections (L{pubbot.config.registry.section}) declared in the modules
    of C{handlers}, as the loader finds them, then the section classes C{extra}.
    """
    found: list[Declared] = []
    seen: set = set()
    for h in handlers:
        func = getattr(h, "func", None)
        owner = h if isinstance(h, type) else type(h)  # a handler, or its class
        module = sys.modules.get(getattr(func, "__module__", None) or owner.__module__)
        if module is None or module in seen:
            continue
        seen.add(module)
        found += [d for d in declared_in(module, module.__name__.rpartition(".")[2])
                  if d.cls not in {f.cls for f in found}]
    for cls in extra:
        name = section_name(cls)
        if name is None:
            raise TypeError("%r is not marked with @section" % (cls,))
        if cls not in {f.cls for f in found}:
            found.append(Declared(name, cls, cls.__module__.rpartition(".")[2]))
    return found
