"""What a music source reports: the player's state and the current track."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..util.text import clean_text as one_clean_line

#: Player states a source reports.
PLAY, PAUSE, STOP = "play", "pause", "stop"
STATES = (PLAY, PAUSE, STOP)

#: The most tracks one request queues (and a source is asked to find).
MAX_QUEUE = 50

#: Longest tag value kept, in characters.
MAX_TAG = 120


def clean_text(value: Any, limit: int = MAX_TAG) -> str:
    """
    C{value} (a player's tag: text, a list of them, or None for "") as one
    line of text (L{pubbot.util.text.clean_text}): no control or invisible
    characters, at most C{limit} characters.
    """
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        value = ", ".join(str(v) for v in value if v not in (None, ""))
    return one_clean_line(str(value), limit)


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
                  uri: Any = None, entry: Any = None, fallback: str = "") -> Track:
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
    track: Track | None = None

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
