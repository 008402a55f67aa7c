"""Finds handler plugins with twisted.plugin: built-ins and drop-in directories."""

from __future__ import annotations

import hashlib
import importlib
import os
import sys
import types
from typing import Iterable

from twisted.logger import Logger
from twisted.plugin import getPlugins

from .interfaces import IHandler

log = Logger()


def _dropin_package(directory: str) -> types.ModuleType:
    """A package object whose only path is C{directory}, for getPlugins."""
    path = os.path.abspath(directory)
    # A child of pubbot, so twisted.python.modules finds its path entry.
    name = "pubbot._dropins_" + hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]
    package = sys.modules.get(name)
    if package is None:
        package = types.ModuleType(name, "pubbot drop-in plugins from %s" % path)
        package.__path__ = [path]  # type: ignore[attr-defined]
        package.__file__ = os.path.join(path, "__init__.py")
        sys.modules[name] = package
    return package


def _import_dropins(package: types.ModuleType, directory: str) -> set[str]:
    """
    Import each module in C{directory} first, so a broken one is logged with
    its file name; return the names of the broken ones.
    """
    broken = set()
    for entry in sorted(os.listdir(directory)):
        stem, ext = os.path.splitext(entry)
        if ext != ".py" or not stem.isidentifier():
            continue
        try:
            importlib.import_module("%s.%s" % (package.__name__, stem))
        except BaseException as e:  # noqa: BLE001 - a drop-in may do anything
            if isinstance(e, KeyboardInterrupt):
                raise
            broken.add(stem)
            log.error("drop-in plugin {file} failed to import and was skipped: {error}",
                      file=os.path.join(directory, entry), error="%s: %s" % (type(e).__name__, e))
    return broken


def _module_of(handler) -> str:
    func = getattr(handler, "func", None)
    return getattr(func, "__module__", None) or type(handler).__module__


def _found(package: types.ModuleType) -> list:
    """getPlugins' IHandler providers, ordered by module (stable within one)."""
    return sorted(getPlugins(IHandler, package), key=_module_of)


def load_handlers(paths: Iterable[str] = (), disabled: Iterable[str] = ()) -> list:
    """
    Every IHandler provider in C{pubbot.plugins}, then in each directory of
    C{paths}, in that order, skipping names in C{disabled} and duplicates.
    """
    import pubbot.plugins

    skip = set(disabled)
    found = list(_found(pubbot.plugins))
    for directory in paths:
        if not os.path.isdir(directory):
            log.error("plugin directory {directory} does not exist; skipped", directory=directory)
            continue
        package = _dropin_package(directory)
        # Importing first logs a broken drop-in by file name; getPlugins then
        # skips it (and twisted.plugin logs its traceback).
        _import_dropins(package, directory)
        found.extend(_found(package))
    handlers, names = [], set()
    for h in found:
        if h.name in skip:
            log.info("plugin {plugin} is disabled", plugin=h.name)
            continue
        if h.name in names:
            log.error("plugin {plugin} from {module} has the name of another; skipped",
                      plugin=h.name, module=_module_of(h))
            continue
        names.add(h.name)
        handlers.append(h)
    return handlers
