"""Twisted endpoint strings: the small parsing pubbot needs beyond serverFromString."""

from __future__ import annotations


def split_endpoint(description: str) -> list[str]:
    """Split an endpoint string on unescaped colons (backslash escapes a character)."""
    parts, current, escaped = [], [], False
    for c in description:
        if escaped:
            current.append(c)
            escaped = False
        elif c == "\\":
            escaped = True
        elif c == ":":
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts
