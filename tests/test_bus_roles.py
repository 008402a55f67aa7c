"""The cluster's process descriptions (role, plugin versions) and the fast RESP reader."""

from __future__ import annotations

import json

import txredisapi
from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.api import command
from pubbot.cluster.redisclient import RespReader
from pubbot.cluster.roles import handler_version, read_descriptions


@command("versioned")
def versioned(msg):
    return None


class DescriptionTests(SynchronousTestCase):
    def test_a_handler_version_is_its_own_or_its_source_hash(self):
        self.assertRegex(handler_version(versioned), "^[0-9a-f]{12}$")
        versioned.version = "2.1"
        self.addCleanup(delattr, versioned, "version")
        self.assertEqual(handler_version(versioned), "2.1")

    def test_live_descriptions_are_read_and_the_rest_removed(self):
        live = {"process": "b:2", "role": "worker", "until": 200.0, "plugins": {"x": "1"}}
        owner = {"process": "a:1", "role": "owner", "until": 150.0}
        flat = ["b:2", json.dumps(live), "a:1", json.dumps(owner),
                "gone:3", json.dumps({"process": "gone:3", "until": 50.0}), "junk", "{", "odd", "[1]",
                "huge", "x" * (300 * 1024)]
        found, gone = read_descriptions(flat, 100.0)
        self.assertEqual([d["process"] for d in found], ["a:1", "b:2"])
        self.assertEqual(sorted(gone), ["gone:3", "huge", "junk", "odd"])
        self.assertEqual(read_descriptions(None, 0.0), ([], []))


def resp(value) -> bytes:
    if value is None:
        return b"$-1\r\n"
    if isinstance(value, int):
        return b":%d\r\n" % value
    if isinstance(value, list):
        return b"*%d\r\n" % len(value) + b"".join(resp(v) for v in value)
    raw = value.encode("utf-8")
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


values = st.recursive(st.none() | st.integers(-2**40, 2**40) | st.text(max_size=20),
                      lambda inner: st.lists(inner, max_size=5), max_leaves=20)


class RespReaderTests(SynchronousTestCase):
    def reader(self):
        return RespReader("utf-8", txredisapi.ResponseError)

    @given(st.lists(values, min_size=1, max_size=5), st.data())
    def test_replies_whatever_the_pieces(self, replies, data):
        wire = b"".join(resp(r) for r in replies)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
        reader, out, at = self.reader(), [], 0
        for cut in cuts + [len(wire)]:
            out += reader.feed(wire[at:cut])
            at = cut
        self.assertEqual(out, replies)
        self.assertEqual(len(reader.buffer), 0)

    def test_status_error_nil_array_and_bytes(self):
        out = self.reader().feed(b"+OK\r\n-NOSCRIPT no\r\n*-1\r\n*0\r\n$2\r\n\xff\xfe\r\n")
        self.assertEqual(out[0], "OK")
        self.assertIsInstance(out[1], txredisapi.ResponseError)
        self.assertEqual(str(out[1]), "NOSCRIPT no")
        self.assertEqual(out[2:], [None, [], b"\xff\xfe"])

    def test_not_resp_raises_value_error(self):
        self.assertRaises(ValueError, self.reader().feed, b"?what\r\n")
        self.assertRaises(ValueError, self.reader().feed, b"$x\r\n")
