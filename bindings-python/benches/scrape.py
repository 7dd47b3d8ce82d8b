"""The cost of Seawall's metrics, measured where it is paid.

Seawall counts nothing for the exporters on a call: a scrape reads the
engines' snapshots. This prints the time of one scrape of N breakers
(``_native.metric_families()``; ``prometheus_client``'s
``generate_latest`` over ``seawall.prometheus``'s collector; and
``seawall.prometheus.generate_latest``, the native text) beside the
naive alternative, a ``prometheus_client`` Counter incremented on every
call: its cost per call, next to the cost of Seawall's whole protected
call. Timing only, nothing asserted. Run it through
``scripts/bench-python.sh --scrape [--breakers N]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
import timeit
from typing import Callable, List

from prometheus_client import CollectorRegistry, Counter, generate_latest

import seawall
import seawall.prometheus
from seawall import _native


def fn() -> int:
    return 1


def median_seconds(f: Callable[[], object], rounds: int) -> float:
    times: List[float] = []
    for _ in range(rounds):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def per_call_ns(stmt: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--breakers", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=50)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    number = 20_000 if args.quick else 200_000

    breakers = [
        seawall.UnifiedCircuitBreaker(f"dependency-{i:04}") for i in range(args.breakers)
    ]
    for b in breakers:
        for _ in range(10):
            b.call(fn)
    registry = CollectorRegistry()
    seawall.prometheus.register(registry)

    families = median_seconds(_native.metric_families, args.rounds)
    text = median_seconds(lambda: generate_latest(registry), args.rounds)
    size = len(generate_latest(registry))
    native = median_seconds(lambda: seawall.prometheus.generate_latest(registry), args.rounds)
    native_size = len(seawall.prometheus.generate_latest(registry))

    b = breakers[0]
    naive = Counter("naive_calls", "calls", ["name", "outcome"], registry=CollectorRegistry())
    child = naive.labels(name="dependency-0000", outcome="success")

    def call_and_count() -> None:
        b.call(fn)
        child.inc()

    def call_and_count_by_labels() -> None:
        b.call(fn)
        naive.labels(name="dependency-0000", outcome="success").inc()

    seawall_call = per_call_ns(lambda: b.call(fn), number, 5)
    inc = per_call_ns(child.inc, number, 5)
    both = per_call_ns(call_and_count, number, 5)
    by_labels = per_call_ns(call_and_count_by_labels, number, 5)

    print(f"scrape of {args.breakers} breakers (median of {args.rounds}):")
    print(f"  _native.metric_families()                  {families * 1e3:9.2f} ms")
    print(f"  prometheus_client.generate_latest          {text * 1e3:9.2f} ms  ({size} bytes)")
    print(f"  seawall.prometheus.generate_latest         {native * 1e3:9.2f} ms  ({native_size} bytes)"
          f"  ({text / native:.1f}x faster)")
    print(f"  per breaker (native text)                  {native / args.breakers * 1e6:9.2f} us")
    print("per call (best of 5 batches):")
    print(f"  seawall breaker.call(fn)                   {seawall_call:9.1f} ns")
    print(f"  naive Counter child.inc()                  {inc:9.1f} ns")
    print(f"  breaker.call(fn) + child.inc()             {both:9.1f} ns  "
          f"({both / seawall_call:.2f}x the call alone)")
    print(f"  breaker.call(fn) + labels(...).inc()       {by_labels:9.1f} ns  "
          f"({by_labels / seawall_call:.2f}x the call alone)")
    calls_per_scrape = native / (inc * 1e-9)
    print(f"one scrape costs as much as {calls_per_scrape:,.0f} per-call increments")


if __name__ == "__main__":
    main()
