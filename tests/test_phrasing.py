"""
Natural phrasing: tell, seen, factoids, recall and teaching read the way
people talk, from the corpus in tests/data/phrasing/corpus.tsv (each line
with what it must do); anything ambiguous is not stored.
"""

from __future__ import annotations

import os

import pytest

from pubbot.plugins import core, education
from pubbot.plugins import seen as seen_module
from pubbot.testing import Harness

CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "phrasing", "corpus.tsv")
ADMINS = {"plugins": {"admins": ["root"]}}


def corpus() -> list:
    cases = []
    with open(CORPUS, encoding="utf-8") as f:
        for number, raw in enumerate(f, 1):
            raw = raw.rstrip("\n")
            if not raw or raw.startswith("#"):
                continue
            line, outcome = raw.split("\t")
            cases.append(pytest.param(line, outcome, id="%d:%s" % (number, line[:40])))
    return cases


def harness() -> Harness:
    bot = Harness(seen_module.seen, seen_module.tell, education.responder, education.teach,
                  education.forget, education.what_do_you_know, education.tell_me_about,
                  education.factoid, education.recall, core.help, config=ADMINS)
    assert bot.reply("pubbot: coffee is hot and black", source="carol", hostmask="carol!c@elsewhere") == \
        "OK, coffee is hot and black."
    bot.reply("hello", source="bob", hostmask="bob!b@elsewhere")
    bot.clock.advance(300)
    return bot


def stored(bot: Harness) -> dict:
    """What was noted, as comparable outcomes: notes, factoids and taught replies."""
    now = bot._now
    found = {}
    for key in now(bot.store.keys(seen_module.TELL_PREFIX)):
        nick = key.rsplit(":", 1)[-1]
        for note in now(bot.store.hgetall(key)).values():
            found["note %s%s" % (nick, " privately" if note["private"] else "")] = note["text"]
    for key, entry in now(bot.store.hgetall(education.FACTOIDS_KEY)).items():
        found["factoid %s" % (key,)] = entry["value"]
    for key, entry in now(bot.store.hgetall(education.TAUGHT_KEY)).items():
        found["taught %s" % (key,)] = entry["response"]
    return found


@pytest.mark.parametrize("line, outcome", corpus())
def test_corpus(line, outcome):
    bot = harness()
    before = stored(bot)
    reply = bot.reply(line, source="alice", account="root")
    new = {k: v for k, v in stored(bot).items() if before.get(k) != v}
    kind, _, detail = outcome.partition(" ")
    if kind == "note":
        nick, _, text = detail.partition(": ")
        assert new == {"note " + nick: text}, reply
        assert reply is not None and reply.startswith("OK alice, I'll tell")
    elif kind == "factoid":
        key, _, value = detail.partition(" = ")
        assert new == {"factoid " + key: value}, reply
    elif kind == "taught":
        phrase, _, response = detail.partition(" => ")
        assert new == {"taught " + phrase: response}, reply
    else:
        assert new == {}, reply
        if kind == "reply":
            assert reply == detail
        elif kind == "hint":
            assert reply is not None and detail in reply, reply
        else:
            assert kind == "silent", outcome
            assert reply is None


def test_the_corpus_is_read():
    kinds = {case.values[1].split(" ")[0] for case in corpus()}
    assert kinds == {"note", "factoid", "taught", "reply", "hint", "silent"}
    assert len(corpus()) > 80


# Properties of the parsers behind the corpus.

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from pubbot.core.message import Message  # noqa: E402

_PLAIN = st.lists(st.sampled_from(["hi", "good", "morning", "tea", "%(nick)s!", "vicar?", "x", "it's"]),
                  min_size=1, max_size=4).map(" ".join)
_TOKENS = st.lists(st.sampled_from(["someone says ", "reply", "say", "answer", "respond", " ", ",", '"', "'",
                                    "hi", "with", "[50%]", "[", "%]", "x", "\n", "\u2028"]), max_size=12)


@given(_PLAIN, _PLAIN, st.sampled_from(["reply", "say", "answer", "respond with", "Reply"]),
       st.sampled_from(["", ","]))
def test_a_plain_teaching_reads_back(phrase, response, verb, comma):
    parsed = education.parse_teaching("someone says %s%s %s %s" % (phrase, comma, verb, response))
    assert parsed is not None
    assert (parsed.phrase, parsed.response, parsed.ambiguous) == (phrase, response, False)


@given(_TOKENS.map("".join))
def test_any_teaching_parses_or_is_refused(text):
    parsed = education.parse_teaching("someone says " + text)
    if parsed is not None:
        assert parsed.phrase.strip() and parsed.response.strip()
        unquoted = not parsed.ambiguous and ("someone says " + text).find(parsed.phrase) > 0
        if unquoted and education._REPLY_WORD.search(parsed.phrase + " " + parsed.response):
            # a reply word is only left in a part that was quoted
            assert '"%s"' % parsed.phrase in text or "'%s'" % parsed.phrase in text


_PRONOUNS = sorted(education._NOT_IN_SUBJECT)


@given(st.lists(st.sampled_from(["cat", "the", "office", "wifi"]), max_size=3),
       st.sampled_from(_PRONOUNS), st.lists(st.sampled_from(["cat", "wifi"]), max_size=2), _PLAIN)
def test_no_factoid_about_a_pronoun(before, pronoun, after, value):
    subject = " ".join(before + [pronoun] + after)
    msg = Message("chat.irc.#c.chat", {"command": "%s is %s" % (subject, value), "direct": True})
    assert education._match_factoid(msg) is None
