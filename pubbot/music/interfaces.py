"""The contract every music source (MPD, LMS, Icecast) keeps, and its errors."""

from zope.interface import Attribute, Interface


class MusicError(Exception):
    """A music source could not do what was asked."""


class SourceUnavailable(MusicError):
    """The source is unreachable, timed out or answered nonsense."""


class Unsupported(MusicError):
    """The source cannot do this at all (Icecast cannot skip or queue)."""


class IMusicSource(Interface):
    """
    A music player pubbot watches and, when C{controllable}, controls.
    Every method returns a Deferred; failures are L{SourceUnavailable},
    L{Unsupported} or another L{MusicError}.
    """

    kind = Attribute("'mpd', 'lms' or 'icecast'.")
    description = Attribute("Where the source is, for logs and replies (no secrets).")
    controllable = Attribute("True when skip and queue work.")

    def start():
        """Begin connecting (if the source keeps a connection)."""

    def stop():
        """Close connections; may return a Deferred."""

    def status():
        """Fires with a L{pubbot.music.track.Status}."""

    def skip(count):
        """Skip C{count} (>= 1) tracks."""

    def queue(field, text, replace):
        """
        Queue the tracks whose C{field} ('artist' or 'title') matches the
        user's C{text} (case-insensitive, at most MAX_QUEUE of them),
        replacing the queue and playing them when C{replace}, else
        appending (and playing them if the player was stopped). Fires with
        the list of L{pubbot.music.track.Track} queued (empty: none matched).
        """
