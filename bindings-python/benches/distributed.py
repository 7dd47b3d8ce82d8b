"""The distributed breaker's `call` overhead, beside the local breaker and
beside pybreaker with its Redis storage against the same server, in one run.

Rows: a bare call; seawall's local `UnifiedCircuitBreaker.call`; seawall's
`DistributedCircuitBreaker.call` (decided in-process: the coordinator thread
talks to Redis in the background); pybreaker in memory; pybreaker with
`CircuitRedisStorage` (Redis round trips on the call path). The table shows
the median over batches of the time per call and the overhead over the bare
call. It starts its own redis-server (persistence off) unless
SEAWALL_REDIS_URL is set. Run it through `scripts/bench-python.sh
--distributed`, which installs pybreaker and redis from PyPI.

    python benches/distributed.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import statistics
import sys
import time
import timeit
from pathlib import Path
from typing import Any, Dict, Iterator

import pybreaker
import redis

import seawall

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import redis_server  # noqa: E402

BIG_TIMEOUT = 3600.0


def fn() -> int:
    return 1


@contextlib.contextmanager
def server() -> Iterator[str]:
    url = os.environ.get("SEAWALL_REDIS_URL")
    if url:
        yield url
    else:
        with redis_server.running() as url:
            yield url


def median_ns(stmt: str, env: Dict[str, Any], number: int, repeat: int) -> float:
    timer = timeit.Timer(stmt, globals=env)
    timer.timeit(number // 10)  # warm up
    return statistics.median(timer.repeat(repeat=repeat, number=number)) / number * 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = ap.parse_args()
    number = 20_000 if args.quick else 200_000
    repeat = 5 if args.quick else 9
    # pybreaker's Redis storage makes several round trips per call.
    redis_number = number // 20

    with server() as url:
        config = seawall.CircuitBreakerConfig(failure_threshold=5, timeout=BIG_TIMEOUT)
        local = seawall.UnifiedCircuitBreaker("bench", config)
        fleet = seawall.DistributedCircuitBreaker("bench", config, redis_url=url, namespace="bench")
        deadline = time.monotonic() + 30
        while fleet.fleet_metrics()["degraded"]:
            assert time.monotonic() < deadline, f"the coordinator never reached {url}"
            time.sleep(0.01)
        pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=BIG_TIMEOUT)
        client = redis.Redis.from_url(url)
        pb_redis = pybreaker.CircuitBreaker(
            fail_max=5,
            reset_timeout=BIG_TIMEOUT,
            state_storage=pybreaker.CircuitRedisStorage(
                pybreaker.STATE_CLOSED, client, namespace="bench"
            ),
        )
        env = dict(fn=fn, local=local, fleet=fleet, pb=pb, pb_redis=pb_redis)
        print("measuring ...", file=sys.stderr)
        rows = {
            "bare fn()": median_ns("fn()", env, number, repeat),
            "seawall  UnifiedCircuitBreaker.call(fn)": median_ns("local.call(fn)", env, number, repeat),
            "seawall  DistributedCircuitBreaker.call(fn)": median_ns(
                "fleet.call(fn)", env, number, repeat
            ),
            "pybreaker call(fn), memory storage": median_ns("pb.call(fn)", env, number, repeat),
            "pybreaker call(fn), CircuitRedisStorage": median_ns(
                "pb_redis.call(fn)", env, redis_number, repeat
            ),
        }
        assert not fleet.fleet_metrics()["degraded"], "Redis went away during the run"
        flushes = fleet.fleet_metrics()["flushes"]

    bare = rows["bare fn()"]
    print()
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{'quick' if args.quick else 'full'} run: median of {repeat} batches of {number} calls "
          f"({redis_number} for Redis storage); Redis on loopback")
    print()
    print("| row | median | overhead |")
    print("| --- | ---: | ---: |")
    for name, ns in rows.items():
        over = "" if name == "bare fn()" else f"{ns - bare:.0f} ns"
        print(f"| {name} | {ns:.0f} ns | {over} |")
    over = {name: ns - bare for name, ns in rows.items()}
    d = over["seawall  DistributedCircuitBreaker.call(fn)"]
    print()
    print("Overhead ratios (same run):")
    print(f"  distributed / local seawall:           "
          f"{d / over['seawall  UnifiedCircuitBreaker.call(fn)']:.2f}x")
    print(f"  pybreaker memory / seawall distributed:  "
          f"{over['pybreaker call(fn), memory storage'] / d:.1f}x")
    print(f"  pybreaker Redis / seawall distributed:   "
          f"{over['pybreaker call(fn), CircuitRedisStorage'] / d:.1f}x")
    print(f"  (the distributed breaker's coordinator flushed {flushes} times meanwhile)")


if __name__ == "__main__":
    main()
