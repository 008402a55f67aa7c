"""Finds handler plugins with twisted.plugin: built-ins and drop-in directories.

Drop-in directories join the C{__path__} of the C{pubbot.plugins} package
while plugins are looked up, the way Twisted's own plugin package takes in
extra directories (C{pluginPackagePaths}), so a drop-in C{foo.py} becomes
the module C{pubbot.plugins.foo}. A built-in module of the same name wins.
"""

from __future__ import annotations

import importlib
import os
from typing import Iterable

from twisted.logger import Logger
from twisted.plugin import getPlugins

from .interfaces import IHandler

log = Logger()


def _dropin_modules(directory: str) -> list[tuple[str, str]]:
    """(module stem, file path) of each importable .py file in C{directory}."""
    found = []
    for entry in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(entry)
        if ext == ".py" and stem.isidentifier() and stem != "__init__":
            found.append((stem, os.path.join(directory, entry)))
    return found


def _import_dropins(package, directory: str, builtin: set[str]) -> None:
    """
    Import each drop-in first, so a broken one is logged with its file name
    (twisted.plugin then skips it, logging its traceback).
    """
    for stem, path in _dropin_modules(directory):
        if stem in builtin:
            log.error("drop-in plugin {file} has the name of a built-in plugin module; skipped",
                      file=path)
            continue
        try:
            module = importlib.import_module("%s.%s" % (package.__name__, stem))
        except Exception as e:  # noqa: BLE001 - a drop-in may raise anything
            log.error("drop-in plugin {file} failed to import and was skipped: {error}",
                      file=path, error="%s: %s" % (type(e).__name__, e))
            continue
        where = os.path.abspath(getattr(module, "__file__", "") or "")
        if where != os.path.abspath(path):
            log.error("drop-in plugin {file} has the module name of {other}; skipped",
                      file=path, other=where)


def _module_of(handler) -> str:
    func = getattr(handler, "func", None)
    return getattr(func, "__module__", None) or type(handler).__module__


def load_handlers(paths: Iterable[str] = (), disabled: Iterable[str] = ()) -> list:
    """
    Every IHandler provider in C{pubbot.plugins} and the directories in
    C{paths}: built-ins first, then drop-ins by module name, each module's
    in definition order; names in C{disabled} and duplicates are skipped.
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
    package.__path__[:] = builtin_path + extra
    try:
        for directory in extra:
            _import_dropins(package, directory, builtin)
        found = list(getPlugins(IHandler, package))
    finally:
        package.__path__[:] = builtin_path

    def order(h):
        # The core commands first, then the other built-ins, then drop-ins.
        module = _module_of(h)
        stem = module.rsplit(".", 1)[-1]
        return (stem not in builtin, stem != "core", module)

    handlers, names, skip = [], set(), set(disabled)
    for h in sorted(found, key=order):
        if h.name in skip:
            log.info("plugin {plugin} is disabled", plugin=h.name)
        elif h.name in names:
            log.error("plugin {plugin} from {module} has the name of another; skipped",
                      plugin=h.name, module=_module_of(h))
        else:
            names.add(h.name)
            handlers.append(h)
    return handlers
