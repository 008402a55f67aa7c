"""
IRC case mappings (ISUPPORT CASEMAPPING) and a dict keyed by folded names.

C{ascii} folds A-Z; C{rfc1459} also folds C{[]\\~} to C{{}|^};
C{rfc1459-strict} folds C{[]\\} but not C{~}. Unknown mappings fold as
ascii (the safe common subset).
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Generic, TypeVar

_ASCII = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_RFC1459 = str.maketrans(string.ascii_uppercase + "[]\\~", string.ascii_lowercase + "{}|^")
_STRICT = str.maketrans(string.ascii_uppercase + "[]\\", string.ascii_lowercase + "{}|")

TABLES = {"ascii": _ASCII, "rfc1459": _RFC1459, "rfc1459-strict": _STRICT}


def folder(name: str) -> Callable[[str], str]:
    """The fold function for casemapping C{name} (ascii for unknown names)."""
    table = TABLES.get(name.lower(), _ASCII)

    def fold(text: str) -> str:
        return text.translate(table)

    return fold


V = TypeVar("V")


class FoldedDict(Generic[V]):
    """A mapping from names to values where keys compare under a fold function."""

    __slots__ = ("_fold", "_data")

    def __init__(self, fold: Callable[[str], str]):
        self._fold = fold
        self._data: dict[str, tuple[str, V]] = {}

    def refold(self, fold: Callable[[str], str]) -> None:
        """Switch to a new fold (the server announced its CASEMAPPING)."""
        self._fold = fold
        self._data = {fold(name): (name, value) for name, value in self._data.values()}

    def __setitem__(self, name: str, value: V) -> None:
        """Set a value; an existing key keeps its spelling (L{rename} changes it)."""
        key = self._fold(name)
        item = self._data.get(key)
        self._data[key] = (name if item is None else item[0], value)

    def __getitem__(self, name: str) -> V:
        return self._data[self._fold(name)][1]

    def get(self, name: str, default: V | None = None) -> V | None:
        item = self._data.get(self._fold(name))
        return default if item is None else item[1]

    def get_folded(self, key: str, default: V | None = None) -> V | None:
        """L{get} by a name already folded with this dict's fold."""
        item = self._data.get(key)
        return default if item is None else item[1]

    def pop(self, name: str, default: V | None = None) -> V | None:
        item = self._data.pop(self._fold(name), None)
        return default if item is None else item[1]

    def rename(self, old: str, new: str) -> None:
        item = self._data.pop(self._fold(old), None)
        if item is not None:
            self._data[self._fold(new)] = (new, item[1])

    def name(self, name: str) -> str | None:
        """The stored spelling of C{name}."""
        item = self._data.get(self._fold(name))
        return None if item is None else item[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._fold(name) in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in list(self._data.values()))

    def first(self, count: int) -> list[tuple[str, V]]:
        """The first C{count} items (name, value): costs C{count}, not the dict's size."""
        return list(islice(self._data.values(), max(0, count)))

    def items(self) -> list[tuple[str, V]]:
        return list(self._data.values())

    def values(self) -> list[V]:
        return [value for _, value in self._data.values()]

    def clear(self) -> None:
        self._data.clear()
