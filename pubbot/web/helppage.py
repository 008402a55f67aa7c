"""
C{/help}: every loaded command with its usage, what it needs, and its
examples (L{pubbot.core.help.catalogue}).
"""

from __future__ import annotations

from html import escape

from twisted.web.resource import Resource

from ..core.help import catalogue

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>pubbot: commands</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="static/style.css">
</head>
<body>
<header><h1>pubbot</h1><span class="muted">commands and examples</span> <a href="./">dashboard</a></header>
<main>
%s
</main>
</body>
</html>
"""

_CARD = ('<section class="card wide"><h2>%s</h2><table><thead><tr><th>Usage</th><th>What it does</th>'
         '<th>Needs</th><th>Examples</th></tr></thead><tbody>%s</tbody></table></section>')


def render_help(bot) -> str:
    """The page: a card per plugin, a row per command or trigger (everything escaped)."""
    plugins: dict[str, list] = {}
    for entry in catalogue(bot):
        plugins.setdefault(entry["plugin"], []).append(entry)
    cards = []
    for plugin, entries in plugins.items():
        rows = []
        for e in entries:
            examples = "".join("<li><code>%s</code> → <samp>%s</samp></li>" % (escape(said), escape(answer))
                               for said, answer in e["examples"])
            needs = "" if e["requires"] == "anyone" else escape(e["requires"])
            rows.append("<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td><ul>%s</ul></td></tr>"
                        % (escape(e["usage"]), escape(e["description"]), needs, examples))
        cards.append(_CARD % (escape(plugin), "".join(rows)))
    return _PAGE % ("".join(cards) or '<p class="muted">no commands</p>')


class HelpResource(Resource):
    """The C{/help} page, built from the handlers loaded when it is asked for (a reload shows at once)."""

    isLeaf = True

    def __init__(self, bot):
        super().__init__()
        self.bot = bot

    def render_GET(self, request) -> bytes:
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        request.setHeader(b"cache-control", b"no-cache")
        return render_help(self.bot).encode("utf-8")
