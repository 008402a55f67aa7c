"""twistd plugin options and service maker: C{twistd -n pubbot}."""

from __future__ import annotations

import functools
import gc
import os
import socket
import sys

from twisted.application.service import MultiService, Service
from twisted.python import usage

from .config import settings as configmod
from .config.networks import chat_networks
from .core.bot import Bot
from .core.interfaces import IClosable
from .loader import Plugins, load_plugins


def load_settings(path: str | None) -> configmod.Settings:
    """The settings of L{load_config}."""
    return load_config(path)[0]


def unconfigured(settings: configmod.Settings) -> tuple[str, ...]:
    """The built-in plugin modules with nothing to work with: music without a player."""
    return () if settings.music.source else ("music",)


def load_config(path: str | None) -> tuple[configmod.Settings, Plugins]:
    """
    The settings of the file at C{path} (None: the defaults) and the
    plugins they load, with every check a start makes: what C{pubbot config
    check} refuses is exactly what C{twistd -n pubbot} refuses. Two phases:
    the core's tables (which say where the plugins are and which are
    disabled), then the plugins are loaded and the tables they declare
    read. Raises L{configmod.ConfigError}.
    """
    data = {} if path is None else configmod.read(path)
    core = configmod.parse_core(data)
    plugins = load_plugins(core.plugins.paths, core.plugins.disabled, unconfigured(core))
    declared = {d.name for d in plugins.sections} | set(plugins.disabled) | set(core.sections)
    for name in data:  # a table of a plugin that is there but broken: say so, not "not installed"
        if name in plugins.broken and name not in declared and name not in configmod.CORE_TABLES:
            raise configmod.ConfigError("[%s]: plugin %s failed to import: %s" % (
                name, name, " ".join(plugins.broken[name].split())[:200]))
    settings = configmod.add_sections(core, data, plugins.sections, plugins.disabled)
    from .config.channels import unknown_plugins
    problem = unknown_plugins(settings.channels, set(plugins.modules))
    if problem:
        raise configmod.ConfigError(problem)
    from .web.service import check_web_settings
    checks = [check_web_settings]
    if settings.manhole.endpoint:  # conch (bcrypt) only when the manhole is on
        from .manhole import check_manhole_settings
        checks.append(check_manhole_settings)
    for check in checks:
        problem = check(settings)
        if problem:
            raise configmod.ConfigError(problem)
    return settings, plugins


#: What a process of a scaled-out bot does (--role).
ROLES = ("all", "owner", "worker")


class Options(usage.Options):
    synopsis = "[--config FILE] [--console] [--role owner|worker|all]"
    longdesc = "Run pubbot, the community chat bot. See README.rst."
    optParameters = [
        ["config", "c", None, "TOML config file (default: built-in defaults)."],
        ["role", None, "all", "With [redis]: owner (holds the chat connections, music, console; handles "
                              "nothing), worker (handles; never connects) or all."],
    ]
    optFlags = [
        ["console", None, "Chat in a console room on stdin/stdout instead of IRC."],
    ]

    def opt_version(self) -> None:
        """Print pubbot's version and exit."""
        from .version import __version__
        sys.stdout.write("pubbot %s\n" % (__version__,))
        raise SystemExit(0)

    def postOptions(self) -> None:
        # Bad config: one line naming the key, exit 1, no traceback and no
        # usage text (twistd would print its whole help for a UsageError).
        try:
            self["settings"], self["plugins"] = load_config(self["config"])
            if self["role"] not in ROLES:
                raise configmod.ConfigError("--role must be one of %s, not %r" % (", ".join(ROLES),
                                                                                   self["role"]))
            if self["role"] != "all" and not self["settings"].redis.enabled:
                raise configmod.ConfigError("--role %s needs [redis] url (or sentinels)" % (self["role"],))
        except configmod.ConfigError as e:
            sys.stderr.write("pubbot: %s\n" % (e,))
            raise SystemExit(1) from None

    def console_mode(self) -> bool:
        """The console room instead of IRC: with --console, or when no network has a server."""
        return bool(self["console"] or not chat_networks(self["settings"]))


class BusService(Service):
    """Starts and stops the bot's handlers; owns the store's lifetime."""

    name = "bus"

    def __init__(self, bot: Bot, freeze_gc: bool = True):
        self.bot = bot
        self.freeze_gc = freeze_gc

    def startService(self) -> None:
        super().startService()
        self.bot.start()
        # A store that cannot be read is said on the console, in the log and on /status.
        from twisted.internet.defer import Deferred

        from .store.check import report_store
        self.store_checked = Deferred.fromCoroutine(report_store(self.bot))
        # Everything built so far (Twisted, the plugins, the brain's model
        # containers) lives as long as the process: keep it out of the
        # cyclic collector, whose full passes otherwise walk every entry of
        # those big dicts (30-50 ms pauses, measured with bench/steady.py).
        if self.freeze_gc:
            gc.collect()
            gc.freeze()

    def stopService(self):
        super().stopService()
        d = self.bot.stop()
        closable = IClosable(self.bot.store, None)
        if closable is not None:
            d.addBoth(lambda _: closable.close())
        return d


def make_store(settings, reactor):
    """The configured IStore: Redis when [redis] url (or sentinels) is set, else SQLite."""
    if settings.redis.enabled:
        from .cluster.redisclient import RedisClient, target
        from .store.redis import RedisStore
        return RedisStore(RedisClient(reactor, target(settings.redis, reactor), name="store"))
    from .store.sqlite import SQLiteStore
    return SQLiteStore(settings.store.path, reactor)


class PubbotService(MultiService):
    """The top service of C{twistd -n pubbot}: every other service is under it; C{bot} is theirs."""

    def __init__(self, bot: Bot):
        super().__init__()
        self.setName("pubbot")
        self.bot = bot


def makeService(options: Options, reactor=None) -> MultiService:
    """
    The whole daemon. The implementations are chosen here, each built
    before what uses it: the store, with C{[redis]} the cluster (whose Redis
    bus is the bot's bus and outbox), the bot, then its services.
    """
    if reactor is None:
        from twisted.internet import reactor  # twistd's reactor
    settings = options["settings"]
    store = make_store(settings, reactor)
    process_id = "%s:%d" % (socket.gethostname(), os.getpid())
    cluster = None
    if settings.redis.enabled:
        from .cluster.wiring import make_cluster
        cluster = make_cluster(settings, reactor, store, process_id, options.get("role") or "all")
    from .reload import PluginReloader, Reconfigurer, ReconfigureService
    bot = Bot(settings, reactor, store, process_id=process_id,
              bus=cluster.bus if cluster is not None else None,
              outbox=cluster.bus.outbox if cluster is not None else None,
              jobs_owner=cluster.holds_lease if cluster is not None else None,
              shutdown=reactor.stop,  # !quit
              reloader=(PluginReloader if cluster is None
                        else functools.partial(PluginReloader, peers=cluster.reload_peers)))
    top = PubbotService(bot)
    plugins = options.get("plugins")
    if plugins is None:  # options not parsed by postOptions: load them as it would
        plugins = load_plugins(settings.plugins.paths, settings.plugins.disabled, unconfigured(settings))
    for handler in plugins.handlers:  # no player: no music commands (see unconfigured)
        bot.add_handler(handler)
    BusService(bot).setServiceParent(top)
    ReconfigureService(Reconfigurer(bot, options["config"]), reactor).setServiceParent(top)

    if options.console_mode():
        from .console import ConsoleService, divert_log_file, start_stdio
        if options.get("divert_log", True):
            divert_log_file(settings.console.log_file)
        console = ConsoleService(bot, start_stdio(reactor), reactor.stop)
        console.setServiceParent(top)

    # Further children (irc, music, web, manhole) are added below.

    if not options.console_mode():
        add_networks(top, bot, settings, reactor)

    if settings.music.source:
        from .music.poll import make_music_service
        make_music_service(bot, settings.music, reactor).setServiceParent(top)

    if settings.web.endpoint:
        from .web.service import WebService
        WebService(bot, reactor).setServiceParent(top)
    if settings.manhole.endpoint:
        from .manhole import ManholeService, namespace_for
        ManholeService(settings, namespace_for(top, bot, settings, reactor), reactor).setServiceParent(top)
    wire_scale_out(top, bot, settings, reactor, cluster)
    return top


def add_networks(top: MultiService, bot: Bot, settings, reactor) -> None:
    """
    One IRCService per configured network, the first first: C{irc} for the
    first network, C{irc-NAME} for the others.
    """
    from .irc.service import IRCService
    for network in chat_networks(settings):
        try:
            IRCService(bot, reactor, network=network.name, settings=network).setServiceParent(top)
        except configmod.ConfigError as e:  # e.g. an unreadable tls_ca
            problem = str(e)
            table = configmod.network_label(network, settings)
            if table != "irc":  # the connection's errors name [irc]'s keys: name this network's table
                problem = problem.replace("[irc]", "[%s]" % (table,), 1)
            sys.stderr.write("pubbot: %s\n" % (problem,))
            raise SystemExit(1) from None


def wire_scale_out(top: MultiService, bot: Bot, settings, reactor, cluster=None) -> None:
    """
    [zmq] sockets, and with [redis] url (or sentinels) the C{cluster} (see
    L{pubbot.cluster.wiring.make_cluster}): then IRC, music, console and
    ZeroMQ run only in the process holding the IRC lease.
    """
    if settings.zmq.publish or settings.zmq.commands:
        from .bridges.zmq import ZmqService
        ZmqService(bot, reactor, settings.zmq).setServiceParent(top)
    if cluster is not None:
        from .cluster.wiring import wire
        wire(top, cluster)
