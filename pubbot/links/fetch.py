"""
Fetching the URLs people paste, without letting them reach what they should
not (server-side request forgery).

For every hop (the URL and each redirect, at most C{max_redirects}):

1. the URL is parsed and normalised: http or https only, no credentials, a
   valid (IDNA) host name or IP address, a valid port;
2. the name is resolved here, by an injectable resolver, and every address is
   checked: loopback, private, link-local, multicast, reserved, unspecified
   and other non-global addresses (also inside IPv4-mapped, NAT64, 6to4 and
   Teredo IPv6 addresses) are refused unless the name or the address is on
   the allow-list;
3. the connection goes to the checked address itself (so a DNS answer that
   changes between check and connect cannot redirect it), while the Host
   header, TLS SNI and certificate verification keep the name.

Connecting has its own timeout, the whole fetch another (it cancels
whatever is under way, however slowly the server drips); response heads are
capped in lines and bytes (L{pubbot.links.limits}); at most C{max_bytes} of a
body are read, and only HTML bodies are read at all.
Compressed responses are refused at the door (C{Accept-Encoding: identity});
a server that compresses anyway gets its content type reported, unread, so a
decompression bomb cannot blow up memory.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import idna
from treq.client import HTTPClient
from twisted.internet.address import IPv4Address as TwistedIPv4
from twisted.internet.address import IPv6Address as TwistedIPv6
from twisted.internet.defer import CancelledError, Deferred, fail
from twisted.internet.endpoints import TCP4ClientEndpoint, TCP6ClientEndpoint, wrapClientTLS
from twisted.internet.error import ConnectError, DNSLookupError, TimeoutError
from twisted.internet.interfaces import IResolutionReceiver, IStreamClientEndpoint
from twisted.internet.protocol import Protocol, connectionDone
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, PotentialDataLoss, ResponseDone
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IAgentEndpointFactory
from zope.interface import implementer

from ..util.text import clean_text
from ..version import __version__
from .limits import LimitedPool
from .title import find_title

log = Logger()

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL = 2048
REDIRECTS = frozenset((301, 302, 303, 307, 308))
HTML_TYPES = frozenset(("text/html", "application/xhtml+xml"))
USER_AGENT = "pubbot/%s (link titles)" % (__version__,)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
#: Not globally reachable (IANA special-purpose registries), whatever this
#: Python's ipaddress tables say.
_SPECIAL = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
    "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
))
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_ASCII_HOST = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
                         r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


class FetchError(Exception):
    """A fetch failed; the message says why in a few words."""


class BadURL(FetchError):
    """The URL is malformed or not one we fetch."""


class FetchRefused(FetchError):
    """The URL leads to an address that is not allowed."""


# URLs

@dataclass(frozen=True)
class Target:
    """A checked, normalised URL: C{url} is ASCII, C{host} is IDNA-encoded."""

    scheme: str
    host: str
    port: int
    url: str
    ip: IPAddress | None


def parse_url(text: Any) -> Target:
    """Check and normalise an http(s) URL; raise L{BadURL} when it is not one."""
    if not isinstance(text, str) or not text:
        raise BadURL("no URL")
    if len(text) > MAX_URL:
        raise BadURL("URL longer than %d characters" % (MAX_URL,))
    if _BAD_URL_CHARS.search(text):
        raise BadURL("URL contains spaces or control characters")
    try:
        parts = urlsplit(text)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise BadURL("only http and https URLs are fetched")
        if parts.username is not None or parts.password is not None or "@" in parts.netloc:
            raise BadURL("URLs with credentials are not fetched")
        host = parts.hostname
        explicit_port = parts.port
    except ValueError as e:
        raise BadURL("malformed URL: %s" % (e,)) from None
    if not host:
        raise BadURL("URL has no host")
    port = explicit_port if explicit_port is not None else (443 if scheme == "https" else 80)
    if not 0 < port < 65536:
        raise BadURL("bad port %d" % (port,))
    ip, ascii_host, netloc = _host_parts(host, parts.netloc)
    if explicit_port is not None:
        netloc = "%s:%d" % (netloc, port)
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    url = "%s://%s%s" % (scheme, netloc, path)
    if parts.query:
        url += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    return Target(scheme, ascii_host, port, url, ip)


def _host_parts(host: str, netloc: str) -> tuple[IPAddress | None, str, str]:
    """The address (or None), ASCII name and netloc (without port) of URL host C{host}."""
    ip: IPAddress | None
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if ip.version == 6 and "%" in host:
            raise BadURL("scoped IPv6 addresses are not fetched")
        ascii_host = str(ip)
        return ip, ascii_host, "[%s]" % (ascii_host,) if ip.version == 6 else ascii_host
    if "[" in netloc or "]" in netloc:
        raise BadURL("bad IPv6 address %r" % (host,))
    ascii_host = _ascii_host(host)
    return None, ascii_host, ascii_host


def _ascii_host(host: str) -> str:
    host = host.rstrip(".") if host.endswith(".") and not host.endswith("..") else host
    if host.isascii():
        host = host.lower()
        if len(host) > 253 or not _ASCII_HOST.match(host):
            raise BadURL("bad host name %r" % (host[:80],))
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError) as e:
        raise BadURL("bad host name %r: %s" % (host[:80], e)) from None


# addresses

def refused_reason(ip: IPAddress) -> str | None:
    """Why C{ip} may not be fetched from (e.g. "loopback"), or None when it may."""
    if ip.version == 6:
        inner: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if inner is None and ip in _NAT64:
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is None and ip.teredo is not None:
            inner = ip.teredo[1]
        if inner is not None:
            reason = refused_reason(inner)
            if reason is not None:
                return reason + " (inside an IPv6 address)"
    for kind in ("loopback", "unspecified", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, "is_" + kind):
            return kind.replace("_", "-")
    if not ip.is_global or any(ip in net for net in _SPECIAL if net.version == ip.version):
        return "special-purpose"
    return None


class AddressPolicy:
    """
    Which addresses may be fetched from: every global one, plus the
    exceptions in C{allow}: host names (C{example.org}, or C{*.example.org}
    for its subdomains), IP addresses and CIDR networks.
    """

    def __init__(self, allow: Iterable[str] = ()):
        self.names: set[str] = set()
        self.suffixes: list[str] = []
        self.networks: list = []
        for entry in allow:
            entry = entry.strip()
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
                continue
            except ValueError:
                pass
            wildcard = entry.startswith("*.")
            try:
                name = _ascii_host(entry[2:] if wildcard else entry)
            except BadURL:
                raise ValueError("not a host name, address or network: %r" % (entry,)) from None
            if wildcard:
                self.suffixes.append("." + name)
            else:
                self.names.add(name)

    def allows_name(self, host: str) -> bool:
        return host in self.names or any(host.endswith(s) for s in self.suffixes)

    def check(self, host: str, addresses: Iterable[IPAddress]) -> None:
        """Raise L{FetchRefused} unless every address of C{host} may be fetched from."""
        if self.allows_name(host):
            return
        for ip in addresses:
            reason = refused_reason(ip)
            if reason is not None and not any(ip in net for net in self.networks
                                              if net.version == ip.version):
                raise FetchRefused("%s resolves to %s, a %s address" % (host, ip, reason)
                                   if str(ip) != host else "%s is a %s address" % (ip, reason))


@implementer(IResolutionReceiver)
class _Addresses:
    def __init__(self) -> None:
        self.found: list[str] = []
        self.done: Deferred = Deferred()

    def resolutionBegan(self, resolution) -> None:
        pass

    def addressResolved(self, address) -> None:
        self.found.append(address.host)

    def resolutionComplete(self) -> None:
        self.done.callback(self.found)


class ReactorResolver:
    """Resolves names with the reactor's C{nameResolver} (getaddrinfo by default)."""

    def __init__(self, reactor):
        self._reactor = reactor

    def resolve(self, host: str, port: int) -> Deferred:
        """Fires with the list of address strings of C{host}."""
        receiver = _Addresses()
        self._reactor.nameResolver.resolveHostName(
            receiver, host, port, addressTypes=(TwistedIPv4, TwistedIPv6), transportSemantics="TCP")
        return receiver.done


# connecting to the checked address

@implementer(IAgentEndpointFactory)
class _PinnedEndpoints:
    """Endpoints to one checked address, whatever the URI's host resolves to now."""

    def __init__(self, reactor, target: Target, address: IPAddress, tls_policy, connect_timeout):
        self._reactor = reactor
        self._target = target
        self._address = address
        self._tls_policy = tls_policy
        self._timeout = connect_timeout

    def endpointForURI(self, uri):
        if uri.scheme.decode("ascii") != self._target.scheme or uri.port != self._target.port:
            raise FetchRefused("unexpected request to %r" % (uri.toBytes(),))
        kind = TCP6ClientEndpoint if self._address.version == 6 else TCP4ClientEndpoint
        endpoint: IStreamClientEndpoint = kind(self._reactor, str(self._address), self._target.port,
                                               timeout=self._timeout)
        if self._target.scheme == "https":
            creator = self._tls_policy.creatorForNetloc(self._target.host.encode("ascii"),
                                                        self._target.port)
            endpoint = wrapClientTLS(creator, endpoint)
        return endpoint


@implementer(IAgent)
class _IdentityAgent:
    """Asks for uncompressed bodies, and hides any Content-Encoding from treq's decoder."""

    def __init__(self, agent):
        self._agent = agent

    def request(self, method, uri, headers=None, bodyProducer=None):
        headers = headers.copy() if headers is not None else Headers()
        headers.setRawHeaders(b"accept-encoding", [b"identity"])
        return self._agent.request(method, uri, headers, bodyProducer).addCallback(self._hide)

    @staticmethod
    def _hide(response):
        encoding = response.headers.getRawHeaders(b"content-encoding")
        if encoding and any(e.strip().lower() != b"identity" for e in encoding):
            response.headers.removeHeader(b"content-encoding")
            response.headers.setRawHeaders(b"x-pubbot-content-encoding", encoding)
        return response


# reading

class _CappedBody(Protocol):
    """Collects at most C{limit} bytes of a body, stopping early once C{</title} went by."""

    def __init__(self, limit: int, stop_at: bytes | None = None):
        self.limit = limit
        self.stop_at = stop_at
        self.parts: list[bytes] = []
        self.size = 0
        self.finished = False
        self.complete = False
        self._tail = b""
        self.done: Deferred = Deferred(canceller=self._cancel)

    def _cancel(self, done: Deferred) -> None:
        self.finished = True  # the Deferred fails with CancelledError
        self._stop()

    def _stop(self) -> None:
        _stop_producing(self.transport)

    def _finish(self, complete: bool) -> None:
        if not self.finished:
            self.finished = True
            self.complete = complete
            self.done.callback(b"".join(self.parts))

    def dataReceived(self, data: bytes) -> None:
        if self.finished:
            return
        chunk = data[:self.limit - self.size]
        self.parts.append(chunk)
        self.size += len(chunk)
        if self.size >= self.limit:
            self._stop()
            self._finish(False)
        elif self.stop_at is not None:
            seen = (self._tail + chunk).lower()
            if self.stop_at in seen:
                self._stop()
                self._finish(False)
            self._tail = seen[-len(self.stop_at):]

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self.finished:
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            self._finish(True)
        else:
            self.finished = True
            self.done.errback(FetchError("connection lost while reading"))


def _stop_producing(transport: Any) -> None:
    """Stop a response body's transport (a TransportProxyProducer): the connection closes."""
    if transport is not None:
        transport.stopProducing()


class _Discard(Protocol):
    def connectionMade(self) -> None:
        _stop_producing(self.transport)


def _abandon(response) -> None:
    """Close a response's connection without reading its body."""
    with contextlib.suppress(Exception):  # already gone is fine
        response.deliverBody(_Discard())


def human_size(size: int) -> str:
    """C{512 B}, C{1.5 KiB}, C{12 MiB}."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            if unit == "B":
                return "%d B" % size
            return ("%.1f %s" if value < 10 else "%.0f %s") % (value, unit)
        value /= 1024
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class Page:
    """What a fetch found."""

    url: str
    status: int
    content_type: str  # media type, lower case, e.g. "text/html"; "" when none was given
    length: int | None  # from Content-Length, when given
    body: bytes  # what was read: only for the fetcher's body_types, at most max_bytes
    complete: bool  # the whole body was read
    title: str | None  # raw, see clean_text
    encoding: str | None = None  # a Content-Encoding the server used anyway (body unread)
    redirects: int = 0


def _media_type(value: bytes | None) -> tuple[str, str | None]:
    if not value:
        return "", None
    text = value.decode("latin-1")
    media, _, params = text.partition(";")
    charset = None
    for param in params.split(";"):
        name, _, val = param.partition("=")
        if name.strip().lower() == "charset":
            charset = val.strip().strip("\"'") or None
    return clean_text(media.strip().lower(), 80), charset


# the fetcher

class SafeFetcher:
    """
    Fetches http(s) URLs with the checks above. C{resolver} has
    C{resolve(host, port)} firing with a list of address strings (default:
    the reactor's); C{tls_policy} is an C{IPolicyForHTTPS} (default: the
    platform's trust roots, names verified).

    The body is read (at most C{max_bytes}) only for the media types in
    C{body_types}, and for HTML only up to its title's end (C{stop_at});
    C{accept} is the Accept header sent. The defaults fetch page titles;
    a feed reader passes the feed types and no C{stop_at}.
    """

    def __init__(self, reactor, allow: Iterable[str] = (), max_bytes: int = 1024 * 1024,
                 timeout: float = 10.0, connect_timeout: float | None = None,
                 max_redirects: int = 5, resolver=None, tls_policy=None,
                 user_agent: str = USER_AGENT, body_types: Iterable[str] = HTML_TYPES,
                 accept: bytes = b"text/html,application/xhtml+xml;q=0.9,*/*;q=0.5",
                 stop_at: bytes | None = b"</title"):
        self._reactor = reactor
        self.policy = AddressPolicy(allow)
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.connect_timeout = connect_timeout if connect_timeout is not None else min(5.0, timeout)
        self.max_redirects = max_redirects
        self.resolver = resolver if resolver is not None else ReactorResolver(reactor)
        self.tls_policy = tls_policy if tls_policy is not None else BrowserLikePolicyForHTTPS()
        self.user_agent = user_agent
        self.body_types = frozenset(body_types)
        self.accept = accept
        self.stop_at = stop_at

    def fetch(self, url: str) -> Deferred:
        """Fires with a L{Page}, or fails with L{FetchError} (L{BadURL}, L{FetchRefused})."""
        try:
            target = parse_url(url)
        except BadURL as e:
            return fail(e)
        d = Deferred.fromCoroutine(self._fetch(target))

        def timed_out(result, timeout):
            raise FetchError("timed out after %gs" % (timeout,))

        d.addTimeout(self.timeout, self._reactor, onTimeoutCancel=timed_out)
        return d

    async def _fetch(self, target: Target) -> Page:
        redirects = 0
        while True:
            address = await self._checked_address(target)
            response = await self._request(target, address)
            location = response.headers.getRawHeaders(b"location")
            if response.code in REDIRECTS and location:
                _abandon(response)
                if redirects >= self.max_redirects:
                    raise FetchError("more than %d redirects" % (self.max_redirects,))
                redirects += 1
                next_url = urljoin(target.url, location[0].decode("utf-8", "replace").strip())
                target = parse_url(next_url)
                continue
            return await self._read(target, response, redirects)

    async def _checked_address(self, target: Target) -> IPAddress:
        if target.ip is not None:
            addresses = [target.ip]
        else:
            try:
                found = await self.resolver.resolve(target.host, target.port)
            except CancelledError:
                raise
            except Exception as e:
                raise FetchError("cannot resolve %s: %s" % (target.host, _why(e))) from None
            addresses = []
            for text in found:
                try:
                    addresses.append(ipaddress.ip_address(text))
                except ValueError:
                    raise FetchRefused("%s resolves to %r, not an address" % (target.host, text)) from None
            if not addresses:
                raise FetchError("%s has no addresses" % (target.host,))
        self.policy.check(target.host, addresses)
        return addresses[0]

    async def _request(self, target: Target, address: IPAddress):
        endpoints = _PinnedEndpoints(self._reactor, target, address, self.tls_policy,
                                     self.connect_timeout)
        pool = LimitedPool(self._reactor, persistent=False)
        agent = _IdentityAgent(Agent.usingEndpointFactory(self._reactor, endpoints, pool=pool))
        client = HTTPClient(agent)
        headers = Headers({b"user-agent": [self.user_agent.encode("utf-8")],
                           b"accept": [self.accept]})
        try:
            return await client.get(target.url, headers=headers, allow_redirects=False,
                                    unbuffered=True, reactor=self._reactor)
        except CancelledError:
            raise
        except FetchError:
            raise
        except Exception as e:
            raise FetchError("cannot fetch %s: %s" % (target.url, _why(e))) from None

    async def _read(self, target: Target, response, redirects: int) -> Page:
        media, charset = _media_type((response.headers.getRawHeaders(b"content-type") or [None])[0])
        length = response.length if isinstance(response.length, int) else None
        encoding = response.headers.getRawHeaders(b"x-pubbot-content-encoding")
        encoded = b", ".join(encoding).decode("latin-1") if encoding else None
        body, complete, title = b"", False, None
        if media in self.body_types and encoded is None and 200 <= response.code < 300:
            reader = _CappedBody(self.max_bytes, self.stop_at if media in HTML_TYPES else None)
            response.deliverBody(reader)
            body = await reader.done
            complete = reader.complete
            title = find_title(body, charset) if media in HTML_TYPES else None
        else:
            _abandon(response)
        return Page(target.url, response.code, media, length, body, complete, title,
                    clean_text(encoded, 40) if encoded else None, redirects)


def _why(error: BaseException) -> str:
    reasons = getattr(error, "reasons", None)  # ResponseFailed, ResponseNeverReceived...
    if reasons:
        return "; ".join(r.getErrorMessage() for r in reasons)
    if isinstance(error, (DNSLookupError, ConnectError, TimeoutError)):
        return error.__class__.__name__ + (": %s" % (error,) if str(error) else "")
    return str(error) or error.__class__.__name__

