"""Property tests of the Python configuration surface: random values of
every field of every configuration type (and of ``with_resilience``'s
arguments). Values in the documented range are accepted; any other value is
refused with a ``ValueError`` / ``TypeError`` whose message names the field.

The test suite runs the ``seawall-ci`` profile (conftest.py): 25 examples a
property, drawn from a fixed seed so that a run is reproducible; explore
with ``pytest --hypothesis-profile=seawall-deep``."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any, Callable, Dict, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall import (
    Bulkhead,
    BulkheadConfig,
    CircuitBreakerConfig,
    CountWindow,
    RateLimiter,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
    RetryStrategy,
    TimeWindow,
    UnifiedCircuitBreaker,
    with_resilience,
)


YEAR = 365 * 24 * 3600.0
# A small alphabet: text strategies over all of Unicode build a character
# map first, which takes seconds.
LETTERS = "abcxyz_- 1\u00e9\u4e2d"

# ------------------------------------------------------------- strategies

# Values of the wrong type for any numeric field.
not_numbers = st.one_of(
    st.booleans(),
    st.text(LETTERS, max_size=3),
    st.lists(st.integers(), max_size=2),
    st.builds(object),
    st.just({"x": 1}),
)
not_ints = st.one_of(not_numbers, st.floats(allow_nan=False))


def ints(lo: int, hi: int) -> Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """(valid, invalid) values of an integer field with range [lo, hi]."""
    bad = st.one_of(
        st.integers(max_value=lo - 1),
        st.integers(min_value=hi + 1),
        st.integers(min_value=2**32, max_value=2**200),
        st.integers(min_value=-(2**200), max_value=-(2**32)),
    )
    return st.integers(lo, hi), st.one_of(bad, not_ints)


def floats(
    lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False
) -> Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """(valid, invalid) values of a number field with range lo..hi."""
    valid = st.floats(lo, hi, exclude_min=lo_open, exclude_max=hi_open)
    bad = st.one_of(
        st.floats(max_value=lo, exclude_max=not lo_open) if lo > -math.inf else st.nothing(),
        st.floats(min_value=hi, exclude_min=not hi_open),
        st.just(math.nan),
        st.just(math.inf),
        st.integers(min_value=2**1100, max_value=2**1200),  # beyond the float range
    )
    return valid, st.one_of(bad, not_numbers)


def durations(
    lo: float, hi: float, *, lo_open: bool = False
) -> Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """(valid, invalid) values of a duration field: seconds or timedelta.
    Valid and invalid values both stay clear of a closed bound by a
    microsecond, the resolution of timedelta (a float a hair below 10 ms is
    10 ms once converted to whole nanoseconds)."""
    lo_v = lo + (1e-3 if lo_open else 0.0)
    valid_secs = st.floats(lo_v, hi)
    valid = st.one_of(valid_secs, valid_secs.map(lambda s: timedelta(seconds=s)))
    bad_secs = st.one_of(
        st.floats(max_value=lo, exclude_max=not lo_open, allow_nan=False).filter(
            lambda s: s < lo - 1e-6 or (lo_open and s <= lo)
        ),
        st.floats(min_value=hi * 1.001, allow_nan=False),
        st.just(math.nan),
    )
    bad = st.one_of(
        bad_secs,
        st.floats(min_value=-1e6, max_value=lo - 1e-3 if not lo_open else lo).map(
            lambda s: timedelta(seconds=s)
        ),
        st.booleans(),
        st.text(LETTERS, max_size=3),
        st.builds(object),
    )
    return valid, bad


exception_lists = st.lists(
    st.sampled_from([Exception, ValueError, KeyError, ConnectionError, TimeoutError, OSError]),
    max_size=3,
)
bad_exception_lists = st.one_of(
    st.lists(st.sampled_from([int, str, object, "ValueError", 5]), min_size=1, max_size=3),
    st.integers(),
    st.builds(object),
)
status_codes = st.lists(st.integers(-(2**63), 2**63 - 1), max_size=4)
bad_status_codes = st.one_of(
    st.lists(st.one_of(st.text(LETTERS, max_size=3), st.floats(), st.booleans()), min_size=1, max_size=3),
    st.lists(st.integers(min_value=2**63, max_value=2**100), min_size=1, max_size=2),
    st.integers(),
)
callables = st.one_of(st.none(), st.just(lambda *a: None), st.just(print))
bad_callables = st.one_of(st.integers(), st.text(LETTERS, min_size=1, max_size=3), st.lists(st.integers(), min_size=1))

# Thresholds: any 32-bit count above zero. Trial successes and trials in
# flight share 36 bits of the state word (see the joint-limit property
# below), so drawn independently they stay below 2^18 each.
threshold_bad = st.one_of(
    st.integers(max_value=0), st.integers(min_value=2**32, max_value=2**100), not_ints
)
failure_threshold_ok = st.integers(1, 2**32 - 1)
trial_count_ok = st.integers(1, 2**18 - 1)

# Trip rules over a window. Their joint rules: a window rule needs a window
# (the slow-call rate a slow_call_duration too); trip_on_consecutive_failures
# may be False only with a window rule; minimum_calls and
# failure_count_threshold are at most a count window's size; and
# half_open_success_rate (the trial failures it tolerates) shares the 36 bits
# of the trial bookkeeping with success_threshold and half_open_max_calls.
# Valid values are drawn valid in any combination: count windows of at least
# 100 calls, time windows with slices of at least 1 ms, minimum_calls and
# failure_count_threshold at most 100. BREAKER leaves the window rules unset
# and the consecutive rule on (they need a window), and draws only the rate 1
# for half_open_success_rate (no failure tolerated: it fits any trial counts
# up to 2^18 - 1); WINDOWED below draws them on a base that has a window, a
# rule and a slow_call_duration, with smaller trial counts. Invalid values
# are invalid whatever the other fields hold.


def forged(cls: Any, **fields: Any) -> Any:
    """A window built without its own check (as a pickled or tampered one
    could be): the breaker checks it again."""
    w = object.__new__(cls)
    for k, v in fields.items():
        object.__setattr__(w, k, v)
    return w


def _time_windows(buckets: int) -> st.SearchStrategy[Any]:
    # Slices clear of 1 ms, so that rounding to the microsecond keeps them.
    secs = st.floats(buckets * 0.001 * 1.001, YEAR)
    return st.builds(TimeWindow, st.one_of(secs, secs.map(lambda s: timedelta(seconds=s))), st.just(buckets))


windows_ok = st.one_of(
    st.builds(CountWindow, st.integers(100, 10_000)),
    st.integers(1, 1000).flatmap(_time_windows),
)
window_size_bad = st.one_of(
    st.integers(max_value=0), st.integers(min_value=10_001, max_value=2**100), not_ints
)
windows_bad = st.one_of(
    st.integers(),
    st.text(LETTERS, max_size=3),
    st.just({"size": 100}),
    st.builds(object),
    st.builds(lambda n: forged(CountWindow, size=n), window_size_bad),
    st.builds(lambda v: forged(TimeWindow, length=v, buckets=10), durations(0.0, YEAR, lo_open=True)[1]),
    st.builds(lambda n: forged(TimeWindow, length=10.0, buckets=n), window_size_bad),
    st.builds(lambda n: forged(TimeWindow, length=0.999, buckets=n), st.integers(1000, 2**20)),
)
positive_count_bad = st.one_of(
    st.integers(max_value=0), st.integers(min_value=2**32, max_value=2**100), not_ints
)
rule_count_ok = st.integers(1, 100)
rate_ok, rate_bad = floats(0.0, 1.0, lo_open=True)
flag_bad = st.one_of(st.integers(), st.floats(), st.text(LETTERS, max_size=3), st.builds(object))

BREAKER: Dict[str, Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "failure_threshold": (failure_threshold_ok, threshold_bad),
    "success_threshold": (trial_count_ok, threshold_bad),
    "half_open_max_calls": (trial_count_ok, threshold_bad),
    "timeout": durations(0.0, YEAR, lo_open=True),
    "half_open_timeout": durations(0.0, YEAR, lo_open=True),
    "track_exceptions": (exception_lists, bad_exception_lists),
    "exclude_exceptions": (exception_lists, bad_exception_lists),
    "track_status_codes": (status_codes, bad_status_codes),
    "on_open": (callables, bad_callables),
    "on_close": (callables, bad_callables),
    "on_half_open": (callables, bad_callables),
    "failure_predicate": (callables, bad_callables),
    "result_predicate": (callables, bad_callables),
    "timeout_multiplier": floats(1.0, 1000.0),
    "timeout_jitter": floats(0.0, 1.0, hi_open=True),
    "slow_call_duration": durations(0.0, YEAR, lo_open=True),
    "window": (st.one_of(st.none(), windows_ok), windows_bad),
    "failure_count_threshold": (st.none(), positive_count_bad),
    "failure_rate_threshold": (st.none(), rate_bad),
    "slow_call_rate_threshold": (st.none(), rate_bad),
    "minimum_calls": (rule_count_ok, positive_count_bad),
    "trip_on_consecutive_failures": (st.just(True), flag_bad),
    "half_open_success_rate": (st.sampled_from([None, 1.0]), rate_bad),
}

# The window rules set: a drawn value replaces a base value by another valid
# one, so there is always a window, a rule and a slow_call_duration.
WINDOWED_BASE: Dict[str, Any] = dict(
    window=CountWindow(100), failure_rate_threshold=0.5, slow_call_duration=1.0
)
WINDOWED: Dict[str, Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    **BREAKER,
    # 10 + 10 + 10 bits at most, whatever half_open_success_rate tolerates.
    "success_threshold": (st.integers(1, 2**10 - 1), threshold_bad),
    "half_open_max_calls": (st.integers(1, 2**10 - 1), threshold_bad),
    "window": (windows_ok, windows_bad),
    "failure_count_threshold": (rule_count_ok, positive_count_bad),
    "failure_rate_threshold": (rate_ok, rate_bad),
    "slow_call_rate_threshold": (rate_ok, rate_bad),
    "trip_on_consecutive_failures": (st.booleans(), flag_bad),
    "half_open_success_rate": (st.one_of(st.none(), rate_ok), rate_bad),
}

RETRY: Dict[str, Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "strategy": (
        st.sampled_from(list(RetryStrategy) + [s.value for s in RetryStrategy]),
        st.one_of(st.text(LETTERS, max_size=5).filter(lambda t: t not in {s.value for s in RetryStrategy}), st.integers()),
    ),
    "max_attempts": ints(1, 2**32 - 1),
    # initial_delay <= max_delay is a joint rule: valid values are drawn on
    # either side of 1 s so that any pair is in order, and invalid values
    # lie outside [0, 365 days], invalid whatever the other field holds.
    "initial_delay": (st.floats(0.0, 1.0), floats(0.0, YEAR)[1]),
    "max_delay": (st.floats(1.0, YEAR), floats(0.0, YEAR)[1]),
    "exponential_base": floats(1.0, 1000.0),
    "jitter_factor": floats(0.0, 1.0),
    "jitter_enabled": (st.booleans(), st.one_of(st.integers(), st.text(LETTERS, max_size=2), st.none())),
    "circuit_breaker_enabled": (st.booleans(), st.one_of(st.integers(), st.none())),
    "bulkhead_enabled": (st.booleans(), st.one_of(st.integers(), st.none())),
    "retry_budget_enabled": (st.booleans(), st.one_of(st.integers(), st.none())),
    "retryable_exceptions": (exception_lists, bad_exception_lists),
    "retryable_status_codes": (st.lists(st.integers(), max_size=3), bad_status_codes.filter(lambda v: not isinstance(v, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in v))),
    "on_retry": (callables, bad_callables),
    "custom_backoff": (callables, bad_callables),
}

BULKHEAD: Dict[str, Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "max_concurrent": ints(1, 2**32 - 1),
    "max_queue_size": ints(0, 2**32 - 1),
    "timeout": durations(0.0, YEAR),
    "pool_name": (
        st.text(LETTERS, max_size=10),
        st.one_of(st.integers(), st.none(), st.just("bad\udc80")),
    ),
    "reject_on_full": (st.booleans(), st.one_of(st.integers(), st.none())),
}

BUDGET: Dict[str, Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "budget_percent": floats(0.0, 100.0),
    "min_requests": ints(0, 10**9),
    "window_size": durations(0.01, YEAR),
    # At least 1 token a second: the core also requires the bucket to
    # refill `max_tokens` (up to 10^9 here) within 100 years.
    "tokens_per_second": (st.floats(1.0, 1e9), floats(0.0, 1e9, lo_open=True)[1]),
    "max_tokens": ints(0, 10**9),
}

CONFIGS: Dict[str, Tuple[Callable[..., Any], Dict[str, Any]]] = {
    "CircuitBreakerConfig": (lambda **kw: UnifiedCircuitBreaker("p", CircuitBreakerConfig(**kw)), BREAKER),
    "CircuitBreakerConfig with window rules": (
        lambda **kw: UnifiedCircuitBreaker("p", CircuitBreakerConfig(**{**WINDOWED_BASE, **kw})),
        WINDOWED,
    ),
    "RetryConfig": (RetryConfig, RETRY),
    "BulkheadConfig": (lambda **kw: Bulkhead(BulkheadConfig(**kw)), BULKHEAD),
    "RetryBudgetConfig": (lambda **kw: RetryBudget(RetryBudgetConfig(**kw)), BUDGET),
}


def _valid(fields: Dict[str, Any]) -> st.SearchStrategy[Dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={k: v[0] for k, v in fields.items()})


def _one_bad(fields: Dict[str, Any]) -> st.SearchStrategy[Tuple[str, Any]]:
    return st.sampled_from(sorted(fields)).flatmap(
        lambda f: st.tuples(st.just(f), fields[f][1])
    )


# ------------------------------------------------------------- properties


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_valid_values_are_accepted(kind: str) -> None:
    build, fields = CONFIGS[kind]

    @given(_valid(fields))
    def check(kw: Dict[str, Any]) -> None:
        build(**kw)

    check()


@pytest.mark.parametrize("kind", list(CONFIGS))
def test_an_invalid_value_is_refused_naming_its_field(kind: str) -> None:
    build, fields = CONFIGS[kind]

    @given(_valid(fields), _one_bad(fields))
    def check(kw: Dict[str, Any], bad: Tuple[str, Any]) -> None:
        field, value = bad
        kw = {**kw, field: value}
        with pytest.raises((TypeError, ValueError)) as info:
            build(**kw)
        assert field in str(info.value), (field, value, str(info.value))

    check()


@given(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))
def test_trial_bookkeeping_shares_36_bits(successes: int, max_calls: int) -> None:
    fits = (successes - 1).bit_length() + max_calls.bit_length() <= 36
    kw = {"success_threshold": successes, "half_open_max_calls": max_calls}
    if fits:
        CircuitBreakerConfig(**kw)
    else:
        with pytest.raises(ValueError, match=rf"invalid half_open_max_calls = {max_calls} \(with success_threshold = {successes}\)"):
            CircuitBreakerConfig(**kw)


@given(st.floats(0.001, 100.0), st.floats(1.0, 10.0))
def test_max_timeout_must_not_be_below_timeout(timeout: float, factor: float) -> None:
    CircuitBreakerConfig(timeout=timeout, max_timeout=timeout * factor)
    with pytest.raises(ValueError, match="max_timeout"):
        CircuitBreakerConfig(timeout=timeout * factor + 1, max_timeout=timeout)


@given(st.floats(0.001, 100.0), st.floats(0.0, 0.99))
def test_max_delay_must_not_be_below_initial_delay(initial: float, share: float) -> None:
    RetryConfig(initial_delay=initial, max_delay=initial + 1)
    with pytest.raises(ValueError, match="max_delay"):
        RetryConfig(initial_delay=initial, max_delay=initial * share)


RATE = {
    "rate": ints(1, 10**9),
    "burst": ints(1, 10**9),
}


@given(st.integers(1, 10**6), st.integers(1, 10**6), st.floats(1.0, 3600.0))
def test_rate_limiter_accepts_its_range(rate: int, burst: int, period: float) -> None:
    RateLimiter(rate, period, burst)


@given(st.sampled_from(sorted(RATE)).flatmap(lambda f: st.tuples(st.just(f), RATE[f][1])))
def test_rate_limiter_refuses_naming_the_argument(bad: Tuple[str, Any]) -> None:
    field, value = bad
    kw: Dict[str, Any] = {"rate": 10, "burst": 10, field: value}
    with pytest.raises((TypeError, ValueError), match=field):
        RateLimiter(kw["rate"], 1.0, kw["burst"])


@given(floats(0.0, YEAR, lo_open=True)[1].filter(lambda v: not isinstance(v, (int, float)) or not (0 < v)))
def test_rate_limiter_refuses_bad_periods(period: Any) -> None:
    with pytest.raises((TypeError, ValueError), match="period"):
        RateLimiter(10, period)


WITH_RESILIENCE: Dict[str, Tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "rate_limit": (
        st.one_of(st.none(), st.integers(1, 10**9)),
        st.one_of(st.integers(max_value=0), st.integers(min_value=10**9 + 1, max_value=2**100),
                  st.floats(), st.text(LETTERS, max_size=2), st.booleans()),
    ),
    "timeout": (
        st.one_of(st.none(), st.floats(0.001, 1e6)),
        st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.text(LETTERS, max_size=2), st.booleans()),
    ),
    "retry_policy": (
        st.one_of(st.none(), st.sampled_from(["standard", "network", "database", "webhook"])),
        st.one_of(st.text(LETTERS, min_size=1, max_size=4).filter(lambda t: t not in ("standard", "network")), st.integers(), st.just({"x": 1})),
    ),
    "fallback": (callables, bad_callables),
    "sleep": (callables, bad_callables),
    "asleep": (callables, bad_callables),
    "bulkhead": (
        st.one_of(st.none(), st.just(BulkheadConfig())),
        st.one_of(st.integers(), st.text(LETTERS, max_size=2), st.just({"max_concurrent": 1})),
    ),
    "retry_budget": (
        st.one_of(st.none(), st.just(RetryBudgetConfig())),
        st.one_of(st.integers(), st.text(LETTERS, max_size=2), st.just({"budget_percent": 1})),
    ),
}


@given(_valid(WITH_RESILIENCE))
def test_with_resilience_accepts_valid_arguments(kw: Dict[str, Any]) -> None:
    with_resilience(**kw)


@given(_valid(WITH_RESILIENCE), _one_bad(WITH_RESILIENCE))
def test_with_resilience_refuses_naming_the_argument(kw: Dict[str, Any], bad: Tuple[str, Any]) -> None:
    field, value = bad
    kw = {**kw, field: value}
    with pytest.raises((TypeError, ValueError)) as info:
        with_resilience(**kw)
    shown = "retry_policy" if field == "retry_policy" else field
    assert shown in str(info.value), (field, value, str(info.value))
