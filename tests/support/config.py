"""Config test helpers: the drop-in plugins directory, writing a config file."""

import os

from . import servers

DROPINS = os.path.join(servers.ROOT, "tests", "data", "dropins")
SECTIONS = os.path.join(servers.ROOT, "tests", "data", "sections")


def write_config(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path
