"""The C{web} service: listens on C{[web] endpoint} with the dashboard tree.

If the endpoint cannot be listened on (the port is taken, say), the error is
logged in one line and the bot keeps running without its dashboard: losing
the chat bot over an auxiliary admin surface would be worse, and Prometheus
notices a missing /metrics by itself. A non-loopback endpoint without
C{[web] token} is refused before anything starts (L{check_web_settings}).
"""

from __future__ import annotations

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import serverFromString
from twisted.logger import Logger
from twisted.web.server import Site

from .auth import TokenAuth, is_loopback
from .feed import LiveFeed
from .history import History
from .limits import LimitedSite
from .resources import DashboardRoot, build_root
from .sse import EventHub

log = Logger()


def check_web_settings(settings) -> str | None:
    """A one-line problem with the [web] settings, or None."""
    web = settings.web
    if not web.endpoint:
        return None
    if not is_loopback(web.endpoint) and not web.token:
        return ("[web] endpoint %s listens beyond this machine: set [web] token "
                "(or bind to interface=127.0.0.1)" % (web.endpoint,))
    return None


class QuietSite(LimitedSite):
    """
    A Site that logs only failed requests (polling would flood the log), at
    most one line a minute per status code,
    with the limits of L{limits.LimitedSite}: open connections capped, slow
    requests dropped, request bodies over L{limits.MAX_REQUEST_BODY}
    refused before they are buffered.
    """

    noisy = False

    def log(self, request) -> None:
        code = request.code
        if code >= 400 and code not in (404,):
            # At most one line a minute per status code: anyone can ask for 401s.
            self.note("status-%d" % (code,), "web: {method} {path} from {client} -> {code}",
                      method=request.method.decode("latin-1")[:20],
                      path=request.uri.split(b"?", 1)[0].decode("latin-1")[:200],
                      client=request.getClientAddress(), code=code)


class WebService(Service):
    """The dashboard, live feed, /status, /metrics and plugin webhooks."""

    name = "web"  # type: ignore[assignment]

    def __init__(self, bot, reactor, endpoint: str | None = None, token: str | None = None,
                 hub: EventHub | None = None, history_interval: float = 10.0):
        settings = bot.settings.web
        self.bot = bot
        self.reactor = reactor
        self.endpoint = settings.endpoint if endpoint is None else endpoint
        self.token = settings.token if token is None else token
        if not is_loopback(self.endpoint) and not self.token:
            raise ValueError("[web] endpoint %s listens beyond this machine: set [web] token"
                             % (self.endpoint,))
        self.hub = hub or EventHub(reactor)
        self.feed = LiveFeed(bot, self.hub, settings.show_private)
        self.auth = TokenAuth(self.token, reactor)
        self.history = History(bot, self.feed, reactor, history_interval)
        self.root: DashboardRoot | None = None
        self.site: Site | None = None
        self.port = None
        #: Fires with the listening port, or None when listening failed.
        self.listening: Deferred = Deferred()

    def startService(self) -> None:
        super().startService()
        if self.listening.called:
            self.listening = Deferred()
        self.feed.attach()
        self.history.start()
        self.root = build_root(self.bot, self.hub, self.feed, self.auth, self.history)
        self.site = QuietSite(self.root, reactor=self.reactor)
        self.site.displayTracebacks = False
        try:
            endpoint = serverFromString(self.reactor, self.endpoint)
        except Exception as e:  # bad endpoint syntax slipped past the config check
            self._failed_to_listen(e)
            return
        d = endpoint.listen(self.site)
        d.addCallbacks(self._listened, lambda f: self._failed_to_listen(f.value))

    def _listened(self, port) -> None:
        self.port = port
        if not self.running:  # stopped while we were starting
            port.stopListening()
            return
        host = port.getHost()
        log.info("web: dashboard on http://{host}:{port}/", host=getattr(host, "host", host),
                 port=getattr(host, "port", ""))
        self.listening.callback(port)

    def _failed_to_listen(self, error: BaseException) -> None:
        log.error("web: cannot listen on {endpoint}: {error}; the dashboard is off, the bot runs on",
                  endpoint=self.endpoint, error=error)
        self.listening.callback(None)

    def stopService(self):
        super().stopService()
        self.history.stop()
        self.feed.detach()
        self.hub.close()
        if self.port is not None:
            port, self.port = self.port, None
            return port.stopListening()
        return succeed(None)
