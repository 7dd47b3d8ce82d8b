"""Every configuration object and argument of the Python API is checked:
an object of the wrong type raises ``TypeError`` naming what was passed, a
value out of range raises ``ValueError`` naming the field or argument, the
value and the allowed range."""

from __future__ import annotations

import asyncio
import inspect
import random
from datetime import timedelta
from typing import Any, Callable, List, Tuple, Type

import pytest

import seawall
from seawall import (
    BackoffCalculator,
    Bulkhead,
    BulkheadConfig,
    CircuitBreakerConfig,
    RateLimiter,
    Retrier,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
    RetryStrategy,
    UnifiedCircuitBreaker,
    create_circuit_breaker_adapter,
    with_circuit_breaker,
    with_resilience,
)
from seawall.adapters import LegacyCircuitBreakerAdapter, LightweightCircuitBreakerAdapter

NOT_CONFIGS = [
    pytest.param({"failure_threshold": 1}, "dict", id="dict"),
    pytest.param(123, "int", id="int"),
    pytest.param("oops", "str", id="str"),
    pytest.param(object(), "object", id="object"),
    pytest.param(BulkheadConfig(), "BulkheadConfig", id="other-config"),
]


@pytest.mark.parametrize("bad, named", NOT_CONFIGS)
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda c: UnifiedCircuitBreaker("n", c), id="breaker"),
        pytest.param(lambda c: UnifiedCircuitBreaker("n", config=c), id="breaker-kw"),
        pytest.param(lambda c: seawall.Registry().get_or_create("n", c), id="registry"),
        pytest.param(lambda c: with_circuit_breaker("n", c, registry=seawall.Registry()), id="decorator"),
        pytest.param(lambda c: create_circuit_breaker_adapter("n", c), id="adapter"),
        pytest.param(lambda c: create_circuit_breaker_adapter("n", c, "legacy"), id="legacy"),
        pytest.param(lambda c: create_circuit_breaker_adapter("n", c, "lightweight"), id="light"),
        pytest.param(
            lambda c: with_resilience(
                None, "n", circuit_breaker_config=c, registry=seawall.Registry()
            ),
            id="with_resilience",
        ),
        pytest.param(lambda c: seawall._native.validate_config(c), id="validate"),
    ],
)
def test_a_non_config_is_refused(build: Callable[[Any], Any], bad: Any, named: str) -> None:
    with pytest.raises(TypeError, match=f"config.*{named}"):
        build(bad)


def test_a_config_of_an_existing_registry_breaker_is_still_checked() -> None:
    reg = seawall.Registry()
    reg.get_or_create("n")
    with pytest.raises(TypeError, match="config.*dict"):
        reg.get_or_create("n", {"failure_threshold": 1})  # type: ignore[arg-type]


def test_an_object_with_every_field_is_a_config() -> None:
    class Duck:
        failure_threshold = 1
        success_threshold = 1
        timeout = 10
        half_open_timeout = 5
        track_exceptions = [ValueError]
        track_status_codes = [500]
        on_open = on_close = on_half_open = None

    b = UnifiedCircuitBreaker("n", Duck())
    with pytest.raises(ValueError):
        b.call(lambda: int("x"))
    assert b.is_open()


@pytest.mark.parametrize(
    "bad, error, match",
    [
        (123, TypeError, "name must be a str, not int"),
        (b"n", TypeError, "name must be a str, not bytes"),
        ("bad\udc80", ValueError, "name .*surrogate"),
    ],
)
@pytest.mark.parametrize(
    "build",
    [
        pytest.param(lambda n: UnifiedCircuitBreaker(n), id="breaker-positional"),
        pytest.param(lambda n: UnifiedCircuitBreaker(n, CircuitBreakerConfig()), id="breaker"),
        pytest.param(lambda n: UnifiedCircuitBreaker(name=n), id="breaker-kw"),
        pytest.param(lambda n: seawall.Registry().get_or_create(n), id="registry"),
        pytest.param(lambda n: with_circuit_breaker(n, registry=seawall.Registry()), id="decorator"),
        pytest.param(lambda n: create_circuit_breaker_adapter(n), id="adapter"),
        pytest.param(lambda n: LegacyCircuitBreakerAdapter(n), id="legacy"),
        pytest.param(lambda n: LightweightCircuitBreakerAdapter(n), id="light"),
        pytest.param(lambda n: with_resilience(None, n, registry=seawall.Registry()), id="with_resilience"),
    ],
)
def test_a_bad_name_is_refused(build: Callable[[Any], Any], bad: Any, error: Type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        build(bad)


def test_registry_lookups_with_bad_names() -> None:
    reg = seawall.Registry()
    assert reg.get("bad\udc80") is None
    assert not reg.remove("bad\udc80")
    assert 123 not in reg


# --------------------------------------------------------- integer ranges

BIG = 2**70


@pytest.mark.parametrize(
    "build, field, value",
    [
        (lambda v: CircuitBreakerConfig(track_status_codes=[v]), "track_status_codes", BIG),
        (lambda v: CircuitBreakerConfig(track_status_codes=[v]), "track_status_codes", -BIG),
        (lambda v: CircuitBreakerConfig(failure_threshold=v), "failure_threshold", BIG),
        (lambda v: CircuitBreakerConfig(failure_threshold=v), "failure_threshold", -1),
        (lambda v: CircuitBreakerConfig(success_threshold=v), "success_threshold", -(2**40)),
        (lambda v: CircuitBreakerConfig(half_open_max_calls=v), "half_open_max_calls", BIG),
        (lambda v: Bulkhead(BulkheadConfig(max_concurrent=v)), "max_concurrent", -5),
        (lambda v: Bulkhead(BulkheadConfig(max_concurrent=v)), "max_concurrent", BIG),
        (lambda v: Bulkhead(BulkheadConfig(max_queue_size=v)), "max_queue_size", -1),
        (lambda v: BulkheadConfig(max_concurrent=v), "max_concurrent", -5),
        (lambda v: BulkheadConfig(max_queue_size=v), "max_queue_size", BIG),
        (lambda v: RateLimiter(v), "rate", -5),
        (lambda v: RateLimiter(v), "rate", BIG),
        (lambda v: RateLimiter(10, burst=v), "burst", -1),
        (lambda v: RetryBudget(RetryBudgetConfig(min_requests=v)), "min_requests", -1),
        (lambda v: RetryBudget(RetryBudgetConfig(max_tokens=v)), "max_tokens", BIG),
        (lambda v: RetryBudgetConfig(max_tokens=v), "max_tokens", -3),
        (lambda v: RetryConfig(max_attempts=v), "max_attempts", -1),
        (lambda v: RetryConfig(max_attempts=v), "max_attempts", BIG),
        (lambda v: with_resilience(rate_limit=v), "rate_limit", -5),
        (lambda v: with_resilience(rate_limit=v), "rate_limit", 0),
        (lambda v: with_resilience(rate_limit=v), "rate_limit", BIG),
        (lambda v: BackoffCalculator().calculate_delay(v, RetryConfig()), "attempt", -1),
        (lambda v: seawall._native.Backoff("fixed", v, 1.0, 1.0, 2.0, 0.0), "max_attempts", -1),
    ],
)
def test_out_of_range_ints_name_the_field_value_and_range(
    build: Callable[[int], Any], field: str, value: int
) -> None:
    with pytest.raises(ValueError) as info:
        build(value)
    msg = str(info.value)
    assert field in msg and str(value) in msg, msg
    assert "out of range integral type" not in msg
    assert any(w in msg for w in ("[", "must be", "positive")), msg


NON_INT_FIELDS: List[Tuple[Callable[[Any], Any], str]] = [
    (lambda v: BulkheadConfig(max_concurrent=v), "max_concurrent"),
    (lambda v: BulkheadConfig(max_queue_size=v), "max_queue_size"),
    (lambda v: Bulkhead(BulkheadConfig(max_concurrent=v)), "max_concurrent"),
    (lambda v: RateLimiter(v), "rate"),
    (lambda v: RateLimiter(5, burst=v), "burst"),
    (lambda v: RetryBudgetConfig(min_requests=v), "min_requests"),
    (lambda v: RetryBudgetConfig(max_tokens=v), "max_tokens"),
    (lambda v: RetryConfig(max_attempts=v), "max_attempts"),
    (lambda v: with_resilience(rate_limit=v), "rate_limit"),
    (lambda v: CircuitBreakerConfig(failure_threshold=v), "failure_threshold"),
    (lambda v: CircuitBreakerConfig(track_status_codes=[v]), "track_status_codes"),
    (lambda v: BackoffCalculator().calculate_delay(v, RetryConfig()), "attempt"),
]
NON_INTS = {"bool": True, "float": 2.0, "str": "3", "None": None}
# None means "the default" for these, so it is not a bad value there.
NONE_IS_DEFAULT = ("failure_threshold", "burst", "rate_limit")


@pytest.mark.parametrize(
    "build, field, value",
    [
        pytest.param(build, field, value, id=f"{field}-{kind}")
        for build, field in NON_INT_FIELDS
        for kind, value in NON_INTS.items()
        if not (value is None and field in NONE_IS_DEFAULT)
    ],
)
def test_non_ints_are_refused(build: Callable[[Any], Any], field: str, value: Any) -> None:
    with pytest.raises(TypeError, match=field):
        build(value)


@pytest.mark.parametrize("attempt", [0, 1, 2, 30, 1000, 2**31, 2**32, 2**64, 2**200])
def test_any_non_negative_attempt_is_accepted(attempt: int) -> None:
    c = RetryConfig(strategy=RetryStrategy.EXPONENTIAL, initial_delay=0.1, max_delay=5.0)
    d = BackoffCalculator().calculate_delay(attempt, c)
    assert 0.0 <= d <= 5.0


def test_delays_never_decrease_with_huge_attempts() -> None:
    c = RetryConfig(strategy=RetryStrategy.LINEAR, initial_delay=0.5, max_delay=100.0)
    calc = BackoffCalculator(random.Random(1))
    delays = [calc.calculate_delay(a, c) for a in (1, 2, 10, 2**20, 2**32, 2**70)]
    assert delays == sorted(delays)


# ------------------------------------------- other configs and arguments


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: Bulkhead({"max_concurrent": 1}), "config must be a BulkheadConfig.*dict"),  # type: ignore[arg-type]
        (lambda: Bulkhead(5), "config must be a BulkheadConfig.*int"),  # type: ignore[arg-type]
        (lambda: RetryBudget(RetryConfig()), "config must be a RetryBudgetConfig.*RetryConfig"),  # type: ignore[arg-type]
        (lambda: RetryBudget("x"), "config must be a RetryBudgetConfig.*str"),  # type: ignore[arg-type]
        (lambda: Retrier(budget=RetryBudgetConfig()), "budget must be a RetryBudget"),  # type: ignore[arg-type]
        (lambda: Retrier(bulkhead=BulkheadConfig()), "bulkhead must be a Bulkhead"),  # type: ignore[arg-type]
        (lambda: Retrier(circuit_breaker="n"), "circuit_breaker must be"),
        (lambda: Retrier(sleep=5), "sleep must be callable"),  # type: ignore[arg-type]
        (lambda: Retrier().execute(lambda: 1, {"max_attempts": 2}), "config must be a RetryConfig.*dict"),  # type: ignore[arg-type]
        (lambda: BackoffCalculator().calculate_delay(1, {"x": 1}), "config must be a RetryConfig.*dict"),  # type: ignore[arg-type]
        (lambda: with_resilience({"max_attempts": 2}), "retry_policy must be.*dict"),  # type: ignore[arg-type]
        (lambda: with_resilience(bulkhead={"max_concurrent": 1}), "bulkhead must be.*dict"),  # type: ignore[arg-type]
        (lambda: with_resilience(bulkhead=5), "bulkhead must be.*int"),  # type: ignore[arg-type]
        (lambda: with_resilience(rate_limit="5"), "rate_limit must be.*str"),  # type: ignore[arg-type]
        (lambda: with_resilience(retry_budget={"budget_percent": 5}), "retry_budget must be.*dict"),  # type: ignore[arg-type]
        (lambda: with_resilience(retry_budget=5), "retry_budget must be.*int"),  # type: ignore[arg-type]
        (lambda: with_resilience(fallback=5), "fallback must be callable"),  # type: ignore[arg-type]
        (lambda: with_resilience(sleep="x"), "sleep must be callable"),  # type: ignore[arg-type]
        (lambda: with_resilience(asleep=1), "asleep must be callable"),  # type: ignore[arg-type]
        (lambda: with_resilience(rng=5), "rng must be a random.Random"),  # type: ignore[arg-type]
        (lambda: with_resilience(registry=5), "registry must be a Registry"),  # type: ignore[arg-type]
        (lambda: with_resilience(metrics={}), "metrics must be a RetryMetrics"),  # type: ignore[arg-type]
        (lambda: with_resilience(timeout="5"), "timeout must be.*str"),  # type: ignore[arg-type]
        (lambda: with_resilience(None, 5), "circuit_breaker_name must be a str"),  # type: ignore[arg-type]
        (lambda: with_circuit_breaker("n", registry={}), "registry must be a Registry"),  # type: ignore[arg-type]
        (lambda: create_circuit_breaker_adapter("n", None, 5), "implementation must be"),  # type: ignore[arg-type]
        (lambda: RateLimiter(5, max_wait="x"), "max_wait must be"),  # type: ignore[arg-type]
        (lambda: RateLimiter(5, period="x"), "period must be"),  # type: ignore[arg-type]
        (lambda: RateLimiter(5, sleep=3), "sleep must be callable"),  # type: ignore[arg-type]
        (lambda: seawall.Registry(clock=5), "clock"),  # type: ignore[arg-type]
        (lambda: UnifiedCircuitBreaker("n").add_listener(5), "listener must be callable"),  # type: ignore[arg-type]
    ],
)
def test_wrong_types_are_refused(build: Callable[[], Any], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        build()


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: RateLimiter(5, max_wait=-1), "max_wait = -1"),
        (lambda: RateLimiter(5, period=-1), "period"),
        (lambda: with_resilience(timeout=-1), "timeout = -1"),
        (lambda: with_resilience(timeout=float("nan")), "timeout = nan"),
        (lambda: Bulkhead().acquire(timeout=-1), "timeout = -1"),
        (lambda: BackoffCalculator().calculate_delay(1, RetryConfig(), previous=-1.0), "previous"),
    ],
)
def test_bad_values_are_refused(build: Callable[[], Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: RetryConfig(strategy="sideways"), "strategy"),  # type: ignore[arg-type]
        (lambda: RetryConfig(initial_delay=-1.0), "initial_delay"),
        (lambda: RetryConfig(max_delay=float("inf")), "max_delay"),
        (lambda: RetryConfig(exponential_base=0.5), "exponential_base"),
        (lambda: RetryConfig(jitter_factor=2.0), "jitter_factor"),
        (lambda: RetryConfig(initial_delay="1"), "initial_delay"),  # type: ignore[arg-type]
        (lambda: RetryConfig(jitter_enabled="yes"), "jitter_enabled"),  # type: ignore[arg-type]
        (lambda: RetryConfig(retryable_exceptions=[int]), "retryable_exceptions"),  # type: ignore[list-item]
        (lambda: RetryConfig(retryable_status_codes=["500"]), "retryable_status_codes"),  # type: ignore[list-item]
        (lambda: RetryConfig(on_retry=5), "on_retry"),  # type: ignore[arg-type]
        (lambda: RetryConfig(custom_backoff=5), "custom_backoff"),  # type: ignore[arg-type]
        (lambda: BulkheadConfig(timeout="5"), "timeout"),  # type: ignore[arg-type]
        (lambda: BulkheadConfig(timeout=timedelta(seconds=-1)), "timeout"),
        (lambda: BulkheadConfig(pool_name=5), "pool_name"),  # type: ignore[arg-type]
        (lambda: BulkheadConfig(reject_on_full=1), "reject_on_full"),  # type: ignore[arg-type]
        (lambda: RetryBudgetConfig(budget_percent=101), "budget_percent"),
        (lambda: RetryBudgetConfig(budget_percent="5"), "budget_percent"),  # type: ignore[arg-type]
        (lambda: RetryBudgetConfig(window_size=0), "window_size"),  # type: ignore[arg-type]
        (lambda: RetryBudgetConfig(tokens_per_second=0), "tokens_per_second"),
    ],
)
def test_config_dataclasses_refuse_bad_fields(build: Callable[[], Any], field: str) -> None:
    with pytest.raises((TypeError, ValueError), match=field):
        build()


HUGE = 2**2000  # beyond the float range


@pytest.mark.parametrize(
    "build, field",
    [
        (lambda: CircuitBreakerConfig(timeout=HUGE), "timeout"),
        (lambda: CircuitBreakerConfig(slow_call_duration=HUGE), "slow_call_duration"),
        (lambda: CircuitBreakerConfig(timeout_multiplier=HUGE), "timeout_multiplier"),
        (lambda: seawall.ManualClock().advance(HUGE), "seconds"),
        (lambda: RetryConfig(initial_delay=HUGE), "initial_delay"),
        (lambda: RetryBudgetConfig(budget_percent=HUGE), "budget_percent"),
        (lambda: BulkheadConfig(timeout=HUGE), "timeout"),  # type: ignore[arg-type]
        (lambda: RateLimiter(5, period=HUGE), "period"),
        (lambda: with_resilience(timeout=HUGE), "timeout"),
        (lambda: Bulkhead().acquire(timeout=HUGE), "timeout"),
    ],
)
def test_ints_beyond_the_float_range_name_the_field(build: Callable[[], Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"invalid {field} = 1148130695274254524"):
        build()


@pytest.mark.parametrize("timeout", [True, "1", -1.0])
def test_bulkhead_acquire_checks_its_timeout_even_when_a_slot_is_free(timeout: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="timeout"):
        Bulkhead().acquire(timeout=timeout)


def test_a_fallback_that_is_not_callable_is_refused_before_anything_runs(
    redis_url: str,
) -> None:
    # call(func, 42) reads 42 as the fallback: refused by name, func never
    # called, nothing counted as the dependency's failure.
    calls: List[int] = []

    def lookup(user_id: int = 0) -> int:
        calls.append(user_id)
        return user_id

    local = UnifiedCircuitBreaker("users", CircuitBreakerConfig(failure_threshold=1))
    fleet = seawall.DistributedCircuitBreaker(
        "users", CircuitBreakerConfig(failure_threshold=1), redis_url=redis_url
    )
    for cb in (local, fleet):
        with pytest.raises(TypeError, match=r"fallback must be callable or None .*not int \(42\)"):
            cb.call(lookup, 42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"call\(lambda: func\(42\)\)"):
            asyncio.run(cb.acall(lookup, "cached"))  # type: ignore[arg-type]
        assert cb.metrics()["permitted"] == 0
        assert cb.call(lambda: lookup(7), None) == 7
        assert cb.get_state() == seawall.CircuitState.CLOSED
    assert calls == [7, 7]


def test_the_native_signature_shows_no_private_argument() -> None:
    params = inspect.signature(UnifiedCircuitBreaker).parameters
    assert list(params) == ["name", "config", "clock", "seed"]
    assert "UnifiedCircuitBreaker.call" not in (UnifiedCircuitBreaker.call.__doc__ or "")
    assert "fallback" in (UnifiedCircuitBreaker.call.__doc__ or "")
    assert "Rust" not in (UnifiedCircuitBreaker.metrics.__doc__ or "")
    assert "crate" not in (UnifiedCircuitBreaker.metrics.__doc__ or "")
