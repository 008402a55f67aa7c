"""IRC test helpers: a SCRAM server side, TLS certificates."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pubbot.irc.tlsopts import fingerprint


class ScramServer:
    """The server side of SCRAM-SHA-256 (RFC 5802), written from the RFC for these tests."""

    def __init__(self, password, salt=b"saltysalt", iterations=4096, nonce="SERVERNONCE"):
        self.salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
        self.salt, self.iterations, self.snonce = salt, iterations, nonce

    def first(self, client_first: bytes) -> bytes:
        assert client_first.startswith(b"n,,")
        self.client_bare = client_first[3:].decode()
        attrs = dict(p.split("=", 1) for p in self.client_bare.split(","))
        self.nonce = attrs["r"] + self.snonce
        self.server_first = "r=%s,s=%s,i=%d" % (self.nonce, base64.b64encode(self.salt).decode(),
                                                 self.iterations)
        return self.server_first.encode()

    def final(self, client_final: bytes) -> bytes:
        text = client_final.decode()
        without_proof, _, proof = text.rpartition(",p=")
        auth = ",".join((self.client_bare, self.server_first, without_proof)).encode()
        client_key = hmac.new(self.salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(client_key).digest()
        signature = hmac.new(stored, auth, hashlib.sha256).digest()
        expected = bytes(a ^ b for a, b in zip(client_key, signature, strict=False))
        self.proof_ok = base64.b64decode(proof) == expected
        server_key = hmac.new(self.salted, b"Server Key", hashlib.sha256).digest()
        return b"v=" + base64.b64encode(hmac.new(server_key, auth, hashlib.sha256).digest())


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
