"""
Jobs: functions a plugin runs on a timer, with the bot.

    @every(3600)
    def hourly(bot): ...

    @cron("55 9 * * 1-5")
    def standup(bot): bot.announce(["#team"], "standup in 5 minutes")

and C{bot.later(seconds, func, *args)} for one run. A job is a handler
(it provides L{IHandler}, subscribed to nothing), so the loader finds it,
C{[plugins] disabled} names it, and it starts and stops with its plugin:
stopping or reloading the plugin cancels it.

Runs are isolated like handlers' calls: one that raises, fails or runs
past its timeout (C{[plugins] timeout} unless given) is logged and
counted, and the job goes on. A job never overlaps itself: a run due
while the last one is still going is skipped (and counted). Time is the
bot's injected clock, so tests drive jobs with C{Clock.advance}.

In a cluster only the process holding the IRC lease runs jobs (L{Jobs.owner},
set by L{pubbot.cluster.wiring}): the others keep the schedule and skip
the runs, so a new owner goes on from the next one.

Cron expressions are read by croniter (five fields, in the C{timezone}
given, else the machine's local time, as cron does), imported by the first
cron job: croniter and dateutil are 0.65 MB that a bot without one does not
hold.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, tzinfo
from inspect import iscoroutine
from typing import Any
from zoneinfo import ZoneInfo

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.defer import TimeoutError as DeferredTimeout
from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from .botapi import PluginBot
from .interfaces import IHandler

log = Logger()

#: A job: called with the bot (a L{PluginBot}); may return a Deferred or be a coroutine function.
JobFunction = Callable[[PluginBot], Any]


class JobStats:
    """What the dashboard and /metrics show of a job."""

    __slots__ = ("runs", "failures", "timeouts", "skipped", "next_run", "last_run", "running")

    def __init__(self) -> None:
        self.runs = 0
        self.failures = 0
        self.timeouts = 0
        self.skipped = 0
        self.next_run: float | None = None
        self.last_run: float | None = None
        self.running = False


@implementer(IPlugin, IHandler)
class Job:
    """A function run on a schedule: every C{seconds}, or when C{cron_expr} says."""

    subscriptions: tuple = ()
    triggers: tuple = ()

    def __init__(self, func: Callable, seconds: float | None = None, cron_expr: str | None = None,
                 tz: str | None = None, name: str | None = None, timeout: float | None = None):
        self.func = func
        self.seconds = seconds
        self.cron_expr = cron_expr
        self.tz: tzinfo | None = ZoneInfo(tz) if tz else None
        self.name = name or func.__name__
        self.description = (func.__doc__ or "").strip().split("\n", 1)[0]
        self.timeout = timeout
        self.bot: Any = None
        self.__doc__ = func.__doc__
        self.__name__ = func.__name__

    @property
    def schedule(self) -> str:
        return "every %gs" % (self.seconds,) if self.seconds is not None else "cron %s" % (self.cron_expr,)

    def next_after(self, now: float, last_due: float | None) -> float:
        """When to run next, C{now} being the time and C{last_due} when the last run was due."""
        if self.seconds is not None:
            due = (last_due if last_due is not None else now) + self.seconds
            return due if due > now else now + self.seconds
        tz = self.tz or datetime.now().astimezone().tzinfo or UTC
        return float(_croniter()(self.cron_expr, datetime.fromtimestamp(now, tz)).get_next(float))

    def handle(self, message: Any) -> None:
        return None

    def start(self, bot: Any) -> None:
        self.bot = bot
        bot.jobs.add(self)

    def stop(self) -> None:
        if self.bot is not None:
            self.bot.jobs.remove(self)
        self.bot = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        return "<Job %s %s>" % (self.name, self.schedule)


def _croniter() -> Any:
    """croniter's class, imported on first use (see the module's docstring)."""
    from croniter import croniter
    return croniter


def every(seconds: float, name: str | None = None,
          timeout: float | None = None) -> Callable[[JobFunction], Job]:
    """Run the function with the bot every C{seconds} (the first time C{seconds} after start)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError("every(): seconds must be a number > 0, not %r" % (seconds,))

    def decorate(func: JobFunction) -> Job:
        return Job(func, seconds=float(seconds), name=name, timeout=timeout)

    return decorate


def cron(expression: str, timezone: str | None = None, name: str | None = None,
         timeout: float | None = None) -> Callable[[JobFunction], Job]:
    """
    Run the function with the bot at the times of the cron C{expression}
    (C{"0 12 * * 1-5"}: noon on weekdays), in C{timezone} (a zone name;
    default the machine's local time).
    """
    if (not isinstance(expression, str) or len(expression.split()) != 5
            or not _croniter().is_valid(expression)):
        raise ValueError("cron(): %r is not a five-field cron expression" % (expression,))
    if timezone:
        ZoneInfo(timezone)  # raises for an unknown zone, at import

    def decorate(func: JobFunction) -> Job:
        return Job(func, cron_expr=expression, tz=timezone, name=name, timeout=timeout)

    return decorate


def _module_of(func: Any) -> str:
    owner = getattr(func, "__self__", None)
    module = getattr(func, "__module__", None)
    if module is None and owner is not None:
        module = type(owner).__module__
    return module or "?"


class Later:
    """A run of L{Jobs.later}: C{cancel()} it before it runs."""

    def __init__(self, jobs: Jobs, module: str, namespace: Any) -> None:
        self._jobs = jobs
        self.module = module
        #: The globals of the function's module (the module object's, not a reloaded one's).
        self.namespace = namespace
        self.call: Any = None

    @property
    def active(self) -> bool:
        return self.call is not None and self.call.active()

    def cancel(self) -> None:
        if self.active:
            self.call.cancel()
        self._jobs._later.discard(self)


class Jobs:
    """The bot's jobs (C{bot.jobs}): schedules, runs in isolation, counts."""

    def __init__(self, bot: Any, owner: Callable[[], bool] | None = None) -> None:
        self.bot = bot
        self.clock = bot.clock
        #: Whether this process runs jobs (the cluster's IRC lease holder, or the only process).
        self.owner: Callable[[], bool] = owner or (lambda: True)
        self.stats: dict[str, JobStats] = {}
        self._jobs: dict[Job, Any] = {}
        self._due: dict[Job, float] = {}
        self._later: set[Later] = set()

    @property
    def timeout(self) -> float:
        return self.bot.settings.plugins.timeout

    def add(self, job: Job) -> None:
        """Schedule C{job} (done by its C{start})."""
        self.remove(job)
        self.stats[job.name] = self.stats.get(job.name) or JobStats()
        self._schedule(job, None)

    def remove(self, job: Job) -> None:
        """Cancel C{job}'s next run (done by its C{stop}); a run under way finishes."""
        call = self._jobs.pop(job, None)
        self._due.pop(job, None)
        if call is not None and call.active():
            call.cancel()
        stats = self.stats.get(job.name)
        if stats is not None and not any(j.name == job.name for j in self._jobs):
            stats.next_run = None  # (a reloaded job of the same name goes on with the figures)

    def _schedule(self, job: Job, last_due: float | None) -> None:
        now = self.clock.seconds()
        try:
            due = job.next_after(now, last_due)
        except Exception:
            log.failure("job {job} cannot be scheduled; it will not run", job=job.name)
            return
        self._due[job] = due
        self.stats[job.name].next_run = due
        self._jobs[job] = self.clock.callLater(max(0.0, due - now), self._fire, job)

    def _fire(self, job: Job) -> None:
        due = self._due.get(job)
        self._schedule(job, due)
        stats = self.stats[job.name]
        if not self.owner():
            return
        if stats.running:
            stats.skipped += 1
            log.warn("job {job} is still running; this run is skipped", job=job.name)
            return
        stats.running = True
        stats.runs += 1
        stats.last_run = self.clock.seconds()

        def done(_: Any) -> None:
            stats.running = False

        self._run(job.name, job.func, (self.bot,), job.timeout, stats).addBoth(done)

    def _run(self, name: str, func: Callable, args: tuple, timeout: float | None,
             stats: JobStats | None) -> Deferred:
        """Call C{func(*args)}: failures and timeouts logged and counted; never fails."""
        def call() -> Any:
            value = func(*args)
            return Deferred.fromCoroutine(value) if iscoroutine(value) else value

        d = maybeDeferred(call)
        limit = self.timeout if timeout is None else timeout
        if not d.called:
            d.addTimeout(limit, self.clock)

        def failed(failure: Any) -> None:
            if stats is not None:
                stats.failures += 1
            if failure.check(DeferredTimeout):
                if stats is not None:
                    stats.timeouts += 1
                log.warn("job {job} timed out after {timeout}s", job=name, timeout=limit)
            else:
                log.failure("job {job} failed", failure, job=name)

        return d.addCallbacks(lambda _: None, failed)

    def later(self, seconds: float, func: Callable, *args: Any) -> Later:
        """
        Run C{func(*args)} once, C{seconds} from now, isolated like a job;
        cancelled when the plugin that asked (C{func}'s module) is stopped
        or reloaded. Returns a L{Later}, whose C{cancel()} stops it.
        """
        handle = Later(self, _module_of(func), getattr(func, "__globals__", None))
        name = getattr(func, "__qualname__", repr(func))

        def fire() -> None:
            self._later.discard(handle)
            self._run(name, func, args, None, None)

        handle.call = self.clock.callLater(max(0.0, seconds), fire)
        self._later.add(handle)
        return handle

    def cancel_module(self, module: Any) -> int:
        """
        Cancel the L{later} runs asked for by C{module} (a module object:
        its functions only, not a reloaded copy's; or a module's name);
        how many there were.
        """
        if isinstance(module, str):
            gone = [h for h in self._later if h.module == module]
        else:
            namespace = vars(module)
            gone = [h for h in self._later if h.namespace is namespace]
        for h in gone:
            h.cancel()
        return len(gone)

    def stop(self) -> None:
        """Cancel everything (the bot is stopping)."""
        for job in list(self._jobs):
            self.remove(job)
        for h in list(self._later):
            h.cancel()

    def report(self) -> list[dict]:
        """Each scheduled job's figures, for the dashboard and /metrics."""
        out = []
        for job in self._jobs:
            s = self.stats[job.name]
            out.append({"name": job.name, "schedule": job.schedule, "runs": s.runs, "failures": s.failures,
                        "timeouts": s.timeouts, "skipped": s.skipped, "running": s.running,
                        "next_run": s.next_run, "last_run": s.last_run})
        return sorted(out, key=lambda j: j["name"])
