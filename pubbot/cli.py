"""The C{pubbot} command-line tool for offline jobs.

    pubbot config check FILE     validate a config, print effective settings (secrets masked)
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Optional

from . import config as configmod

#: Subcommand groups: name -> function adding a subparser group. Plugins'
#: offline jobs (e.g. the brain's) register here.
GROUPS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


def group(name: str):
    def register(fn):
        GROUPS[name] = fn
        return fn
    return register


@group("config")
def _config_group(subparsers) -> None:
    parser = subparsers.add_parser("config", help="configuration tools")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate a config file and print the effective settings")
    check.add_argument("file")
    check.set_defaults(run=_config_check)


def _config_check(args) -> int:
    try:
        settings = configmod.load(args.file)
    except configmod.ConfigError as e:
        print("pubbot: %s" % (e,), file=sys.stderr)
        return 1
    print(json.dumps(configmod.effective(settings), indent=2, sort_keys=True))
    return 0


def _load_groups() -> None:
    # Import plugin modules that add command groups.
    import importlib
    for module in ("pubbot.plugins.brain",):
        try:
            importlib.import_module(module)
        except ImportError:
            pass


def main(argv: Optional[list] = None) -> int:
    _load_groups()
    parser = argparse.ArgumentParser(prog="pubbot", description="pubbot's offline tools")
    subparsers = parser.add_subparsers(dest="group", required=True)
    for add in GROUPS.values():
        add(subparsers)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
