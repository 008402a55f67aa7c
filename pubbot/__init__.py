"""pubbot: a community chat bot on Twisted."""

__all__ = ["__version__"]


def __getattr__(name: str):
    # Looked up on first use: reading the installed distribution's metadata
    # costs ~50 ms and a few MB, which the brain's learner process
    # (pubbot.brain.learner, importing this package) does without.
    if name == "__version__":
        from .version import __version__
        return __version__
    raise AttributeError("module %r has no attribute %r" % (__name__, name))
