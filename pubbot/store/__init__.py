"""Plugin state: the L{IStore} implementations (memory, SQLite, Redis)."""

from __future__ import annotations

import json

TYPE_CHECKING = False
if TYPE_CHECKING:  # typing is not imported at run time: the brain's learner imports this module
    from typing import Any


class Encoded:
    """
    A value already encoded as L{encode} would (JSON text), given to
    C{set} or C{hset} so it is stored as it stands: what made it (the brain's
    learner process) saves the store's thread, and the reactor, the work.
    Read back, it is the value it encodes.
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __len__(self) -> int:
        return len(self.text)

    def __repr__(self) -> str:
        return "Encoded(%r)" % (self.text[:60],)


def encode(value: Any) -> str:
    """A value as stored: compact JSON (an L{Encoded} one as it stands)."""
    if type(value) is Encoded:
        return value.text
    return json.dumps(value, separators=(",", ":"))


def decode(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text)


def wrong_type(key: str, want: str, have: str) -> TypeError:
    return TypeError("key %r holds a %s, not a %s" % (key, have, want))
