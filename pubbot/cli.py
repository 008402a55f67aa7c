"""The C{pubbot} command-line tool for offline jobs.

    pubbot --version                          print pubbot's version
    pubbot config check FILE                  validate a config, print effective settings (secrets masked)
    pubbot config diff [--config FILE]        print the per-channel settings changed from chat
    pubbot init [--config FILE] --server S --nick N --channel C...   write a minimal config
    pubbot brain read [--replace] LOGFILE...  teach the brain from irssi or WeeChat logs
    pubbot brain utter TEXT...                print what the brain says to TEXT
    pubbot store export > dump.jsonl          write everything in the store as a dump
    pubbot store import dump.jsonl            load a dump into the store (all or nothing)

The brain commands use the store of C{--config} (default: built-in
defaults, i.e. C{pubbot.sqlite} here). Run C{brain read} while the bot is
stopped: a running bot keeps its own copy in memory.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import textwrap
import time
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, cast

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


def _settings(path: str | None, out=None):
    """The settings of L{_loaded}."""
    return _loaded(path, out)[0]


def _loaded(path: str | None, out=None):
    """
    The settings of the file at C{path}, read as twistd reads them (the same
    code, loading the plugins); the plugins' problems twistd would log
    (one that fails to import, a bad plugin directory) are written to
    C{out} (stderr), one line each.
    """
    from twisted.logger import ILogObserver, LogLevel, formatEvent, globalLogPublisher

    from .tap import load_config  # the checks twistd makes, the same code

    out = out or sys.stderr

    def report(event) -> None:
        if event.get("log_level") in (LogLevel.warn, LogLevel.error, LogLevel.critical):
            line = " ".join(formatEvent(event).split())
            print("pubbot: warning: %s" % (line,), file=out)

    globalLogPublisher.addObserver(cast(ILogObserver, report))
    try:
        settings, plugins = load_config(path)
    except configmod.ConfigError as e:
        raise CommandError(str(e)) from None
    finally:
        globalLogPublisher.removeObserver(cast(ILogObserver, report))
    problem = _server_problem(settings)
    if problem:
        raise CommandError(problem)
    return settings, plugins


def _server_problem(settings) -> str | None:
    """What the IRC service would refuse at start in a network's C{server} (a port of 99999...), or None."""
    from .irc.endpoint import ServerError, parse_server

    tables = [("irc", settings.irc)]
    tables += [("networks.%s" % (name,), more) for name, more in settings.networks.items()]
    for label, network in tables:
        if network.server:
            try:
                parse_server(network.server)
            except ServerError as e:
                return str(e).replace("[irc]", "[%s]" % (label,), 1)
    return None


# config

@group("config")
def _config_group(subparsers) -> None:
    parser = subparsers.add_parser("config", help="configuration tools")
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="validate a config file and print the effective settings")
    check.add_argument("file")
    check.set_defaults(run=_config_check)
    diff = sub.add_parser("diff", help="print the per-channel settings changed from chat (kept in the store)",
                          description="The overrides made with !channel, kept in the store the config "
                          "selects: network, channel, setting, value, who and when (UTC). The config "
                          "file is never rewritten; copy what should stay into its [channels] tables.")
    diff.add_argument("--config", "-c", help="TOML config file (its [store] or [redis] is used)")
    diff.add_argument("--json", action="store_true", help="one JSON object a line")
    diff.set_defaults(run=lambda args: _run_async(_config_diff, args))


def _config_check(args) -> int:
    from .core.permissions import unenforced_by

    settings, plugins = _loaded(args.file)
    for warning in configmod.warnings(settings):
        print("pubbot: warning: %s" % (warning,), file=sys.stderr)
    for word in unenforced_by(settings.permissions, plugins.handlers):  # as the bot logs it at start
        print("pubbot: warning: [permissions] %s: no loaded command has that word; it changes nothing"
              % (word,), file=sys.stderr)
    print(json.dumps(configmod.effective(settings), indent=2, sort_keys=True))
    return 0


async def _config_diff(reactor, args) -> int:
    from .core.channels import OVERRIDES, PLUGIN, parse_overrides

    settings = _settings(args.config)
    store = _open_store(settings, reactor)
    try:
        overrides = parse_overrides(await store.hgetall(OVERRIDES))
    except ConnectionError as e:
        raise CommandError("cannot read %s: %s" % (_store_where(settings), e)) from None
    finally:
        await _close(store)
    for o in overrides:
        if args.json:
            print(json.dumps(o.to_dict(), ensure_ascii=False, sort_keys=True))
            continue
        name = o.name[len(PLUGIN):] if o.name.startswith(PLUGIN) else o.name
        when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(o.when))
        print("%s %s %s = %s  (by %s, %s)" % (o.network, o.channel, name, o.shown(), o.who, when))
    if not overrides and not args.json:
        print("No per-channel settings were changed from chat (%s)." % (_store_where(settings),))
    return 0


# init

@group("init")
def _init_group(subparsers) -> None:
    parser = subparsers.add_parser(
        "init", help="write a minimal commented config",
        description="Write a minimal config for one network, checked before it is written; an existing "
                    "file is never overwritten. Values not given are asked for on a terminal.")
    parser.add_argument("--config", "-c", default="pubbot.toml", help="the file to write (pubbot.toml)")
    parser.add_argument("--server", help="irc.example.net[:port] (TLS) or an endpoint, e.g. tcp:host:6667")
    parser.add_argument("--nick")
    parser.add_argument("--channel", action="append", default=[], metavar="CHANNEL",
                        help="a channel to join (repeat for more)")
    parser.add_argument("--admin", action="append", default=[], metavar="ACCOUNT",
                        help="an admin: account name or user@host mask (repeat for more)")
    parser.set_defaults(run=_init)


def _ask(question: str, interactive: bool) -> str:
    if not interactive:
        return ""
    try:
        return input(question).strip()
    except EOFError:
        return ""


def _init(args) -> int:
    import os
    import tempfile

    from .config.init import config_text

    path = args.config
    if os.path.lexists(path):
        raise CommandError("%s exists; not overwriting it (remove it or choose another --config)" % (path,))
    interactive = sys.stdin.isatty()
    server = args.server or _ask("IRC server (host[:port], TLS): ", interactive)
    nick = args.nick or _ask("Nick: ", interactive)
    channels = args.channel or _ask("Channels (space-separated): ", interactive).split()
    admins = args.admin or _ask("Admin accounts (space-separated, may be empty): ", interactive).split()
    missing = [name for name, value in (("--server", server), ("--nick", nick), ("--channel", channels))
               if not value]
    if missing:
        raise CommandError("init needs %s" % (", ".join(missing),))
    text = config_text(server, nick, channels, admins)
    folder = os.path.dirname(os.path.abspath(path))
    fd, temporary = tempfile.mkstemp(prefix=".pubbot-init-", suffix=".toml", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        _settings(temporary)  # the checks twistd makes: a config that would not start is not written
        try:
            os.link(temporary, path)  # never replaces an existing file, even one made meanwhile
        except FileExistsError:
            raise CommandError("%s exists; not overwriting it" % (path,)) from None
    finally:
        os.unlink(temporary)
    print("wrote %s; start with: twistd -n pubbot --config %s" % (path, path))
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


def brain_settings(settings) -> Any:
    """[brain] (its defaults when the brain plugin is disabled: then the file has no [brain])."""
    from .plugins.brain import BrainSettings
    return settings.sections.get("brain") or BrainSettings()


def bot_nicks(settings, extra: Iterable[str] = ()) -> list:
    """Nicks whose lines the brain never learns: ours (on every network), [brain] ignore and C{extra}."""
    nicks = [*brain_settings(settings).ignore, *extra]
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
    model = TrigramModel(brain_settings(settings).max_trigrams)
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

    model = TrigramModel(brain_settings(settings).max_trigrams)
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


# store

STORE_HELP = """\
Copy everything in a store (strings and counters, sets, hashes, with their
expiries; the brain's shards are strings under brain:shard:) between SQLite
and Redis: export from the store one config selects, import into the store
another selects. Run both while the bot is stopped. Memory stays bounded:
the store is walked a page at a time and the dump read a line at a time.

The dump is JSON Lines (compact, ASCII), format version %(version)d:
  {"format":"pubbot-store","version":%(version)d,"source":"sqlite"}
  {"key":K,"type":"string","value":JSON}
  {"key":K,"type":"string","value":JSON,"expires":MS}
  {"key":K,"type":"set","members":["a","b"]}
  {"key":K,"type":"hash","fields":{"f":JSON}}
  {"key":K,"type":"hash","fields":{"g":JSON},"more":true}
  {"end":true,"keys":N,"lines":M}
The first line is the header (a reader refuses a version it does not
know); then a line a key; "expires" is the absolute expiry in ms since
the Unix epoch; a big set or hash continues on "more" lines; the end
line counts keys and lines, so a dump cut short is refused.
"""


@group("store")
def _store_group(subparsers) -> None:
    from .store.transfer import MAX_LINE, VERSION
    helptext = STORE_HELP % {"version": VERSION}
    parser = subparsers.add_parser("store", help="move the store's data between SQLite and Redis",
                                   description=helptext, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    export = sub.add_parser(
        "export", help="write every key of the store to stdout as a dump",
        description=helptext + "\nexport writes the dump on stdout; progress goes to stderr on a\nterminal.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    export.add_argument("--config", "-c", help="TOML config file (its [store] or [redis] is used)")
    export.add_argument("--max-line", type=int, default=MAX_LINE, metavar="BYTES",
                        help="longest line to write (default %(default)s)")
    export.set_defaults(run=lambda args: _run_async(_store_export, args))
    imp = sub.add_parser(
        "import", help="load a dump into the store, all or nothing",
        description=helptext + "\n" + textwrap.fill(
            "import checks every line while staging it out of sight (SQLite: temp tables; Redis: "
            "keys under pubbot:store-import:TOKEN:), then makes it all live at once (one "
            "transaction; one Lua script). On a bad line it names the line and imports nothing. "
            "Into a store that is not empty, say --merge (dumped keys replace keys of the same "
            "name, the others stay) or --replace (the store becomes exactly the dump).", 75),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    imp.add_argument("dump", metavar="DUMP", help="the dump file (- for stdin)")
    imp.add_argument("--config", "-c", help="TOML config file (its [store] or [redis] is used)")
    how = imp.add_mutually_exclusive_group()
    how.add_argument("--merge", action="store_true", help="keep the store's other keys")
    how.add_argument("--replace", action="store_true", help="remove the store's other keys")
    imp.add_argument("--max-line", type=int, default=MAX_LINE, metavar="BYTES",
                     help="longest line accepted (default %(default)s)")
    imp.set_defaults(run=lambda args: _run_async(_store_import, args))


def _store_where(settings) -> str:
    if settings.redis.enabled:
        return "the Redis store"
    return settings.store.path


async def _store_export(reactor, args) -> int:
    import os

    from .store.transfer import ExportError, Progress, export
    settings = _settings(args.config)
    if not settings.redis.enabled and not os.path.exists(settings.store.path):
        raise CommandError("no store at %s (see [store] path)" % (settings.store.path,))
    store = _open_store(settings, reactor)
    out = sys.stdout.buffer
    try:
        keys, lines = await export(store, out, Progress(sys.stderr, "exported"), args.max_line)
        out.flush()
    except ExportError as e:
        raise CommandError("export failed: %s" % (e,)) from None
    except ConnectionError as e:  # Redis unavailable
        raise CommandError("export failed: %s" % (e,)) from None
    except OSError as e:
        raise CommandError("cannot write the dump: %s" % (e.strerror or e,)) from None
    finally:
        await _close(store)
    print("pubbot: exported %d keys from %s" % (keys, _store_where(settings)), file=sys.stderr)
    return 0


async def _store_import(reactor, args) -> int:
    from .store.transfer import DumpError, Progress, import_dump, store_is_empty
    settings = _settings(args.config)
    try:
        stream = sys.stdin.buffer if args.dump == "-" else open(args.dump, "rb")  # noqa: SIM115 - closed below
    except OSError as e:
        raise CommandError("cannot read %s: %s" % (args.dump, e.strerror or e)) from None
    name = "stdin" if args.dump == "-" else args.dump
    store = _open_store(settings, reactor)
    try:
        if not (args.merge or args.replace) and not await store_is_empty(store):
            raise CommandError("%s is not empty: say --merge (keep its other keys) or --replace "
                               "(remove them); nothing was imported" % (_store_where(settings),))
        keys, lines = await import_dump(store, stream, args.replace, Progress(sys.stderr, "imported"),
                                        args.max_line)
    except DumpError as e:
        raise CommandError("%s %s; nothing was imported" % (name, e)) from None
    except ConnectionError as e:
        raise CommandError("import failed: %s; nothing was imported" % (e,)) from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
        await _close(store)
    print("Imported %d keys (%d lines) into %s." % (keys, lines, _store_where(settings)))
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
