"""Topic words, their escaping, and the pattern trie that routes messages.

A topic is a dot-separated list of words, such as ``chat.irc.#pubbot.chat``.
Patterns use two wildcard words: ``*`` matches exactly one word and ``#``
matches one or more words (the original pubbot's rule; AMQP's ``#`` also
matches zero words).

Any string (a channel name may contain ``.`` or be just ``#``) becomes exactly
one topic word with L{escape_word}, reversibly:

* ``%`` becomes ``%25`` and ``.`` becomes ``%2E``;
* a word that is exactly ``*`` or ``#`` becomes ``%2A`` or ``%23``, so it can
  never be read as a wildcard;
* the empty string becomes ``%00``.

Everything else is kept, so ``#pubbot`` stays ``#pubbot``.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)

_ESCAPES = {"%": "%25", ".": "%2E"}
_SPECIAL_WORDS = {"*": "%2A", "#": "%23", "": "%00"}
_UNSPECIAL = {v: k for k, v in _SPECIAL_WORDS.items()}
_ESCAPE_RE = re.compile(r"[%.]")
_UNESCAPE_RE = re.compile(r"%(25|2E)")
_UNESCAPES = {"25": "%", "2E": "."}


def escape_word(text: str) -> str:
    """Return C{text} as one topic word (see the module docstring)."""
    special = _SPECIAL_WORDS.get(text)
    if special is not None:
        return special
    if "%" in text or "." in text:
        return _ESCAPE_RE.sub(lambda m: _ESCAPES[m.group()], text)
    return text


def unescape_word(word: str) -> str:
    """Reverse L{escape_word}."""
    special = _UNSPECIAL.get(word)
    if special is not None:
        return special
    if "%" in word:
        return _UNESCAPE_RE.sub(lambda m: _UNESCAPES[m.group(1)], word)
    return word


def make_topic(*words: str) -> str:
    """Join already-escaped words into a topic."""
    return ".".join(words)


def chat_topic(network: str, channel: str, kind: str) -> str:
    """The topic for a chat event, e.g. C{chat.irc.#pubbot.chat} (the chat-message factory caches them)."""
    return "chat.%s.%s.%s" % (network, escape_word(channel), kind)


def validate_pattern(pattern: str) -> str:
    """Return C{pattern} or raise C{ValueError} if it has an empty word."""
    if not pattern or any(w == "" for w in pattern.split(".")):
        raise ValueError("bad topic pattern %r: empty word" % (pattern,))
    return pattern


class _Node:
    __slots__ = ("children", "values")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        self.values: dict = {}  # value -> sequence number (ordered)


class TopicTrie(Generic[T]):
    """
    Subscriptions of values to topic patterns, looked up by concrete topic.

    A lookup walks the trie (as RabbitMQ's topic exchange does) and its
    result is cached per topic until the next subscribe or unsubscribe, so
    the cost of a repeated lookup does not depend on how many subscriptions
    there are. Results are ordered by first subscription.
    """

    def __init__(self, cache_size: int = 4096) -> None:
        self._root = _Node()
        self._cache: dict[str, tuple[T, ...]] = {}
        self._cache_size = cache_size
        self._sequence = 0
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def subscribe(self, pattern: str, value: T) -> None:
        node = self._root
        for word in validate_pattern(pattern).split("."):
            child = node.children.get(word)
            if child is None:
                child = node.children[word] = _Node()
            node = child
        if value not in node.values:
            self._sequence += 1
            node.values[value] = self._sequence
            self._count += 1
        self._cache.clear()

    def unsubscribe(self, pattern: str, value: T) -> None:
        path = [self._root]
        words = pattern.split(".")
        for word in words:
            child = path[-1].children.get(word)
            if child is None:
                return
            path.append(child)
        if path[-1].values.pop(value, None) is None:
            return
        self._count -= 1
        # Prune empty branches so the trie does not grow with churn.
        for depth in range(len(words), 0, -1):
            node = path[depth]
            if node.values or node.children:
                break
            del path[depth - 1].children[words[depth - 1]]
        self._cache.clear()

    def match(self, topic: str) -> tuple[T, ...]:
        cached = self._cache.get(topic)
        if cached is not None:
            return cached
        found: dict = {}
        self._walk(self._root, topic.split("."), 0, found)
        result = tuple(sorted(found, key=found.__getitem__))
        if len(self._cache) >= self._cache_size:
            self._cache.clear()
        self._cache[topic] = result
        return result

    def _walk(self, node: _Node, words: list[str], i: int, found: dict) -> None:
        if i == len(words):
            for value, seq in node.values.items():
                if value not in found or found[value] > seq:
                    found[value] = seq
            return
        children = node.children
        if not children:
            return
        child = children.get(words[i])
        if child is not None:
            self._walk(child, words, i + 1, found)
        child = children.get("*")
        if child is not None:
            self._walk(child, words, i + 1, found)
        child = children.get("#")
        if child is not None:
            for j in range(i + 1, len(words) + 1):
                self._walk(child, words, j, found)


def pattern_matches(pattern: str, topic: str) -> bool:
    """Reference matcher: does C{pattern} match C{topic}? (No trie, no cache.)"""
    return _ref(pattern.split("."), topic.split("."))


def _ref(pat: list[str], words: list[str]) -> bool:
    if not pat:
        return not words
    head, rest = pat[0], pat[1:]
    if head == "#":
        return any(_ref(rest, words[j:]) for j in range(1, len(words) + 1))
    if not words:
        return False
    if head == "*" or head == words[0]:
        return _ref(rest, words[1:])
    return False


def all_matching(patterns: Iterable[str], topic: str) -> list[str]:
    """The patterns among C{patterns} that match C{topic} (reference)."""
    return [p for p in patterns if pattern_matches(p, topic)]
