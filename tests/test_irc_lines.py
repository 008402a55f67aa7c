"""Parsing and serialising IRC lines with message tags."""

import contextlib
import copy
import json
import pickle

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.lines import (
    Line,
    LineError,
    Tags,
    build,
    escape_tag_value,
    parse,
    parse_tags,
    serialise,
    split_source,
    unescape_tag_value,
)


class ParseTests(SynchronousTestCase):
    def test_full_line(self):
        line = parse("@time=2021-01-01T00:00:00.000Z;account=bob :bob!b@host PRIVMSG #chan :hello there")
        self.assertEqual(line.tags, {"time": "2021-01-01T00:00:00.000Z", "account": "bob"})
        self.assertEqual(line.source, "bob!b@host")
        self.assertEqual(line.nick, "bob")
        self.assertEqual(line.command, "PRIVMSG")
        self.assertEqual(line.params, ["#chan", "hello there"])

    def test_no_source_no_trailing(self):
        line = parse("PING token")
        self.assertEqual((line.source, line.command, line.params), (None, "PING", ["token"]))

    def test_numeric_and_empty_trailing(self):
        line = parse(":srv 001 me :")
        self.assertEqual(line.params, ["me", ""])

    def test_lowercase_command_is_uppercased(self):
        self.assertEqual(parse("ping x").command, "PING")

    def test_extra_spaces(self):
        self.assertEqual(parse(":a  CMD  x   y :z  w").params, ["x", "y", "z  w"])

    def test_tab_is_part_of_a_param(self):
        self.assertEqual(parse("CMD a\tb").params, ["a\tb"])

    def test_tag_escapes(self):
        line = parse(r"@a=x\:y\sz\\w\r\n;b;c=;d=end\ CMD")
        self.assertEqual(line.tags, {"a": "x;y z\\w\r\n", "b": "", "c": "", "d": "end"})

    def test_unknown_escape_drops_backslash(self):
        self.assertEqual(unescape_tag_value(r"a\bc"), "abc")

    def test_duplicate_tag_last_wins(self):
        self.assertEqual(parse("@a=1;a=2 CMD").tags, {"a": "2"})

    def test_malformed(self):
        for text in ["", ":onlysource", "@tags", "@a=b :src", ":src :trailing", "12 x", "PRIV-MSG x",
                     ": CMD", "   "]:
            self.assertRaises(LineError, parse, text)

    def test_malformed_tag_items_are_dropped_and_the_line_kept(self):
        # (a server's broken tag costs that tag, not the chat line it came on)
        for text in ("@=x;a=1 CMD", "@a=1;+ CMD", "@;;a=1;+=v; CMD", "@=;a=1 CMD"):
            line = parse(text)
            self.assertEqual((line.command, dict(line.tags)), ("CMD", {"a": "1"}), text)
        self.assertEqual(dict(parse("@= CMD").tags), {})

    def test_split_source(self):
        self.assertEqual(split_source("n!u@h"), ("n", "u", "h"))
        self.assertEqual(split_source("irc.example.net"), ("irc.example.net", None, None))
        self.assertEqual(split_source("n@h"), ("n", None, "h"))


class TagsTests(SynchronousTestCase):
    """L{Tags}: a read-only mapping over the wire text, parsed on first read."""

    def test_a_mapping_parsed_when_first_read(self):
        tags = parse(r"@time=t;account=al;+draft/reply=x\sy CMD").tags
        self.assertIsInstance(tags, Tags)
        self.assertEqual(tags.text, r"time=t;account=al;+draft/reply=x\sy")
        self.assertIsNone(tags._parsed)
        self.assertEqual(tags["account"], "al")
        self.assertEqual(tags.get("+draft/reply"), "x y")
        self.assertEqual((tags.get("nope"), tags.get("nope", "d"), "time" in tags, "x" in tags),
                         (None, "d", True, False))
        self.assertEqual((len(tags), sorted(tags), dict(tags.items())),
                         (3, ["+draft/reply", "account", "time"],
                          {"time": "t", "account": "al", "+draft/reply": "x y"}))
        self.assertEqual(tags, {"time": "t", "account": "al", "+draft/reply": "x y"})
        self.assertRaises(KeyError, lambda: tags["nope"])
        with self.assertRaises(TypeError):
            tags["a"] = "b"  # type: ignore[index]

    def test_copies_pickles_and_json(self):
        tags = parse("@a=1;b CMD").tags
        for other in (copy.copy(tags), copy.deepcopy(tags), pickle.loads(pickle.dumps(tags))):
            self.assertEqual((type(other), other.text, dict(other)), (Tags, "a=1;b", {"a": "1", "b": ""}))
        from pubbot.core.message import json_default
        self.assertEqual(json.loads(json.dumps({"tags": tags}, default=json_default)),
                         {"tags": {"a": "1", "b": ""}})

    def test_of_a_dict_reads_as_given(self):
        tags = Tags.of({"time": "2026-12-08T01:02:03.456Z", "note": "a b;c", "flag": ""})
        self.assertEqual(tags.text, r"time=2026-12-08T01:02:03.456Z;note=a\sb\:c;flag")
        self.assertEqual(parse_tags(tags.text), dict(tags))

    @given(st.text(st.characters(blacklist_categories=("Cs",)), max_size=60))
    def test_any_text_reads_without_error(self, text):
        # Whatever a server sends as tags, reading them never raises.
        tags = Tags(text)
        self.assertEqual(dict(tags), parse_tags(text))
        self.assertNotIn("", tags)
        self.assertNotIn("+", tags)


class SerialiseTests(SynchronousTestCase):
    def test_serialise(self):
        line = Line("PRIVMSG", ["#c", "hi there"], "n!u@h", {"a": "x;y", "b": ""})
        self.assertEqual(serialise(line), r"@a=x\:y;b :n!u@h PRIVMSG #c :hi there")

    def test_colon_and_empty_last(self):
        self.assertEqual(serialise(Line("X", [":a"])), "X ::a")
        self.assertEqual(serialise(Line("X", [""])), "X :")

    def test_refuses_injection(self):
        for params in (["#c", "hi\r\nQUIT"], ["#c\n", "x"], ["a b", "c"], ["", "c"], ["x\0"]):
            self.assertRaises(LineError, serialise, Line("PRIVMSG", params))

    def test_build(self):
        self.assertEqual(build("PRIVMSG", "#c", "é x"), "PRIVMSG #c :é x\r\n".encode())
        self.assertRaises(LineError, build, "PRIVMSG", "#c", "a\rb")


_key = st.from_regex(r"\A\+?([a-z0-9.-]{1,10}/)?[a-zA-Z0-9-]{1,12}\Z")
_value = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=30)
_middle = st.text(st.characters(blacklist_characters=" \r\n\0", blacklist_categories=("Cs",)),
                  min_size=1, max_size=20).filter(lambda s: not s.startswith(":"))
_trailing = st.text(st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)), max_size=40)
_command = st.one_of(st.from_regex(r"\A[A-Z]{1,10}\Z"), st.from_regex(r"\A[0-9]{3}\Z"))
_source = st.one_of(st.none(), _middle)


@st.composite
def lines(draw):
    params = draw(st.lists(_middle, max_size=5))
    if draw(st.booleans()):
        params.append(draw(_trailing))
    return Line(draw(_command), params, draw(_source), draw(st.dictionaries(_key, _value, max_size=4)))


class RoundTripTests(SynchronousTestCase):
    @given(lines())
    def test_round_trip(self, line):
        self.assertEqual(parse(serialise(line)), line)

    @given(_value)
    def test_escape_round_trip(self, value):
        escaped = escape_tag_value(value)
        for c in " ;\r\n":
            self.assertNotIn(c, escaped)
        self.assertEqual(unescape_tag_value(escaped), value)

    @given(st.text(max_size=200))
    def test_parse_never_raises_other_errors(self, text):
        with contextlib.suppress(LineError):
            parse(text)
