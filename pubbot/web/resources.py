"""The dashboard's resource tree.

::

  /            the page (static/index.html)
  /static/     its CSS and JavaScript
  /status      the state as JSON
  /events      the live feed (server-sent events)
  /metrics     Prometheus metrics
  /logs        the channel log's search page ([logs] channels)
  /help        every command, with its examples
  /login       the token form (only when [web] token is set)
  /logout
  /<plugin paths>  what plugins put in bot.web_resources, e.g. /hooks/github

Every dashboard path needs the token when one is set; plugin paths (webhooks)
authenticate their own requests (HMAC signatures) and are exempt.
"""

from __future__ import annotations

import json
from importlib import resources as importlib_resources

from twisted.logger import Logger
from twisted.python.filepath import FilePath, InsecurePath
from twisted.web import http
from twisted.web.pages import notFound
from twisted.web.resource import Resource

from .auth import LoginResource, LogoutResource, ThrottledResource, TokenAuth, UnauthorizedResource
from .sse import EventHub, EventsResource
from .status import snapshot

log = Logger()

#: Served on every dashboard response.
SECURITY_HEADERS = {
    b"content-security-policy": b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"no-referrer",
}


def static_dir() -> str:
    """The directory of the page's static files (package data)."""
    return str(importlib_resources.files("pubbot.web") / "static")


class IndexResource(Resource):
    """The page itself (no caching, so a new version shows at once)."""

    isLeaf = True

    def __init__(self, html: bytes):
        super().__init__()
        self.html = html

    def render_GET(self, request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        return self.html


class StatusResource(Resource):
    """C{/status}: L{pubbot.web.status.snapshot} as JSON."""

    isLeaf = True

    def __init__(self, bot, feed=None, auth: TokenAuth | None = None):
        super().__init__()
        self.bot = bot
        self.feed = feed
        self.auth = auth

    def render_GET(self, request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        body = snapshot(self.bot, self.feed)
        body["auth"] = bool(self.auth and self.auth.required)
        return json.dumps(body, ensure_ascii=True, default=str, allow_nan=False).encode("ascii")


class HistoryResource(Resource):
    """C{/history}: the charts' samples (L{pubbot.web.history.History.columns}) as JSON."""

    isLeaf = True

    def __init__(self, history):
        super().__init__()
        self.history = history

    def render_GET(self, request) -> bytes:
        request.setHeader(b"content-type", b"application/json")
        request.setHeader(b"cache-control", b"no-store")
        return json.dumps(self.history.columns(), ensure_ascii=True, allow_nan=False).encode("ascii")


#: The types of what the static directory holds, by suffix; other files are not served.
STATIC_TYPES = {
    ".css": b"text/css; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    "": b"text/plain; charset=utf-8",  # (uplot's LICENSE)
}


class StaticFiles(Resource):
    """
    The files of the static directory, by their path below it: no directory
    listings or index pages, nothing outside it, only the types of
    L{STATIC_TYPES}. (Not twisted.web.static's File: importing it reads the
    machine's MIME tables, 0.3 MB in every bot, for the four types served.)
    """

    isLeaf = True

    def __init__(self, directory: str):
        super().__init__()
        self.directory = FilePath(directory)

    def render_GET(self, request) -> bytes:
        path = self._file(request.postpath)
        if path is None:
            return notFound().render(request)
        try:
            if request.setLastModified(path.getModificationTime()) is http.CACHED:
                return b""
            body = path.getContent()
        except OSError:  # gone since it was looked up
            return notFound().render(request)
        request.setHeader(b"content-type", STATIC_TYPES[path.splitext()[1]])
        request.setHeader(b"cache-control", b"no-cache")  # revalidated: an upgrade may change it
        return body

    def _file(self, segments: list) -> FilePath | None:
        """The file C{segments} name below the directory, or None (not there, not a served type, unsafe)."""
        path = self.directory
        try:
            for segment in segments:
                name = segment.decode("utf-8")
                if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
                    return None
                path = path.child(name)
        except (UnicodeDecodeError, InsecurePath):
            return None
        if not segments or path.splitext()[1] not in STATIC_TYPES or not path.isfile():
            return None
        return path


class MetricsPage(Resource):
    """
    C{/metrics}, made by the first scrape: prometheus_client and what it
    imports (1 MB) are not held by a bot nobody scrapes.
    """

    isLeaf = True

    def __init__(self, bot, feed, process: bool = True):
        super().__init__()
        self.bot = bot
        self.feed = feed
        self.process = process
        self._page: Resource | None = None

    def render(self, request) -> bytes:
        if self._page is None:
            from .metrics import MetricsResource, make_registry
            self._page = MetricsResource(make_registry(self.bot, self.feed, self.process))
        return self._page.render(request)


class Folder(Resource):
    """An intermediate path segment for plugin resources ("hooks")."""

    def getChild(self, path, request):
        return notFound()

    def render(self, request):
        return notFound().render(request)


class DashboardRoot(Resource):
    """The root: checks the token for every dashboard child."""

    def __init__(self, auth: TokenAuth):
        super().__init__()
        self.auth = auth
        #: the dashboard's own first path segments
        self.dashboard: set[bytes] = set()
        #: first path segments that skip the token: the login form and its
        #: (public) static files, and plugins' own resources
        self.open: set[bytes] = set()
        #: first path segments of plugins' resources
        self.plugins: set[bytes] = set()

    def add(self, name: bytes, resource, open: bool = False) -> None:
        self.putChild(name, resource)
        self.dashboard.add(name)
        if open:
            self.open.add(name)

    def getChildWithDefault(self, name: bytes, request):
        if name not in self.plugins:
            for header, value in SECURITY_HEADERS.items():
                request.setHeader(header, value)
        if name in self.open:
            return super().getChildWithDefault(name, request)
        verdict = self.auth.verdict(request)
        if verdict == "ok":
            return super().getChildWithDefault(name, request)
        if verdict == "throttled":
            return ThrottledResource(self.auth.retry_after(request))
        return UnauthorizedResource(to_login=(name == b"" and request.method in (b"GET", b"HEAD")))

    def mount(self, path: str, resource) -> bool:
        """
        Put a plugin's C{resource} at C{path} ("hooks/github"), exempt from
        the token. Refuses (logs, returns False) a path that would shadow or
        sit inside a dashboard path.
        """
        segments = [s.encode("utf-8") for s in path.strip("/").split("/") if s]
        if not segments:
            log.error("web: plugin resource with an empty path {path!r} not mounted", path=path)
            return False
        first = segments[0]
        if first in self.dashboard:
            log.error("web: plugin resource {path} clashes with the dashboard's /{first}; not mounted",
                      path=path, first=first.decode("utf-8"))
            return False
        parent: Resource = self
        for _i, segment in enumerate(segments[:-1]):
            child = parent.children.get(segment)
            if child is None:
                child = Folder()
                parent.putChild(segment, child)
            elif getattr(child, "isLeaf", False):
                log.error("web: plugin resource {path} is inside another plugin's leaf resource; not mounted",
                          path=path)
                return False
            parent = child
        if segments[-1] in parent.children:
            log.error("web: two plugin resources at {path}; the second is not mounted", path=path)
            return False
        parent.putChild(segments[-1], resource)
        self.open.add(first)
        self.plugins.add(first)
        log.info("web: mounted plugin resource /{path}", path="/".join(s.decode("utf-8") for s in segments))
        return True


def build_root(bot, hub: EventHub, feed, auth: TokenAuth, history=None,
               process_metrics: bool = True) -> DashboardRoot:
    """
    The whole tree, with the plugins' C{bot.web_resources} mounted (and
    C{/history} when given); C{/metrics} has the process's own metrics
    unless C{process_metrics} is false.
    """
    from .helppage import HelpResource

    root = DashboardRoot(auth)
    directory = static_dir()
    with open(directory + "/index.html", "rb") as f:
        html = f.read()
    root.add(b"", IndexResource(html))
    root.add(b"static", StaticFiles(directory), open=True)  # the login page needs the CSS
    root.add(b"status", StatusResource(bot, feed, auth))
    if history is not None:
        root.add(b"history", HistoryResource(history))
    root.add(b"events", EventsResource(hub))
    root.add(b"metrics", MetricsPage(bot, feed, process_metrics))
    from .logsearch import LogSearchResource
    root.add(b"logs", LogSearchResource(bot))
    root.add(b"help", HelpResource(bot))
    root.add(b"logout", LogoutResource(auth))
    root.add(b"login", LoginResource(auth), open=True)
    root.add(b"favicon.ico", notFound(), open=True)
    for path, resource in sorted(bot.web_resources.items()):
        root.mount(path, resource)
    return root
