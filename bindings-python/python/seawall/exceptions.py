"""The exceptions raised when a call is refused: by a circuit breaker, a
bulkhead, a rate limiter or an adaptive throttler."""

from __future__ import annotations

from typing import Optional

from .models import CircuitState

__all__ = [
    "CircuitBreakerOpenError",
    "KeyedBreakerFullError",
    "BulkheadFullError",
    "RateLimitExceededError",
    "ThrottledError",
]


class CircuitBreakerOpenError(Exception):
    """A call was rejected without running because the circuit is open.

    The message is the original's, ``Circuit breaker '<name>' is OPEN``.
    Raised by a breaker, the instance also carries:

    - ``name``: the breaker's name;
    - ``state``: the ``CircuitState`` that refused the call (``OPEN``,
      ``FORCED_OPEN``, or ``HALF_OPEN`` when every trial slot is taken);
    - ``retry_after``: seconds until a trial call may be admitted, ``None``
      while forced open.

    Every rejection raises a new instance, so tracebacks never accumulate.
    """

    name: str = ""
    state: CircuitState = CircuitState.OPEN
    retry_after: Optional[float] = None


class KeyedBreakerFullError(CircuitBreakerOpenError):
    """A ``KeyedBreaker`` refused a call of a new key: ``max_keys`` keys
    are alive and none is idle (each has a call in flight, was used within
    ``idle_timeout``, or has an OPEN or forced breaker). A refusal like an
    open breaker's, so handlers of ``CircuitBreakerOpenError`` catch it;
    ``name`` is the breaker name the key would have had, ``retry_after`` is
    ``None`` (no key's idleness is scheduled) and ``max_keys`` the bound.
    """

    max_keys: int = 0


class BulkheadFullError(Exception):
    """A bulkhead refused a call: every slot taken and the queue full, or the
    wait for a slot timed out."""


class RateLimitExceededError(Exception):
    """A rate limiter refused a call whose wait would exceed ``max_wait``.
    ``retry_after`` is the seconds until it would be admitted."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ThrottledError(Exception):
    """An adaptive throttler refused a call locally, without sending it:
    the backend has been refusing more than it accepts. ``priority`` is the
    call's priority and ``probability`` the probability it was refused
    with (it falls as the backend accepts again)."""

    def __init__(self, priority: str, probability: float) -> None:
        super().__init__(
            f"throttled: the backend is refusing requests; {priority} call shed "
            f"with probability {probability:.3f}"
        )
        self.priority = priority
        self.probability = probability
