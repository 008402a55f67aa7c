"""The brain's learner process program: framing, requests and its serve loop, in-process."""

import contextlib
import io
import json
import os
import random

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.brain import learner as brainworker
from pubbot.brain.learner import (
    ANSWER,
    ASK,
    FAILED,
    LEARN,
    LEARNT,
    FrameError,
    FrameReader,
    answer,
    frame,
    learn_payload,
    learn_texts,
    serve,
)
from pubbot.brain.model import TrigramModel
from pubbot.store import encode

CHATTER = [
    "the cheese on the moon is made of green rock",
    "i like cheese on toast in the morning",
    "pubbot: the address word is not learned",
    "toast is better with butter",
]

texts = st.lists(st.text(max_size=80), max_size=12)


def run(model, data: bytes):
    """Serve C{data} to C{model}; returns (status, frames written)."""
    out = []
    status = serve(model, io.BytesIO(data).read, out.append)
    return status, FrameReader().feed(b"".join(out))


def ask(request) -> bytes:
    return frame(ASK, json.dumps(request).encode())


class FramingTests(SynchronousTestCase):

    @given(st.lists(st.tuples(st.sampled_from([LEARN, ASK, LEARNT, ANSWER, FAILED]), st.binary(max_size=300)),
                    max_size=8),
           st.lists(st.integers(min_value=1, max_value=50), max_size=20))
    def test_frames_survive_any_split(self, frames, cuts):
        """However the stream is cut into reads, the same frames come out, in order."""
        stream = b"".join(frame(kind, payload) for kind, payload in frames)
        reader = FrameReader()
        out = []
        at = 0
        for cut in cuts:
            out += reader.feed(stream[at:at + cut])
            at += cut
        out += reader.feed(stream[at:])
        self.assertEqual(out, frames)

    @given(st.binary(max_size=2000))
    def test_any_bytes_give_frames_or_a_frame_error(self, data):
        reader = FrameReader(max_frame=1000)
        try:
            for kind, payload in reader.feed(data):
                self.assertEqual(len(kind), 1)
                self.assertLessEqual(len(payload), 1000)
        except FrameError:
            pass

    def test_oversized_frame_is_refused_before_it_is_read(self):
        reader = FrameReader(max_frame=10)
        with self.assertRaises(FrameError):
            reader.feed(frame(LEARN, b"x" * 11)[:5])

    @given(texts)
    def test_a_learn_payload_learns_as_the_lines_do(self, lines):
        """Newlines inside a line, surrogates, empty lines: learned exactly as in process."""
        direct, through = TrigramModel(), TrigramModel()
        direct.learn_many(lines)
        decoded = learn_texts(learn_payload(lines))
        through.learn_many(decoded if lines else [])
        self.assertEqual(dict(through.trigrams()), dict(direct.trigrams()))
        if lines:
            self.assertEqual(len(decoded), len(lines))

    def test_a_lone_surrogate_is_carried(self):
        self.assertEqual(learn_texts(learn_payload(["a \udc80 b"])), ["a \udc80 b"])


class RequestTests(SynchronousTestCase):

    def model(self):
        model = TrigramModel()
        model.learn_many(CHATTER)
        return model

    def test_reply_is_the_models_under_the_seed(self):
        model = self.model()
        expected = model.reply("cheese", random.Random(7))
        self.assertEqual(answer(model, {"op": "reply", "text": "cheese", "seed": 7}), expected)
        self.assertIn("cheese", expected.split())

    def test_unlearn_take_load_dirty_size_mark(self):
        model = self.model()
        size = len(model)
        self.assertEqual(answer(model, {"op": "size"}), size)
        self.assertTrue(answer(model, {"op": "dirty"}))
        shards = answer(model, {"op": "take", "max_shards": None, "max_trigrams": None})
        self.assertFalse(answer(model, {"op": "dirty"}))
        json.dumps(shards)  # what goes down the pipe
        copy = TrigramModel()
        for shard, text in shards:  # as the store keeps them
            self.assertEqual(text, encode(json.loads(text)))
            self.assertEqual(answer(copy, {"op": "load", "shard": shard, "data": json.loads(text)}), 0)
        self.assertEqual(dict(copy.trigrams()), dict(model.trigrams()))
        self.assertIsNone(answer(model, {"op": "mark", "shards": [shards[0][0]]}))
        self.assertEqual([s for s, _ in answer(model, {"op": "take", "max_shards": 5, "max_trigrams": 5})],
                         [shards[0][0]])
        removed = answer(model, {"op": "unlearn", "words": ["cheese"]})
        self.assertGreater(removed, 0)
        self.assertEqual(answer(model, {"op": "size"}), size - removed)

    def test_malformed_requests_are_value_errors(self):
        model = self.model()
        for request in ([], "reply", {"op": "nope"}, {"op": "reply", "text": 1, "seed": 1},
                        {"op": "reply", "text": "x"}, {"op": "unlearn", "words": "cheese"},
                        {"op": "take", "max_shards": -1, "max_trigrams": None},
                        {"op": "take", "max_shards": "1", "max_trigrams": None},
                        {"op": "mark", "shards": [model.shards]}, {"op": "load", "shard": -1, "data": {}},
                        {"op": "load", "shard": None}):
            with self.assertRaises(ValueError, msg=repr(request)):
                answer(model, request)

    @given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                        lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.sampled_from(["op", "text", "seed", "words", "shard", "shards",
                                                           "data", "max_shards", "max_trigrams"]),
                                          inner, max_size=5), max_leaves=12),
           st.sampled_from(["reply", "unlearn", "take", "mark", "load", "size", "dirty", "x"]))
    def test_any_request_is_answered_or_refused(self, request, op):
        """Whatever a request holds: an answer that is JSON, or a ValueError."""
        if isinstance(request, dict) and random.Random(len(str(request))).random() < 0.8:
            request = dict(request, op=op)
        with contextlib.suppress(ValueError):
            json.dumps(answer(self.model(), request))


class ServeTests(SynchronousTestCase):

    def test_lines_then_questions_in_order(self):
        model = TrigramModel()
        status, out = run(model, frame(ASK, b'{"op": "size"}') + frame(LEARN, learn_payload(CHATTER))
                          + ask({"op": "size"}) + ask({"op": "reply", "text": "cheese", "seed": 1}))
        self.assertEqual(status, 0)
        self.assertEqual([kind for kind, _ in out], [ANSWER, LEARNT, ANSWER, ANSWER])
        expected = TrigramModel()
        expected.learn_many(CHATTER)
        self.assertEqual(json.loads(out[0][1]), 0)
        self.assertEqual(json.loads(out[2][1]), len(expected))
        self.assertEqual(json.loads(out[3][1]), expected.reply("cheese", random.Random(1)))
        self.assertEqual(dict(model.trigrams()), dict(expected.trigrams()))
        self.assertNotIn(("", "", "pubbot:"), dict(model.trigrams()))

    def test_a_bad_request_is_refused_and_serving_goes_on(self):
        model = TrigramModel()
        status, out = run(model, ask({"op": "nope"}) + frame(ASK, b"{not json") + ask({"op": "size"}))
        self.assertEqual(status, 0)
        self.assertEqual([kind for kind, _ in out], [FAILED, FAILED, ANSWER])
        self.assertIn(b"unknown op", out[0][1])

    def test_broken_framing_stops_with_status_2(self):
        err = io.StringIO()
        self.patch(brainworker.sys, "stderr", err)
        self.assertEqual(run(TrigramModel(), b"\xff\xff\xff\xff" + b"L")[0], 2)
        self.assertIn("a frame of", err.getvalue())
        self.assertEqual(run(TrigramModel(), frame(b"Z", b""))[0], 2)
        self.assertIn("unknown frame kind", err.getvalue())

    def test_a_failed_batch_is_reported_and_acknowledged(self):
        err = io.StringIO()
        self.patch(brainworker.sys, "stderr", err)
        model = TrigramModel()
        self.patch(model, "learn_many", lambda texts: 1 / 0)
        status, out = run(model, frame(LEARN, b"a b c") + ask({"op": "size"}))
        self.assertEqual((status, [kind for kind, _ in out]), (0, [LEARNT, ANSWER]))
        self.assertIn("ZeroDivisionError", err.getvalue())

    def test_main_needs_a_size(self):
        err = io.StringIO()
        self.patch(brainworker.sys, "stderr", err)
        self.assertEqual(brainworker.main(["many"]), 2)
        self.assertEqual(brainworker.main([]), 2)
        self.assertIn("usage", err.getvalue())


class ImportTests(SynchronousTestCase):
    def test_the_learner_imports_only_the_standard_library_and_its_model(self):
        import subprocess
        import sys
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        code = ("import sys, pubbot.brain.learner; "
                "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in "
                "('pubbot', 'twisted', 'zope', 'typing', 'treq'))))")
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env=dict(os.environ, PYTHONPATH=root), cwd=root).stdout.split()
        self.assertEqual(out, ["pubbot", "pubbot.brain", "pubbot.brain.learner", "pubbot.brain.model",
                               "pubbot.store"])
