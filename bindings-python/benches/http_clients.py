"""The cost of ``seawall.httpx.ResilientTransport`` per request.

An ``httpx.Client`` sends GET requests to an in-memory ``MockTransport``
(no network): bare, through ``ResilientTransport`` (a breaker per host,
retries and a retry budget, all on by default), and through the way users
wire the peers today (tenacity's ``@retry`` around a pybreaker
``CircuitBreaker.call``). The figure that matters is the overhead: each
row minus the bare client. Timing only, nothing asserted. Run it through
``scripts/bench-python.sh --http``.
"""

from __future__ import annotations

import argparse
import timeit
from typing import Callable

import httpx
import pybreaker
import tenacity

from seawall.httpx import ResilientTransport


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def per_call_us(stmt: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--number", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    url = "http://dependency.test/items"

    bare = httpx.Client(transport=httpx.MockTransport(ok))
    seawall_client = httpx.Client(transport=ResilientTransport(httpx.MockTransport(ok)))

    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.2, max=10),
        retry=tenacity.retry_if_exception_type(httpx.TransportError),
        reraise=True,
    )
    def peers_get() -> httpx.Response:
        return breaker.call(bare.get, url)  # type: ignore[no-any-return]

    rows = [
        ("bare httpx.Client + MockTransport", lambda: bare.get(url)),
        ("seawall ResilientTransport", lambda: seawall_client.get(url)),
        ("tenacity @retry + pybreaker.call", peers_get),
    ]
    times = {name: per_call_us(f, args.number, args.repeat) for name, f in rows}
    base = times[rows[0][0]]
    print(f"per request, best of {args.repeat} x {args.number}:")
    print(f"  {'':36} {'us/request':>11} {'overhead us':>12}")
    for name, _ in rows:
        t = times[name]
        print(f"  {name:36} {t:11.2f} {t - base:12.2f}")
    ours = times[rows[1][0]] - base
    theirs = times[rows[2][0]] - base
    print(f"peers' overhead / seawall's: {theirs / ours:.1f}x")


if __name__ == "__main__":
    main()
