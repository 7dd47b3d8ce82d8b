"""The core's sliding windows and trip rules, reached through
``CircuitBreakerConfig`` (``window``, ``failure_count_threshold``,
``failure_rate_threshold``, ``slow_call_rate_threshold``, ``minimum_calls``,
``trip_on_consecutive_failures``, ``half_open_success_rate``), on the manual
clock: each rule keeps the breaker CLOSED just below its threshold and opens
it exactly at it. Plus the window classes, the window's counts in the
metrics, the refusals naming each field, and the README's worked example."""

from __future__ import annotations

import dataclasses
import pickle
import re
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict, List

import pytest

import seawall
from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    CircuitState,
    CountWindow,
    ManualClock,
    TimeWindow,
    UnifiedCircuitBreaker,
)

from conftest import Boom, boom, fail, ok


def breaker(clock: ManualClock, **config: Any) -> UnifiedCircuitBreaker:
    return UnifiedCircuitBreaker("w", CircuitBreakerConfig(**config), clock=clock)


def succeed(cb: UnifiedCircuitBreaker, times: int) -> None:
    for _ in range(times):
        assert cb.call(ok) == "ok"


def window(cb: UnifiedCircuitBreaker) -> Dict[str, int]:
    w = cb.get_metrics()["window"]
    assert w is not None
    return w  # type: ignore[no-any-return]


# ------------------------------------------------------------ the rules


def test_a_count_window_rate_opens_at_exactly_half_of_the_last_100(clock: ManualClock) -> None:
    cb = breaker(
        clock,
        window=CountWindow(100),
        failure_rate_threshold=0.5,
        minimum_calls=100,
        trip_on_consecutive_failures=False,
    )
    succeed(cb, 1000)
    fail(cb, 49)
    assert cb.get_state() is CircuitState.CLOSED, "49 of the last 100 failed"
    assert window(cb) == {"successes": 51, "failures": 49, "slow_calls": 0, "ignored": 0, "calls": 100}
    fail(cb, 1)
    assert cb.get_state() is CircuitState.OPEN, "the 50th failure of the last 100"
    with pytest.raises(CircuitBreakerOpenError):
        cb.call(ok)


@pytest.mark.parametrize("length", [10, 10.0, timedelta(seconds=10)])
def test_a_time_window_failure_count_expires_old_buckets(clock: ManualClock, length: Any) -> None:
    cb = breaker(
        clock,
        window=TimeWindow(length, buckets=10),
        failure_count_threshold=3,
        trip_on_consecutive_failures=False,
    )
    fail(cb, 2)  # the bucket [0 s, 1 s)
    clock.advance(9.999999)
    assert window(cb)["failures"] == 2, "a microsecond before the bucket leaves"
    clock.advance(timedelta(microseconds=1))  # t = 10 s: the bucket [0, 1) leaves
    assert window(cb)["failures"] == 0
    fail(cb, 2)
    assert cb.get_state() is CircuitState.CLOSED, "2 failures in the window, 4 in all"
    fail(cb, 1)
    assert cb.get_state() is CircuitState.OPEN, "3 failures within 10 s"


def test_the_failure_count_rule_fires_below_minimum_calls_and_across_successes(
    clock: ManualClock,
) -> None:
    cb = breaker(
        clock,
        window=TimeWindow(60, buckets=6),
        failure_count_threshold=3,
        minimum_calls=1000,
        trip_on_consecutive_failures=False,
    )
    for _ in range(2):
        fail(cb, 1)
        succeed(cb, 10)
        clock.advance(20)
    assert cb.get_state() is CircuitState.CLOSED
    fail(cb, 1)
    assert cb.get_state() is CircuitState.OPEN, "3 failures within 60 s"


def test_the_slow_call_rate_opens_at_exactly_half_slow(clock: ManualClock) -> None:
    cb = breaker(
        clock,
        window=CountWindow(10),
        slow_call_duration=timedelta(seconds=2),
        slow_call_rate_threshold=0.5,
        minimum_calls=10,
    )

    def taking(seconds: float) -> Any:
        def call() -> str:
            clock.advance(seconds)
            return "ok"

        return call

    for _ in range(10):
        cb.call(taking(1.999))  # just under slow_call_duration
    assert window(cb)["slow_calls"] == 0
    for _ in range(4):
        cb.call(taking(2))  # exactly slow_call_duration: slow
    assert cb.get_state() is CircuitState.CLOSED, "4 of the last 10 calls were slow"
    assert window(cb)["slow_calls"] == 4 and window(cb)["calls"] == 10
    cb.call(taking(2))
    assert cb.get_state() is CircuitState.OPEN, "5 of the last 10 calls were slow"
    assert cb.get_metrics()["slow_calls"] == 5


def test_minimum_calls_holds_a_rate_rule_off(clock: ManualClock) -> None:
    # 12, not the default 10: the breaker would open at the 10th call.
    cb = breaker(
        clock,
        window=CountWindow(20),
        failure_rate_threshold=0.5,
        minimum_calls=12,
        failure_threshold=100,
    )
    fail(cb, 6)
    succeed(cb, 5)
    assert cb.get_state() is CircuitState.CLOSED, "6 of 11 failed, but 11 calls are too few"
    succeed(cb, 1)
    assert cb.get_state() is CircuitState.OPEN, "the 12th call, a success, completes the minimum at 50%"


def test_ignored_outcomes_sit_in_the_window_but_are_not_calls(clock: ManualClock) -> None:
    cb = breaker(
        clock,
        window=CountWindow(4),
        failure_rate_threshold=0.5,
        minimum_calls=2,
    )
    fail(cb, 1)
    for _ in range(3):
        cb.acquire().ignore()
    assert window(cb) == {"successes": 0, "failures": 1, "slow_calls": 0, "ignored": 3, "calls": 1}
    cb.acquire().ignore()
    assert window(cb)["failures"] == 0, "the failure slid out"
    succeed(cb, 1)
    fail(cb, 1)
    assert cb.get_state() is CircuitState.OPEN, "1 of 2 calls failed"


def test_consecutive_failures_can_be_left_to_a_window_rule(clock: ManualClock) -> None:
    rule = dict(failure_threshold=3, window=CountWindow(100), failure_count_threshold=5)
    on = breaker(clock, **rule)
    fail(on, 3)
    assert on.get_state() is CircuitState.OPEN, "3 consecutive failures, by default"

    off = breaker(clock, trip_on_consecutive_failures=False, **rule)
    fail(off, 4)
    assert off.get_state() is CircuitState.CLOSED, "the consecutive rule is off"
    assert off.get_metrics()["failure_count"] == 0
    fail(off, 1)
    assert off.get_state() is CircuitState.OPEN, "5 failures in the window"


@pytest.mark.parametrize(
    "extra",
    [{}, {"window": CountWindow(100)}, {"window": TimeWindow(10), "slow_call_duration": 1}],
)
def test_the_consecutive_rule_cannot_be_turned_off_without_a_window_rule(extra: Dict[str, Any]) -> None:
    message = (
        "invalid trip_on_consecutive_failures = false: must be true unless a window rule "
        "(failure_count_threshold, failure_rate_threshold or slow_call_rate_threshold) is set"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        CircuitBreakerConfig(trip_on_consecutive_failures=False, **extra)


def test_half_open_success_rate_closes_and_reopens_a_batch(clock: ManualClock) -> None:
    trials_of_5 = dict(failure_threshold=1, success_threshold=5, half_open_max_calls=5, timeout=1)
    strict = breaker(clock, **trials_of_5)
    fail(strict, 1)
    clock.advance(1)
    strict.acquire().failure()
    assert strict.get_state() is CircuitState.OPEN, "without a rate, one trial failure reopens"

    cb = breaker(clock, half_open_success_rate=0.6, **trials_of_5)
    fail(cb, 1)
    clock.advance(1)
    trials = [cb.acquire() for _ in range(5)]
    with pytest.raises(CircuitBreakerOpenError):
        cb.acquire()
    trials[0].failure()
    trials[1].failure()
    assert cb.get_state() is CircuitState.HALF_OPEN, "2 failures of 5 still allow 3 of 5"
    trials[2].success()
    trials[3].success()
    assert cb.get_state() is CircuitState.HALF_OPEN
    assert cb.metrics()["trial_successes"] == 2
    trials[4].success()
    assert cb.get_state() is CircuitState.CLOSED, "3 of 5 = 60%"

    fail(cb, 1)
    clock.advance(1)
    trials = [cb.acquire() for _ in range(3)]
    trials[0].failure()
    trials[1].failure()
    assert cb.get_state() is CircuitState.HALF_OPEN
    trials[2].failure()
    assert cb.get_state() is CircuitState.OPEN, "a 3rd failure puts 3 of 5 out of reach"


def test_a_closed_episode_is_judged_without_the_failures_that_opened_the_last(
    clock: ManualClock,
) -> None:
    for w in (CountWindow(10), TimeWindow(600)):
        cb = breaker(
            clock,
            window=w,
            failure_count_threshold=3,
            failure_threshold=100,
            success_threshold=1,
            timeout=10,
        )
        fail(cb, 3)
        assert cb.get_state() is CircuitState.OPEN
        clock.advance(10)
        succeed(cb, 1)
        assert cb.get_state() is CircuitState.CLOSED
        assert window(cb)["failures"] == 0, w
        fail(cb, 2)
        assert cb.get_state() is CircuitState.CLOSED, w
        fail(cb, 1)
        assert cb.get_state() is CircuitState.OPEN, w


# ------------------------------------------------------------ the window classes


def test_window_classes_are_exported_frozen_values() -> None:
    assert {"CountWindow", "TimeWindow"} <= set(seawall.__all__)
    assert seawall.models.CountWindow is CountWindow
    assert repr(CountWindow(100)) == "CountWindow(size=100)"
    assert repr(TimeWindow(10)) == "TimeWindow(length=datetime.timedelta(seconds=10), buckets=10)"
    assert CountWindow(100) == CountWindow(100) != CountWindow(50)
    assert TimeWindow(10) == TimeWindow(timedelta(seconds=10)) == TimeWindow(10.0, buckets=10)
    assert TimeWindow(10) != TimeWindow(10, buckets=5)
    assert TimeWindow(0.25, 5).length == timedelta(milliseconds=250)
    assert len({CountWindow(3), CountWindow(3), TimeWindow(1), TimeWindow(1)}) == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        CountWindow(3).size = 4  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        TimeWindow(3).buckets = 4  # type: ignore[misc]
    for w in (CountWindow(7), TimeWindow(timedelta(minutes=1), 6)):
        assert pickle.loads(pickle.dumps(w)) == w
        assert dataclasses.replace(w) == w
    config = CircuitBreakerConfig(window=TimeWindow(5), failure_count_threshold=2)
    assert pickle.loads(pickle.dumps(config)) == config


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: CountWindow(0), ValueError, "invalid window.size = 0: must be an integer in [1, 10000]"),
        (lambda: CountWindow(10_001), ValueError, "invalid window.size = 10001: must be an integer in [1, 10000]"),
        (lambda: CountWindow(-1), ValueError, "invalid window.size = -1: must be an integer in [1, 10000]"),
        (lambda: CountWindow(2**70), ValueError, f"invalid window.size = {2**70}: must be an integer in [1, 10000]"),
        (lambda: CountWindow(10.0), TypeError, "window.size must be an int, not float (10.0)"),
        (lambda: CountWindow(True), TypeError, "window.size must be an int, not bool (True)"),
        (lambda: TimeWindow(0), ValueError, "invalid window.length = 0.0: must be a finite number of seconds in (0, 31536000]"),
        (lambda: TimeWindow(timedelta(days=366)), ValueError, "invalid window.length = 31622400.0"),
        (lambda: TimeWindow(float("nan")), ValueError, "invalid window.length = NaN"),
        (lambda: TimeWindow("10"), TypeError, "window.length must be a datetime.timedelta or a number of seconds, not str"),
        (lambda: TimeWindow(10, 0), ValueError, "invalid window.buckets = 0: must be an integer in [1, 1000]"),
        (lambda: TimeWindow(10, 1001), ValueError, "invalid window.buckets = 1001: must be an integer in [1, 1000]"),
        (lambda: TimeWindow(0.5, 1000), ValueError, "invalid window.buckets = 1000: must be at most window.length / 1 ms (slices of at least 1 ms)"),
        (lambda: TimeWindow(10, 2.0), TypeError, "window.buckets must be an int, not float (2.0)"),
    ],
)
def test_bad_windows_are_refused_naming_the_field(build: Any, error: type, message: str) -> None:
    with pytest.raises(error) as info:
        build()
    assert str(info.value).startswith(message), str(info.value)


def test_a_tampered_window_is_checked_again_when_the_breaker_is_built() -> None:
    w = CountWindow(100)
    config = CircuitBreakerConfig(window=w, minimum_calls=5)
    object.__setattr__(w, "size", 3)
    with pytest.raises(ValueError, match=re.escape("invalid minimum_calls = 5: must be at least 1 and at most the size of a count window")):
        UnifiedCircuitBreaker("w", config)
    object.__setattr__(w, "size", 0)
    with pytest.raises(ValueError, match=re.escape("invalid window.size = 0")):
        UnifiedCircuitBreaker("w", config)


# ------------------------------------------------------------ the new fields refused


WINDOWED: Dict[str, Any] = dict(window=CountWindow(100), slow_call_duration=1)


@pytest.mark.parametrize(
    "kw, error, message",
    [
        ({"window": 100}, TypeError, "window must be a seawall.CountWindow, a seawall.TimeWindow or None, not int (100)"),
        ({"window": {"size": 100}}, TypeError, "window must be a seawall.CountWindow, a seawall.TimeWindow or None, not dict"),
        ({**WINDOWED, "failure_count_threshold": "3"}, TypeError, "failure_count_threshold must be an int, not str ('3')"),
        ({**WINDOWED, "failure_count_threshold": 3.0}, TypeError, "failure_count_threshold must be an int, not float (3.0)"),
        ({**WINDOWED, "failure_count_threshold": 0}, ValueError, "invalid failure_count_threshold = 0: must be at least 1 and at most the size of a count window"),
        ({**WINDOWED, "failure_count_threshold": 101}, ValueError, "invalid failure_count_threshold = 101: must be at least 1 and at most the size of a count window"),
        ({"failure_count_threshold": -5}, ValueError, "invalid failure_count_threshold = -5: must be at least 1"),
        ({"failure_count_threshold": 2**64}, ValueError, f"invalid failure_count_threshold = {2**64}: must be at least 1"),
        ({"failure_count_threshold": 3}, ValueError, 'invalid failure_count_threshold = "set": must be unset unless a window is configured'),
        ({**WINDOWED, "failure_rate_threshold": "0.5"}, TypeError, "failure_rate_threshold must be a number, not str"),
        ({**WINDOWED, "failure_rate_threshold": True}, TypeError, "failure_rate_threshold must be a number, not bool"),
        ({**WINDOWED, "failure_rate_threshold": 0}, ValueError, "invalid failure_rate_threshold = 0.0: must be a fraction in (0, 1]"),
        ({**WINDOWED, "failure_rate_threshold": 1.5}, ValueError, "invalid failure_rate_threshold = 1.5: must be a fraction in (0, 1]"),
        ({**WINDOWED, "failure_rate_threshold": float("nan")}, ValueError, "invalid failure_rate_threshold = NaN"),
        ({"failure_rate_threshold": 0.5}, ValueError, 'invalid failure_rate_threshold = "set": must be unset unless a window is configured'),
        ({**WINDOWED, "slow_call_rate_threshold": [0.5]}, TypeError, "slow_call_rate_threshold must be a number, not list"),
        ({**WINDOWED, "slow_call_rate_threshold": -0.5}, ValueError, "invalid slow_call_rate_threshold = -0.5: must be a fraction in (0, 1]"),
        ({"window": CountWindow(100), "slow_call_rate_threshold": 0.5}, ValueError, "invalid slow_call_rate_threshold = Some(0.5): must be unset unless slow_call_duration is set"),
        ({**WINDOWED, "minimum_calls": "10"}, TypeError, "minimum_calls must be an int, not str ('10')"),
        ({**WINDOWED, "minimum_calls": False}, TypeError, "minimum_calls must be an int, not bool (False)"),
        ({**WINDOWED, "minimum_calls": 0}, ValueError, "invalid minimum_calls = 0: must be at least 1 and at most the size of a count window"),
        ({**WINDOWED, "minimum_calls": 101}, ValueError, "invalid minimum_calls = 101: must be at least 1 and at most the size of a count window"),
        ({"minimum_calls": -1}, ValueError, "invalid minimum_calls = -1: must be at least 1"),
        ({"window": CountWindow(5)}, ValueError, "invalid minimum_calls = 10: must be at least 1 and at most the size of a count window"),
        ({"trip_on_consecutive_failures": 0}, TypeError, "trip_on_consecutive_failures must be a bool, not int (0)"),
        ({"trip_on_consecutive_failures": "no"}, TypeError, "trip_on_consecutive_failures must be a bool, not str ('no')"),
        ({"half_open_success_rate": "1"}, TypeError, "half_open_success_rate must be a number, not str"),
        ({"half_open_success_rate": 0.0}, ValueError, "invalid half_open_success_rate = 0.0: must be a fraction in (0, 1]"),
        ({"half_open_success_rate": 1.01}, ValueError, "invalid half_open_success_rate = 1.01: must be a fraction in (0, 1]"),
        ({"success_threshold": 2**30, "half_open_success_rate": 0.5}, ValueError, "invalid half_open_max_calls = 1 (with success_threshold = 1073741824, half_open_success_rate = 0.5)"),
    ],
)
def test_each_new_field_is_refused_naming_it(kw: Dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error) as info:
        CircuitBreakerConfig(**kw)
    assert str(info.value).startswith(message), str(info.value)
    # A config changed after it was built is checked again by the breaker.
    config = CircuitBreakerConfig()
    for k, v in kw.items():
        setattr(config, k, v)
    with pytest.raises(error) as info:
        UnifiedCircuitBreaker("w", config)
    assert str(info.value).startswith(message), str(info.value)


def test_the_defaults_keep_the_consecutive_rule_alone(clock: ManualClock) -> None:
    c = CircuitBreakerConfig()
    assert (c.window, c.failure_count_threshold, c.failure_rate_threshold) == (None, None, None)
    assert (c.slow_call_rate_threshold, c.minimum_calls, c.trip_on_consecutive_failures) == (None, 10, True)
    assert c.half_open_success_rate is None
    cb = breaker(clock, failure_threshold=3)
    assert cb.get_metrics()["window"] is None and cb.metrics()["window"] is None
    succeed(cb, 100)
    fail(cb, 2)
    succeed(cb, 1)
    fail(cb, 2)
    assert cb.get_state() is CircuitState.CLOSED, "a success reset the count"
    fail(cb, 1)
    assert cb.get_state() is CircuitState.OPEN


def test_the_registry_snapshot_shows_the_window(clock: ManualClock) -> None:
    registry = seawall.Registry(clock=clock)
    cb = registry.get_or_create(
        "r", CircuitBreakerConfig(window=TimeWindow(10), failure_count_threshold=5)
    )
    with pytest.raises(Boom):
        cb.call(boom)
    assert registry.snapshot()["r"]["window"]["failures"] == 1


# ------------------------------------------------------------ the README example


def readme_example() -> str:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = text.split("### Trip rules over sliding windows", 1)[1]
    blocks: List[str] = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return textwrap.dedent(blocks[0])


def test_the_readme_example_runs() -> None:
    code = readme_example()
    assert "CountWindow(100)" in code and "TimeWindow(" in code
    namespace: Dict[str, Any] = {}
    exec(compile(code, "README.md (Trip rules over sliding windows)", "exec"), namespace)
    assert namespace["search"].is_open() and namespace["users"].is_open()
