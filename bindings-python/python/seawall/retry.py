"""Retries: the retry loop a ``RetryConfig`` describes (``_Plan``, shared
with ``with_resilience``) and ``Retrier``, the ``RetryStrategyInterface``
that runs it."""

from __future__ import annotations

import functools
import logging
import random
import time
from typing import Any, Awaitable, Callable, Optional, Tuple, Union

from . import _check
from ._time import asleep as _asleep, sleep as _sleep
from .backoff import BackoffCalculator
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
)

__all__ = ["Retrier"]

_log = logging.getLogger("seawall")


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
        tries, delay = (
            (_NONE_FAILED, 0.0) if exc is None else _NONE_FAILED.after_failure(self, exc, None)
        )
        while True:
            if delay > 0:
                self.sleep(delay)
            start = time.perf_counter()
            try:
                value = attempt_fn()
            except Exception as e:  # noqa: BLE001 - classified by next_delay
                tries, delay = tries.after_failure(self, e, start)
                continue
            if self.metrics is not None:
                self.metrics.record_attempt(True, time.perf_counter() - start)
            return value, tries.failed + 1, tries.total

    async def arun(
        self, attempt_fn: Callable[[], Awaitable[Any]], exc: Optional[BaseException] = None
    ) -> Tuple[Any, int, float]:
        """``run`` for coroutines: waits with ``asleep``."""
        tries, delay = (
            (_NONE_FAILED, 0.0) if exc is None else _NONE_FAILED.after_failure(self, exc, None)
        )
        while True:
            if delay > 0:
                await self.asleep(delay)
            start = time.perf_counter()
            try:
                value = await attempt_fn()
            except Exception as e:  # noqa: BLE001 - classified by next_delay
                tries, delay = tries.after_failure(self, e, start)
                continue
            if self.metrics is not None:
                self.metrics.record_attempt(True, time.perf_counter() - start)
            return value, tries.failed + 1, tries.total


class _Attempts:
    """The bookkeeping of one call's retry loop: the attempts that failed,
    the delays so far, and the metrics of each failed attempt. ``run`` and
    ``arun`` only call, sleep, and report failures here; every decision is
    made in ``after_failure`` (by ``_Plan.next_delay``).

    A call whose first attempt succeeds uses the shared ``_NONE_FAILED``,
    never written to: the first failure makes the call its own record, so
    the success path allocates nothing (``run`` is on the success path of
    generators and of ``Retrier``)."""

    __slots__ = ("failed", "total", "previous")

    def __init__(self) -> None:
        self.failed = 0
        self.total = 0.0
        self.previous = 0.0

    def after_failure(
        self, plan: _Plan, exc: BaseException, started: Optional[float]
    ) -> Tuple["_Attempts", float]:
        """An attempt (started at ``started`` on ``time.perf_counter``;
        ``None`` for a first attempt made by ``run``'s caller, neither timed
        nor in the metrics) failed with ``exc``: the call's record and the
        delay before the next attempt, or raises as ``_Plan.next_delay``
        does (a ``RetryError`` carrying the total delay so far)."""
        tries = _Attempts() if self is _NONE_FAILED else self
        tries.failed += 1
        m = plan.metrics
        if m is not None and started is not None:
            m.record_attempt(False, time.perf_counter() - started, exc)
        try:
            delay = plan.next_delay(tries.failed, exc, tries.previous)
        except RetryError as e:
            e.total_delay = tries.total
            raise
        tries.previous = delay
        tries.total += delay
        return tries, delay


_NONE_FAILED = _Attempts()


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
        return _Plan(config, self._calc, budget, self._metrics, self._sleep, self._asleep)

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


