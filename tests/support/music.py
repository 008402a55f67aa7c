"""Music test helpers: fake Icecast and LMS servers."""

import json
import os

from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET


class FakeIcecast(Resource):
    isLeaf = True

    def __init__(self):
        super().__init__()
        self.body = b""
        self.code = 200
        self.paths = []

    def use(self, name):
        with open(os.path.join(DATA, name), "rb") as f:
            self.body = f.read()

    def render_GET(self, request):
        self.paths.append(request.uri)
        request.setResponseCode(self.code)
        return self.body


class FakeLMS(Resource):
    """
    /jsonrpc.js answering each slim.request command from C{replies}
    (command word -> fixture file name, bytes, or a callable of the params).
    """

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.requests = []
        self.replies = {
            "players": "lms_players.json",
            "status": "lms_status_play.json",
            "artists": "lms_artists.json",
            "titles": "lms_titles_artist.json",
            "playlistcontrol": "lms_playlistcontrol.json",
            "playlist": "lms_command.json",
        }
        self.code = 200
        self.hang = False

    def render_POST(self, request):
        assert request.path == b"/jsonrpc.js", request.path
        assert request.getHeader(b"content-type") == b"application/json"
        body = json.loads(request.content.read())
        self.requests.append(body)
        if self.hang:
            return NOT_DONE_YET
        request.setResponseCode(self.code)
        reply = self.replies[body["params"][1][0]]
        if callable(reply):
            reply = reply(body["params"])
        return reply if isinstance(reply, bytes) else fixture(reply)

    def commands(self):
        return [r["params"] for r in self.requests]


#: tests/data/music: recorded answers of real servers.
DATA = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "music")


def fixture(name: str) -> bytes:
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()
