"""pubbot's version, from the installed distribution."""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("pubbot")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"
