"""The old ``shared.utils.retry_strategy`` API on the Seawall core.

``CircuitBreaker(failure_threshold, recovery_timeout, expected_exception)``
keeps the old semantics (consecutive failures of ``expected_exception``
open it; after ``recovery_timeout`` seconds one trial call goes ahead and a
success closes it) and the old names (``record_success()``,
``record_failure()``, ``is_open()``, ``_should_attempt_reset()``, ``_state``
in ``"closed"``, ``"open"``, ``"half-open"``). It is a
``LegacyCircuitBreakerAdapter``, so a ``UnifiedCircuitBreaker`` as well:
metrics, listeners and the registry's snapshot see it.

``with_retry(name, circuit_breaker=cb)`` retries a sync or ``async def``
function through ``cb`` with ``with_resilience``, counting its retries
under ``name``.
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any, Callable, List, Optional, Tuple, Type, TypeVar, Union, cast

from .. import _check
from .._native import ManualClock
from ..adapters import LegacyCircuitBreakerAdapter
from ..compose import with_resilience
from ..models import CircuitBreakerConfig, RetryConfig, RetryStrategy

__all__ = ["CircuitBreaker", "with_retry"]

F = TypeVar("F", bound=Callable[..., Any])

Exceptions = Union[Type[BaseException], Tuple[Type[BaseException], ...]]

# Old breakers had no name: each gets its own, for metrics and logs.
_numbers = itertools.count(1)


class CircuitBreaker(LegacyCircuitBreakerAdapter):
    """The old breaker: ``failure_threshold`` consecutive failures of
    ``expected_exception`` (a class or a tuple of classes) open it for
    ``recovery_timeout`` seconds. ``name`` (keyword only, new) names it in
    metrics and logs; by default ``retry_strategy-N``."""

    def __new__(
        cls,
        failure_threshold: int = 5,
        recovery_timeout: Union[float, timedelta] = 60,
        expected_exception: Exceptions = Exception,
        *,
        name: Optional[str] = None,
        clock: Optional[ManualClock] = None,
    ) -> "CircuitBreaker":
        excs = expected_exception if isinstance(expected_exception, tuple) else (expected_exception,)
        for e in excs:
            if not (isinstance(e, type) and issubclass(e, BaseException)):
                raise _check.type_error(
                    "expected_exception", "an exception class or a tuple of them", expected_exception
                )
        seconds = _check.non_negative_seconds("recovery_timeout", recovery_timeout)
        config = CircuitBreakerConfig(
            failure_threshold=failure_threshold,
            timeout=timedelta(seconds=seconds),
            track_exceptions=list(excs),
        )
        b = super().__new__(
            cls, name if name is not None else f"retry_strategy-{next(_numbers)}", config,
            clock=clock,
        )
        return cast("CircuitBreaker", b)

    def __repr__(self) -> str:
        return f"<retry_strategy.CircuitBreaker {self.name!r} {self._state}>"


def with_retry(
    name: str,
    circuit_breaker: Optional[CircuitBreaker] = None,
    *,
    max_attempts: int = 3,
    initial_delay: float = 1.0,
    max_delay: float = 60.0,
    exponential_base: float = 2.0,
    jitter: bool = True,
    retryable_exceptions: Optional[List[Type[BaseException]]] = None,
) -> Callable[[F], F]:
    """Retries a sync or ``async def`` function: up to ``max_attempts``
    attempts with exponential back-off from ``initial_delay`` seconds
    (times ``exponential_base``, at most ``max_delay``, with jitter), each
    attempt through ``circuit_breaker`` when given (an open breaker's
    rejection is not retried unless it reopens within ``max_delay``).
    Only ``retryable_exceptions`` are retried (default: those of
    ``RetryConfig``). Retries are counted under ``name``."""
    _check.name("name", name)
    config = RetryConfig(
        max_attempts=max_attempts,
        initial_delay=initial_delay,
        max_delay=max_delay,
        exponential_base=exponential_base,
        strategy=RetryStrategy.EXPONENTIAL_WITH_JITTER if jitter else RetryStrategy.EXPONENTIAL,
        jitter_enabled=jitter,
    )
    if retryable_exceptions is not None:
        config.retryable_exceptions = list(
            _check.exception_classes("retryable_exceptions", retryable_exceptions)
        )
    return with_resilience(config, circuit_breaker=circuit_breaker, name=name)
