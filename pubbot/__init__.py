"""pubbot: a community chat bot on Twisted."""

from .version import __version__

__all__ = ["__version__"]
