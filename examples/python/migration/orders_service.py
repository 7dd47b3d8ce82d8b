"""A module written for the original ``shared.resilience`` package, left
exactly as it was: it imports ``shared.resilience`` and the legacy
``shared.utils.retry_strategy``, which ``run.py`` (beside this file) maps to
Seawall before importing it. Nothing here mentions Seawall.

It uses the three patterns of the migration guide: a ``UnifiedCircuitBreaker``
built from the config alone with ``call``/``fallback``, the
``with_circuit_breaker`` decorator, and the old ``CircuitBreaker`` with
``record_success`` / ``record_failure``.
"""

import logging
from datetime import timedelta

from shared.resilience import (
    CircuitBreakerConfig,
    CircuitState,
    UnifiedCircuitBreaker,
    with_circuit_breaker,
)
from shared.utils.retry_strategy import CircuitBreaker

logger = logging.getLogger("orders")

inventory_config = CircuitBreakerConfig(
    failure_threshold=2,
    timeout=timedelta(seconds=60),
    track_exceptions=[ConnectionError],
    on_open=lambda: print("  inventory circuit opened!"),
)
inventory_breaker = UnifiedCircuitBreaker(inventory_config)

inventory_up = True


def _check_stock(sku):
    if not inventory_up:
        raise ConnectionError("inventory service unreachable")
    return 5


def stock_level(sku):
    return inventory_breaker.call(lambda: _check_stock(sku), fallback=lambda: 0)


@with_circuit_breaker("shipping-service")
def shipping_quote(sku):
    return 4.95


# The old breaker of retry_strategy, still called the old way.
tax_breaker = CircuitBreaker(failure_threshold=1, recovery_timeout=60, expected_exception=Exception)


def tax_rate(region):
    if tax_breaker.is_open():
        return None
    try:
        if region == "nowhere":
            raise ValueError("unknown region")
        rate = 0.2
        tax_breaker.record_success()
        return rate
    except Exception:
        tax_breaker.record_failure()
        return None


def inventory_state():
    return inventory_breaker.get_state() == CircuitState.OPEN and "open" or "closed"
