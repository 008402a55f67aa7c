"""
IRC ownership: a Redis lease, and the service that runs the owner's
children (IRC, music poller, ZeroMQ) only while this process holds it.

The lease is C{SET key token NX PX ms}, renewed while held and deleted on
a clean shutdown. Safety comes from local time: a renewal sent at C{t}
keeps the lease until at least C{t + duration} in Redis (Redis sees the
command after we sent it), so the holder gives up at C{t + duration -
margin} unless a later renewal succeeded. A process that cannot renew
(Redis down, paused, or this process frozen) therefore drops its IRC
connection before anyone else can get the lease.

Failover: a lease write counts only once it would survive the master's
failover (L{pubbot.cluster.redisclient.RedisClient.eval_durably}: every connected
replica acknowledged it with WAIT). A replica promoted after a crash
therefore holds the lease at least as long as its holder believes it
does, so nobody else can take it meanwhile; a write that no replica
acknowledged in time is treated as not done (not taken, not renewed).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService, Service
from twisted.internet.defer import Deferred, DeferredList, maybeDeferred, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

log = Logger()

#: Take the lease if it is free (SET NX PX), or extend it if it is already ours.
#: Returns {1} when held, else {0, holder's remaining ms, holder's token}.
ACQUIRE = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1} end
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1}
end
return {0, redis.call('PTTL', KEYS[1]), holder or ''}
"""

#: Extend the lease only while it is still ours: 1, else 0.
RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""

#: Delete the lease only if it is still ours: 1, else 0.
RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

#: The Redis key of the IRC lease.
IRC_LEASE = "pubbot:bus:lease:irc"


def _took(reply: Any) -> bool:
    """ACQUIRE's reply says the lease is ours."""
    return bool(reply) and int(reply[0]) == 1


def _renewed(reply: Any) -> bool:
    return int(reply or 0) == 1


def owner_of(token: str | None) -> str | None:
    """The process id in a lease token (C{process#random}), or None."""
    if not token:
        return None
    return token.rsplit("#", 1)[0]


class Lease:
    """
    Hold the Redis key C{key} for C{duration} seconds at a time.

    C{on_acquired()} is called when this process gets the lease and
    C{on_lost(reason)} when it must stop acting as the holder: the lease
    went to another process, or it could not be renewed and C{margin}
    seconds are all that would be left of it; C{on_released()} after this
    process deleted the lease. All timing uses C{clock}.
    """

    def __init__(self, client, clock, owner: str, duration: float, key: str = IRC_LEASE,
                 on_acquired: Callable[[], Any] | None = None,
                 on_lost: Callable[[str], Any] | None = None,
                 margin: float | None = None, token: str | None = None,
                 on_released: Callable[[], Any] | None = None):
        self.client = client
        self.clock = clock
        self.key = key
        self.owner = owner
        self.token = token or "%s#%s" % (owner, os.urandom(6).hex())
        self.duration = duration
        #: Give up this long before the lease could expire in Redis.
        self.margin = margin if margin is not None else max(duration * 0.25, min(1.0, duration / 2))
        self.renew_every = duration / 5
        self.retry_every = min(1.0, duration / 5)
        self.on_acquired = on_acquired or (lambda: None)
        self.on_lost = on_lost or (lambda reason: None)
        #: Called after this process deleted the lease (others may take it now).
        self.on_released: Callable[[], Any] = on_released or (lambda: None)
        self.held = False
        self.deadline = 0.0
        self.holder: str | None = None  # the token last seen holding it
        self.running = False
        self._timer: Any = None
        self._deadline_timer: Any = None
        self._generation = 0
        self._busy = False

    # public

    def start(self) -> None:
        self.running = True
        self._schedule(0)

    def stop(self) -> Deferred:
        """Stop renewing; delete the lease if it is ours. Fires when done (never fails)."""
        self.running = False
        self._cancel_timers()
        was_held, self.held = self.held, False
        self._generation += 1
        if not was_held:
            return succeed(None)
        return self.release()

    def release(self) -> Deferred:
        """Delete the lease in Redis if it is still ours (best effort)."""
        d = self.client.eval(RELEASE, [self.key], [self.token], timeout=2.0)

        def done(n):
            if n:
                log.info("released the IRC lease {key}", key=self.key)
                try:
                    return maybeDeferred(self.on_released).addErrback(
                        lambda f: log.failure("lease release observer failed", f))
                except Exception:
                    log.failure("lease release observer failed")
            return None

        def failed(f: Failure):
            log.warn("could not release the lease {key} ({error}); it expires within {seconds}s",
                     key=self.key, error=f.getErrorMessage(), seconds=self.duration)

        return d.addCallbacks(done, failed)

    def valid(self) -> bool:
        """True while held and short of the local deadline, checked against the clock now."""
        return self.held and self.clock.seconds() < self.deadline

    def poke(self) -> None:
        """Try to take the lease now (another process said it released it)."""
        if self.running and not self.held and not self._busy:
            self._schedule(0)

    # internals

    def _cancel_timers(self) -> None:
        for timer in (self._timer, self._deadline_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._deadline_timer = None

    def _schedule(self, delay: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = self.clock.callLater(max(0.0, delay), self._tick)

    def _tick(self) -> None:
        self._timer = None
        if not self.running or self._busy:
            return
        if self.held:
            self._renew()
        else:
            self._acquire()

    def _ms(self) -> int:
        return int(self.duration * 1000)

    def _acquire(self) -> None:
        sent = self.clock.seconds()
        generation = self._generation
        self._busy = True
        d = self.client.eval_durably(ACQUIRE, [self.key], [self.token, self._ms()],
                                     timeout=max(0.1, self.duration - self.margin) / 2, wrote=_took)

        def answered(result):
            reply, durable = result
            self._busy = False
            if generation != self._generation or not self.running:
                return
            if reply and int(reply[0]) == 1:
                if durable:
                    self._held_from(sent, fresh=True)
                else:
                    # Ours on the master, but a failover now could lose it: not yet.
                    log.warn("took the IRC lease, but no replica acknowledged it in time; trying again")
                    self._schedule(self.retry_every)
                return
            remaining = int(reply[1]) if reply and len(reply) > 1 else -2
            holder = reply[2] if reply and len(reply) > 2 else None
            if holder != self.holder:
                log.info("IRC lease held by {holder}; standing by", holder=owner_of(holder))
                self.holder = holder
            # Try again as soon as the holder's lease can have run out.
            wait = self.retry_every if remaining < 0 else min(self.retry_every, remaining / 1000.0 + 0.01)
            self._schedule(wait)

        def failed(f: Failure):
            self._busy = False
            if generation != self._generation or not self.running:
                return
            log.warn("could not ask Redis for the IRC lease: {error}", error=f.getErrorMessage())
            self._schedule(self.retry_every)

        d.addCallbacks(answered, failed)

    def _held_from(self, sent: float, fresh: bool) -> None:
        deadline = sent + self.duration - self.margin
        if deadline <= self.clock.seconds():
            # The answer came too late (we were frozen, or Redis was slow):
            # by now another process may hold the lease. Act as if lost.
            if self.held:
                self._lose("the renewal came back too late")
            else:
                log.warn("the IRC lease came back too late to use; letting it go")
                self.release()
                self._schedule(self.retry_every)
            return
        self.deadline = deadline
        if self._deadline_timer is not None and self._deadline_timer.active():
            self._deadline_timer.reset(deadline - self.clock.seconds())
        else:
            self._deadline_timer = self.clock.callLater(deadline - self.clock.seconds(), self._expired)
        self._schedule(sent + self.renew_every - self.clock.seconds())
        if fresh and not self.held:
            self.held = True
            self.holder = self.token
            log.info("this process ({owner}) now holds the IRC lease", owner=self.owner)
            try:
                self.on_acquired()
            except Exception:
                log.failure("lease holder start-up failed")

    def _renew(self) -> None:
        sent = self.clock.seconds()
        generation = self._generation
        self._busy = True
        d = self.client.eval_durably(RENEW, [self.key], [self.token, self._ms()],
                                     timeout=max(0.1, self.deadline - sent), wrote=_renewed)

        def answered(result):
            n, durable = result
            self._busy = False
            if generation != self._generation or not self.running or not self.held:
                return
            if int(n or 0) != 1:
                self._lose("another process has the lease now")
            elif durable:
                self._held_from(sent, fresh=False)
            else:
                # A failover now could go back to the last acknowledged renewal: keep its deadline.
                left = self.deadline - self.clock.seconds()
                log.warn("no replica acknowledged the IRC lease renewal in time; giving up IRC in "
                         "{left:.1f}s unless one does", left=left)
                self._schedule(min(self.retry_every, max(0.0, left / 2)))

        def failed(f: Failure):
            self._busy = False
            if generation != self._generation or not self.running or not self.held:
                return
            left = self.deadline - self.clock.seconds()
            log.warn("could not renew the IRC lease ({error}); giving up IRC in {left:.1f}s unless "
                     "Redis answers", error=f.getErrorMessage(), left=left)
            self._schedule(min(self.retry_every, max(0.0, left / 2)))

        d.addCallbacks(answered, failed)

    def _expired(self) -> None:
        self._deadline_timer = None
        if self.held:
            self._lose("it could not be renewed in time")

    def _lose(self, reason: str) -> None:
        self.held = False
        self._generation += 1
        self._busy = False
        self._cancel_timers()
        log.warn("this process gave up the IRC lease: {reason}", reason=reason)
        try:
            self.on_lost(reason)
        except Exception:
            log.failure("lease holder shut-down failed")
        if self.running:
            # If it is still ours in Redis, free it for the others at once.
            self.release()
            self._schedule(self.retry_every)


class OwnerGate(MultiService):
    """
    A MultiService whose children (IRC, music poller, ZeroMQ sockets) run
    only while this process holds C{lease}: they start when it is taken and
    stop when it is lost, before it can expire. Stopping the gate stops
    them, then releases the lease so another process takes over at once.
    """

    def __init__(self, lease: Lease, name: str = "owner", before_start: Callable[[], Any] | None = None,
                 acquired_observers: list[Callable[[], None]] | None = None,
                 lost_observers: list[Callable[[], None]] | None = None):
        super().__init__()
        self.setName(name)
        self.lease = lease
        lease.on_acquired = self._acquired
        lease.on_lost = self._lost
        self.active = False
        self._stopping: Deferred = succeed(None)
        #: Run after the lease is taken and before the children start (may
        #: return a Deferred): e.g. wait for a frozen former owner to leave IRC.
        self.before_start = before_start
        #: Called after the children started, and after they were told to stop.
        self.acquired_observers: list[Callable[[], None]] = list(acquired_observers or ())
        self.lost_observers: list[Callable[[], None]] = list(lost_observers or ())

    def privilegedStartService(self) -> None:
        Service.privilegedStartService(self)

    def startService(self) -> None:
        Service.startService(self)
        self.lease.start()

    def stopService(self) -> Deferred:
        Service.stopService(self)
        d = self._stop_children() if self.active else self._stopping
        self.active = False
        return d.addBoth(lambda _: self.lease.stop())

    def addService(self, service) -> None:
        # MultiService would start a child added while we are running.
        running, self.running = self.running, 0
        try:
            super().addService(service)
        finally:
            self.running = running
        if self.active:
            service.startService()

    def _acquired(self) -> None:
        def prepare(_):
            if self.before_start is None or not self.lease.valid() or not self.running:
                return None
            return maybeDeferred(self.before_start).addErrback(
                lambda f: log.failure("preparing to start the owner's services failed", f))

        def start(_):
            if not self.lease.valid() or not self.running:
                return
            self.active = True
            for service in self:
                if not service.running:
                    try:
                        service.startService()
                    except Exception:
                        log.failure("{service} failed to start", service=service.name)
            for observer in list(self.acquired_observers):
                observer()

        self._stopping.addCallback(prepare)
        self._stopping.addCallback(start)

    def _lost(self, reason: str) -> None:
        if self.active:
            self.active = False
            self._stopping = self._stop_children()
            for observer in list(self.lost_observers):
                observer()

    def _stop_children(self) -> Deferred:
        stops = []
        for service in reversed(list(self)):
            if service.running:
                stops.append(maybeDeferred(service.stopService).addErrback(
                    lambda f, name: log.failure("{service} failed to stop", f, service=name), service.name))
        return DeferredList(stops).addCallback(lambda _: None)
