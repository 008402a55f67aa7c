"""
A harness for testing handler plugins in a few lines::

    from pubbot.testing import Harness
    from myplugin import my_handler

    def test_foo():
        bot = Harness(my_handler)
        assert bot.reply("foo=1, bar=2") == 'Foo was "1", bar was "2"'
        bot.clock.advance(60)            # drive time

Everything runs on a L{Clock} and a memory store; what the bot sends is
recorded in C{bot.sent}.
"""

from __future__ import annotations

import random
from typing import Any, Optional

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from zope.interface import implementer

from .bot import Bot
from .config import Settings, parse
from .interfaces import IChatService
from .message import Reply
from .store.memory import MemoryStore


@implementer(IChatService)
class FakeChat:
    """A chat network that records what is sent and has a settable roster."""

    def __init__(self, network: str = "irc", nick: str = "pubbot", protocol: str = "",
                 command_prefix: str = "!"):
        self.network = network
        self.protocol = protocol or ("console" if network == "console" else "irc")
        self.command_prefix = command_prefix
        self.nick = nick
        self.sent: list[tuple[str, str, str]] = []
        self.rosters: dict[str, list[str]] = {}

    def send(self, target: str, text: str, kind: str = "say", person: Optional[str] = None) -> None:
        self.sent.append((target, text, kind))

    def roster(self, channel: str) -> list:
        return list(self.rosters.get(channel, ()))


class Harness:
    """
    A bot with the given handlers, a L{Clock}, a memory store and a
    L{FakeChat} (C{chat}, on C{network}); with C{[networks.NAME]} tables in
    the config, a L{FakeChat} for each of them too (C{chats} by name).
    """

    def __init__(self, *handlers: Any, settings: Optional[Settings] = None,
                 config: Optional[dict] = None, network: str = "irc",
                 nick: str = "pubbot", seed: int = 0, start_time: float = 1_000_000_000.0):
        self.clock = Clock()
        self.clock.advance(start_time)
        self.settings = settings or parse(config or {})
        self.store = MemoryStore(self.clock)
        self.bot = Bot(self.settings, self.clock, self.store, rng=random.Random(seed))
        self.chat = FakeChat(network, nick, command_prefix=self.settings.irc.command_prefix)
        self.bot.register_chat(self.chat)
        self.chats: dict[str, FakeChat] = {network: self.chat}
        for name, more in self.settings.networks.items():
            self.chats[name] = FakeChat(name, more.nick, command_prefix=more.command_prefix)
            self.bot.register_chat(self.chats[name])
        for h in handlers:
            self.bot.add_handler(h)
        self.bot.start()

    @property
    def sent(self) -> list[tuple[str, str, str]]:
        return self.chat.sent

    def say(self, content: str, source: str = "alice", channel: str = "#pubbot",
            private: bool = False, *, network: Optional[str] = None, **fields: Any) -> Deferred:
        """Publish a chat line (on C{network}, default C{chat}'s); fires with the chosen L{Reply} or None."""
        fields.setdefault("hostmask", "%s!%s@example.org" % (source, source.lower()))
        fields.setdefault("account", None)
        if private:
            channel = source
        return self.bot.chat_line(network or self.chat.network, channel, source, content,
                                  private=private, **fields)

    def reply(self, content: str, **kwargs: Any) -> Optional[str]:
        """
        Say C{content} and return the reply's text (lines joined with
        newlines), or None. The handlers must have finished by the time this
        returns (advance the clock first if they wait on it).
        """
        result = self._now(self.say(content, **kwargs))
        return "\n".join(result.lines) if isinstance(result, Reply) else None

    def event(self, channel: str, kind: str, /, *, network: Optional[str] = None, **fields: Any) -> Any:
        """Publish a join or leave (C{kind} the topic's last word); returns the reply, if any."""
        return self._now(self.bot.chat_event(network or self.chat.network, channel, kind, **fields))

    def join(self, nick: str, channel: str = "#pubbot", *, network: Optional[str] = None,
             **fields: Any) -> Any:
        fields.setdefault("hostmask", "%s!%s@example.org" % (nick, nick.lower()))
        return self.event(channel, "join", network=network, source=nick, **fields)

    def publish(self, topic: str, **fields: Any) -> Any:
        return self._now(self.bot.publish(topic, **fields))

    def stop(self) -> Any:
        return self._now(self.bot.stop())

    @staticmethod
    def _now(d: Deferred) -> Any:
        results: list = []
        d.addBoth(results.append)
        if not results:
            raise AssertionError("the handlers have not finished; advance the clock?")
        outcome = results[0]
        if hasattr(outcome, "raiseException"):
            outcome.raiseException()
        return outcome
