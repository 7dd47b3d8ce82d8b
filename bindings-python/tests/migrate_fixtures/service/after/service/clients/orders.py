from datetime import timedelta
from seawall import RetryError, CircuitBreakerConfig, UnifiedCircuitBreaker
from seawall.compat.retry_strategy import (
    with_retry,
)


ORDERS_BREAKER = UnifiedCircuitBreaker(CircuitBreakerConfig(timeout=timedelta(seconds=5), track_exceptions=[OSError], success_threshold=1))


@with_retry(
    "orders_list",
    ORDERS_BREAKER,
    max_attempts=3,  # two retries
    initial_delay=0,
    max_delay=0,
    jitter=False,
)
def list_orders(backend):
    return backend()


def fail_safe(backend):
    try:
        return list_orders(backend)
    except RetryError:
        return []
