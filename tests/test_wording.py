"""Grammar helpers: possessives, plurals, sentence endings."""

from hypothesis import given
from hypothesis import strategies as st

from pubbot.util.wording import plural, possessive, sentence


def test_possessive():
    assert possessive("tea") == "tea's"
    assert possessive("mondays") == "mondays'"
    assert possessive("James") == "James'"
    assert possessive("BOSS") == "BOSS'"
    assert possessive("alice") == "alice's"


def test_plural():
    assert plural(1, "thing") == "1 thing"
    assert plural(0, "thing") == "0 things"
    assert plural(2, "note") == "2 notes"
    assert plural(3, "person", "people") == "3 people"


def test_sentence():
    assert sentence("coffee is hot") == "coffee is hot."
    assert sentence("coffee is hot!") == "coffee is hot!"
    assert sentence("is it?") == "is it?"
    assert sentence("wait...") == "wait..."
    assert sentence("done. ") == "done."
    assert sentence("") == ""
    assert sentence("hello", "!") == "hello!"


@given(st.text(max_size=50))
def test_sentence_never_doubles_an_ending(text):
    out = sentence(text)
    stripped = text.rstrip()
    if stripped and stripped[-1] in ".!?\u2026":
        assert out == stripped  # nothing added to an ended sentence
    elif stripped:
        assert out == stripped + "."
    assert sentence(out) == out
