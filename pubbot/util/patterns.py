"""
Patterns that chat text reaches, in time linear in the text.

Plugins write Python's regex syntax; L{linear} runs it with RE2 (google-re2),
whose time is linear in the text whatever the pattern, by construction (no
backtracking). The translation keeps Python's meaning exactly, as far as
it goes: C{\\w}, C{\\d} and C{\\s} are Python's own Unicode sets (read
from L{re} itself), case folding is Python's (RE2's differs only for the
dotted and dotless I, fixed up here), named groups, C{groupdict()} and
group numbers are the same. It refuses (L{Unsupported}) what RE2 lacks:
lookarounds, backreferences, conditional and atomic groups, possessive
quantifiers, C{\\b}/C{\\B} without C{re.ASCII} (RE2's are ASCII-only),
C{re.LOCALE} and bytes patterns. One known difference: C{$} without
C{re.MULTILINE} matches only at the very end of the text (Python's also
before a final newline; chat lines have none).

What a pattern that RE2 refuses becomes depends on who wrote it:

 - built-in plugins use L{linear}, or L{bounded} for the few that need
   lookarounds: Python's re, for a pattern whose L{work_bound} on a
   512-byte line is at most L{LIMIT} steps (no nested or ambiguous
   quantifiers); either refuses at import what it cannot run so;
 - L{compile} (what L{pubbot.api}'s decorators use, for third-party
   plugins) falls back to Python's re so the plugin still works, with a
   warning in the log naming the plugin and the pattern, and saying
   whether its work is within L{LIMIT}. C{pubbot.testing.check_patterns}
   fails for such a pattern when it is not.

L{work_bound} gives, for either engine, an upper bound on its steps for a
line of a given size, from the pattern alone; tests assert it (never time).
"""

from __future__ import annotations

import functools
import re
from array import array
from collections.abc import Iterator
from re import _compiler, _parser  # type: ignore[attr-defined]
from re import _constants as _c  # type: ignore[attr-defined]
from typing import Any, Union

import re2
from re2 import _re2  # type: ignore[attr-defined]
from twisted.logger import Logger

__all__ = ["LIMIT", "LinearPattern", "Match", "Pattern", "Unsupported", "bounded", "compile", "fixed_start",
           "is_linear", "linear", "with_flags", "work_bound"]

log = Logger()

#: Python's flags that change how a pattern reads, by letter (for messages).
_FLAG_LETTERS = ((re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.ASCII, "a"))
#: Most steps (see L{work_bound}, an upper bound, not an estimate) a pattern
#: may take on a 512-byte line: tens of milliseconds of Python's re at the
#: very worst; real lines and RE2 take far less than their bounds.
LIMIT = 1 << 24
#: Past this, a bound is no use (see L{work_bound}).
_MAX_COST = 10 ** 15
#: I, i, the dotted capital I and the dotless i: one case class for Python's
#: re, three for RE2 (which leaves U+0130 and U+0131 alone).
_ORBIT = (0x49, 0x69, 0x130, 0x131)
_SURROGATES = re.compile("[\ud800-\udfff]")


class Unsupported(ValueError):
    """The pattern needs syntax RE2 lacks, or whose meaning RE2 would change."""


_UNANCHORED, _ANCHOR_START, _ANCHOR_BOTH = (re2._Anchor.UNANCHORED, re2._Anchor.ANCHOR_START,
                                            re2._Anchor.ANCHOR_BOTH)
_NO_SPAN = (-1, -1)


class _Text:
    """A str as RE2 reads it: UTF-8, with the conversions of offsets between the two."""

    __slots__ = ("text", "data", "ascii")

    def __init__(self, text: str):
        if type(text) is not str:
            raise TypeError("expected a str, not %s" % (type(text).__name__,))
        self.ascii = text.isascii()
        if not self.ascii:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                text = _SURROGATES.sub("\ufffd", text)
        self.text = text
        self.data = text.encode("utf-8")

    def byte(self, char: int) -> int:
        """The byte offset of character offset C{char}."""
        return char if self.ascii else _re2.CharLenToBytes(self.data, 0, char)

    def chars(self, spans: list) -> list:
        """C{spans} (byte offsets, (-1, -1) for a group that took no part) in characters."""
        if self.ascii:
            return spans
        offsets = sorted({offset for span in spans for offset in span if offset >= 0})
        found, last, count = {}, 0, 0
        for offset in offsets:
            count += _re2.BytesToCharLen(self.data, last, offset)
            found[offset] = count
            last = offset
        return [span if span == _NO_SPAN else (found[span[0]], found[span[1]]) for span in spans]

    def match(self, pattern: LinearPattern, spans: list, pos: int | None, endpos: int | None) -> Match:
        """A L{Match} of C{pattern} in this text: C{spans} in bytes, C{pos} and C{endpos} as given."""
        size = len(self.text)
        return Match(pattern, self.text, self.chars(spans), 0 if pos is None else max(0, min(pos, size)),
                     size if endpos is None else max(0, min(endpos, size)))

    def bounds(self, pos: int | None, endpos: int | None) -> tuple[int, int]:
        """Python's C{pos} and C{endpos} (clamped as re does) in bytes; C{(0, -1)} when they cross."""
        size = len(self.text)
        pos = 0 if pos is None else max(0, min(pos, size))
        endpos = size if endpos is None else max(0, min(endpos, size))
        if endpos < pos:
            return 0, -1
        return self.byte(pos), self.byte(endpos)


class LinearPattern:
    """
    A compiled pattern run by RE2: the methods of C{re.Pattern} (search,
    match, fullmatch, finditer, findall, sub, subn, split) and its
    C{pattern}, C{flags}, C{groups} and C{groupindex}, from the Python
    source it was made from. C{source} is the RE2 translation.

    Text with lone surrogates (RE2 reads UTF-8, which has none) is matched
    with each made U+FFFD, so offsets hold; groups then hold U+FFFD too.
    Iterating (finditer, findall, sub, split) follows Python's rule for
    empty matches but one case: after an empty match, Python may backtrack
    into a non-empty match at the same place (C{a*?} on C{aa}); here the
    next match starts a character on when RE2's first choice is empty.
    """

    __slots__ = ("pattern", "flags", "source", "groupindex", "groups", "_regexp", "_names")

    def __init__(self, pattern: str, flags: int, source: str, regexp: Any):
        self.pattern = pattern
        self.flags = flags
        self.source = source
        self.groupindex: dict[str, int] = regexp.groupindex
        self.groups: int = regexp.groups
        self._regexp = regexp._regexp
        self._names = {number: name for name, number in self.groupindex.items()}

    @property
    def programsize(self) -> int:
        """The size of RE2's program: its work is at most about this much per byte of text."""
        return self._regexp.ProgramSize()

    def _one(self, anchor: Any, string: str, pos: int | None, endpos: int | None) -> Match | None:
        if pos is None and endpos is None and type(string) is str and string.isascii():
            # The common case, kept short: a whole line of ASCII, offsets the same in bytes.
            spans = self._regexp.Match(anchor, string.encode("ascii"), 0, len(string))
            return None if spans[0] == _NO_SPAN else Match(self, string, spans, 0, len(string))
        text = _Text(string)
        start, end = text.bounds(pos, endpos)
        if end < 0:
            return None
        spans = self._regexp.Match(anchor, text.data, start, end)
        if spans[0] == _NO_SPAN:
            return None
        return text.match(self, spans, pos, endpos)

    def search(self, string: str, pos: int | None = None, endpos: int | None = None) -> Match | None:
        return self._one(_UNANCHORED, string, pos, endpos)

    def match(self, string: str, pos: int | None = None, endpos: int | None = None) -> Match | None:
        return self._one(_ANCHOR_START, string, pos, endpos)

    def fullmatch(self, string: str, pos: int | None = None,
                  endpos: int | None = None) -> Match | None:
        return self._one(_ANCHOR_BOTH, string, pos, endpos)

    def finditer(self, string: str, pos: int | None = None,
                 endpos: int | None = None) -> Iterator[Match]:
        text = _Text(string)
        start, end = text.bounds(pos, endpos)
        if end < 0:
            return
        data, find = text.data, self._regexp.Match
        last_empty_at = -1
        while start <= end:
            spans = find(_UNANCHORED, data, start, end)
            if spans[0] == _NO_SPAN:
                return
            if spans[0] == (last_empty_at, last_empty_at):
                # Python's rule: no empty match where the last (empty) one was.
                if start >= end:
                    return
                start += 1
                while start < end and data[start] & 0xC0 == 0x80:  # to the next character
                    start += 1
                continue
            yield text.match(self, spans, pos, endpos)
            begin, start = spans[0]
            last_empty_at = start if begin == start else -1

    def findall(self, string: str, pos: int | None = None, endpos: int | None = None) -> list:
        if self.groups == 0:
            return [m.group() for m in self.finditer(string, pos, endpos)]
        if self.groups == 1:
            return [m.groups("")[0] for m in self.finditer(string, pos, endpos)]
        return [m.groups("") for m in self.finditer(string, pos, endpos)]

    def subn(self, repl: Any, string: str, count: int = 0) -> tuple[str, int]:
        if callable(repl):
            expand = repl
        elif isinstance(repl, str) and "\\" not in repl:
            def expand(found: Match) -> str:
                return repl
        else:
            template = _parser.parse_template(repl, self)

            def expand(found: Match) -> str:
                return _parser.expand_template(template, found)
        pieces, at, done = [], 0, 0
        for found in self.finditer(string):
            if count and done >= count:
                break
            begin, end = found.span()
            pieces.append(found.string[at:begin])
            pieces.append(expand(found) or "")
            at, done = end, done + 1
        if not done:
            return string, 0
        pieces.append(found.string[at:])
        return "".join(pieces), done

    def sub(self, repl: Any, string: str, count: int = 0) -> str:
        return self.subn(repl, string, count)[0]

    def split(self, string: str, maxsplit: int = 0) -> list:
        pieces, at, done = [], 0, 0
        text = string
        for found in self.finditer(string):
            if maxsplit and done >= maxsplit:
                break
            text = found.string
            begin, end = found.span()
            pieces.append(text[at:begin])
            pieces.extend(found.groups())
            at, done = end, done + 1
        pieces.append(text[at:])
        return pieces

    def __repr__(self) -> str:
        return "patterns.linear(%r%s)" % (self.pattern, _flag_text(self.flags))


class Match:
    """A match of a L{LinearPattern}, as C{re.Match}: groups by number or name, spans, expand."""

    __slots__ = ("re", "string", "pos", "endpos", "_spans")

    def __init__(self, pattern: LinearPattern, string: str, spans: list, pos: int, endpos: int):
        self.re = pattern
        self.string = string
        self.pos = pos
        self.endpos = endpos
        self._spans = spans

    def _number(self, group: Any) -> int:
        if isinstance(group, str):
            number = self.re.groupindex.get(group)
            if number is None:
                raise IndexError("no such group")
            return number
        if not 0 <= group <= self.re.groups:
            raise IndexError("no such group")
        return group

    def _text(self, group: Any, default: Any = None) -> Any:
        begin, end = self._spans[self._number(group)]
        return default if begin < 0 else self.string[begin:end]

    def group(self, *groups: Any) -> Any:
        if len(groups) <= 1:
            return self._text(groups[0] if groups else 0)
        return tuple(self._text(g) for g in groups)

    def __getitem__(self, group: Any) -> Any:
        return self._text(group)

    def groups(self, default: Any = None) -> tuple:
        return tuple(self._text(g, default) for g in range(1, len(self._spans)))

    def groupdict(self, default: Any = None) -> dict:
        return {name: self._text(number, default) for name, number in self.re.groupindex.items()}

    def start(self, group: Any = 0) -> int:
        return self._spans[self._number(group)][0]

    def end(self, group: Any = 0) -> int:
        return self._spans[self._number(group)][1]

    def span(self, group: Any = 0) -> tuple[int, int]:
        return tuple(self._spans[self._number(group)])  # type: ignore[return-value]

    def expand(self, template: str) -> str:
        return _parser.expand_template(_parser.parse_template(template, self.re), self)

    @property
    def lastindex(self) -> int | None:
        """The last group to close (the outermost, of those ending at the same place)."""
        best, best_end = None, -1
        for number in range(1, len(self._spans)):
            end = self._spans[number][1]
            if end > best_end:
                best, best_end = number, end
        return best

    @property
    def lastgroup(self) -> str | None:
        last = self.lastindex
        return None if last is None else self.re._names.get(last)

    def __repr__(self) -> str:
        return "<pubbot.util.patterns.Match object; span=%r, match=%r>" % (self.span(), self.group())


#: What plugins get from L{compile}: RE2's, or Python's when RE2 refused it.
Pattern = Union[LinearPattern, "re.Pattern[str]"]


def _flag_text(flags: int) -> str:
    letters = "".join(letter for flag, letter in _FLAG_LETTERS if flags & flag)
    return ", (?%s)" % (letters,) if letters else ""


# Python's character categories, as ranges of code points, read from re itself.

@functools.cache
def _categories() -> dict:
    """
    Python's C{\\d}, C{\\s} and C{\\w} as (first, last) code point ranges,
    read from re itself: one C-level scan of every code point each (about
    0.1 s, once a process).
    """
    everything = array("I", range(0x110000)).tobytes().decode("utf-32-le", "surrogatepass")
    tables = {}
    for code, runs in ((_c.CATEGORY_DIGIT, r"\d+"), (_c.CATEGORY_SPACE, r"\s+"), (_c.CATEGORY_WORD, r"\w+")):
        tables[code] = tuple((m.start(), m.end() - 1) for m in re.finditer(runs, everything))
    return tables


def _category_ranges(code: Any, flags: int) -> list:
    """The ranges of category C{code} (a CATEGORY_* constant) under C{flags}."""
    name = str(code)
    negated = "NOT_" in name
    base = getattr(_c, name.replace("NOT_", ""))
    if flags & re.ASCII:
        table = {_c.CATEGORY_DIGIT: ((0x30, 0x39),),
                 _c.CATEGORY_SPACE: ((0x09, 0x0d), (0x20, 0x20)),
                 _c.CATEGORY_WORD: ((0x30, 0x39), (0x41, 0x5a), (0x5f, 0x5f), (0x61, 0x7a))}
        if base not in table:
            raise Unsupported("category %s" % (name,))
        ranges = list(table[base])
    else:
        if base not in (_c.CATEGORY_DIGIT, _c.CATEGORY_SPACE, _c.CATEGORY_WORD):
            raise Unsupported("category %s" % (name,))
        ranges = list(_categories()[base])
    return _complement(ranges) if negated else ranges


def _complement(ranges: list) -> list:
    out = []
    at = 0
    for lo, hi in sorted(ranges):
        if lo > at:
            out.append((at, lo - 1))
        at = max(at, hi + 1)
    if at <= 0x10FFFF:
        out.append((at, 0x10FFFF))
    return out


def _without(ranges: list, points: tuple) -> list:
    """C{ranges} less the code points C{points}."""
    out = []
    for lo, hi in ranges:
        for p in sorted(points):
            if lo <= p <= hi:
                if lo < p:
                    out.append((lo, p - 1))
                lo = p + 1
        if lo <= hi:
            out.append((lo, hi))
    return out


def _char(code: int) -> str:
    if 0xD800 <= code <= 0xDFFF:
        raise Unsupported("a surrogate code point")
    if 0x30 <= code <= 0x39 or 0x41 <= code <= 0x5A or 0x61 <= code <= 0x7A:
        return chr(code)
    return "\\x{%x}" % (code,)


def _class_text(ranges: list, negate: bool) -> str:
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1] and not negate:
        return _char(ranges[0][0])
    body = "".join(_char(lo) if lo == hi else "%s-%s" % (_char(lo), _char(hi)) for lo, hi in ranges)
    if not body:
        return "[\\x00-\\x{10ffff}]" if negate else "[^\\x00-\\x{10ffff}]"
    return "[%s%s]" % ("^" if negate else "", body)


def _python_takes(op: Any, av: Any, flags: int, points: tuple) -> list:
    """Which of C{points} Python's re matches with the one item C{(op, av)} under C{flags}."""
    state = _parser.State()
    state.flags = flags
    found = _compiler.compile(_parser.SubPattern(state, [(op, av)]), flags)
    return [p for p in points if found.fullmatch(chr(p))]


class _Translator:
    """Python's parse tree (re._parser) to RE2 syntax; raises L{Unsupported}."""

    def __init__(self, groupnames: dict):
        self.names = {number: name for name, number in groupnames.items()}

    def seq(self, items: Any, flags: int) -> str:
        out = []
        run: list = []  # literals RE2 folds as Python does, written as one
        for op, av in items:
            if op is _c.LITERAL and not (flags & re.IGNORECASE and (flags & re.ASCII or av in _ORBIT)):
                run.append(_char(av))
                continue
            if run:
                out.append(self.literals(run, flags))
                run = []
            out.append(self.item(op, av, flags))
        if run:
            out.append(self.literals(run, flags))
        return "".join(out)

    @staticmethod
    def literals(chars: list, flags: int) -> str:
        text = "".join(chars)
        return "(?i:%s)" % (text,) if flags & re.IGNORECASE else text

    def item(self, op: Any, av: Any, flags: int) -> str:
        if op is _c.LITERAL:
            return self.literal(av, flags)
        if op is _c.NOT_LITERAL:
            return self.charset(op, av, [(_c.NEGATE, None), (_c.LITERAL, av)], flags)
        if op is _c.IN:
            return self.charset(op, av, av, flags)
        if op is _c.ANY:
            return "(?s:.)" if flags & re.DOTALL else "[^\\n]"
        if op is _c.AT:
            return self.at(av, flags)
        if op is _c.BRANCH:
            return "(?:%s)" % "|".join(self.seq(alt, flags) for alt in av[1])
        if op is _c.SUBPATTERN:
            return self.subpattern(av, flags)
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            return self.repeat(op, av, flags)
        if op is _c.ASSERT or op is _c.ASSERT_NOT:
            raise Unsupported("a lookahead" if av[0] == 1 else "a lookbehind")
        raise Unsupported(_UNSUPPORTED.get(str(op), str(op)))

    def subpattern(self, av: Any, flags: int) -> str:
        group, add, remove, body = av
        inner = self.seq(body, (flags | add) & ~remove)
        if group is None:
            return "(?:%s)" % (inner,)
        name = self.names.get(group)
        return "(?P<%s>%s)" % (name, inner) if name else "(%s)" % (inner,)

    def repeat(self, op: Any, av: Any, flags: int) -> str:
        lo, hi, body = av
        if hi is _c.MAXREPEAT:
            quantifier = {0: "*", 1: "+"}.get(lo, "{%d,}" % (lo,))
        elif (lo, hi) == (0, 1):
            quantifier = "?"
        else:
            quantifier = "{%d}" % (lo,) if lo == hi else "{%d,%d}" % (lo, hi)
        return "(?:%s)%s%s" % (self.seq(body, flags), quantifier, "?" if op is _c.MIN_REPEAT else "")

    @staticmethod
    def at(code: Any, flags: int) -> str:
        if code is _c.AT_BEGINNING:
            return "(?m:^)" if flags & re.MULTILINE else "\\A"
        if code is _c.AT_BEGINNING_STRING:
            return "\\A"
        if code is _c.AT_END:
            return "(?m:$)" if flags & re.MULTILINE else "\\z"
        if code is _c.AT_END_STRING:
            return "\\z"
        if code in (_c.AT_BOUNDARY, _c.AT_NON_BOUNDARY):
            if flags & re.ASCII:
                return "\\b" if code is _c.AT_BOUNDARY else "\\B"
            raise Unsupported("\\b or \\B without re.ASCII (RE2's word boundaries are ASCII-only)")
        raise Unsupported(str(code))

    def literal(self, code: int, flags: int) -> str:
        if not flags & re.IGNORECASE:
            return _char(code)
        return self.charset(_c.LITERAL, code, [(_c.LITERAL, code)], flags)

    def charset(self, op: Any, av: Any, items: list, flags: int) -> str:
        """A set of characters (a literal or class), case folded as Python does under C{flags}."""
        negate = bool(items) and items[0][0] is _c.NEGATE
        ranges: list = []
        for kind, value in items[1:] if negate else items:
            if kind is _c.LITERAL:
                ranges.append((value, value))
            elif kind is _c.RANGE:
                ranges.append(value)
            elif kind is _c.CATEGORY:
                ranges.extend(_category_ranges(value, flags))
            else:
                raise Unsupported("%s in a character class" % (kind,))
        if not flags & re.IGNORECASE:
            return _class_text(ranges, negate)
        if flags & re.ASCII:
            # ASCII letters only fold to each other: spell both cases out, case-sensitively.
            folded = list(ranges)
            for lo, hi in ranges:
                for start, end, shift in ((0x41, 0x5A, 0x20), (0x61, 0x7A, -0x20)):
                    a, b = max(lo, start), min(hi, end)
                    if a <= b:
                        folded.append((a + shift, b + shift))
            return _class_text(folded, negate)
        # RE2 folds as Python does but for I, i, U+0130 and U+0131: those Python's own re decides.
        taken = _python_takes(op, av, flags, _ORBIT)
        rest = _class_text(_without(ranges, _ORBIT) + ([(p, p) for p in _ORBIT] if negate else []), negate)
        if not taken:
            return "(?i:%s)" % (rest,)
        orbit = _class_text([(p, p) for p in taken], False)
        if not negate and not _without(ranges, _ORBIT):
            return "(?-i:%s)" % (orbit,)
        return "(?:(?i:%s)|(?-i:%s))" % (rest, orbit)


_UNSUPPORTED = {
    "GROUPREF": "a backreference",
    "GROUPREF_EXISTS": "a conditional group",
    "ATOMIC_GROUP": "an atomic group",
    "POSSESSIVE_REPEAT": "a possessive quantifier",
}


def _parse(pattern: Any, flags: int) -> tuple[str, int, Any]:
    """The Python source, all its flags (inline ones included) and its parse tree."""
    if isinstance(pattern, (re.Pattern, LinearPattern)):
        flags |= pattern.flags
        pattern = pattern.pattern
    if not isinstance(pattern, str):
        raise Unsupported("only str patterns (chat text is str)")
    if flags & re.LOCALE:
        raise Unsupported("re.LOCALE")
    tree = _parser.parse(pattern, flags)
    return pattern, tree.state.flags, tree


def fixed_start(pattern: str, flags: int = 0) -> str:
    """
    What every match of C{pattern} starts with, as a pattern (Python's
    syntax, under the same C{flags}): its leading literals, whitespace
    (C{\\s}, C{\\s+}...) and alternatives of literals (C{(?:a|b)}), also
    inside groups, up to its first other item; "" when none.
    """
    out: list[str] = []
    _fixed(_parser.parse(pattern, flags), out)
    return "".join(out)


def _fixed(items: Any, out: list) -> bool:
    """Append the fixed start of C{items} to C{out}; True when all of them were fixed."""
    for op, av in items:
        if op is _c.LITERAL:
            out.append(re.escape(chr(av)))
        elif op is _c.IN and av == [(_c.CATEGORY, _c.CATEGORY_SPACE)]:
            out.append(r"\s")
        elif (op is _c.MAX_REPEAT and av[0] >= 1 and len(av[2]) == 1
              and av[2][0] == (_c.IN, [(_c.CATEGORY, _c.CATEGORY_SPACE)])):
            out.append(r"\s{%d,}" % (av[0],))
        elif op is _c.SUBPATTERN and not av[1] and not av[2]:
            if not _fixed(av[3], out):
                return False
        elif op is _c.BRANCH and all(all(o is _c.LITERAL for o, _ in alt) for alt in av[1]):
            out.append("(?:%s)" % "|".join(re.escape("".join(chr(a) for _, a in alt)) for alt in av[1]))
        else:
            return False
    return True


def _options(max_mem: int | None) -> Any:
    options = re2.Options()
    options.log_errors = False
    if max_mem is not None:
        options.max_mem = max_mem
    return options


def linear(pattern: Any, flags: int = 0, max_mem: int | None = None) -> LinearPattern:
    """
    C{pattern} (Python's syntax: source, compiled by re or by this module)
    run by RE2; raises L{Unsupported} when RE2 cannot keep its meaning or
    the program would take more than C{max_mem} bytes (RE2's default: 8
    MB, two thirds for the program), and C{re.error} when it is not a
    valid Python regex.
    """
    source, flags, tree = _parse(pattern, flags)
    translated = _Translator(tree.state.groupdict).seq(tree, flags)
    try:
        regexp = re2.compile(translated, _options(max_mem))
    except re2.error as e:
        raise Unsupported("RE2 refused it: %s" % (e,)) from None
    if regexp.groups != tree.state.groups - 1 or regexp.groupindex != dict(tree.state.groupdict):
        raise Unsupported("its groups would change")
    return LinearPattern(source, flags, translated, regexp)


def _cost(items: Any, n: int) -> tuple[int, int] | None:
    """
    What a backtracking matcher (Python's re) may do with C{items} from one
    start in a text of C{n} characters, as C{(a, b)}: matching them and then
    a continuation that costs C{K} attempts takes at most C{a + b * K}
    attempts (C{b}: the ways through them). None past L{_MAX_COST}.
    A repeat runs at most C{n + 1} times (each more consumes a character),
    so every pattern has a bound; a nested or ambiguous one is a big one.
    """
    total_a, total_b = 0, 1
    for op, av in items:
        cost = _item_cost(op, av, n)
        if cost is None:
            return None
        a, b = cost
        total_a, total_b = total_a + total_b * a, total_b * b
        if total_a > _MAX_COST or total_b > _MAX_COST:
            return None
    return total_a, total_b


def _item_cost(op: Any, av: Any, n: int) -> tuple[int, int] | None:
    """L{_cost} of one parse-tree item."""
    if op in (_c.LITERAL, _c.NOT_LITERAL, _c.ANY, _c.IN, _c.AT, _c.CATEGORY):
        return 1, 1
    if op is _c.BRANCH:
        a, b = 0, 0
        for alt in av[1]:
            way = _cost(alt, n)
            if way is None:
                return None
            a, b = a + way[0], b + way[1]
        return a, b
    if op in (_c.SUBPATTERN, _c.ATOMIC_GROUP, _c.ASSERT, _c.ASSERT_NOT):
        inner = _cost(av[3] if op is _c.SUBPATTERN else av if op is _c.ATOMIC_GROUP else av[1], n)
        if inner is None:
            return None
        # An atomic group or a lookaround is tried in full once, and goes on one way.
        return inner if op is _c.SUBPATTERN else (inner[0] + inner[1], 1)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        repeat = _repeat_cost(av, n)
        if repeat is None:
            return None
        return repeat if op is not _c.POSSESSIVE_REPEAT else (repeat[0] + repeat[1], 1)
    if op is _c.GROUPREF_EXISTS:
        yes = _cost(av[1], n)
        no = _cost(av[2], n) if av[2] is not None else (0, 1)
        if yes is None or no is None:
            return None
        return yes[0] + no[0] + 1, yes[1] + no[1]
    # GROUPREF: one comparison as long as the group
    return n + 1, 1


def _repeat_cost(av: Any, n: int) -> tuple[int, int] | None:
    """L{_cost} of C{body{lo,hi}} (greedy or lazy: the same attempts, in another order)."""
    lo, hi, body = av
    inner = _cost(body, n)
    if inner is None:
        return None
    body_a, body_b = inner
    lo, hi = min(lo, n + 1), min(hi, n + 1)
    # The optional iterations, innermost first: X = body then X again, or the continuation.
    opt_a, opt_b = 0, 1
    for _ in range(hi - lo):
        opt_a, opt_b = body_a + body_b * opt_a, body_b * opt_b + 1
        if opt_a > _MAX_COST or opt_b > _MAX_COST:
            return None
    a, b = 0, 1
    for _ in range(lo):
        a, b = a + b * body_a, b * body_b
        if a > _MAX_COST or b > _MAX_COST:
            return None
    return a + b * opt_a, b * opt_b


def work_bound(pattern: Any, size: int = 512) -> int | None:
    """
    An upper bound on the steps the engine may take to search a text of
    C{size} bytes (or characters) with C{pattern}: for RE2 (a
    L{LinearPattern}), at most its program's size per byte,
    C{(size + 1) * programsize}; for Python's re, the attempts L{_cost}
    allows from each start. None when it is past any use (over 10**15).
    """
    if isinstance(pattern, LinearPattern):
        return (size + 1) * pattern.programsize
    if isinstance(pattern, str):
        pattern = re.compile(pattern)
    if not isinstance(pattern, re.Pattern) or not isinstance(pattern.pattern, str):
        return None
    found = _cost(_parser.parse(pattern.pattern, pattern.flags), size)
    return None if found is None else (size + 1) * (found[0] + found[1])


def is_linear(pattern: Any, size: int = 512, limit: int = LIMIT) -> bool:
    """Is C{pattern}'s L{work_bound} for C{size} bytes known and at most C{limit}?"""
    bound = work_bound(pattern, size)
    return bound is not None and bound <= limit


def bounded(pattern: Any, flags: int = 0, limit: int = LIMIT) -> re.Pattern[str]:
    """
    C{pattern} compiled by Python's re, for the built-in patterns RE2 cannot
    run (lookarounds): raises L{Unsupported} unless its L{work_bound} for a
    512-byte line is at most C{limit}, from its structure alone.
    """
    compiled = _python(pattern, flags)
    bound = work_bound(compiled)
    if bound is None or bound > limit:
        raise Unsupported("its backtracking may take %s steps on a 512-byte line, over %d: %r" % (
            bound or "over 10**15", limit, compiled.pattern))
    return compiled


def compile(pattern: Any, flags: int = 0, owner: str = "a plugin") -> Pattern:
    """
    The policy for a third-party plugin's pattern: L{linear} when RE2 can
    run it; else Python's re (the plugin keeps working), with a warning
    naming C{owner} and the pattern, and whether its work is still bounded.
    """
    try:
        return linear(pattern, flags)
    except Unsupported as e:
        reason = str(e)
    compiled = _python(pattern, flags)
    log.warn("{owner}: pattern {pattern!r} runs on Python's re, not RE2 ({reason}); {risk}",
             owner=owner, pattern=compiled.pattern, reason=reason,
             risk="its work is bounded" if is_linear(compiled)
             else "its work is NOT bounded: one hostile line may stall the bot")
    return compiled


def _python(pattern: Any, flags: int) -> re.Pattern[str]:
    """C{pattern} (source or compiled by either engine) compiled by Python's re with C{flags} added."""
    if isinstance(pattern, (re.Pattern, LinearPattern)):
        return re.compile(pattern.pattern, pattern.flags | flags)
    return re.compile(pattern, flags)


def with_flags(pattern: Any, flags: int, owner: str = "a plugin") -> Pattern:
    """
    C{pattern} (source or compiled) with C{flags} added, on the same engine:
    Python's re for an re.Pattern, else as L{compile} decides (as the
    dispatcher's content filters need, with C{re.MULTILINE}).
    """
    if isinstance(pattern, re.Pattern):
        return _python(pattern, flags)
    return compile(pattern, flags, owner)
