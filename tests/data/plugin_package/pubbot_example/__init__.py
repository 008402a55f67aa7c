"""An installed plugin: a command and a settings table ([example])."""

from dataclasses import dataclass

from pubbot.api import command, key, section

from .wording import repeat


@section("example")
@dataclass(frozen=True)
class ExampleSettings:
    greeting: str = key("hello from a package")
    times: int = key(1)


@command("example")
def example(msg):
    """Says [example] greeting, [example] times times."""
    settings = msg.bot.settings.example
    return repeat(settings.greeting, settings.times)
