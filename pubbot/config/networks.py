"""
The chat networks of a config: their names and which ones to connect to.

A network's name is the second word of its chat topics
(C{chat.<name>.<place>.<kind>}), its service's name tail (C{irc-<name>}) and
part of what is stored about it, so it is one plain topic word.
"""

from __future__ import annotations

from typing import Any

#: The longest network name.
MAX_NETWORK_NAME = 32


def network_name_problem(value: str) -> str | None:
    """What is wrong with C{value} as a network name (completing "[irc] name ..."), or None."""
    if not value or len(value) > MAX_NETWORK_NAME:
        return "must be 1 to %d characters, not %r" % (MAX_NETWORK_NAME, value)
    if value == "console":
        return "must not be 'console' (the console room's name)"
    if any(c in ".*#%:" or c.isspace() or not c.isprintable() for c in value):
        return "must be a topic word (no '.', '*', '#', '%%', ':', spaces or control characters), not %r" % (
            value,)
    return None


def chat_networks(settings: Any) -> list:
    """
    Every network to connect to (L{pubbot.config.settings.IrcSettings}), the first
    one first: [irc] (when its server is set), then the [networks.NAME]
    tables in the file's order. Empty: no network, the console room instead.
    """
    first = [settings.irc] if settings.irc.server else []
    return first + list(settings.networks.values())


def first_network(settings: Any) -> str:
    """The first network's name (the [irc] name when no network has a server)."""
    networks = chat_networks(settings)
    return networks[0].name if networks else settings.irc.name
