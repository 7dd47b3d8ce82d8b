"""The users client: aliases, positional arguments, a decorator on a method
and async code."""

from datetime import timedelta
from seawall import CircuitBreakerConfig, RetryConfig, UnifiedCircuitBreaker, with_resilience

from ..settings import FAILURE_THRESHOLD, RECOVERY_SECONDS


class LookupFailed(Exception):
    pass


def make_breaker(clock=None):
    # Trips after two lookups fail; one trial call after 30 s.
    return UnifiedCircuitBreaker(CircuitBreakerConfig(
        failure_threshold=FAILURE_THRESHOLD,  # from settings
        timeout=RECOVERY_SECONDS,
        track_exceptions=[LookupFailed],
        success_threshold=1,
    ), clock=clock)


def make_positional(clock=None):
    return UnifiedCircuitBreaker(CircuitBreakerConfig(failure_threshold=3, timeout=timedelta(seconds=10), track_exceptions=[LookupFailed, KeyError], success_threshold=1), clock=clock)


class UsersClient:
    def __init__(self, backend, breaker):
        self.backend = backend
        self.breaker = breaker

    async def get(self, user_id):
        @with_resilience(RetryConfig(max_attempts=2, initial_delay=0.0, max_delay=0.0), circuit_breaker=self.breaker,
                    name="users_get")
        async def fetch():
            return await self.backend(user_id)

        return await fetch()
