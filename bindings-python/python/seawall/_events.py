"""What the engines report on rare events: breaker transitions, bulkhead
rejections, retries, retry budget exhaustion and give-ups. Each report goes
to the ``seawall`` logger (transitions and give-ups) and to every attached
``ResilienceMetrics`` (``ResilienceMetrics.attach()``).

Nothing here runs for a call that succeeds at its first attempt: transitions
are reported by the native module's transition listener, the rest by the
Python paths that handle a rejection or a failure."""

from __future__ import annotations

import logging
import os
import threading
from typing import List, Optional, Tuple

from .interfaces import ResilienceMetricsInterface
from .models import CircuitState

_log = logging.getLogger("seawall")

# The attached sinks, replaced (never mutated) under `_lock`, so a report
# reads the tuple without locking.
_sinks: Tuple[ResilienceMetricsInterface, ...] = ()
_lock = threading.Lock()


def _handlers() -> List[logging.Handler]:
    """The handlers a record of the ``seawall`` logger reaches now."""
    out: List[logging.Handler] = []
    logger: Optional[logging.Logger] = _log
    while logger is not None:
        out.extend(logger.handlers)
        logger = logger.parent if logger.propagate else None
    if not out and logging.lastResort is not None:
        out.append(logging.lastResort)
    return out


# The handlers locked across a fork by the thread that forks.
_held: List[logging.Handler] = []


def _before_fork() -> None:
    # A handler writes under its lock, and the stream it writes to holds a
    # lock of its own meanwhile (a buffered file does). A child forked in
    # the middle of that write inherits the stream's lock held by a thread
    # it does not have, and hangs at its first record (logging renews the
    # handlers' locks in a child, not the streams'). Holding every handler's
    # lock across the fork means no thread is in the middle of a write.
    # Registered after logging's own hook, so run before it: handler locks,
    # then logging's module lock, the order `logging.shutdown` takes them.
    for h in _handlers():
        h.acquire()
        _held.append(h)


def _after_fork_in_parent() -> None:
    while _held:
        _held.pop().release()


def _after_fork_in_child() -> None:
    # logging has given every handler a new, unlocked lock in the child
    # (`Handler._at_fork_reinit`); a handler whose lock it did not renew is
    # released here.
    while _held:
        try:
            _held.pop().release()
        except RuntimeError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


def attach(sink: ResilienceMetricsInterface) -> None:
    """Adds ``sink`` to the sinks reports go to (once, however often it is
    attached)."""
    global _sinks
    with _lock:
        if not any(s is sink for s in _sinks):
            _sinks = (*_sinks, sink)


def detach(sink: ResilienceMetricsInterface) -> None:
    """Removes ``sink``; nothing when it is not attached."""
    global _sinks
    with _lock:
        _sinks = tuple(s for s in _sinks if s is not sink)


def _opened(state: CircuitState) -> bool:
    return state in (CircuitState.OPEN, CircuitState.FORCED_OPEN)


def transition(
    breaker: str,
    from_state: CircuitState,
    to_state: CircuitState,
    failures: int,
    retry_after: Optional[float],
) -> None:
    """One transition of the breaker ``breaker``, reported once by the
    native listener of the breaker that made it: a WARNING record on
    entering an open state, INFO otherwise, with the fields as record
    attributes (``breaker``, ``from_state``, ``to_state``, ``failures``,
    ``retry_after``); then ``record_circuit_state_change`` on every sink."""
    level = logging.WARNING if _opened(to_state) else logging.INFO
    if _log.isEnabledFor(level):
        _log.log(
            level,
            "circuit breaker '%s' %s -> %s",
            breaker,
            from_state.value,
            to_state.value,
            extra={
                "breaker": breaker,
                "from_state": from_state.value,
                "to_state": to_state.value,
                "failures": failures,
                "retry_after": retry_after,
            },
        )
    for s in _sinks:
        s.record_circuit_state_change(breaker, from_state, to_state)


def bulkhead_rejected(bulkhead: str) -> None:
    """The bulkhead ``bulkhead`` refused a call."""
    for s in _sinks:
        s.record_bulkhead_rejection(bulkhead)


def retry_attempt(strategy: str, attempt: int, success: bool, duration: float) -> None:
    """An attempt of a call that failed at least once (a first attempt
    that succeeds is not reported) ended after ``duration`` seconds."""
    for s in _sinks:
        s.record_retry_attempt(strategy, attempt, success, duration)


def gave_up(
    strategy: str, attempts: int, reason: str, exc: BaseException, budget: Optional[str]
) -> None:
    """A retried call stopped without success: one WARNING record (not one
    per attempt), and, when the retry budget refused the next attempt
    (``reason`` ``"budget_exhausted"``), ``record_retry_budget_exhaustion``
    of ``budget`` on every sink."""
    _log.warning(
        "retry gave up after %d attempts (%s): %r",
        attempts,
        reason,
        exc,
        extra={
            "strategy": strategy,
            "attempts": attempts,
            "reason": reason,
            "exception_type": type(exc).__name__,
            "budget": budget,
        },
    )
    if reason == "budget_exhausted" and budget is not None:
        for s in _sinks:
            s.record_retry_budget_exhaustion(budget)
