"""Instructions per call of the Python paths and of the peers' equivalents,
for `scripts/bench-python.sh --callgrind`: callgrind counts only inside the
measured loop (after a warm-up), so the figures repeat exactly from run to
run, unlike wall time on a shared machine.

Usage: callgrind_paths.py TOGGLE_LIBRARY MODE N (run under
`valgrind --tool=callgrind --collect-atstart=no`); prints nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import sys
from typing import Any, Awaitable, Callable, Dict

import circuitbreaker
import pybreaker
import tenacity

import seawall

from bench import BIG_TIMEOUT, afn, fn, seawall_breaker, tenacity_network

WARM_UP = 1000


def sync_loop(toggle: Callable[[], None], step: Callable[[], Any], n: int) -> None:
    for _ in range(WARM_UP):
        step()
    toggle()
    for _ in range(n):
        step()
    toggle()


def async_loop(toggle: Callable[[], None], step: Callable[[], Awaitable[Any]], n: int) -> None:
    async def main() -> None:
        for _ in range(WARM_UP):
            await step()
        toggle()
        for _ in range(n):
            await step()
        toggle()

    asyncio.run(main())


def bulkhead_step() -> Callable[[], None]:
    bh = seawall.Bulkhead(seawall.BulkheadConfig(max_concurrent=4))

    def step() -> None:
        with bh:
            pass

    return step


def abulkhead_step() -> Callable[[], Awaitable[None]]:
    bh = seawall.Bulkhead(seawall.BulkheadConfig(max_concurrent=4))

    async def step() -> None:
        async with bh:
            pass

    return step


def _http_step(row: str) -> Callable[[], Any]:
    import http_clients  # needs httpx, installed for the HTTP bench

    return http_clients.transport_steps()[row]


def pybreaker_call() -> Callable[[], Any]:
    pb = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=BIG_TIMEOUT)
    return lambda: pb.call(fn)


SYNC: Dict[str, Callable[[], Callable[[], Any]]] = {
    "call": lambda: (lambda b: lambda: b.call(fn))(seawall_breaker("cg")),
    "decorated": lambda: seawall_breaker("cg")(fn),
    "with_resilience": lambda: seawall.with_resilience("network", "cg-wr")(fn),
    "bulkhead": bulkhead_step,
    "pybreaker": pybreaker_call,
    "circuitbreaker": lambda: circuitbreaker.CircuitBreaker(
        failure_threshold=5, recovery_timeout=BIG_TIMEOUT)(fn),
    "tenacity": lambda: tenacity_network()(fn),
    # seawall.httpx at the transport, on an in-memory MockTransport: the
    # overhead is each row minus http_bare (http_clients.py).
    "http_bare": lambda: _http_step("bare MockTransport"),
    "http_transport": lambda: _http_step("seawall ResilientTransport"),
    "http_peers": lambda: _http_step("tenacity @retry + pybreaker.call"),
}
ASYNC: Dict[str, Callable[[], Callable[[], Awaitable[Any]]]] = {
    "acall": lambda: (lambda b: lambda: b.acall(afn))(seawall_breaker("cg")),
    "awith_resilience": lambda: seawall.with_resilience("network", "cg-awr")(afn),
    "abulkhead": abulkhead_step,
    "atenacity": lambda: tenacity_network()(afn),
}
MODES = list(SYNC) + list(ASYNC)


def main() -> None:
    lib, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    toggle = ctypes.CDLL(lib).seawall_cg_toggle
    gc.disable()  # a collection inside the loop would land in one run only
    if mode in SYNC:
        sync_loop(toggle, SYNC[mode](), n)
    elif mode in ASYNC:
        async_loop(toggle, ASYNC[mode](), n)
    else:
        sys.exit(f"unknown mode {mode!r}; modes: {' '.join(MODES)}")


if __name__ == "__main__":
    main()
