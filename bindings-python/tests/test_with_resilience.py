"""`with_resilience`: retry through the breaker, fallbacks, the bulkhead,
rate limit and timeout layers, hooks and bad arguments, sync and async.

No real sleeping: delays are recorded by injected sleep functions that
advance a ManualClock, jitter is pinned by a fixed random source.
"""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any, List

import pytest

import seawall
from seawall import (
    Bulkhead,
    BulkheadConfig,
    BulkheadFullError,
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    ManualClock,
    RateLimiter,
    Retrier,
    RetryConfig,
    RetryError,
    RetryStrategy,
    with_resilience,
)

from conftest import Fixed, Sleeps


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


def test_async_functions_pass_for_coroutine_functions_to_inspect_and_asyncio() -> None:
    # Frameworks (FastAPI, Starlette) decide whether to await a handler with
    # inspect.iscoroutinefunction; both decorators return native functions.
    reg = _registry(ManualClock())
    breaker = reg.get_or_create("inspect")

    @with_resilience("network", "inspect", registry=reg)
    async def resilient(x: int = 1) -> int:
        return x

    @breaker
    async def guarded() -> int:
        return 1

    class Client:
        @with_resilience("network", "inspect", registry=reg)
        async def get(self) -> int:
            return 2

    for f in (resilient, guarded, Client().get, Client.get):
        assert inspect.iscoroutinefunction(f), f
        assert asyncio.iscoroutinefunction(f), f
    assert not inspect.iscoroutinefunction(with_resilience("network", "inspect", registry=reg)(len))
    assert str(inspect.signature(resilient)) == "(x: 'int' = 1) -> 'int'"
    assert asyncio.run(resilient()) == 1 and asyncio.run(Client().get()) == 2


def test_each_call_counts_once_in_the_budget_when_it_starts() -> None:
    clock = ManualClock()
    reg = _registry(clock)
    budget = seawall.RetryBudget(clock=clock)
    sleeps = Sleeps(clock)
    fail = [1]

    @with_resilience("network", "budget", registry=reg, retry_budget=budget,
                     sleep=sleeps, asleep=sleeps.a, rng=Fixed(0.5))
    async def get() -> str:
        if fail[0]:
            fail[0] -= 1
            raise ConnectionError("down")
        return "ok"

    @with_resilience("network", "budget", registry=reg, retry_budget=budget,
                     sleep=sleeps, rng=Fixed(0.5))
    def sget() -> str:
        return "ok"

    pending = get()
    assert budget.counts() == (0, 0), "an awaitable not yet driven counts nothing"
    assert asyncio.run(pending) == "ok"
    assert budget.counts() == (2, 1), "two attempts, one of them a retry"
    assert sget() == "ok" and budget.counts() == (3, 1)
    never = get()
    never.close()
    assert budget.counts() == (3, 1)


def test_only_the_attempt_s_own_exceptions_are_retried() -> None:
    reg = _registry(ManualClock())
    sleeps = Sleeps()
    calls: List[str] = []

    def fallback() -> str:
        calls.append("fallback")
        raise KeyError("fallback broke")

    @with_resilience("network", "own", registry=reg, asleep=sleeps.a, rng=Fixed(0.5),
                     fallback=fallback)
    async def get() -> str:
        calls.append("get")
        await asyncio.sleep(0)
        raise ValueError("not retryable")

    # Thrown in before it starts: ends with that exception, never runs.
    c = get()
    with pytest.raises(ConnectionError):
        c.throw(ConnectionError("thrown"))
    assert calls == []
    # The fallback's own exception propagates as it is (not retried, not
    # handed to the fallback again).
    with pytest.raises(KeyError, match="fallback broke"):
        asyncio.run(get())
    assert calls == ["get", "fallback"] and sleeps.slept == []
    # A finished call cannot be reused, and that is not a failure either.
    calls.clear()
    done = get()
    with pytest.raises(KeyError):
        asyncio.run(done)
    with pytest.raises(RuntimeError, match="cannot reuse"):
        done.send(None)
    assert calls == ["get", "fallback"]
