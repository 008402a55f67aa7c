"""pubbot's version: the installed distribution's, else the source tree's C{setup.cfg} (marked C{+source})."""

import configparser
import os
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _version

UNKNOWN = "0+unknown"


def source_version(path: str) -> str:
    """The C{[metadata] version} in the C{setup.cfg} at C{path}, with C{+source}; L{UNKNOWN} without one."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        with open(path, encoding="utf-8") as f:
            parser.read_file(f)
        found = parser.get("metadata", "version", fallback="").strip()
    except (OSError, configparser.Error, UnicodeDecodeError):
        return UNKNOWN
    return found + "+source" if found else UNKNOWN


try:
    __version__ = _version("pubbot")
except PackageNotFoundError:  # running from a source tree
    __version__ = source_version(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                              "setup.cfg"))
