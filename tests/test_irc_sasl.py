"""SASL mechanisms and AUTHENTICATE chunking."""

import base64

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.sasl import (
    External,
    PayloadReader,
    Plain,
    SaslError,
    ScramSha256,
    encode_payload,
    make_mechanism,
)

from .support.irc import ScramServer


class ChunkTests(SynchronousTestCase):
    def test_empty(self):
        self.assertEqual(encode_payload(b""), ["+"])

    def test_exact_multiple_gets_plus(self):
        payload = b"x" * 300  # 400 base64 characters
        self.assertEqual(encode_payload(payload), [base64.b64encode(payload).decode(), "+"])

    def test_long(self):
        chunks = encode_payload(b"y" * 1000)  # 1336 base64 characters
        self.assertEqual([len(c) for c in chunks], [400, 400, 400, 136])

    @given(st.binary(max_size=2000))
    def test_reader_reassembles(self, payload):
        reader = PayloadReader()
        results = [reader.feed(chunk) for chunk in encode_payload(payload)]
        self.assertEqual(results[-1], payload)
        self.assertTrue(all(r is None for r in results[:-1]))
        self.assertTrue(all(len(c) <= 400 for c in encode_payload(payload)))

    def test_reader_refuses_garbage(self):
        self.assertRaises(SaslError, PayloadReader().feed, "!!!notbase64")
        self.assertRaises(SaslError, PayloadReader().feed, "A" * 401)
        reader = PayloadReader()
        with self.assertRaises(SaslError):
            for _i in range(100):
                reader.feed("A" * 400)


class PlainExternalTests(SynchronousTestCase):
    def test_plain(self):
        m = Plain("user", "pässword")
        self.assertEqual(m.respond(b""), "user\0user\0pässword".encode())
        self.assertRaises(SaslError, m.respond, b"")

    def test_external(self):
        m = External()
        self.assertEqual(m.respond(b""), b"")
        self.assertRaises(SaslError, m.respond, b"")

    def test_make(self):
        self.assertIsInstance(make_mechanism("SCRAM-SHA-256", "u", "p"), ScramSha256)
        self.assertRaises(ValueError, make_mechanism, "CRAM-MD5", "u", "p")


class ScramTests(SynchronousTestCase):
    def exchange(self, server, client):
        first = client.respond(b"")
        final = client.respond(server.first(first))
        return client.respond(server.final(final))

    def test_good_exchange(self):
        server = ScramServer("sesame")
        client = ScramSha256("us=er,", "sesame", nonce=lambda: "CLIENTNONCE")
        self.assertEqual(client.respond(b""), b"n,,n=us=3Der=2C,r=CLIENTNONCE")
        final = client.respond(server.first(b"n,,n=us=3Der=2C,r=CLIENTNONCE"))
        self.assertEqual(client.respond(server.final(final)), b"")
        self.assertTrue(server.proof_ok)
        client.verify_done()

    def test_rfc7677_vector(self):
        # RFC 7677 section 3: user, pencil.
        client = ScramSha256("user", "pencil", nonce=lambda: "rOprNGfwEbeRWgbNEkqO")
        client.respond(b"")
        final = client.respond(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                               b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        self.assertEqual(final, b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                                b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        self.assertEqual(client.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="), b"")
        client.verify_done()

    def test_bad_server_signature(self):
        server = ScramServer("sesame")
        client = ScramSha256("user", "sesame")
        first = client.respond(b"")
        client.respond(server.first(first))
        with self.assertRaises(SaslError) as e:
            client.respond(b"v=" + base64.b64encode(b"\0" * 32))
        self.assertIn("signature does not verify", str(e.exception))
        self.assertNotIn("sesame", str(e.exception))
        self.assertRaises(SaslError, client.verify_done)

    def test_server_with_other_password_fails(self):
        server = ScramServer("other")
        client = ScramSha256("user", "sesame")
        first = client.respond(b"")
        final = client.respond(server.first(first))
        self.assertRaises(SaslError, client.respond, server.final(final))

    def test_success_without_signature_is_refused(self):
        server = ScramServer("sesame")
        client = ScramSha256("user", "sesame")
        client.respond(server.first(client.respond(b"")))
        self.assertRaises(SaslError, client.verify_done)

    def hostile_first(self, message):
        client = ScramSha256("user", "sesame", nonce=lambda: "CN")
        client.respond(b"")
        with self.assertRaises(SaslError) as e:
            client.respond(message)
        self.assertNotIn("sesame", str(e.exception))

    def test_hostile_server_first(self):
        for message in [
            b"r=OTHERNONCE,s=c2FsdA==,i=4096",     # nonce not ours
            b"r=CN,s=c2FsdA==,i=4096",              # not extended
            b"r=CNx,s=c2FsdA==,i=10",               # too few iterations (downgrade)
            b"r=CNx,s=c2FsdA==,i=999999999",        # reactor-stalling iterations
            b"r=CNx,s=c2FsdA==,i=abc",
            b"r=CNx,s=***,i=4096",
            b"r=CNx,s=,i=4096",
            b"r=CNx,i=4096",
            b"m=ext,r=CNx,s=c2FsdA==,i=4096",
            b"e=other-error",
            b"garbage",
            b"r=CNx,r=CNy,s=c2FsdA==,i=4096",
            b"\xff\xfe",
        ]:
            self.hostile_first(message)

    def test_hostile_server_final(self):
        for message in [b"e=invalid-proof", b"x=1", b"v=***", b"", b"\xff"]:
            server = ScramServer("sesame")
            client = ScramSha256("user", "sesame")
            client.respond(server.first(client.respond(b"")))
            self.assertRaises(SaslError, client.respond, message)

    def test_too_many_challenges(self):
        server = ScramServer("sesame")
        client = ScramSha256("user", "sesame")
        self.exchange(server, client)
        self.assertRaises(SaslError, client.respond, b"more")
