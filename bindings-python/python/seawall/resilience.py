"""Retry, retry budget, bulkhead and rate limiter, and ``with_resilience``.

The engines are the core's (lock-free, native); this module gives them the
original ``shared.resilience`` interfaces and composes them. See
``with_resilience`` for the order of the layers.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import random
import threading
import time
from collections import deque
from datetime import timedelta
from typing import (
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Deque,
    Dict,
    Iterable,
    NamedTuple,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from . import _check, _native
from .exceptions import CircuitBreakerOpenError
from .interfaces import (
    BackoffCalculatorInterface,
    BulkheadInterface,
    ResilienceMetricsInterface,
    RetryBudgetInterface,
    RetryStrategyInterface,
)
from .models import (
    RETRY_POLICIES,
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryMetrics,
    RetryPolicy,
    RetryResult,
    RetryStrategy,
)
from .implementations.circuit_breaker import (
    Stream,
    drive_stream,
    guard_generator,
    is_async_generator_function,
    is_generator_function,
    relay,
    start_stream,
)
from .registry import Registry, get_registry

__all__ = [
    "BackoffCalculator",
    "RetryBudget",
    "Bulkhead",
    "BulkheadFullError",
    "RateLimiter",
    "RateLimitExceededError",
    "Retrier",
    "ResilienceMetrics",
    "with_resilience",
]

F = TypeVar("F", bound=Callable[..., Any])
_log = logging.getLogger("seawall")
Seconds = Union[timedelta, float, int]


def _sleep(seconds: float) -> None:
    """``time.sleep`` looked up per call (so it can be patched)."""
    time.sleep(seconds)


def _asleep(seconds: float) -> Awaitable[None]:
    """``asyncio.sleep`` looked up per call (so it can be patched)."""
    return asyncio.sleep(seconds)


def _secs(v: Seconds) -> float:
    return v.total_seconds() if isinstance(v, timedelta) else float(v)


class BulkheadFullError(Exception):
    """A bulkhead refused a call: every slot taken and the queue full, or the
    wait for a slot timed out."""


class RateLimitExceededError(Exception):
    """A rate limiter refused a call whose wait would exceed ``max_wait``.
    ``retry_after`` is the seconds until it would be admitted."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


# --------------------------------------------------------------- back-off

_CORE_STRATEGY = {
    RetryStrategy.FIXED: "fixed",
    RetryStrategy.LINEAR: "linear",
    RetryStrategy.EXPONENTIAL: "exponential",
    RetryStrategy.FIBONACCI: "fibonacci",
    RetryStrategy.EXPONENTIAL_WITH_JITTER: "exponential_with_jitter",
    RetryStrategy.DECORRELATED_JITTER: "decorrelated_jitter",
    # The original's named strategies are exponential curves.
    RetryStrategy.AGGRESSIVE: "exponential_with_jitter",
    RetryStrategy.STANDARD: "exponential_with_jitter",
    RetryStrategy.CONSERVATIVE: "exponential_with_jitter",
}


def _backoff(config: RetryConfig) -> _native.Backoff:
    """The core's delay function for ``config`` (validated there)."""
    strategy = _CORE_STRATEGY.get(RetryStrategy(config.strategy), "exponential")
    jitter = config.jitter_factor if config.jitter_enabled else 0.0
    if strategy == "decorrelated_jitter" and not config.jitter_enabled:
        strategy = "exponential"
    # Checked again here: the dataclass may have been changed since it was
    # built.
    return _native.Backoff(
        strategy,
        config.max_attempts,
        _check.number("initial_delay", config.initial_delay),
        _check.number("max_delay", config.max_delay),
        _check.number("exponential_base", config.exponential_base),
        _check.number("jitter_factor", jitter),
    )


class BackoffCalculator(BackoffCalculatorInterface):
    """Delays of a ``RetryConfig``, computed by the core.

    With ``n`` the attempt that just failed (1 for the first), ``i`` the
    initial delay and ``b`` the base, every delay capped at ``max_delay``:
    FIXED ``i``; LINEAR ``i*n``; EXPONENTIAL ``i*b^(n-1)``; FIBONACCI
    ``i*F(n)``; EXPONENTIAL_WITH_JITTER the exponential delay scaled by a
    random factor in ``[1-jitter_factor, 1+jitter_factor)`` (none when
    ``jitter_enabled`` is false); DECORRELATED_JITTER uniform in
    ``[i, 3*previous)``. AGGRESSIVE/STANDARD/CONSERVATIVE are exponential;
    CUSTOM calls ``custom_backoff(n)``. ``rng`` (a ``random.Random``) makes
    the jitter reproducible.
    """

    def __init__(self, rng: Optional[random.Random] = None) -> None:
        self._random: Callable[[], float] = (rng or random.Random()).random
        self._cache: Dict[Tuple[Any, ...], _native.Backoff] = {}

    def _native_for(self, config: RetryConfig) -> _native.Backoff:
        key = (
            config.strategy,
            config.max_attempts,
            config.initial_delay,
            config.max_delay,
            config.exponential_base,
            config.jitter_enabled,
            config.jitter_factor,
        )
        b = self._cache.get(key)
        if b is None:
            b = self._cache[key] = _backoff(config)
        return b

    def calculate_delay(self, attempt: int, config: RetryConfig, previous: float = 0.0) -> float:
        """The delay after attempt ``attempt`` (any non-negative int; those
        beyond the core's largest attempt get its delay) failed."""
        _check.instance("config", config, RetryConfig)
        if config.strategy == RetryStrategy.CUSTOM:
            _native.attempt_number(attempt)
            if config.custom_backoff is None:
                raise ValueError("strategy CUSTOM needs custom_backoff")
            return max(0.0, float(config.custom_backoff(attempt)))
        previous = _check.number("previous", previous)
        return self._native_for(config).delay(attempt, previous, self._random())

    def add_jitter(self, delay: float, jitter_factor: float) -> float:
        """``delay`` scaled by a random factor in ``[1-f, 1+f)``, never
        negative."""
        if not 0.0 <= jitter_factor <= 1.0:
            raise ValueError(f"invalid jitter_factor = {jitter_factor}: must be in [0, 1]")
        return max(0.0, delay * (1.0 + jitter_factor * (2.0 * self._random() - 1.0)))


# ----------------------------------------------------------- retry budget


class RetryBudget(RetryBudgetInterface):
    """Retries limited to ``budget_percent`` of the requests of the last
    ``window_size`` (not enforced below ``min_requests``), with a token
    bucket floor (``tokens_per_second``, up to ``max_tokens``). Lock-free,
    shared by every caller holding it. Ask ``can_retry()`` before each
    retry: a granted retry is counted by it; count first attempts with
    ``record_attempt(False)``."""

    def __init__(
        self,
        config: Optional[RetryBudgetConfig] = None,
        *,
        name: str = "default",
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        c = RetryBudgetConfig() if config is None else config
        _check.instance("config", c, RetryBudgetConfig)
        self.config = c
        self.name = _check.name("name", name)
        self._native = _native.RetryBudget(
            float(c.budget_percent),
            c.min_requests,
            _secs(c.window_size),
            float(c.tokens_per_second),
            c.max_tokens,
            clock=clock,
        )
        self.record_attempt = self._native.record_attempt  # type: ignore[method-assign]
        self.can_retry = self._native.can_retry  # type: ignore[method-assign]

    def can_retry(self) -> bool:
        return self._native.can_retry()

    def record_attempt(self, is_retry: bool) -> None:
        self._native.record_attempt(is_retry)

    def get_remaining_budget_percent(self) -> float:
        return self._native.remaining_percent()

    def counts(self) -> Tuple[int, int]:
        """``(requests, retries)`` counted in the window."""
        return self._native.counts()

    def reset(self) -> None:
        self._native.reset()


# --------------------------------------------------------------- bulkhead


class Bulkhead(BulkheadInterface):
    """At most ``max_concurrent`` calls at once; up to ``max_queue_size``
    more wait up to ``timeout`` for a slot. Pair each successful
    ``acquire`` with one ``release`` (or use ``with bulkhead:`` /
    ``async with bulkhead:``, which raise ``BulkheadFullError``).

    ``acquire`` waits without the GIL; ``aacquire`` never blocks the event
    loop, and a waiting task that is cancelled leaves the queue without
    taking a slot. Given a ``ManualClock``, deadlines are read from it (a
    wait with a positive timeout then ends only on a release or when the
    clock is advanced past it); ``timeout=0`` gives up at once.
    ``reject_on_full`` and ``pool_name`` are kept for reporting: a full
    bulkhead always refuses.
    """

    def __init__(
        self,
        config: Optional[BulkheadConfig] = None,
        *,
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        c = BulkheadConfig() if config is None else config
        _check.instance("config", c, BulkheadConfig)
        self.config = c
        self.name = c.pool_name
        timeout = _check.non_negative_seconds("timeout", c.timeout)
        self._native = _native.Bulkhead(c.max_concurrent, c.max_queue_size, timeout, clock=clock)
        # Futures of tasks waiting in `aacquire`, woken by `release`.
        self._async_waiters: Deque[Tuple[asyncio.AbstractEventLoop, "asyncio.Future[None]"]] = (
            deque()
        )
        self.rejections = 0

    def try_acquire(self) -> bool:
        """Takes a free slot if there is one; never waits."""
        return self._native.try_acquire()

    def acquire(self, timeout: Optional[float] = None) -> bool:
        """Takes a slot, waiting up to ``timeout`` seconds (the configured
        timeout when ``None``). False when full or timed out."""
        if timeout is not None:
            timeout = _check.non_negative_seconds("timeout", timeout)
        ok = self._native.acquire(timeout)
        if not ok:
            self.rejections += 1
        return ok

    async def aacquire(self, timeout: Optional[float] = None) -> bool:
        """Like ``acquire`` for asyncio: waits in the event loop (woken by
        ``release``, re-checking at least every 50 ms), up to ``timeout``
        seconds but never beyond the configured timeout. Cancelled while
        waiting, it leaves the queue and holds no slot."""
        if timeout is not None:
            timeout = _check.non_negative_seconds("timeout", timeout)
        if self._native.try_acquire():
            return True
        r = self._native.enqueue()
        if isinstance(r, bool):
            if not r:
                self.rejections += 1
            return r
        waiter = r
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        try:
            while True:
                got = waiter.try_acquire()
                if got is not None:
                    if not got:
                        self.rejections += 1
                    return got
                left = waiter.remaining()
                if deadline is not None:
                    left = min(left, deadline - loop.time())
                    if left <= 0:
                        waiter.cancel()
                        self.rejections += 1
                        return False
                fut: asyncio.Future[None] = loop.create_future()
                entry = (loop, fut)
                self._async_waiters.append(entry)
                try:
                    # Woken by `release`; the cap re-polls in case a slot
                    # was freed where no wake-up reaches us (another bulkhead
                    # handle, a sync caller's release of a queued slot).
                    await asyncio.wait_for(fut, min(left, 0.05) if left > 0 else 0)
                except asyncio.TimeoutError:
                    pass
                finally:
                    try:
                        self._async_waiters.remove(entry)
                    except ValueError:
                        pass
        except BaseException:
            # Cancelled (or anything else) while queued: leave the queue.
            # Slots are taken only by the synchronous `try_acquire` above,
            # never across an await, so none is held here.
            waiter.cancel()
            raise

    def release(self) -> None:
        """Frees a slot taken by ``acquire`` / ``aacquire``; raises
        ``RuntimeError`` when none is taken."""
        if not self._native.release():
            raise RuntimeError("release() without a matching acquire()")
        if self._async_waiters:
            self._wake()

    def _wake(self) -> None:
        for loop, fut in list(self._async_waiters):
            try:
                loop.call_soon_threadsafe(_set_done, fut)
            except RuntimeError:  # loop closed
                pass

    def get_available_permits(self) -> int:
        return self._native.available_permits()

    def get_queue_size(self) -> int:
        return self._native.queue_size()

    def __enter__(self) -> "Bulkhead":
        if not self.acquire():
            raise BulkheadFullError(f"bulkhead '{self.name}' is full")
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    async def __aenter__(self) -> "Bulkhead":
        if not await self.aacquire():
            raise BulkheadFullError(f"bulkhead '{self.name}' is full")
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


def _set_done(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


# ----------------------------------------------------------- rate limiter


class RateLimiter:
    """GCRA: ``rate`` calls per ``period`` seconds on average, bursts of up
    to ``burst`` (default ``rate``). ``check()`` returns 0.0 when a call is
    admitted, else the seconds to wait. ``acquire`` / ``aacquire`` wait
    that long (``time.sleep`` / ``asyncio.sleep``) and try again; when the
    wait exceeds ``max_wait`` they raise ``RateLimitExceededError``."""

    def __init__(
        self,
        rate: int,
        period: Seconds = 1.0,
        burst: Optional[int] = None,
        *,
        max_wait: Optional[float] = None,
        clock: Optional[_native.ManualClock] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
    ) -> None:
        _check.optional_callable("sleep", sleep)
        _check.optional_callable("asleep", asleep)
        if max_wait is not None:
            max_wait = _check.non_negative_seconds("max_wait", max_wait)
        self.rate = rate
        self.period = _check.seconds("period", period)
        self.burst = rate if burst is None else burst
        self.max_wait = max_wait
        self._native = _native.RateLimiter(rate, self.period, self.burst, clock=clock)
        self.check = self._native.check
        self._sleep = sleep or _sleep
        self._asleep = asleep or _asleep

    def _too_long(self, wait: float) -> bool:
        return self.max_wait is not None and wait > self.max_wait

    def acquire(self) -> None:
        while True:
            wait = self._native.check()
            if not wait:
                return
            if self._too_long(wait):
                raise RateLimitExceededError("rate limit exceeded", wait)
            self._sleep(wait)

    async def aacquire(self) -> None:
        while True:
            wait = self._native.check()
            if not wait:
                return
            if self._too_long(wait):
                raise RateLimitExceededError("rate limit exceeded", wait)
            await self._asleep(wait)


# ---------------------------------------------------------------- metrics


class ResilienceMetrics(ResilienceMetricsInterface):
    """Thread-safe counters of the resilience patterns."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._retries: Dict[str, Dict[str, float]] = {}
        self._transitions: Dict[str, Dict[str, int]] = {}
        self._bulkhead_rejections: Dict[str, int] = {}
        self._budget_exhaustions: Dict[str, int] = {}

    def record_retry_attempt(self, strategy: str, attempt: int, success: bool, duration: float) -> None:
        with self._lock:
            s = self._retries.setdefault(
                strategy, {"attempts": 0, "successes": 0, "failures": 0, "total_duration": 0.0,
                           "max_attempt": 0}
            )
            s["attempts"] += 1
            s["successes" if success else "failures"] += 1
            s["total_duration"] += duration
            s["max_attempt"] = max(s["max_attempt"], attempt)

    def record_circuit_state_change(
        self, circuit_name: str, old_state: CircuitState, new_state: CircuitState
    ) -> None:
        key = f"{CircuitState(old_state).value}->{CircuitState(new_state).value}"
        with self._lock:
            t = self._transitions.setdefault(circuit_name, {})
            t[key] = t.get(key, 0) + 1

    def record_bulkhead_rejection(self, bulkhead_name: str) -> None:
        with self._lock:
            self._bulkhead_rejections[bulkhead_name] = (
                self._bulkhead_rejections.get(bulkhead_name, 0) + 1
            )

    def record_retry_budget_exhaustion(self, budget_name: str) -> None:
        with self._lock:
            self._budget_exhaustions[budget_name] = self._budget_exhaustions.get(budget_name, 0) + 1

    def get_metrics_summary(self) -> Dict[str, Any]:
        with self._lock:
            return {
                "retries": {k: dict(v) for k, v in self._retries.items()},
                "circuit_state_changes": {k: dict(v) for k, v in self._transitions.items()},
                "bulkhead_rejections": dict(self._bulkhead_rejections),
                "retry_budget_exhaustions": dict(self._budget_exhaustions),
            }


# ------------------------------------------------------------------ retry


def _retryable(exc: BaseException, config: RetryConfig) -> bool:
    if isinstance(exc, tuple(config.retryable_exceptions)):
        return True
    code = getattr(exc, "status_code", None)
    return code is not None and code in config.retryable_status_codes


class _Plan:
    """Everything a retry loop needs, resolved once."""

    __slots__ = ("config", "calc", "budget", "metrics", "sleep", "asleep")

    def __init__(
        self,
        config: RetryConfig,
        calc: BackoffCalculator,
        budget: Optional[RetryBudget],
        metrics: Optional[RetryMetrics],
        sleep: Callable[[float], Any],
        asleep: Callable[[float], Awaitable[Any]],
    ) -> None:
        self.config = config
        self.calc = calc
        self.budget = budget
        self.metrics = metrics
        self.sleep = sleep
        self.asleep = asleep

    def next_delay(self, attempt: int, exc: BaseException, previous: float) -> float:
        """The delay before attempt ``attempt + 1``, or raises: ``exc``
        itself when it is not retryable (circuit-open rejections included,
        unless the breaker's announced ``retry_after`` fits in
        ``max_delay``), ``RetryError`` when attempts or the budget are
        exhausted. Consumes one retry from the budget."""
        c = self.config
        m = self.metrics
        if isinstance(exc, CircuitBreakerOpenError):
            if m is not None:
                m.requests_rejected += 1
            ra = exc.retry_after
            if ra is None or ra > c.max_delay or attempt >= c.max_attempts:
                raise exc
            delay = ra
        elif not _retryable(exc, c):
            raise exc
        elif attempt >= c.max_attempts:
            if m is not None:
                m.retries_exhausted += 1
            raise RetryError(
                f"gave up after {attempt} attempts: {exc!r}", attempt, exc
            ) from exc
        else:
            delay = self.calc.calculate_delay(attempt, c, previous)
        b = self.budget
        if b is not None and not b.can_retry():
            if m is not None:
                m.budget_exhausted += 1
                m.budget_remaining_percent = b.get_remaining_budget_percent()
            raise RetryError(
                f"retry budget exhausted after {attempt} attempts: {exc!r}", attempt, exc
            ) from exc
        if c.on_retry is not None:
            try:
                c.on_retry(attempt, exc)
            except Exception:  # noqa: BLE001 - a hook never breaks the call
                _log.exception("on_retry hook raised; ignored")
        return delay

    def run(
        self, attempt_fn: Callable[[], Any], exc: Optional[BaseException] = None
    ) -> Tuple[Any, int, float]:
        """Runs ``attempt_fn`` until it succeeds; ``exc`` is the failure of a
        first attempt already made. Returns ``(value, attempts, delay)``."""
        attempt = 0 if exc is None else 1
        total = previous = 0.0
        m = self.metrics
        while True:
            if exc is not None:
                try:
                    previous = self.next_delay(attempt, exc, previous)
                except RetryError as e:
                    e.total_delay = total
                    raise
                if previous > 0:
                    self.sleep(previous)
                total += previous
            attempt += 1
            start = time.perf_counter()
            try:
                value = attempt_fn()
            except Exception as e:  # noqa: BLE001 - classified by next_delay
                if m is not None:
                    m.record_attempt(False, time.perf_counter() - start, e)
                exc = e
                continue
            if m is not None:
                m.record_attempt(True, time.perf_counter() - start)
            return value, attempt, total

    async def arun(
        self, attempt_fn: Callable[[], Awaitable[Any]], exc: Optional[BaseException] = None
    ) -> Tuple[Any, int, float]:
        """``run`` for coroutines: waits with ``asleep``."""
        attempt = 0 if exc is None else 1
        total = previous = 0.0
        m = self.metrics
        while True:
            if exc is not None:
                try:
                    previous = self.next_delay(attempt, exc, previous)
                except RetryError as e:
                    e.total_delay = total
                    raise
                if previous > 0:
                    await self.asleep(previous)
                total += previous
            attempt += 1
            start = time.perf_counter()
            try:
                value = await attempt_fn()
            except Exception as e:  # noqa: BLE001 - classified by next_delay
                if m is not None:
                    m.record_attempt(False, time.perf_counter() - start, e)
                exc = e
                continue
            if m is not None:
                m.record_attempt(True, time.perf_counter() - start)
            return value, attempt, total


class Retrier(RetryStrategyInterface):
    """Runs an operation with retries (``RetryStrategyInterface``).

    Every call keeps its own attempt count and delays; only the metrics
    (``get_metrics()``) and the optional ``budget`` are shared. With a
    ``circuit_breaker`` (used when the config's ``circuit_breaker_enabled``)
    every attempt goes through it and a circuit-open rejection is not
    retried (see ``with_resilience``); with a ``bulkhead`` (used when
    ``bulkhead_enabled``) every attempt takes a slot. The budget is used
    when ``retry_budget_enabled``. ``sleep`` / ``asleep`` (default
    ``time.sleep`` / ``asyncio.sleep``) and ``rng`` can be injected, e.g. a
    ``ManualClock``'s ``advance`` in tests.
    """

    def __init__(
        self,
        *,
        budget: Optional[RetryBudget] = None,
        circuit_breaker: Optional[Any] = None,
        bulkhead: Optional[Bulkhead] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
        rng: Optional[random.Random] = None,
    ) -> None:
        if budget is not None:
            _check.instance("budget", budget, RetryBudget)
        if circuit_breaker is not None and not (
            callable(getattr(circuit_breaker, "call", None))
            and callable(getattr(circuit_breaker, "acall", None))
        ):
            raise _check.type_error(
                "circuit_breaker", "a circuit breaker (with call and acall)", circuit_breaker
            )
        if bulkhead is not None:
            _check.instance("bulkhead", bulkhead, Bulkhead)
        _check.optional_callable("sleep", sleep)
        _check.optional_callable("asleep", asleep)
        if rng is not None:
            _check.instance("rng", rng, random.Random, "a random.Random")
        self.budget = budget
        self.circuit_breaker = circuit_breaker
        self.bulkhead = bulkhead
        self._calc = BackoffCalculator(rng)
        self._sleep = sleep or _sleep
        self._asleep = asleep or _asleep
        self._metrics = RetryMetrics()

    def _plan(self, config: RetryConfig) -> _Plan:
        budget = self.budget if config.retry_budget_enabled else None
        return _Plan(config, self._calc, budget, self._metrics, self._sleep, self._asleep)

    def _attempt(self, func: Callable[[], Any], config: RetryConfig) -> Callable[[], Any]:
        cb = self.circuit_breaker if config.circuit_breaker_enabled else None
        bh = self.bulkhead if config.bulkhead_enabled else None
        call = func if cb is None else functools.partial(cb.call, func)
        if bh is None:
            return call

        def guarded() -> Any:
            if not bh.acquire():
                raise BulkheadFullError(f"bulkhead '{bh.name}' is full")
            try:
                return call()
            finally:
                bh.release()

        return guarded

    def _aattempt(
        self, func: Callable[[], Awaitable[Any]], config: RetryConfig
    ) -> Callable[[], Awaitable[Any]]:
        cb = self.circuit_breaker if config.circuit_breaker_enabled else None
        bh = self.bulkhead if config.bulkhead_enabled else None
        call = func if cb is None else functools.partial(cb.acall, func)
        if bh is None:
            return call

        async def guarded() -> Any:
            if not await bh.aacquire():
                raise BulkheadFullError(f"bulkhead '{bh.name}' is full")
            try:
                return await call()
            finally:
                bh.release()

        return guarded

    def execute(self, func: Callable[[], Any], config: RetryConfig) -> RetryResult:
        _check.instance("config", config, RetryConfig)
        if self.budget is not None and config.retry_budget_enabled:
            self.budget.record_attempt(False)
        plan = self._plan(config)
        func = self._attempt(func, config)
        try:
            value, attempts, delay = plan.run(func)
        except RetryError as e:
            return RetryResult(False, None, e.last_exception, e.attempts, e.total_delay, self._metrics)
        except Exception as e:  # noqa: BLE001 - reported in the result
            return RetryResult(False, None, e, 0, 0.0, self._metrics)
        return RetryResult(True, value, None, attempts, delay, self._metrics)

    async def aexecute(
        self, func: Callable[[], Awaitable[Any]], config: RetryConfig
    ) -> RetryResult:
        _check.instance("config", config, RetryConfig)
        if self.budget is not None and config.retry_budget_enabled:
            self.budget.record_attempt(False)
        plan = self._plan(config)
        func = self._aattempt(func, config)
        try:
            value, attempts, delay = await plan.arun(func)
        except RetryError as e:
            return RetryResult(False, None, e.last_exception, e.attempts, e.total_delay, self._metrics)
        except Exception as e:  # noqa: BLE001 - reported in the result
            return RetryResult(False, None, e, 0, 0.0, self._metrics)
        return RetryResult(True, value, None, attempts, delay, self._metrics)

    def get_metrics(self) -> RetryMetrics:
        if self.budget is not None:
            self._metrics.budget_remaining_percent = self.budget.get_remaining_budget_percent()
        return self._metrics

    def reset_metrics(self) -> None:
        self._metrics = RetryMetrics()


# -------------------------------------------------------- with_resilience


def _retry_config(retry_policy: Union[None, str, RetryPolicy, RetryConfig]) -> Optional[RetryConfig]:
    if retry_policy is None:
        return None
    if isinstance(retry_policy, RetryConfig):
        return retry_policy
    if isinstance(retry_policy, RetryPolicy):
        return retry_policy.to_config()
    if isinstance(retry_policy, str):
        p = RETRY_POLICIES.get(retry_policy)
        if p is None:
            raise ValueError(
                f"unknown retry_policy {retry_policy!r}: one of {', '.join(sorted(RETRY_POLICIES))}"
            )
        return p.to_config()
    raise _check.type_error(
        "retry_policy", "a policy name, a RetryPolicy or a RetryConfig", retry_policy
    )


def _is_async(func: Callable[..., Any]) -> bool:
    f = func
    while isinstance(f, functools.partial):
        f = f.func
    return inspect.iscoroutinefunction(f) or asyncio.iscoroutinefunction(f)


def with_resilience(
    retry_policy: Union[None, str, RetryPolicy, RetryConfig] = None,
    circuit_breaker_name: Optional[str] = None,
    *,
    circuit_breaker_config: Optional[CircuitBreakerConfig] = None,
    bulkhead: Union[None, Bulkhead, BulkheadConfig] = None,
    rate_limit: Union[None, RateLimiter, int] = None,
    timeout: Optional[Seconds] = None,
    fallback: Optional[Callable[..., Any]] = None,
    retry_budget: Union[None, RetryBudget, RetryBudgetConfig] = None,
    registry: Optional[Registry] = None,
    sleep: Optional[Callable[[float], Any]] = None,
    asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
    rng: Optional[random.Random] = None,
    metrics: Optional[RetryMetrics] = None,
) -> Callable[[F], F]:
    """Protects a sync or ``async def`` function (or method) with retries, a
    circuit breaker, a bulkhead, a rate limit, a timeout and a fallback.

    - ``retry_policy``: a name in ``RETRY_POLICIES`` (``'network'``, ...), a
      ``RetryPolicy`` or a ``RetryConfig``; ``None``: no retries.
    - ``circuit_breaker_name``: the shared breaker of that name in the
      registry (``registry`` or the process-wide one), created from
      ``circuit_breaker_config`` if new.
    - ``bulkhead``: a ``Bulkhead`` (shared) or a ``BulkheadConfig``.
    - ``rate_limit``: a ``RateLimiter`` or calls per second.
    - ``timeout``: seconds (or ``timedelta``) per attempt; ``async def``
      functions only (a running sync call cannot be interrupted).
    - ``fallback``: called with the call's arguments (awaited if it returns
      an awaitable) when the call finally fails with an ``Exception``.
    - ``retry_budget``: a ``RetryBudget`` (share one between functions) or a
      ``RetryBudgetConfig``; by default each decorated function gets its own
      budget from ``RetryBudgetConfig()`` when the retry config has
      ``retry_budget_enabled``.
    - ``sleep`` / ``asleep`` / ``rng``: injected for tests.

    The layers, outermost first:

    1. fallback;
    2. retry: per-call attempt count and delays; a retry must be granted by
       the budget (every call counts as a request); a circuit-open rejection
       is never retried, except that when the breaker announces a
       ``retry_after`` within ``max_delay`` the retry waits for it; only
       ``retryable_exceptions`` / ``retryable_status_codes`` are retried, and
       an exhausted retry raises ``RetryError`` (``attempts``,
       ``last_exception``); other exceptions propagate at once;
    3. rate limit, then bulkhead, per attempt (their refusals are not the
       dependency's failures, so the breaker does not count them);
    4. circuit breaker: sees each attempt;
    5. timeout around the call.

    On the success path the call runs once through the breaker's native
    wrapper and the retry machinery is entered only after a failure.
    Waiting in async code uses ``asyncio.sleep``; sync waits use
    ``time.sleep``, which releases the GIL.
    """
    config = _retry_config(retry_policy)
    for field, fn in (("fallback", fallback), ("sleep", sleep), ("asleep", asleep)):
        _check.optional_callable(field, fn)
    if rng is not None:
        _check.instance("rng", rng, random.Random, "a random.Random")
    if metrics is not None:
        _check.instance("metrics", metrics, RetryMetrics)
    if registry is not None:
        _check.instance("registry", registry, Registry)
    if circuit_breaker_config is not None and not isinstance(circuit_breaker_config, CircuitBreakerConfig):
        _native.validate_config(circuit_breaker_config)
    breaker = None
    if circuit_breaker_name is not None:
        _check.name("circuit_breaker_name", circuit_breaker_name)
        breaker = (registry if registry is not None else get_registry()).get_or_create(
            circuit_breaker_name, circuit_breaker_config
        )
    bh: Optional[Bulkhead] = None
    if isinstance(bulkhead, BulkheadConfig):
        bh = Bulkhead(bulkhead)
    elif bulkhead is not None:
        bh = _check.instance("bulkhead", bulkhead, Bulkhead, "a Bulkhead or a BulkheadConfig")
    rl: Optional[RateLimiter] = None
    if isinstance(rate_limit, RateLimiter):
        rl = rate_limit
    elif rate_limit is not None:
        n = _check.integer("rate_limit", rate_limit) if isinstance(rate_limit, int) else None
        if n is None:
            raise _check.type_error(
                "rate_limit", "a RateLimiter or an int (calls per second)", rate_limit
            )
        if n < 1:
            raise ValueError(
                f"invalid rate_limit = {n}: must be a RateLimiter or an int of calls per second >= 1"
            )
        try:
            rl = RateLimiter(n, 1.0, sleep=sleep, asleep=asleep)
        except ValueError as e:
            raise ValueError(f"invalid rate_limit = {n}: {e}") from None
    t = None if timeout is None else _check.positive_seconds("timeout", timeout)
    shared_budget: Optional[RetryBudget] = None
    if isinstance(retry_budget, RetryBudgetConfig):
        shared_budget = RetryBudget(retry_budget)
    elif retry_budget is not None:
        shared_budget = _check.instance(
            "retry_budget", retry_budget, RetryBudget, "a RetryBudget or a RetryBudgetConfig"
        )
    calc = BackoffCalculator(rng)
    if config is not None:
        # Validated now, not at the first failure.
        if config.strategy == RetryStrategy.CUSTOM:
            if config.custom_backoff is None:
                raise ValueError("strategy CUSTOM needs custom_backoff")
        else:
            calc._native_for(config)
    do_sleep = sleep or _sleep
    do_asleep = asleep or _asleep

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"can only decorate a callable, not {type(func).__name__}")
        is_async = _is_async(func)
        is_gen = is_generator_function(func)
        is_agen = is_async_generator_function(func)
        if t is not None and not (is_async or is_agen):
            raise TypeError(
                "timeout= applies to async def functions (and async generators) only"
            )
        budget = shared_budget
        if budget is None and config is not None and config.retry_budget_enabled:
            budget = RetryBudget(RetryBudgetConfig())
        if config is not None and not config.retry_budget_enabled:
            budget = None
        plan = (
            None
            if config is None
            else _Plan(config, calc, budget, metrics, do_sleep, do_asleep)
        )
        layers = _Layers(plan, budget, breaker, bh, rl, t, fallback)
        if is_gen:
            wrapper = _generator_wrapper(func, layers)
        elif is_agen:
            wrapper = _async_generator_wrapper(func, layers)
        elif is_async:
            wrapper = _async_wrapper(func, layers)
        else:
            wrapper = _sync_wrapper(func, layers)
        functools.update_wrapper(wrapper, func)
        wrapper.circuit_breaker = breaker  # type: ignore[attr-defined]
        wrapper.retry_budget = budget  # type: ignore[attr-defined]
        wrapper.bulkhead = bh  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


class _Layers(NamedTuple):
    """The layers `with_resilience` puts around one function (their order
    is in its docstring); each is None when not asked for."""

    plan: Optional[_Plan]
    budget: Optional[RetryBudget]
    breaker: Any
    bulkhead: Optional[Bulkhead]
    rate_limit: Optional[RateLimiter]
    timeout: Optional[float]
    fallback: Optional[Callable[..., Any]]


def _sync_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, _, fallback = layers
    # The breaker layer: its native wrapper (no Python frame per call).
    call: Callable[..., Any] = func if breaker is None else breaker._wrap(func, False)
    if bh is not None or rl is not None:
        protected = call

        def call(*args: Any, **kwargs: Any) -> Any:
            if rl is not None:
                rl.acquire()
            if bh is None:
                return protected(*args, **kwargs)
            if not bh.acquire():
                raise BulkheadFullError(f"bulkhead '{bh.name}' is full")
            try:
                return protected(*args, **kwargs)
            finally:
                bh.release()

    record = None if budget is None else budget.record_attempt

    def slow(exc: Exception, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        try:
            if plan is None:
                raise exc
            return plan.run(lambda: call(*args, **kwargs), exc)[0]
        except Exception:
            if fallback is None:
                raise
            return fallback(*args, **kwargs)

    if record is not None:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            record(False)
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                return slow(exc, args, kwargs)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                return slow(exc, args, kwargs)

    return wrapper


def _async_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, t, fallback = layers
    inner: Callable[..., Any] = func
    if t is not None:

        async def inner(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.wait_for(func(*args, **kwargs), t)

    call: Callable[..., Any] = inner if breaker is None else breaker._wrap(inner, True)
    if bh is not None or rl is not None:
        protected = call

        async def call(*args: Any, **kwargs: Any) -> Any:
            if rl is not None:
                await rl.aacquire()
            if bh is None:
                return await protected(*args, **kwargs)
            if not await bh.aacquire():
                raise BulkheadFullError(f"bulkhead '{bh.name}' is full")
            try:
                return await protected(*args, **kwargs)
            finally:
                bh.release()

    record = None if budget is None else budget.record_attempt

    async def slow(exc: Exception, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        try:
            if plan is None:
                raise exc
            return (await plan.arun(lambda: call(*args, **kwargs), exc))[0]
        except Exception:
            if fallback is None:
                raise
            r = fallback(*args, **kwargs)
            if inspect.isawaitable(r):
                r = await r
            return r

    if record is not None:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            record(False)
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                return await slow(exc, args, kwargs)

    else:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                return await slow(exc, args, kwargs)

    return wrapper



# ------------------------------------------- generators in with_resilience
#
# A decorated generator function is protected for the whole iteration of
# each attempt: the rate limit is passed, a bulkhead slot and the breaker's
# permit are taken when the attempt starts and held until the generator
# ends. An attempt that fails before yielding its first item is retried
# like any call (nothing has reached the consumer); once an item has been
# delivered a failure propagates (the consumer cannot be handed the items
# again), and the fallback is used only if nothing was delivered (its
# result, an iterable, is iterated in place of the stream).

_END = object()


def _generator_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, _, fallback = layers
    guarded = func if breaker is None else guard_generator(breaker, func)

    def attempt(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        if rl is not None:
            rl.acquire()
        if bh is None:
            return (yield from guarded(*args, **kwargs))
        if not bh.acquire():
            raise BulkheadFullError(f"bulkhead '{bh.name}' is full")
        try:
            return (yield from guarded(*args, **kwargs))
        finally:
            bh.release()

    def first(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[Any, Any]:
        """An attempt's generator and its first item (``_END`` and the
        return value if it yielded none), retried while nothing has been
        delivered."""
        if budget is not None:
            budget.record_attempt(False)

        def start() -> Tuple[Any, Any]:
            g = attempt(args, kwargs)
            try:
                return g, next(g)
            except StopIteration as stop:
                return _END, stop.value

        if plan is None:
            return start()
        return plan.run(start)[0]  # type: ignore[no-any-return]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            g, item = first(args, kwargs)
        except Exception:
            if fallback is None:
                raise
            return (yield from fallback(*args, **kwargs))
        if g is _END:
            return item
        return (yield from relay(g, item))

    return wrapper


def _async_generator_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, t, fallback = layers

    async def attempt(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Optional[Stream]:
        """One attempt: the rate limit, a bulkhead slot, then the breaker's
        permit and the first item within the timeout. The slot is given
        back when the attempt fails (so a retry can take it) and otherwise
        when the stream ends (``drive_stream``)."""
        if rl is not None:
            await rl.aacquire()
        if bh is None:
            return await start_stream(breaker, func, args, kwargs, t)
        if not await bh.aacquire():
            raise BulkheadFullError(f"bulkhead '{bh.name}' is full")
        return await start_stream(breaker, func, args, kwargs, t, bh.release)

    async def start(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Optional[Stream]:
        """The stream and its first item, retried while nothing has been
        delivered, else the fallback's stream."""
        if budget is not None:
            budget.record_attempt(False)
        try:
            if plan is None:
                return await attempt(args, kwargs)
            return (await plan.arun(lambda: attempt(args, kwargs)))[0]  # type: ignore[no-any-return]
        except Exception:
            if fallback is None:
                raise
            items = fallback(*args, **kwargs)
            agen = items if hasattr(items, "__anext__") else _from_iterable(items)
            try:
                return Stream(agen, await agen.__anext__(), None, None, None)
            except StopAsyncIteration:
                return None

    return drive_stream(start)


async def _from_iterable(items: Iterable[Any]) -> AsyncGenerator[Any, None]:
    """A fallback's plain iterable as an async generator."""
    for item in items:
        yield item
