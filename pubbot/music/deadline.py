"""Deadlines for music source operations, and network errors as SourceUnavailable."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, TimeoutError
from twisted.internet.error import ConnectError, ConnectionLost
from twisted.web.client import ResponseFailed

from .interfaces import MusicError, SourceUnavailable


def timed(coroutine: Any, clock: Any, timeout: float, description: str) -> Deferred:
    """
    Run C{coroutine}, giving up (and cancelling what it awaits) after
    C{timeout} seconds on C{clock}. Timeouts and network failures become
    L{SourceUnavailable} naming C{description}; cancellation, other
    L{MusicError}s and bugs pass through unchanged.
    """
    d = Deferred.fromCoroutine(coroutine)
    d.addTimeout(timeout, clock)
    d.addErrback(_as_unavailable, description)
    return d


def _as_unavailable(failure: Any, description: str) -> Any:
    if failure.check(MusicError):
        return failure
    if failure.check(TimeoutError):
        raise SourceUnavailable("%s did not answer in time" % (description,))
    if failure.check(ConnectError, ConnectionLost, ResponseFailed):
        raise SourceUnavailable("cannot reach %s: %s" % (description, failure.getErrorMessage()))
    return failure
