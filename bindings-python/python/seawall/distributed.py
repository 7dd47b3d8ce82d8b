"""``DistributedCircuitBreaker``: a circuit breaker whose OPEN and HALF_OPEN
are shared by every instance of a service through Redis."""

from __future__ import annotations

import functools
import logging
import os
import weakref
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar, Union, cast

from . import _check, _native
from .exceptions import CircuitBreakerOpenError
from .implementations.circuit_breaker import BreakerMethods
from .models import CircuitBreakerConfig
from ._time import Seconds
from .exceptions import RateLimitExceededError
from .rate_limit import _Limit

__all__ = ["DistributedCircuitBreaker", "FleetRateLimiter", "REDIS_URL_VARIABLE"]

#: The environment variable a distributed breaker reads its Redis URL from
#: when none is given.
REDIS_URL_VARIABLE = "SEAWALL_REDIS_URL"

_log = logging.getLogger("seawall")

T = TypeVar("T")

# Every live distributed breaker and fleet rate limiter of this process,
# rebuilt in a forked child.
_LIVE: "weakref.WeakSet[Union[DistributedCircuitBreaker, FleetRateLimiter]]" = weakref.WeakSet()


def _redis_url(redis_url: Optional[str]) -> str:
    if redis_url is None:
        redis_url = os.environ.get(REDIS_URL_VARIABLE) or None
        if redis_url is None:
            raise ValueError(
                "redis_url is required for a distributed circuit breaker: pass "
                f"redis_url='redis://host:6379/0' or set the {REDIS_URL_VARIABLE} "
                "environment variable"
            )
    if not isinstance(redis_url, str):
        raise _check.type_error("redis_url", "a str such as 'redis://host:6379/0'", redis_url)
    return redis_url


class DistributedCircuitBreaker(_native.DistributedBreaker, BreakerMethods):
    """A circuit breaker whose OPEN and HALF_OPEN are shared by every
    instance of a service through Redis, with the interface of
    ``UnifiedCircuitBreaker`` (``call``, ``acall``, decorator, context
    managers, ``acquire`` permits, callbacks and listeners, ``get_metrics``).

    Each call is decided in-process, without a Redis round trip: the
    stricter of this process's own breaker (configured as usual) and the
    fleet's state. A background coordinator thread (one per process, Redis
    URL and namespace) sends outcome counts in batches; the fleet opens on
    its aggregated failure rate (``failure_rate_threshold``, 0.5 when unset,
    over ``minimum_calls``) or ``failure_count_threshold``, and only when at
    least two instances report failures, so one sick instance opens only its
    own breaker. While HALF_OPEN, ``half_open_max_calls`` trial calls run
    across the whole fleet. ``force_open()``, ``force_closed()`` and
    ``reset()`` apply fleet-wide. ``on_open`` / ``on_close`` /
    ``on_half_open`` and listeners run for this process's transitions and
    for the fleet's (the latter on the coordinator thread).

    If Redis is unreachable, refuses or hangs, calls never wait for it: the
    instance decides on its own breaker (keeping a fleet OPEN it knew until
    its end), logs a warning on the ``seawall`` logger, shows
    ``fleet_metrics()["degraded"]`` as true, and reconnects in the
    background. A URL that is not a Redis URL raises ``ValueError``.
    Another instance flushing the same breaker with other settings is
    logged as a warning and counted in ``fleet_metrics()["config_mismatches"]``.

    ``redis_url`` defaults to the ``SEAWALL_REDIS_URL`` environment
    variable; ``namespace`` prefixes every key (no ``{`` or ``}``).

    A process that forks (gunicorn, ``multiprocessing`` with ``fork``) gives
    its child working breakers: the child builds each one again on its own
    coordinator (locally CLOSED with fresh metrics; the fleet state is read
    from Redis).

    ``call`` runs natively like the local breaker's; ``acall`` and the
    decorators are Python code over ``acquire()`` permits.
    """

    implementation = "distributed"

    def __new__(
        cls,
        name: Any = "default",
        config: Optional[CircuitBreakerConfig] = None,
        *,
        redis_url: Optional[str] = None,
        namespace: str = "seawall",
        **kwargs: Any,
    ) -> "DistributedCircuitBreaker":
        if not isinstance(namespace, str):
            raise _check.type_error("namespace", "a str", namespace)
        url = _redis_url(redis_url)
        self = super().__new__(cls, name, config, redis_url=url, namespace=namespace, **kwargs)
        _LIVE.add(self)
        return self

    async def acall(
        self,
        func: Callable[[], Awaitable[T]],
        fallback: Optional[Callable[[], Union[T, Awaitable[T]]]] = None,
    ) -> T:
        """Awaits ``func()`` under a permit, as ``UnifiedCircuitBreaker.acall``
        does: rejected, it calls ``fallback()`` (awaiting what it returns if
        awaitable) or raises ``CircuitBreakerOpenError``; a failure with a
        fallback returns the fallback's result."""
        fallback = _native.check_fallback(fallback)
        if fallback is None:
            permit = self.acquire()
        else:
            try:
                permit = self.acquire()
            except CircuitBreakerOpenError:
                rejected = True
            else:
                rejected = False
            if rejected:
                # Outside the `except`: the rejection is not the fallback's
                # context, as in the native `acall`.
                return cast(T, await _maybe_await(fallback()))
        try:
            value = await func()
        except BaseException as exc:
            failed = permit.record_exception(exc)
            if fallback is None or not failed:
                raise
            return cast(T, await _maybe_await(fallback()))
        permit.record_result(value)
        return value

    def _wrap(self, func: Callable[..., Any], is_async: bool) -> Callable[..., Any]:
        """``func`` calling through this breaker (for the decorators)."""
        if is_async:

            @functools.wraps(func)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                return await self.acall(lambda: func(*args, **kwargs))

            return guarded_async

        @functools.wraps(func)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            return self.call(lambda: func(*args, **kwargs))

        return guarded

    def fleet_metrics(self) -> Dict[str, Any]:
        """What this instance knows of the fleet: its state, generation and
        epoch, whether Redis is unreachable (``degraded``), the fleet window
        at the last flush, the failing and live instances, the other
        configurations seen (``config_conflicts`` as the fleet counts them,
        ``config_mismatches`` as announced here), this instance's id and the
        namespace."""
        fleet: Dict[str, Any] = self.metrics()["fleet"]
        return fleet

    def __repr__(self) -> str:
        return f"<DistributedCircuitBreaker {self.name!r} {self.get_state().name}>"


class FleetRateLimiter(_Limit):
    """A GCRA rate limit for a whole fleet of processes, through Redis:
    ``rate`` calls per ``period`` seconds on average across every instance
    using the same ``namespace`` and ``name``, bursts of up to ``burst``
    (default ``rate``); ``timing`` as for ``RateLimiter``.

    ``check()`` returns 0.0 when a call is admitted, else the seconds to wait
    (a refused call changes nothing). It never waits for Redis: it takes a
    token leased from the fleet by the process's coordinator thread, and
    with none left decides on this instance's share of the limit (``rate``
    divided by the live instances), charged to the fleet at the next lease.
    ``lease`` is the tokens asked for per lease (0: ``burst / (4 x live
    instances)``), ``lease_ttl`` the seconds unused tokens stay before they
    go back. While Redis is unreachable ``on_store_failure`` decides:
    ``"local"`` (default) the instance's share, ``"allow"`` everything,
    ``"deny"`` what no leased token covers.

    ``acquire`` / ``aacquire`` wait (``time.sleep`` / ``asyncio.sleep``) for
    an admitted call: unlike ``RateLimiter``'s, no turn is reserved, so after
    each wait they check again, and callers waiting together are not served
    in order. When the waits would add up to more than ``max_wait`` they
    raise ``RateLimitExceededError`` (its ``retry_after`` the next wait).

    ``redis_url`` defaults to the ``SEAWALL_REDIS_URL`` environment
    variable. A forked child builds the limiter again on its own
    coordinator, as it does distributed breakers.
    """

    def __init__(
        self,
        name: str,
        rate: int,
        period: Seconds = 1.0,
        burst: Optional[int] = None,
        *,
        redis_url: Optional[str] = None,
        namespace: str = "seawall",
        timing: str = "exact",
        lease: int = 0,
        lease_ttl: Seconds = 1.0,
        on_store_failure: str = "local",
        max_wait: Optional[float] = None,
        clock: Optional[_native.ManualClock] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
    ) -> None:
        if not isinstance(namespace, str):
            raise _check.type_error("namespace", "a str", namespace)
        super().__init__(rate, period, burst, timing, max_wait, sleep, asleep)
        self.name = name
        self._native = _native.FleetRateLimiter(
            name,
            rate,
            self.period,
            self.burst,
            redis_url=_redis_url(redis_url),
            namespace=namespace,
            timing=timing,
            lease=lease,
            lease_ttl=_check.seconds("lease_ttl", lease_ttl),
            on_store_failure=on_store_failure,
            clock=clock,
        )
        self.check = self._native.check
        _LIVE.add(self)

    def status(self) -> Dict[str, Any]:
        """Leased tokens left (``tokens``), ``live_instances``, ``degraded``,
        and the counts of ``leases``, tokens ``granted`` and ``returned``,
        and calls ``charged`` to the fleet from the local share."""
        return self._native.status()

    def _next_wait(self, waited: float) -> float:
        """0.0 when a call is admitted, else the wait before checking again;
        raises ``RateLimitExceededError`` past ``max_wait``."""
        wait = self._native.check()
        if wait and self.max_wait is not None and waited + wait > self.max_wait:
            raise RateLimitExceededError("rate limit exceeded", wait)
        return wait

    def acquire(self) -> None:
        waited = 0.0
        while True:
            wait = self._next_wait(waited)
            if not wait:
                return
            self._sleep(wait)
            waited += wait

    async def aacquire(self) -> None:
        waited = 0.0
        while True:
            wait = self._next_wait(waited)
            if not wait:
                return
            await self._asleep(wait)
            waited += wait

    def _after_fork(self) -> None:
        self._native._after_fork()

    def __repr__(self) -> str:
        return f"<FleetRateLimiter {self.name!r} {self.rate}/{self.period}s>"


async def _maybe_await(value: Any) -> Any:
    if hasattr(value, "__await__"):
        return await value
    return value


def _after_fork_in_child() -> None:
    for breaker in list(_LIVE):
        try:
            breaker._after_fork()
        except Exception:  # pragma: no cover - the URL was valid in the parent
            _log.exception("seawall: %r not rebuilt after fork", breaker)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
