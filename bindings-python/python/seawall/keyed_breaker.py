"""A circuit breaker per key (host, tenant, endpoint), bounded."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar, Union

from . import _native
from ._time import Seconds
from .exceptions import KeyedBreakerFullError
from .implementations.circuit_breaker import legacy_metrics
from .models import CircuitBreakerConfig, CircuitState

__all__ = ["KeyedBreaker", "KeyBreaker"]

_T = TypeVar("_T")

Key = Union[str, bytes]


class KeyedBreaker:
    """A circuit breaker per key, made on the key's first call from one
    ``config`` (a ``CircuitBreakerConfig``; ``None`` for the defaults),
    with at most ``max_keys`` keys alive at once.

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

    ``totals()`` counts over every key the family ever had, evicted ones
    included; ``metrics(key)`` and ``snapshot()`` show live keys' breakers.
    """

    def __init__(
        self,
        config: Optional[CircuitBreakerConfig] = None,
        *,
        max_keys: int = 1024,
        idle_timeout: Seconds = 300.0,
        prefix: str = "",
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        self._native = _native.KeyedBreaker(
            config, max_keys=max_keys, idle_timeout=idle_timeout, prefix=prefix, clock=clock
        )
        self.clock = clock

    def acquire(self, key: Key) -> _native.KeyedPermit:
        """A permit for one call of ``key``: report it with ``success()``,
        ``failure()`` or ``ignore()`` (dropped unreported: ignored). Raises
        ``CircuitBreakerOpenError`` when the key's breaker refuses, and
        ``KeyedBreakerFullError`` when the key is new and no key is idle."""
        p = self._native.acquire(key)
        if p is None:
            raise self._full(key)
        return p

    def _full(self, key: Key) -> KeyedBreakerFullError:
        name = self._native.name(key)
        n = self._native.max_keys
        e = KeyedBreakerFullError(
            f"Keyed breaker '{self.prefix}' is full: {n} keys alive, none idle"
        )
        e.name = name
        e.retry_after = None
        e.max_keys = n
        return e

    def call(self, key: Key, func: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """Runs ``func(*args, **kwargs)`` under ``key``'s breaker: an
        ``Exception`` counts as a failure (and is raised again), anything
        else that escapes (cancellation, ``KeyboardInterrupt``) as
        neither."""
        permit = self.acquire(key)
        try:
            result = func(*args, **kwargs)
        except Exception:
            permit.failure()
            raise
        except BaseException:
            permit.ignore()
            raise
        permit.success()
        return result

    def state(self, key: Key) -> Optional[CircuitState]:
        """The state of ``key``'s breaker, ``None`` if it has none."""
        return self._native.state(key)

    def metrics(self, key: Key) -> Optional[Dict[str, Any]]:
        """The metrics of ``key``'s breaker, ``None`` if it has none."""
        return self._native.metrics(key)

    def breaker(self, key: Key) -> Optional["KeyBreaker"]:
        """A read-only view of ``key``'s breaker, ``None`` if it has none
        now. The view follows the key: after an eviction it reads the key's
        next breaker, or ``None`` while the key has none."""
        if self._native.state(key) is None:
            return None
        return KeyBreaker(self, key)

    def reset(self, key: Key) -> bool:
        """Resets ``key``'s breaker to CLOSED; whether it had one."""
        return self._native.reset(key)

    def snapshot(self) -> List[Tuple[str, Dict[str, Any]]]:
        """Each live key's breaker name and metrics, sorted by name."""
        return self._native.snapshot()

    def totals(self) -> Dict[str, int]:
        """Counts over every key ever had (``permitted``, ``rejected``,
        ``full``, ``successes``, ``failures``, ``ignored``, ``created``,
        ``evicted``) and the ``keys`` alive now."""
        return self._native.totals()

    def evict_idle(self) -> int:
        """Evicts every idle key now; returns how many."""
        return self._native.evict_idle()

    def keys(self) -> List[bytes]:
        """The live keys, as ``bytes``, in no particular order."""
        return self._native.keys()

    def name(self, key: Key) -> str:
        """The name ``key``'s breaker has (or would have)."""
        return self._native.name(key)

    def __len__(self) -> int:
        return len(self._native)

    @property
    def max_keys(self) -> int:
        return self._native.max_keys

    @property
    def idle_timeout(self) -> float:
        return self._native.idle_timeout

    @property
    def prefix(self) -> str:
        return self._native.prefix

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
