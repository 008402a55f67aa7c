"""
The built-in replies' grammar: one scripted session drives every reply
template of karma, blame, christmas, help, greet, tell, seen, factoids and
teaching, with names that trip naive templates (ending in s, the console
user "you", values ending in punctuation, counts of one), and checks each
line the bot says against the rules below.
"""

from __future__ import annotations

import re

from twisted.trial.unittest import SynchronousTestCase

from pubbot.plugins import core, education, fun, greet, karma
from pubbot.plugins import seen as seen_module
from pubbot.testing import Harness

#: (what is wrong, a pattern finding it).
RULES = [
    ("a possessive of a word ending in s", re.compile(r"\b\w+s's\b", re.IGNORECASE)),
    ("you's", re.compile(r"\byou's\b", re.IGNORECASE)),
    ("doubled punctuation", re.compile(r"[!?][.,]|\.[!?,]|,[.!?,]|(?<!\.)\.\.(?!\.)")),
    ("a space before punctuation", re.compile(r" [.,!?;:](?:\s|$)")),
    ("two spaces", re.compile(r"  ")),
    ("one of a plural", re.compile(r"\b1 (?:things|notes|days|hours|minutes|seconds|people|times)\b")),
    ("a best list with a score below 1", re.compile(r"Best karma:.*\((?:-\d+|0)\)")),
    ("a worst list with a score above -1", re.compile(r"Worst karma:.*\((?:\d+)\)")),
    ("an empty quote", re.compile(r"''|\"\"")),
]


def problems(line: str) -> list[str]:
    return [what for what, pattern in RULES if pattern.search(line)]


ADMINS = {"plugins": {"admins": ["root"]}, "greet": {"templates": ["Welcome back, %(nick)s", "Hi %(nick)s!"]}}


class RuleTests(SynchronousTestCase):
    """The rules find what they are for (so the session test can fail)."""

    def test_bad_lines_are_found(self):
        self.assertEqual(problems("mondays's karma is now -1."), ["a possessive of a word ending in s"])
        self.assertEqual(problems("It's all you's fault!"), ["you's"])
        self.assertEqual(problems("OK, coffee is hot!."), ["doubled punctuation"])
        self.assertEqual(problems("I've sent you the 1 things I answer to."), ["one of a plural"])
        self.assertEqual(problems("Best karma: tea (2), mondays (-3)"), ["a best list with a score below 1"])
        self.assertEqual(problems("Worst karma: mondays (-3), tea (2)"),
                         ["a worst list with a score above -1"])
        self.assertEqual(problems("I'll reply ''pong''."), ["an empty quote"])

    def test_good_lines_pass(self):
        for line in ["mondays' karma is now -1.", "Wait...", "more tea, vicar?", "It's all your fault!",
                     "tea's karma is 1.", "Best karma: tea (2).", "Only 1 day 'til Christmas!"]:
            self.assertEqual(problems(line), [], line)


class SessionTests(SynchronousTestCase):
    def setUp(self):
        self.bot = Harness(core.help, core.ping, core.uptime, fun.blame, fun.christmas, karma.karma,
                           karma.karma_query, greet.greeter, seen_module.seen, seen_module.tell,
                           education.responder, education.teach, education.forget,
                           education.what_do_you_know, education.tell_me_about, education.factoid,
                           education.recall, config=ADMINS)
        self.said: list[str] = []

    def say(self, text, source="alice", **fields):
        fields.setdefault("account", "root" if source == "alice" else None)
        before = len(self.bot.sent)
        reply = self.bot.reply(text, source=source, **fields)
        self.said += [line for _, sent, _ in self.bot.sent[before:] for line in sent.split("\n")]
        return reply

    def join(self, nick, **fields):
        before = len(self.bot.sent)
        self.bot.join(nick, **fields)
        self.said += [line for _, sent, _ in self.bot.sent[before:] for line in sent.split("\n")]

    def test_every_reply_reads_right(self):
        bot, say = self.bot, self.say
        bot.chat.rosters["#pubbot"] = ["James", "alice", "you", "pubbot"]
        # greetings, first time and back
        self.join("James", hostmask="James!j@home")
        self.assertEqual(self.said, ["Hi James!"])  # never "Welcome back" the first time
        for _day in range(6):
            bot.clock.advance(86400)
            self.join("James", hostmask="James!j@home")
        # karma
        for line in ["mondays--", "mondays--", "alice++", "James++", "(free coffee)++", "!karma mondays",
                     "!karma nothing", "!karma top", "!karma bottom", "more++ less-- tea++"]:
            say(line)
        bot.clock.advance(61)
        say("bus++", source="bob", hostmask="bob!b@b")
        # blame, christmas, help, ping, uptime
        for _ in range(6):
            say("!blame")
            say("!blame", source="you")
        for line in ["!christmas", "!help nosuch", "!help ping", "!ping", "!uptime", "!help"]:
            say(line)
        # factoids
        for line in ["pubbot: tea is good!", "pubbot: tea is better.", "tea?", "pubbot: what is tea",
                     "pubbot: what do you know about tea", "pubbot: tell me about tea",
                     "pubbot: what is love",
                     "pubbot: forget tea", "pubbot: forget tea", "pubbot: what do you know about scones",
                     "pubbot: scones is " + "x" * 500]:
            say(line)
        # teaching
        for line in ["pubbot: when someone says hi, reply 'hello!'", "pubbot: when someone says hi reply hey",
                     "pubbot: when someone says tea reply more tea, vicar? [50%]",
                     "pubbot: when someone says hi say hello reply bye", "pubbot: when someone says",
                     "pubbot: forget when someone says hi", "pubbot: forget when someone says hi",
                     "pubbot: what do you know about tea"]:
            say(line)
        say("pubbot: when someone says x reply y", source="bob", hostmask="bob!b@b")
        # tell and seen
        for line in ["!tell James that the van is fixed", "!tell James to call me", "!tell him hi",
                     "!tell #c hi", "!tell alice hi", "!tell pubbot hi", "!seen James", "!seen zed",
                     "!seen me", "pubbot: have you seen you?"]:
            say(line)
        bot.clock.advance(125)
        say("hello", source="James", hostmask="James!j@home")
        say("!seen James")
        self.assertGreater(len(self.said), 60)
        bad = [(line, problems(line)) for line in self.said if problems(line)]
        self.assertEqual(bad, [])
        # A few that must be there, as written.
        for line in ["mondays' karma is now -1.", "Welcome back, James",
                     "OK, tea is now better (it was good!).",
                     "It's all your fault!", "james' karma is now 1.", "OK, tea is good!",
                     "OK, when someone says 'hi' I'll reply 'hello!'.",
                     "James: alice asked me 2:05 ago to tell you to call me",
                     "James: alice asked me 2:05 ago to tell you: the van is fixed"]:
            self.assertIn(line, self.said)
