"""The original UnifiedCircuitBreaker's semantics, on the manual clock."""

from __future__ import annotations

import gc
import sys
from datetime import timedelta
from typing import Any

import pytest

import seawall
from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerInterface,
    CircuitBreakerOpenError,
    CircuitState,
    UnifiedCircuitBreaker,
)

from conftest import Boom, boom, fail, ok


def test_constructor_forms(clock: seawall.ManualClock) -> None:
    cfg = CircuitBreakerConfig(failure_threshold=2)
    for cb in [
        UnifiedCircuitBreaker(cfg, clock=clock),
        UnifiedCircuitBreaker("svc", cfg, clock=clock),
        UnifiedCircuitBreaker(name="svc", config=cfg, clock=clock),
        UnifiedCircuitBreaker(config=cfg, clock=clock),
    ]:
        assert cb.config is cfg
        fail(cb, 2)
        assert cb.is_open()
    assert UnifiedCircuitBreaker(cfg).name == "default"
    assert UnifiedCircuitBreaker("x").config == CircuitBreakerConfig()
    assert isinstance(UnifiedCircuitBreaker("x"), CircuitBreakerInterface)
    with pytest.raises(TypeError, match="name must be a str"):
        UnifiedCircuitBreaker(3, cfg)


def test_opens_after_consecutive_failures_and_success_resets_count(make: Any) -> None:
    cb = make(failure_threshold=3)
    fail(cb, 2)
    assert cb.call(ok) == "ok"  # resets the consecutive count
    fail(cb, 2)
    assert cb.get_state() is CircuitState.CLOSED
    assert cb.get_metrics()["failure_count"] == 2
    fail(cb, 1)
    assert cb.get_state() is CircuitState.OPEN and cb.is_open()


def test_rejection_is_a_new_exception_with_name_state_and_retry_after(make: Any, clock: Any) -> None:
    cb = make("payments", failure_threshold=1, timeout=10)
    fail(cb, 1)
    ran = []
    errors = []
    for _ in range(2):
        with pytest.raises(CircuitBreakerOpenError) as info:
            cb.call(lambda: ran.append(1))
        errors.append(info.value)
        clock.advance(4)
    assert ran == []
    assert errors[0] is not errors[1]
    e = errors[0]
    assert isinstance(e, Exception)
    assert str(e) == "Circuit breaker 'payments' is OPEN"
    assert e.name == "payments" and e.state is CircuitState.OPEN
    assert e.retry_after == pytest.approx(10.0)
    assert errors[1].retry_after == pytest.approx(6.0)
    assert cb.get_metrics()["rejections"] == 2


def test_half_open_recovery_with_the_manual_clock(make: Any, clock: Any) -> None:
    transitions = []
    cb = make(failure_threshold=2, success_threshold=2, timeout=timedelta(seconds=30),
              on_open=lambda: transitions.append("open"),
              on_half_open=lambda: transitions.append("half_open"),
              on_close=lambda: transitions.append("close"))
    fail(cb, 2)
    clock.advance(29.999)
    assert cb.is_open()
    with pytest.raises(CircuitBreakerOpenError):
        cb.call(ok)
    clock.advance(0.001)
    assert cb.get_state() is CircuitState.HALF_OPEN and cb.is_half_open()
    assert cb.call(ok) == "ok"
    assert cb.get_state() is CircuitState.HALF_OPEN
    assert cb.get_metrics()["success_count"] == 1
    assert cb.call(ok) == "ok"
    assert cb.get_state() is CircuitState.CLOSED
    assert transitions == ["open", "half_open", "close"]


def test_failure_in_half_open_reopens(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=1, timeout=5)
    fail(cb, 1)
    clock.advance(5)
    fail(cb, 1)
    assert cb.is_open()
    with pytest.raises(CircuitBreakerOpenError) as info:
        cb.call(ok)
    assert info.value.retry_after == pytest.approx(5.0)


def test_half_open_admits_a_bounded_number_of_trials(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=1, half_open_max_calls=2, success_threshold=3, timeout=1)
    fail(cb, 1)
    clock.advance(1)
    p1 = cb.acquire()
    p2 = cb.acquire()
    with pytest.raises(CircuitBreakerOpenError) as info:
        cb.acquire()
    assert info.value.state is CircuitState.HALF_OPEN
    p1.success()
    p3 = cb.acquire()  # a slot was freed
    p2.ignore()
    p3.success()
    assert cb.get_state() is CircuitState.HALF_OPEN
    cb.call(ok)
    assert cb.get_state() is CircuitState.CLOSED


def test_half_open_timeout_reopens_when_trials_never_return(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=1, timeout=1, half_open_timeout=2)
    fail(cb, 1)
    clock.advance(1)
    stuck = cb.acquire()
    clock.advance(2)
    assert cb.get_state() is CircuitState.OPEN
    stuck.success()  # too late: does not close the breaker
    assert cb.get_state() is CircuitState.OPEN
    with pytest.raises(CircuitBreakerOpenError):
        cb.call(ok)


def test_untracked_exceptions_are_neutral(make: Any) -> None:
    cb = make(failure_threshold=2, track_exceptions=[Boom])
    fail(cb, 1)

    def key_error() -> None:
        raise KeyError("x")

    for _ in range(5):
        with pytest.raises(KeyError):
            cb.call(key_error)
    m = cb.get_metrics()
    assert m["failure_count"] == 1, "neutral outcomes must not reset the count"
    assert m["total_failures"] == 1 and m["total_ignored"] == 5 and m["total_successes"] == 0
    fail(cb, 1)
    assert cb.is_open()


def test_status_codes_exclusions_and_predicates(make: Any) -> None:
    class HTTPError(Exception):
        def __init__(self, status_code: int) -> None:
            super().__init__(status_code)
            self.status_code = status_code

    class Ignored(Boom):
        pass

    cb = make(failure_threshold=100, track_exceptions=[Boom], track_status_codes=[503],
              exclude_exceptions=[Ignored],
              failure_predicate=lambda e: isinstance(e, LookupError) and "fatal" in str(e))

    def raise_(e: BaseException) -> Any:
        def f() -> None:
            raise e
        return f

    cases = [
        (HTTPError(503), 1), (HTTPError(404), 0), (Ignored(), 0), (Boom(), 1),
        (KeyError("fatal"), 1), (KeyError("minor"), 0),
    ]
    for exc, counted in cases:
        before = cb.get_metrics()["total_failures"]
        with pytest.raises(type(exc)):
            cb.call(raise_(exc))
        assert cb.get_metrics()["total_failures"] - before == counted, exc


def test_result_predicate_counts_returned_values(make: Any) -> None:
    cb = make(failure_threshold=2, result_predicate=lambda r: r == "bad")
    assert cb.call(lambda: "bad") == "bad"
    assert cb.call(lambda: "bad") == "bad"
    assert cb.is_open()


def test_broken_predicate_is_logged_and_treated_as_false(make: Any, caplog: Any) -> None:
    def broken(e: BaseException) -> bool:
        raise RuntimeError("predicate bug")

    cb = make(failure_threshold=1, track_exceptions=[], failure_predicate=broken)
    with caplog.at_level("ERROR", logger="seawall"):
        with pytest.raises(Boom):
            cb.call(boom)
    assert cb.is_closed()
    assert "failure_predicate raised" in caplog.text and "predicate bug" in caplog.text


@pytest.mark.parametrize("exc", [KeyboardInterrupt, SystemExit, GeneratorExit])
def test_interpreter_exits_are_neutral_even_if_tracked(make: Any, exc: type) -> None:
    cb = make(failure_threshold=1, track_exceptions=[BaseException])

    def f() -> None:
        raise exc()

    with pytest.raises(exc):
        cb.call(f)
    assert cb.is_closed() and cb.get_metrics()["total_ignored"] == 1


def test_neutral_outcome_frees_the_trial_slot(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=1, timeout=1, track_exceptions=[Boom])
    fail(cb, 1)
    clock.advance(1)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cb.call(interrupted)
    assert cb.get_state() is CircuitState.HALF_OPEN
    assert cb.call(ok) == "ok"  # the slot is free again


def test_fallback_on_rejection_and_on_tracked_failure(make: Any) -> None:
    cb = make(failure_threshold=2, track_exceptions=[Boom])
    assert cb.call(boom, fallback=lambda: "fb1") == "fb1"

    def key_error() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):  # untracked: no fallback
        cb.call(key_error, fallback=lambda: "no")
    assert cb.call(boom, fallback=lambda: "fb2") == "fb2"
    assert cb.is_open()
    ran = []
    assert cb.call(lambda: ran.append(1), fallback=lambda: "fb3") == "fb3"
    assert ran == []


def test_fallback_that_raises_chains_the_original(make: Any) -> None:
    cb = make(failure_threshold=5)

    def bad_fallback() -> None:
        raise ValueError("fallback broke")

    with pytest.raises(ValueError) as info:
        cb.call(boom, fallback=bad_fallback)
    assert isinstance(info.value.__context__, Boom)


def test_get_metrics_has_the_original_keys(make: Any, clock: Any) -> None:
    cb = make("m", failure_threshold=2)
    cb.call(ok)
    fail(cb, 2)
    with pytest.raises(CircuitBreakerOpenError):
        cb.call(ok)
    clock.advance(3)
    m = cb.get_metrics()
    for key in ["name", "state", "failure_count", "success_count", "total_calls",
                "total_failures", "total_successes", "rejections", "uptime"]:
        assert key in m
    assert m["name"] == "m" and m["state"] == "open" and m["state"] is CircuitState.OPEN
    assert (m["total_calls"], m["total_failures"], m["total_successes"], m["rejections"]) == (3, 2, 1, 1)
    assert m["uptime"] == pytest.approx(3.0)
    assert m["transitions"]["open"] == 1


def test_record_success_and_failure_by_hand(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=2, success_threshold=1, timeout=1)
    cb.record_failure(Boom())
    cb.record_success()
    cb.record_failure(Boom())
    assert cb.is_closed()
    cb.record_failure()
    assert cb.is_open()
    cb.record_success()  # while OPEN: nothing to count
    assert cb.is_open()
    clock.advance(1)
    cb.record_success()
    assert cb.is_closed()


def test_reset_force_open_force_closed(make: Any) -> None:
    cb = make(failure_threshold=1)
    fail(cb, 1)
    cb.reset()
    assert cb.get_state() is CircuitState.CLOSED and cb.get_metrics()["failure_count"] == 0
    cb.force_open()
    assert cb.get_state() is CircuitState.FORCED_OPEN and cb.is_open()
    with pytest.raises(CircuitBreakerOpenError) as info:
        cb.call(ok)
    assert info.value.state is CircuitState.FORCED_OPEN and info.value.retry_after is None
    cb.force_closed()
    assert cb.is_closed()
    fail(cb, 5)
    assert cb.get_state() is CircuitState.FORCED_CLOSED
    cb.reset()
    assert cb.get_state() is CircuitState.CLOSED


def test_context_manager_and_permits(make: Any) -> None:
    cb = make(failure_threshold=2, track_exceptions=[Boom])
    with cb:
        pass
    with pytest.raises(Boom):
        with cb:
            raise Boom()
    with pytest.raises(KeyError):
        with cb:
            raise KeyError()
    m = cb.get_metrics()
    assert (m["total_successes"], m["total_failures"], m["total_ignored"]) == (1, 1, 1)
    with pytest.raises(Boom):
        with cb:
            with cb:  # nested: inner and outer permits are separate
                pass  # a success: resets the consecutive count
            raise Boom()
    assert cb.get_metrics()["failure_count"] == 1
    with pytest.raises(Boom):
        with cb:
            raise Boom()
    assert cb.is_open()
    with pytest.raises(CircuitBreakerOpenError):
        with cb:
            pytest.fail("must not run")


def test_permit_reports_exactly_once_and_counts_when_dropped(make: Any) -> None:
    cb = make()
    p = cb.acquire()
    assert p.pending
    assert p.record_exception(Boom()) is True
    assert not p.pending
    with pytest.raises(RuntimeError, match="already reported"):
        p.success()
    q = cb.acquire()
    del q
    gc.collect()
    m = cb.metrics()
    assert (m["permitted"], m["failures"], m["ignored"]) == (2, 1, 1)


def test_decorator_on_functions_and_methods(make: Any) -> None:
    cb = make(failure_threshold=2)

    @cb
    def add(a: int, b: int = 1) -> int:
        """Adds."""
        return a + b

    assert add(1) == 2 and add(1, b=5) == 6
    assert add.__name__ == "add" and add.__doc__ == "Adds." and add.__wrapped__ is not None
    assert add.circuit_breaker is cb

    class Client:
        def __init__(self) -> None:
            self.n = 0

        @cb
        def get(self, x: int) -> tuple:
            self.n += 1
            return self, x

    c = Client()
    assert c.get(3) == (c, 3) and c.n == 1
    assert Client.get(c, 4) == (c, 4)

    @cb
    def broken() -> None:
        raise Boom()

    for _ in range(2):
        with pytest.raises(Boom):
            broken()
    with pytest.raises(CircuitBreakerOpenError):
        add(1)


def test_listeners_get_every_transition_once(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=1, success_threshold=1, timeout=1)
    seen = []
    cb.add_listener(lambda name, old, new: seen.append((name, old, new)))
    fail(cb, 1)
    for _ in range(3):
        with pytest.raises(CircuitBreakerOpenError):
            cb.call(ok)
    clock.advance(1)
    cb.call(ok)
    cb.call(ok)
    S = CircuitState
    assert seen == [("t", S.CLOSED, S.OPEN), ("t", S.OPEN, S.HALF_OPEN), ("t", S.HALF_OPEN, S.CLOSED)]
    with pytest.raises(TypeError, match="listener must be callable"):
        cb.add_listener(3)


def test_callbacks_and_listeners_that_raise_are_logged_and_swallowed(make: Any, caplog: Any) -> None:
    def bad() -> None:
        raise RuntimeError("callback bug")

    cb = make(failure_threshold=1, on_open=bad)
    cb.add_listener(lambda *a: 1 / 0)
    with caplog.at_level("ERROR", logger="seawall"):
        with pytest.raises(Boom):  # the caller sees its own exception only
            cb.call(boom)
    assert cb.is_open()
    assert "callback of circuit breaker 't' raised on OPEN" not in caplog.text  # from CLOSED
    assert "callback of circuit breaker 't' raised on CLOSED -> OPEN" in caplog.text
    assert "callback bug" in caplog.text and "ZeroDivisionError" in caplog.text
    records = [r for r in caplog.records if r.name == "seawall"]
    assert len(records) == 2 and all(r.exc_info for r in records)


def test_adapters() -> None:
    cfg = CircuitBreakerConfig(failure_threshold=2, timeout=timedelta(seconds=5))
    unified = seawall.create_circuit_breaker_adapter("u", cfg)
    assert type(unified) is UnifiedCircuitBreaker and unified.name == "u"

    legacy = seawall.create_circuit_breaker_adapter("l", cfg, implementation="legacy")
    assert legacy.recovery_timeout == 5.0 and legacy.expected_exception is Exception
    assert legacy.failure_threshold == 2 and legacy.config.success_threshold == 1

    class Response:
        def __init__(self, status_code: int) -> None:
            self.status_code = status_code

    light = seawall.create_circuit_breaker_adapter("h", cfg, implementation="lightweight")
    r = light.call(lambda: Response(503))
    assert r.status_code == 503 and light.get_metrics()["total_failures"] == 1
    light.call(lambda: Response(200))
    assert light.get_metrics()["total_successes"] == 1
    light.call(lambda: Response(502))
    light.call(lambda: Response(500))
    assert light.is_open()

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("SEAWALL_REDIS_URL", raising=False)
        with pytest.raises(ValueError, match="redis_url is required"):
            seawall.create_circuit_breaker_adapter("d", cfg, implementation="distributed")
    with pytest.raises(ValueError, match="implementation must be one of"):
        seawall.create_circuit_breaker_adapter("x", cfg, implementation="redis")


def test_models_match_the_documented_defaults() -> None:
    c = CircuitBreakerConfig()
    assert (c.failure_threshold, c.success_threshold) == (5, 3)
    assert c.timeout == timedelta(seconds=60) and c.half_open_timeout == timedelta(seconds=30)
    assert c.track_exceptions == [Exception] and c.track_status_codes == [500, 502, 503, 504]
    assert [s.value for s in seawall.CircuitState][:3] == ["closed", "open", "half_open"]
    assert seawall.RetryStrategy.EXPONENTIAL_WITH_JITTER.value == "exponential_with_jitter"
    assert len(seawall.RetryStrategy) == 10
    r = seawall.RetryConfig()
    assert (r.strategy, r.max_attempts, r.initial_delay, r.max_delay) == (
        seawall.RetryStrategy.EXPONENTIAL_WITH_JITTER, 3, 1.0, 60.0)
    assert r.retryable_exceptions == [ConnectionError, TimeoutError]
    p = seawall.RETRY_POLICIES
    assert sorted(p) == sorted(["standard", "network", "conservative", "database", "webhook",
                                "validation", "critical"])
    assert (p["critical"].max_retries, p["critical"].initial_delay, p["critical"].backoff_multiplier) == (10, 0.1, 1.3)
    cfg = p["webhook"].to_config()
    assert cfg.max_attempts == 4 and cfg.strategy is seawall.RetryStrategy.EXPONENTIAL
    assert p["network"].to_config().strategy is seawall.RetryStrategy.EXPONENTIAL_WITH_JITTER
    b = seawall.BulkheadConfig()
    assert (b.max_concurrent, b.max_queue_size, b.pool_name, b.reject_on_full) == (10, 100, "default", True)
    rb = seawall.RetryBudgetConfig()
    assert (rb.budget_percent, rb.min_requests, rb.window_size) == (10.0, 100, timedelta(minutes=1))
    m = seawall.RetryMetrics()
    m.record_attempt(True, 0.5)
    m.record_attempt(False, 1.5, ValueError())
    assert (m.total_attempts, m.successful_attempts, m.failed_attempts) == (2, 1, 1)
    assert m.avg_retry_time == 1.0 and m.max_retry_time == 1.5
    assert m.exceptions_by_type == {"ValueError": 1} and m.budget_remaining_percent == 100.0
    assert seawall.RetryResult(success=True).attempts == 0
    e = seawall.RetryError("gave up", 3, ValueError("x"))
    assert isinstance(e, Exception) and e.attempts == 3 and str(e) == "gave up"
    assert callable(seawall.with_resilience)


def test_interfaces_are_abstract() -> None:
    for name in ["CircuitBreakerInterface", "RetryStrategyInterface", "BackoffCalculatorInterface",
                 "BulkheadInterface", "RetryBudgetInterface", "ResilienceMetricsInterface"]:
        with pytest.raises(TypeError):
            getattr(seawall.interfaces, name)()


def test_module_layout() -> None:
    import seawall.implementations.circuit_breaker as impl

    assert impl.UnifiedCircuitBreaker is seawall.UnifiedCircuitBreaker
    assert seawall.adapters.create_circuit_breaker_adapter is seawall.create_circuit_breaker_adapter
    assert seawall.models.CircuitState is seawall.CircuitState
    assert "_native" in seawall._native.__name__
    assert set(seawall.__all__) <= set(dir(seawall))


def test_reentrant_use_from_the_protected_function_and_callbacks(make: Any) -> None:
    seen = []
    holder: dict = {}
    cb = make(failure_threshold=1, on_open=lambda: seen.append(holder["cb"].get_state()))
    holder["cb"] = cb
    # Nothing is locked while the function runs: it may use the breaker.
    assert cb.call(lambda: cb.call(ok)) == "ok"
    # A callback may read (or drive) the breaker that is calling it.
    with pytest.raises(Boom):
        cb.call(boom)
    assert seen == [CircuitState.OPEN]
