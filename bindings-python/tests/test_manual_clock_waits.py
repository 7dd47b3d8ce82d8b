"""Waits on a manual clock end when the clock passes their deadline: moving
the clock wakes the waiter, with no real time spent on the timeout.

Each test blocks a waiter in another thread and checks the order of
events: not returned before the move past its deadline, returned (timed
out) after it. The only real-time bound is a generous guard against a hang.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any, List

from seawall import Bulkhead, BulkheadConfig, ManualClock

HANG_GUARD = 30.0  # seconds


def blocked(target: Any) -> "tuple[threading.Thread, List[Any]]":
    out: List[Any] = []
    t = threading.Thread(target=lambda: out.append(target()), daemon=True)
    t.start()
    return t, out


def wait_for_queue(b: Bulkhead, n: int) -> None:
    deadline = time.monotonic() + HANG_GUARD
    while b.get_queue_size() < n:
        assert time.monotonic() < deadline, "the waiters never queued"
        time.sleep(0.001)


def test_advancing_the_clock_past_the_deadline_ends_acquire() -> None:
    clock = ManualClock()
    b = Bulkhead(
        BulkheadConfig(max_concurrent=1, max_queue_size=2, timeout=timedelta(seconds=3)),
        clock=clock,
    )
    assert b.try_acquire()
    short, short_out = blocked(b.acquire)  # the configured 3 s
    long, long_out = blocked(lambda: b.acquire(3600.0))
    wait_for_queue(b, 2)
    # Short of both deadlines: both wake, see the time, and sleep on.
    clock.advance(2.999)
    short.join(0.05)
    assert short_out == [] and long_out == []
    # Past the first deadline: only that waiter gives up.
    clock.advance(0.001)
    short.join(HANG_GUARD)
    assert short_out == [False], "the 3 s waiter did not wake when the clock passed its deadline"
    assert long_out == [], "the 1 h waiter returned before its deadline"
    # `set` moves the clock too.
    clock.set(3600.0)
    long.join(HANG_GUARD)
    assert long_out == [False], "the 1 h waiter did not wake when the clock passed its deadline"
    assert b.get_queue_size() == 0
    assert b.rejections == 2


def test_advancing_the_clock_ends_a_queued_waiters_wait() -> None:
    clock = ManualClock()
    b = Bulkhead(
        BulkheadConfig(max_concurrent=1, max_queue_size=1, timeout=timedelta(hours=1)), clock=clock
    )
    assert b.try_acquire()
    waiter = b._native.enqueue()
    assert waiter is not False and waiter is not True
    t, out = blocked(waiter.wait)
    t.join(0.05)
    assert out == []
    clock.advance(timedelta(hours=1))
    t.join(HANG_GUARD)
    assert out == [False], "the waiter did not wake when the clock passed its deadline"
    assert waiter.remaining() == 0.0


def test_a_release_still_wakes_a_waiter_on_a_manual_clock() -> None:
    clock = ManualClock()
    b = Bulkhead(
        BulkheadConfig(max_concurrent=1, max_queue_size=1, timeout=timedelta(hours=1)), clock=clock
    )
    assert b.try_acquire()
    t, out = blocked(b.acquire)
    wait_for_queue(b, 1)
    b.release()
    t.join(HANG_GUARD)
    assert out == [True]
    b.release()
