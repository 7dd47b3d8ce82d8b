"""Threads: exact accounting under contention, and no lock held while the
protected function runs."""

from __future__ import annotations

import threading
from typing import Any, List

import pytest

from seawall import CircuitBreakerOpenError, CircuitState

from conftest import Boom

THREADS = 8
CALLS = 2_000


def test_eight_threads_hammering_one_breaker_exact_totals(make: Any) -> None:
    cb = make(failure_threshold=4095, track_exceptions=[Boom])
    start = threading.Barrier(THREADS)
    errors: List[BaseException] = []

    def work(i: int) -> None:
        try:
            start.wait()
            for j in range(CALLS):
                kind = (i + j) % 4
                if kind == 0:
                    try:
                        cb.call(boom_)
                    except Boom:
                        pass
                elif kind == 1:
                    try:
                        cb.call(key_error)
                    except KeyError:
                        pass
                else:
                    assert cb.call(lambda: j) == j
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
    m = cb.metrics()
    total = THREADS * CALLS
    assert m["permitted"] == total
    assert (m["failures"], m["ignored"], m["successes"]) == (total // 4, total // 4, total // 2)
    assert m["rejected"] == 0 and cb.get_state() is CircuitState.CLOSED


def boom_() -> None:
    raise Boom()


def key_error() -> None:
    raise KeyError()


def test_threads_racing_to_trip_make_one_transition(make: Any) -> None:
    opened = []
    cb = make(failure_threshold=50, on_open=lambda: opened.append(1))
    start = threading.Barrier(THREADS)
    outcomes: List[str] = []
    lock = threading.Lock()

    def work() -> None:
        start.wait()
        for _ in range(100):
            try:
                cb.call(boom_)
                r = "ran"
            except Boom:
                r = "failed"
            except CircuitBreakerOpenError:
                r = "rejected"
            with lock:
                outcomes.append(r)

    ts = [threading.Thread(target=work) for _ in range(THREADS)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    m = cb.metrics()
    assert opened == [1], "exactly one thread makes the trip and runs on_open"
    assert outcomes.count("failed") == m["failures"] == m["permitted"]
    assert outcomes.count("rejected") == m["rejected"]
    assert m["failures"] >= 50 and m["failures"] + m["rejected"] == THREADS * 100
    assert cb.is_open()


def test_two_threads_blocked_in_the_protected_call_run_in_parallel(make: Any) -> None:
    """Both threads must be inside the protected function at the same time:
    each waits there for the other. A breaker that serialises calls would
    leave the barrier broken (timeout), not merely slow."""
    cb = make()
    both_inside = threading.Barrier(2, timeout=30)
    inside: List[str] = []

    def protected(name: str) -> str:
        inside.append(name)
        both_inside.wait()  # returns only once the other thread is inside too
        return name

    results: List[Any] = []

    def work(name: str) -> None:
        try:
            results.append(cb.call(lambda: protected(name)))
        except BaseException as e:
            results.append(e)

    ts = [threading.Thread(target=work, args=(n,)) for n in ("a", "b")]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert sorted(results) == ["a", "b"], results
    assert cb.metrics()["successes"] == 2


def test_decorated_and_async_calls_overlap_across_threads(make: Any) -> None:
    import asyncio

    cb = make()
    both_inside = threading.Barrier(2, timeout=30)

    @cb
    def sync_side() -> str:
        both_inside.wait()
        return "sync"

    @cb
    async def async_side() -> str:
        await asyncio.to_thread(both_inside.wait)
        return "async"

    results: List[Any] = []
    t = threading.Thread(target=lambda: results.append(sync_side()))
    t.start()
    results.append(asyncio.run(async_side()))
    t.join()
    assert sorted(results) == ["async", "sync"]


def test_callback_runs_once_per_transition_not_per_call(make: Any, clock: Any) -> None:
    counts = {"open": 0, "close": 0, "half": 0}
    cb = make(failure_threshold=1, success_threshold=1, timeout=1,
              on_open=lambda: counts.__setitem__("open", counts["open"] + 1),
              on_close=lambda: counts.__setitem__("close", counts["close"] + 1),
              on_half_open=lambda: counts.__setitem__("half", counts["half"] + 1))
    for _ in range(1000):
        cb.call(lambda: None)
    assert counts == {"open": 0, "close": 0, "half": 0}
    with pytest.raises(Boom):
        cb.call(boom_)
    for _ in range(100):
        with pytest.raises(CircuitBreakerOpenError):
            cb.call(lambda: None)
    clock.advance(1)
    cb.call(lambda: None)
    assert counts == {"open": 1, "close": 1, "half": 1}
