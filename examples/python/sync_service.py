"""A synchronous service protecting two dependencies with circuit breakers.

- ``fetch_recommendations`` is decorated with ``with_circuit_breaker``: its
  breaker lives in a registry under the name "recommendations", shared with
  every other function that asks for that name. While it is open, calls
  raise ``CircuitBreakerOpenError`` without running.
- ``load_profile`` goes through a ``UnifiedCircuitBreaker`` with
  ``call(func, fallback=...)``: when the breaker rejects the call, or the
  call fails with a tracked exception, the fallback's value (a cached
  profile) is returned instead.

Both breakers read a ``seawall.ManualClock`` that the request loop moves
forward one second per request, so a minute of traffic takes milliseconds
and the output is the same on every run. In production, leave out the
``clock=`` / ``registry=`` arguments.

Run: ``python examples/python/sync_service.py``
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

import seawall
from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    UnifiedCircuitBreaker,
    with_circuit_breaker,
)

clock = seawall.ManualClock()
registry = seawall.Registry(clock=clock)


def is_down(now: float) -> bool:
    """Both dependencies fail from t=5s to t=15s."""
    return 5 <= now < 15


def announce(what: str) -> Callable[[], None]:
    # Callbacks run once per transition, never per call.
    return lambda: print(f"  [t={clock.now():4.0f}s] {what}")


@with_circuit_breaker(
    "recommendations",
    CircuitBreakerConfig(
        failure_threshold=3,
        success_threshold=2,
        timeout=timedelta(seconds=4),
        on_open=announce("recommendations breaker OPEN"),
        on_half_open=announce("recommendations breaker HALF_OPEN (trial calls)"),
        on_close=announce("recommendations breaker CLOSED"),
    ),
    registry=registry,
)
def fetch_recommendations(user_id: int) -> list[str]:
    if is_down(clock.now()):
        raise ConnectionError("recommendations: connection refused")
    return [f"item-{user_id}-{i}" for i in range(2)]


profile_breaker = UnifiedCircuitBreaker(
    "profiles",
    CircuitBreakerConfig(
        failure_threshold=2,
        success_threshold=1,
        timeout=timedelta(seconds=3),
        # Only these count as the dependency's failures; others propagate
        # without counting.
        track_exceptions=[ConnectionError, TimeoutError],
        on_open=announce("profiles breaker OPEN"),
        on_close=announce("profiles breaker CLOSED"),
    ),
    clock=clock,
)


def load_profile(user_id: int) -> dict[str, object]:
    def remote() -> dict[str, object]:
        if is_down(clock.now()):
            raise TimeoutError("profiles: no answer in 2 s")
        return {"id": user_id, "name": f"user {user_id}", "cached": False}

    def cached() -> dict[str, object]:
        return {"id": user_id, "name": "(cached)", "cached": True}

    return profile_breaker.call(remote, fallback=cached)


def main() -> None:
    print("one request a second for 25 s; both dependencies are down from t=5s to t=15s")
    served = failed = rejected = from_cache = 0
    for user_id in range(25):
        profile = load_profile(user_id)
        from_cache += bool(profile["cached"])
        try:
            fetch_recommendations(user_id)
            served += 1
        except CircuitBreakerOpenError as e:
            # Rejected without calling the dependency.
            rejected += 1
            if rejected == 1:
                print(f"  [t={clock.now():4.0f}s] rejected: {e}")
        except ConnectionError:
            failed += 1
        clock.advance(1)

    rec_breaker = registry.get("recommendations")
    assert rec_breaker is not None
    rec = rec_breaker.get_metrics()
    prof = profile_breaker.get_metrics()
    print(f"recommendations: served {served}, failed {failed}, rejected {rejected}; "
          f"breaker {rec['state'].value}")
    print(f"profiles: {25 - from_cache} from the service, {from_cache} from the cache; "
          f"breaker {prof['state'].value}, {prof['rejections']} rejected")


if __name__ == "__main__":
    main()
