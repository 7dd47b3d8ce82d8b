"""The retry loop's decisions come from the core's retry state machine
(`_native.RetryState`): attempt numbers, delays with seeded jitter, the
budget, breaker rejections and the stop reasons. The Python drivers only
call, sleep, classify and keep the metrics. The named policies come from
the core's table.

No real sleeping: sleeps are recorded by injected functions.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any, List, Optional

import pytest

import seawall
from seawall import (
    RETRY_POLICIES,
    CircuitBreakerOpenError,
    Retrier,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryMetrics,
    RetryStrategy,
    with_resilience,
)
from seawall import _native
from seawall import retry as retry_module

from conftest import Sleeps


def backoff(strategy: str = "exponential_with_jitter", attempts: int = 6) -> _native.Backoff:
    return _native.Backoff(strategy, attempts, 0.1, 5.0, 2.0, 0.5)


def empty_budget() -> RetryBudget:
    """A budget whose bucket decides and holds no retry."""
    return RetryBudget(RetryBudgetConfig(min_requests=1000, max_tokens=0))


# --------------------------------------------------------- the native state


def test_the_native_state_gives_the_cores_delays_for_a_seeded_source() -> None:
    for strategy in ("exponential_with_jitter", "decorrelated_jitter", "linear"):
        b = backoff(strategy)
        state = _native.RetryState(b, random=random.Random(11).random)
        units = random.Random(11)
        previous = 0.0
        got, want = [], []
        while True:
            n = state.begin()
            d = state.on_failure(True)
            if d is None:
                break
            got.append(d)
            want.append(b.delay(n, previous, units.random()))
            previous = want[-1]
        assert got == want and len(got) == 5, strategy
        assert state.stop == "exhausted" and state.attempts == 6
        assert state.total_delay == pytest.approx(sum(got))


def test_the_random_source_is_drawn_only_for_a_delay() -> None:
    draws: List[float] = []

    def unit() -> float:
        draws.append(0.5)
        return 0.5

    state = _native.RetryState(backoff(attempts=2), random=unit)
    state.begin()
    assert state.on_failure(False) is None and state.stop == "not_retryable"
    assert draws == []
    state = _native.RetryState(backoff(attempts=2), random=unit)
    state.begin()
    assert state.on_failure(True) == pytest.approx(0.1)
    state.begin()
    assert state.on_failure(True) is None and state.stop == "exhausted"
    assert len(draws) == 1


def test_a_resumed_state_continues_after_the_callers_first_attempt() -> None:
    budget = RetryBudget(RetryBudgetConfig(min_requests=1000, max_tokens=5))
    state = _native.RetryState(backoff("fixed", 3), budget._native, attempts=1)
    assert state.attempts == 1
    assert state.on_failure(True) == pytest.approx(0.1)
    assert state.begin() == 2
    # Only the granted retry was counted (as a request and a retry).
    assert budget.counts() == (1, 1)
    fresh = _native.RetryState(backoff("fixed", 3), budget._native)
    assert fresh.begin() == 1
    assert budget.counts() == (2, 1)


def test_the_budget_refuses_and_nothing_is_committed() -> None:
    state = _native.RetryState(backoff("fixed"), empty_budget()._native, attempts=1)
    assert state.on_failure(True) is None
    assert state.stop == "budget_exhausted" and state.total_delay == 0.0


def test_rejections_wait_for_an_announced_trial_that_fits() -> None:
    state = _native.RetryState(backoff("fixed", 3), attempts=1)
    assert state.on_rejection(5.0) == 5.0  # max_delay is 5 s
    assert state.total_delay == 5.0
    state.begin()
    for too_far in (5.001, None, math.inf):
        assert state.on_rejection(too_far) is None and state.stop == "rejected"
    # The wait is no back-off: the next failure's delay is the first one.
    assert state.on_failure(True) == pytest.approx(0.1)
    state.begin()
    assert state.on_rejection(0.0) is None and state.stop == "exhausted"


def test_custom_delays_are_taken_as_given_and_errors_propagate() -> None:
    seen: List[int] = []

    def custom(n: int) -> float:
        seen.append(n)
        return 60.0 * n  # above max_delay: not capped

    state = _native.RetryState(backoff("fixed"), custom=custom, attempts=1)
    assert state.on_failure(True) == 60.0 and seen == [1]
    state.begin()
    state = _native.RetryState(backoff("fixed"), custom=lambda n: -1.0, attempts=1)
    assert state.on_failure(True) == 0.0
    state = _native.RetryState(backoff("fixed"), custom=lambda n: math.inf, attempts=1)
    with pytest.raises(ValueError, match="custom_backoff"):
        state.on_failure(True)

    def broken() -> float:
        raise KeyError("rng")

    budget = RetryBudget(RetryBudgetConfig(min_requests=1000, max_tokens=5))
    state = _native.RetryState(backoff(), budget._native, random=broken, attempts=1)
    with pytest.raises(KeyError):
        state.on_failure(True)
    # Nothing was decided: the budget was not asked, no delay committed.
    assert budget.counts() == (0, 0) and state.total_delay == 0.0 and state.stop is None


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="random must be callable"):
        _native.RetryState(backoff(), random=0.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="custom must be callable"):
        _native.RetryState(backoff(), custom=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="attempts"):
        _native.RetryState(backoff(), attempts=-1)
    with pytest.raises(TypeError):
        _native.RetryState(None)  # type: ignore[arg-type]


# -------------------------------------------- the drivers use the native state


class Scripted:
    """A stand-in for `_native.RetryState` answering from a script, to show
    that the drivers follow the state's answers and decide nothing."""

    made: List["Scripted"] = []
    answers: List[Optional[float]] = []
    stop: Optional[str] = None

    def __init__(self, *args: Any, attempts: int = 0, **kwargs: Any) -> None:
        self.attempts = attempts
        self.total_delay = 0.0
        self.reports: List[Any] = []
        Scripted.made.append(self)

    def begin(self) -> int:
        self.attempts += 1
        return self.attempts

    def _answer(self, report: Any) -> Optional[float]:
        self.reports.append(report)
        d = Scripted.answers.pop(0)
        if d is not None:
            self.total_delay += d
        return d

    def on_failure(self, retryable: bool) -> Optional[float]:
        return self._answer(retryable)

    def on_rejection(self, retry_after: Optional[float]) -> Optional[float]:
        return self._answer(("rejected", retry_after))


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> type:
    Scripted.made = []
    Scripted.answers = []
    Scripted.stop = None
    monkeypatch.setattr(retry_module._native, "RetryState", Scripted)
    return Scripted


def test_with_resilience_sleeps_what_the_state_says_and_stops_when_it_says(scripted: type) -> None:
    sleeps = Sleeps()
    calls: List[int] = []

    @with_resilience(RetryConfig(max_attempts=2, retry_budget_enabled=False), sleep=sleeps)
    def down() -> None:
        calls.append(1)
        raise ConnectionError("down")

    # max_attempts is 2, but the state allows three retries, then stops
    # for the budget: the driver follows it.
    Scripted.answers = [0.25, 7.0, 0.5, None]
    Scripted.stop = "budget_exhausted"
    with pytest.raises(RetryError, match="budget exhausted after 4 attempts") as e:
        down()
    assert sleeps.slept == [0.25, 7.0, 0.5] and len(calls) == 4
    assert e.value.attempts == 4 and e.value.total_delay == pytest.approx(7.75)
    # One state, made at the first failure, told of every failure.
    assert len(Scripted.made) == 1 and Scripted.made[0].reports == [True] * 4


def test_the_success_path_makes_no_state(scripted: type) -> None:
    @with_resilience("network", "no-state-breaker", registry=seawall.Registry())
    def fine() -> int:
        return 1

    def gen() -> Any:
        yield 1

    assert fine() == 1
    assert list(with_resilience("network")(gen)()) == [1]
    assert Retrier().execute(lambda: 2, RetryConfig()).result == 2
    assert Scripted.made == []


def test_rejections_are_reported_with_their_retry_after(scripted: type) -> None:
    sleeps = Sleeps()
    rejected = CircuitBreakerOpenError("Circuit breaker 'x' is OPEN")
    rejected.retry_after = 3.5
    attempts = iter([rejected, None])

    def call() -> str:
        exc = next(attempts)
        if exc is not None:
            raise exc
        return "ok"

    Scripted.answers = [3.5]
    metrics = RetryMetrics()
    wrapped = with_resilience(RetryConfig(retry_budget_enabled=False), sleep=sleeps, metrics=metrics)(call)
    assert wrapped() == "ok"
    assert Scripted.made[0].reports == [("rejected", 3.5)] and sleeps.slept == [3.5]
    assert metrics.requests_rejected == 1


# ------------------------------------------------- the drivers, end to end


def test_a_seeded_rng_gives_the_cores_delays_through_with_resilience() -> None:
    sleeps = Sleeps()
    config = RetryConfig(max_attempts=5, initial_delay=0.1, max_delay=5.0, jitter_factor=0.5,
                         retry_budget_enabled=False)

    @with_resilience(config, sleep=sleeps, rng=random.Random(5))
    def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryError) as e:
        down()
    b = _native.Backoff("exponential_with_jitter", 5, 0.1, 5.0, 2.0, 0.5)
    units = random.Random(5)
    assert sleeps.slept == [b.delay(n, 0.0, units.random()) for n in range(1, 5)]
    assert e.value.attempts == 5 and e.value.total_delay == pytest.approx(sum(sleeps.slept))


def test_retrier_paths_and_metrics() -> None:
    sleeps = Sleeps()
    fixed = dict(strategy=RetryStrategy.FIXED, initial_delay=0.1, max_delay=1.0)

    # Exhausted: RetryError's books in the result, one exhaustion counted.
    r = Retrier(sleep=sleeps)
    out = r.execute(lambda: (_ for _ in ()).throw(TimeoutError("t")),
                    RetryConfig(max_attempts=3, retry_budget_enabled=False, **fixed))
    assert not out.success and out.attempts == 3 and out.total_delay == pytest.approx(0.2)
    m = r.get_metrics()
    assert (m.retries_exhausted, m.failed_attempts, m.budget_exhausted) == (1, 3, 0)

    # Not retryable: the exception itself, after one attempt.
    r = Retrier(sleep=sleeps)
    out = r.execute(lambda: (_ for _ in ()).throw(KeyError("k")), RetryConfig(**fixed))
    assert isinstance(out.exception, KeyError) and r.get_metrics().retries_exhausted == 0

    # Budget refusal: RetryError, counted, with the remaining percent.
    budget = empty_budget()
    r = Retrier(budget=budget, sleep=sleeps)
    out = r.execute(lambda: (_ for _ in ()).throw(ConnectionError("c")), RetryConfig(**fixed))
    assert isinstance(out.exception, ConnectionError) and out.attempts == 1
    m = r.get_metrics()
    assert m.budget_exhausted == 1
    assert m.budget_remaining_percent == budget.get_remaining_budget_percent()


def test_async_driver_follows_the_same_decisions() -> None:
    sleeps = Sleeps()
    n = {"calls": 0}

    @with_resilience(RetryConfig(strategy=RetryStrategy.LINEAR, initial_delay=0.1, max_delay=1.0,
                                 max_attempts=4, retry_budget_enabled=False), asleep=sleeps.a)
    async def flaky() -> str:
        n["calls"] += 1
        if n["calls"] < 4:
            raise ConnectionError("down")
        return "ok"

    assert asyncio.run(flaky()) == "ok"
    assert sleeps.slept == pytest.approx([0.1, 0.2, 0.3])


# ------------------------------------------------------- the named policies


def test_retry_policies_are_the_cores_table() -> None:
    want = {
        "standard": ("General purpose", 3, 1.0, 10.0, 2.0, True),
        "network": ("Network calls to other services", 3, 0.5, 10.0, 2.0, True),
        "conservative": ("Few, widely spaced retries", 2, 2.0, 20.0, 1.5, True),
        "database": ("Database operations", 5, 1.0, 30.0, 1.5, True),
        "webhook": ("Outgoing webhooks", 3, 30.0, 300.0, 2.0, False),
        "validation": ("Validation: retry once", 1, 1.0, 1.0, 1.0, False),
        "critical": ("Critical operations: many quick retries", 10, 0.1, 60.0, 1.3, True),
    }
    got = {
        p.name: (p.description, p.max_retries, p.initial_delay, p.max_delay,
                 p.backoff_multiplier, p.jitter)
        for p in RETRY_POLICIES.values()
    }
    assert got == want
    assert list(RETRY_POLICIES) == [row[0] for row in _native.retry_policies()]
    for (name, _, strategy, attempts, initial, cap, base, jitter) in _native.retry_policies():
        c = RETRY_POLICIES[name].to_config()
        assert (c.strategy.value, c.max_attempts, c.initial_delay, c.max_delay,
                c.exponential_base, c.jitter_factor) == (strategy, attempts, initial, cap, base,
                                                         jitter)
    assert seawall.RetryPolicy is type(RETRY_POLICIES["network"])


# ------------------------------------------------------- the delay budget


def test_max_total_delay_stops_before_a_delay_that_would_overrun_it() -> None:
    # Fixed 1 s delays under a 2.5 s cap: two retries fit, the third delay
    # would make 3 s, so the call gives up after the third attempt.
    sleeps = Sleeps()
    config = RetryConfig(
        strategy=RetryStrategy.FIXED,
        max_attempts=10,
        initial_delay=1.0,
        max_delay=1.0,
        retry_budget_enabled=False,
        circuit_breaker_enabled=False,
        max_total_delay=2.5,
    )
    calls: List[int] = []

    def down() -> None:
        calls.append(1)
        raise ConnectionError("down")

    result = Retrier(sleep=sleeps).execute(down, config)
    assert not result.success
    assert len(calls) == 3
    assert sleeps.slept == [1.0, 1.0]
    assert result.total_delay == 2.0
    assert result.attempts == 3
    assert isinstance(result.exception, ConnectionError)


def test_max_total_delay_is_validated_naming_the_field() -> None:
    with pytest.raises(ValueError, match="max_total_delay"):
        RetryConfig(max_total_delay=-1.0)
    with pytest.raises(TypeError, match="max_total_delay"):
        RetryConfig(max_total_delay="soon")  # type: ignore[arg-type]
    assert RetryConfig(max_total_delay=None).max_total_delay is None
