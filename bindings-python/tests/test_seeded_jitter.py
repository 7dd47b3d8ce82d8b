"""A seeded breaker's open-time jitter repeats: the same config and seed on a
manual clock give the same open times, another seed others (the Rust
``Breaker::with_clock_and_random`` with a ``SeededRandom``, C's
``seawall_breaker_new_seeded``)."""

from __future__ import annotations

from typing import Any, List, Optional

import pytest

from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    ManualClock,
    Registry,
    UnifiedCircuitBreaker,
    _native,
)

from conftest import fail


def open_times(seed: Optional[int], cls: Any = UnifiedCircuitBreaker) -> List[float]:
    """The open times (seconds) of five trips in a row, each jittered by up
    to half of 10 s, read from the rejection and then waited out."""
    clock = ManualClock()
    config = CircuitBreakerConfig(
        failure_threshold=1, success_threshold=1, timeout=10, timeout_jitter=0.5
    )
    cb = cls("seeded", config, clock=clock, seed=seed)
    times = []
    for _ in range(5):
        fail(cb, 1)
        with pytest.raises(CircuitBreakerOpenError) as info:
            cb.call(lambda: None)
        wait = info.value.retry_after
        assert 5 < wait <= 10
        times.append(wait)
        clock.advance(wait)
    return times


def test_the_same_seed_gives_the_same_open_times() -> None:
    first = open_times(42)
    assert open_times(42) == first
    assert len(set(first)) > 1, "the jitter varies from one trip to the next"


def test_another_seed_gives_other_open_times() -> None:
    assert open_times(42) != open_times(43)


def test_the_native_breaker_takes_the_seed_too() -> None:
    assert open_times(7, _native.Breaker) == open_times(7)


def test_every_seed_in_range_is_taken() -> None:
    for seed in (0, 2**64 - 1):
        UnifiedCircuitBreaker("s", seed=seed)
    UnifiedCircuitBreaker("s", seed=None)


@pytest.mark.parametrize(
    "seed, error, message",
    [
        (-1, ValueError, "seed"),
        (2**64, ValueError, "seed"),
        (True, TypeError, "seed"),
        ("42", TypeError, "seed"),
        (1.0, TypeError, "seed"),
    ],
)
def test_a_bad_seed_is_refused_naming_it(seed: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        UnifiedCircuitBreaker("s", seed=seed)


def test_a_registry_breaker_cannot_be_seeded() -> None:
    with pytest.raises(TypeError, match="seed"):
        _native.Breaker("s", seed=1, _registry=Registry()._native)
