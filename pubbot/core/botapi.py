"""
L{PluginBot}: the bot as plugins see it (C{msg.bot}, a job's C{bot}).

A typing protocol, for editors and type checkers only: the running bot is
a L{pubbot.core.bot.Bot}, which provides it (checked by mypy at the end of
that module). Annotate C{msg: Message} and C{bot: PluginBot} in a plugin
and C{msg.bot.sotre} is an error, C{msg.bot.} completes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred
    from twisted.internet.interfaces import IReactorTime

    from ..config.settings import Settings
    from .interfaces import IStore
    from .jobs import Later
    from .message import Message


class PluginBot(Protocol):
    """
    What a plugin may use of the bot. Everything else on
    L{pubbot.core.bot.Bot} is internal.
    """

    @property
    def settings(self) -> Settings:
        """The checked config: C{settings.irc}, and each declared section as C{settings.NAME}."""

    @property
    def clock(self) -> IReactorTime:
        """The time and timers (C{seconds()}, C{callLater}): a C{Clock} in tests."""

    @property
    def store(self) -> IStore:
        """The key-value store (memory, SQLite or Redis)."""

    @property
    def random(self) -> random.Random:
        """The bot's random source (seeded in tests)."""

    @property
    def process_id(self) -> str:
        """This process's name among a scaled-out bot's (C{"local"} alone)."""

    @property
    def state(self) -> dict[str, Any]:
        """Status shared between plugins of this process (now playing, ...)."""

    @property
    def music_source(self) -> Any:
        """The music player, or None (see L{pubbot.music})."""

    @property
    def web_resources(self) -> dict[str, Any]:
        """Twisted web resources by path, served by the C{[web]} site."""

    def nick(self, network: str) -> str:
        """The bot's nick on C{network}."""

    def command_prefix(self, network: str) -> str:
        """The command prefix on C{network}."""

    def modes(self, network: str | None, channel: str | None, nick: str | None) -> str:
        """The channel mode letters C{nick} holds in C{channel} (C{"ov"}); empty when unknown."""

    def roster(self, network: str, channel: str) -> list[Any]:
        """The nicks in C{channel} on C{network}, as its chat service knows them."""

    def settings_for(self, network: str, channel: str | None) -> Settings:
        """The settings as they hold in C{channel} (see L{pubbot.api.channel_settings})."""

    def enabled_in(self, network: str, channel: str, plugin: str) -> bool:
        """Is C{plugin} on in C{channel} on C{network}?"""

    def send(self, network: str, target: str, text: str, kind: str = "say",
             person: str | None = None) -> Any:
        """Send C{text} to C{target} on C{network} (C{kind}: say, notice, action)."""

    def announce(self, targets: Iterable[str], text: str, kind: str = "notice") -> None:
        """Send C{text} to C{targets} on every connected network."""

    def publish(self, topic: str, **fields: Any) -> Deferred[Any]:
        """Publish a message of the plugin's own on the bus."""

    def later(self, seconds: float, func: Callable[..., Any], *args: Any) -> Later:
        """Run C{func(*args)} once in C{seconds}, isolated like a job; C{cancel()} the result to stop it."""

    def uptime(self) -> float:
        """Seconds since the bot started."""

    def handler_failed(self, handler: Any, message: Message) -> None:
        """
        Count and log, as the dispatcher does its own (a bounded number of
        times a minute), the exception being handled: C{handler} failed on
        C{message} inside a call of its own (L{pubbot.api.handle_each}).
        """
