from datetime import timedelta
from seawall import RetryError
from shared.utils.retry_strategy import (
    CircuitBreaker,
    with_retry,
)


ORDERS_BREAKER = CircuitBreaker(recovery_timeout=timedelta(seconds=5), expected_exception=OSError)


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
