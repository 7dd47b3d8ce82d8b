"""An ``httpx`` client whose requests are retried and guarded by a circuit
breaker per host, through ``seawall.httpx.ResilientTransport``.

The "server" is an ``httpx.MockTransport``: it answers 503 to the first two
requests, then 200, then goes down for good. The client retries the 503s,
and once the host's breaker has seen enough failures it refuses requests
without sending them (``rejected="response"`` turns the refusal into a
synthetic 503 with ``X-Seawall-Rejected: circuit_open``).

Waits between attempts go through ``sleep``, which here moves a
``seawall.ManualClock`` (the registry's clock) instead of sleeping, so the
run takes milliseconds. In production, leave out ``registry=`` and ``sleep=``.

Run: ``python examples/python/httpx_client.py``
"""

from __future__ import annotations

from datetime import timedelta

import httpx

import seawall
from seawall import CircuitBreakerConfig, RetryConfig, RetryStrategy
from seawall.httpx import ResilientTransport

clock = seawall.ManualClock()
registry = seawall.Registry(clock=clock)
sent = 0


def server(request: httpx.Request) -> httpx.Response:
    global sent
    sent += 1
    if sent <= 2 or sent >= 4:
        return httpx.Response(503, text="busy")
    return httpx.Response(200, json={"items": [1, 2, 3]})


transport = ResilientTransport(
    httpx.MockTransport(server),
    registry=registry,
    breaker_config=CircuitBreakerConfig(failure_threshold=3, timeout=timedelta(seconds=30)),
    retry=RetryConfig(
        strategy=RetryStrategy.EXPONENTIAL,
        max_attempts=3,
        initial_delay=0.1,
        max_delay=1.0,
    ),
    rejected="response",
    sleep=clock.advance,
)


def main() -> None:
    with httpx.Client(transport=transport, base_url="http://catalog.internal") as client:
        for i in range(1, 5):
            before = sent
            r = client.get("/items")
            note = r.headers.get("X-Seawall-Rejected", "")
            print(f"request {i}: {r.status_code}{' ' + note if note else ''} "
                  f"({sent - before} sent, t={clock.now():.1f}s)")
    breaker = registry.get("http:catalog.internal:80")
    assert breaker is not None
    m = breaker.get_metrics()
    print(f"breaker {breaker.name}: {m['state'].value}, {m['total_failures']} failures, "
          f"{m['rejections']} rejected")


if __name__ == "__main__":
    main()
