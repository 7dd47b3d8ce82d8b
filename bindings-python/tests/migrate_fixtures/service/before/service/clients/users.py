"""The users client: aliases, positional arguments, a decorator on a method
and async code."""

import shared.utils.retry_strategy as rs
from shared.utils.retry_strategy import CircuitBreaker as CB, with_retry

from ..settings import FAILURE_THRESHOLD, RECOVERY_SECONDS


class LookupFailed(Exception):
    pass


def make_breaker(clock=None):
    # Trips after two lookups fail; one trial call after 30 s.
    return CB(
        failure_threshold=FAILURE_THRESHOLD,  # from settings
        recovery_timeout=RECOVERY_SECONDS,
        expected_exception=LookupFailed,
        clock=clock,
    )


def make_positional(clock=None):
    return rs.CircuitBreaker(3, 10, (LookupFailed, KeyError), clock=clock)


class UsersClient:
    def __init__(self, backend, breaker):
        self.backend = backend
        self.breaker = breaker

    async def get(self, user_id):
        @with_retry("users_get", circuit_breaker=self.breaker,
                    max_attempts=2, initial_delay=0.0, max_delay=0.0)
        async def fetch():
            return await self.backend(user_id)

        return await fetch()
