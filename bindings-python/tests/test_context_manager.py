"""``with breaker:`` / ``async with breaker:`` report every permit wherever
``__exit__`` runs: on another thread (a generator started on one thread and
finished on another), nested, re-entered, or from an ``ExitStack``."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Iterator

import pytest

from seawall import CircuitBreakerConfig, ManualClock, UnifiedCircuitBreaker

from conftest import Boom


def _half_open(clock: ManualClock) -> UnifiedCircuitBreaker:
    b = UnifiedCircuitBreaker(
        "t",
        CircuitBreakerConfig(
            failure_threshold=1, success_threshold=1, timeout=timedelta(seconds=10)
        ),
        clock=clock,
    )
    b.force_open()
    b.reset()
    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(10)
    return b


def _stream(b: UnifiedCircuitBreaker, fail: bool = False) -> Iterator[int]:
    with b:
        yield 1
        if fail:
            raise Boom()
        yield 2


def test_a_generator_finished_on_another_thread_reports_its_permit(clock: ManualClock) -> None:
    b = _half_open(clock)
    g = _stream(b)
    with ThreadPoolExecutor(2) as pool:
        assert pool.submit(next, g).result() == 1  # the trial permit is taken here
        assert b.is_half_open()
        # ... and the generator is finished on another thread.
        t = threading.Thread(target=lambda: list(g))
        t.start()
        t.join()
    assert b.is_closed()
    assert b.metrics()["trial_calls_in_flight"] == 0


def test_a_failure_reported_across_threads_reopens(clock: ManualClock) -> None:
    b = _half_open(clock)
    g = _stream(b, fail=True)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(next, g).result()
    with pytest.raises(Boom):
        list(g)
    assert b.is_open()


def test_a_generator_closed_on_another_thread_frees_the_trial_slot(clock: ManualClock) -> None:
    b = _half_open(clock)
    g = _stream(b)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(next, g).result()
    g.close()  # here, not on the pool thread: neutral
    assert b.is_half_open()
    assert b.metrics()["trial_calls_in_flight"] == 0
    b.call(lambda: 1)  # the next trial is admitted
    assert b.is_closed()


def test_nested_with_on_one_thread() -> None:
    b = UnifiedCircuitBreaker("t", CircuitBreakerConfig(failure_threshold=3))
    with pytest.raises(Boom):
        with b:
            with b:
                pass
            raise Boom()
    m = b.metrics()
    assert (m["successes"], m["failures"]) == (1, 1)
    with b:
        with pytest.raises(Boom):
            with b:
                raise Boom()
    m = b.metrics()
    assert (m["successes"], m["failures"]) == (2, 2)
    assert b.is_closed()  # the success in between reset the count


def test_reentrant_with_through_a_decorated_function() -> None:
    b = UnifiedCircuitBreaker("t")

    @b
    def inner() -> int:
        with b:
            return 1

    with b:
        assert inner() == 1
    assert b.metrics()["successes"] == 3


def test_async_with_across_tasks_and_threads() -> None:
    b = UnifiedCircuitBreaker("t")

    async def one(fail: bool) -> None:
        async with b:
            await asyncio.sleep(0)
            if fail:
                raise Boom()

    async def main() -> None:
        results = await asyncio.gather(*(one(i % 2 == 1) for i in range(10)), return_exceptions=True)
        assert sum(isinstance(r, Boom) for r in results) == 5

    asyncio.run(main())
    t = threading.Thread(target=lambda: asyncio.run(main()))
    t.start()
    t.join()
    m = b.metrics()
    assert (m["successes"], m["failures"], m["trial_calls_in_flight"]) == (10, 10, 0)


def test_with_from_many_threads() -> None:
    b = UnifiedCircuitBreaker("t", CircuitBreakerConfig(failure_threshold=10**3))
    barrier = threading.Barrier(8)

    def work(i: int) -> None:
        barrier.wait()
        for j in range(200):
            try:
                with b:
                    if (i + j) % 3 == 0:
                        raise Boom()
            except Boom:
                pass

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    m = b.metrics()
    assert m["successes"] + m["failures"] == 1600
    assert m["permitted"] == 1600


def test_exit_stack() -> None:
    b = UnifiedCircuitBreaker("t")
    with contextlib.ExitStack() as stack:
        stack.enter_context(b)
        stack.enter_context(b)
    assert b.metrics()["successes"] == 2


def test_exit_without_enter_is_an_error() -> None:
    b = UnifiedCircuitBreaker("t")
    with pytest.raises(RuntimeError, match="without a matching __enter__"):
        b.__exit__(None, None, None)


def test_rejection_in_enter_takes_nothing() -> None:
    b = UnifiedCircuitBreaker("t")
    b.force_open()
    with pytest.raises(Exception, match="OPEN"):
        with b:
            pass
    b.reset()
    with pytest.raises(RuntimeError):
        b.__exit__(None, None, None)

