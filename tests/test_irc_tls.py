"""
TLS options: verification against CAs (system plus tls_ca), host names,
SHA-256 pinning (self-signed trusted when pinned, mismatch refused) and client
certificates, exercised with real TLS handshakes over an in-memory pump.
"""

from __future__ import annotations

import os
import warnings

from cryptography.hazmat.primitives import hashes, serialization
from twisted.internet import ssl
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.tlsopts import TLSSettings, TLSSetupError, normalise_fingerprint

from .support.irc import Cert, make_cert, write_client_cert

# Certificates for tests (also used by the ngircd integration tests).








class Recorder(Protocol):
    def __init__(self):
        self.data = b""
        self.lost = None
        self.peer = None

    def dataReceived(self, data):
        self.data += data
        if self.peer is None:
            self.peer = self.transport.getPeerCertificate()

    def connectionLost(self, reason):
        self.lost = reason


class Greeter(Protocol):
    def connectionMade(self):
        self.transport.write(b"hello\r\n")

    def dataReceived(self, data):
        self.peer = self.transport.getPeerCertificate()


def handshake(server_options, client_creator):
    """Run a TLS handshake in memory; return (client Recorder, server protocol)."""
    clock = Clock()  # TLS write aggregation waits for the clock
    recorder, greeter = Recorder(), Greeter()
    server_factory = TLSMemoryBIOFactory(server_options, False, Factory.forProtocol(lambda: greeter),
                                         clock=clock)
    client_factory = TLSMemoryBIOFactory(client_creator, True, Factory.forProtocol(lambda: recorder),
                                         clock=clock)
    client, server, pump = connectedServerAndClient(
        lambda: server_factory.buildProtocol(None), lambda: client_factory.buildProtocol(None))

    def run():
        for _ in range(20):
            clock.advance(0)
            pump.pump()

    run()
    if recorder.lost is None:
        recorder.transport.write(b"hi\r\n")
        run()
    return recorder, greeter


class TLSTests(SynchronousTestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = make_cert("pubbot test CA", ca=True)
        cls.server = make_cert("localhost", names=["localhost"], ips=["127.0.0.1"], issuer=cls.ca)
        cls.self_signed = make_cert("selfie", names=["selfie.example"])

    def setUp(self):
        self.dir = self.mktemp()
        self.ca_path, _ = self.ca.write(self.dir, "ca")

    def server_options(self, cert: Cert, client_ca: Cert | None = None):
        kwargs = {}
        if client_ca is not None:
            kwargs = dict(verify=True, requireCertificate=True,
                          caCerts=[ssl.Certificate.loadPEM(client_ca.cert_pem).original])
        # cryptography objects, as pyOpenSSL asks (its own X509 and PKey are deprecated)
        return ssl.CertificateOptions(privateKey=cert.key, certificate=cert.cert, **kwargs)

    def assertConnected(self, client):
        self.assertEqual(client.data, b"hello\r\n")
        self.assertIsNone(client.lost)

    def assertRefused(self, client):
        self.assertEqual(client.data, b"")
        self.assertIsNotNone(client.lost)

    def test_verified_with_tls_ca(self):
        client, _ = handshake(self.server_options(self.server),
                              TLSSettings(tls_ca=self.ca_path).creator("localhost"))
        self.assertConnected(client)

    def test_ip_address_host(self):
        client, _ = handshake(self.server_options(self.server),
                              TLSSettings(tls_ca=self.ca_path).creator("127.0.0.1"))
        self.assertConnected(client)

    def test_wrong_host_name_refused(self):
        client, _ = handshake(self.server_options(self.server),
                              TLSSettings(tls_ca=self.ca_path).creator("other.example"))
        self.assertRefused(client)

    def test_unknown_ca_refused(self):
        client, _ = handshake(self.server_options(self.server), TLSSettings().creator("localhost"))
        self.assertRefused(client)

    def test_self_signed_refused_without_pin(self):
        client, _ = handshake(self.server_options(self.self_signed),
                              TLSSettings(tls_ca=self.ca_path).creator("selfie.example"))
        self.assertRefused(client)

    def test_pinned_self_signed_trusted(self):
        fp = self.self_signed.fingerprint.upper()
        with_colons = ":".join(fp[i:i + 2] for i in range(0, 64, 2))
        client, _ = handshake(self.server_options(self.self_signed),
                              TLSSettings(fingerprints=["0" * 64, with_colons]).creator("irc.example.net"))
        self.assertConnected(client)

    def test_pin_mismatch_refused_even_for_valid_ca(self):
        client, _ = handshake(self.server_options(self.server),
                              TLSSettings(tls_ca=self.ca_path, fingerprints=[self.self_signed.fingerprint])
                              .creator("localhost"))
        self.assertRefused(client)
        self.assertIn("not pinned", client.lost.getErrorMessage())

    def test_client_certificate_presented(self):
        client_ca = make_cert("client CA", ca=True)
        client_cert = make_cert("pubbot", issuer=client_ca, client=True)
        path = os.path.join(self.dir, "client.pem")
        with open(path, "wb") as f:
            f.write(client_cert.cert_pem + client_cert.key_pem)
        for settings in (TLSSettings(tls_ca=self.ca_path, client_cert=path),
                         TLSSettings(fingerprints=[self.server.fingerprint], client_cert=path)):
            client, server = handshake(self.server_options(self.server, client_ca=client_ca),
                                       settings.creator("localhost"))
            self.assertConnected(client)
            self.assertEqual(server.peer.to_cryptography().fingerprint(hashes.SHA256()).hex(),
                             client_cert.fingerprint)

    def test_client_certificate_loaded_without_deprecations(self):
        """pyOpenSSL deprecates its own X509 and PKey: the client certificate is given as cryptography's."""
        path = write_client_cert(self.dir)
        for settings in (TLSSettings(tls_ca=self.ca_path, client_cert=path),
                         TLSSettings(fingerprints=[self.server.fingerprint], client_cert=path)):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                client, _ = handshake(self.server_options(self.server), settings.creator("localhost"))
            self.assertConnected(client)
            self.assertEqual([str(w.message) for w in caught if issubclass(w.category, DeprecationWarning)],
                             [])

    def test_chain_in_the_client_file_is_sent(self):
        client_ca = make_cert("client root", ca=True)
        intermediate = make_cert("client intermediate", issuer=client_ca, ca=True)
        leaf = make_cert("pubbot", issuer=intermediate, client=True)
        path = os.path.join(self.dir, "chain.pem")
        with open(path, "wb") as f:
            f.write(leaf.cert_pem + intermediate.cert_pem + leaf.key_pem)
        client, server = handshake(self.server_options(self.server, client_ca=client_ca),
                                   TLSSettings(tls_ca=self.ca_path, client_cert=path).creator("localhost"))
        self.assertConnected(client)
        self.assertEqual(server.peer.to_cryptography().fingerprint(hashes.SHA256()).hex(), leaf.fingerprint)

    def test_bad_files(self):
        self.assertRaises(TLSSetupError, TLSSettings, tls_ca=os.path.join(self.dir, "missing.pem"))
        empty = os.path.join(self.dir, "empty.pem")
        with open(empty, "w") as f:
            f.write("nothing")
        self.assertRaises(TLSSetupError, TLSSettings, tls_ca=empty)
        self.assertRaises(TLSSetupError, TLSSettings, client_cert=empty)
        self.assertRaises(TLSSetupError, TLSSettings, client_cert=os.path.join(self.dir, "none"))
        cert_only, key_path = self.server.write(self.dir, "certonly")
        self.assertRaises(TLSSetupError, TLSSettings, client_cert=cert_only)
        with open(key_path, "rb") as f:
            key_only = f.read()
        mismatched = os.path.join(self.dir, "mismatched.pem")
        with open(mismatched, "wb") as f:
            f.write(self.ca.cert_pem + key_only)
        with self.assertRaises(TLSSetupError) as raised:
            TLSSettings(client_cert=mismatched)
        self.assertIn("does not match", str(raised.exception))
        encrypted = os.path.join(self.dir, "encrypted.pem")
        with open(encrypted, "wb") as f:
            f.write(self.server.cert_pem + self.server.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"secret")))
        with self.assertRaises(TLSSetupError) as raised:
            TLSSettings(client_cert=encrypted)
        self.assertIn("encrypted", str(raised.exception))

    def test_normalise(self):
        self.assertEqual(normalise_fingerprint("AB:cd:EF"), "abcdef")
