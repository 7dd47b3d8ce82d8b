"""Seawall's Python module against pybreaker and circuitbreaker, in one run.

Rows: a bare call, `breaker.call(fn)`, the decorator, a call by key
(`KeyedBreaker.call` against the common practice: a dict of pybreakers,
made on a key's first call under a lock), `await acall`, the async
decorator, `with_resilience(retry_policy='network')` with and without
a breaker against tenacity with the same policy (sync and async), a rejected
call including raise and catch, and two threads.
Each row runs in batches; the table shows the median over the batches of the
time per call, the overhead over the matching bare row, and the ratios of
the peers' overhead to Seawall's. Run it through scripts/bench-python.sh,
which installs the peers (pybreaker, circuitbreaker, tenacity) from PyPI.

    python benches/bench.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import threading
import time
import timeit
from datetime import timedelta
from typing import Any, Callable, Dict, List, Optional, Tuple

import circuitbreaker
import pybreaker
import tenacity

import seawall

BIG_TIMEOUT = 3600.0


def fn() -> int:
    return 1


async def afn() -> int:
    return 1


def boom() -> None:
    raise ValueError("down")


# --- the breakers -------------------------------------------------------

def seawall_breaker(name: str) -> seawall.UnifiedCircuitBreaker:
    return seawall.UnifiedCircuitBreaker(
        name, seawall.CircuitBreakerConfig(failure_threshold=5, timeout=BIG_TIMEOUT)
    )


def pybreaker_breaker() -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(fail_max=5, reset_timeout=BIG_TIMEOUT)


def cb_breaker() -> circuitbreaker.CircuitBreaker:
    return circuitbreaker.CircuitBreaker(failure_threshold=5, recovery_timeout=BIG_TIMEOUT)


# --- by key -------------------------------------------------------------
# A breaker per host: seawall's bounded family against what services write
# with pybreaker, a dict filled on a key's first call (under a lock, so two
# threads never make two breakers for one key). One hot key of a typical
# length for both.

HOST = "host-0.example.com:443"


class PybreakerByKey:
    def __init__(self) -> None:
        self.breakers: Dict[str, pybreaker.CircuitBreaker] = {}
        self.lock = threading.Lock()

    def call(self, key: str, func: Callable[[], Any]) -> Any:
        b = self.breakers.get(key)
        if b is None:
            with self.lock:
                b = self.breakers.setdefault(key, pybreaker_breaker())
        return b.call(func)


# --- retry stacks -------------------------------------------------------
# with_resilience(retry_policy='network') against tenacity with the same
# policy: 4 attempts, exponential from 0.5 s capped at 10 s with +-10% jitter,
# retrying ConnectionError / TimeoutError, re-raising the last error.

def tenacity_network() -> Any:
    return tenacity.retry(
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_exponential(multiplier=0.5, max=10) + tenacity.wait_random(0, 0.1),
        retry=tenacity.retry_if_exception_type((ConnectionError, TimeoutError)),
        reraise=True,
    )


def trip(call: Callable[[Callable[[], Any]], Any]) -> None:
    for _ in range(5):
        try:
            call(boom)
        except Exception:
            pass


# --- measuring ----------------------------------------------------------

def sync_rows(stmts: Dict[str, str], env: Dict[str, Any], number: int, repeat: int) -> Dict[str, float]:
    """Median ns per execution of each statement. The rows take turns batch
    by batch, so a burst of load from other processes hits every row alike
    instead of skewing one of them."""
    timers = {k: timeit.Timer(s, globals=env) for k, s in stmts.items()}
    for t in timers.values():
        t.timeit(number // 10)  # warm up
    runs: Dict[str, List[float]] = {k: [] for k in stmts}
    for _ in range(repeat):
        for k, t in timers.items():
            runs[k].append(t.timeit(number) / number * 1e9)
    return {k: statistics.median(v) for k, v in runs.items()}


def async_rows(makers: Dict[str, Callable[[], Callable[[], Any]]], number: int, repeat: int) -> Dict[str, float]:
    """Median ns per `await make()()`, all rows in one event loop, taking
    turns batch by batch (see `sync_rows`)."""

    async def batch(f: Callable[[], Any], n: int) -> float:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            await f()
        return (time.perf_counter_ns() - t0) / n

    async def main() -> Dict[str, float]:
        fs = {k: m() for k, m in makers.items()}
        for f in fs.values():
            await batch(f, number // 10)
        runs: Dict[str, List[float]] = {k: [] for k in fs}
        for _ in range(repeat):
            for k, f in fs.items():
                runs[k].append(await batch(f, number))
        return {k: statistics.median(v) for k, v in runs.items()}

    return asyncio.run(main())


def threads_row(call: Callable[[], Any], per_thread: int, threads: int, repeat: int) -> float:
    """Median ns per call, wall time, with `threads` threads calling at once."""
    results = []
    for _ in range(repeat):
        barrier = threading.Barrier(threads + 1)

        def work() -> None:
            barrier.wait()
            for _ in range(per_thread):
                call()

        ts = [threading.Thread(target=work) for _ in range(threads)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter_ns()
        for t in ts:
            t.join()
        results.append((time.perf_counter_ns() - t0) / (per_thread * threads))
    return statistics.median(results)


def blocked_row(call: Callable[[Callable[[], Any]], Any], rounds: int) -> float:
    """Median ms per round of two threads each blocked 2 ms inside the
    protected call: about 2 if they run in parallel, about 4 if serialised."""
    results = []
    for _ in range(rounds):
        barrier = threading.Barrier(3)

        def work() -> None:
            barrier.wait()
            call(lambda: time.sleep(0.002))

        ts = [threading.Thread(target=work) for _ in range(2)]
        for t in ts:
            t.start()
        barrier.wait()
        t0 = time.perf_counter_ns()
        for t in ts:
            t.join()
        results.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(results)


# --- the table ----------------------------------------------------------

def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = ap.parse_args()
    number = 20_000 if args.quick else 200_000
    repeat = 5 if args.quick else 9

    sw = seawall_breaker("bench")
    sw_dec = sw(fn)
    sw_adec = sw(afn)
    pb = pybreaker_breaker()
    pb_dec = pb(fn)
    cb = cb_breaker()
    cb_dec = cb(fn)
    cb_adec = cb(afn)

    wr = seawall.with_resilience("network")(fn)
    wr_cb = seawall.with_resilience("network", "bench-wr")(fn)
    ten = tenacity_network()(fn)
    ten_cb = tenacity_network()(sw_dec)
    awr = seawall.with_resilience("network")(afn)
    awr_cb = seawall.with_resilience("network", "bench-awr")(afn)
    aten = tenacity_network()(afn)

    # tenacity needs an `async def` to retry awaits (given the native
    # wrapper it would pick its sync path and not retry failed awaits), so
    # its breaker row pays one coroutine frame more than ours.
    async def sw_adec_fn() -> int:
        return await sw_adec()

    aten_cb = tenacity_network()(sw_adec_fn)

    kb = seawall.KeyedBreaker(
        seawall.CircuitBreakerConfig(failure_threshold=5, timeout=BIG_TIMEOUT), max_keys=1024
    )
    pbk = PybreakerByKey()

    env: Dict[str, Any] = dict(
        kb=kb, pbk=pbk, HOST=HOST,
        wr=wr, wr_cb=wr_cb, ten=ten, ten_cb=ten_cb,
        fn=fn, sw=sw, sw_dec=sw_dec, pb=pb, pb_dec=pb_dec, cb=cb, cb_dec=cb_dec,
        Open=seawall.CircuitBreakerOpenError, PbErr=pybreaker.CircuitBreakerError,
        CbErr=circuitbreaker.CircuitBreakerError,
    )
    rows: List[Tuple[str, str, float, Optional[float]]] = []

    def add(group: str, name: str, ns: float, base: Optional[float]) -> None:
        rows.append((group, name, ns, None if base is None else ns - base))
        print(f"  {group:<10} {name:<34} {ns:9.0f} ns", file=sys.stderr)

    print("measuring ...", file=sys.stderr)
    sw_open = seawall_breaker("bench-open")
    trip(sw_open.call)
    pb_open = pybreaker_breaker()
    trip(pb_open.call)
    cb_open = cb_breaker()
    trip(cb_open.call)
    assert sw_open.is_open() and pb_open.current_state == "open" and cb_open.opened
    env.update(sw_open=sw_open, pb_open=pb_open, cb_open=cb_open)

    sync = sync_rows({
        "bare fn()": "fn()",
        "seawall  breaker.call(fn)": "sw.call(fn)",
        "seawall  @breaker": "sw_dec()",
        "pybreaker breaker.call(fn)": "pb.call(fn)",
        "pybreaker @breaker": "pb_dec()",
        "circuitbreaker breaker.call(fn)": "cb.call(fn)",
        "circuitbreaker @circuit": "cb_dec()",
        "seawall  KeyedBreaker.call(key, fn)": "kb.call(HOST, fn)",
        "pybreaker dict by key .call(fn)": "pbk.call(HOST, fn)",
        "seawall  with_resilience(network)": "wr()",
        "seawall  with_resilience(network, breaker)": "wr_cb()",
        "tenacity @retry(network)": "ten()",
        "tenacity @retry(network) + seawall @breaker": "ten_cb()",
        "bare raise + except": "try:\n raise ValueError\nexcept ValueError:\n pass",
        "seawall": "try:\n sw_open.call(fn)\nexcept Open:\n pass",
        "pybreaker": "try:\n pb_open.call(fn)\nexcept PbErr:\n pass",
        "circuitbreaker": "try:\n cb_open.call(fn)\nexcept CbErr:\n pass",
    }, env, number, repeat)
    bare = sync["bare fn()"]
    for name in list(sync)[:7]:
        add("sync", name, sync[name], None if name == "bare fn()" else bare)
    for name in list(sync)[7:9]:
        add("keyed", name, sync[name], bare)
    for name in list(sync)[9:13]:
        add("retry", name, sync[name], bare)

    anum = number // 2
    asyncs = async_rows({
        "bare await afn()": lambda: afn,
        "seawall  await acall(afn)": lambda: (lambda: sw.acall(afn)),
        "seawall  async @breaker": lambda: sw_adec,
        "circuitbreaker await call_async": lambda: (lambda: cb.call_async(afn)),
        "circuitbreaker async @circuit": lambda: cb_adec,
    }, anum, repeat)
    abare = asyncs["bare await afn()"]
    for name, ns in asyncs.items():
        add("async", name, ns, None if name == "bare await afn()" else abare)

    aretry = async_rows({
        "bare await afn()": lambda: afn,
        "seawall  async with_resilience(network)": lambda: awr,
        "seawall  async with_resilience(network, breaker)": lambda: awr_cb,
        "tenacity async @retry(network)": lambda: aten,
        "tenacity async @retry(network) + seawall @breaker": lambda: aten_cb,
    }, anum, repeat)
    for name, ns in list(aretry.items())[1:]:
        add("aretry", name, ns, aretry["bare await afn()"])

    for name in list(sync)[13:]:
        add("rejected", name, sync[name], None)

    tnum = number // 4
    for label, call in [("bare", fn), ("seawall", lambda: sw.call(fn)), ("pybreaker", lambda: pb.call(fn)),
                        ("circuitbreaker", lambda: cb.call(fn))]:
        one = threads_row(call, tnum, 1, repeat)
        two = threads_row(call, tnum // 2, 2, repeat)
        add("threads", f"{label} 1 thread (per call)", one, None)
        add("threads", f"{label} 2 threads (per call)", two, None)
    rounds = 20 if args.quick else 60
    for label, call in [("seawall", sw.call), ("pybreaker", pb.call), ("circuitbreaker", cb.call)]:
        add("blocked", f"{label} 2 threads x 2 ms (ms/round)", blocked_row(call, rounds) * 1e6, None)

    # --- print ---------------------------------------------------------
    print()
    print(f"Python {platform.python_version()} on {platform.machine()}, "
          f"{'quick' if args.quick else 'full'} run: median of {repeat} batches of {number} calls "
          f"(async {anum}, threads {tnum})")
    print()
    print(f"| group | row | median | overhead |")
    print(f"| --- | --- | ---: | ---: |")
    for group, name, ns, over in rows:
        if group == "blocked":
            print(f"| {group} | {name} | {ns / 1e6:.2f} ms | |")
            continue
        o = "" if over is None else f"{over:.0f} ns"
        print(f"| {group} | {name} | {ns:.0f} ns | {o} |")
    d = {name: (ns, over) for _, name, ns, over in rows}

    def ratio(peer: str, ours: str, key: int = 1) -> str:
        p, o = d[peer][key], d[ours][key]
        return f"{p / o:.1f}x" if o and o > 0 else "n/a"

    print()
    print("Overhead ratios (peer overhead / seawall overhead, same run):")
    print(f"  call(fn):   circuitbreaker {ratio('circuitbreaker breaker.call(fn)', 'seawall  breaker.call(fn)')}, "
          f"pybreaker {ratio('pybreaker breaker.call(fn)', 'seawall  breaker.call(fn)')}")
    print(f"  decorator:  circuitbreaker {ratio('circuitbreaker @circuit', 'seawall  @breaker')}, "
          f"pybreaker {ratio('pybreaker @breaker', 'seawall  @breaker')}")
    print(f"  by key:     pybreaker dict {ratio('pybreaker dict by key .call(fn)', 'seawall  KeyedBreaker.call(key, fn)')}; "
          f"seawall by key - seawall call(fn) = "
          f"{d['seawall  KeyedBreaker.call(key, fn)'][1] - d['seawall  breaker.call(fn)'][1]:.0f} ns")
    print(f"  async:      circuitbreaker {ratio('circuitbreaker async @circuit', 'seawall  async @breaker')} (decorator), "
          f"{ratio('circuitbreaker await call_async', 'seawall  await acall(afn)')} (call)")
    print(f"  rejected:   circuitbreaker {ratio('circuitbreaker', 'seawall', 0)}, pybreaker {ratio('pybreaker', 'seawall', 0)} (total time)")
    for kind, pre in (("sync ", ""), ("async", "async ")):
        ours = f"seawall  {pre}with_resilience(network)"
        ours_cb = f"seawall  {pre}with_resilience(network, breaker)"
        print(f"  retry {kind}: tenacity {ratio(f'tenacity {pre}@retry(network)', ours)} (retry only), "
              f"{ratio(f'tenacity {pre}@retry(network) + seawall @breaker', ours_cb)} (retry + breaker); "
              f"seawall overhead {d[ours][1]:.0f} ns / {d[ours_cb][1]:.0f} ns (target <= 1500 ns, >= 15x)")
    for label in ("seawall", "pybreaker", "circuitbreaker", "bare"):
        one = d[f"{label} 1 thread (per call)"][0]
        two = d[f"{label} 2 threads (per call)"][0]
        print(f"  threads:    {label}: 2-thread throughput / 1-thread = {one / two:.2f}")


if __name__ == "__main__":
    main()
