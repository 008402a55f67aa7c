"""
TLS client options for the IRC connection.

- By default the server certificate and host name are verified against the
  system CAs (Twisted's C{optionsForClientTLS} with C{platformTrust}).
- C{tls_ca} adds a CA file to the system CAs (it does not replace them).
- C{tls_fingerprints} pins the server certificate's SHA-256: a matching
  certificate is trusted even when self-signed or issued for another name;
  any other certificate aborts the handshake, whatever CA signed it.
- C{client_cert} (PEM with its key, and any intermediate certificates
  after the first) is presented to the server (SASL EXTERNAL, CertFP). It is
  loaded with C{cryptography} and handed to pyOpenSSL as such: pyOpenSSL
  deprecates its own C{X509} and C{PKey}, which C{ssl.PrivateCertificate}
  would pass.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet._sslverify import IOpenSSLTrustRoot  # not re-exported publicly
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import IOpenSSLClientConnectionCreator
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

log = Logger()


class TLSSetupError(ValueError):
    """A TLS file could not be used; the message names the key and file."""


class PinMismatch(Exception):
    """The server's certificate is not one of the pinned fingerprints."""


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate, its private key and the certificates completing its chain."""

    certificate: x509.Certificate
    key: Any  # one of cryptography's private key types
    chain: tuple[x509.Certificate, ...] = ()

    def options(self) -> dict:
        """Keyword arguments for C{ssl.CertificateOptions} presenting this certificate."""
        return dict(certificate=self.certificate, privateKey=self.key, extraCertChain=list(self.chain))


def normalise_fingerprint(value: str) -> str:
    """C{AB:CD:...} or C{abcd...} -> lowercase hex without colons."""
    return value.replace(":", "").strip().lower()


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


@implementer(IOpenSSLTrustRoot)
class SystemAndFileTrust:
    """The platform's CAs plus the CAs in one PEM file."""

    def __init__(self, path: str):
        self.path = path

    def _addCACertsToContext(self, context: SSL.Context) -> None:  # Twisted's interface name
        context.set_default_verify_paths()
        context.load_verify_locations(self.path)


@implementer(IOpenSSLClientConnectionCreator)
class PinnedClientTLS:
    """Trust exactly the certificates whose SHA-256 fingerprints are pinned."""

    def __init__(self, hostname: str, pins: Iterable[str],
                 client_cert: ClientCertificate | None = None):
        self.hostname = hostname
        self.pins = frozenset(normalise_fingerprint(p) for p in pins)
        extra = client_cert.options() if client_cert is not None else {}
        self._options = ssl.CertificateOptions(
            verify=False, raiseMinimumTo=ssl.TLSVersion.TLSv1_2, **extra)
        self._send_name = not (isIPAddress(hostname) or isIPv6Address(hostname))

    def clientConnectionForTLS(self, tlsProtocol) -> SSL.Connection:
        connection = self._options.clientConnectionForTLS(tlsProtocol)
        if self._send_name:
            connection.set_tlsext_host_name(hostname_bytes(self.hostname))
        connection.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT,
                              self._verifier(tlsProtocol))
        return connection

    def _verifier(self, tls_protocol):
        pins = self.pins
        hostname = self.hostname

        def verify(conn, cert, errno, depth, ok) -> bool:
            if depth != 0:
                return True  # only the leaf is pinned; its chain does not matter
            try:
                seen = fingerprint(crypto.dump_certificate(crypto.FILETYPE_ASN1, cert))
                if seen in pins:
                    return True
                log.error("TLS certificate of {host} has SHA-256 {fingerprint}, which is not pinned "
                          "in [irc] tls_fingerprints; connection aborted", host=hostname, fingerprint=seen)
                tls_protocol.failVerification(Failure(PinMismatch(
                    "certificate %s of %s is not pinned" % (seen, hostname))))
            except Exception:
                log.failure("while checking the pinned TLS certificate")
            return False

        return verify


def hostname_bytes(hostname: str) -> bytes:
    try:
        return hostname.encode("idna")
    except UnicodeError:
        return hostname.encode("ascii", "replace")


def _public_der(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_client_cert(path: str) -> ClientCertificate:
    """
    The certificate (the first in the file), the certificates after it (its
    chain) and the private key in the PEM file at C{path}.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TLSSetupError("[irc] client_cert %s cannot be read: %s" % (path, e.strerror or e)) from None
    problem = "must hold a PEM certificate and its private key"
    try:
        certificates = x509.load_pem_x509_certificates(data)
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:  # a password is needed
        problem = "has an encrypted private key; pubbot needs it unencrypted"
    except Exception:
        pass
    else:
        if _public_der(key.public_key()) == _public_der(certificates[0].public_key()):
            return ClientCertificate(certificates[0], key, tuple(certificates[1:]))
        problem = "has a private key that does not match its (first) certificate"
    raise TLSSetupError("[irc] client_cert %s %s" % (path, problem))


def check_ca_file(path: str) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise TLSSetupError("[irc] tls_ca %s cannot be read: %s" % (path, e.strerror or e)) from None
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise TLSSetupError("[irc] tls_ca %s holds no PEM certificate" % (path,))


class TLSSettings:
    """Loaded TLS material, checked once at start; makes a creator per connection."""

    def __init__(self, tls_ca: str = "", fingerprints: Iterable[str] = (), client_cert: str = ""):
        self.tls_ca = tls_ca
        if tls_ca:
            check_ca_file(tls_ca)
        self.fingerprints = tuple(normalise_fingerprint(f) for f in fingerprints)
        self.client_cert = load_client_cert(client_cert) if client_cert else None

    def creator(self, hostname: str) -> IOpenSSLClientConnectionCreator:
        if self.fingerprints:
            return PinnedClientTLS(hostname, self.fingerprints, self.client_cert)
        trust = SystemAndFileTrust(self.tls_ca) if self.tls_ca else ssl.platformTrust()
        extra = self.client_cert.options() if self.client_cert is not None else {}
        return ssl.optionsForClientTLS(hostname, trustRoot=trust, extraCertificateOptions=extra)
