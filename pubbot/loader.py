"""Finds handler plugins: built-ins and drop-in directories.

Drop-in directories join the C{__path__} of the C{pubbot.plugins} package
while plugins are imported, the way Twisted's own plugin package takes in
extra directories (C{pluginPackagePaths}), so a drop-in C{foo.py} becomes
the module C{pubbot.plugins.foo}. A built-in module of the same name wins.

A plugin is what C{twisted.plugin} would find: a module attribute providing
C{IPlugin} and C{IHandler}. The modules are imported and read here rather
than through C{twisted.plugin.getPlugins}, which writes a C{dropin.cache}
into every directory it searches (the user's plugin folder among them);
that cache only saves imports, and every module is imported here anyway.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from types import ModuleType

from twisted.logger import Logger
from twisted.plugin import IPlugin

from .core.interfaces import IHandler

log = Logger()


def _dropin_modules(directory: str) -> list[tuple[str, str]]:
    """(module stem, file path) of each importable .py file in C{directory}."""
    found = []
    for entry in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(entry)
        if ext == ".py" and stem.isidentifier() and stem != "__init__":
            found.append((stem, os.path.join(directory, entry)))
    return found


def _import(package, stem: str, path: str, kind: str) -> ModuleType | None:
    """The module C{stem} of C{package} from C{path}; None (logged with the file name) when it fails."""
    try:
        module = importlib.import_module("%s.%s" % (package.__name__, stem))
    except Exception as e:  # a plugin may raise anything
        log.failure("{kind} plugin {file} failed to import and was skipped: {error}",
                    kind=kind, file=path, error="%s: %s" % (type(e).__name__, e))
        return None
    where = os.path.abspath(getattr(module, "__file__", "") or "")
    if where != os.path.abspath(path):
        log.error("{kind} plugin {file} has the module name of {other}; skipped",
                  kind=kind, file=path, other=where)
        return None
    return module


def _import_dropins(package, directory: str, builtin: set[str], taken: dict) -> list[ModuleType]:
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
        module = _import(package, stem, path, "drop-in")
        if module is not None:
            modules.append(module)
    return modules


def _providers(modules: Iterable[ModuleType]) -> list:
    """The IHandler plugins among the modules' attributes, each once, in definition order."""
    found, seen = [], set()
    for module in modules:
        for value in list(vars(module).values()):
            if id(value) in seen or not IPlugin.providedBy(value):
                continue
            handler = IHandler(value, None)
            if handler is not None:
                seen.add(id(value))
                found.append(handler)
    return found


def _module_of(handler) -> str:
    func = getattr(handler, "func", None)
    return getattr(func, "__module__", None) or type(handler).__module__


def load_handlers(paths: Iterable[str] = (), disabled: Iterable[str] = (),
                  unconfigured: Iterable[str] = ()) -> list:
    """
    Every IHandler provider in C{pubbot.plugins} and the directories in
    C{paths}: built-ins first, then drop-ins by module name, each module's
    in definition order; names in C{disabled} and duplicates are skipped,
    and so are the handlers of the built-in modules named (by their last
    word) in C{unconfigured}: features with nothing to work with.
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
    modules = [module for d in builtin_path for stem, path in _dropin_modules(d)
               if (module := _import(package, stem, path, "built-in")) is not None]
    package.__path__[:] = builtin_path + extra
    try:
        taken: dict[str, str] = {}
        for directory in extra:
            modules += _import_dropins(package, directory, builtin, taken)
    finally:
        package.__path__[:] = builtin_path
    found = _providers(modules)

    def order(h):
        # The core commands first, then the other built-ins, then drop-ins.
        module = _module_of(h)
        stem = module.rsplit(".", 1)[-1]
        return (stem not in builtin, stem != "core", module)

    handlers, names, skip, off = [], set(), set(disabled), {"pubbot.plugins." + m for m in unconfigured}
    for h in sorted(found, key=order):
        if _module_of(h) in off:
            continue
        if h.name in skip:
            log.info("plugin {plugin} is disabled", plugin=h.name)
        elif h.name in names:
            log.error("plugin {plugin} from {module} has the name of another; skipped",
                      plugin=h.name, module=_module_of(h))
        else:
            names.add(h.name)
            handlers.append(h)
    return handlers
