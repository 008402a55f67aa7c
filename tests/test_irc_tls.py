"""
TLS options: verification against CAs (system plus tls_ca), host names,
SHA-256 pinning (self-signed trusted when pinned, mismatch refused) and client
certificates, exercised with real TLS handshakes over an in-memory pump.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import warnings

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import ssl
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from pubbot.irc.tlsopts import TLSSettings, TLSSetupError, fingerprint, normalise_fingerprint

# Certificates for tests (also used by the ngircd integration tests).


class Cert:
    def __init__(self, cert: x509.Certificate, key):
        self.cert, self.key = cert, key

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cert.public_bytes(serialization.Encoding.DER))

    def write(self, directory: str, name: str) -> tuple[str, str]:
        """Write C{name}.pem (certificate) and C{name}.key; return both paths."""
        os.makedirs(directory, exist_ok=True)
        cert_path = os.path.join(directory, name + ".pem")
        key_path = os.path.join(directory, name + ".key")
        with open(cert_path, "wb") as f:
            f.write(self.cert_pem)
        with open(key_path, "wb") as f:
            f.write(self.key_pem)
        return cert_path, key_path


def make_cert(common_name: str, names=(), ips=(), issuer: Cert | None = None, ca: bool = False,
              client: bool = False) -> Cert:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(subject)
               .issuer_name(issuer.cert.subject if issuer else subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    alt = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    if alt:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    if ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        purposes = x509.oid.ExtendedKeyUsageOID
        usage = purposes.CLIENT_AUTH if client else purposes.SERVER_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False)
    builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                    critical=False)
    cert = builder.sign(issuer.key if issuer else key, hashes.SHA256())
    return Cert(cert, key)


def write_client_cert(directory: str) -> str:
    """A self-signed client certificate with its key in one PEM file; returns the path."""
    client = make_cert("pubbot-client", client=True)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "client.pem")
    with open(path, "wb") as f:
        f.write(client.cert_pem + client.key_pem)
    return path


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
