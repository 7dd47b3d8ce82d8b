"""Values the original package accepted keep working: thresholds and trial
counts far beyond a small packed field, and a manual clock at the end of its
range."""

from __future__ import annotations

from datetime import timedelta

import pytest

from seawall import CircuitBreakerConfig, CircuitState, ManualClock, UnifiedCircuitBreaker


class Boom(Exception):
    pass


def boom() -> None:
    raise Boom


def fail(cb: UnifiedCircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(Boom):
            cb.call(boom)


@pytest.mark.parametrize("threshold", [10**6, 2**31 - 1, 2**32 - 1])
def test_a_practically_never_tripping_threshold_is_accepted(threshold: int) -> None:
    cb = UnifiedCircuitBreaker(
        "never", CircuitBreakerConfig(failure_threshold=threshold, track_exceptions=[Boom])
    )
    fail(cb, 5000)
    assert cb.state == CircuitState.CLOSED


def test_a_large_threshold_still_trips_at_exactly_that_count() -> None:
    cb = UnifiedCircuitBreaker(
        "exact", CircuitBreakerConfig(failure_threshold=5000, track_exceptions=[Boom])
    )
    fail(cb, 4999)
    assert cb.state == CircuitState.CLOSED
    fail(cb, 1)
    assert cb.state == CircuitState.OPEN


def test_large_trial_counts_close_after_exactly_that_many_successes() -> None:
    clock = ManualClock()
    cb = UnifiedCircuitBreaker(
        "trials",
        CircuitBreakerConfig(
            failure_threshold=1,
            success_threshold=5000,
            half_open_max_calls=5000,
            timeout=timedelta(seconds=1),
            track_exceptions=[Boom],
        ),
        clock=clock,
    )
    fail(cb, 1)
    clock.advance(1.0)
    for _ in range(4999):
        assert cb.call(lambda: 1) == 1
    assert cb.state == CircuitState.HALF_OPEN
    cb.call(lambda: 1)
    assert cb.state == CircuitState.CLOSED


def test_a_clock_at_the_end_of_its_range_reopens_and_closes() -> None:
    clock = ManualClock()
    cb = UnifiedCircuitBreaker(
        "end",
        CircuitBreakerConfig(
            failure_threshold=1, success_threshold=1, timeout=timedelta(seconds=60), track_exceptions=[Boom]
        ),
        clock=clock,
    )
    clock.set(18446744073.0)  # 0.7 s before the end of the clock's range (2**64 ns)
    fail(cb, 1)
    assert cb.state == CircuitState.OPEN
    clock.advance(60.0)
    assert cb.call(lambda: "ok") == "ok"
    assert cb.state == CircuitState.CLOSED
