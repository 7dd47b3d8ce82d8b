"""Retry, retry budget, bulkhead and rate limiter, and the metrics collector.

No real sleeping: delays are recorded by injected sleep functions, jitter is
pinned by a fixed random source. `with_resilience` is in
test_with_resilience.py.
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta
from typing import Any, List

import pytest

import seawall
from seawall import (
    RETRY_POLICIES,
    BackoffCalculator,
    Bulkhead,
    BulkheadConfig,
    BulkheadFullError,
    ManualClock,
    RateLimiter,
    RateLimitExceededError,
    ResilienceMetrics,
    Retrier,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryStrategy,
    with_resilience,
)
from seawall import interfaces

from conftest import Fixed, Sleeps


def expected(policy: seawall.RetryPolicy) -> List[float]:
    return [
        min(policy.initial_delay * policy.backoff_multiplier ** (n - 1), policy.max_delay)
        for n in range(1, policy.max_retries + 1)
    ]


def test_implementations_satisfy_the_original_interfaces() -> None:
    assert isinstance(BackoffCalculator(), interfaces.BackoffCalculatorInterface)
    assert isinstance(Retrier(), interfaces.RetryStrategyInterface)
    assert isinstance(Bulkhead(), interfaces.BulkheadInterface)
    assert isinstance(RetryBudget(), interfaces.RetryBudgetInterface)
    assert isinstance(ResilienceMetrics(), interfaces.ResilienceMetricsInterface)


@pytest.mark.parametrize("name", sorted(RETRY_POLICIES))
def test_every_preset_delays_with_jitter_pinned_to_its_midpoint(name: str) -> None:
    policy = RETRY_POLICIES[name]
    calc = BackoffCalculator(Fixed(0.5))
    cfg = policy.to_config()
    got = [calc.calculate_delay(n, cfg) for n in range(1, policy.max_retries + 1)]
    assert got == pytest.approx(expected(policy))


@pytest.mark.parametrize("name", sorted(RETRY_POLICIES))
def test_every_preset_through_with_resilience(name: str) -> None:
    policy = RETRY_POLICIES[name]
    sleeps = Sleeps()
    calls = []

    @with_resilience(retry_policy=name, sleep=sleeps, rng=Fixed(0.5))
    def flaky() -> None:
        calls.append(1)
        raise ConnectionError("down")

    with pytest.raises(RetryError) as e:
        flaky()
    assert e.value.attempts == policy.max_retries + 1 == len(calls)
    assert isinstance(e.value.last_exception, ConnectionError)
    assert sleeps.slept == pytest.approx(expected(policy))


def test_jitter_spreads_within_the_factor() -> None:
    cfg = RETRY_POLICIES["network"].to_config()  # jitter_factor 0.1
    low = BackoffCalculator(Fixed(0.0)).calculate_delay(2, cfg)
    high = BackoffCalculator(Fixed(0.999999)).calculate_delay(2, cfg)
    assert low == pytest.approx(0.9) and high == pytest.approx(1.1, rel=1e-5)
    no_jitter = RetryConfig(strategy=RetryStrategy.EXPONENTIAL_WITH_JITTER, jitter_enabled=False)
    assert BackoffCalculator(Fixed(0.0)).calculate_delay(3, no_jitter) == 4.0
    seeded = [BackoffCalculator(random.Random(7)).calculate_delay(3, cfg) for _ in range(2)]
    assert seeded[0] == seeded[1] and 1.8 <= seeded[0] < 2.2
    assert BackoffCalculator(Fixed(1.0)).add_jitter(10.0, 0.2) == pytest.approx(12.0, rel=1e-6)
    assert BackoffCalculator(Fixed(0.0)).add_jitter(10.0, 0.2) == 8.0


def test_every_strategy() -> None:
    calc = BackoffCalculator(Fixed(0.5))

    def delays(strategy: RetryStrategy, **kw: Any) -> List[float]:
        cfg = RetryConfig(strategy=strategy, initial_delay=1.0, max_delay=10.0, **kw)
        return [calc.calculate_delay(n, cfg) for n in range(1, 7)]

    assert delays(RetryStrategy.FIXED) == [1.0] * 6
    assert delays(RetryStrategy.LINEAR) == [1, 2, 3, 4, 5, 6]
    assert delays(RetryStrategy.EXPONENTIAL) == [1, 2, 4, 8, 10, 10]
    assert delays(RetryStrategy.FIBONACCI) == [1, 1, 2, 3, 5, 8]
    # Decorrelated: uniform in [i, 3 * previous): the midpoint is 2 with
    # previous = i.
    cfg = RetryConfig(strategy=RetryStrategy.DECORRELATED_JITTER, initial_delay=1.0, max_delay=10.0)
    assert calc.calculate_delay(1, cfg, 0.0) == 2.0
    assert calc.calculate_delay(2, cfg, 2.0) == 3.5
    custom = RetryConfig(strategy=RetryStrategy.CUSTOM, custom_backoff=lambda n: n * 0.25)
    assert calc.calculate_delay(3, custom) == 0.75
    with pytest.raises(ValueError, match="max_attempts"):
        calc.calculate_delay(1, RetryConfig(max_attempts=0))


def test_retrier_executes_with_per_call_state_and_metrics() -> None:
    sleeps = Sleeps()
    r = Retrier(sleep=sleeps, rng=Fixed(0.5))
    cfg = RetryConfig(strategy=RetryStrategy.FIXED, max_attempts=3, initial_delay=0.5)
    n = iter([ConnectionError("a"), TimeoutError("b"), None])

    def op() -> str:
        e = next(n)
        if e is not None:
            raise e
        return "done"

    res = r.execute(op, cfg)
    assert res.success and res.result == "done" and res.attempts == 3 and res.total_delay == 1.0
    # A second call starts again from attempt 1 (nothing shared but metrics).
    res2 = r.execute(lambda: "again", cfg)
    assert res2.success and res2.attempts == 1
    m = r.get_metrics()
    assert (m.total_attempts, m.successful_attempts, m.failed_attempts) == (4, 2, 2)
    assert m.exceptions_by_type == {"ConnectionError": 1, "TimeoutError": 1}

    def always() -> None:
        raise ConnectionError("x")

    bad = r.execute(always, cfg)
    assert not bad.success and bad.attempts == 3 and isinstance(bad.exception, ConnectionError)
    assert bad.total_delay == 1.0, "the delay spent before giving up is reported"
    assert r.get_metrics().retries_exhausted == 1
    not_retryable = r.execute(lambda: 1 / 0, cfg)
    assert not not_retryable.success and isinstance(not_retryable.exception, ZeroDivisionError)
    r.reset_metrics()
    assert r.get_metrics().total_attempts == 0

    async def aop() -> int:
        return 5

    ares = asyncio.run(r.aexecute(aop, cfg))
    assert ares.success and ares.result == 5


def test_budget_exhaustion_stops_retries() -> None:
    clock = ManualClock()
    # No token floor: below min_requests no retry is granted at all.
    budget = RetryBudget(
        RetryBudgetConfig(budget_percent=10.0, min_requests=10, tokens_per_second=1.0, max_tokens=0),
        clock=clock,
    )
    calls = []

    @with_resilience(RetryConfig(max_attempts=5, initial_delay=0.0, max_delay=0.0, jitter_enabled=False),
                     retry_budget=budget, sleep=Sleeps(clock))
    def flaky(fail: bool) -> str:
        calls.append(fail)
        if fail:
            raise ConnectionError("down")
        return "ok"

    with pytest.raises(RetryError, match="budget"):
        flaky(True)  # 1 request < min_requests: no retry
    assert len(calls) == 1
    for _ in range(18):
        assert flaky(False) == "ok"
    # 19 requests: 2 retries fit (2 of 21 <= 10%), the third does not.
    calls.clear()
    with pytest.raises(RetryError, match="budget") as e:
        flaky(True)
    assert len(calls) == 3 and e.value.attempts == 3
    assert budget.counts() == (22, 2)
    assert budget.get_remaining_budget_percent() < 10.0
    budget.reset()
    assert budget.counts() == (0, 0)


def test_budget_interface_directly() -> None:
    b = RetryBudget(RetryBudgetConfig(min_requests=10, tokens_per_second=1.0, max_tokens=0),
                    clock=ManualClock())
    for _ in range(90):
        b.record_attempt(False)
    assert sum(b.can_retry() for _ in range(20)) == 10
    with pytest.raises(ValueError, match="budget_percent"):
        RetryBudget(RetryBudgetConfig(budget_percent=-1.0))


def test_bulkhead_full_and_queue_timeout() -> None:
    bh = Bulkhead(BulkheadConfig(max_concurrent=2, max_queue_size=0, timeout=timedelta(0)))
    assert bh.acquire() and bh.acquire()
    assert bh.get_available_permits() == 0
    assert not bh.acquire()  # full, no queue
    with pytest.raises(BulkheadFullError):
        with bh:
            pass
    bh.release()
    assert bh.get_available_permits() == 1
    bh.release()
    with pytest.raises(RuntimeError):
        bh.release()
    # With a queue: a waiter whose timeout passes gives up and leaves it.
    q = Bulkhead(BulkheadConfig(max_concurrent=1, max_queue_size=1, timeout=timedelta(0)))
    assert q.acquire()
    assert not q.acquire(timeout=0.0)
    assert q.get_queue_size() == 0 and q.get_available_permits() == 0
    q.release()
    with q:
        assert q.get_available_permits() == 0
    assert q.get_available_permits() == 1


def test_bulkhead_sync_waiter_gets_a_released_slot() -> None:
    import threading

    bh = Bulkhead(BulkheadConfig(max_concurrent=1, max_queue_size=1, timeout=timedelta(seconds=30)))
    assert bh.acquire()
    got: List[bool] = []
    t = threading.Thread(target=lambda: got.append(bh.acquire()))
    t.start()
    while bh.get_queue_size() == 0:  # the waiter registers (without the GIL)
        pass
    bh.release()
    t.join()
    assert got == [True] and bh.get_queue_size() == 0
    bh.release()
    assert bh.get_available_permits() == 1


def test_bulkhead_async_wait_and_cancellation_leave_no_slot() -> None:
    bh = Bulkhead(BulkheadConfig(max_concurrent=1, max_queue_size=2, timeout=timedelta(seconds=30)))

    async def main() -> None:
        assert await bh.aacquire()
        waiter = asyncio.ensure_future(bh.aacquire())
        cancelled = asyncio.ensure_future(bh.aacquire())
        await asyncio.sleep(0)
        assert bh.get_queue_size() == 2
        assert not await bh.aacquire()  # queue full: rejected at once
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert bh.get_queue_size() == 1
        bh.release()
        assert await waiter
        assert bh.get_queue_size() == 0 and bh.get_available_permits() == 0
        bh.release()
        assert bh.get_available_permits() == 1
        # A waiter given up by its own timeout leaves too.
        assert await bh.aacquire()
        assert not await bh.aacquire(timeout=0.0)
        assert bh.get_queue_size() == 0
        bh.release()

    asyncio.run(main())
    assert bh.get_available_permits() == 1 and bh.get_queue_size() == 0


def test_rate_limiter_waits_or_refuses() -> None:
    clock = ManualClock()
    sleeps = Sleeps(clock)
    rl = RateLimiter(2, 1.0, clock=clock, sleep=sleeps, asleep=sleeps.a)
    assert rl.check() == 0.0 and rl.check() == 0.0
    assert rl.check() == pytest.approx(0.5)
    rl.acquire()
    assert sleeps.slept == [pytest.approx(0.5)]
    strict = RateLimiter(1, 1.0, clock=clock, max_wait=0.1)
    strict.acquire()
    with pytest.raises(RateLimitExceededError) as e:
        strict.acquire()
    assert e.value.retry_after == pytest.approx(1.0)
    asyncio.run(rl.aacquire())
    with pytest.raises(ValueError, match="rate"):
        RateLimiter(0)


def test_metrics_collector() -> None:
    m = ResilienceMetrics()
    m.record_retry_attempt("network", 2, False, 0.5)
    m.record_circuit_state_change("users", seawall.CircuitState.CLOSED, seawall.CircuitState.OPEN)
    m.record_bulkhead_rejection("db")
    m.record_retry_budget_exhaustion("api")
    s = m.get_metrics_summary()
    assert s["retries"]["network"]["failures"] == 1
    assert s["circuit_state_changes"] == {"users": {"closed->open": 1}}
    assert s["bulkhead_rejections"] == {"db": 1} and s["retry_budget_exhaustions"] == {"api": 1}
