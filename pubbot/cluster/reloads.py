"""
C{!reload} in every process of a scaled-out bot, over the fan-out channel.

The process that handled C{!reload <plugin>} reloads it first (see
L{pubbot.reload.PluginReloader}); when that worked, L{ClusterReload}
publishes a C{reload} event naming the plugin and a request id. Every
other process reloads the plugin in turn and publishes a C{reloaded} event
with its outcome (C{ok}, or the error in one line). The asking process
waits for the live processes the heartbeat last listed (C{bot.state
["cluster"]["processes"]}), at most L{PEER_TIMEOUT} seconds (less when the
handler timeout is shorter), and reports who reloaded, who failed and who
did not answer. Jobs run in the lease holder, which reloads like any
other process: they run the new code from then on.

Pub/sub is fire-and-forget: a process unreachable at that moment keeps
its old code and is named as not answering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from zope.interface import implementer

from ..core.interfaces import IReloadPeers
from ..reload import PeerReport, ReloadError
from .fanout import FanOut

log = Logger()

#: Seconds the asking process waits for the others' answers, at most.
PEER_TIMEOUT = 5.0
#: The share of C{[plugins] timeout} the wait may take (the answer must come before it).
TIMEOUT_SHARE = 0.8
#: Longest plugin name, request id and error text taken from an event.
MAX_NAME = 100
MAX_REQUEST = 200
MAX_ERROR = 300
#: Most reload requests waiting for answers at once (more are answered at once: no peers asked).
MAX_PENDING = 16


@dataclass
class _Request:
    """A reload asked of the others: who is expected, what they said, and its answer."""

    expected: set[str]
    done: Deferred
    reloaded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    timer: Any = None

    def answered(self) -> set[str]:
        return set(self.reloaded) | {process for process, _ in self.failed}

    def report(self) -> PeerReport:
        silent = sorted(self.expected - self.answered())
        return PeerReport(tuple(self.reloaded), tuple(self.failed), tuple(silent))


@implementer(IReloadPeers)
class ClusterReload:
    """The other processes of C{bot}'s cluster, for C{reloader} (see the module docstring)."""

    def __init__(self, bot: Any, reloader: Any, fanout: FanOut, clock: Any):
        self.bot = bot
        self.reloader = reloader
        self.fanout = fanout
        self.clock = clock
        self.origin = bot.process_id
        self._pending: dict[str, _Request] = {}
        self._counter = 0
        fanout.listeners["reload"] = self.asked
        fanout.listeners["reloaded"] = self.answered

    def others(self) -> set[str]:
        """The live processes but this one, as the last heartbeat listed them."""
        listed = self.bot.state.get("cluster", {}).get("processes") or []
        found = {str(info["process"]) for info in listed
                 if isinstance(info, dict) and info.get("process")}
        found.discard(self.origin)
        return found

    def timeout(self) -> float:
        return min(PEER_TIMEOUT, self.bot.settings.plugins.timeout * TIMEOUT_SHARE)

    # asking

    def reload(self, name: str) -> Deferred:
        """Ask the others to reload plugin C{name}; fires with a L{PeerReport} (see L{IReloadPeers})."""
        others = self.others()
        done: Deferred = Deferred()
        if len(self._pending) >= MAX_PENDING:
            log.warn("{count} reloads wait for answers; not asking the other processes", count=MAX_PENDING)
            done.callback(PeerReport(silent=tuple(sorted(others))))
            return done
        self._counter += 1
        request_id = "%s#%d" % (self.origin, self._counter)
        request = _Request(others, done)
        self._pending[request_id] = request
        request.timer = self.clock.callLater(self.timeout(), self._finish, request_id)
        log.info("asking {count} other processes to reload {plugin}", count=len(others), plugin=name)
        self.fanout.publish("reload", plugin=name, request=request_id)
        if not others:
            self._finish(request_id)  # none listed (yet): any that exist load the new code when they start
        return done

    def answered(self, event: dict) -> None:
        """A C{reloaded} event: one process's outcome of a request."""
        request = self._pending.get(_text(event.get("request"), MAX_REQUEST))
        process = _text(event.get("origin"), MAX_NAME)
        if request is None or not process or process in request.answered():
            return
        if event.get("ok") is True:
            request.reloaded.append(process)
        else:
            request.failed.append((process, _text(event.get("error"), MAX_ERROR) or "failed"))
        if request.expected <= request.answered():
            self._finish(_text(event.get("request"), MAX_REQUEST))

    def _finish(self, request_id: str) -> None:
        request = self._pending.pop(request_id, None)
        if request is None:
            return
        if request.timer is not None and request.timer.active():
            request.timer.cancel()
        request.done.callback(request.report())

    # asked

    def asked(self, event: dict) -> None:
        """A C{reload} event from another process: reload here and say how it went."""
        name = _text(event.get("plugin"), MAX_NAME)
        request_id = _text(event.get("request"), MAX_REQUEST)
        origin = event.get("origin")
        if not name or not request_id:
            log.error("ignored a malformed reload request from {origin}", origin=event.get("origin"))
            return
        try:
            self.reloader.reload(name)
        except ReloadError as e:
            log.warn("plugin {plugin} not reloaded as {origin} asked: {error}", plugin=name,
                     origin=origin, error=str(e))
            self.fanout.publish("reloaded", request=request_id, ok=False, error=str(e))
            return
        except Exception as e:  # a reloader bug must not go unanswered (the old code runs on)
            log.failure("plugin {plugin} not reloaded as {origin} asked", plugin=name, origin=origin)
            error = "%s: %s" % (type(e).__name__, e)
            self.fanout.publish("reloaded", request=request_id, ok=False, error=error)
            return
        log.info("reloaded plugin {plugin} as {origin} asked", plugin=name, origin=origin)
        self.fanout.publish("reloaded", request=request_id, ok=True)


def _text(value: Any, most: int) -> str:
    """C{value} when it is a string (cut to C{most} characters), else ""."""
    return value[:most] if isinstance(value, str) else ""
