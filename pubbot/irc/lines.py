"""
IRC lines: parse and serialise, with IRCv3 message tags.

A line is C{[@tags ][:source ]COMMAND [params...] [:trailing]}. Tag values
are escaped per the message-tags spec (C{\\:} C{\\s} C{\\\\} C{\\r} C{\\n});
a missing value and an empty one are the same (C{""}). A parsed line's tags
are L{Tags}, read from their wire text when first used (most never are).
Malformed tag items (an empty key, a lone C{+}) are dropped and the line
kept; when a key repeats, the last wins.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

#: Lines larger than this (tags included) are refused by the protocol.
MAX_TAGS_BYTES = 8191
#: The classic limit for the rest of a line, CR LF included.
MAX_LINE_BYTES = 512

_EMPTY: dict = {}


class LineError(ValueError):
    """A malformed line."""


class Tags(Mapping[str, str]):
    """
    A line's message tags over their wire text C{text} (without the C{@}),
    parsed on first read (L{parse_tags}). A busy reader that needs one tag
    may look in C{text} itself, when it finds there what the parse would.
    """

    __slots__ = ("text", "_parsed")

    def __init__(self, text: str):
        self.text = text
        self._parsed: dict[str, str] | None = None

    @classmethod
    def of(cls, tags: Mapping[str, str]) -> Tags:
        """Tags made in code: C{text} as they would be sent, read as given."""
        made = cls(";".join(key + "=" + escape_tag_value(value) if value else key
                            for key, value in tags.items()))
        made._parsed = dict(tags)
        return made

    def _tags(self) -> dict[str, str]:
        tags = self._parsed
        if tags is None:
            tags = self._parsed = parse_tags(self.text)
        return tags

    def __getitem__(self, key: str) -> str:
        return self._tags()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags())

    def __len__(self) -> int:
        return len(self._tags())

    def __contains__(self, key: object) -> bool:
        return key in self._tags()

    def get(self, key, default=None):  # type: ignore[override]
        return self._tags().get(key, default)

    def __repr__(self) -> str:
        return "Tags(%r)" % (self._tags(),)

    def __reduce__(self) -> tuple:
        return (Tags, (self.text,))


class Line:
    """One parsed line. C{tags}: L{Tags} (a shared empty dict when there are none)."""

    __slots__ = ("tags", "source", "command", "params")

    def __init__(self, command: str, params: list | None = None,
                 source: str | None = None, tags: Mapping[str, str] | None = None):
        self.command = command
        self.params = params if params is not None else []
        self.source = source
        self.tags = tags if tags is not None else _EMPTY

    @property
    def nick(self) -> str | None:
        """The nick (or server name) part of the source."""
        source = self.source
        if source is None:
            return None
        end = source.find("!")
        if end < 0:
            end = source.find("@")
        return source if end < 0 else source[:end]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Line):
            return NotImplemented
        return (self.command == other.command and self.params == other.params
                and self.source == other.source and dict(self.tags) == dict(other.tags))

    def __repr__(self) -> str:
        return "Line(%r, %r, source=%r, tags=%r)" % (self.command, self.params, self.source, self.tags)


def split_source(source: str) -> tuple[str, str | None, str | None]:
    """C{nick!user@host} -> (nick, user, host); missing parts are None."""
    nick, _, rest = source.partition("!")
    if _:
        user, at, host = rest.partition("@")
        return nick, user, host if at else None
    nick, at, host = source.partition("@")
    return nick, None, host if at else None


_UNESCAPES = {":": ";", "s": " ", "\\": "\\", "r": "\r", "n": "\n"}
_ESCAPES = str.maketrans({";": "\\:", " ": "\\s", "\\": "\\\\", "\r": "\\r", "\n": "\\n"})


def unescape_tag_value(value: str) -> str:
    """Undo tag value escaping; an unknown escape drops the backslash, a trailing one is dropped."""
    if "\\" not in value:
        return value
    out = []
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == "\\":
            i += 1
            if i < n:
                nxt = value[i]
                out.append(_UNESCAPES.get(nxt, nxt))
        else:
            out.append(c)
        i += 1
    return "".join(out)


def escape_tag_value(value: str) -> str:
    return value.translate(_ESCAPES)


def parse_tags(text: str) -> dict[str, str]:
    """Tags' wire text (without the C{@}) as a dict; malformed items are dropped."""
    tags = {}
    for item in text.split(";"):
        key, _, value = item.partition("=")
        tags[key] = value
    # (a missing value and an empty one are both ""; the last of a repeated key wins)
    if "\\" in text or "" in tags or "+" in tags:
        return _parse_tags_carefully(text)
    return tags


def _parse_tags_carefully(text: str) -> dict[str, str]:
    """L{parse_tags} for tags with escapes, empty items or an empty key."""
    tags = {}
    for item in text.split(";"):
        key, eq, value = item.partition("=")
        if not key or key == "+":
            continue  # an empty item, or a value without a key
        tags[key] = (unescape_tag_value(value) if "\\" in value else value) if eq else ""
    return tags


#: Commands seen, as parsed (upper case); a bounded cache, as most lines use a few.
_COMMANDS: dict[str, str] = {}


def _command(word: str) -> str:
    command = _COMMANDS.get(word)
    if command is None:
        if not (word.isalpha() and word.isascii()) and not (len(word) == 3 and word.isdigit()):
            raise LineError("bad command %r" % (word[:20],))
        command = word.upper()
        if len(_COMMANDS) < 256:
            _COMMANDS[word] = command
    return command


def parse(text: str) -> Line:
    """
    Parse one line (without CR LF). Raise L{LineError} when it is malformed:
    empty, no command, a command that is neither letters nor three digits.
    """
    tags: Mapping[str, str] = _EMPTY
    pos = 0
    if text.startswith("@"):
        pos = text.find(" ")
        if pos < 0:
            raise LineError("tags without a command")
        tags = Tags(text[1:pos])
        pos += 1
        while text.startswith(" ", pos):
            pos += 1
    source = None
    if text.startswith(":", pos):
        end = text.find(" ", pos)
        if end < 0:
            raise LineError("source without a command")
        source = text[pos + 1:end]
        if not source:
            raise LineError("empty source")
        pos = end + 1
        while text.startswith(" ", pos):
            pos += 1
    params = _params(text, pos)
    word = params[0]
    command = _COMMANDS.get(word) or _command(word)
    del params[0]
    return Line(command, params, source, tags)


def _params(text: str, pos: int) -> list[str]:
    """The command and its parameters from C{pos} on (the trailing one whole); never empty."""
    colon = text.find(" :", pos)
    if colon < 0 and text.startswith(":", pos):
        raise LineError("no command")
    params = text[pos:colon if colon >= 0 else len(text)].split(" ")
    if "" in params:
        params = [p for p in params if p]
        if not params:
            raise LineError("no command")
    if colon >= 0:
        params.append(text[colon + 2:])
    return params


_BAD = ("\r", "\n", "\0")


def _check(part: str, what: str) -> None:
    for c in _BAD:
        if c in part:
            raise LineError("%s contains CR, LF or NUL" % (what,))


def serialise(line: Line) -> str:
    """The wire form of C{line} (without CR LF). Raise L{LineError} if it cannot be sent."""
    out = []
    if line.tags:
        items = []
        for key, value in line.tags.items():
            if not key or any(c in key for c in " ;=\r\n\0"):
                raise LineError("bad tag key %r" % (key,))
            items.append(key + "=" + escape_tag_value(value) if value else key)
        _check("".join(items), "a tag")
        out.append("@" + ";".join(items))
    if line.source is not None:
        if not line.source or " " in line.source:
            raise LineError("bad source")
        _check(line.source, "the source")
        out.append(":" + line.source)
    if not line.command or " " in line.command:
        raise LineError("bad command")
    _check(line.command, "the command")
    out.append(line.command)
    params = line.params
    last = len(params) - 1
    for i, param in enumerate(params):
        _check(param, "a parameter")
        if i == last and (not param or " " in param or param[0] == ":"):
            out.append(":" + param)
        elif not param or " " in param or param[0] == ":":
            raise LineError("only the last parameter may be empty, start with ':' or hold a space")
        else:
            out.append(param)
    return " ".join(out)


def build(command: str, *params: str) -> bytes:
    """A line to send, encoded, with CR LF. Raise L{LineError} on unsafe input."""
    return (serialise(Line(command, list(params))) + "\r\n").encode("utf-8")
