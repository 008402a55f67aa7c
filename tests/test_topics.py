"""Topic words, escaping and the pattern trie, checked against a reference matcher."""

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.core.topics import TopicTrie, chat_topic, escape_word, pattern_matches, unescape_word

words = st.sampled_from(["chat", "irc", "console", "#pubbot", "music", "track", "a", "b"])
topics = st.lists(words, min_size=1, max_size=6).map(".".join)
pattern_words = st.one_of(words, st.just("*"), st.just("#"))
patterns = st.lists(pattern_words, min_size=1, max_size=6).map(".".join)


class EscapingTests(SynchronousTestCase):
    def test_plain_channel_kept(self):
        self.assertEqual(escape_word("#pubbot"), "#pubbot")
        self.assertEqual(chat_topic("irc", "#pubbot", "chat"), "chat.irc.#pubbot.chat")

    def test_dots_and_percent(self):
        self.assertEqual(escape_word("#a.b%c"), "#a%2Eb%25c")
        self.assertEqual(unescape_word("#a%2Eb%25c"), "#a.b%c")

    def test_wildcard_words_escaped(self):
        self.assertEqual(escape_word("#"), "%23")
        self.assertEqual(escape_word("*"), "%2A")
        self.assertEqual(escape_word(""), "%00")
        self.assertEqual(chat_topic("irc", "#", "chat"), "chat.irc.%23.chat")

    @given(st.text())
    def test_round_trip_is_one_word(self, text):
        word = escape_word(text)
        self.assertNotIn(".", word)
        self.assertNotIn(word, ("*", "#", ""))
        self.assertEqual(unescape_word(word), text)

    @given(st.text(), st.text())
    def test_injective(self, a, b):
        if a != b:
            self.assertNotEqual(escape_word(a), escape_word(b))

    def test_channel_named_hash_only_matched_by_wildcards(self):
        trie = TopicTrie()
        trie.subscribe("chat.irc.#.chat", "any")
        trie.subscribe("chat.irc.%23.chat", "exact")
        self.assertEqual(trie.match(chat_topic("irc", "#", "chat")), ("any", "exact"))
        self.assertEqual(trie.match(chat_topic("irc", "#x", "chat")), ("any",))


class ReferenceTests(SynchronousTestCase):
    def test_star_is_one_word(self):
        self.assertTrue(pattern_matches("chat.*.chat", "chat.irc.chat"))
        self.assertFalse(pattern_matches("chat.*.chat", "chat.chat"))
        self.assertFalse(pattern_matches("chat.*.chat", "chat.a.b.chat"))

    def test_hash_is_one_or_more(self):
        self.assertTrue(pattern_matches("chat.#.chat", "chat.irc.#pubbot.chat"))
        self.assertTrue(pattern_matches("chat.#", "chat.irc"))
        self.assertFalse(pattern_matches("chat.#", "chat"))  # AMQP would match
        self.assertFalse(pattern_matches("chat.#.chat", "chat.chat"))


class TrieTests(SynchronousTestCase):
    @given(st.lists(patterns, max_size=12), topics)
    def test_matches_reference(self, pats, topic):
        trie = TopicTrie()
        for i, p in enumerate(pats):
            trie.subscribe(p, i)
        expected = sorted({i for i, p in enumerate(pats) if pattern_matches(p, topic)})
        self.assertEqual(sorted(trie.match(topic)), expected)

    @given(st.lists(patterns, max_size=12), st.lists(st.integers(0, 11)), topics)
    def test_unsubscribe_invalidates_cache(self, pats, removals, topic):
        trie = TopicTrie()
        live = {}
        for i, p in enumerate(pats):
            trie.subscribe(p, i)
            live[i] = p
        trie.match(topic)  # fill the cache
        for r in removals:
            if r in live:
                trie.unsubscribe(live.pop(r), r)
        expected = sorted(i for i, p in live.items() if pattern_matches(p, topic))
        self.assertEqual(sorted(trie.match(topic)), expected)
        self.assertEqual(len(trie), len(live))

    def test_subscribe_invalidates_cache(self):
        trie = TopicTrie()
        trie.subscribe("a.*", 1)
        self.assertEqual(trie.match("a.b"), (1,))
        trie.subscribe("a.#", 2)
        self.assertEqual(trie.match("a.b"), (1, 2))

    def test_order_is_subscription_order_and_deduplicated(self):
        trie = TopicTrie()
        trie.subscribe("x.y", "second-pattern-first-value")
        trie.subscribe("x.*", "b")
        trie.subscribe("x.#", "second-pattern-first-value")
        self.assertEqual(trie.match("x.y"), ("second-pattern-first-value", "b"))

    def test_unsubscribe_prunes(self):
        trie = TopicTrie()
        trie.subscribe("a.b.c", 1)
        trie.unsubscribe("a.b.c", 1)
        trie.unsubscribe("a.b.c", 1)  # twice is harmless
        trie.unsubscribe("no.such", 1)
        self.assertEqual(trie._root.children, {})

    def test_cache_is_bounded(self):
        trie = TopicTrie(cache_size=10)
        trie.subscribe("chat.#", 1)
        for i in range(100):
            trie.match("chat.n%d" % i)
        self.assertLessEqual(len(trie._cache), 10)

    def test_empty_word_pattern_refused(self):
        self.assertRaises(ValueError, TopicTrie().subscribe, "a..b", 1)
        self.assertRaises(ValueError, TopicTrie().subscribe, "", 1)
