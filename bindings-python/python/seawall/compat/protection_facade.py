"""The original package's Protection Facade
(``shared.security.protection_facade``) on Seawall's engines.

``get_protection_facade()`` returns the process's ``ProtectionFacade``: an
async facade over circuit breakers by name and rate limits by key, shared
across the fleet through Redis when a Redis URL is configured
(``redis_url=`` or the ``SEAWALL_REDIS_URL`` environment variable:
``DistributedCircuitBreaker`` and ``FleetRateLimiter``), local otherwise
(the registry's breakers and ``RateLimiter``). Every check answers from
memory: none waits for Redis.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Awaitable, Callable, Dict, Optional, Tuple, TypeVar, Union

from .. import _check
from ..distributed import REDIS_URL_VARIABLE, DistributedCircuitBreaker, FleetRateLimiter
from ..adapters import Breaker
from ..keyed_breaker import KeyBreaker
from ..models import CircuitBreakerConfig, CircuitState
from ..rate_limit import RateLimiter
from ..registry import Registry, get_registry

__all__ = ["ProtectionFacade", "get_protection_facade"]

T = TypeVar("T")

Limiter = Union[RateLimiter, FleetRateLimiter]


class ProtectionFacade:
    """Circuit breakers by name and rate limits by key, for async code.

    With ``redis_url`` (a ``str``) they are fleet-wide, under
    ``namespace``; with ``None``, local to the process (breakers from
    ``registry``, default the process-wide one).
    """

    def __init__(
        self,
        redis_url: Optional[str] = None,
        *,
        namespace: str = "seawall",
        registry: Optional[Registry] = None,
    ) -> None:
        if redis_url is not None and not isinstance(redis_url, str):
            raise _check.type_error("redis_url", "a str such as 'redis://host:6379/0'", redis_url)
        self.redis_url = redis_url
        self.namespace = _check.name("namespace", namespace)
        self.registry = get_registry() if registry is None else _check.instance(
            "registry", registry, Registry
        )
        self._breakers: Dict[str, DistributedCircuitBreaker] = {}
        self._limiters: Dict[Tuple[str, int, float], Limiter] = {}
        self._lock = threading.Lock()

    @property
    def distributed(self) -> bool:
        """Whether its breakers and limits are shared through Redis."""
        return self.redis_url is not None

    def get_circuit_breaker(
        self, name: str, config: Optional[CircuitBreakerConfig] = None
    ) -> Breaker:
        """The breaker ``name``, created from ``config`` on first use (a
        later ``config`` for the same name is ignored, as the registry
        does)."""
        _check.name("name", name)
        if self.redis_url is None:
            return self.registry.get_or_create(name, config)
        with self._lock:
            b = self._breakers.get(name)
            if b is None:
                b = self._breakers[name] = DistributedCircuitBreaker(
                    name, config, redis_url=self.redis_url, namespace=self.namespace
                )
        return b

    async def call(
        self,
        name: str,
        func: Callable[..., Awaitable[T]],
        *args: Any,
        config: Optional[CircuitBreakerConfig] = None,
        **kwargs: Any,
    ) -> T:
        """Awaits ``func(*args, **kwargs)`` through the breaker ``name``;
        raises ``CircuitBreakerOpenError`` without calling it when open."""
        breaker = self.get_circuit_breaker(name, config)
        result: T = await breaker.acall(lambda: func(*args, **kwargs))
        return result

    async def is_circuit_open(self, name: str) -> bool:
        """Whether the breaker ``name`` rejects calls now (OPEN or FORCED_OPEN)."""
        return self.get_circuit_breaker(name).get_state() in (
            CircuitState.OPEN,
            CircuitState.FORCED_OPEN,
        )

    async def record_success(self, name: str) -> None:
        self.get_circuit_breaker(name).record_success()

    async def record_failure(self, name: str) -> None:
        self.get_circuit_breaker(name).record_failure()

    def _limiter(self, key: str, limit: int, window: float) -> Limiter:
        _check.name("key", key)
        n = _check.integer("limit", limit)
        if n < 1:
            raise ValueError(f"invalid limit = {n}: must be requests per window >= 1")
        w = _check.positive_seconds("window", window)
        with self._lock:
            lim = self._limiters.get((key, n, w))
            if lim is None:
                if self.redis_url is None:
                    lim = RateLimiter(n, w, clock=self.registry.clock, name=key)
                else:
                    lim = FleetRateLimiter(
                        key, n, w, redis_url=self.redis_url, namespace=self.namespace
                    )
                self._limiters[(key, n, w)] = lim
        return lim

    async def check_rate_limit(self, key: str, limit: int, window: float = 1.0) -> bool:
        """Admits one request under ``key``'s limit of ``limit`` requests per
        ``window`` seconds (bursts of up to ``limit``): ``True`` if admitted,
        ``False`` if over the limit (nothing is counted then)."""
        return self._limiter(key, limit, window).check() == 0.0

    async def retry_after(self, key: str, limit: int, window: float = 1.0) -> float:
        """``check_rate_limit`` that says how long to wait: 0.0 when
        admitted, else the seconds until a request would be."""
        return self._limiter(key, limit, window).check()

    def get_status(self) -> Dict[str, Any]:
        """``{"distributed": bool, "circuit_breakers": {name: get_metrics()}}``
        for the breakers this facade built (distributed), or every breaker
        of its registry (local)."""
        with self._lock:
            breakers: Dict[str, Union[Breaker, KeyBreaker]] = dict(self._breakers)
        if self.redis_url is None:
            for name in self.registry.names():
                b = self.registry.get(name)
                if b is not None:
                    breakers[name] = b
        return {
            "distributed": self.distributed,
            "circuit_breakers": {n: b.get_metrics() for n, b in sorted(breakers.items())},
        }


_facades: Dict[Tuple[Optional[str], str], ProtectionFacade] = {}
_facades_lock = threading.Lock()


def get_protection_facade(
    redis_url: Optional[str] = None, *, namespace: str = "seawall"
) -> ProtectionFacade:
    """The process's facade for ``redis_url`` (default: the
    ``SEAWALL_REDIS_URL`` environment variable; neither: local) and
    ``namespace``, made on first use."""
    if redis_url is None:
        redis_url = os.environ.get(REDIS_URL_VARIABLE) or None
    with _facades_lock:
        f = _facades.get((redis_url, namespace))
        if f is None:
            f = _facades[(redis_url, namespace)] = ProtectionFacade(redis_url, namespace=namespace)
    return f
