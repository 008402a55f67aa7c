"""What a music source reports: the player's state and the current track."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Optional

#: Player states a source reports.
PLAY, PAUSE, STOP = "play", "pause", "stop"
STATES = (PLAY, PAUSE, STOP)

#: The most tracks one request queues (and a source is asked to find).
MAX_QUEUE = 50

#: Longest tag value kept, in characters.
MAX_TAG = 120

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s{2,}")


def clean_text(value: Any, limit: int = MAX_TAG) -> str:
    """
    C{value} as one line of text: control characters (CR, LF, NUL, IRC
    formatting) become spaces, runs of spaces one, and it is cut to
    C{limit} characters with an ellipsis. None gives "".
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value if v not in (None, ""))
    text = _SPACES.sub(" ", _CONTROL.sub(" ", str(value))).strip()
    if len(text) > limit:
        text = text[:limit - 1].rstrip() + "\u2026"
    return text


@dataclass(frozen=True)
class Track:
    """
    One track. C{uri} names the file or stream (may be empty); C{entry}
    names its place in the player's queue (MPD's song id, LMS's playlist
    index) so the same song queued twice in a row still counts as a change.
    """

    title: str
    artist: str = ""
    album: str = ""
    uri: str = ""
    entry: str = ""

    @classmethod
    def from_tags(cls, title: Any = None, artist: Any = None, album: Any = None,
                  uri: Any = None, entry: Any = None, fallback: str = "") -> "Track":
        """
        A track from raw tags, each cleaned. A missing title falls back to
        C{fallback} (a file name, a stream name), then to "Unknown track".
        """
        return cls(clean_text(title) or clean_text(fallback) or "Unknown track",
                   clean_text(artist), clean_text(album),
                   "" if uri is None else str(uri), "" if entry is None else str(entry))

    @property
    def key(self) -> tuple[str, str, str, str]:
        """What makes two reports the same song (the queue entry aside)."""
        return (self.uri, self.title, self.artist, self.album)

    def fields(self) -> dict[str, str]:
        """The C{music.track} message fields."""
        return {"title": self.title, "artist": self.artist, "album": self.album}


@dataclass(frozen=True)
class Status:
    """The player's state and, unless stopped, its current track."""

    state: str
    track: Optional[Track] = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError("unknown player state %r" % (self.state,))


def format_track(title: Any, artist: Any = "", album: Any = "") -> str:
    """C{Title - Artist (Album)}, leaving out what is unknown."""
    text = clean_text(title) or "Unknown track"
    artist, album = clean_text(artist), clean_text(album)
    if artist:
        text += " - " + artist
    if album:
        text += " (%s)" % (album,)
    return text
