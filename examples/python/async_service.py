"""An asyncio service: retries on the "network" policy, a circuit breaker
and a fallback, all from one ``with_resilience`` decorator, and a breaker
used directly with ``acall``.

- ``charge`` is decorated with ``with_resilience(retry_policy="network",
  circuit_breaker_name="payments", ...)``: up to 4 attempts, 0.5 s, 1 s,
  2 s apart (plus 10% jitter), every attempt passing the "payments" breaker;
  once the breaker is open, calls are refused at once and the fallback
  answers.
- ``quote`` uses ``UnifiedCircuitBreaker.acall(func, fallback=...)`` (the
  breaker also works as a decorator of ``async def`` functions:
  ``@quotes``).

The waits between attempts go through ``asleep``, which here moves a
``seawall.ManualClock`` instead of sleeping, and the jitter draws from a
seeded ``random.Random``: the run takes milliseconds and prints the same
delays every time. In production, leave out ``registry=``, ``asleep=``,
``rng=`` and ``clock=``.

Run: ``python examples/python/async_service.py``
"""

from __future__ import annotations

import asyncio
import random
from datetime import timedelta

import seawall
from seawall import CircuitBreakerConfig, UnifiedCircuitBreaker, with_resilience

clock = seawall.ManualClock()
registry = seawall.Registry(clock=clock)
waits: list[float] = []


async def fake_sleep(seconds: float) -> None:
    """Stands in for ``asyncio.sleep``: notes the wait and moves the clock."""
    waits.append(seconds)
    clock.advance(seconds)


# The payment gateway: each entry is what one attempt gets.
gateway_script = iter(
    ["timeout", "timeout", "ok"]  # order 1: two timeouts, then it goes through
    + ["timeout"] * 4  # order 2: down for all four attempts
    + ["timeout"]  # order 3: the fifth failure in a row opens the breaker
    + ["ok"] * 10  # later orders (order 4 never reaches the gateway)
)
gateway_calls = 0


def on_transition(name: str, old: seawall.CircuitState, new: seawall.CircuitState) -> None:
    print(f"  [t={clock.now():5.2f}s] breaker {name}: {old.value} -> {new.value}")


async def charge_from_queue(order: int, amount: float) -> str:
    """The fallback: called with the same arguments when the call finally
    fails (retries exhausted, or refused by the open breaker)."""
    return f"order {order}: queued {amount:.2f} for later"


@with_resilience(
    retry_policy="network",
    circuit_breaker_name="payments",
    circuit_breaker_config=CircuitBreakerConfig(
        failure_threshold=5, success_threshold=1, timeout=timedelta(seconds=30)
    ),
    fallback=charge_from_queue,
    registry=registry,
    asleep=fake_sleep,
    rng=random.Random(7),
)
async def charge(order: int, amount: float) -> str:
    global gateway_calls
    gateway_calls += 1
    if next(gateway_script) == "timeout":
        # TimeoutError and ConnectionError are retryable by default.
        raise TimeoutError("payment gateway did not answer")
    return f"order {order}: charged {amount:.2f}"


quotes = UnifiedCircuitBreaker(
    "quotes",
    CircuitBreakerConfig(failure_threshold=1, timeout=timedelta(seconds=10)),
    clock=clock,
)


async def live_quote(symbol: str) -> float:
    raise ConnectionError(f"quotes for {symbol}: connection reset")


async def quote(symbol: str) -> float:
    async def stale() -> float:
        return 99.5

    # acall awaits the function; the fallback answers when the breaker
    # refuses the call or the call fails with a tracked exception.
    return await quotes.acall(lambda: live_quote(symbol), fallback=stale)


async def main() -> None:
    breaker = registry.get_or_create("payments")
    breaker.add_listener(on_transition)
    quotes.add_listener(on_transition)

    for order in range(1, 6):
        before, waited = gateway_calls, len(waits)
        result = await charge(order, 10.0 * order)
        slept = ", ".join(f"{w:.2f}s" for w in waits[waited:]) or "none"
        print(f"{result} ({gateway_calls - before} gateway calls, waits: {slept})")
        if order == 4:
            print("30 s later, the breaker lets a trial call through:")
            clock.advance(30)

    print(f"quote ACME: {await quote('ACME')}")
    print(f"quote ACME: {await quote('ACME')} (breaker {quotes.get_state().value})")

    m = breaker.get_metrics()
    print(f"payments breaker {m['state'].value}: {m['total_successes']} successes, "
          f"{m['total_failures']} failures, {m['rejections']} rejected")


if __name__ == "__main__":
    asyncio.run(main())
