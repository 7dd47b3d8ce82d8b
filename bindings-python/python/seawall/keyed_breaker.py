"""A circuit breaker per key (host, tenant, endpoint), bounded."""

from __future__ import annotations

from typing import Any, Dict, Optional, Union

from . import _native
from .implementations.circuit_breaker import legacy_metrics
from .models import CircuitState

__all__ = ["KeyedBreaker", "KeyBreaker"]

Key = Union[str, bytes]


class KeyedBreaker(_native.KeyedBreaker):
    """A circuit breaker per key, made on the key's first call from one
    ``config`` (a ``CircuitBreakerConfig``; ``None`` for the defaults),
    with at most ``max_keys`` keys alive at once.

    ``KeyedBreaker(config=None, *, max_keys=1024, idle_timeout=300.0,
    prefix="", clock=None)`` (``None`` for ``max_keys`` or ``idle_timeout``
    also means the default); ``clock`` is a ``ManualClock`` for tests, kept
    as the ``clock`` attribute.

    A key is a ``str`` (its UTF-8 bytes) or ``bytes``, so ``"a"`` and
    ``b"a"`` are one key, as in the C face. Look-ups take no lock. A key's
    breaker is named ``prefix`` followed by the key.

    A key is *idle* when no permit of it is outstanding, it has not been
    used for ``idle_timeout`` seconds, and its breaker is CLOSED, or
    HALF_OPEN with no trial in flight (its open time is over). An OPEN or
    forced breaker is never evicted. A new key that finds ``max_keys`` keys
    alive evicts every idle key; if none is idle the call is refused at once
    with ``KeyedBreakerFullError`` (a ``CircuitBreakerOpenError``): the
    family never grows past its bound and never waits. ``evict_idle()``
    evicts idle keys now. An evicted key's next call gets a fresh CLOSED
    breaker.

    ``acquire(key)`` returns a permit to report (``success()``,
    ``failure()``, ``ignore()``); ``call(key, func, *args, **kwargs)`` runs
    ``func`` under the key's breaker, an ``Exception`` counting as a
    failure. Both are native: no Python frame between the caller and the
    breaker.

    ``totals()`` counts over every key the family ever had, evicted ones
    included; ``metrics(key)`` and ``snapshot()`` show live keys' breakers.
    """

    def breaker(self, key: Key) -> Optional["KeyBreaker"]:
        """A read-only view of ``key``'s breaker, ``None`` if it has none
        now. The view follows the key: after an eviction it reads the key's
        next breaker, or ``None`` while the key has none."""
        if self.state(key) is None:
            return None
        return KeyBreaker(self, key)

    def __repr__(self) -> str:
        return (
            f"KeyedBreaker(prefix={self.prefix!r}, max_keys={self.max_keys}, "
            f"keys={len(self)})"
        )


class KeyBreaker:
    """A read-only view of one key's breaker in a ``KeyedBreaker``, with the
    reading methods of a registry breaker (``name``, ``state``,
    ``get_state()``, ``metrics()``, ``get_metrics()``), for code that looks
    breakers up by name (``Registry.get``). Calls go through the family
    (``KeyedBreaker.acquire``). A key without a breaker (evicted, not yet
    used again) reads CLOSED (what its next breaker starts as) and has no
    metrics."""

    __slots__ = ("family", "key", "name")

    #: What ``get_metrics()["implementation"]`` says.
    implementation = "keyed"

    def __init__(self, family: KeyedBreaker, key: Key) -> None:
        self.family = family
        self.key = key
        self.name = family.name(key)

    def get_state(self) -> CircuitState:
        s = self.family.state(self.key)
        return CircuitState.CLOSED if s is None else s

    @property
    def state(self) -> CircuitState:
        """The current state (same as ``get_state()``)."""
        return self.get_state()

    def metrics(self) -> Optional[Dict[str, Any]]:
        """The core metrics of the key's breaker (as ``Breaker.metrics()``),
        ``None`` while the key has none."""
        return self.family.metrics(self.key)

    def get_metrics(self) -> Optional[Dict[str, Any]]:
        """``metrics()`` in the shape of ``UnifiedCircuitBreaker.get_metrics()``,
        ``None`` while the key has none."""
        m = self.metrics()
        return None if m is None else legacy_metrics(self.name, self.implementation, m)

    def __repr__(self) -> str:
        return f"KeyBreaker(name={self.name!r}, state={self.get_state().name})"
