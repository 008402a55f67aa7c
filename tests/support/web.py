"""Dashboard test helpers: requests through a real HTTP channel, a fake IRC service, the site."""

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.web.server import Site
from zope.interface import implementer

from pubbot.core.interfaces import IChatService, IChatStatus
from pubbot.web.auth import TokenAuth
from pubbot.web.feed import LiveFeed
from pubbot.web.resources import build_root
from pubbot.web.sse import EventHub


def http(site, method=b"GET", path=b"/", headers=(), body=b""):
    """One request through the real HTTP channel; (status, headers dict, body)."""
    transport = StringTransport()
    channel = site.buildProtocol(None)
    channel.makeConnection(transport)
    lines = [method + b" " + path + b" HTTP/1.0", b"Host: dashboard"] + list(headers)
    if body:
        lines.append(b"Content-Length: %d" % len(body))
    channel.dataReceived(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    raw = transport.value()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.split(b"\r\n")
    found = {}
    for line in header_lines:
        k, _, v = line.partition(b": ")
        found.setdefault(k.lower(), []).append(v)
    channel.connectionLost(Exception("done"))
    return int(status_line.split()[1]), found, content


@implementer(IChatService, IChatStatus)
class FakeIrc:
    """What the IRC service offers the dashboard (attributes and methods)."""

    protocol = "irc"
    command_prefix = "!"
    connected = True
    network = "irc"
    server_network = "ExampleNet"
    nick = "pubbot"
    lines_in = 120
    lines_out = 33
    reconnects = 2

    def lag(self):
        return 0.125

    def channels(self):
        return {"#pubbot": [{"nick": "alice", "prefix": "@", "account": "alice"}, {"nick": "bob"}],
                "#dev.ops": []}

    def throttle_depth(self):
        return 4

    def send(self, target, text, kind="say", person=None):
        pass

    def roster(self, channel):
        return []


def make_site(h, token=""):
    clock = h.clock
    hub = EventHub(clock, run="0badf00d")
    feed = LiveFeed(h.bot, hub)
    feed.attach()
    auth = TokenAuth(token, clock)
    root = build_root(h.bot, hub, feed, auth, process_metrics=False)
    return Site(root, reactor=MemoryReactorClock()), feed


def samples(text):
    """{(sample name, frozenset(labels)): value} of a Prometheus text exposition."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out
