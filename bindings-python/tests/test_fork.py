"""Forking servers: a child forked while other threads drive breakers
(transitions, listeners, threads starting and exiting, bulkhead waits) must
be able to use every breaker it inherited, and finish.

A lock caught held by another thread at the fork would stay locked in the
child forever; every child here gets a deadline, and one that misses it
fails the test (and is killed). The `seawall` logger stays on throughout:
its records are written by the parent's threads while children fork, and
each child writes records of its own.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
import time
from datetime import timedelta
from typing import Any, List, Tuple

import pytest

from seawall import Bulkhead, BulkheadConfig, CircuitBreakerConfig, UnifiedCircuitBreaker

pytestmark = [
    pytest.mark.skipif(
        "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
    ),
    # Python 3.12+ warns about forking a process that has threads: that is
    # the point of this test.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

FORKS = 60
CHILD_DEADLINE = 10.0  # seconds; a guard, not a measurement
BREAKERS = 2
LISTENERS = 32
WAITERS = 16


class Boom(Exception):
    """A tracked failure."""


def boom() -> None:
    raise Boom("down")


def trip(cb: Any) -> None:
    with pytest.raises(Boom):
        cb.call(boom)


def make_breakers() -> List[Any]:
    config = CircuitBreakerConfig(
        failure_threshold=1, success_threshold=1, timeout=timedelta(seconds=30), track_exceptions=[Boom]
    )
    return [UnifiedCircuitBreaker(f"fork-{i}", config) for i in range(BREAKERS)]


def child(breakers: List[Any], bulkhead: Any) -> None:
    """Runs in the forked child: uses everything it inherited. Any failure
    raises, and the child's exit code is non-zero."""
    heard: List[Any] = []
    for cb in breakers:
        # Reset first: the breaker may have been forked OPEN.
        cb.reset()
        heard.clear()
        cb.add_listener(lambda name, old, new: heard.append((old, new)))
        trip(cb)
        assert cb.state.name == "OPEN", cb.state
        cb.reset()
        assert len(heard) == 2, heard  # the trip and the reset
        # A thread new in the child counts through the breaker too.
        results: List[Any] = []
        t = threading.Thread(target=lambda: results.append(cb.call(lambda: "ok")))
        t.start()
        t.join(CHILD_DEADLINE)
        assert results == ["ok"], results
    # The parent holds the bulkhead's one slot (and a slot held by a parent
    # thread at the fork stays taken here anyway): the wait must end at its
    # timeout, without hanging.
    assert not bulkhead.acquire(0.02)


def churn(breakers: List[Any], bulkhead: Any, stop: threading.Event, listeners: List[int]) -> None:
    """One short-lived thread's work: trips and resets (transitions that
    reach the listeners), maybe a new listener, a bulkhead wait."""
    for round_ in range(4):
        for cb in breakers:
            try:
                cb.call(boom)
            except Exception:
                pass
            cb.reset()
        if listeners[0] < LISTENERS:
            listeners[0] += 1
            breakers[round_ % BREAKERS].add_listener(lambda name, old, new: None)
        if bulkhead.acquire(0.0002):
            bulkhead.release()
        if stop.is_set():
            return


def waiter(bulkhead: Any, stop: threading.Event) -> None:
    """Waits for the full bulkhead again and again, each wait timing out
    after a millisecond. The waits run without the GIL, so their ends
    (which touch the bulkhead's wait machinery) go on while the forking
    thread holds it."""
    while not stop.is_set():
        if bulkhead.acquire(0.001):
            bulkhead.release()


def spawner(breakers: List[Any], bulkhead: Any, stop: threading.Event) -> None:
    """Keeps threads starting and exiting (each takes and hands back a
    counter stripe) until told to stop."""
    listeners = [0]
    while not stop.is_set():
        ts = [
            threading.Thread(target=churn, args=(breakers, bulkhead, stop, listeners), daemon=True)
            for _ in range(4)
        ]
        for t in ts:
            t.start()
        for t in ts:
            t.join()


def fork_children(n: int, target: Any, *args: Any) -> Tuple[int, List[int]]:
    """Forks ``n`` children running ``target(*args)`` one after the other,
    each given CHILD_DEADLINE to finish; returns how many hung (killed) and
    the exit codes of those that failed."""
    ctx = multiprocessing.get_context("fork")
    hung, failed = 0, []
    for _ in range(n):
        p = ctx.Process(target=target, args=args)
        p.start()
        p.join(CHILD_DEADLINE)
        if p.is_alive():
            hung += 1
            p.kill()
            p.join()
        elif p.exitcode != 0:
            failed.append(p.exitcode)
    return hung, failed


@pytest.mark.skipif(sys.platform != "linux", reason="fork-safety is promised on Linux")
def test_children_forked_during_transitions_use_their_breakers_and_finish() -> None:
    breakers = make_breakers()
    bulkhead = Bulkhead(BulkheadConfig(max_concurrent=1, max_queue_size=64, timeout=timedelta(seconds=60)))
    assert bulkhead.try_acquire()  # held until the end: the queue fills
    stop = threading.Event()
    drivers = [threading.Thread(target=spawner, args=(breakers, bulkhead, stop), daemon=True)]
    drivers += [threading.Thread(target=waiter, args=(bulkhead, stop), daemon=True) for _ in range(WAITERS)]
    for d in drivers:
        d.start()
    try:
        hung, failed = fork_children(FORKS, child, breakers, bulkhead)
    finally:
        stop.set()
        for d in drivers:
            d.join(CHILD_DEADLINE)
        bulkhead.release()
    assert hung == 0, f"{hung} of {FORKS} children hung"
    assert failed == [], failed


class SlowStream:
    """A stream whose every write holds a lock for a millisecond, as a
    buffered file holds its own while it writes: a child forked during a
    write inherits the lock held by a thread it does not have."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.lines = 0

    def write(self, text: str) -> None:
        with self.lock:
            time.sleep(0.001)
            self.lines += text.count("\n")

    def flush(self) -> None:
        with self.lock:
            pass


def log_in_child(cb: Any) -> None:
    """Runs in the forked child: a transition, so a record (the inherited
    breaker may be open: reset first)."""
    cb.reset()
    trip(cb)


@pytest.mark.skipif(sys.platform != "linux", reason="fork-safety is promised on Linux")
def test_children_forked_while_threads_log_transitions_can_log() -> None:
    logger = logging.getLogger("seawall")
    stream = SlowStream()
    handler = logging.StreamHandler(stream)  # type: ignore[arg-type]
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    breakers = make_breakers()
    stop = threading.Event()

    def flip(cb: Any) -> None:
        while not stop.is_set():
            trip(cb)
            cb.reset()

    threads = [threading.Thread(target=flip, args=(cb,), daemon=True) for cb in breakers]
    for t in threads:
        t.start()
    try:
        hung, failed = fork_children(20, log_in_child, breakers[0])
    finally:
        stop.set()
        for t in threads:
            t.join(CHILD_DEADLINE)
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert stream.lines > 0
    assert hung == 0, f"{hung} of 20 children hung writing their first record"
    assert failed == [], failed
