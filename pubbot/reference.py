"""
The command reference (docs/commands.rst), made from the handlers themselves.

    python -m pubbot.reference > docs/commands.rst

A test compares the file with what this prints, so the reference can
never fall behind the code: a new command, a changed usage or description
fails the suite until the file is made again.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from .core.help import command_word
from .core.interfaces import ICommandWords
from .loader import load_handlers

HEADER = """\
Commands
========

Made by ``python -m pubbot.reference`` from the built-in plugins (a test
checks it is current). Commands start with the command prefix (``!`` by
default) or are addressed to the bot (``pubbot: ping``); the other
triggers are phrases the bot listens for in chat. A command's level is
what it declares; ``[permissions]`` in the config can raise or lower it.
"""

#: How the reference names each level a command may declare.
LEVEL_NOTES = {"admin": " (admins only)", "op": " (ops and admins)", "voice": " (voiced, ops and admins)"}


def _rows(handlers: Iterable, commands: bool) -> list[tuple[str, str, str]]:
    rows = []
    for handler in handlers:
        is_command = command_word(handler) is not None
        if is_command != commands:
            continue
        description = " ".join((handler.description or "(no description)").split())
        level = handler.guards[0].requirement if ICommandWords.providedBy(handler) else "anyone"
        who = LEVEL_NOTES.get(level, "")
        for trigger in handler.triggers:
            rows.append((("!" if commands else "") + trigger, handler.name, description + who))
    return rows


def _table(rows: list[tuple[str, str, str]]) -> str:
    if not rows:
        return "(none)\n"
    head = ("Trigger", "Plugin", "What it does")
    widths = [max(len(r[i]) + (4 if i == 0 else 0) for r in rows + [head]) for i in range(3)]
    rule = "  ".join("=" * w for w in widths)
    lines = [rule, "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=False)).rstrip(), rule]
    for trigger, name, text in rows:
        cells = ("``%s``" % (trigger,), name, text)
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=False)).rstrip())
    lines.append(rule)
    return "\n".join(lines) + "\n"


def commands_reference(handlers: Iterable) -> str:
    """The reStructuredText reference of C{handlers}' commands and other triggers."""
    handlers = [h for h in handlers if h.triggers]
    return "\n".join([
        HEADER,
        "Commands\n--------\n",
        _table(_rows(handlers, True)),
        "Said in chat\n------------\n",
        _table(_rows(handlers, False)),
    ])


def main() -> int:
    sys.stdout.write(commands_reference(load_handlers()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
