"""Plugin state: the L{IStore} implementations (memory, SQLite, Redis)."""

import json
from typing import Any


def encode(value: Any) -> str:
    """A value as stored: compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def decode(text: Any) -> Any:
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    return json.loads(text)


def wrong_type(key: str, want: str, have: str) -> TypeError:
    return TypeError("key %r holds a %s, not a %s" % (key, have, want))
