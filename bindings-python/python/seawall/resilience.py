"""Retry, retry budget, bulkhead and rate limiter, and ``with_resilience``.

The engines are the core's (lock-free, native); the modules named below give
them the original ``shared.resilience`` interfaces and compose them. This
module keeps the names importable from where they have always been:

- ``backoff``: ``BackoffCalculator``;
- ``budget``: ``RetryBudget``;
- ``bulkhead``: ``Bulkhead``;
- ``rate_limit``: ``RateLimiter``, ``KeyedRateLimiter``;
- ``metrics``: ``ResilienceMetrics``;
- ``retry``: the retry loop and ``Retrier``;
- ``compose``: ``with_resilience`` (see it for the order of the layers);
- ``exceptions``: ``BulkheadFullError``, ``RateLimitExceededError``.
"""

from __future__ import annotations

from .backoff import BackoffCalculator
from .budget import RetryBudget
from .bulkhead import Bulkhead
from .compose import with_resilience
from .exceptions import BulkheadFullError, RateLimitExceededError
from .metrics import ResilienceMetrics
from .rate_limit import KeyedRateLimiter, RateLimiter
from .retry import Retrier

__all__ = [
    "BackoffCalculator",
    "RetryBudget",
    "Bulkhead",
    "BulkheadFullError",
    "RateLimiter",
    "KeyedRateLimiter",
    "RateLimitExceededError",
    "Retrier",
    "ResilienceMetrics",
    "with_resilience",
]
