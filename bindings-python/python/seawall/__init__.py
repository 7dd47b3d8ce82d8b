"""Seawall: a lock-free circuit breaker, drop-in for ``shared.resilience``.

Code written against ``shared.resilience`` keeps working after changing its
import to ``seawall`` (or through a one-line shim module
``shared/resilience/__init__.py`` containing ``from seawall import *``).
"""

from ._native import ManualClock, Permit
from .adapters import create_circuit_breaker_adapter
from .decorators import with_circuit_breaker
from .exceptions import CircuitBreakerOpenError
from .implementations.circuit_breaker import UnifiedCircuitBreaker
from .interfaces import (
    BackoffCalculatorInterface,
    BulkheadInterface,
    CircuitBreakerInterface,
    ResilienceMetricsInterface,
    RetryBudgetInterface,
    RetryStrategyInterface,
)
from .models import (
    RETRY_POLICIES,
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryMetrics,
    RetryPolicy,
    RetryResult,
    RetryStrategy,
)
from .registry import Registry, get_registry

__all__ = [
    "CircuitState",
    "CircuitBreakerConfig",
    "RetryStrategy",
    "RetryConfig",
    "RetryPolicy",
    "RETRY_POLICIES",
    "BulkheadConfig",
    "RetryBudgetConfig",
    "RetryMetrics",
    "RetryResult",
    "RetryError",
    "CircuitBreakerInterface",
    "RetryStrategyInterface",
    "BackoffCalculatorInterface",
    "BulkheadInterface",
    "RetryBudgetInterface",
    "ResilienceMetricsInterface",
    "UnifiedCircuitBreaker",
    "create_circuit_breaker_adapter",
    "with_circuit_breaker",
    "CircuitBreakerOpenError",
    "ManualClock",
    "Permit",
    "Registry",
    "get_registry",
]
