"""``create_circuit_breaker_adapter``: the breakers of the older call sites,
on the Seawall core (``shared.resilience.adapters``)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, Optional, Tuple, Type, Union

import logging
import os
import threading

from . import _check
from .distributed import DistributedCircuitBreaker
from .implementations.circuit_breaker import UnifiedCircuitBreaker
from .models import CircuitBreakerConfig, CircuitState

__all__ = [
    "IMPLEMENTATION_ENV",
    "create_circuit_breaker_adapter",
    "default_implementation",
    "set_default_implementation",
    "DistributedCircuitBreaker",
    "LegacyCircuitBreakerAdapter",
    "LightweightCircuitBreakerAdapter",
    "IMPLEMENTATIONS",
]

IMPLEMENTATIONS = ("unified", "legacy", "lightweight", "distributed")

IMPLEMENTATION_ENV = "SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION"
"""The environment variable naming the implementation
``create_circuit_breaker_adapter`` builds when its call names none, and
the registry builds its breakers as."""

_log = logging.getLogger("seawall")

# Set by `set_default_implementation`; None: the environment decides.
_override: Optional[str] = None
_override_lock = threading.Lock()


def _implementation(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise _check.type_error(field, "one of " + ", ".join(map(repr, IMPLEMENTATIONS)), value)
    if value not in IMPLEMENTATIONS:
        raise ValueError(
            f"{field} must be one of {', '.join(map(repr, IMPLEMENTATIONS))}, not {value!r}"
        )
    return value


def set_default_implementation(implementation: Optional[str]) -> None:
    """Chooses the implementation ``create_circuit_breaker_adapter`` builds
    when its call names none, and the registry builds its new breakers as
    (so the decorators and the HTTP clients follow it), over
    ``SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION``: a rollback switch that needs
    no change to the call sites. Breakers already built keep their
    implementation. ``None`` hands the choice back to the environment."""
    global _override
    if implementation is not None:
        _implementation("implementation", implementation)
    with _override_lock:
        _override = implementation


def default_implementation() -> Tuple[str, str]:
    """``(implementation, source)``: what an adapter whose call names no
    implementation is built as, and what chose it
    (``"set_default_implementation"``, the environment variable's name, or
    ``"default"``). An invalid value of the environment variable raises
    ``ValueError`` naming it."""
    override = _override
    if override is not None:
        return override, "set_default_implementation"
    env = os.environ.get(IMPLEMENTATION_ENV)
    if env is not None and env.strip():
        return _implementation(IMPLEMENTATION_ENV, env.strip()), IMPLEMENTATION_ENV
    return "unified", "default"


# At import, so a misspelt switch stops the service at startup rather than
# at its first breaker.
default_implementation()


def _config(config: Optional[CircuitBreakerConfig]) -> CircuitBreakerConfig:
    if config is None:
        return CircuitBreakerConfig()
    if not isinstance(config, CircuitBreakerConfig):
        raise _check.type_error("config", "a CircuitBreakerConfig", config)
    return config


class LegacyCircuitBreakerAdapter(UnifiedCircuitBreaker):
    """The old ``retry_strategy.CircuitBreaker`` semantics on the new core.

    Consecutive tracked failures open it; after the timeout
    (``recovery_timeout``) one trial call is admitted and a single success
    closes it. Keeps the old names: ``record_failure()`` without an argument,
    ``_should_attempt_reset()`` (may a call go ahead now?), ``_state``
    (``"closed"``, ``"open"``, ``"half-open"``), ``recovery_timeout``,
    ``expected_exception``.
    """

    implementation = "legacy"

    def __new__(
        cls, name: str = "default", config: Optional[CircuitBreakerConfig] = None, **kwargs: Any
    ) -> "LegacyCircuitBreakerAdapter":
        cfg = dataclasses.replace(_config(config), success_threshold=1, half_open_max_calls=1)
        return super().__new__(cls, name, cfg, **kwargs)

    @property
    def failure_threshold(self) -> int:
        return int(self.config.failure_threshold)

    @property
    def recovery_timeout(self) -> float:
        t = self.config.timeout
        return t.total_seconds() if isinstance(t, timedelta) else float(t)

    @property
    def expected_exception(self) -> Union[Type[BaseException], Tuple[Type[BaseException], ...]]:
        excs = tuple(self.config.track_exceptions or ())
        return excs[0] if len(excs) == 1 else excs

    @property
    def _state(self) -> str:
        if self.is_half_open():
            return "half-open"
        return "open" if self.is_open() else "closed"

    def _should_attempt_reset(self) -> bool:
        return not self.is_open()


def _http_failure(codes: Any) -> Any:
    codes = frozenset(codes or ())

    def is_failure(response: Any) -> bool:
        return getattr(response, "status_code", None) in codes

    return is_failure


class LightweightCircuitBreakerAdapter(UnifiedCircuitBreaker):
    """A breaker for HTTP calls: besides tracked exceptions, a returned
    response (or a raised error) whose ``status_code`` is in
    ``track_status_codes`` counts as a failure. The response is still
    returned to the caller."""

    implementation = "lightweight"

    def __new__(
        cls, name: str = "default", config: Optional[CircuitBreakerConfig] = None, **kwargs: Any
    ) -> "LightweightCircuitBreakerAdapter":
        cfg = _config(config)
        if cfg.result_predicate is None:
            cfg = dataclasses.replace(cfg, result_predicate=_http_failure(cfg.track_status_codes))
        return super().__new__(cls, name, cfg, **kwargs)


#: A breaker of any implementation.
Breaker = Union[UnifiedCircuitBreaker, DistributedCircuitBreaker]


def chosen_implementation(name: str) -> str:
    """The default implementation (see ``default_implementation``) for a
    new breaker called ``name``; a choice made by the switch rather than
    the default is logged at INFO on the ``seawall`` logger."""
    implementation, source = default_implementation()
    if source != "default":
        _log.info(
            "circuit breaker %r uses the %r implementation (chosen by %s)",
            name, implementation, source,
            extra={"circuit_breaker": name, "implementation": implementation,
                   "source": source},
        )
    return implementation


def build(
    name: str,
    config: Optional[CircuitBreakerConfig],
    implementation: str,
    *,
    redis_url: Optional[str] = None,
    namespace: str = "seawall",
    **native: Any,
) -> Breaker:
    """A new breaker of ``implementation`` (checked by the caller);
    ``native`` goes to the breaker's constructor (a registry's ``clock``
    or native registry)."""
    if implementation == "unified":
        return UnifiedCircuitBreaker(name, config, **native)
    if implementation == "legacy":
        return LegacyCircuitBreakerAdapter(name, config, **native)
    if implementation == "lightweight":
        return LightweightCircuitBreakerAdapter(name, config, **native)
    return DistributedCircuitBreaker(
        name, _config(config), redis_url=redis_url, namespace=namespace, **native
    )


def create_circuit_breaker_adapter(
    name: str,
    config: Optional[CircuitBreakerConfig] = None,
    implementation: Optional[str] = None,
    *,
    redis_url: Optional[str] = None,
    namespace: str = "seawall",
) -> Breaker:
    """A breaker with the ``CircuitBreakerInterface`` methods plus
    ``is_closed/is_open/is_half_open``.

    - ``"unified"`` (default): ``UnifiedCircuitBreaker``.
    - ``"legacy"``: ``LegacyCircuitBreakerAdapter``.
    - ``"lightweight"``: ``LightweightCircuitBreakerAdapter``.
    - ``"distributed"``: ``DistributedCircuitBreaker`` on ``redis_url``
      (default: the ``SEAWALL_REDIS_URL`` environment variable) under
      ``namespace``; ``ValueError`` when neither gives a URL.

    Without ``implementation`` the default decides: the value given to
    ``set_default_implementation``, else the environment variable
    ``SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION``, else ``"unified"``; a breaker
    built on that choice says so in an INFO record of the ``seawall``
    logger. The registry's breakers (``with_circuit_breaker``,
    ``with_resilience(circuit_breaker_name=...)``, the HTTP clients) are
    built on the same choice. Every breaker reports its implementation in
    ``get_metrics()["implementation"]``.

    Each call builds a new breaker; for one shared by name use
    ``with_circuit_breaker`` or ``get_registry().get_or_create``.
    """
    if implementation is None:
        implementation = chosen_implementation(name)
    else:
        _implementation("implementation", implementation)
    return build(name, config, implementation, redis_url=redis_url, namespace=namespace)
