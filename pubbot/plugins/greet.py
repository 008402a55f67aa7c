"""Greets people who join, from the C{[greet] templates}."""

from __future__ import annotations

from typing import Optional

from pubbot.api import Handler
from pubbot.people import person_key
from pubbot.plugins.education import fill, one_line
from pubbot.ratelimit import Limits

DAY = 24 * 60 * 60


class Greeter(Handler):
    """The C{greet} handler; its limits live as long as the bot it serves."""

    def __init__(self):
        super().__init__(self.greet, ["chat.*.*.join"], name="greet", triggers=("(someone joins)",))
        self.limits: Optional[Limits] = None

    def start(self, bot) -> None:
        super().start(bot)
        self.limits = Limits(bot.clock, person=(1, DAY), channel=(1, 60))

    def stop(self) -> None:
        self.limits = None
        super().stop()

    def greet(self, msg) -> Optional[dict]:
        """Greets people who join: each at most once a day, each channel at most once a minute."""
        limits, templates = self.limits, msg.bot.settings.greet.templates
        nick = msg.fields.get("source")
        if limits is None or not templates or not nick:
            return None
        network = msg.fields["network"]
        if nick.lower() == msg.bot.nick(network).lower():
            return None
        if not limits.allow((network, person_key(msg)), (network, msg.fields["channel"])):
            return None
        template = msg.bot.random.choice(templates)
        return {"content": one_line(fill(template, {"nick": nick, "channel": msg.fields["channel"]}))}


greeter = Greeter()
