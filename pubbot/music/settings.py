"""[music]: the music source, its polling, announcements and votes (a feature: always read)."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import checks
from ..config.registry import key, section
from .sources import check_source


@section("music")
@dataclass(frozen=True)
class MusicSettings:
    source: str = key("", check_source)
    poll_seconds: float = key(5.0, checks.positive)
    announce: tuple[str, ...] = key(["#pubbot"], checks.channels)
    #: Announce new tracks in this channel (one of announce); per channel.
    announce_tracks: bool = key(True, per_channel=True)
    skip_votes: int = key(3, checks.positive)
    vote_timeout: float = key(30.0, checks.positive)
    bare_words: bool = key(True)
    request_limit: int = key(5, checks.positive)
    request_window: float = key(60.0, checks.positive)
