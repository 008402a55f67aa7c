"""IRC test helpers: a SCRAM server side, TLS certificates."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import os
import random

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from zope.interface import directlyProvides

from pubbot.config.settings import parse
from pubbot.core.bot import Bot
from pubbot.irc.service import IRCService
from pubbot.irc.tlsopts import fingerprint
from pubbot.store.memory import MemoryStore

from .chat import START, RecordingBus


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


def make_service(irc=None, **sections):
    clock = Clock()
    clock.advance(START)
    config = {"server": "tcp:irc.example.net:6667", "channels": ["#pubbot", "#secret key"]}
    config.update(irc or {})
    settings = parse(dict(sections, irc=config))
    store = MemoryStore(clock)
    bot = Bot(settings, clock, store)
    bot.bus = RecordingBus()
    service = IRCService(bot, clock, rng=random.Random(0))
    bot.register_chat(service)
    return service


DEFAULT_ISUPPORT = "CASEMAPPING=rfc1459 CHANTYPES=#& PREFIX=(ov)@+ NETWORK=TestNet"


class Connection:
    """One scripted connection to a service."""

    def __init__(self, service: IRCService, tls: bool = False):
        self.service = service
        self.clock = service.clock
        self.transport = StringTransport()
        if tls:
            directlyProvides(self.transport, ISSLTransport)
        self.protocol = service.factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)

    @property
    def messages(self):
        return self.service.bot.bus.messages

    def sent(self) -> list[str]:
        """Lines written since the last call (the throttle is drained first)."""
        self.flush()
        data = self.transport.value()
        self.transport.clear()
        return [line.decode("utf-8") for line in data.split(b"\r\n") if line]

    def flush(self, seconds: float = 0.0) -> None:
        step = 1.0 / self.service.settings.throttle.per_second
        for _ in range(10000):
            if not self.service.throttle.depth():
                break
            self.clock.advance(step)
        if seconds:
            self.clock.advance(seconds)

    def feed(self, *lines) -> None:
        for line in lines:
            if isinstance(line, str):
                line = line.encode("utf-8")
            self.protocol.dataReceived(line + b"\r\n")

    def register(self, nick="pubbot", isupport=DEFAULT_ISUPPORT, caps=None, motd=True):
        if caps is None:
            self.feed(":srv 421 * CAP :Unknown command")
        else:
            self.feed(":srv CAP * LS :" + caps)
            requested = [line for line in self.sent() if line.startswith("CAP REQ")]
            for req in requested:
                self.feed(":srv CAP * ACK :" + req.split(" ", 2)[2].lstrip(":"))
        self.feed(":srv 001 %s :Welcome to TestNet %s!~pubbot@host.example" % (nick, nick),
                  ":srv 005 %s %s :are supported by this server" % (nick, isupport))
        if motd:
            self.feed(":srv 376 %s :End of MOTD" % nick)

    def join(self, channel="#pubbot", names="@op +voiced alice", nick="pubbot"):
        self.feed(":%s!~pubbot@host.example JOIN %s" % (nick, channel),
                  ":srv 353 %s = %s :%s %s" % (nick, channel, nick, names),
                  ":srv 366 %s %s :End of NAMES" % (nick, channel))
        self.sent()


