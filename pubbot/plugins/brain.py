"""
The chat brain: learns how the channel talks and answers in kind.

Every channel line that is not addressed to the bot (nor a command) is
learned as word trigrams, in memory (see L{pubbot.brain.model}); the changed
parts go to the store every C{[brain] flush_seconds}. Say something to the
bot and it answers with a sentence built around your words, or "You make no
sense" when it knows none of them. Admins can make it C{unlearn} words.

With a Redis store (a cluster) the brain is one for all the processes: the
IRC owner journals the lines, every process learns them from the journal,
and the owner alone writes the shards (see L{pubbot.brain.shared}).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, DeferredLock, succeed
from twisted.internet.interfaces import IReactorProcess
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from pubbot.api import (
    CHAT_LINES,
    Guard,
    IBatchHandler,
    ICommandWords,
    channel_settings,
    checks,
    handle_each,
    key,
    patterns,
    section,
)
from pubbot.brain.host import IBrainModel, InlineModel, LearnerProcess, resolved
from pubbot.brain.model import TrigramModel
from pubbot.brain.shared import FOLLOW_SECONDS, Follower, shared_store
from pubbot.brain.stored import merge_shards, write_changed


@section("brain")
@dataclass(frozen=True)
class BrainSettings:
    """[brain]: the chatter model's size, saving, who it never learns from, and its process."""

    max_trigrams: int = key(200000, checks.positive)
    flush_seconds: float = key(5.0, checks.positive)
    ignore: tuple[str, ...] = key([], checks.nicks)  # nicks (other bots) never learned from
    process: bool = key(True)  # learn in a process of its own (another core), when the reactor can start one
    #: The chance it answers when spoken to in a channel (0: it only learns there); per channel.
    chattiness: float = key(1.0, checks.chance, per_channel=True)


log = Logger()

#: A flush while running writes rounds of at most this many shards (about
#: 64 trigrams each) and files at most FLUSH_TRIGRAMS changed trigrams per
#: round; it awaits the store between rounds, so the reactor serves chat in
#: between and no round holds it for more than about a millisecond.
FLUSH_SHARDS = 32
FLUSH_TRIGRAMS = 1000
#: Rounds per flush (None: until everything changed is written).
FLUSH_ROUNDS = None

#: The brain's answers lose to every other plugin's (as in the original).
REPLY_WEIGHT = -999
NO_SENSE = "You make no sense"
#: Said when the stored model has not loaded L{LOAD_WAIT} seconds after a question.
WARMING_UP = "%s: I'm still waking up (loading what I learned); ask me again in a moment."
#: How long a question waits for the stored model to load before the answer says so.
LOAD_WAIT = 5.0

# On RE2 (pubbot.util.patterns). Who may unlearn is asked on the word alone, before the rest is read.
_UNLEARN_SAID = patterns.linear(r"unlearn(?:\s|\Z)", re.IGNORECASE)
_UNLEARN = patterns.linear(r"unlearn(?:\s+(?P<words>.*?))?\s*\Z", re.IGNORECASE | re.DOTALL)


def _host(model: Any) -> Any:
    """An L{IBrainModel} for C{model} (a TrigramModel or already one)."""
    return model if IBrainModel.providedBy(model) else InlineModel(model)


async def load_model(model: Any, store, merged: set[str] | None = None) -> tuple[int, int]:
    """
    Merge the stored shards into C{model} (a TrigramModel or an IBrainModel);
    returns (shards read, bad entries). C{merged} holds the keys of shards
    already merged into C{model} (skipped; each one merged is added), so a
    load retried after failing part way counts no shard twice.
    """
    read, bad, _ = await merge_shards(_host(model), store, merged)
    return read, bad


async def save_model(model: Any, store, max_shards: int | None = None,
                     max_trigrams: int | None = None, rounds: int | None = None) -> int:
    """
    Write the shards C{model} (a TrigramModel or an IBrainModel) changed to
    C{store}, in rounds of at most C{max_shards} shards (and C{max_trigrams}
    changed trigrams) each when given, until none is left or C{rounds}
    rounds are done (the rest wait for the next call). Each round waits on
    the store, so the reactor runs between rounds. Returns how many shards
    were written.
    """
    host = _host(model)
    written = 0
    round_ = 0
    while True:
        written += await write_changed(host, store, max_shards, max_trigrams, _payload)
        round_ += 1
        if max_shards is not None and rounds is not None and round_ >= rounds:
            return written
        if not await resolved(host.has_dirty()):
            return written


def _payload(data: Any) -> Any:
    """A changed shard as the store keeps it (None, an emptied one: deleted)."""
    return data if data else None


def _unlearning(fields: dict) -> bool:
    """Is the line (its fields) the C{unlearn} command, addressed or with the prefix?"""
    command = fields.get("command")
    return (command is not None and command[:7].lower() == "unlearn"
            and _UNLEARN_SAID.match(command) is not None)


def _then(value: Any, f) -> Any:
    """C{f(value)}, or a Deferred of it when C{value} is one (the learner process answers later)."""
    return value.addCallback(f) if isinstance(value, Deferred) else f(value)


@implementer(IPlugin, IBatchHandler, ICommandWords)
class Brain:
    """
    The brain plugin: one model per running bot, in a learner process of
    its own (C{[brain] process}, when the reactor can start one) or in the
    bot's. A batch of lines is learned with one call per run of lines
    between those addressed to the bot, each answered once the lines before
    it are learned. C{unlearn <words>} (addressed, or with the command
    prefix) is for admins unless C{[permissions] unlearn} says otherwise.
    """

    name = "brain"
    description = ("Learns from the channel's chatter and answers when spoken to; "
                   "admins can make it unlearn words.")
    triggers = ("unlearn <words>",)
    subscriptions = (CHAT_LINES,)

    def __init__(self, shared: bool | None = None) -> None:
        #: One brain for a cluster (see L{pubbot.brain.shared}); None: when the store is Redis.
        self.shared = shared
        #: The journal follower, in a cluster; else None.
        self.follower: Follower | None = None
        self._follow_loop: LoopingCall | None = None
        self._journal_failing = False
        self.bot: Any = None
        self.guard = Guard("unlearn", "admin", refusal="%(nick)s: only admins can make me unlearn things.")
        self.guards: tuple[Guard, ...] = (self.guard,)
        #: The model when it lives in this process (None in a learner process).
        self.model: TrigramModel | None = TrigramModel()
        self.host: Any = InlineModel(self.model)
        self.loaded = False
        #: Questions waiting for the stored model: fired True when it loads, False at their timeout.
        self._load_waiters: list[Deferred] = []
        self._loop: LoopingCall | None = None
        self._lock = DeferredLock()
        #: The model being loaded and the stored shards merged into it so far (see L{load_model}).
        self._merged: tuple[Any, set[str]] = (None, set())
        self._ignore: frozenset = frozenset()
        #: Learner processes lost, and the lines those did not learn.
        self._lost_learners = 0
        self._lost_dropped = 0
        self._lost_pauses = 0

    def start(self, bot) -> None:
        settings = bot.settings.brain
        self.bot = bot
        self.guard.start(bot.clock)
        self.loaded = False
        self._ignore = frozenset(n.lower() for n in settings.ignore)
        self.host = None
        if settings.process and IReactorProcess.providedBy(bot.clock):
            self.host = self._spawn(bot.clock, settings.max_trigrams)
        if self.host is None:
            self._inline(settings.max_trigrams)
        bot.state["brain"] = self.status
        shared = self.shared if self.shared is not None else shared_store(bot.store)
        self.follower = Follower(bot.store, bot.clock) if shared else None
        self._loop = LoopingCall(self.flush)
        self._loop.clock = bot.clock
        self._loop.start(settings.flush_seconds, now=True)
        if self.follower is not None:
            self.follower.on_trimmed = self._reload
            bot.heard_observers.append(self._heard)
            self._follow_loop = LoopingCall(self._follow)
            self._follow_loop.clock = bot.clock
            self._follow_loop.start(FOLLOW_SECONDS, now=False)

    def status(self) -> dict:
        """Where the model lives and how its learner keeps up, for /status and /metrics (read when asked)."""
        learner = self.host if isinstance(self.host, LearnerProcess) else None
        status: dict[str, Any] = {
            "learner": "process" if learner is not None else "inline",
            "backlog_bytes": learner.backlog if learner is not None else 0,
            "dropped_lines": self._lost_dropped + (learner.dropped if learner is not None else 0),
            "input_pauses": self._lost_pauses + (learner.pauses if learner is not None else 0),
            "input_paused": learner.pausing if learner is not None else False,
            "learners_lost": self._lost_learners,
            "learner_pid": learner.pid if learner is not None else None}
        follower = self.follower
        if follower is not None:  # in a cluster: how far this process has followed the journal
            journal = follower.journal
            status["journal"] = {"position": follower.position, "pending_lines": journal.pending_lines,
                                 "dropped_lines": journal.dropped, "skipped": follower.skipped}
        return status

    def _spawn(self, reactor, max_trigrams: int) -> LearnerProcess | None:
        """Start a learner process; None (logged) when it cannot be started."""
        learner = LearnerProcess(reactor, max_trigrams)
        learner.on_lost = lambda reason, learner=learner: self._lost(learner)
        learner.on_pressure = lambda on, learner=learner: self._pressure(learner, on)
        try:
            learner.start()
        except Exception:
            log.failure("brain: could not start a learner process; learning in the bot's process")
            return None
        self.model = None
        return learner

    def _pressure(self, learner: LearnerProcess, on: bool) -> None:
        """The learner is far behind (or has caught up): pause (or resume) the bot's input."""
        bot = self.bot
        if bot is None:
            return
        if on and self.host is learner:
            bot.hold_input(self)
        else:
            bot.release_input(self)

    def _reload(self) -> None:
        """Start from an empty model and load it anew (the journal moved on without this process)."""
        old = self.host
        if self.bot is None:
            return
        settings = self.bot.settings.brain
        host = None
        if isinstance(old, LearnerProcess):
            old.on_lost = None
            old.close()
            host = self._spawn(self.bot.clock, settings.max_trigrams)
        if host is not None:
            self.host = host
        else:
            self._inline(settings.max_trigrams)
        self.loaded = False

    def _inline(self, max_trigrams: int) -> None:
        self.model = TrigramModel(max_trigrams)
        self.host = InlineModel(self.model)

    def _lost(self, learner: LearnerProcess) -> None:
        """The learner process ended unasked: learn here from now on, reloading what was stored."""
        if self.host is not learner or self.bot is None:
            return
        log.error("brain: learning in the bot's process from now on; the stored model is loaded "
                  "again (what was learned since the last flush is lost)")
        self._lost_learners += 1
        self._lost_dropped += learner.dropped
        self._lost_pauses += learner.pauses
        self._inline(learner.max_trigrams)
        self.loaded = False
        if self.follower is not None:
            self.follower.host = None  # followed again once loaded

    def stop(self) -> Deferred:
        self.guard.stop()
        for loop in (self._loop, self._follow_loop):
            if loop is not None and loop.running:
                loop.stop()
        self._loop = self._follow_loop = None
        host = self.host
        follower = self.follower
        if follower is not None and self.bot is not None and self._heard in self.bot.heard_observers:
            self.bot.heard_observers.remove(self._heard)

        def stopped(_):
            if self.bot is not None:
                self.bot.release_input(self)
            self.bot = None  # no more flushes: the model (in a learner process: gone) is stored
            return host.close()
        d = self.flush(everything=True)
        if follower is not None:
            d.addCallback(lambda _: follower.close())
        return d.addCallback(stopped)

    # in a cluster

    def _heard(self, messages: Sequence) -> None:
        """This process read chat lines (it is the IRC owner): journal those to learn."""
        follower = self.follower
        if follower is None:
            return
        lines = [m for m in messages
                 if m.topic.startswith("chat.") and m.topic.endswith(".chat") and not m.fields.get("direct")]
        # what dispatch would not give the brain (ignored senders, channels it is off in) is not learned
        reaching = self.bot.dispatcher.reaching(self.name, lines) if lines else []
        texts = self._texts([m.fields for m in reaching])
        if texts:
            follower.journal.learn(texts)

    def _follow(self, catch_up: bool = False) -> Deferred:
        """Learn what the journal holds beyond this process's model (never fails)."""
        if self.follower is None or not self.loaded:
            return succeed(None)
        d = Deferred.fromCoroutine(self.follower.catch_up()) if catch_up else self.follower.sync()

        def read(_: Any) -> None:
            if self._journal_failing:
                self._journal_failing = False
                log.info("brain: reading the journal again")

        def failed(f: Any) -> None:
            if not self._journal_failing:  # once until it works again
                self._journal_failing = True
                log.warn("brain: could not read the journal: {error}", error=f.getErrorMessage())
        return d.addCallbacks(read, failed)

    # the hot path

    def handle(self, msg) -> Any:
        if msg.fields.get("direct") or _unlearning(msg.fields):
            return self.answer(msg)
        self._learn((msg.fields,))
        return None

    def handle_many(self, messages: Sequence) -> list | None:
        """L{handle} each message in order: a run of lines not addressed to the bot is learned at once."""
        fields = [msg.fields for msg in messages]
        directs = [i for i, f in enumerate(fields) if f.get("direct") or _unlearning(f)]
        if not directs:
            self._learn_run(fields)
            return None
        answers = []
        start = 0
        for i in directs:
            if i > start:
                self._learn_run(fields[start:i])
            start = i + 1
            answers += handle_each(self, messages, (i,), self.answer)
        if start < len(fields):
            self._learn_run(fields[start:])
        return answers

    def _texts(self, lines: Sequence[dict]) -> list:
        """What to learn of lines not addressed to the bot (their fields): not commands, private, ignored."""
        ignore = self._ignore
        return [f.get("content") or "" for f in lines
                if f.get("command") is None and not f.get("private")
                and not (ignore and str(f.get("source", "")).lower() in ignore)]

    def _learn(self, lines: Sequence[dict]) -> None:
        """Learn the lines (in a cluster the IRC owner journaled them: see L{_heard})."""
        if self.follower is not None:
            return
        texts = self._texts(lines)
        if texts:
            self.host.learn(texts)

    def _learn_run(self, lines: Sequence[dict]) -> None:
        """L{_learn}, logging a failure (what the run had left to learn is lost) so the batch goes on."""
        try:
            self._learn(lines)
        except Exception:
            log.failure("handler {plugin} failed to learn {count} lines", plugin=self.name, count=len(lines))

    # when spoken to

    def answer(self, msg) -> Any:
        text = msg.fields.get("content") or ""
        if _unlearning(msg.fields):
            refused = self.guard.admit(msg)
            if refused is not None:
                return refused.answer
            unlearn = _UNLEARN.match(msg.fields["command"])
            return self.unlearn(msg, (unlearn.group("words") if unlearn is not None else None) or "")
        if not msg.fields.get("private"):
            chance = channel_settings(msg).brain.chattiness
            if chance < 1.0 and msg.bot.random.random() >= chance:
                return None
        # The sentence is drawn from a generator seeded from the bot's
        # random source, so a seeded bot answers the same wherever the
        # model lives.
        seed = msg.bot.random.getrandbits(64)
        if not self.loaded:  # never "no sense" from an empty model while the stored one loads
            source = msg.source
            return self._until_loaded(msg.bot.clock).addCallback(
                lambda loaded: self._sentence(text, seed) if loaded else {"content": WARMING_UP % (source,)})
        return self._sentence(text, seed)

    def _sentence(self, text: str, seed: int) -> Any:
        if self.follower is not None:
            # Everything journaled before the question first.
            return self._follow(catch_up=True).addCallback(lambda _: self._reply(text, seed))
        return self._reply(text, seed)

    def _reply(self, text: str, seed: int) -> Any:
        return _then(self.host.reply(text, seed),
                     lambda sentence: {"content": sentence or NO_SENSE, "weight": REPLY_WEIGHT})

    def _until_loaded(self, clock) -> Deferred:
        """Fires True when the stored model has loaded, or False after L{LOAD_WAIT} seconds."""
        waiting: Deferred = Deferred()
        self._load_waiters.append(waiting)

        def give_up() -> None:
            if not waiting.called:
                waiting.callback(False)

        timer = clock.callLater(LOAD_WAIT, give_up)

        def settled(loaded: bool) -> bool:
            if timer.active():
                timer.cancel()
            if waiting in self._load_waiters:
                self._load_waiters.remove(waiting)
            return loaded
        return waiting.addCallback(settled)

    def _now_loaded(self) -> None:
        self.loaded = True
        waiters, self._load_waiters = self._load_waiters, []
        for waiting in waiters:
            if not waiting.called:
                waiting.callback(True)

    def unlearn(self, msg, words: str) -> Any:
        """Unlearn C{words} (the caller has passed the guard)."""
        targets = words.split()
        if not targets:
            return {"content": "Unlearn what? Say: unlearn <words>"}

        def done(removed: int) -> dict:
            log.info("brain: {who} made me unlearn {words} ({count} trigrams)",
                     who=msg.source, words=" ".join(targets), count=removed)
            if not removed:
                return {"content": "I knew nothing about %s." % (" ".join(targets),)}
            return {"content": "Forgotten: %d trigram%s with %s." % (
                removed, "" if removed == 1 else "s", " ".join(targets))}
        follower = self.follower
        if follower is None:
            return _then(self.host.unlearn(targets), done)

        async def journaled() -> dict:
            # Every process unlearns at the same point of the journal; this one tells how much.
            number = await follower.journal.unlearn(targets)
            if not await follower.sync_to(number):
                return {"content": "I will forget %s shortly." % (" ".join(targets),)}
            return done(follower.unlearned.pop(number, 0))
        return Deferred.fromCoroutine(journaled())

    # persistence

    def flush(self, everything: bool = False) -> Deferred:
        """
        Load the stored model if not yet done, else write what changed (at
        most L{FLUSH_SHARDS} shards unless C{everything}). Never fails.
        """
        if self.bot is None:
            return succeed(None)
        bot = self.bot
        return self._lock.run(lambda: Deferred.fromCoroutine(self._flush(bot, everything)))

    async def _flush(self, bot, everything: bool = False) -> None:
        store = bot.store
        host = self.host
        follower = self.follower
        if not self.loaded:
            try:
                if follower is not None:
                    read, bad = await follower.load(host)
                else:
                    if self._merged[0] is not host:  # a new model: nothing merged into it yet
                        self._merged = (host, set())
                    read, bad = await load_model(host, store, self._merged[1])
                size = await resolved(host.size())
            except Exception:
                # Not saving either: a partial model must not overwrite the stored one.
                log.failure("brain: could not load the model from the store; will retry")
                if follower is not None and host is self.host:
                    # Everything comes from the store and the journal: retry on an empty model.
                    self._reload()
                return
            if host is not self.host:
                return  # the learner was lost meanwhile: the next flush loads the new model
            self._now_loaded()
            if bad:
                log.warn("brain: skipped {bad} malformed stored entries", bad=bad)
            log.info("brain: loaded {shards} shards, {count} trigrams", shards=read, count=size)
        try:
            if follower is not None:
                if everything:
                    await follower.save(host, bot.jobs.owner)
                else:
                    await follower.save(host, bot.jobs.owner, FLUSH_SHARDS, FLUSH_TRIGRAMS, FLUSH_ROUNDS)
            elif everything:
                await save_model(host, store)
            else:
                await save_model(host, store, FLUSH_SHARDS, FLUSH_TRIGRAMS, FLUSH_ROUNDS)
        except Exception:
            log.failure("brain: could not save the model; will retry")


brain = Brain()
