"""Retry, retry budget, bulkhead, rate limiter and `with_resilience`.

No real sleeping: delays are recorded by injected sleep functions (which
advance a ManualClock where breakers are involved), jitter is pinned by a
fixed random source.
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
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
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


class Fixed(random.Random):
    """A random source that always returns `u`."""

    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


class Sleeps:
    """Records sleeps (sync and async) and optionally advances a clock."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.slept: List[float] = []
        self.clock = clock

    def __call__(self, d: float) -> None:
        self.slept.append(d)
        if self.clock is not None:
            self.clock.advance(d)

    async def a(self, d: float) -> None:
        self(d)


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


# ------------------------------------------------------------ with_resilience


def _registry(clock: ManualClock) -> seawall.Registry:
    return seawall.Registry(clock=clock)


def test_sync_function_and_method_retry_through_the_breaker() -> None:
    clock = ManualClock()
    sleeps = Sleeps(clock)
    reg = _registry(clock)
    attempts: List[int] = []

    class Client:
        def __init__(self) -> None:
            self.fail = 2

        @with_resilience("network", "svc", registry=reg, sleep=sleeps, rng=Fixed(0.5))
        def get(self, x: int) -> int:
            attempts.append(x)
            if self.fail:
                self.fail -= 1
                raise ConnectionError("down")
            return x * 2

    c = Client()
    assert c.get(21) == 42
    assert attempts == [21, 21, 21] and sleeps.slept == [0.5, 1.0]
    breaker = Client.get.circuit_breaker  # type: ignore[attr-defined]
    # The breaker saw every attempt.
    assert breaker.metrics()["failures"] == 2 and breaker.metrics()["successes"] == 1
    assert Client.get.__name__ == "get"


def test_async_function_retries_and_non_retryable_propagates() -> None:
    sleeps = Sleeps()
    n = [0]

    @with_resilience(RetryConfig(strategy=RetryStrategy.FIXED, initial_delay=0.25),
                     asleep=sleeps.a)
    async def flaky(kind: type) -> str:
        n[0] += 1
        if n[0] < 3:
            raise kind("x")
        return "ok"

    assert asyncio.run(flaky(TimeoutError)) == "ok" and n[0] == 3
    assert sleeps.slept == [0.25, 0.25]
    n[0] = 0
    with pytest.raises(KeyError):
        asyncio.run(flaky(KeyError))
    assert n[0] == 1
    assert asyncio.iscoroutinefunction(flaky)


def test_never_retries_a_circuit_open_rejection() -> None:
    clock = ManualClock()
    reg = _registry(clock)
    sleeps = Sleeps(clock)
    cfg = CircuitBreakerConfig(failure_threshold=2, timeout=timedelta(seconds=60))
    calls = []

    @with_resilience("standard", "trip", circuit_breaker_config=cfg, registry=reg,
                     sleep=sleeps, rng=Fixed(0.5))
    def down() -> None:
        calls.append(1)
        raise ConnectionError("down")

    # Attempt 1 fails, retry 1 fails and opens the breaker; retry 2 is
    # rejected: retry_after (60 s) exceeds max_delay (10 s), so no more.
    with pytest.raises(CircuitBreakerOpenError):
        down()
    assert len(calls) == 2 and sleeps.slept == [1.0, 2.0]
    calls.clear()
    with pytest.raises(CircuitBreakerOpenError):
        down()
    assert calls == []


def test_waits_for_the_breaker_when_its_retry_after_fits() -> None:
    clock = ManualClock()
    reg = _registry(clock)
    sleeps = Sleeps(clock)
    cfg = CircuitBreakerConfig(failure_threshold=1, success_threshold=1, timeout=timedelta(seconds=5))
    state = {"fail": True}

    @with_resilience(RetryConfig(strategy=RetryStrategy.FIXED, initial_delay=1.0, max_delay=10.0,
                                 max_attempts=3),
                     "waits", circuit_breaker_config=cfg, registry=reg, sleep=sleeps)
    def call() -> str:
        if state["fail"]:
            state["fail"] = False
            raise ConnectionError("down")
        return "ok"

    # Fails and opens; retry 1 after 1 s is rejected (4 s left, within
    # max_delay): wait 4 s, then the trial call succeeds.
    assert call() == "ok"
    assert sleeps.slept == [1.0, pytest.approx(4.0)]


def test_fallback_outermost_and_async_method() -> None:
    sleeps = Sleeps()

    class Svc:
        @with_resilience("validation", fallback=lambda self, x: f"cached {x}", asleep=sleeps.a,
                         rng=Fixed(0.5))
        async def get(self, x: int) -> str:
            raise ConnectionError("down")

    assert asyncio.run(Svc().get(3)) == "cached 3"
    assert sleeps.slept == [1.0]


def test_bulkhead_rate_limit_and_timeout_layers() -> None:
    bh = Bulkhead(BulkheadConfig(max_concurrent=1, max_queue_size=0, timeout=timedelta(0)))
    seen: List[int] = []

    @with_resilience(bulkhead=bh)
    def inside() -> int:
        seen.append(bh.get_available_permits())
        return 1

    assert inside() == 1 and seen == [0] and bh.get_available_permits() == 1
    assert bh.acquire()
    with pytest.raises(BulkheadFullError):
        inside()
    bh.release()

    clock = ManualClock()
    sleeps = Sleeps(clock)
    rl = RateLimiter(1, 1.0, clock=clock, sleep=sleeps, asleep=sleeps.a)

    @with_resilience(rate_limit=rl)
    async def limited() -> int:
        return 2

    assert asyncio.run(limited()) == 2 and asyncio.run(limited()) == 2
    assert sleeps.slept == [pytest.approx(1.0)]

    @with_resilience(RetryConfig(strategy=RetryStrategy.FIXED, initial_delay=0.0, max_delay=0.0,
                                 max_attempts=2), timeout=0.01)
    async def hangs() -> None:
        await asyncio.Event().wait()

    with pytest.raises(RetryError) as e:
        asyncio.run(hangs())
    assert e.value.attempts == 2 and isinstance(e.value.last_exception, TimeoutError)
    with pytest.raises(TypeError, match="async"):
        with_resilience(timeout=1.0)(lambda: 1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        with_resilience(RetryConfig(max_attempts=0))
    with pytest.raises(ValueError, match="initial_delay"):
        with_resilience(RetryConfig(initial_delay=-1.0))
    with pytest.raises(ValueError, match="custom_backoff"):
        with_resilience(RetryConfig(strategy=RetryStrategy.CUSTOM))
    with pytest.raises(ValueError, match="network"):
        with_resilience("nope")
    with pytest.raises(TypeError):
        with_resilience(3)  # type: ignore[arg-type]


def test_on_retry_hook_and_status_codes() -> None:
    seen: List[Any] = []

    class HttpError(Exception):
        def __init__(self, status_code: int) -> None:
            super().__init__(status_code)
            self.status_code = status_code

    codes = iter([503, 502, 200])

    cfg = RetryConfig(strategy=RetryStrategy.FIXED, initial_delay=0.0, max_delay=0.0, max_attempts=5,
                      on_retry=lambda n, e: seen.append((n, e.status_code)))

    @with_resilience(cfg, sleep=Sleeps())
    def call() -> int:
        c = next(codes)
        if c != 200:
            raise HttpError(c)
        return c

    assert call() == 200 and seen == [(1, 503), (2, 502)]

    @with_resilience(cfg, sleep=Sleeps())
    def not_found() -> None:
        raise HttpError(404)

    with pytest.raises(HttpError):
        not_found()
    assert len(seen) == 2


def test_concurrent_async_calls_keep_their_own_attempt_counts() -> None:
    sleeps: List[float] = []
    gate: asyncio.Event

    async def asleep(d: float) -> None:
        sleeps.append(d)
        await gate.wait()  # every call is mid-retry at once

    failures = {"a": 2, "b": 1}

    @with_resilience(RetryConfig(strategy=RetryStrategy.LINEAR, initial_delay=1.0, max_attempts=3,
                                 jitter_enabled=False), asleep=asleep)
    async def call(key: str) -> str:
        if failures[key]:
            failures[key] -= 1
            raise ConnectionError(key)
        return key

    async def main() -> List[str]:
        nonlocal gate
        gate = asyncio.Event()
        tasks = [asyncio.ensure_future(call(k)) for k in ("a", "b")]
        for _ in range(5):
            await asyncio.sleep(0)
        gate.set()
        return list(await asyncio.gather(*tasks))

    assert asyncio.run(main()) == ["a", "b"]
    # Each call's delays start from its own first attempt: a waits 1 then 2,
    # b waits 1 (LINEAR: initial * attempt).
    assert sorted(sleeps) == [1.0, 1.0, 2.0]


def test_bulkhead_validation_and_reexports_through_the_alias() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        Bulkhead(BulkheadConfig(max_concurrent=0))
    assert seawall.resilience.with_resilience is with_resilience
    assert "with_resilience" in seawall.__all__


def test_retrier_goes_through_its_breaker_and_bulkhead() -> None:
    clock = ManualClock()
    cb = seawall.UnifiedCircuitBreaker(
        "retrier", CircuitBreakerConfig(failure_threshold=2, timeout=timedelta(seconds=60)), clock=clock)
    bh = Bulkhead(BulkheadConfig(max_concurrent=1))
    inside: List[int] = []

    def down() -> None:
        inside.append(bh.get_available_permits())
        raise ConnectionError("down")

    r = Retrier(circuit_breaker=cb, bulkhead=bh, sleep=Sleeps(clock))
    cfg = RetryConfig(strategy=RetryStrategy.FIXED, initial_delay=1.0, max_delay=10.0,
                      max_attempts=5, bulkhead_enabled=True)
    res = r.execute(down, cfg)
    # Two failures open the breaker; the third attempt is rejected and not
    # retried (retry_after, 59 s, exceeds max_delay).
    assert not res.success and isinstance(res.exception, CircuitBreakerOpenError)
    assert inside == [0, 0] and bh.get_available_permits() == 1
    assert cb.is_open()

    async def aok() -> int:
        return 3

    cb.reset()
    ares = asyncio.run(r.aexecute(aok, cfg))
    assert ares.success and ares.result == 3 and bh.get_available_permits() == 1


def test_a_raising_on_retry_hook_is_logged_not_propagated(caplog: pytest.LogCaptureFixture) -> None:
    def hook(n: int, e: BaseException) -> None:
        raise RuntimeError("hook bug")

    n = [0]

    @with_resilience(RetryConfig(strategy=RetryStrategy.FIXED, initial_delay=0.0, max_delay=0.0,
                                 on_retry=hook), sleep=Sleeps())
    def call() -> str:
        n[0] += 1
        if n[0] == 1:
            raise ConnectionError("x")
        return "ok"

    with caplog.at_level("ERROR", logger="seawall"):
        assert call() == "ok"
    assert "on_retry hook raised" in caplog.text
