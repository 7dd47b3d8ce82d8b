"""The cost of ``seawall.httpx.ResilientTransport`` per request.

GET requests go to an in-memory ``MockTransport`` (no network), three ways:
bare, through ``ResilientTransport`` (a breaker per host, retries and a
retry budget, all on by default), and the way users wire the peers today
(tenacity's ``@retry`` around a pybreaker ``CircuitBreaker.call``). Each
is timed at the transport (a prebuilt request handed to
``handle_request``: the overhead alone, without httpx's own cost per
request) and through an ``httpx.Client`` (for scale). The figure that
matters is the overhead: each row minus the bare one. Timing only, nothing
asserted. Run it through ``scripts/bench-python.sh --http``.
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

    inner = httpx.MockTransport(ok)
    ours = ResilientTransport(inner)
    request = httpx.Request("GET", url)
    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)

    def peers(send: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
        @tenacity.retry(
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_random_exponential(multiplier=0.2, max=10),
            retry=tenacity.retry_if_exception_type(httpx.TransportError),
            reraise=True,
        )
        def get() -> httpx.Response:
            return breaker.call(send)  # type: ignore[no-any-return]

        return get

    bare_client = httpx.Client(transport=inner)
    our_client = httpx.Client(transport=ours)
    tables = [
        ("at the transport (handle_request)", [
            ("bare MockTransport", lambda: inner.handle_request(request)),
            ("seawall ResilientTransport", lambda: ours.handle_request(request)),
            ("tenacity @retry + pybreaker.call", peers(lambda: inner.handle_request(request))),
        ]),
        ("through httpx.Client.get", [
            ("bare MockTransport", lambda: bare_client.get(url)),
            ("seawall ResilientTransport", lambda: our_client.get(url)),
            ("tenacity @retry + pybreaker.call", peers(lambda: bare_client.get(url))),
        ]),
    ]
    for title, rows in tables:
        # Interleaved: every row is timed in each round, so a busy moment of
        # the machine does not land on one row only; the best round counts.
        times = {name: float("inf") for name, _ in rows}
        for _ in range(args.repeat):
            for name, f in rows:
                times[name] = min(times[name], per_call_us(f, args.number, 1))
        base = times[rows[0][0]]
        print(f"{title}, best of {args.repeat} interleaved rounds of {args.number}:")
        print(f"  {'':36} {'us/request':>11} {'overhead us':>12}")
        for name, _ in rows:
            t = times[name]
            print(f"  {name:36} {t:11.2f} {t - base:12.2f}")
        print(f"  peers' overhead / seawall's: "
              f"{(times[rows[2][0]] - base) / (times[rows[1][0]] - base):.1f}x")

if __name__ == "__main__":
    main()
