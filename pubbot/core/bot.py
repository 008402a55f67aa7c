"""The Bot: the long-lived object between chat services, the bus and handlers."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.logger import Logger
from zope.interface import implementer

from .channels import ChannelSettings
from .chat import ChatMessages, person_of
from .dispatch import Dispatcher
from .events import IChatEvents
from .interfaces import IBus, IChatService, ILocalSend
from .jobs import Jobs, Later
from .localbus import LocalBus, chat_registered, pause_input, resume_input
from .message import Message, Reply
from .permissions import unenforced

if TYPE_CHECKING:
    from .botapi import PluginBot

log = Logger()

#: Where text the bot sends goes: (network, target, text, kind, person) -> anything.
Outbox = Callable[[str, str, str, str, str | None], Any]


@implementer(IChatEvents, ILocalSend)
class Bot:
    """
    What handlers see as C{msg.bot}: settings, clock, store, random source,
    the loaded handlers, and ways to send (C{send}) and publish.

    Chat services call L{chat_line} and L{chat_event}; the bus carries the
    resulting messages to handlers and their replies back through L{deliver}.

    What differs between a lone process and one of a scaled-out bot is
    chosen by whoever builds the bot (L{pubbot.tap}) and given here:
    C{bus} (an L{IBus}, attached to this bot at the end of construction;
    default a L{LocalBus}), C{outbox} (where L{send} puts text; default
    L{send_local}), C{jobs_owner} (whether this process runs jobs now;
    default always). C{shutdown} stops the daemon (C{!quit}); C{reloader},
    given the bot, makes what reloads plugins (C{!reload}).
    """

    def __init__(self, settings, clock, store, dispatcher: Dispatcher | None = None,
                 rng: random.Random | None = None, process_id: str = "local", *,
                 bus: IBus | None = None, outbox: Outbox | None = None,
                 jobs_owner: Callable[[], bool] | None = None,
                 shutdown: Callable[[], Any] | None = None,
                 reloader: Callable[[Bot], Any] | None = None):
        self.settings = settings
        self.clock = clock
        self.store = store
        self.dispatcher = dispatcher or Dispatcher(clock, settings.plugins.timeout)
        self.random = rng or random.Random()
        self.process_id = process_id
        self.started_at = clock.seconds()
        #: The chat services (IRC networks, the console) by network name.
        self.chat_services: dict[str, Any] = {}
        self.chat_factories: dict[str, ChatMessages] = {}
        self.bus: IBus = bus if bus is not None else LocalBus(self)
        #: Sends text out: L{send_local}, or with a Redis bus its outbox (the
        #: reply stream to the process holding the chat connections).
        self.outbox: Outbox = outbox if outbox is not None else self.send_local
        self.broadcast_observers: list[Callable[[Message], None]] = []
        self.sent_observers: list[Callable[[str, str, str, str], None]] = []
        #: Called with the chat lines this process reads (a list of Messages)
        #: before they go on the bus: in a cluster only the IRC owner reads
        #: chat, so each line is seen once (the brain journals them, see
        #: L{pubbot.brain.shared}).
        self.heard_observers: list[Callable[[list[Message]], None]] = []
        self.state: dict[str, Any] = {}  # shared status (now playing, ...)
        #: The IMusicSource of [music] source (see L{register_music}), or None.
        self.music_source: Any = None
        #: Extra web resources plugins offer, mounted by the web service at
        #: start: {"hooks/github": resource}.
        self.web_resources: dict[str, Any] = {}
        self.running = False
        #: Stops the daemon cleanly (the tap gives the reactor's stop), or None.
        self.shutdown = shutdown
        #: Who asked for the input to pause (see L{hold_input}).
        self.input_holders: set = set()
        #: The plugins' jobs (L{pubbot.core.jobs}).
        self.jobs = Jobs(self, owner=jobs_owner)
        #: Per-channel settings and plugins disabled by channel (L{pubbot.core.channels}).
        self.channels = ChannelSettings(self)
        self.dispatcher.channel_gate = self.channels.off_in
        # Last, as they may read any of the above:
        #: Reloads plugins by name (C{!reload}): a L{pubbot.reload.PluginReloader}, asked
        #: for by the service maker and the test harness; None where reloading is not offered.
        self.reloader: Any = reloader(self) if reloader is not None else None
        if bus is not None:
            bus.attach(self)

    # handlers

    @property
    def handlers(self) -> list:
        return self.dispatcher.handlers

    def add_handler(self, handler) -> None:
        self.dispatcher.add(handler)
        if self.running:
            handler.start(self)

    def start(self) -> None:
        self.running = True
        self.channels.start()
        for handler in list(self.handlers):
            try:
                handler.start(self)
            except Exception:
                log.failure("plugin {plugin} failed to start", plugin=handler.name)
        for word in unenforced(self):
            log.warn("[permissions] {word}: no loaded command has that word; it changes nothing", word=word)

    def stop(self) -> Deferred:
        self.running = False
        self.jobs.stop()
        self.channels.stop()
        stops = [maybeDeferred(h.stop).addErrback(
            lambda f, name: log.failure("plugin {plugin} failed to stop", f, plugin=name), h.name)
            for h in self.handlers]
        return DeferredList(stops)

    # chat in

    def register_music(self, source: Any) -> None:
        """C{source} (an L{pubbot.music.interfaces.IMusicSource}) is the player the music commands control."""
        self.music_source = source

    def apply_settings(self, settings: Any) -> None:
        """From now on the bot runs with C{settings} (a config re-read: see L{pubbot.reload.Reconfigurer})."""
        self.settings = settings

    def register_chat(self, service) -> None:
        """C{service} (an L{IChatService}) is the bot's presence on its C{network}."""
        self.chat_services[service.network] = service
        self.chat_factories.pop(service.network, None)
        chat_registered(self.bus, service)

    def unregister_chat(self, service: IChatService) -> None:
        if self.chat_services.get(service.network) is service:
            del self.chat_services[service.network]

    def hold_input(self, holder: Any) -> None:
        """
        Pause what feeds this process's handlers until every holder has
        called L{release_input}: for a consumer far behind (the brain's
        learner), so that messages wait outside this process's memory. The
        local bus pauses reading chat (the lines wait in the network's
        buffers), the Redis bus reading its stream (they wait in Redis).
        Holders must release soon: a paused chat service does not answer
        the server meanwhile.
        """
        first = not self.input_holders
        self.input_holders.add(holder)
        if first:
            pause_input(self.bus)

    def release_input(self, holder: Any) -> None:
        """C{holder} no longer needs the input paused (see L{hold_input})."""
        if holder not in self.input_holders:
            return
        self.input_holders.discard(holder)
        if not self.input_holders:
            resume_input(self.bus)

    def network_settings(self, network: str) -> Any:
        """The settings of C{network} (its [networks.NAME] table, or [irc])."""
        if network == self.settings.irc.name:
            return self.settings.irc
        return self.settings.networks.get(network, self.settings.irc)

    def settings_for(self, network: str, channel: str | None) -> Any:
        """
        The settings as they hold in C{channel} on C{network}: the keys
        marked C{per_channel} as the config's C{[channels]} tables and the
        overrides made from chat set them there (see L{pubbot.core.channels}).
        """
        return self.channels.settings_for(network, channel)

    def enabled_in(self, network: str, channel: str, plugin: str) -> bool:
        """Is C{plugin} on in C{channel} on C{network} (not disabled there, see L{pubbot.core.channels})?"""
        return plugin not in self.channels.disabled(network, channel)

    def nick(self, network: str) -> str:
        """The bot's nick on C{network}: the connection's, else the configured one."""
        service = self.chat_services.get(network)
        return service.nick if service is not None else self.network_settings(network).nick

    def command_prefix(self, network: str) -> str:
        """The command prefix on C{network}."""
        service = self.chat_services.get(network)
        if service is not None:
            return service.command_prefix
        return self.network_settings(network).command_prefix

    def chat_messages(self, network: str) -> ChatMessages:
        """The chat-message factory of C{network} (see L{pubbot.core.chat})."""
        factory = self.chat_factories.get(network)
        if factory is None:
            service = self.chat_services.get(network)
            # (a network known only from its messages: tests, another process's)
            protocol = service.protocol if service is not None else (
                "console" if network == "console" else "irc")
            factory = self.chat_factories[network] = ChatMessages(
                self, network, protocol, lambda: self.nick(network), self.command_prefix(network))
        return factory

    def chat_line(self, network: str, channel: str, source: str, content: str,
                  private: bool = False, **fields: Any) -> Deferred:
        """
        A line of chat arrived: publish it on C{chat.<network>.<channel>.chat}
        with C{direct} (addressed, address stripped) and C{command} (the text
        after the address or the command prefix, else None).
        """
        message = self.chat_message(network, channel, source, content, private, fields)
        if self.heard_observers:
            self._heard([message])
        return self.bus.submit(message)

    def chat_message(self, network: str, channel: str, source: str, content: str,
                     private: bool, fields: dict) -> Message:
        """The message L{chat_line} publishes; takes C{fields} (a dict it may change) as its own."""
        return self.chat_messages(network).chat(channel, source, content, private, fields)

    def chat_event(self, network: str, channel: str, kind: str, /, **fields: Any) -> Deferred:
        """
        A join or leave: publish C{chat.<network>.<channel>.<kind>}. The
        arguments are positional only, so a leave's C{kind} field (part,
        kick, quit) can be among C{fields}.
        """
        return self.bus.submit(self.chat_messages(network).event(channel, kind, fields))

    def chat_events(self, network: str, events: list) -> Deferred:
        """What C{network} heard in one read (L{pubbot.core.events.ChatEvent}s), dispatched as one batch."""
        messages = self.chat_messages(network).messages(events)
        if self.heard_observers:
            self._heard(messages)
        return self.bus.submit_many(messages)

    def _heard(self, messages: list[Message]) -> None:
        for observer in list(self.heard_observers):
            try:
                observer(messages)
            except Exception:
                log.failure("heard observer {observer!r} failed", observer=observer)

    def publish(self, topic: str, **fields: Any) -> Deferred:
        """Publish a message of our own (music.track, vcs.commit...)."""
        return self.bus.submit(Message(topic, fields, self))

    # replies and text out

    def deliver(self, message: Message, reply: Reply) -> None:
        """Send C{reply} back where C{message} came from."""
        network = message.fields.get("network")
        target = message.fields.get("channel")
        if network is None or target is None:
            log.warn("reply to {topic} has nowhere to go; dropped", topic=message.topic)
            return
        self.send(network, target, "\n".join(reply.lines), reply.kind, person_of(message))

    def send(self, network: str, target: str, text: str, kind: str = "say",
             person: str | None = None) -> Any:
        """
        Send C{text} (lines split on newlines) to C{target} on C{network};
        C{person} is who it answers (their nick), so that output is fair
        between people.
        """
        for observer in self.sent_observers:
            observer(network, target, text, kind)
        return self.outbox(network, target, text, kind, person)

    def announce(self, targets, text: str, kind: str = "notice") -> None:
        """Send C{text} to channels on every connected chat network."""
        for network in list(self.chat_services):
            for target in targets:
                self.send(network, target, text, kind)

    def send_local(self, network: str, target: str, text: str, kind: str,
                   person: str | None = None) -> Any:
        """Send through this process's own chat service for C{network} (see L{ILocalSend})."""
        service = self.chat_services.get(network)
        if service is None:
            log.warn("no {network} connection; dropped a message to {target}",
                     network=network, target=target)
            return succeed(None)
        return service.send(target, text, kind, person)

    def roster(self, network: str, channel: str) -> list:
        service = self.chat_services.get(network)
        return list(service.roster(channel)) if service is not None else []

    def modes(self, network: str | None, channel: str | None, nick: str | None) -> str:
        """
        The channel mode letters (C{"ov"}) C{nick} holds in C{channel} on
        C{network}, as that network's chat service knows them live; empty
        when unknown (a service without modes, a Redis worker's stand-in).
        """
        service = self.chat_services.get(network) if network else None
        modes = getattr(service, "modes", None)
        if modes is None or not channel or not nick:
            return ""
        try:
            return modes(channel, nick) or ""
        except Exception:
            log.failure("modes of {nick} in {channel} failed", nick=nick, channel=channel)
            return ""

    def later(self, seconds: float, func: Callable, *args: Any) -> Later:
        """Run C{func(*args)} once in C{seconds}, isolated like a job (see L{pubbot.core.jobs.Jobs.later})."""
        return self.jobs.later(seconds, func, *args)

    def uptime(self) -> float:
        return self.clock.seconds() - self.started_at

    def handler_failed(self, handler: Any, message: Message) -> None:
        self.dispatcher.handler_failed(handler, message)


def _provides_plugin_bot(bot: Bot) -> PluginBot:
    """Never called: mypy checks here that a L{Bot} is the L{PluginBot} plugins are typed against."""
    return bot
