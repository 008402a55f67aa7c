# A drop-in plugin with a settings table, written from the README.
from dataclasses import dataclass

from pubbot.api import checks, command, key, section


@section("weather")
@dataclass(frozen=True)
class WeatherSettings:
    city: str = key("London")
    days: int = key(3, checks.positive)
    api_key: str = key("", secret=True)


@command("weather", args=r"(?P<place>\S.*)?", usage="[place]")
def weather(msg, place=None):
    """Says the weather of a place (by default [weather] city)."""
    settings = msg.bot.settings.weather
    return "%s: sunny for %d days" % (place or settings.city, settings.days)
