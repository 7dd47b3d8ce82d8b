"""The exception a circuit breaker raises when it refuses a call."""

from __future__ import annotations

from typing import Optional

from .models import CircuitState

__all__ = ["CircuitBreakerOpenError"]


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
