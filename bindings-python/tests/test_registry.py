"""with_circuit_breaker and the process-wide registry."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any, List

import pytest

import seawall
from seawall import CircuitBreakerConfig, CircuitBreakerOpenError, with_circuit_breaker

from conftest import Boom


def test_decorators_share_the_named_breaker(registry: seawall.Registry) -> None:
    cfg = CircuitBreakerConfig(failure_threshold=2, timeout=5)

    @with_circuit_breaker("inventory", cfg, registry=registry)
    def reserve() -> None:
        raise Boom()

    @with_circuit_breaker("inventory", registry=registry)  # config ignored: already exists
    async def lookup() -> str:
        return "found"

    assert reserve.circuit_breaker is lookup.circuit_breaker is registry.get("inventory")
    for _ in range(2):
        with pytest.raises(Boom):
            reserve()
    with pytest.raises(CircuitBreakerOpenError):
        asyncio.run(lookup())
    registry.clock.advance(5)
    assert asyncio.run(lookup()) == "found"


def test_registry_lookup_snapshot_and_remove(registry: seawall.Registry) -> None:
    a = registry.get_or_create("a", CircuitBreakerConfig(failure_threshold=1))
    b = registry.get_or_create("b")
    assert registry.get_or_create("a") is a and registry.get("zzz") is None
    assert "a" in registry and len(registry) == 2 and list(registry) == [a, b]
    assert registry.names() == ["a", "b"]
    with pytest.raises(ValueError):
        a.call(lambda: int("x"))
    snap = registry.snapshot()
    assert list(snap) == ["a", "b"]
    assert snap["a"]["failures"] == 1 and snap["a"]["state"] is seawall.CircuitState.OPEN
    assert snap["b"]["permitted"] == 0
    assert registry.remove("a") and "a" not in registry and registry.names() == ["b"]
    assert a.is_open(), "a removed breaker keeps working for its holders"
    c = registry.get_or_create("a")
    assert c is not a and c.is_closed()


def test_callbacks_of_a_shared_breaker_run_once(registry: seawall.Registry) -> None:
    opened: List[int] = []
    cfg = CircuitBreakerConfig(failure_threshold=1, on_open=lambda: opened.append(1))
    fs = [with_circuit_breaker("shared", cfg, registry=registry)(lambda: int("x")) for _ in range(3)]
    with pytest.raises(ValueError):
        fs[0]()
    assert opened == [1]


def test_concurrent_get_or_create_returns_one_breaker(registry: seawall.Registry) -> None:
    got: List[Any] = []
    start = threading.Barrier(8)

    def work() -> None:
        start.wait()
        got.append(registry.get_or_create("race"))

    ts = [threading.Thread(target=work) for _ in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(got) == 8 and all(g is got[0] for g in got)


def test_default_registry_is_process_wide() -> None:
    @with_circuit_breaker("process-wide-test")
    def f() -> int:
        return 1

    assert f() == 1
    assert seawall.get_registry().get("process-wide-test") is f.circuit_breaker
    assert "process-wide-test" in seawall.get_registry().names()


def test_registry_clock_is_shared_and_not_overridable(registry: seawall.Registry) -> None:
    b = registry.get_or_create("clocked", CircuitBreakerConfig(failure_threshold=1, timeout=2))
    with pytest.raises(ValueError):
        b.call(lambda: int("x"))
    registry.clock.advance(2)
    assert b.is_half_open()
    with pytest.raises(TypeError, match="registry's clock"):
        seawall.UnifiedCircuitBreaker("x", clock=seawall.ManualClock(),
                                      _registry=seawall._native.Registry())


def test_another_config_for_an_existing_name_warns_once(registry: seawall.Registry) -> None:
    first = CircuitBreakerConfig(failure_threshold=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_circuit_breaker("p", first, registry=registry)
        # The same configuration, an equal one, or none: silent.
        with_circuit_breaker("p", first, registry=registry)
        with_circuit_breaker("p", CircuitBreakerConfig(failure_threshold=3), registry=registry)
        with_circuit_breaker("p", registry=registry)
        with_circuit_breaker("q", registry=registry)
        with_circuit_breaker("q", CircuitBreakerConfig(), registry=registry)
    with pytest.warns(RuntimeWarning, match="'p' exists already with another configuration") as w:
        with_circuit_breaker("p", CircuitBreakerConfig(failure_threshold=9), registry=registry)
    assert w[0].filename == __file__  # points at the decorating line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_circuit_breaker("p", CircuitBreakerConfig(failure_threshold=10), registry=registry)
    assert registry.get("p").config.failure_threshold == 3  # type: ignore[union-attr]
