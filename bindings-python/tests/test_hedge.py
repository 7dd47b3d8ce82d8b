"""Hedging (`seawall.Hedge`, `with_resilience(hedge=...)`) and the timeout of
sync functions on a worker thread (`sync_timeout="thread"`).

No timing is asserted. Hedges are made due at once (a zero delay on a
manual clock), so which attempt is slow is decided by events the attempts
wait on, never by the wall clock.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import threading
from datetime import timedelta
from typing import Any, List

import pytest

from seawall import (
    CircuitBreakerConfig,
    CircuitState,
    Hedge,
    HedgeConfig,
    ManualClock,
    Registry,
    RetryBudget,
    RetryBudgetConfig,
    with_resilience,
)

NOW = timedelta(0)


def _config(**kw: Any) -> HedgeConfig:
    base: dict[str, Any] = dict(
        delay=NOW, min_delay=NOW, quantile=None, max_hedges=1, idempotent=True
    )
    base.update(kw)
    return HedgeConfig(**base)


def _hedge(budget: Any = None, **kw: Any) -> Hedge:
    return Hedge(_config(**kw), budget=budget, clock=ManualClock())


class Attempts:
    """An attempt factory: attempt `i` waits forever if in `slow`, else a few
    turns of the event loop, then raises if in `fail`, else returns
    "answer i"; records starts, ends and cancellations."""

    def __init__(self, slow: List[int], fail: List[int] = []) -> None:
        self.slow, self.fail = slow, fail
        self.started: List[int] = []
        self.cancelled: List[int] = []
        self.finished: List[int] = []
        self.forever = asyncio.Event()

    async def __call__(self) -> str:
        i = len(self.started)
        self.started.append(i)
        try:
            if i in self.slow:
                await self.forever.wait()
            else:
                # A few turns of the event loop: long enough for a hedge
                # due at once to be asked for.
                for _ in range(5):
                    await asyncio.sleep(0)
            if i in self.fail:
                raise ConnectionError(f"attempt {i} failed")
            return f"answer {i}"
        except asyncio.CancelledError:
            self.cancelled.append(i)
            raise
        finally:
            self.finished.append(i)


def test_a_slow_first_attempt_is_hedged_and_cancelled_when_the_hedge_wins() -> None:
    h = _hedge()

    async def main() -> None:
        a = Attempts(slow=[0])
        assert await h.run(a) == "answer 1"
        # The loser was cancelled and awaited before run() returned.
        assert a.started == [0, 1] and a.cancelled == [0] and sorted(a.finished) == [0, 1]

    asyncio.run(main())
    m = h.metrics()
    assert m == {"calls": 1, "hedges": 1, "refused": 0, "wins": 1}
    assert h.budget.counts() == (2, 1), "one request, one hedge drawn as a retry"


def test_the_first_attempt_winning_cancels_the_running_hedges() -> None:
    h = _hedge(max_hedges=2)

    async def main() -> None:
        a = Attempts(slow=[1, 2])
        release = asyncio.Event()

        async def attempt() -> str:
            if not a.started:
                a.started.append(0)
                await release.wait()  # answers once both hedges run
                return "answer 0"
            return await a()

        async def releaser() -> None:
            while len(a.started) < 3:
                await asyncio.sleep(0)
            release.set()

        r = asyncio.ensure_future(releaser())
        assert await h.run(attempt) == "answer 0"
        await r
        assert sorted(a.cancelled) == [1, 2]

    asyncio.run(main())
    assert h.metrics()["wins"] == 0 and h.metrics()["hedges"] == 2


def test_a_call_not_marked_idempotent_is_never_hedged() -> None:
    for h, idempotent in ((_hedge(idempotent=False), None), (_hedge(), False)):

        async def main() -> None:
            a = Attempts(slow=[])
            for _ in range(10):
                await asyncio.sleep(0)
            assert await h.run(a, idempotent=idempotent) == "answer 0"
            assert a.started == [0]

        asyncio.run(main())
        assert h.metrics()["hedges"] == 0
        assert h.budget.counts() == (1, 0), "nothing drawn from the budget"


def test_an_exhausted_budget_stops_hedges() -> None:
    # No tokens, and a share never reached by a few requests: no retry fits.
    budget = RetryBudget(RetryBudgetConfig(max_tokens=0, min_requests=1000), clock=ManualClock())
    h = _hedge(budget=budget, max_hedges=3)

    async def main() -> None:
        a = Attempts(slow=[])
        assert await h.run(a) == "answer 0"
        assert a.started == [0], "no hedge started"

    for _ in range(5):
        asyncio.run(main())
    m = h.metrics()
    assert (m["calls"], m["hedges"], m["refused"]) == (5, 0, 5), "one refusal per call, then no asking"
    assert budget.counts() == (5, 0)


def test_the_budget_shared_with_other_callers_bounds_the_hedges() -> None:
    # A 10% share once 10 requests are in the window, no token floor.
    budget = RetryBudget(
        RetryBudgetConfig(budget_percent=10.0, min_requests=10, max_tokens=0), clock=ManualClock()
    )
    h = _hedge(budget=budget)

    async def main() -> None:
        for _ in range(100):
            # Every call asks for a hedge at once (a zero delay).
            await h.run(Attempts(slow=[]))

    asyncio.run(main())
    requests, retries = budget.counts()
    assert retries == h.metrics()["hedges"]
    assert 0 < retries and retries * 10 <= requests


def test_the_call_fails_with_the_last_error_when_every_attempt_fails() -> None:
    h = _hedge()

    async def main() -> None:
        a = Attempts(slow=[], fail=[0, 1])
        with pytest.raises(ConnectionError):
            await h.run(a)
        assert a.cancelled == []

    asyncio.run(main())


def test_a_failed_hedge_waits_for_the_first_attempt() -> None:
    h = _hedge()

    async def main() -> None:
        release = asyncio.Event()
        started: List[int] = []

        async def attempt() -> str:
            started.append(len(started))
            if len(started) == 1:
                await release.wait()
                return "first"
            release.set()
            raise ConnectionError("the hedge failed")

        assert await h.run(attempt) == "first"

    asyncio.run(main())
    assert h.metrics()["wins"] == 0


def test_cancelling_the_caller_cancels_and_awaits_every_attempt() -> None:
    h = _hedge()

    async def main() -> None:
        a = Attempts(slow=[0, 1])
        task = asyncio.ensure_future(h.run(a))
        while len(a.started) < 2:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert sorted(a.cancelled) == [0, 1] and sorted(a.finished) == [0, 1]

    asyncio.run(main())


def test_with_resilience_hedges_async_calls_through_the_breaker() -> None:
    clock = ManualClock()
    h = Hedge(_config(), clock=clock)
    reg = Registry(clock=clock)
    a = Attempts(slow=[0])

    @with_resilience(circuit_breaker_name="hedged", registry=reg, hedge=h,
                     circuit_breaker_config=CircuitBreakerConfig(failure_threshold=1))
    async def fetch() -> str:
        return await a()

    assert asyncio.run(fetch()) == "answer 1"
    assert a.cancelled == [0]
    assert fetch.hedge is h  # type: ignore[attr-defined]
    b = reg.get("hedged")
    assert b is not None
    # The cancelled loser is neither a success nor a failure.
    assert b.get_state() == CircuitState.CLOSED
    assert b.metrics()["successes"] == 1 and b.metrics()["failures"] == 0


def test_with_resilience_counts_the_call_once_in_a_budget_shared_with_retry() -> None:
    clock = ManualClock()
    budget = RetryBudget(RetryBudgetConfig(), clock=clock)
    h = Hedge(_config(), budget=budget, clock=clock)

    @with_resilience("network", hedge=h, retry_budget=budget)
    async def fetch() -> str:
        return await Attempts(slow=[])()

    asyncio.run(fetch())
    # One request (the wrapper's count, not the hedge's again), one hedge.
    assert budget.counts() == (2, 1)


def test_hedging_a_sync_function_or_generator_is_refused() -> None:
    h = _hedge()
    with pytest.raises(TypeError, match="async def functions only"):

        @with_resilience(hedge=h)
        def sync() -> None: ...

    with pytest.raises(TypeError, match="hedge"):
        with_resilience(hedge="fast")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_hedges", 16),
        ("quantile", 1.0),
        ("min_samples", 0),
        ("window", timedelta(milliseconds=1)),
    ],
)
def test_bad_hedge_configs_name_the_field(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        HedgeConfig(**{field: value})


def test_the_delay_follows_the_latencies_seen() -> None:
    clock = ManualClock()
    h = Hedge(
        HedgeConfig(quantile=0.5, min_samples=3, delay=timedelta(milliseconds=100),
                    idempotent=True),
        clock=clock,
    )
    assert h.delay() == pytest.approx(0.1)

    async def main() -> None:
        async def attempt() -> None:
            clock.advance(0.01)

        for _ in range(3):
            await h.run(attempt)

    asyncio.run(main())
    assert 0.01 <= h.delay() <= 0.01 * 1.125


# ------------------------------------------------ sync timeout on a thread


def test_a_sync_timeout_needs_the_thread_opt_in() -> None:
    with pytest.raises(TypeError, match="sync_timeout='thread'"):

        @with_resilience(timeout=1.0)
        def f() -> None: ...

    with pytest.raises(ValueError, match="sync_timeout"):
        with_resilience(timeout=1.0, sync_timeout="signal")


def test_a_sync_call_past_its_timeout_is_abandoned_and_counted_as_a_failure() -> None:
    reg = Registry()
    release, done = threading.Event(), threading.Event()

    @with_resilience(circuit_breaker_name="slow", registry=reg, timeout=0.05,
                     sync_timeout="thread")
    def slow() -> str:
        release.wait()
        done.set()
        return "late"

    with pytest.raises(TimeoutError, match="abandoned"):
        slow()
    b = reg.get("slow")
    assert b is not None and b.metrics()["failures"] == 1
    # The abandoned call runs on to its end on its worker thread.
    assert not done.is_set()
    release.set()
    assert done.wait(10)


def test_a_sync_call_within_its_timeout_returns_raises_and_sees_its_context() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    threads: List[str] = []

    @with_resilience(timeout=10.0, sync_timeout="thread")
    def f(x: int) -> str:
        threads.append(threading.current_thread().name)
        if x < 0:
            raise KeyError(x)
        return f"{var.get()} {x}"

    var.set("caller's")
    assert f(1) == "caller's 1"
    with pytest.raises(KeyError):
        f(-1)
    assert threads == ["seawall-timeout"] * 2
    assert f.__name__ == "f"


def test_a_call_arriving_with_another_never_waits_behind_it_for_the_one_idle_worker() -> None:
    from seawall._threads import _Pool

    pool = _Pool(4)
    assert pool.submit(lambda: "warm", (), {}).result(5) == "warm"  # one idle worker now
    release = threading.Event()
    old = sys.getswitchinterval()
    # Both submissions before the idle worker can run: it takes one call,
    # so the other needs a thread of its own.
    sys.setswitchinterval(1.0)
    try:
        hung = pool.submit(release.wait, (), {})
        quick = pool.submit(lambda: "quick", (), {})
    finally:
        sys.setswitchinterval(old)
    try:
        assert quick.result(5) == "quick"
    finally:
        release.set()
        hung.result(5)


def test_reporting_an_attempt_never_started_or_twice_raises() -> None:
    call = _hedge()._native.start(True, True)
    with pytest.raises(ValueError, match="invalid attempt = 1"):
        call.record(1, True)  # only attempt 0 started
    assert call.record(0, True) == "won"
    with pytest.raises(ValueError, match="invalid attempt = 0"):
        call.record(0, True)
