"""A real twisted.web server on a free loopback port, serving what link-fetching tests need."""

from __future__ import annotations

import datetime
import functools
import gzip
from urllib.parse import quote

from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.internet.task import deferLater
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from twisted.web.util import redirectTo
from zope.interface import implementer

CHUNK = 64 * 1024


def async_test(fn):
    """Run an C{async def} test method as a Deferred (trial waits for it)."""
    @functools.wraps(fn)
    def run(self, *args, **kwargs):
        return Deferred.fromCoroutine(fn(self, *args, **kwargs))
    return run


class StaticResolver:
    """Resolves names from a dict (name -> list of address strings); counts lookups."""

    def __init__(self, names, fallback=None):
        self.names = names
        self.fallback = fallback
        self.lookups: list[str] = []

    def resolve(self, host, port):
        self.lookups.append(host)
        if host in self.names:
            found = self.names[host]
            return succeed(list(found() if callable(found) else found))
        if self.fallback is not None:
            return self.fallback.resolve(host, port)
        from twisted.internet.defer import fail
        from twisted.internet.error import DNSLookupError
        return fail(DNSLookupError(host))


class Page(Resource):
    isLeaf = True

    def __init__(self, body: bytes, content_type: bytes = b"text/html; charset=utf-8",
                 code: int = 200, headers=None):
        super().__init__()
        self.body = body
        self.content_type = content_type
        self.code = code
        self.headers = headers or {}

    def render_GET(self, request):
        request.setResponseCode(self.code)
        request.setHeader(b"content-type", self.content_type)
        for name, value in self.headers.items():
            request.setHeader(name, value)
        return self.body


class Echo(Resource):
    """An HTML page whose title shows a request header."""

    isLeaf = True

    def __init__(self, header: bytes):
        super().__init__()
        self.header = header

    def render_GET(self, request):
        value = request.getHeader(self.header) or b"(none)"
        request.setHeader(b"content-type", b"text/html")
        return b"<html><head><title>" + value + b"</title></head></html>"


class Redirect(Resource):
    """/redirect?to=URL answers 302 to URL; /redirect?chain=N&to=URL redirects N times first."""

    isLeaf = True

    def render_GET(self, request):
        target = request.args.get(b"to", [b"/"])[0]
        chain = int(request.args.get(b"chain", [b"0"])[0])
        if chain > 0:
            request.setResponseCode(302)
            request.setHeader(b"location", b"/redirect?chain=%d&to=%s" % (
                chain - 1, quote(target, safe=b":/").encode("ascii")))
            return b""
        return redirectTo(target, request)


class _Stream:
    """A pull producer writing C{size} bytes in chunks, counting what it wrote."""

    def __init__(self, request, size: int, first: bytes, owner):
        self.request = request
        self.left = size
        self.first = first
        self.owner = owner
        self.stopped = False

    def resumeProducing(self):
        if self.stopped:
            return
        chunk = self.first or b"x" * min(CHUNK, self.left)
        self.first = b""
        chunk = chunk[:self.left]
        self.left -= len(chunk)
        self.owner.sent += len(chunk)
        self.request.write(chunk)
        if self.left <= 0:
            self.stopped = True
            self.request.unregisterProducer()
            self.request.finish()

    def stopProducing(self):
        self.stopped = True


class Huge(Resource):
    """C{size} bytes of HTML, streamed; C{sent} counts what was written."""

    isLeaf = True

    def __init__(self, size: int, start: bytes = b"<html><body>", content_type=b"text/html"):
        super().__init__()
        self.size = size
        self.start = start
        self.content_type = content_type
        self.sent = 0

    def render_GET(self, request):
        request.setHeader(b"content-type", self.content_type)
        request.setHeader(b"content-length", b"%d" % (self.size,))
        stream = _Stream(request, self.size, self.start, self)
        request.registerProducer(stream, False)
        request.notifyFinish().addErrback(lambda _: stream.stopProducing())
        return NOT_DONE_YET


class Hang(Resource):
    """Never answers; or, with C{start}, sends the headers and C{start} of the body, then stalls."""

    isLeaf = True

    def __init__(self, start: bytes = b""):
        super().__init__()
        self.start = start

    def render_GET(self, request):
        if self.start:
            request.setHeader(b"content-type", b"text/html")
            request.write(self.start)
        return NOT_DONE_YET


HOSTILE_TITLE = (b"<html><head><meta charset='utf-8'><title>\n  Hello &amp; welcome\r\n"
                 b"PRIVMSG #x :evil\x01\x02 \xe2\x80\xae \xc3\xa9t\xc3\xa9   </title></head>"
                 b"<body><svg><title>not this</title></svg></body></html>")


def make_root() -> Resource:
    root = Resource()
    root.putChild(b"title", Page(HOSTILE_TITLE))
    root.putChild(b"plain", Page(b"<title>Plain page</title>"))
    root.putChild(b"latin1", Page(b"<title>caf\xe9</title>", b"text/html; charset=iso-8859-1"))
    root.putChild(b"notitle", Page(b"<html><body>no title here</body></html>"))
    root.putChild(b"binary", Page(b"\x00" * 12345, b"application/octet-stream"))
    root.putChild(b"missing", Page(b"<title>Not here</title>", code=404))
    compressed = gzip.compress(b"<title>Squashed</title>" + b" " * 100000)
    root.putChild(b"gzip", Page(compressed, headers={b"content-encoding": b"gzip"}))
    root.putChild(b"host", Echo(b"host"))
    root.putChild(b"encoding", Echo(b"accept-encoding"))
    root.putChild(b"agent", Echo(b"user-agent"))
    root.putChild(b"redirect", Redirect())
    root.putChild(b"hang", Hang())
    root.putChild(b"stall", Hang(b"<html><head><meta charset=utf-8>"))
    root.putChild(b"huge", Huge(50 * 1024 * 1024))
    root.putChild(b"hugetitle", Huge(50 * 1024 * 1024, b"<html><title>Early title</title>"))
    root.putChild(b"lateitle", Huge(2 * 1024 * 1024, b"<html>" + b" " * 2000 + b"<title>Late</title>"))
    return root


class TrackingSite(Site):
    """A Site that knows its open connections, so tests can close them all."""

    def __init__(self, resource):
        super().__init__(resource, timeout=None)
        self.connections: dict = {}  # protocol -> transport
        self._waiting: list = []

    def buildProtocol(self, addr):
        protocol = super().buildProtocol(addr)
        lost = protocol.connectionLost
        make = protocol.makeConnection

        def make_connection(transport, protocol=protocol):
            self.connections[protocol] = transport
            make(transport)

        def connection_lost(reason, protocol=protocol):
            self.connections.pop(protocol, None)
            lost(reason)
            if not self.connections:
                waiting, self._waiting = self._waiting, []
                for d in waiting:
                    d.callback(None)

        protocol.makeConnection = make_connection
        protocol.connectionLost = connection_lost
        return protocol

    def close_all(self) -> Deferred:
        if not self.connections:
            return succeed(None)
        d = Deferred()
        self._waiting.append(d)
        for transport in list(self.connections.values()):
            transport.abortConnection()
        return d


class WebServer:
    """The test site on 127.0.0.1 (plain HTTP, or TLS with a certificate for C{tls_name})."""

    def __init__(self, reactor, root=None, tls=None):
        self.reactor = reactor
        self.root = root or make_root()
        self.site = TrackingSite(self.root)
        if tls is None:
            self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        else:
            self.port = reactor.listenSSL(0, self.site, tls, interface="127.0.0.1")
        self.number = self.port.getHost().port

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return "%s://%s:%d%s" % (scheme, host, self.number, path)

    async def stop(self) -> None:
        if self.port is None:
            return
        port, self.port = self.port, None
        await self.site.close_all()
        await maybeDeferred(port.stopListening)
        # Let the client ends of aborted connections notice.
        for _ in range(3):
            await deferLater(self.reactor, 0, lambda: None)


def make_ca_and_cert(name: str):
    """A CA certificate and a server certificate for C{name} signed by it (PEM bytes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def key():
        return ec.generate_private_key(ec.SECP256R1())

    now = datetime.datetime.now(datetime.UTC)
    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pubbot test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server_key = key()
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(days=1))
              .not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                             critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    key_pem = server_key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption())
    return ca.public_bytes(pem), server.public_bytes(pem) + key_pem


@implementer(IOpenSSLContextFactory)
class SNIRecorder:
    """Server TLS options that record the SNI names clients send."""

    def __init__(self, cert_and_key_pem: bytes):
        from cryptography import x509
        from cryptography.hazmat.primitives.serialization import load_pem_private_key
        from OpenSSL import SSL

        self.names: list = []
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.use_certificate(x509.load_pem_x509_certificate(cert_and_key_pem))
        context.use_privatekey(load_pem_private_key(cert_and_key_pem, None))
        context.set_tlsext_servername_callback(lambda conn: self.names.append(conn.get_servername()))
        self.context = context

    def getContext(self):
        return self.context
