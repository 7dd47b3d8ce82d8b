"""``UnifiedCircuitBreaker``: the lock-free Seawall core behind the original API."""

from __future__ import annotations

import asyncio
import functools
import inspect
from contextvars import ContextVar
from types import TracebackType
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, Type, TypeVar

from .. import _native
from ..interfaces import CircuitBreakerInterface
from ..models import CircuitState

__all__ = ["UnifiedCircuitBreaker"]

F = TypeVar("F", bound=Callable[..., Any])

# The permits of `with breaker:` blocks in progress, innermost last. A context
# variable keeps them per thread and per asyncio task; the tuple is replaced,
# never mutated, because a task's context starts as a copy of its parent's.
_PERMITS: ContextVar[Tuple[Tuple[Any, _native.Permit], ...]] = ContextVar(
    "seawall_permits", default=()
)


class UnifiedCircuitBreaker(_native.CircuitBreaker, CircuitBreakerInterface):
    """A lock-free circuit breaker.

    ``UnifiedCircuitBreaker(config)``, ``UnifiedCircuitBreaker(name, config)``
    and keywords (``name=``, ``config=``) are all accepted; the name defaults
    to ``"default"`` and the config to ``CircuitBreakerConfig()``. Pass
    ``clock=seawall.ManualClock()`` to drive its time by hand in tests.

    CLOSED admits every call and counts consecutive failures; at
    ``failure_threshold`` it opens. OPEN rejects calls without running them
    for ``timeout``; then up to ``half_open_max_calls`` trial calls run at
    once (HALF_OPEN): ``success_threshold`` successes close it, a failure
    reopens it, and trials unresolved after ``half_open_timeout`` reopen it.

    ``call`` and ``acall`` are implemented natively: taking a permit, running
    the function and recording its outcome hold no lock, so calls from many
    threads or tasks run in parallel. Which exceptions count as failures is
    described on ``CircuitBreakerConfig``.

    Also usable as a decorator (``@breaker``), as a context manager
    (``with breaker:`` / ``async with breaker:``), and by hand through
    ``acquire()`` permits.
    """

    # `call`, `acall`, `get_state`, `record_success`, `record_failure`,
    # `reset`, `force_open`, `force_closed`, `acquire`, `add_listener`,
    # `metrics`, `clear_metrics`, `name` and `config` come from the native base.

    @property
    def state(self) -> CircuitState:
        """The current state (same as ``get_state()``)."""
        return self.get_state()

    def get_metrics(self) -> Dict[str, Any]:
        """The original metrics dict, plus Seawall's extra counters.

        ``failure_count`` is the consecutive failures counted toward the trip
        (CLOSED), ``success_count`` the trial successes counted toward closing
        (HALF_OPEN), ``total_calls`` the calls admitted, ``rejections`` the
        calls refused, ``uptime`` the seconds spent in the current state.
        """
        m = self.metrics()
        return {
            "name": self.name,
            "state": m["state"],
            "failure_count": m["consecutive_failures"],
            "success_count": m["trial_successes"],
            "total_calls": m["permitted"],
            "total_failures": m["failures"],
            "total_successes": m["successes"],
            "rejections": m["rejected"],
            "uptime": m["time_in_state"],
            "total_ignored": m["ignored"],
            "late_outcomes": m["late"],
            "slow_calls": m["slow_calls"],
            "trial_calls_in_flight": m["trial_calls_in_flight"],
            "transitions": m["transitions"],
        }

    def __call__(self, func: F) -> F:
        """Decorates ``func`` (sync or ``async def``) to run through this breaker."""
        return wrap_function(self, func)

    def __enter__(self) -> "UnifiedCircuitBreaker":
        permit = self.acquire()
        _PERMITS.set(_PERMITS.get() + ((self, permit),))
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        permit = _pop_permit(self)
        if exc is None:
            permit.success()
        else:
            permit.record_exception(exc)

    async def __aenter__(self) -> "UnifiedCircuitBreaker":
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    def __repr__(self) -> str:
        return f"<UnifiedCircuitBreaker {self.name!r} {self.get_state().name}>"


def _pop_permit(breaker: UnifiedCircuitBreaker) -> _native.Permit:
    stack = _PERMITS.get()
    for i in range(len(stack) - 1, -1, -1):
        if stack[i][0] is breaker:
            _PERMITS.set(stack[:i] + stack[i + 1 :])
            return stack[i][1]
    raise RuntimeError(
        f"circuit breaker {breaker.name!r}: __exit__ without a matching __enter__ in this context"
    )


def _is_async(func: Any) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func)


def wrap_function(breaker: _native.CircuitBreaker, func: F) -> F:
    """``func`` wrapped so that every call runs through ``breaker``.

    The wrapper is native (no Python frame per call). For an ``async def``
    function it returns an awaitable that takes the permit when awaited and
    keeps it until the coroutine finishes. It carries ``func``'s name and
    docstring, ``__wrapped__``, and ``circuit_breaker``; it binds as a method.
    """
    if not callable(func):
        raise TypeError(f"can only decorate a callable, not {type(func).__name__}")
    is_async = _is_async(func)
    wrapper = breaker._wrap(func, is_async)
    functools.update_wrapper(wrapper, func)
    wrapper.circuit_breaker = breaker  # type: ignore[attr-defined]
    if is_async:
        # asyncio.iscoroutinefunction (3.11) and inspect.iscoroutinefunction
        # (3.12+) recognise a non-function coroutine function by these marks.
        wrapper._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)  # type: ignore[attr-defined]
        mark = getattr(inspect, "markcoroutinefunction", None)
        if mark is not None:
            mark(wrapper)
    return wrapper  # type: ignore[return-value]
