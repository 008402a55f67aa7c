"""
Reminders kept in the store and fired once by the cluster.

Every reminder is a field of the store's hash C{reminders:due} (id ->
JSON: where, for whom, what, when). Each process looks for due ones every
L{CHECK} seconds; the one whose C{HDEL} of the field removes it fires it,
so a reminder fires exactly once whatever the number of processes, and
one due while every process was down fires when one is back, marked late.
Bounded: L{MAX_PER_PERSON} pending a person, L{MAX_TOTAL} in all.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from ..util.text import one_line
from ..util.timefmt import format_duration
from .when import zone_of

log = Logger()

DUE_KEY = "reminders:due"
ZONES_KEY = "reminders:zones"
IDS_KEY = "reminders:next-id"
MAX_PER_PERSON = 20
MAX_TOTAL = 2000
#: People whose time zone is kept, at most (a new one is refused beyond).
MAX_ZONES = 10000
#: How often due reminders are looked for (s).
CHECK = 5.0
#: Later than this past its time, a reminder says it is late.
LATE = 60.0
MAX_TEXT = 300


@dataclass(frozen=True)
class Reminder:
    id: str
    network: str
    place: str  # a channel, or a nick for a private reminder
    person: str  # the person_key of who set it
    nick: str
    text: str
    due: float
    created: float
    mine: bool  # "remind me": addressed to the nick

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: Any) -> Reminder | None:
        try:
            return cls(**json.loads(text))
        except Exception:
            return None


class ReminderBook:
    """The reminders of C{bot}'s store: set, list, cancel, and fire when due."""

    def __init__(self, bot: Any):
        self.bot = bot
        self.store = bot.store
        self._loop: LoopingCall | None = None

    async def all(self) -> list[Reminder]:
        stored = await self.store.hgetall(DUE_KEY) or {}
        found = (Reminder.from_json(v) for v in stored.values())
        return sorted((r for r in found if r is not None), key=lambda r: (r.due, int(r.id)))

    async def zone_name(self, person: str) -> str:
        return await self.store.hget(ZONES_KEY, person) or ""

    async def set_zone(self, person: str, name: str) -> bool:
        """Keep C{person}'s zone; False (nothing kept) when L{MAX_ZONES} other people have one."""
        if not await self.zone_name(person) and len(await self.store.hgetall(ZONES_KEY) or {}) >= MAX_ZONES:
            return False
        await self.store.hset(ZONES_KEY, person, name)
        return True

    async def zone(self, person: str, default: str) -> Any:
        return zone_of(await self.zone_name(person), default)

    async def add(self, network: str, place: str, person: str, nick: str, text: str, due: float,
                  mine: bool) -> str:
        current = await self.all()
        if len(current) >= MAX_TOTAL:
            return "I hold %d reminders already; try again when some have gone off." % (MAX_TOTAL,)
        if sum(1 for r in current if r.person == person) >= MAX_PER_PERSON:
            return "%s: you have %d reminders waiting already; cancel one first (!remind list)." % (
                nick, MAX_PER_PERSON)
        number = await self.store.incr(IDS_KEY)
        now = self.bot.clock.seconds()
        text = one_line(text, MAX_TEXT)
        reminder = Reminder(str(number), network, place, person, nick, text, due, now, mine)
        await self.store.hset(DUE_KEY, reminder.id, reminder.to_json())
        return "OK %s, reminder %s in %s." % (nick, reminder.id, format_duration(round(due - now)))

    async def mine(self, person: str) -> list[Reminder]:
        return [r for r in await self.all() if r.person == person]

    async def cancel(self, person: str, number: str) -> bool:
        for reminder in await self.mine(person):
            if reminder.id == number:
                return bool(await self.store.hdel(DUE_KEY, reminder.id))
        return False

    # firing

    def start(self) -> None:
        self._loop = LoopingCall(self.check)
        self._loop.clock = self.bot.clock
        self._loop.start(CHECK, now=True)

    def stop(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    def check(self) -> Deferred:
        """Fire what is due. Never fails."""
        d = Deferred.fromCoroutine(self._check())
        d.addErrback(lambda f: log.failure("reminders: checking for due reminders failed", f))
        return d

    async def _check(self) -> int:
        now = self.bot.clock.seconds()
        fired = 0
        for reminder in await self.all():
            if reminder.due > now:
                break
            if await self.store.hdel(DUE_KEY, reminder.id):  # this process took it: it fires it
                self.fire(reminder, now)
                fired += 1
        return fired

    def fire(self, reminder: Reminder, now: float) -> None:
        late = ""
        if now - reminder.due > LATE:
            when = datetime.fromtimestamp(reminder.due, zone_of("UTC")).strftime("%Y-%m-%d %H:%M UTC")
            late = " (late: it was due at %s, while I was away)" % (when,)
        if reminder.mine:
            text = "%s: reminder: %s%s" % (reminder.nick, reminder.text, late)
        else:
            text = "Reminder from %s: %s%s" % (reminder.nick, reminder.text, late)
        self.bot.send(reminder.network, reminder.place, text, "say")
        log.info("reminders: fired {id} for {nick}", id=reminder.id, nick=reminder.nick)
