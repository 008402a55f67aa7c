"""
Greets people who join, from the C{[greet] templates}.

A template that says C{back} or C{again} (C{Welcome back, %(nick)s}) is for
people who were here before: someone joining for the first time gets one of
the others, or L{FIRST_TIME} when every template welcomes people back. Who
was here before is kept by person (account, else user@host, see
L{person_key}) in the store for L{REMEMBER} seconds after their last join.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twisted.internet.defer import Deferred
from twisted.logger import Logger

from pubbot.api import Handler, Limits, channel_settings, fill, key, one_line, person_key, section


@section("greet")
@dataclass(frozen=True)
class GreetSettings:
    """[greet]: what the bot says to people who join."""

    templates: tuple[str, ...] = key(["Hello %(nick)s!", "Hi %(nick)s", "Welcome back, %(nick)s"],
                                     per_channel=True)


log = Logger()

DAY = 24 * 60 * 60
#: How long someone is remembered after their last join (then they are new again).
REMEMBER = 365 * DAY
KNOWN_PREFIX = "greet:known:"
#: The greeting for a first-time joiner when every template welcomes people back.
FIRST_TIME = "Welcome, %(nick)s!"

_RETURNING = re.compile(r"(?<!\w)(?:back|again)(?!\w)", re.IGNORECASE)


def for_returning(template: str) -> bool:
    """Does C{template} welcome someone back (and so not fit a first-time joiner)?"""
    return _RETURNING.search(template) is not None


class Greeter(Handler):
    """The C{greet} handler; its limits live as long as the bot it serves."""

    def __init__(self):
        super().__init__(self.greet, ["chat.*.*.join"], name="greet", triggers=("(someone joins)",))
        self.limits: Limits | None = None

    def start(self, bot) -> None:
        super().start(bot)
        self.limits = Limits(bot.clock, person=(1, DAY), channel=(1, 60))

    def stop(self) -> None:
        self.limits = None
        super().stop()

    def greet(self, msg) -> Deferred | None:
        """Greets people who join: each at most once a day, each channel at most once a minute."""
        limits, templates = self.limits, channel_settings(msg).greet.templates
        nick = msg.fields.get("source")
        if limits is None or not templates or not nick:
            return None
        network = msg.fields["network"]
        if nick.lower() == msg.bot.nick(network).lower():
            return None
        return Deferred.fromCoroutine(self._greet(msg, limits, tuple(templates), nick, network))

    @staticmethod
    async def _greet(msg, limits: Limits, templates: tuple, nick: str, network: str) -> dict | None:
        who = person_key(msg)
        store, key = msg.bot.store, "%s%s:%s" % (KNOWN_PREFIX, network, who)
        try:
            returning = await store.get(key) is not None
            await store.set(key, msg.bot.clock.seconds(), ttl=REMEMBER)
        except Exception:
            log.failure("greet could not read or note who joined before; greeting {nick} as new", nick=nick)
            returning = False  # "Welcome back" to a newcomer is the worse mistake
        if not limits.allow((network, who), (network, msg.fields["channel"])):
            return None
        if not returning:
            templates = tuple(t for t in templates if not for_returning(t)) or (FIRST_TIME,)
        template = msg.bot.random.choice(templates)
        return {"content": one_line(fill(template, {"nick": nick, "channel": msg.fields["channel"]}))}


greeter = Greeter()
