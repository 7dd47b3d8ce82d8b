"""Abstract interfaces of the resilience API (``shared.resilience.interfaces``)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Awaitable, Callable, Dict, Optional, TypeVar, Union

from .models import CircuitState, RetryConfig, RetryMetrics, RetryResult

T = TypeVar("T")

__all__ = [
    "CircuitBreakerInterface",
    "RetryStrategyInterface",
    "BackoffCalculatorInterface",
    "BulkheadInterface",
    "RetryBudgetInterface",
    "ResilienceMetricsInterface",
]


class CircuitBreakerInterface(ABC):
    """A circuit breaker: protects calls to one dependency."""

    @abstractmethod
    def call(self, func: Callable[[], T], fallback: Optional[Callable[[], T]] = None) -> T:
        """Calls ``func()`` unless the circuit is open."""

    @abstractmethod
    def acall(
        self,
        func: Callable[[], Awaitable[T]],
        fallback: Optional[Callable[[], Union[T, Awaitable[T]]]] = None,
    ) -> Awaitable[T]:
        """Awaits ``func()`` unless the circuit is open."""

    @abstractmethod
    def get_state(self) -> CircuitState:
        """The current state."""

    @abstractmethod
    def record_success(self) -> None:
        """Counts a successful call made outside ``call``."""

    @abstractmethod
    def record_failure(self, error: Optional[BaseException] = None) -> None:
        """Counts a failed call made outside ``call``."""

    @abstractmethod
    def reset(self) -> None:
        """Returns to CLOSED."""

    def is_closed(self) -> bool:
        return self.get_state() in (CircuitState.CLOSED, CircuitState.FORCED_CLOSED)

    def is_open(self) -> bool:
        return self.get_state() in (CircuitState.OPEN, CircuitState.FORCED_OPEN)

    def is_half_open(self) -> bool:
        return self.get_state() is CircuitState.HALF_OPEN


class RetryStrategyInterface(ABC):
    """Retries an operation according to a ``RetryConfig``."""

    @abstractmethod
    def execute(self, func: Callable[[], Any], config: RetryConfig) -> RetryResult: ...

    @abstractmethod
    async def aexecute(self, func: Callable[[], Awaitable[Any]], config: RetryConfig) -> RetryResult: ...

    @abstractmethod
    def get_metrics(self) -> RetryMetrics: ...

    @abstractmethod
    def reset_metrics(self) -> None: ...


class BackoffCalculatorInterface(ABC):
    """Computes the delay before a retry attempt."""

    @abstractmethod
    def calculate_delay(self, attempt: int, config: RetryConfig) -> float: ...

    @abstractmethod
    def add_jitter(self, delay: float, jitter_factor: float) -> float: ...


class BulkheadInterface(ABC):
    """Bounds the calls running at once."""

    @abstractmethod
    def acquire(self, timeout: Optional[float] = None) -> bool: ...

    @abstractmethod
    def release(self) -> None: ...

    @abstractmethod
    def get_available_permits(self) -> int: ...

    @abstractmethod
    def get_queue_size(self) -> int: ...


class RetryBudgetInterface(ABC):
    """Bounds the share of requests that may be retries."""

    @abstractmethod
    def can_retry(self) -> bool: ...

    @abstractmethod
    def record_attempt(self, is_retry: bool) -> None: ...

    @abstractmethod
    def get_remaining_budget_percent(self) -> float: ...

    @abstractmethod
    def reset(self) -> None: ...


class ResilienceMetricsInterface(ABC):
    """Collects metrics of the resilience patterns."""

    @abstractmethod
    def record_retry_attempt(
        self, strategy: str, attempt: int, success: bool, duration: float
    ) -> None: ...

    @abstractmethod
    def record_circuit_state_change(
        self, circuit_name: str, old_state: CircuitState, new_state: CircuitState
    ) -> None: ...

    @abstractmethod
    def record_bulkhead_rejection(self, bulkhead_name: str) -> None: ...

    @abstractmethod
    def record_retry_budget_exhaustion(self, budget_name: str) -> None: ...

    @abstractmethod
    def get_metrics_summary(self) -> Dict[str, Any]: ...
