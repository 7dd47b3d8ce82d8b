"""A fleet of worker processes against one redis-server (tier 2, Python):
four workers forked by multiprocessing share a breaker through Redis and
call a dependency the test flips between ok and failing.

The bounds come from ARCHITECTURE.md's convergence bound ("Distributed
mode"): with the default sync interval I = 100 ms, an instance with traffic
rejects within I + B x R of the fleet's decision (B = 1 busy breaker, R a
loopback round trip), and the failing calls that reach the dependency after
the threshold are at most fleet_rate x (min(I, U) + I + 2 B x R), about
fleet_rate x 0.2 s here. The test allows several times that (a loaded 2-core
CI machine runs five processes, their coordinators and the server), and
every wait has a time limit: none of them is a measurement.
"""

from __future__ import annotations

import multiprocessing
import time
from datetime import timedelta
from typing import Any, Callable

import pytest

from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    DistributedCircuitBreaker,
    TimeWindow,
)

pytestmark = [
    pytest.mark.skipif(
        "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
    ),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # forking with threads (3.12+)
]

WORKERS = 4
# The failures in the window that trip a breaker: one worker's own breaker
# alone, or the fleet's (over every worker's failures, from two distinct
# failing workers at least).
MINIMUM_CALLS = 150
PAUSE = 0.02  # between one worker's calls: at most 50 calls/s each
FLEET_RATE = WORKERS / PAUSE  # calls/s, an upper bound
# The documented worst case is about 0.2 s of fleet traffic after the
# threshold; allowed here: 1 s.
SLACK = 1.0
# An instance with traffic rejects within I + B x R (about 0.1 s) of the
# fleet's decision; allowed here between the first and the last worker: 2 s.
SOON = 2.0
WAIT = 30.0  # the limit of every wait for a phase

OK, FAILED, REJECTED = 1, 2, 3


class Down(Exception):
    """The dependency is failing."""


def config() -> CircuitBreakerConfig:
    return CircuitBreakerConfig(
        trip_on_consecutive_failures=False,
        window=TimeWindow(length=timedelta(seconds=5), buckets=10),
        failure_count_threshold=MINIMUM_CALLS,
        minimum_calls=MINIMUM_CALLS,
        timeout=timedelta(seconds=1),
        success_threshold=2,
        half_open_max_calls=2,
        track_exceptions=[Down],
    )


def worker(i: int, redis_url: str, shared: Any) -> None:
    cb = DistributedCircuitBreaker("dep", config(), redis_url=redis_url, namespace="fleet")
    deadline = time.monotonic() + WAIT
    while cb.fleet_metrics()["degraded"] or not cb.fleet_metrics()["epoch"]:
        if time.monotonic() > deadline:
            return  # never ready: the parent's wait fails
        time.sleep(0.01)
    shared["ready"][i] = 1

    def dependency() -> str:
        if shared["failing"][i]:
            with shared["leaked"].get_lock():
                shared["leaked"].value += 1
            raise Down()
        return "ok"

    while not shared["stop"].is_set():
        try:
            cb.call(dependency)
            shared["last"][i] = OK
        except CircuitBreakerOpenError:
            shared["last"][i] = REJECTED
            shared["rejected"][i] += 1
            if shared["first_rejection"][i] == 0:
                shared["first_rejection"][i] = time.monotonic()
        except Down:
            shared["last"][i] = FAILED
        time.sleep(PAUSE)


def wait_until(what: str, cond: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for: {what}"
        time.sleep(0.01)


def test_a_fleet_of_processes_trips_together_recovers_together_and_spares_the_healthy(
    redis_url: str,
) -> None:
    ctx = multiprocessing.get_context("fork")
    shared = dict(
        ready=ctx.Array("b", WORKERS),
        failing=ctx.Array("b", WORKERS),
        last=ctx.Array("b", WORKERS),
        rejected=ctx.Array("q", WORKERS),
        first_rejection=ctx.Array("d", WORKERS),
        leaked=ctx.Value("q", 0),
        stop=ctx.Event(),
    )
    procs = [ctx.Process(target=worker, args=(i, redis_url, shared)) for i in range(WORKERS)]
    for p in procs:
        p.start()
    try:
        every = range(WORKERS)
        last, failing = shared["last"], shared["failing"]
        wait_until("every worker reaches Redis", lambda: all(shared["ready"][i] for i in every))
        wait_until("every worker calls", lambda: all(last[i] == OK for i in every))

        # The dependency fails for everyone: the fleet trips on the fleet's
        # failures, and every worker rejects soon after.
        for i in every:
            failing[i] = 1
        wait_until("every worker rejects", lambda: all(last[i] == REJECTED for i in every))
        first = [shared["first_rejection"][i] for i in every]
        assert max(first) - min(first) <= SOON, f"first rejections spread over {first}"
        leaked = shared["leaked"].value
        # Local breakers alone would let WORKERS x MINIMUM_CALLS through.
        assert leaked <= MINIMUM_CALLS + FLEET_RATE * SLACK < WORKERS * MINIMUM_CALLS, (
            f"{leaked} failing calls reached the dependency"
        )

        # It recovers: the fleet's trial calls close it, and every worker.
        for i in every:
            failing[i] = 0
        wait_until("every worker calls again", lambda: all(last[i] == OK for i in every))

        # One worker's dependency fails alone: only its own breaker trips.
        before = [shared["rejected"][i] for i in every]
        failing[0] = 1
        wait_until("the sick worker rejects", lambda: last[0] == REJECTED)
        # The fleet would need a second failing worker; give it the time it
        # would take to trip everyone (a few sync intervals) and more.
        time.sleep(1.0)
        for i in range(1, WORKERS):
            assert last[i] == OK and shared["rejected"][i] == before[i], f"worker {i} rejected"
        failing[0] = 0
    finally:
        shared["stop"].set()
        for p in procs:
            p.join(timeout=WAIT)
            if p.is_alive():
                p.kill()
                p.join()
    assert [p.exitcode for p in procs] == [0] * WORKERS
