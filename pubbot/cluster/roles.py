"""
What each process of a scaled-out bot is: its role and its plugins' versions,
shared through Redis so that every dashboard shows the whole cluster.

A plugin's version is its handler's C{version} attribute when it has one,
else the first 12 hex digits of the SHA-1 of its module's source file: a
worker restarted with a changed plugin shows a new version beside the
processes still running the old one. The versions are read again with
every heartbeat, so a plugin reloaded (C{!reload}) shows its new one; a
module's source is hashed once per module object (a reloaded module is a
new one).
"""

from __future__ import annotations

import hashlib
import json
import sys
import weakref
from types import ModuleType
from typing import Any

from twisted.logger import Logger

log = Logger()

#: A hash of {process id: JSON of its description}.
PROCESSES = "pubbot:bus:processes"
#: Largest description read back (bytes).
MAX_DESCRIPTION = 256 * 1024

_module_versions: weakref.WeakKeyDictionary[ModuleType, str] = weakref.WeakKeyDictionary()


def _module_of(handler: Any) -> str | None:
    func = getattr(handler, "func", None)
    return getattr(func, "__module__", None) or type(handler).__module__


def handler_version(handler: Any) -> str:
    """The version of C{handler} (see the module docstring); "?" when its source cannot be read."""
    explicit = getattr(handler, "version", None)
    if isinstance(explicit, str) and explicit:
        return explicit
    module = sys.modules.get(_module_of(handler) or "")
    path = getattr(module, "__file__", None)
    if module is None or not isinstance(path, str):
        return "?"
    version = _module_versions.get(module)
    if version is None:
        try:
            with open(path, "rb") as f:
                version = _module_versions[module] = hashlib.sha1(f.read()).hexdigest()[:12]
        except OSError:
            return "?"
    return version


def plugin_versions(bot: Any) -> dict:
    """{handler name: version} of every handler loaded in C{bot}."""
    return {getattr(h, "name", repr(h)): handler_version(h) for h in list(bot.handlers)}


def description(bus: Any, until: float) -> str:
    """This process, as the others see it (JSON), valid until C{until} (wall time)."""
    from ..version import __version__
    return json.dumps({
        "process": bus.consumer, "role": bus.role, "consumes": bool(bus.consume),
        "owner_here": bool(bus.owner_active()), "version": __version__,
        "plugins": bus.plugin_versions, "partitions": sorted(bus.held), "handled": bus.handled,
        "until": until,
    }, default=str)


def read_descriptions(raw: Any, now: float) -> tuple[list, list]:
    """
    From an HGETALL of L{PROCESSES}: (the live processes' descriptions,
    sorted by process id; the ids of those gone or unreadable, to remove).
    """
    live, gone = [], []
    flat = raw if isinstance(raw, list) else []
    for i in range(0, len(flat) - 1, 2):
        name, text = flat[i], flat[i + 1]
        try:
            if not isinstance(text, str) or len(text) > MAX_DESCRIPTION:
                raise ValueError("not a string of at most %d bytes" % MAX_DESCRIPTION)
            info = json.loads(text)
            if not isinstance(info, dict) or not isinstance(info.get("until"), (int, float)):
                raise ValueError("not a process description")
        except ValueError as e:
            log.debug("ignored the description of process {name}: {error}", name=name, error=e)
            gone.append(name)
            continue
        if info["until"] < now:
            gone.append(name)
            continue
        live.append(info)
    live.sort(key=lambda info: str(info.get("process")))
    return live, gone
