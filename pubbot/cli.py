"""The C{pubbot} command-line tool for offline jobs.

    pubbot --version                          print pubbot's version
    pubbot config check FILE                  validate a config, print effective settings (secrets masked)
    pubbot brain read [--replace] LOGFILE...  teach the brain from irssi or WeeChat logs
    pubbot brain utter TEXT...                print what the brain says to TEXT

The brain commands use the store of C{--config} (default: built-in
defaults, i.e. C{pubbot.sqlite} here). Run C{brain read} while the bot is
stopped: a running bot keeps its own copy in memory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any

from .config import settings as configmod
from .core.interfaces import IClosable

#: Longest log line read (a longer one is skipped whole: no piece of it is learned).
MAX_LOG_LINE = 65536
#: Log lines learned between two turns of the reactor (so SIGTERM is seen at once).
LINES_PER_TURN = 2000


class Interrupted(Exception):
    """C{brain read} was asked to stop (SIGTERM) before it wrote anything."""


def bounded_lines(f, limit: int = MAX_LOG_LINE, tally: list | None = None) -> Iterator[bytes]:
    """
    The lines of the binary file C{f}, none longer than C{limit} bytes in
    memory: a longer line is read through in pieces and skipped (counted
    in C{tally[0]} when given), so no piece of it can pass for a line.
    """
    while True:
        line = f.readline(limit)
        if not line:
            return
        if len(line) >= limit and not line.endswith(b"\n"):
            while True:
                more = f.readline(limit)
                if not more or more.endswith(b"\n"):
                    break
            if tally is not None:
                tally[0] += 1
            continue
        yield line

#: Subcommand groups: name -> function adding a subparser group.
GROUPS: dict[str, Callable[[argparse._SubParsersAction], None]] = {}


class CommandError(Exception):
    """A problem to report in one line, exiting 1."""


def group(name: str):
    def register(fn):
        GROUPS[name] = fn
        return fn
    return register


def _settings(path: str | None):
    from .tap import load_settings  # the checks twistd makes, the same code
    try:
        return load_settings(path)
    except configmod.ConfigError as e:
        raise CommandError(str(e)) from None


# config

@group("config")
def _config_group(subparsers) -> None:
    parser = subparsers.add_parser("config", help="configuration tools")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate a config file and print the effective settings")
    check.add_argument("file")
    check.set_defaults(run=_config_check)


def _config_check(args) -> int:
    settings = _settings(args.file)
    print(json.dumps(configmod.effective(settings), indent=2, sort_keys=True))
    return 0


# brain

@group("brain")
def _brain_group(subparsers) -> None:
    parser = subparsers.add_parser("brain", help="the chat brain's offline jobs")
    sub = parser.add_subparsers(dest="action", required=True)
    read = sub.add_parser(
        "read", help="teach the brain from irssi or WeeChat logs",
        description="Learn the chatter in irssi or WeeChat logs. Lines said by or addressed "
                    "to a bot (the configured nicks, [brain] ignore and --bot) and commands "
                    "are skipped. What the brain knew is kept unless --replace is given.")
    read.add_argument("logs", nargs="+", metavar="LOGFILE")
    read.add_argument("--config", "-c", help="TOML config file (its [store] is used)")
    read.add_argument("--bot", action="append", default=[], metavar="NICK",
                      help="another bot's nick whose lines to skip (repeatable)")
    read.add_argument("--replace", action="store_true",
                      help="forget everything the brain knew first")
    read.set_defaults(run=lambda args: _run_async(_brain_read, args))
    utter = sub.add_parser("utter", help="print the brain's reply to TEXT")
    utter.add_argument("text", nargs="*", metavar="TEXT")
    utter.add_argument("--config", "-c", help="TOML config file (its [store] is used)")
    utter.add_argument("--seed", type=int, help="seed the random choices (repeatable output)")
    utter.set_defaults(run=lambda args: _run_async(_brain_utter, args))


def bot_nicks(settings, extra: Iterable[str] = ()) -> list:
    """Nicks whose lines the brain never learns: ours (on every network), [brain] ignore and C{extra}."""
    nicks = [*settings.brain.ignore, *extra]
    for network in (settings.irc, *settings.networks.values()):
        nicks += [network.nick, *network.alt_nicks]
    return sorted({n.lower() for n in nicks})


def _open_logs(paths: list) -> list:
    """The files at C{paths}, open for reading (none left open when one cannot be read)."""
    files = []
    for path in paths:
        try:
            files.append(open(path, "rb"))  # noqa: SIM115 - the caller closes them
        except OSError as e:
            for f in files:
                f.close()
            raise CommandError("cannot read %s: %s" % (path, e.strerror or e)) from None
    return files


async def read_logs(store, settings, paths: Iterable[str], bots: Iterable[str] = (),
                    replace: bool = False, out=None, reactor=None,
                    stopping: Callable[[], bool] = lambda: False) -> Any:
    """
    Teach the stored brain from the logs at C{paths}; returns the model.
    With a C{reactor}, it gets a turn every L{LINES_PER_TURN} lines, and
    when C{stopping()} is then true, L{Interrupted} is raised before
    anything was written (with C{replace} too: the old brain is only
    forgotten when the new one is written).
    """
    from .brain.chatlog import Tally, chatter
    from .brain.model import TrigramModel
    from .plugins.brain import load_model, save_model

    out = out or sys.stdout
    model = TrigramModel(settings.brain.max_trigrams)
    paths = list(paths)
    files = _open_logs(paths)
    try:
        if not replace:
            await load_model(model, store)
        known = len(model)
        nicks = bot_nicks(settings, bots)
        for path, f in zip(paths, files, strict=False):
            tally = Tally()
            learned = 0
            overlong = [0]
            lines = bounded_lines(f, MAX_LOG_LINE, overlong)
            while True:
                # a turn every LINES_PER_TURN lines read, chat or not
                chunk = list(islice(lines, LINES_PER_TURN))
                if not chunk:
                    break
                for text in chatter(chunk, nicks, settings.irc.command_prefix, tally):
                    model.learn(text)
                    learned += 1
                if reactor is not None:
                    await _turn(reactor)
                if stopping():
                    raise Interrupted()
            print("%s: %d lines, %d of chat, learned %d (skipped %d by or to bots or commands%s)"
                  % (path, tally.lines, tally.chat, learned, tally.skipped,
                     ", %d longer than %d bytes" % (overlong[0], MAX_LOG_LINE) if overlong[0] else ""),
                  file=out)
    finally:
        for f in files:
            f.close()
    if replace:
        for key in await store.keys("brain:shard:"):
            await store.delete(key)
    written = await save_model(model, store)
    before = "what it knew was forgotten" if replace else "it knew %d before" % (known,)
    print("The brain knows %d trigrams (%s); %d shards written." % (len(model), before, written),
          file=out)
    return model


def _turn(reactor):
    """Let the reactor run (signals, the store's thread) before going on."""
    from twisted.internet.task import deferLater
    return deferLater(reactor, 0, lambda: None)


async def utter(store, settings, text: str, rng) -> str:
    """What the stored brain says to C{text}."""
    from .brain.model import TrigramModel
    from .plugins.brain import NO_SENSE, load_model

    model = TrigramModel(settings.brain.max_trigrams)
    await load_model(model, store)
    return model.reply(text, rng) or NO_SENSE


async def _brain_read(reactor, args) -> int:
    from twisted.internet.defer import Deferred

    settings = _settings(args.config)
    store = _open_store(settings, reactor)
    stop = []
    finished: Deferred = Deferred()

    def shutting_down() -> Deferred:
        # SIGTERM or SIGINT: stop at the next turn, and let the reactor wait for the clean end.
        stop.append(True)
        return finished

    trigger = reactor.addSystemEventTrigger("before", "shutdown", shutting_down)
    try:
        await read_logs(store, settings, args.logs, args.bot, args.replace, reactor=reactor,
                        stopping=lambda: bool(stop))
    except Interrupted:
        raise CommandError("interrupted: stopped reading; nothing was written, "
                           "the brain is as it was") from None
    finally:
        try:
            await _close(store)
        finally:
            if not stop:
                reactor.removeSystemEventTrigger(trigger)
            finished.callback(None)
    return 0


async def _brain_utter(reactor, args) -> int:
    settings = _settings(args.config)
    store = _open_store(settings, reactor)
    try:
        print(await utter(store, settings, " ".join(args.text), random.Random(args.seed)))
    finally:
        await _close(store)
    return 0


def _open_store(settings, reactor):
    from .tap import make_store
    return make_store(settings, reactor)


async def _close(store) -> None:
    closable = IClosable(store, None)
    if closable is not None:
        result = closable.close()
        if result is not None:
            await result


def _run_async(job: Callable, args) -> int:
    """Run C{job(reactor, args)} (a coroutine function) on the reactor; its exit code."""
    from twisted.internet import task
    from twisted.internet.defer import Deferred

    code = [1]

    async def run(reactor) -> None:
        try:
            code[0] = await job(reactor, args)
        except CommandError as e:
            print("pubbot: %s" % (e,), file=sys.stderr)
            code[0] = 1

    try:
        task.react(lambda reactor: Deferred.fromCoroutine(run(reactor)))
    except SystemExit as e:
        if e.code not in (0, None):
            return e.code if isinstance(e.code, int) else 1
    return code[0]


def main(argv: list | None = None) -> int:
    from .version import __version__

    parser = argparse.ArgumentParser(prog="pubbot", description="pubbot's offline tools")
    parser.add_argument("--version", action="version", version="pubbot %s" % (__version__,))
    subparsers = parser.add_subparsers(dest="group", required=True)
    for add in GROUPS.values():
        add(subparsers)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CommandError as e:
        print("pubbot: %s" % (e,), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
