"""Retries: the retry loop a ``RetryConfig`` describes (``_Plan``, shared
with ``with_resilience``) and ``Retrier``, the ``RetryStrategyInterface``
that runs it.

Every decision of the loop (attempt numbers, delays and their jitter, the
retry budget, waits for a breaker's announced trial, when to stop) is made
by the core's retry state machine, ``_native.RetryState``. The drivers here
only call, sleep, classify an exception as retryable (a question about
Python exception types and status codes), keep the metrics and turn a stop
into the exception the caller sees."""

from __future__ import annotations

import functools
import logging
import random
import time
from typing import Any, Awaitable, Callable, NoReturn, Optional, Tuple, Union

from . import _check, _events, _native
from ._time import asleep as _asleep, sleep as _sleep
from .backoff import BackoffCalculator, _custom_delays
from .budget import RetryBudget
from .bulkhead import Bulkhead, aadmit, admit
from .exceptions import CircuitBreakerOpenError
from .interfaces import RetryStrategyInterface
from .models import (
    RETRY_POLICIES,
    RetryConfig,
    RetryError,
    RetryMetrics,
    RetryPolicy,
    RetryResult,
    RetryStrategy,
)

__all__ = ["Retrier"]

_log = logging.getLogger("seawall")


def _retryable(exc: BaseException, config: RetryConfig) -> bool:
    if isinstance(exc, tuple(config.retryable_exceptions)):
        return True
    code = getattr(exc, "status_code", None)
    return code is not None and code in config.retryable_status_codes


class _Plan:
    """Everything a retry loop needs, resolved once: the config, where the
    core's back-off for it comes from (``calc``, which caches it), the
    budget, the metrics, the sleeps and the source of the jitter's random
    numbers (``None``: the core's own)."""

    __slots__ = (
        "config", "calc", "custom", "random", "budget", "budget_name", "metrics", "sleep",
        "asleep", "stats",
    )

    def __init__(
        self,
        config: RetryConfig,
        calc: BackoffCalculator,
        rng: Optional[random.Random],
        budget: Optional[RetryBudget],
        metrics: Optional[RetryMetrics],
        sleep: Callable[[float], Any],
        asleep: Callable[[float], Awaitable[Any]],
        stats: Optional[_native.RetryStats] = None,
    ) -> None:
        self.config = config
        self.calc = calc
        self.custom: Optional[Callable[[int], float]] = None
        if config.strategy == RetryStrategy.CUSTOM:
            self.custom = _custom_delays(config)
        self.random = None if rng is None else rng.random
        self.budget = None if budget is None else budget._native
        self.budget_name = None if budget is None else budget.name
        self.metrics = metrics
        self.sleep = sleep
        self.asleep = asleep
        # Counted once per call, when it ends (for the metrics exporters).
        self.stats = stats

    def after_failure(
        self, state: Optional[_native.RetryState], exc: BaseException, started: Optional[float]
    ) -> Tuple[_native.RetryState, float]:
        """The attempt in progress (started at ``started`` on
        ``time.perf_counter``; ``None`` for a first attempt made by
        ``run``'s caller, in ``with_resilience``'s native wrapper, which
        reads no clock: counted with a duration of 0) failed with
        ``exc``: reports it to the call's ``state`` (made now for a first
        failure: the call's first attempt was counted in the budget by the
        caller) and returns it with the delay before the next attempt, or
        raises what the stop means: ``exc`` itself when it is not retryable
        (a circuit-open rejection whose announced ``retry_after`` does not
        fit in ``max_delay`` and the attempts left included), else
        ``RetryError`` (attempts or the budget exhausted)."""
        if state is None:
            state = _native.RetryState(
                self.calc._native_for(self.config),
                self.budget,
                random=self.random,
                custom=self.custom,
                attempts=1,
            )
        m = self.metrics
        took = 0.0 if started is None else time.perf_counter() - started
        if m is not None:
            m.record_attempt(False, took, exc)
        if _events._sinks:
            _events.retry_attempt(self.config.strategy.value, state.attempts, False, took)
        if isinstance(exc, CircuitBreakerOpenError):
            if m is not None:
                m.requests_rejected += 1
            delay = state.on_rejection(exc.retry_after)
        else:
            delay = state.on_failure(_retryable(exc, self.config))
        if delay is None:
            self._stopped(state, exc)
        on_retry = self.config.on_retry
        if on_retry is not None:
            try:
                on_retry(state.attempts, exc)
            except Exception:  # noqa: BLE001 - a hook never breaks the call
                _log.exception("on_retry hook raised; ignored")
        return state, delay

    def _stopped(self, state: _native.RetryState, exc: BaseException) -> NoReturn:
        """Raises what ``state``'s stop means for the caller."""
        stop = state.stop
        m = self.metrics
        n = state.attempts
        if self.stats is not None:
            self.stats.stopped(n, stop == "not_retryable")
        if stop == "budget_exhausted":
            if m is not None:
                m.budget_exhausted += 1
                if self.budget is not None:
                    m.budget_remaining_percent = self.budget.remaining_percent()
            err = RetryError(f"retry budget exhausted after {n} attempts: {exc!r}", n, exc)
        elif stop == "delay_budget_exhausted":
            if m is not None:
                m.retries_exhausted += 1
            err = RetryError(
                f"gave up after {n} attempts: the next delay would exceed max_total_delay: {exc!r}",
                n,
                exc,
            )
        elif stop in ("not_retryable", "rejected") or isinstance(exc, CircuitBreakerOpenError):
            raise exc
        else:
            if m is not None:
                m.retries_exhausted += 1
            err = RetryError(f"gave up after {n} attempts: {exc!r}", n, exc)
        err.total_delay = state.total_delay
        _events.gave_up(self.config.strategy.value, n, str(stop), exc, self.budget_name)
        raise err from exc

    def _succeeded(
        self, value: Any, state: Optional[_native.RetryState], started: float
    ) -> Tuple[Any, int, float]:
        """The result of a call whose last attempt, started at ``started``,
        returned ``value``: into the metrics and stats, and, when it was a
        retry (``state`` is made at the first failure), into the attached
        ``ResilienceMetrics``."""
        attempts, delay = (1, 0.0) if state is None else (state.attempts, state.total_delay)
        if self.stats is not None:
            self.stats.succeeded(attempts)
        if self.metrics is not None or (state is not None and _events._sinks):
            took = time.perf_counter() - started
            if self.metrics is not None:
                self.metrics.record_attempt(True, took)
            if state is not None and _events._sinks:
                _events.retry_attempt(self.config.strategy.value, attempts, True, took)
        return value, attempts, delay

    def run(
        self, attempt_fn: Callable[[], Any], exc: Optional[BaseException] = None
    ) -> Tuple[Any, int, float]:
        """Runs ``attempt_fn`` until it succeeds; ``exc`` is the failure of a
        first attempt already made (and counted in the budget). Returns
        ``(value, attempts, delay)``. The native state is made at the first
        failure: a first attempt that succeeds costs nothing here."""
        state, delay = (None, 0.0) if exc is None else self.after_failure(None, exc, None)
        while True:
            if delay > 0:
                self.sleep(delay)
            if state is not None:
                state.begin()
            start = time.perf_counter()
            try:
                value = attempt_fn()
            except Exception as e:  # noqa: BLE001 - classified by after_failure
                state, delay = self.after_failure(state, e, start)
                continue
            return self._succeeded(value, state, start)

    async def arun(
        self, attempt_fn: Callable[[], Awaitable[Any]], exc: Optional[BaseException] = None
    ) -> Tuple[Any, int, float]:
        """``run`` for coroutines: waits with ``asleep``."""
        state, delay = (None, 0.0) if exc is None else self.after_failure(None, exc, None)
        while True:
            if delay > 0:
                await self.asleep(delay)
            if state is not None:
                state.begin()
            start = time.perf_counter()
            try:
                value = await attempt_fn()
            except Exception as e:  # noqa: BLE001 - classified by after_failure
                state, delay = self.after_failure(state, e, start)
                continue
            return self._succeeded(value, state, start)


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
    ``ManualClock``'s ``advance`` in tests. ``name`` labels its calls in
    ``seawall.snapshot()`` and the metrics exporters.
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
        name: str = "default",
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
        self._rng = rng
        self._sleep = sleep or _sleep
        self._asleep = asleep or _asleep
        self._metrics = RetryMetrics()
        self.name = _check.name("name", name)
        # How its calls ended, for seawall.snapshot() and the exporters.
        self._stats = _native.RetryStats(self.name)

    def _attempt(self, func: Callable[[], Any], config: RetryConfig, is_async: bool) -> Callable[[], Any]:
        """``func`` through the breaker and the bulkhead the config enables."""
        cb = self.circuit_breaker if config.circuit_breaker_enabled else None
        bh = self.bulkhead if config.bulkhead_enabled else None
        if cb is not None:
            func = functools.partial(cb.acall if is_async else cb.call, func)
        if bh is None:
            return func
        return aadmit(func, bh) if is_async else admit(func, bh)

    def _start(self, config: RetryConfig) -> _Plan:
        """Checks ``config``, counts the call's first attempt, and plans its
        retries."""
        _check.instance("config", config, RetryConfig)
        if self.budget is not None and config.retry_budget_enabled:
            self.budget.record_attempt(False)
        budget = self.budget if config.retry_budget_enabled else None
        return _Plan(
            config,
            self._calc,
            self._rng,
            budget,
            self._metrics,
            self._sleep,
            self._asleep,
            self._stats,
        )

    def _failed(self, e: Exception) -> RetryResult:
        if isinstance(e, RetryError):
            return RetryResult(False, None, e.last_exception, e.attempts, e.total_delay, self._metrics)
        return RetryResult(False, None, e, 0, 0.0, self._metrics)

    def execute(self, func: Callable[[], Any], config: RetryConfig) -> RetryResult:
        plan = self._start(config)
        try:
            value, attempts, delay = plan.run(self._attempt(func, config, False))
        except Exception as e:  # noqa: BLE001 - reported in the result
            return self._failed(e)
        return RetryResult(True, value, None, attempts, delay, self._metrics)

    async def aexecute(
        self, func: Callable[[], Awaitable[Any]], config: RetryConfig
    ) -> RetryResult:
        plan = self._start(config)
        try:
            value, attempts, delay = await plan.arun(self._attempt(func, config, True))
        except Exception as e:  # noqa: BLE001 - reported in the result
            return self._failed(e)
        return RetryResult(True, value, None, attempts, delay, self._metrics)

    def get_metrics(self) -> RetryMetrics:
        if self.budget is not None:
            self._metrics.budget_remaining_percent = self.budget.get_remaining_budget_percent()
        return self._metrics

    def reset_metrics(self) -> None:
        self._metrics = RetryMetrics()


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


