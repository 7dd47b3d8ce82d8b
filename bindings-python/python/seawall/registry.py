"""Named breakers shared by a whole process."""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Optional, Set, Union

from . import _check, _native, adapters
from .adapters import Breaker
from .distributed import DistributedCircuitBreaker
from .models import CircuitBreakerConfig

if TYPE_CHECKING:
    from .keyed_breaker import KeyBreaker, KeyedBreaker

__all__ = ["Registry", "get_registry"]


class Registry:
    """Breakers by name, all on one clock.

    ``get_or_create(name, config)`` returns the one breaker called ``name``,
    creating it from ``config`` the first time; later callers share it, and
    their ``config`` is ignored, with a ``RuntimeWarning`` (once per name)
    when it differs from the first one. Look-ups take no lock. A new breaker is
    built as the rollback switch says (``seawall.adapters.
    set_default_implementation`` or ``SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION``;
    ``UnifiedCircuitBreaker`` by default); a distributed one takes its Redis
    URL from ``SEAWALL_REDIS_URL``. Pass
    ``clock=seawall.ManualClock()`` for a registry whose breakers a test
    drives by hand.

    ``keyed(prefix, config, ...)`` returns the one ``KeyedBreaker`` of
    ``prefix``, creating it the first time (later callers share it and
    their settings are ignored, as with ``get_or_create``); the breakers of
    its live keys are readable here by name (``get``, ``in``, ``names``,
    ``snapshot``), as read-only ``KeyBreaker`` views; a breaker of the
    registry's own with the same name wins. The HTTP clients keep their
    per-host breakers in ``keyed("http:", ...)``.
    """

    def __init__(self, clock: Optional[_native.ManualClock] = None) -> None:
        self.clock = clock
        self._native = _native.Registry(clock=clock)
        self._lock = threading.Lock()
        self._breakers: Dict[str, Breaker] = {}
        # The configuration each breaker was built from, and the names
        # already warned about another one.
        self._configs: Dict[str, Any] = {}
        self._warned: Set[str] = set()
        self._families: Dict[str, "KeyedBreaker"] = {}

    def get_or_create(
        self, name: str, config: Optional[CircuitBreakerConfig] = None
    ) -> Breaker:
        """The breaker called ``name``, created from ``config`` if new.

        ``config`` is checked to be a configuration even when the breaker
        exists (and then ignored; a ``RuntimeWarning`` says so once per name
        when it differs from the one the breaker was built from)."""
        if config is not None and type(config) is not CircuitBreakerConfig:
            _native.validate_config(config)
        b = self._breakers.get(name) if isinstance(name, str) else None
        if b is None:
            _check.name("name", name)
            with self._lock:
                b = self._breakers.get(name)
                if b is None:
                    implementation = adapters.chosen_implementation(name)
                    if implementation == "distributed":
                        # Its own local books: in this registry, not the native one.
                        b = adapters.build(name, config, implementation, clock=self.clock)
                    else:
                        b = adapters.build(name, config, implementation, _registry=self._native)
                    self._configs[name] = CircuitBreakerConfig() if config is None else config
                    self._breakers[name] = b
                    return b
        if config is not None and config is not self._configs.get(name):
            self._differs(name, config)
        return b

    def _differs(self, name: str, config: Any) -> None:
        """Warns, once per name, when a configuration other than the one the
        breaker was built from is asked for."""
        if config == self._configs.get(name) or name in self._warned:
            return
        self._warned.add(name)
        warnings.warn(
            f"circuit breaker {name!r} exists already with another configuration; "
            "this one is ignored (a registry breaker keeps its first creator's "
            "configuration: give the new one another name)",
            RuntimeWarning,
            stacklevel=4,
        )

    def keyed(
        self,
        prefix: str,
        config: Optional[CircuitBreakerConfig] = None,
        *,
        max_keys: int = 1024,
        idle_timeout: float = 300.0,
    ) -> "KeyedBreaker":
        """The keyed breaker family of ``prefix`` (its breakers are named
        ``prefix`` + key), created on this registry's clock from the
        arguments if new."""
        f = self._families.get(prefix)
        if f is None:
            from .keyed_breaker import KeyedBreaker

            with self._lock:
                f = self._families.get(prefix)
                if f is None:
                    f = self._families[prefix] = KeyedBreaker(
                        config,
                        max_keys=max_keys,
                        idle_timeout=idle_timeout,
                        prefix=prefix,
                        clock=self.clock,
                    )
        return f

    def _attached(self) -> List["KeyedBreaker"]:
        return list(self._families.values())

    def get(self, name: str) -> Optional[Union[Breaker, "KeyBreaker"]]:
        """The breaker called ``name``, or ``None``: the registry's own, else
        a view of an attached family's live key so named."""
        b = self._breakers.get(name)
        if b is not None or not self._families:
            return b
        for f in self._attached():
            prefix = f.prefix
            if name.startswith(prefix):
                v = f.breaker(name[len(prefix):])
                if v is not None:
                    return v
        return None

    def remove(self, name: str) -> bool:
        """Forgets the breaker called ``name`` (its holders keep using it)."""
        with self._lock:
            known = self._breakers.pop(name, None) is not None
            self._configs.pop(name, None)
            return self._native.remove(name) or known

    def names(self) -> List[str]:
        """The names of all breakers, attached families' live keys'
        included, sorted."""
        names = set(self._breakers)
        for f in self._attached():
            names.update(n for n, _ in f.snapshot())
        return sorted(names)

    def snapshot(self) -> Dict[str, Dict[str, Any]]:
        """The core metrics of every breaker, by name (see ``metrics()``)."""
        snap: Dict[str, Dict[str, Any]] = {}
        for f in self._attached():
            snap.update(f.snapshot())
        snap.update(self._native.snapshot())
        for name, b in list(self._breakers.items()):
            if isinstance(b, DistributedCircuitBreaker):
                snap[name] = b.metrics()
        return snap

    def __contains__(self, name: object) -> bool:
        return name in self._breakers or (isinstance(name, str) and self.get(name) is not None)

    def __len__(self) -> int:
        return len(self._breakers)

    def __iter__(self) -> Iterator[Breaker]:
        return iter([self._breakers[n] for n in sorted(self._breakers)])


_default = Registry()


def get_registry() -> Registry:
    """The process-wide registry used by ``with_circuit_breaker``."""
    return _default
