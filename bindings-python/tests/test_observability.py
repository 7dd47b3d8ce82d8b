"""What the engines report on their own: records of the `seawall` logger
(transitions, raising callbacks, give-ups) and the counts of an attached
`ResilienceMetrics`. Nothing is reported for calls that change nothing.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any, Iterator, List

import pytest

import seawall
from seawall import (
    Bulkhead,
    BulkheadConfig,
    ManualClock,
    Registry,
    ResilienceMetrics,
    Retrier,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryStrategy,
    with_resilience,
)

from conftest import Boom, Sleeps, boom, fail, ok


def records(caplog: Any) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "seawall"]


@pytest.fixture
def metrics() -> Iterator[ResilienceMetrics]:
    m = ResilienceMetrics().attach()
    yield m
    m.detach()


def test_each_transition_is_one_record_with_its_fields(make: Any, clock: ManualClock, caplog: Any) -> None:
    cb = make("logged", failure_threshold=2, success_threshold=1)
    with caplog.at_level(logging.DEBUG, logger="seawall"):
        for _ in range(50):
            assert cb.call(ok) == "ok"
        fail(cb, 1)
        assert records(caplog) == [], "calls that change no state log nothing"
        fail(cb, 1)
        with pytest.raises(seawall.CircuitBreakerOpenError):
            cb.call(ok)
        clock.advance(10)
        assert cb.call(ok) == "ok"
    rs = records(caplog)
    assert [(r.levelno, r.from_state, r.to_state) for r in rs] == [  # type: ignore[attr-defined]
        (logging.WARNING, "closed", "open"),
        (logging.INFO, "open", "half_open"),
        (logging.INFO, "half_open", "closed"),
    ]
    opened = rs[0]
    assert opened.getMessage() == "circuit breaker 'logged' closed -> open"
    assert opened.breaker == "logged"  # type: ignore[attr-defined]
    assert opened.failures == 2  # type: ignore[attr-defined]
    assert opened.retry_after == 10.0  # type: ignore[attr-defined]
    assert rs[1].failures == 0 and rs[1].retry_after is None  # type: ignore[attr-defined]


def test_forced_states_log_at_their_levels(make: Any, caplog: Any) -> None:
    cb = make("forced")
    with caplog.at_level(logging.INFO, logger="seawall"):
        cb.force_open()
        cb.force_closed()
        cb.reset()
        cb.reset()  # already closed: nothing
    assert [(r.levelno, r.to_state) for r in records(caplog)] == [  # type: ignore[attr-defined]
        (logging.WARNING, "forced_open"),
        (logging.INFO, "forced_closed"),
        (logging.INFO, "closed"),
    ]


def test_a_registry_breaker_shared_by_handles_logs_each_transition_once(caplog: Any) -> None:
    native = Registry(clock=ManualClock())._native
    cfg = seawall.CircuitBreakerConfig(failure_threshold=1)
    a = seawall.UnifiedCircuitBreaker("shared", cfg, _registry=native)
    b = seawall.UnifiedCircuitBreaker("shared", cfg, _registry=native)
    assert a is not b
    with caplog.at_level(logging.INFO, logger="seawall"):
        fail(a, 1)
    assert b.is_open()
    assert len(records(caplog)) == 1


def test_a_raising_callback_is_logged_with_its_traceback(make: Any, caplog: Any) -> None:
    def bad() -> None:
        raise RuntimeError("callback bug")

    cb = make("cb", failure_threshold=1, on_open=bad)
    with caplog.at_level(logging.INFO, logger="seawall"):
        with pytest.raises(Boom):
            cb.call(boom)
    rs = records(caplog)
    assert [r.levelno for r in rs] == [logging.WARNING, logging.ERROR]
    err = rs[1]
    assert err.exc_info is not None and err.exc_info[0] is RuntimeError
    assert "callback bug" in caplog.text and "Traceback" in caplog.text


def test_a_give_up_is_one_record(caplog: Any) -> None:
    r = Retrier(sleep=Sleeps())
    cfg = RetryConfig(strategy=RetryStrategy.FIXED, max_attempts=4, initial_delay=0.1)

    def down() -> None:
        raise ConnectionError("down")

    with caplog.at_level(logging.DEBUG, logger="seawall"):
        assert r.execute(ok, cfg).success
        res = r.execute(down, cfg)
    assert not res.success
    rs = records(caplog)
    assert len(rs) == 1
    g = rs[0]
    assert g.levelno == logging.WARNING
    assert g.attempts == 4 and g.strategy == "fixed"  # type: ignore[attr-defined]
    assert g.exception_type == "ConnectionError" and g.budget is None  # type: ignore[attr-defined]
    assert g.getMessage().startswith("retry gave up after 4 attempts")


def test_attached_metrics_count_a_scripted_run(make: Any, clock: ManualClock,
                                               metrics: ResilienceMetrics) -> None:
    # A breaker: trip, trial, close (3 transitions), then trip again (1).
    cb = make("svc", failure_threshold=2, success_threshold=1)
    for _ in range(20):
        cb.call(ok)
    fail(cb, 2)
    clock.advance(10)
    cb.call(ok)
    fail(cb, 2)

    # A bulkhead: two refusals.
    bh = Bulkhead(BulkheadConfig(max_concurrent=1, max_queue_size=0, timeout=timedelta(0),
                                 pool_name="db"))
    assert bh.acquire()
    assert not bh.acquire() and not bh.acquire()
    bh.release()
    for _ in range(5):
        with bh:
            pass

    # A retrier: a call that succeeds at once (not counted), one that
    # succeeds at its third attempt (3 attempts), one that gives up after 2.
    r = Retrier(sleep=Sleeps())
    cfg = RetryConfig(strategy=RetryStrategy.FIXED, max_attempts=3, initial_delay=0.0,
                      retry_budget_enabled=False)
    outcomes = iter([ConnectionError("a"), TimeoutError("b"), None])

    def flaky() -> str:
        e = next(outcomes)
        if e is not None:
            raise e
        return "done"

    assert r.execute(ok, cfg).success
    assert r.execute(flaky, cfg).success

    def down() -> None:
        raise ConnectionError("down")

    assert not r.execute(down, RetryConfig(strategy=RetryStrategy.FIXED, max_attempts=2,
                                           initial_delay=0.0, retry_budget_enabled=False)).success

    # A retry budget that refuses the first retry: one exhaustion.
    budget = RetryBudget(RetryBudgetConfig(min_requests=10, tokens_per_second=1.0, max_tokens=0),
                         name="api", clock=ManualClock())

    @with_resilience(RetryConfig(max_attempts=5, initial_delay=0.0, max_delay=0.0,
                                 jitter_enabled=False), retry_budget=budget, sleep=Sleeps())
    def refused() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryError, match="budget"):
        refused()

    s = metrics.get_metrics_summary()
    assert s["circuit_state_changes"] == {
        "svc": {"closed->open": 2, "open->half_open": 1, "half_open->closed": 1}
    }
    assert s["bulkhead_rejections"] == {"db": 2}
    assert s["retry_budget_exhaustions"] == {"api": 1}
    fixed = s["retries"]["fixed"]
    assert (fixed["attempts"], fixed["successes"], fixed["failures"], fixed["max_attempt"]) == (
        5, 1, 4, 3
    )
    # The with_resilience call's first attempt failed (reported, untimed);
    # the budget refused the second.
    exp = s["retries"][RetryStrategy.EXPONENTIAL_WITH_JITTER.value]
    assert (exp["attempts"], exp["successes"], exp["failures"], exp["max_attempt"]) == (1, 0, 1, 1)
    assert exp["total_duration"] == 0.0


def test_detached_metrics_stop_counting(make: Any) -> None:
    m = ResilienceMetrics().attach()
    m.attach()  # attaching twice still counts each event once
    cb = make("d", failure_threshold=1)
    fail(cb, 1)
    m.detach()
    cb.reset()
    assert m.get_metrics_summary()["circuit_state_changes"] == {"d": {"closed->open": 1}}
