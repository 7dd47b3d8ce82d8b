"""Bad configuration is refused on construction, naming the field."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, Dict, Type

import pytest

from seawall import CircuitBreakerConfig, ManualClock, UnifiedCircuitBreaker

BAD: list = [
    ({"failure_threshold": 0}, ValueError, r"invalid failure_threshold = 0: must be an integer in \[1, 4294967295\]"),
    ({"failure_threshold": -1}, ValueError, r"invalid failure_threshold = -1"),
    ({"failure_threshold": 2**70}, ValueError, r"invalid failure_threshold = 1180591620717411303424"),
    ({"failure_threshold": 2.5}, TypeError, r"failure_threshold must be an int, not float"),
    ({"failure_threshold": True}, TypeError, r"failure_threshold must be an int, not bool"),
    ({"success_threshold": 2**32}, ValueError, r"invalid success_threshold = 4294967296"),
    (
        {"success_threshold": 2**31 - 1, "half_open_max_calls": 10**6},
        ValueError,
        r"invalid half_open_max_calls = 1000000 \(with success_threshold = 2147483647\): must be small enough "
        r"that the HALF_OPEN bookkeeping fits 36 bits",
    ),
    ({"half_open_max_calls": 0}, ValueError, r"invalid half_open_max_calls"),
    ({"timeout": timedelta(seconds=-1)}, ValueError, r"invalid timeout = -1\.0: must be a finite number of seconds"),
    ({"timeout": 0}, ValueError, r"invalid timeout = 0\.0"),
    ({"timeout": float("nan")}, ValueError, r"invalid timeout = NaN"),
    ({"timeout": "60"}, TypeError, r"timeout must be a datetime\.timedelta or a number of seconds, not str"),
    ({"half_open_timeout": timedelta(days=400)}, ValueError, r"invalid half_open_timeout"),
    ({"track_exceptions": [ValueError, "oops"]}, TypeError, r"track_exceptions must contain exception classes only, found 'oops'"),
    ({"track_exceptions": [int]}, TypeError, r"track_exceptions must contain exception classes only"),
    ({"track_exceptions": 5}, TypeError, r"track_exceptions must be a list of exception classes, not int"),
    ({"exclude_exceptions": [object]}, TypeError, r"exclude_exceptions must contain exception classes"),
    ({"track_status_codes": [500, "502"]}, TypeError, r"track_status_codes must be a list of ints, found '502'"),
    ({"on_open": "not callable"}, TypeError, r"on_open must be callable or None, not str"),
    ({"failure_predicate": 1}, TypeError, r"failure_predicate must be callable"),
    ({"timeout_multiplier": 0.5}, ValueError, r"invalid timeout_multiplier = 0\.5: must be a number in \[1, 1000\]"),
    ({"timeout_multiplier": "2"}, TypeError, r"timeout_multiplier must be a number, not str"),
    ({"max_timeout": 1, "timeout": 10}, ValueError, r"invalid max_timeout"),
    ({"timeout_jitter": 1.0}, ValueError, r"invalid timeout_jitter"),
    ({"slow_call_duration": -2}, ValueError, r"invalid slow_call_duration"),
]


@pytest.mark.parametrize("fields,error,message", BAD)
def test_config_refuses_bad_values(fields: Dict[str, Any], error: Type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        CircuitBreakerConfig(**fields)


@pytest.mark.parametrize("fields,error,message", BAD)
def test_breaker_refuses_a_config_changed_after_construction(
    fields: Dict[str, Any], error: Type[Exception], message: str
) -> None:
    cfg = CircuitBreakerConfig()
    for k, v in fields.items():
        setattr(cfg, k, v)
    with pytest.raises(error, match=message):
        UnifiedCircuitBreaker("x", cfg)


def test_accepted_forms() -> None:
    cfg = CircuitBreakerConfig(timeout=1.5, half_open_timeout=2, track_exceptions=ValueError,
                               track_status_codes=(), max_timeout=timedelta(minutes=5),
                               timeout_multiplier=2.0, timeout_jitter=0.0, slow_call_duration=0.25)
    UnifiedCircuitBreaker("ok", cfg)
    # A config without the Seawall-only fields (any object with every
    # attribute of the original) works too.
    class Plain:
        failure_threshold = 2
        success_threshold = 3
        timeout = 3
        half_open_timeout = 30
        track_exceptions = [Exception]
        track_status_codes = [500]
        on_open = on_close = on_half_open = None

    clock = ManualClock()
    cb = UnifiedCircuitBreaker("plain", Plain(), clock=clock)
    for _ in range(2):
        with pytest.raises(ValueError):
            cb.call(lambda: int("x"))
    assert cb.is_open()
    clock.advance(3)
    assert cb.is_half_open()


def test_back_off_grows_the_open_time() -> None:
    clock = ManualClock()
    cb = UnifiedCircuitBreaker("b", CircuitBreakerConfig(failure_threshold=1, success_threshold=1,
                                                         timeout=10, timeout_multiplier=2, max_timeout=30),
                               clock=clock)

    def boom() -> None:
        raise OSError()

    with pytest.raises(OSError):
        cb.call(boom)
    for expected in (20, 30, 30):
        clock.advance(cb_retry_after(cb))
        with pytest.raises(OSError):  # the trial fails: reopens for longer
            cb.call(boom)
        assert cb_retry_after(cb) == pytest.approx(expected)


def cb_retry_after(cb: UnifiedCircuitBreaker) -> float:
    try:
        cb.call(lambda: None)
    except Exception as e:
        return e.retry_after  # type: ignore[attr-defined, no-any-return]
    raise AssertionError("expected a rejection")


def test_manual_clock_rejects_bad_input() -> None:
    c = ManualClock()
    with pytest.raises(ValueError, match="seconds"):
        c.advance(-1)
    with pytest.raises(TypeError, match="seconds"):
        c.advance("1")
    c.advance(timedelta(milliseconds=1500))
    assert c.now() == pytest.approx(1.5)
    c.set(0.25)
    assert c.now() == pytest.approx(0.25)


def test_config_is_a_snapshot() -> None:
    cfg = CircuitBreakerConfig(failure_threshold=1)
    cb = UnifiedCircuitBreaker("s", cfg)
    cfg.failure_threshold = 3  # no effect on the built breaker
    with pytest.raises(ValueError):
        cb.call(lambda: int("x"))
    assert cb.is_open()
    assert dataclasses.is_dataclass(cfg)
