"""Bulkhead wake-up latency: from a release to the waiter running again.

One slot, one waiter, the release made while the waiter is queued; the
latency is the time from just before `release()` to the first instruction
after the waiter's acquire returns (both read from `time.perf_counter`, one
clock for every thread). Cases:

- same loop: a task waits in `aacquire`, another task of its loop releases;
- other thread: a task waits in `aacquire`, a thread releases;
- other handle: as "other thread", the release made on the native handle
  (as another wrapper of the same bulkhead would: no Python-side wake-up);
- sync waiter: a thread waits in `acquire`, the main thread releases.

Prints p50, p99 and max per case, in microseconds. Run it through
`scripts/bench-python.sh --wakeup`, or directly with any Python that can
import `seawall` (so also against an older build, to compare):

    python benches/wakeup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from datetime import timedelta
from typing import Callable, Dict, List

import seawall


def bulkhead() -> seawall.Bulkhead:
    config = seawall.BulkheadConfig(
        max_concurrent=1, max_queue_size=1, timeout=timedelta(hours=1)
    )
    return seawall.Bulkhead(config)


def queued(bh: seawall.Bulkhead) -> None:
    while bh.get_queue_size() == 0:
        time.sleep(0)


async def aqueued(bh: seawall.Bulkhead) -> None:
    while bh.get_queue_size() == 0:
        await asyncio.sleep(0)


def same_loop(rounds: int) -> List[float]:
    async def main() -> List[float]:
        bh = bulkhead()
        out = []
        for _ in range(rounds):
            assert await bh.aacquire()

            async def waiter() -> float:
                assert await bh.aacquire()
                t1 = time.perf_counter()
                bh.release()
                return t1

            t = asyncio.ensure_future(waiter())
            await aqueued(bh)
            t0 = time.perf_counter()
            bh.release()
            out.append(await t - t0)
        return out

    return asyncio.run(main())


def other_thread(rounds: int, release: Callable[[seawall.Bulkhead], None]) -> List[float]:
    async def main() -> List[float]:
        bh = bulkhead()
        out = []
        for _ in range(rounds):
            assert bh.acquire()
            t0 = [0.0]

            def releaser() -> None:
                queued(bh)
                t0[0] = time.perf_counter()
                release(bh)

            th = threading.Thread(target=releaser)
            th.start()
            assert await bh.aacquire()
            t1 = time.perf_counter()
            bh.release()
            th.join()
            out.append(t1 - t0[0])
        return out

    return asyncio.run(main())


def sync_waiter(rounds: int) -> List[float]:
    bh = bulkhead()
    out = []
    for _ in range(rounds):
        assert bh.acquire()
        t1 = [0.0]

        def waiter() -> None:
            assert bh.acquire()
            t1[0] = time.perf_counter()
            bh.release()

        th = threading.Thread(target=waiter)
        th.start()
        queued(bh)
        t0 = time.perf_counter()
        bh.release()
        th.join()
        out.append(t1[0] - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2000, help="wake-ups measured per case")
    args = ap.parse_args()
    cases: Dict[str, Callable[[], List[float]]] = {
        "same loop (task <- task)": lambda: same_loop(args.rounds),
        "other thread (task <- thread)": lambda: other_thread(args.rounds, seawall.Bulkhead.release),
        "other handle (task <- native)": lambda: other_thread(
            args.rounds, lambda bh: bh._native.release()
        ),
        "sync waiter (thread <- thread)": lambda: sync_waiter(args.rounds),
    }
    print(f"bulkhead wake-up latency, {args.rounds} rounds per case (microseconds)")
    print(f"{'case':34} {'p50':>9} {'p99':>9} {'max':>9}")
    for name, run in cases.items():
        lat = sorted(x * 1e6 for x in run())
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(f"{name:34} {p50:9.1f} {p99:9.1f} {lat[-1]:9.1f}")


if __name__ == "__main__":
    main()
