"""`AdaptiveLimiter`: admission against the learnt limit, permits released
once, the limit learnt from outcomes and latency (AIMD and gradient) on a
ManualClock, `with` / `async with` slots, `with_resilience(bulkhead=...)`
sync, async and streaming, metrics, and bad arguments.

No real time: calls are timed on a ManualClock the tests advance.
"""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from typing import Any, AsyncIterator, Iterator, List

import pytest

import seawall
from seawall import (
    AdaptiveLimiter,
    AdaptiveLimiterConfig,
    BulkheadFullError,
    LimitReachedError,
    ManualClock,
    with_resilience,
)


def _aimd(**kw: Any) -> AdaptiveLimiterConfig:
    base: dict[str, Any] = dict(
        algorithm="aimd",
        initial_limit=2,
        min_limit=1,
        max_limit=4,
        backoff_ratio=0.5,
        latency_threshold=timedelta(milliseconds=100),
    )
    base.update(kw)
    return AdaptiveLimiterConfig(**base)


def test_admits_up_to_the_limit_and_releases_each_permit_once() -> None:
    lim = AdaptiveLimiter(_aimd())
    a, b = lim.try_acquire(), lim.try_acquire()
    assert a is not None and b is not None
    assert (a.in_flight, b.in_flight) == (1, 2)
    assert lim.try_acquire() is None and lim.rejections == 1
    assert b.record("success", 0.001) is True  # 2 in flight of 2: +1
    assert b.success() is False and b.released
    assert lim.limit == 3
    assert a.failure() is True  # 3 * 0.5
    assert lim.limit == 1
    assert lim.metrics() == {"limit": 1, "in_flight": 0, "admitted": 2, "rejected": 1}


def test_a_collected_permit_frees_its_slot_and_teaches_nothing() -> None:
    lim = AdaptiveLimiter(_aimd(initial_limit=1))
    p = lim.try_acquire()
    assert p is not None and lim.in_flight == 1
    del p
    gc.collect()
    assert (lim.in_flight, lim.limit) == (0, 1)


@pytest.mark.parametrize("timing", ["exact", "recent"])
def test_aimd_times_calls_on_the_manual_clock(timing: str) -> None:
    # A ManualClock's cheap reading is its exact one: both timings agree.
    clock = ManualClock()
    lim = AdaptiveLimiter(_aimd(initial_limit=4, max_limit=8, timing=timing), clock=clock)
    held = [lim.try_acquire() for _ in range(2)]
    with lim.slot():  # 3 in flight of 4: a success adds one
        clock.advance(0.05)
    assert lim.limit == 5
    with lim.slot():  # slower than latency_threshold: a drop
        clock.advance(0.2)
    assert lim.limit == 2  # 5 * 0.5 = 2.5
    for p in held:
        assert p is not None and p.ignore()
    with pytest.raises(ValueError):
        with lim.slot():  # an exception: a failure (2.5 * 0.5 = 1.25)
            raise ValueError("boom")
    assert (lim.limit, lim.in_flight) == (1, 0)


def test_gradient_sheds_load_when_latency_rises() -> None:
    clock = ManualClock()
    lim = AdaptiveLimiter(
        AdaptiveLimiterConfig(initial_limit=10, window_calls=5, window=timedelta(0)), clock=clock
    )

    def rounds(latency: float, n: int) -> int:
        for _ in range(n):
            held = []
            while (p := lim.try_acquire()) is not None:
                held.append(p)
            clock.advance(latency)
            for p in held:
                p.success()
        return lim.limit

    healthy = rounds(0.01, 20)
    assert healthy > 10
    spiked = rounds(0.1, 40)
    assert spiked < healthy and spiked <= 9


def test_a_full_limiter_raises_a_bulkhead_full_error() -> None:
    lim = AdaptiveLimiter(_aimd(initial_limit=1, pool_name="search"))
    with lim.slot():
        with pytest.raises(LimitReachedError, match="adaptive limiter 'search' is at its limit"):
            with lim.slot():
                pass
    assert issubclass(LimitReachedError, BulkheadFullError)
    assert lim.in_flight == 0


def test_async_slot_ignores_a_cancelled_block() -> None:
    clock = ManualClock()
    lim = AdaptiveLimiter(_aimd(initial_limit=2), clock=clock)

    async def main() -> None:
        async with lim.slot() as p:  # 1 in flight of 2: a success adds one
            assert p.in_flight == 1
        assert lim.limit == 3
        with pytest.raises(asyncio.CancelledError):
            async with lim.slot():
                raise asyncio.CancelledError()

    asyncio.run(main())
    assert (lim.limit, lim.in_flight) == (3, 0)


def test_with_resilience_takes_an_adaptive_limiter_sync_and_async() -> None:
    clock = ManualClock()
    lim = AdaptiveLimiter(_aimd(initial_limit=1, max_limit=1), clock=clock)
    calls: List[int] = []

    @with_resilience(bulkhead=lim)
    def work(x: int) -> int:
        calls.append(x)
        if x < 0:
            raise ValueError("bad")
        if x == 0:
            # Re-entered while the slot is held: refused at once.
            with pytest.raises(LimitReachedError):
                work(1)
        return x

    @with_resilience(bulkhead=lim)
    async def awork(x: int) -> int:
        await asyncio.sleep(0)
        return x

    assert work(0) == 0 and calls == [0]
    assert asyncio.run(awork(3)) == 3
    with pytest.raises(ValueError):
        work(-1)
    m = lim.metrics()
    assert (m["in_flight"], m["admitted"], m["rejected"]) == (0, 3, 1)
    assert getattr(work, "bulkhead") is lim


def test_with_resilience_builds_a_limiter_from_its_config() -> None:
    @with_resilience(bulkhead=AdaptiveLimiterConfig(initial_limit=3))
    def f() -> int:
        return 1

    assert f() == 1
    assert isinstance(getattr(f, "bulkhead"), AdaptiveLimiter)
    assert getattr(f, "bulkhead").limit == 3


def test_streams_hold_their_slot_until_they_end_and_teach_nothing() -> None:
    lim = AdaptiveLimiter(_aimd(initial_limit=1))

    @with_resilience(bulkhead=lim)
    def items() -> Iterator[int]:
        yield 1
        yield 2

    @with_resilience(bulkhead=lim)
    async def aitems() -> AsyncIterator[int]:
        yield 1
        yield 2

    g = items()
    assert next(g) == 1 and lim.in_flight == 1
    assert list(g) == [2] and lim.in_flight == 0

    async def consume() -> List[int]:
        return [i async for i in aitems()]

    assert asyncio.run(consume()) == [1, 2]
    assert (lim.in_flight, lim.limit) == (0, 1)


def test_metrics_reach_the_catalog_and_the_snapshot() -> None:
    lim = AdaptiveLimiter(_aimd(initial_limit=4, pool_name="catalog-test"))
    with lim.slot():  # 1 in flight of 4: no increase
        pass
    fams = {f[0]: f for f in seawall._native.metric_families()}
    samples = dict(fams["seawall_adaptive_limiter_limit"][4])
    assert samples[("catalog-test",)] == 4
    admitted = dict(fams["seawall_adaptive_limiter_admitted_calls"][4])
    assert admitted[("catalog-test",)] == 1
    assert seawall.snapshot()["adaptive_limiters"]["catalog-test"] == lim.metrics()


@pytest.mark.parametrize(
    "field, value, error",
    [
        ("algorithm", "vegas", "invalid algorithm = 'vegas': must be 'aimd' or 'gradient'"),
        ("min_limit", 0, "invalid min_limit = 0: must be an integer in [1, 16777215]"),
        ("initial_limit", 500, "invalid initial_limit = 500: must be an integer in [min_limit, max_limit]"),
        ("backoff_ratio", 1.5, "invalid backoff_ratio = 1.5: must be a number in (0, 1)"),
        ("window_calls", 0, "invalid window_calls = 0: must be an integer in [1, 65535]"),
        ("max_limit", 2**40, "invalid max_limit = 1099511627776: must be an integer in [min_limit, 16777215]"),
        ("timing", "fast", "invalid timing = 'fast': must be one of 'exact', 'recent'"),
    ],
)
def test_invalid_configs_name_the_field(field: str, value: Any, error: str) -> None:
    with pytest.raises(ValueError) as e:
        AdaptiveLimiterConfig(**{field: value})
    assert str(e.value) == error


def test_recent_timing_on_the_production_clock_admits_and_learns() -> None:
    lim = AdaptiveLimiter(_aimd(initial_limit=2, timing="recent"))
    held = lim.try_acquire()
    with lim.slot():  # 2 in flight of 2, far below the threshold: +1
        pass
    assert held is not None and held.ignore()
    assert (lim.limit, lim.in_flight) == (3, 0)


def test_bad_types_and_outcomes() -> None:
    with pytest.raises(TypeError, match="tolerance must be a number"):
        AdaptiveLimiterConfig(tolerance="x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="config must be"):
        AdaptiveLimiter(object())  # type: ignore[arg-type]
    p = AdaptiveLimiter(_aimd()).try_acquire()
    assert p is not None
    with pytest.raises(ValueError, match="invalid outcome = 'maybe'"):
        p.record("maybe")
    assert not p.released
