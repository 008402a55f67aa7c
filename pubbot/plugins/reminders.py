"""
Reminders: C{!remind me in 2h30m take the bread out}, C{!remind #chan at
09:55 standup} (this channel; admins: any, C{#chan@network} on another
network), C{!remind list}, C{!remind
cancel N}, and C{!tz Europe/London} for the times you give. Kept in the
store and fired once by the cluster (see L{pubbot.reminders.book}).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from twisted.internet.defer import Deferred
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import IHandler, checks, clean_text, command, example, is_admin, key, person_key, section
from pubbot.reminders import book as reminder_book
from pubbot.reminders.book import ReminderBook
from pubbot.reminders.when import WhenError, parse_when, zone_of


@section("reminders")
@dataclass(frozen=True)
class ReminderSettings:
    """[reminders]: the time zone of reminder times for people who set none with !tz."""

    timezone: str = key("UTC", checks.timezone)


_BOOKS: WeakKeyDictionary[Any, ReminderBook] = WeakKeyDictionary()
USAGE = "Say: !remind me in 2h30m <what>, !remind #chan at 09:55 <what>, !remind list, !remind cancel <N>"


@implementer(IPlugin, IHandler)
class Reminders:
    """Owns the reminder book of the bot it runs in (and its checks for due reminders)."""

    name = "reminders"
    description = "Fires reminders set with !remind, once, even across restarts."
    triggers = ()
    subscriptions = ()

    def __init__(self) -> None:
        self.book: ReminderBook | None = None

    def start(self, bot) -> None:
        self.book = _BOOKS[bot] = ReminderBook(bot)
        self.book.start()

    def stop(self) -> None:
        if self.book is not None:
            self.book.stop()
            if _BOOKS.get(self.book.bot) is self.book:
                del _BOOKS[self.book.bot]
        self.book = None

    def handle(self, msg) -> None:
        return None


reminders = Reminders()


def _when(due: float, zone: Any) -> str:
    return datetime.fromtimestamp(due, zone).strftime("%Y-%m-%d %H:%M %Z")


def _channel(msg, word: str) -> tuple[str, str]:
    """C{(network, channel)} of C{#chan} or C{#chan@network} (a network the bot knows; else all a name)."""
    name, at, network = word.rpartition("@")
    if at and name and network in msg.bot.chat_services:
        return network, name
    return msg.network, word


def _book(msg) -> ReminderBook | None:
    return _BOOKS.get(msg.bot) if msg.bot is not None else None


@command("remind", args=r"(?P<rest>\S.*)", usage="me|#chan in 2h30m|at 09:55 <what> | list | cancel <N>",
         description="Reminds you (or a channel) of something at a time; 'remind list', 'remind cancel N'.")
@example("!remind me in 2h tea", "OK tester, reminder 1 in 2:00:00.")
@example("!remind list", "1: you at ...: tea")
@example("!remind cancel 1", "tester: reminder 1 cancelled.")
def remind(msg, rest=None):
    book = _book(msg)
    if book is None:
        return "Reminders are switched off here."
    return Deferred.fromCoroutine(_remind(msg, book, " ".join((rest or "").split())))


async def _remind(msg, book: ReminderBook, rest: str) -> Any:
    who, nick = person_key(msg), msg.source
    word, _, tail = rest.partition(" ")
    if word.lower() == "list":
        waiting = await book.mine(who)
        if not waiting:
            return "%s: you have no reminders waiting." % (nick,)
        zone = await book.zone(who, msg.bot.settings.reminders.timezone)
        return {"content": ["%s: %s at %s: %s" % (
            r.id, "you" if r.mine else r.place, _when(r.due, zone), r.text) for r in waiting[:10]]}
    if word.lower() == "cancel":
        number = tail.strip().lstrip("#")
        if await book.cancel(who, number):
            return "%s: reminder %s cancelled." % (nick, clean_text(number, 20))
        return "%s: you have no reminder %s (see !remind list)." % (nick, clean_text(number, 20))
    network = msg.network
    if word.lower() == "me":
        place, mine = (msg.channel if not msg.private else nick), True
    elif word[:1] in "#&" and len(word) > 1:
        network, place = _channel(msg, word)
        if (network != msg.network or place.lower() != str(msg.channel).lower()) and not is_admin(msg):
            return "%s: I remind a channel only from inside it (admins: any)." % (nick,)
        if network not in msg.bot.chat_services:
            return "%s: I am not on %s." % (nick, clean_text(network, 40))
        if len(place) > 50 or "," in place or clean_text(place, 60) != place:
            return "%s: %s is not a channel's name." % (nick, clean_text(place, 60))
        mine = False
    else:
        return USAGE
    zone = await book.zone(who, msg.bot.settings.reminders.timezone)
    try:
        due, text = parse_when(tail, msg.bot.clock.seconds(), zone)
    except WhenError as e:
        return "%s: %s." % (nick, e)
    return await book.add(network, place, who, nick, text, due, mine)


@command("tz", args=r"(?P<zone>\S+)", usage="[Area/City]",
         description="Sets (or says) the time zone your reminder times are in, e.g. 'tz Europe/London'.")
@example("!tz Europe/Paris", "tester: OK, your times are in Europe/Paris.")
def tz(msg, zone=None):
    book = _book(msg)
    if book is None:
        return "Reminders are switched off here."

    async def answer() -> str:
        who = person_key(msg)
        if not zone:
            name = await book.zone_name(who) or msg.bot.settings.reminders.timezone or "UTC"
            return "%s: your times are in %s." % (msg.source, name)
        if zone_of(zone, "").key != zone and zone != "UTC":
            return "%s: I know no time zone %s; say one like Europe/London." % (
                msg.source, clean_text(zone, 40))
        if not await book.set_zone(who, zone):
            return "%s: I keep the time zones of %d people already; yours stays %s." % (
                msg.source, reminder_book.MAX_ZONES, msg.bot.settings.reminders.timezone or "UTC")
        return "%s: OK, your times are in %s." % (msg.source, zone)
    return Deferred.fromCoroutine(answer())
