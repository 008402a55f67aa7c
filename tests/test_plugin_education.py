"""education: taught replies (admins), factoids (anyone), hostile input."""

import random
import re
import sys

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.logger import LogLevel, capturedLogs
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from pubbot.core.dispatch import ContentFilter, joined_contents
from pubbot.core.interfaces import IBatchHandler
from pubbot.core.message import Message
from pubbot.plugins import core, education
from pubbot.plugins.education import (
    FACTOIDS_KEY,
    TAUGHT_KEY,
    Phrases,
    _match_factoid,
    _may_say,
    _phrases_pattern,
    fill,
    forget,
    one_line,
    recall,
    responder,
    teach,
    what_do_you_know,
)
from pubbot.plugins.education import factoid as factoid_handler
from pubbot.testing import Harness

ADMINS = {"plugins": {"admins": ["root", "ops@trusted.example"]}}


def harness(**kwargs):
    return Harness(responder, teach, forget, what_do_you_know, factoid_handler, recall, core.help,
                   config=ADMINS, **kwargs)


def let_through(content_filter, texts):
    """The positions of C{texts}, one batch, that the dispatcher lets a handler with C{content_filter} see."""
    batch = [Message("chat.irc.#c.chat", {"content": t}) for t in texts]
    return set(ContentFilter(content_filter).select(batch, joined_contents(batch)))


def say_all(h, lines):
    """Publish C{lines} ((source, text) pairs) as one batch."""
    h.bot.bus.submit_many([h.bot.chat_message("irc", "#pubbot", source, text, False, {"account": None})
                           for source, text in lines])


class TeachingTests(SynchronousTestCase):
    def setUp(self):
        self.bot = harness()

    def teach(self, text, **kwargs):
        kwargs.setdefault("account", "root")
        return self.bot.reply("pubbot: when someone says " + text, **kwargs)

    def test_admin_teaches_and_everyone_gets_the_reply(self):
        self.assertEqual(self.teach("good morning reply morning, %(nick)s!"),
                         "OK, when someone says 'good morning' I'll reply 'morning, %(nick)s!'.")
        self.assertEqual(self.bot.reply("Good   MORNING all", source="bob"), "morning, bob!")

    def test_word_boundaries(self):
        self.teach("tea reply more tea, vicar?")
        self.assertIsNone(self.bot.reply("steady on", source="a"))
        self.assertIsNone(self.bot.reply("teapot", source="b"))
        self.assertEqual(self.bot.reply("Tea!", source="c"), "more tea, vicar?")

    def test_phrases_with_regex_characters(self):
        self.teach("c++ reply ugh")
        self.teach("(.*) reply that's a regex")
        self.assertEqual(self.bot.reply("I like C++ a lot", source="a"), "ugh")
        self.assertIsNone(self.bot.reply("anything at all", source="b"))
        self.assertEqual(self.bot.reply("look: (.*)", source="c"), "that's a regex")

    def test_longest_phrase_wins(self):
        self.teach("good reply good")
        self.teach("good night reply sleep well")
        self.assertEqual(self.bot.reply("good night", source="a"), "sleep well")

    def test_non_admin_is_refused_and_nothing_is_learned(self):
        self.assertEqual(self.teach("hi reply pwned", account=None, source="mallory"),
                         "Sorry mallory, only admins can teach me replies.")
        self.assertIsNone(self.bot.reply("hi", source="bob"))
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(TAUGHT_KEY)), {})

    def test_only_teaching_lines_are_refused(self):
        self.assertIsNone(self.bot.reply("pubbot: when is lunch?", source="mallory", account=None))
        self.assertIn("only admins", self.bot.reply("!when", source="mallory", account=None))
        hostile = "!when SOMEONE says " + " " * 480
        self.assertIn("only admins", self.bot.reply(hostile, source="m", account=None))

    def test_admin_nick_without_account_is_refused(self):
        self.assertIn("only admins", self.teach("hi reply pwned", account=None, source="root"))

    def test_admin_by_user_host_mask(self):
        reply = self.teach("hi reply hello", account=None, source="x", hostmask="x!ops@trusted.example")
        self.assertTrue(reply.startswith("OK"))

    def test_teaching_by_prefix(self):
        self.assertTrue(self.bot.reply("!when someone says yo reply yo", account="root").startswith("OK"))

    def test_teaching_lines_do_not_trigger_taught_replies(self):
        self.teach("hello reply hi")
        self.assertTrue(self.teach("hello reply hi there").startswith("Changed"))
        # ...so they used up none of alice's rate limit.
        self.assertEqual(self.bot.reply("hello"), "hi there")

    def test_reteaching_replaces(self):
        self.teach("hi reply one")
        self.assertEqual(self.teach("HI reply two"), "Changed, when someone says 'hi' I'll reply 'two'.")
        self.assertEqual(self.bot.reply("hi", source="a"), "two")

    def test_quoted_phrase(self):
        self.teach('"hi there" reply hello')
        self.assertEqual(self.bot.reply("oh hi there", source="a"), "hello")

    def test_usage_without_arguments(self):
        self.assertIn("when someone says <phrase> reply", self.bot.reply("pubbot: when", account="root"))

    def test_probability(self):
        self.assertEqual(self.teach("ping reply pong [25%]"),
                         "OK, when someone says 'ping' I'll reply 'pong' (25% of the time).")
        answered = 0
        for i in range(200):
            self.bot.clock.advance(100)  # clear of every rate limit
            answered += self.bot.reply("ping", source="p%d" % i) == "pong"
        self.assertTrue(30 <= answered <= 70, answered)

    def test_bad_probabilities(self):
        for percent in ("0", "101", "250"):
            self.assertIn("more than 0%", self.teach("x reply y [%s%%]" % percent))
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(TAUGHT_KEY)), {})

    def test_rate_limits(self):
        self.teach("hi reply hello")
        self.assertEqual(self.bot.reply("hi", source="bob"), "hello")
        self.assertIsNone(self.bot.reply("hi again", source="bob"))  # 1 per person per 15s
        self.assertEqual(self.bot.reply("hi", source="carol"), "hello")
        self.bot.clock.advance(15)
        self.assertEqual(self.bot.reply("hi", source="bob"), "hello")
        for i in range(7):  # 10 per channel per 10 minutes: 3 used
            self.assertEqual(self.bot.reply("hi", source="p%d" % i), "hello")
        self.assertIsNone(self.bot.reply("hi", source="dave"))
        self.assertEqual(self.bot.reply("hi", source="dave", channel="#other"), "hello")
        self.bot.clock.advance(600)
        self.assertEqual(self.bot.reply("hi", source="dave"), "hello")

    def test_a_recall_does_not_use_up_the_taught_reply_window(self):
        self.teach("hi reply hello")
        self.bot.reply("pubbot: coffee is hot", source="bob")
        self.assertEqual(self.bot.reply("coffee?", source="bob"), "coffee is hot")
        self.assertEqual(self.bot.reply("hi", source="bob"), "hello")
        self.assertIsNone(self.bot.reply("coffee?", source="bob"))  # recalls: 1 per person per 15 s
        self.assertEqual(self.bot.reply("pubbot: coffee?", source="bob"), "coffee is hot")  # asked: always

    def test_forget_taught_reply(self):
        self.teach("hi reply hello")
        self.assertIn("only admins", self.bot.reply("pubbot: forget when someone says hi", source="m"))
        self.assertEqual(self.bot.reply("hi", source="bob"), "hello")
        self.assertEqual(self.bot.reply("pubbot: forget when someone says HI", account="root"),
                         "OK, I'll say nothing when someone says 'hi'.")
        self.bot.clock.advance(60)
        self.assertIsNone(self.bot.reply("hi", source="bob"))
        self.assertEqual(self.bot.reply("pubbot: forget when someone says hi", account="root"),
                         "I had no reply to 'hi'.")

    def test_persisted_and_loaded_at_start(self):
        self.teach("hi reply hello")
        stored = self.successResultOf(self.bot.store.hget(TAUGHT_KEY, "hi"))
        self.assertEqual((stored["response"], stored["probability"], stored["by"]), ("hello", 1.0, "alice"))
        self.bot.stop()
        self.bot.bot.start()  # a fresh memory, loaded from the store
        self.assertIsNot(responder.education, None)
        self.assertEqual(responder.education.taught["hi"]["response"], "hello")
        self.assertEqual(self.bot.reply("hi", source="bob"), "hello")

    def test_teaching_in_another_process_shows_up_after_a_reload(self):
        self.bot.store.hset(TAUGHT_KEY, "elsewhere", {"response": "from afar", "probability": 1.0})
        self.assertIsNone(self.bot.reply("elsewhere", source="a"))
        self.bot.clock.advance(60)
        self.assertEqual(self.bot.reply("elsewhere", source="b"), "from afar")

    def test_help_lists_the_syntax(self):
        text = self.bot.reply("!help education", private=True)
        self.assertIn("!when someone says <phrase> reply <response> [N%] [admin]: Admins: teach me", text)
        self.assertIn("<thing> is <text>: Remembers a factoid", text)
        self.assertIn("<thing>?: Recalls a factoid", text)
        self.assertIn("!forget <thing>", text)
        self.assertIn("!what do you know about <thing>", text)


class HostileTeachingTests(SynchronousTestCase):
    def setUp(self):
        self.bot = harness()

    def teach(self, text):
        return self.bot.reply("pubbot: when someone says " + text, account="root")

    def test_bad_placeholders_and_percent_never_raise(self):
        self.teach("oops reply %(foo)s %s %d %(nick)d 100% %(nick)s %% %(")
        self.assertEqual(self.bot.reply("oops", source="bob"), "%(foo)s %s %d %(nick)d 100% bob % %(")

    def test_channel_placeholder(self):
        self.teach("where reply this is %(channel)s")
        self.assertEqual(self.bot.reply("where am i", channel="#here"), "this is #here")

    def test_control_characters_are_removed(self):
        self.teach("inject reply a\r\nPRIVMSG #x :b\x01ACTION c\x00d\u2028e \x02bold\x02")
        reply = self.bot.reply("inject", source="bob")
        self.assertEqual(reply, "a PRIVMSG #x :b ACTION c d e \x02bold\x02")

    def test_nick_with_placeholder_text_is_not_expanded_twice(self):
        self.teach("hi reply hello %(nick)s")
        self.assertEqual(self.bot.reply("hi", source="%(nick)s"), "hello %(nick)s")

    def test_oversized_response_and_phrase(self):
        self.assertEqual(self.teach("big reply " + "x" * 5000), "A reply is 1 to 400 characters.")
        self.assertEqual(self.teach("y" * 5000 + " reply small"), "A phrase is 1 to 100 characters.")
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(TAUGHT_KEY)), {})

    def test_huge_lines_are_not_searched(self):
        self.teach("hi reply hello")
        self.assertIsNone(self.bot.reply("hi " * 100000, source="a"))
        self.assertEqual(self.bot.reply("hi", source="b"), "hello")

    def test_huge_teaching_line_without_reply_keyword(self):
        self.assertEqual(self.bot.reply("pubbot: when someone says " + "a " * 100000, account="root"),
                         "Teach me with: when someone says <phrase> reply <response> [N%]")

    def test_a_corrupt_store_entry_is_ignored(self):
        self.bot.store.hset(TAUGHT_KEY, "bad", "not a dict")
        self.bot.store.hset(TAUGHT_KEY, "", {"response": "matches everything"})
        self.bot.store.hset(TAUGHT_KEY, "Not Normal", {"response": "never taught like this"})
        self.bot.store.hset(TAUGHT_KEY, "fine", {"response": "ok"})
        self.bot.clock.advance(60)
        self.assertIsNone(self.bot.reply("bad", source="a"))
        self.assertIsNone(self.bot.reply("not normal", source="c"))
        self.assertIsNone(self.bot.reply("?!", source="d"))
        self.assertEqual(self.bot.reply("fine", source="b"), "ok")


class FactoidTests(SynchronousTestCase):
    def setUp(self):
        self.bot = harness()

    def test_set_and_recall(self):
        self.assertEqual(self.bot.reply("pubbot: Coffee is hot and black"), "OK, coffee is hot and black.")
        self.assertEqual(self.bot.reply("coffee?", source="bob"), "coffee is hot and black")
        self.assertEqual(self.bot.reply("pubbot: what is coffee?", source="carol"), "coffee is hot and black")
        self.assertIsNone(self.bot.reply("tea?", source="dave"))

    def test_only_when_addressed(self):
        self.assertIsNone(self.bot.reply("the build is broken"))
        self.assertIsNone(self.bot.reply("the build?"))

    def test_questions_and_commands_are_not_factoids(self):
        # Asked of me and unknown: how to teach me, not a factoid "what".
        self.assertEqual(self.bot.reply("pubbot: what is love"),
                         "I don't know what love is yet; teach me with: pubbot: love is <what it is>")
        self.assertIsNone(self.bot.reply("pubbot: who is there"))
        self.assertIsNone(self.bot.reply("pubbot: help is a command"))
        self.assertEqual(self.successResultOf(self.bot.store.hgetall(FACTOIDS_KEY)), {})

    def test_long_subjects_are_not_factoids(self):
        self.assertIsNone(self.bot.reply("pubbot: one two three four five six seven is a sentence"))

    def test_overwrite_says_what_it_was(self):
        self.bot.reply("pubbot: tea is good")
        self.assertEqual(self.bot.reply("pubbot: tea is better."), "OK, tea is now better (it was good).")

    def test_forget(self):
        self.bot.reply("pubbot: tea is good")
        self.assertEqual(self.bot.reply("pubbot: forget tea", source="bob"), "I've forgotten tea.")
        self.assertIsNone(self.bot.reply("tea?"))
        self.assertEqual(self.bot.reply("pubbot: forget tea"), "I knew nothing about tea.")
        self.assertEqual(self.bot.reply("!forget"), "Forget what?")

    def test_what_do_you_know(self):
        self.bot.reply("pubbot: when someone says tea please reply kettle's on", account="root")
        self.bot.clock.advance(90)
        self.bot.reply("pubbot: tea is good", source="bob")
        self.bot.clock.advance(30)
        self.assertEqual(self.bot.reply("pubbot: what do you know about TEA?"),
                         "tea is good (bob told me 30s ago)\n"
                         "When someone says 'tea please' I reply 'kettle's on' (alice told me 2:00 ago)")
        self.assertEqual(self.bot.reply("pubbot: what do you know about coffee"),
                         "I know nothing about coffee.")

    def test_what_do_you_know_is_capped(self):
        for i in range(10):
            self.bot.reply("pubbot: when someone says x%d tea reply y" % i, account="root")
        lines = self.bot.reply("!what do you know about tea").split("\n")
        self.assertEqual(len(lines), 4)
        self.assertEqual(lines[-1], "...and 7 more.")

    def test_persisted(self):
        self.bot.reply("pubbot: tea is good")
        self.assertEqual(self.successResultOf(self.bot.store.hget(FACTOIDS_KEY, "tea"))["value"], "good")

    def test_unaddressed_recall_is_rate_limited(self):
        self.bot.reply("pubbot: tea is good")
        self.assertEqual(self.bot.reply("tea?", source="bob"), "tea is good")
        self.assertIsNone(self.bot.reply("tea?", source="bob"))
        self.assertEqual(self.bot.reply("pubbot: tea?", source="bob"), "tea is good")

    def test_setting_is_rate_limited_per_person(self):
        for i in range(10):
            self.bot.reply("pubbot: thing%d is x" % i)
        self.assertEqual(self.bot.reply("pubbot: more is x"),
                         "Slow down, alice: you can set another factoid in 10:00.")
        self.assertEqual(self.bot.reply("pubbot: more is x", source="bob", hostmask="bob!b@b"),
                         "OK, more is x.")

    def test_hostile_values(self):
        self.assertEqual(self.bot.reply("pubbot: x is a\r\nQUIT\x01 %(nick)s %"),
                         "OK, x is a QUIT %(nick)s %.")
        self.assertEqual(self.bot.reply("x?"), "x is a QUIT %(nick)s %")
        self.assertIn("too long", self.bot.reply("pubbot: y is " + "z" * 100000))
        self.assertIsNone(self.bot.reply("pubbot: " + "w " * 100000 + "is big"))


class TextHelperProperties(SynchronousTestCase):
    @given(st.text(), st.dictionaries(st.sampled_from(["nick", "channel"]), st.text()))
    def test_fill_never_raises(self, template, values):
        self.assertIsInstance(fill(template, values), str)

    @given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=50))
    def test_fill_keeps_text_without_placeholders(self, text):
        if "%" not in text:
            self.assertEqual(fill(text, {"nick": "x"}), text)

    @given(st.text(), st.integers(1, 50))
    def test_one_line_has_no_line_breaks_or_controls(self, text, limit):
        line = one_line(text, limit)
        self.assertLessEqual(len(line), limit)
        for c in "\r\n\x00\x01\x7f\x85\u2028":
            self.assertNotIn(c, line)
        self.assertEqual(line, line.strip())


_words = st.text(alphabet="ab+", min_size=1, max_size=3)
_phrases = st.lists(st.lists(_words, min_size=1, max_size=3).map(" ".join), min_size=1, max_size=8)


class PhrasePatternProperties(SynchronousTestCase):
    @given(_phrases, st.lists(st.sampled_from(["a", "b", "+", " ", "  ", "x", "ab", "."]), max_size=20))
    def test_finds_what_a_search_per_phrase_finds(self, phrases, parts):
        """The trie regex finds the leftmost, then longest, phrase on word boundaries."""
        line = "".join(parts)
        phrases = set(phrases)
        found = _phrases_pattern(phrases).search(line)
        naive = []
        for phrase in phrases:
            one = re.compile(r"(?<!\w)%s(?!\w)" % r"\s+".join(map(re.escape, phrase.split())))
            for m in one.finditer(line):
                naive.append((m.start(), -len(m.group()), phrase))
            # finditer skips overlapping matches; look at every start too.
            for start in range(len(line)):
                m = one.match(line, start)
                if m:
                    naive.append((m.start(), -len(m.group()), phrase))
        if not naive:
            self.assertIsNone(found)
            return
        start, length, _ = min(naive)
        self.assertEqual((found.start("phrase"), -len(found.group("phrase"))), (start, length))
        self.assertIn(" ".join(found.group("phrase").split()), phrases)


class HasWordsTests(SynchronousTestCase):
    @given(st.text("ab _-\u00e9\u0661.", max_size=12), st.text("ab _\u00e9", min_size=1, max_size=3))
    def test_as_re_word_boundaries(self, text, words):
        expected = re.search(r"(?<!\w)%s(?!\w)" % re.escape(words), text) is not None
        self.assertEqual(education._has_words(text, words), expected)


class PhrasesTests(SynchronousTestCase):
    def test_too_many_for_one_pattern_make_several_that_find_the_same(self):
        rng = random.Random(7)
        phrases = {" ".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6))) for _ in range(400)}
        one = Phrases(phrases)
        self.assertEqual(len(one.patterns), 1)
        self.patch(education, "PHRASES_MEMORY", 1 << 16)
        several = Phrases(phrases)
        self.assertGreater(len(several.patterns), 2)
        for _ in range(300):
            line = " ".join(rng.choice(["a", "b", "c", "d", "e", "f", "g", "h", "ab", ",", "x"])
                            for _ in range(rng.randint(0, 12)))
            a, b = one.search(line), several.search(line)
            self.assertEqual(a and (a.start("phrase"), a.group("phrase")),
                             b and (b.start("phrase"), b.group("phrase")), line)

    def test_a_phrase_re2_cannot_take_is_logged_and_left_out(self):
        self.patch(education, "PHRASES_MEMORY", 48 << 10)  # "tea" fits, 50 words do not
        with capturedLogs() as events:
            phrases = Phrases(["tea", " ".join("abcdefghij" * 5)])
        self.assertEqual(len(phrases.patterns), 1)
        self.assertTrue(phrases.search("more tea please"))
        self.assertEqual([e["log_level"] for e in events], [LogLevel.error])


class BatchTests(SynchronousTestCase):
    LINES = [("bob", "hi there"), ("bob", "hi again"), ("carol", "well GOOD  morning"), ("dave", "nothing"),
             ("erin", "hi"), ("carol", "hi"), ("frank", "pubbot: what is tea?"), ("gina", "tea?"),
             ("gina", "pubbot: TEA?")]

    def taught(self):
        h = harness()
        for text in ("hi reply hello %(nick)s", "good morning reply morning!"):
            h.reply("pubbot: when someone says " + text, account="root")
        h.reply("pubbot: tea is hot")
        del h.sent[:]
        return h

    def test_provides_the_batch_interface(self):
        self.assertTrue(verifyObject(IBatchHandler, responder))

    def test_a_batch_answers_as_the_lines_one_by_one(self):
        # One bot after the other: the handlers are module-wide, started with one bot at a time.
        one_by_one = self.taught()
        for source, text in self.LINES:
            one_by_one.reply(text, source=source)
        batched = self.taught()
        say_all(batched, self.LINES)
        self.assertEqual(batched.sent, one_by_one.sent)
        self.assertIn(("#pubbot", "hello bob", "say"), batched.sent)
        self.assertIn(("#pubbot", "morning!", "say"), batched.sent)

    def test_reloads_once_a_batch_and_costs_nothing_untaught(self):
        h = harness()
        education = responder.education
        calls = []
        reload = education.maybe_reload
        self.patch(education, "maybe_reload", lambda: calls.append(1) or reload())
        messages = [h.bot.chat_message("irc", "#pubbot", "bob", "hi %d" % i, False, {}) for i in range(50)]
        self.assertIsNone(responder.handle_many(messages))
        self.assertEqual(len(calls), 1)
        h.reply("pubbot: when someone says hi reply hello", account="root")
        calls.clear()
        self.assertEqual([i for i, _ in responder.handle_many(messages)], [0])  # then rate limited
        self.assertEqual(len(calls), 1)
        self.assertIsNone(responder.handle_many(
            [h.bot.chat_message("irc", "#pubbot", "bob", "no phrase here", False, {})]))

    def test_a_line_that_fails_loses_only_its_answer(self):
        h = self.taught()
        respond = responder._respond

        def failing(msg, education, pattern):
            if msg.content == "hi boom":
                raise ZeroDivisionError()
            return respond(msg, education, pattern)
        self.patch(responder, "_respond", failing)
        say_all(h, [("bob", "hi boom"), ("carol", "hi"), ("dave", "good morning")])
        self.assertEqual([text for _, text, _ in h.sent], ["hello carol", "morning!"])
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_factoids_set_and_recalled_in_one_batch(self):
        h = harness()
        say_all(h, [("bob", "hello"), ("bob", "pubbot: tea is hot"), ("carol", "is it?"), ("carol", "tea?")])
        self.assertEqual([text for _, text, _ in h.sent], ["OK, tea is hot.", "tea is hot"])


_UPPER = "A\u03a3\u0130"


class BatchPrecheckProperties(SynchronousTestCase):
    @given(_phrases, st.lists(st.lists(st.sampled_from(["a", "b", "+", " ", "\n", "x", "A", "B", "\u03a3",
                                                        "\u0130", "\u0307"]), max_size=8).map("".join),
                              max_size=5))
    def test_may_say_whenever_a_line_has_a_phrase(self, phrases, lines):
        pattern = _phrases_pattern(set(phrases))
        if any(pattern.search(line.lower()) for line in lines):
            self.assertTrue(_may_say(pattern, [Message("chat.irc.#c.chat", {"content": t}) for t in lines]))

    @settings(max_examples=500)
    @given(st.lists(st.tuples(st.sampled_from(["", "pubbot: ", "pubbot, ", "!", "pubbot: !"]),
                              st.lists(st.sampled_from([" is ", " IS ", " \u0130s ", "\u0131", "\u017f", "i",
                                                        "I", "s", "S", " ", "\n", "\t", "x", "what", "tea"]),
                                       max_size=6).map("".join)), max_size=6))
    def test_the_factoid_filter_lets_through_every_line_that_may_set_one(self, lines):
        bot = harness().bot
        messages = [bot.chat_message("irc", "#c", "ann", prefix + text, False, {}) for prefix, text in lines]
        may_set = {i for i, msg in enumerate(messages)
                   if msg.direct and msg.command is not None and " is " in msg.command.lower()}
        self.assertLessEqual({i for i, msg in enumerate(messages) if _match_factoid(msg)}, may_set)
        contents = [msg.content for msg in messages]
        self.assertLessEqual(may_set, let_through(factoid_handler.content_filter, contents))

    def test_the_factoid_filter_knows_every_character_lowering_to_its_letters(self):
        lowers = {c: chr(c).lower() for c in range(sys.maxunicode + 1)}
        letters = {want: [chr(c) for c, low in lowers.items() if want in low] for want in " is"}
        for space in letters[" "]:
            for i in letters["i"]:
                for s in letters["s"]:
                    text = space + i + s + space
                    if " is " in text.lower():
                        self.assertIsNotNone(factoid_handler.content_filter.search(text), text)

    @given(st.lists(st.lists(st.sampled_from(["?", "x", " ", "\n", "\r", "what is ", "tea", "\u2028"]),
                             max_size=6).map("".join), max_size=6))
    def test_the_recall_filter_lets_through_every_question(self, texts):
        asked = {i for i, text in enumerate(texts) if text.endswith("?")}
        self.assertLessEqual(asked, let_through(recall.content_filter, texts))


class RightAfterStartTests(TestCase):
    """
    Factoids answer correctly right after start, on a real SQLite store
    (loaded in its thread, on the real reactor): commands asked before the
    first load finished wait for it rather than answer from nothing.
    """

    async def bot_with(self, path):
        from twisted.internet import reactor

        from pubbot.config.settings import parse
        from pubbot.core.bot import Bot
        from pubbot.store.sqlite import SQLiteStore
        from pubbot.testing import FakeChat

        store = SQLiteStore(path, reactor)
        self.addCleanup(store.close)
        bot = Bot(parse({}), reactor, store, rng=random.Random(0))
        bot.register_chat(FakeChat("irc"))
        for h in (responder, what_do_you_know, factoid_handler, recall):
            bot.add_handler(h)
        bot.start()
        self.addCleanup(bot.stop)
        return bot

    @staticmethod
    def say(bot, text, direct=False):
        content = ("pubbot: " + text) if direct else text
        return bot.chat_line("irc", "#pubbot", "alice", content, private=False,
                             hostmask="alice!a@example.org", account=None)

    async def test_recall_and_what_i_know_before_the_first_load_finished(self):
        import os

        from twisted.internet import reactor

        from pubbot.store.sqlite import SQLiteStore
        path = os.path.abspath(self.mktemp())
        first = SQLiteStore(path, reactor)
        await first.hset(education.FACTOIDS_KEY, "coffee", {"value": "hot", "by": "bob", "at": 1.0})
        first.close()
        bot = await self.bot_with(path)
        self.assertFalse(responder.education.loaded)  # the store's thread has not answered yet
        asked = self.say(bot, "coffee?")
        known = self.say(bot, "what do you know about coffee", direct=True)
        reply = await asked
        self.assertEqual(list(reply.lines), ["coffee is hot"])
        reply = await known
        self.assertIn("coffee is hot", reply.lines[0])

    async def test_a_factoid_set_at_start_is_kept(self):
        import os
        path = os.path.abspath(self.mktemp())
        bot = await self.bot_with(path)
        reply = await self.say(bot, "tea is green", direct=True)
        self.assertIn("tea is green", reply.lines[0])
        self.assertEqual(responder.education.factoids["tea"]["value"], "green")
        reply = await self.say(bot, "tea?")
        self.assertEqual(list(reply.lines), ["tea is green"])
