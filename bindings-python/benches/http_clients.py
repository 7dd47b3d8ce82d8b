"""The cost of ``seawall.httpx.ResilientTransport`` per request.

GET requests go to an in-memory ``MockTransport`` (no network), three ways:
bare, through ``ResilientTransport`` (a breaker per host, retries and a
retry budget, all on by default), and the way users wire the peers today
(tenacity's ``@retry`` around a pybreaker ``CircuitBreaker.call``). Each
is timed at the transport (a prebuilt request handed to
``handle_request``: the overhead alone, without httpx's own cost per
request) and through an ``httpx.Client`` (for scale). The figure that
matters is the overhead: each row minus the bare one. Timing only, nothing
asserted. Run it through ``scripts/bench-python.sh --http``; the
instructions per request of the transport rows, repeatable on a noisy
machine, through ``scripts/bench-python.sh --callgrind 5000 http_bare
http_transport http_peers``.
"""

from __future__ import annotations

import argparse
import timeit
from typing import Callable, Dict

import httpx
import pybreaker
import tenacity

from seawall.httpx import ResilientTransport


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=b"ok")


def per_call_us(stmt: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e6


URL = "http://dependency.test/items"


def peers(send: Callable[[], httpx.Response]) -> Callable[[], httpx.Response]:
    """``send`` the way users wire the peers today: tenacity's ``@retry``
    (3 attempts, jittered exponential waits, on transport errors) around a
    pybreaker ``CircuitBreaker.call``."""
    breaker = pybreaker.CircuitBreaker(fail_max=5, reset_timeout=30)

    @tenacity.retry(
        stop=tenacity.stop_after_attempt(3),
        wait=tenacity.wait_random_exponential(multiplier=0.2, max=10),
        retry=tenacity.retry_if_exception_type(httpx.TransportError),
        reraise=True,
    )
    def get() -> httpx.Response:
        return breaker.call(send)  # type: ignore[no-any-return]

    return get


def transport_steps() -> Dict[str, Callable[[], httpx.Response]]:
    """One GET at the transport, three ways (also counted by
    ``callgrind_paths.py``)."""
    inner = httpx.MockTransport(ok)
    ours = ResilientTransport(inner)
    request = httpx.Request("GET", URL)
    return {
        "bare MockTransport": lambda: inner.handle_request(request),
        "seawall ResilientTransport": lambda: ours.handle_request(request),
        "tenacity @retry + pybreaker.call": peers(lambda: inner.handle_request(request)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--number", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    inner = httpx.MockTransport(ok)
    bare_client = httpx.Client(transport=inner)
    our_client = httpx.Client(transport=ResilientTransport(inner))
    tables = [
        ("at the transport (handle_request)", list(transport_steps().items())),
        ("through httpx.Client.get", [
            ("bare MockTransport", lambda: bare_client.get(URL)),
            ("seawall ResilientTransport", lambda: our_client.get(URL)),
            ("tenacity @retry + pybreaker.call", peers(lambda: bare_client.get(URL))),
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
