"""The music-poll service and its sources (MPD, LMS, Icecast)."""
