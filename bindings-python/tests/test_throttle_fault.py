"""The adaptive throttler and the fault injector: on their own, as
decorators, and composed in ``with_resilience`` (sync and async)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, List

import pytest

import seawall
from seawall import (
    AdaptiveThrottler,
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    FaultInjectionConfig,
    FaultInjector,
    InjectedFaultError,
    ManualClock,
    ThrottleConfig,
    ThrottledError,
    with_resilience,
)


class Refused(Exception):
    """The backend's overload answer (a 503)."""


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="k = 0.5"):
        ThrottleConfig(k=0.5)
    with pytest.raises(ValueError, match="max_rejection_probability"):
        ThrottleConfig(max_rejection_probability=2.0)
    with pytest.raises(ValueError, match="window"):
        ThrottleConfig(window=0.001)
    with pytest.raises(ValueError, match="error_rate"):
        FaultInjectionConfig(error_rate=1.5)
    with pytest.raises(ValueError, match="latency_rate"):
        FaultInjectionConfig(error_rate=0.6, latency_rate=0.6)
    with pytest.raises(TypeError, match="exception"):
        FaultInjectionConfig(exception=42)
    with pytest.raises(ValueError, match="priority"):
        AdaptiveThrottler().wrap(lambda: None, priority="urgent")  # type: ignore[arg-type]


def test_throttler_sheds_lower_priorities_first_and_forgets_with_the_window() -> None:
    clock = ManualClock()
    t = AdaptiveThrottler(clock=clock, seed=1)
    for i in range(100):
        t.record(i % 5 < 2)  # 40 % accepted
    assert t.rejection_probability("critical") == 0.0
    assert t.rejection_probability("high") == 0.0
    assert t.rejection_probability("normal") == pytest.approx(20 / 101)
    assert t.rejection_probability("low") == pytest.approx(40 / 101)
    m = t.metrics()
    assert (m["requests"], m["accepts"], m["throttled"]) == (100, 40, 0)
    clock.advance(timedelta(minutes=3))
    assert t.rejection_probability("low") == 0.0
    t.check("low")  # admitted


def test_throttler_decorator_counts_refusals_and_throttles() -> None:
    t = AdaptiveThrottler(clock=ManualClock(), seed=7)
    sent: List[int] = []

    @t
    def call(i: int) -> int:
        sent.append(i)
        raise Refused()

    shed = 0
    for i in range(200):
        try:
            call(i)
        except Refused:
            pass
        except ThrottledError as e:
            assert e.priority == "normal" and 0 < e.probability < 1
            shed += 1
    m = t.metrics()
    requests, accepts, throttled, p = (
        m["requests"], m["accepts"], m["throttled"], m["rejection_probability"]
    )
    assert (requests, accepts, throttled) == (200, 0, shed)
    assert len(sent) == 200 - shed and shed > 150 and p > 0.9


def test_with_resilience_throttles_sync_and_async_and_breaker_rejections_count_nothing() -> None:
    t = AdaptiveThrottler(ThrottleConfig(k=1.5), clock=ManualClock(), seed=3)
    sent = [0]

    @with_resilience(throttler=t, priority="low")
    def sync_call() -> None:
        sent[0] += 1
        raise Refused()

    @with_resilience(throttler=t, priority="low")
    async def async_call() -> None:
        sent[0] += 1
        raise Refused()

    assert asyncio.iscoroutinefunction(async_call)
    outcomes: List[str] = []
    for i in range(100):
        try:
            if i % 2:
                asyncio.run(async_call())
            else:
                sync_call()
        except Refused:
            outcomes.append("sent")
        except ThrottledError:
            outcomes.append("shed")
    assert outcomes.count("sent") == sent[0] and outcomes.count("shed") > 50
    m = t.metrics()
    assert (m["requests"], m["accepts"], m["throttled"]) == (100, 0, outcomes.count("shed"))

    # A breaker's rejection never reached the backend: not counted (a cap
    # of 0 sheds nothing, so only the counts move).
    clock = ManualClock()
    t2 = AdaptiveThrottler(ThrottleConfig(max_rejection_probability=0.0), clock=clock)
    cb = seawall.UnifiedCircuitBreaker(
        "throttled-svc", CircuitBreakerConfig(failure_threshold=1), clock=clock
    )

    @with_resilience(circuit_breaker=cb, throttler=t2)
    def down() -> None:
        raise Refused()

    with pytest.raises(Refused):
        down()
    with pytest.raises(CircuitBreakerOpenError):
        down()
    assert (t2.metrics()["requests"], t2.metrics()["accepts"]) == (1, 0)


def test_fault_injector_is_off_by_default_then_injects_each_kind() -> None:
    calls = [0]
    inj = FaultInjector(FaultInjectionConfig(error_rate=1.0))

    @inj
    def f() -> str:
        calls[0] += 1
        return "real"

    assert f() == "real" and not inj.enabled
    inj.enable()
    with pytest.raises(InjectedFaultError):
        f()
    inj.configure(FaultInjectionConfig(error_rate=1.0, exception=ConnectionError, enabled=True))
    with pytest.raises(ConnectionError, match="fault injected"):
        f()
    inj.configure(FaultInjectionConfig(result_rate=1.0, result=503, enabled=True))
    assert f() == 503
    inj.disable()
    assert f() == "real" and calls[0] == 2
    assert inj.metrics() == {"enabled": False, "errors": 2, "results": 1, "latencies": 0}


def test_fault_injector_latency_sleeps_sync_and_async(monkeypatch: pytest.MonkeyPatch) -> None:
    slept: List[float] = []
    monkeypatch.setattr(seawall.fault.time, "sleep", slept.append)

    async def fake_asleep(s: float) -> None:
        slept.append(-s)

    monkeypatch.setattr(seawall.fault.asyncio, "sleep", fake_asleep)
    inj = FaultInjector(
        FaultInjectionConfig(latency_rate=1.0, latency=(0.1, 0.3), enabled=True), seed=5
    )

    @inj
    def f() -> int:
        return 1

    @inj
    async def g() -> int:
        return 2

    assert f() == 1 and asyncio.run(g()) == 2
    assert len(slept) == 2 and 0.1 <= slept[0] <= 0.3 and -0.3 <= slept[1] <= -0.1


def test_breaker_trips_under_injected_faults_and_recovers_when_switched_off() -> None:
    clock = ManualClock()
    cb = seawall.UnifiedCircuitBreaker(
        "chaos-svc",
        CircuitBreakerConfig(
            failure_threshold=3, success_threshold=1, timeout=timedelta(seconds=30)
        ),
        clock=clock,
    )
    inj = FaultInjector(FaultInjectionConfig(error_rate=1.0, exception=ConnectionError))
    backend: List[int] = []

    @with_resilience(circuit_breaker=cb, fault_injection=inj)
    def call(i: int) -> int:
        backend.append(i)
        return i

    @with_resilience(circuit_breaker=cb, fault_injection=inj)
    async def acall(i: int) -> int:
        backend.append(i)
        return i

    assert call(0) == 0 and asyncio.run(acall(1)) == 1
    inj.enable()
    for i in range(3):
        with pytest.raises(ConnectionError):
            call(i)
    assert cb.is_open()
    with pytest.raises(CircuitBreakerOpenError):
        asyncio.run(acall(9))
    inj.disable()
    clock.advance(30)
    # Half-open: one trial succeeds and closes the breaker.
    assert asyncio.run(acall(2)) == 2 and not cb.is_open()
    assert call(3) == 3
    assert backend == [0, 1, 2, 3]


def test_fault_injection_inside_retries_and_fallback() -> None:
    inj = FaultInjector(
        FaultInjectionConfig(error_rate=1.0, exception=ConnectionError, enabled=True)
    )
    slept: List[float] = []

    @with_resilience("network", fault_injection=inj, sleep=slept.append, fallback=lambda: "cached")
    def call() -> str:
        return "live"

    assert call() == "cached"
    assert inj.metrics()["errors"] == len(slept) + 1 > 1


def test_generators_are_refused() -> None:
    def gen() -> Any:
        yield 1

    with pytest.raises(TypeError, match="fault_injection"):
        with_resilience(fault_injection=FaultInjector())(gen)
