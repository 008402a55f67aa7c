"""
C{/logs}: the channel log's search page (behind the dashboard's token).

C{GET /logs?channel=%23chan&network=irc&q=words} shows a form and the
newest lines of that channel having all the words (at most L{PAGE}); only
channels in C{[logs] channels} are searched, with the same bounded word
search as C{!grep} (see L{pubbot.chatlogs}). Everything shown is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET

from ..chatlogs import MAX_QUERY, LogChannels, format_line, index_for, query_words

log = Logger()

#: Lines a page shows, at most.
PAGE = 50

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pubbot: log search</title><link rel="stylesheet" href="/static/style.css"></head>
<body><main><h1>Channel log search</h1>
<form method="get" action="/logs">
<label>Network <select name="network">%(networks)s</select></label>
<label>Channel <select name="channel">%(channels)s</select></label>
<label>Words <input name="q" value="%(q)s" maxlength="%(max)d" autofocus></label>
<button type="submit">Search</button></form>
<p class="note">%(note)s</p>
<ol class="log">%(lines)s</ol>
<p><a href="/">Back to the dashboard</a></p></main></body></html>
"""


def _arg(request: Any, name: bytes, limit: int = MAX_QUERY) -> str:
    values = request.args.get(name) or [b""]
    return values[0][:limit * 4].decode("utf-8", "replace")[:limit]


def _options(values: list[str], chosen: str) -> str:
    return "".join('<option%s>%s</option>' % (" selected" if v == chosen else "", escape(v)) for v in values)


class LogSearchResource(Resource):
    isLeaf = True

    def __init__(self, bot: Any):
        super().__init__()
        self.bot = bot

    def _networks(self) -> list[str]:
        settings = self.bot.settings
        return [settings.irc.name, *settings.networks] + (["console"] if "console" in self.bot.chat_services
                                                          else [])

    def render_GET(self, request) -> Any:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-store")
        logged = self.bot.settings.logs.channels
        channels = LogChannels(logged)
        names = sorted({entry.rpartition("@")[0] if "@" in entry[1:] else entry for entry in logged})
        networks = self._networks()
        network = _arg(request, b"network", 64) or networks[0]
        channel = _arg(request, b"channel", 100) or (names[0] if names else "")
        q = _arg(request, b"q")
        values = {"networks": _options(networks, network), "channels": _options(names, channel),
                  "q": escape(q), "max": MAX_QUERY, "lines": "", "note": ""}
        if not names:
            values["note"] = "No channel is logged: list some in [logs] channels."
            return (_PAGE % values).encode("utf-8")
        if not q:
            values["note"] = "Every word must be in a line; newest lines first."
            return (_PAGE % values).encode("utf-8")
        found = query_words(q)
        if found is None:
            values["note"] = "Search for 1 to 8 words (letters and digits), at most %d characters." % (
                MAX_QUERY,)
            return (_PAGE % values).encode("utf-8")
        if not channels.logged(network, channel):
            values["note"] = "%s on %s is not logged." % (escape(channel), escape(network))
            return (_PAGE % values).encode("utf-8")
        d = index_for(self.bot).search(network, channel, found, PAGE)

        def show(lines: list) -> None:
            values["note"] = "%d line%s with %s." % (len(lines), "" if len(lines) == 1 else "s",
                                                     escape(" and ".join(found)))
            values["lines"] = "".join("<li>%s</li>" % (escape(format_line(ln)),) for ln in lines)
            self._finish(request, (_PAGE % values).encode("utf-8"))

        def failed(f) -> None:
            log.failure("web: log search failed", f)
            values["note"] = "The search failed; see the bot's log."
            self._finish(request, (_PAGE % values).encode("utf-8"), 500)

        d.addCallbacks(show, failed)
        return NOT_DONE_YET

    @staticmethod
    def _finish(request: Any, body: bytes, code: int | None = None) -> None:
        if getattr(request, "_disconnected", False) or request.finished:
            return
        if code is not None:
            request.setResponseCode(code)
        request.write(body)
        request.finish()
