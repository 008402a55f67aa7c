"""
Is the store readable? Checked once at start, and said loudly when it is not.

A store that cannot be read (a corrupt SQLite file, a path that cannot be
opened, a Redis that refuses) would otherwise degrade the bot silently:
factoids, karma and seen forgotten, each plugin's failure in the log
alone. L{check_store} asks the store (L{ICheckedStore}: SQLite's
C{quick_check}; a store without it is not checked) and L{report_store} says what it found
on the console (stderr), in the log (critical) and on the dashboard
(C{bot.state["store"]}, shown by C{/status}).
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from twisted.logger import Logger

from ..core.interfaces import ICheckedStore

log = Logger(namespace="pubbot.store")

def _where(store: Any) -> str:
    checked = ICheckedStore(store, None)
    where = checked.where if checked is not None else None
    return where if isinstance(where, str) else type(store).__name__


def _describe(failure: Any) -> str:
    value = getattr(failure, "value", failure)
    text = " ".join(str(value).split())[:300]
    return "%s: %s" % (type(value).__name__, text) if text else type(value).__name__


async def check_store(store: Any) -> str | None:
    """None when C{store} can be read (or has no C{check()}), else what is wrong (one line)."""
    checked = ICheckedStore(store, None)
    if checked is None:
        # (Redis: a connection still being made is not a broken store; the client says when it fails)
        return None
    try:
        await checked.check()
    except Exception as e:
        return _describe(e)
    return None


async def report_store(bot: Any, err: TextIO | None = None) -> bool:
    """
    Check C{bot.store} and say what was found: C{bot.state["store"]} is
    C{{"ok": bool, "where": ..., "error": ...}}; a store that cannot be read
    is also logged (critical) and written to C{err} (default stderr).
    Returns whether the store can be read.
    """
    store = bot.store
    where = _where(store)
    problem = await check_store(store)
    checked = ICheckedStore.providedBy(store)
    bot.state["store"] = {"ok": problem is None, "checked": checked, "where": where, "error": problem}
    if problem is None:
        log.info("store: {where} is readable", where=where)
        return True
    log.critical("the store ({where}) cannot be read: {problem}. The bot runs without what it stored "
                 "(factoids, karma, seen, the brain) until the store is fixed or replaced",
                 where=where, problem=problem)
    # (sys.__stderr__: twistd points sys.stderr at its log; this is for the person starting it)
    stream = err if err is not None else (sys.__stderr__ or sys.stderr)
    try:
        stream.write("pubbot: the store (%s) cannot be read: %s\n" % (where, problem))
        stream.flush()
    except (OSError, ValueError):
        pass
    return False
