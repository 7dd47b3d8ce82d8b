"""The adaptive concurrency limiter: a bound on the calls in flight that the
core learns from the calls' latency and errors (AIMD or Netflix's
Gradient2), for threads and for asyncio tasks."""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Dict, Optional

from . import _check, _events, _native
from .exceptions import LimitReachedError
from .models import AdaptiveLimiterConfig

__all__ = ["AdaptiveLimiter", "LimitReachedError"]


class AdaptiveLimiter:
    """At most ``limit`` calls at once, the limit learnt within
    ``[min_limit, max_limit]`` from how the admitted calls went: it falls
    when their latency rises above the long-term level (``"gradient"``) or
    when they fail or run slower than ``latency_threshold`` (``"aimd"``),
    and grows again while the dependency keeps up. A call over the limit
    is refused at once (``LimitReachedError``, a ``BulkheadFullError``):
    it never queues, which is what keeps the admitted calls' latency near
    the healthy one when the dependency slows down.

    Take a slot with ``with limiter.slot():`` / ``async with
    limiter.slot():`` (the block's time is the call's latency; an exception
    other than a cancellation counts as a failure), or with ``try_acquire``
    and report through the permit (``success``, ``failure``, ``ignore``,
    ``record(outcome, latency)``). It can stand in for a ``Bulkhead`` in
    ``with_resilience(bulkhead=...)``. Given a ``ManualClock``, calls are
    timed on it.
    """

    def __init__(
        self,
        config: Optional[AdaptiveLimiterConfig] = None,
        *,
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        c = AdaptiveLimiterConfig() if config is None else config
        _check.instance("config", c, AdaptiveLimiterConfig)
        self.config = c
        self.name = c.pool_name
        self._native = c._native(clock)
        self.rejections = 0

    def try_acquire(self) -> Optional[_native.AdaptivePermit]:
        """A permit if the calls in flight are below the limit, else
        ``None``; never waits. Release the permit once (``success``,
        ``failure``, ``ignore`` or ``record``); one garbage-collected
        unreleased frees its slot, teaching nothing."""
        p = self._native.try_acquire()
        if p is None:
            self._rejected()
        return p

    def slot(self, *, learn: bool = True) -> "_Slot":
        """A context manager (``with`` and ``async with``) holding one slot
        for its block, raising ``LimitReachedError`` when none is free. The
        block's outcome and duration teach the limit unless ``learn`` is
        false (for a block whose duration is not the dependency's latency,
        such as a stream consumed at the caller's pace)."""
        return _Slot(self, learn)

    @property
    def limit(self) -> int:
        """Calls admitted at once now."""
        return self._native.limit()

    @property
    def estimate(self) -> float:
        """The learnt limit, unrounded."""
        return self._native.estimate()

    @property
    def in_flight(self) -> int:
        return self._native.in_flight()

    def metrics(self) -> Dict[str, int]:
        """``{"limit", "in_flight", "admitted", "rejected"}``."""
        return self._native.metrics()

    def _rejected(self) -> None:
        """Counts a refusal here and in the attached ``ResilienceMetrics``
        (as a bulkhead's)."""
        self.rejections += 1
        _events.bulkhead_rejected(self.name)

    def _full(self) -> LimitReachedError:
        return LimitReachedError(
            f"adaptive limiter '{self.name}' is at its limit ({self._native.limit()})"
        )

    def _take(self) -> _native.AdaptivePermit:
        p = self.try_acquire()
        if p is None:
            raise self._full()
        return p


def _settle(p: _native.AdaptivePermit, exc: Optional[BaseException], learn: bool) -> None:
    """Releases ``p`` for a block that ended with ``exc``."""
    if not learn or isinstance(exc, (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt)):
        p.ignore()
    elif exc is None:
        p.success()
    else:
        p.failure()


class _Slot:
    """One slot of an ``AdaptiveLimiter`` for a ``with`` block (see
    ``AdaptiveLimiter.slot``)."""

    __slots__ = ("_limiter", "_learn", "_permit")

    def __init__(self, limiter: AdaptiveLimiter, learn: bool) -> None:
        self._limiter = limiter
        self._learn = learn
        self._permit: Optional[_native.AdaptivePermit] = None

    def __enter__(self) -> _native.AdaptivePermit:
        self._permit = self._limiter._take()
        return self._permit

    def __exit__(self, _t: Any, exc: Optional[BaseException], _tb: Any) -> None:
        p, self._permit = self._permit, None
        if p is not None:
            _settle(p, exc, self._learn)

    async def __aenter__(self) -> _native.AdaptivePermit:
        return self.__enter__()

    async def __aexit__(self, _t: Any, exc: Optional[BaseException], _tb: Any) -> None:
        self.__exit__(_t, exc, _tb)


# The admission of one call for `with_resilience`, as `bulkhead.admit` /
# `aadmit` for a bulkhead: written out to spare the context manager's frames.


def admit(
    call: Callable[..., Any],
    limiter: AdaptiveLimiter,
    wait: Optional[Callable[[], Any]] = None,
) -> Callable[..., Any]:
    """``call`` run after ``wait()`` (a rate limiter's ``acquire``) under
    one of ``limiter``'s slots, raising ``LimitReachedError`` when none is
    free; the call's outcome and latency teach the limit."""

    def admitted(*args: Any, **kwargs: Any) -> Any:
        if wait is not None:
            wait()
        p = limiter._take()
        try:
            r = call(*args, **kwargs)
        except BaseException as e:
            _settle(p, e, True)
            raise
        p.success()
        return r

    return admitted


def aadmit(
    call: Callable[..., Awaitable[Any]],
    limiter: AdaptiveLimiter,
    wait: Optional[Callable[[], Awaitable[Any]]] = None,
) -> Callable[..., Awaitable[Any]]:
    """``admit`` for coroutine functions."""

    async def admitted(*args: Any, **kwargs: Any) -> Any:
        if wait is not None:
            await wait()
        p = limiter._take()
        try:
            r = await call(*args, **kwargs)
        except BaseException as e:
            _settle(p, e, True)
            raise
        p.success()
        return r

    return admitted
