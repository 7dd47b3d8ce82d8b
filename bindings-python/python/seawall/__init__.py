"""Seawall: a lock-free circuit breaker, drop-in for ``shared.resilience``.

Code written against ``shared.resilience`` keeps working after changing its
imports to ``seawall``, or unchanged through a one-line shim module
``shared/resilience/__init__.py``::

    import seawall; seawall.install_alias(__name__)

which makes ``shared.resilience`` and its submodules (``.models``,
``.interfaces``, ``.adapters``, ``.implementations.circuit_breaker``) the
very same module objects as ``seawall``'s.
"""

import sys as _sys
import types as _types
from importlib import metadata as _metadata

from . import _events, _native, exceptions as _exceptions, models as _models

# The native module never imports this package: it is handed the classes it
# returns and raises, once, before anything can use it.
_native._init(
    circuit_state=_models.CircuitState,
    config_class=_models.CircuitBreakerConfig,
    count_window=_models.CountWindow,
    time_window=_models.TimeWindow,
    open_error=_exceptions.CircuitBreakerOpenError,
    keyed_full_error=_exceptions.KeyedBreakerFullError,
    on_transition=_events.transition,
)

from ._native import ManualClock, Permit, snapshot  # noqa: E402
from .adaptive_limiter import AdaptiveLimiter, LimitReachedError
from .adapters import (
    create_circuit_breaker_adapter,
    default_implementation,
    set_default_implementation,
)
from .distributed import DistributedCircuitBreaker, FleetRateLimiter
from .decorators import with_circuit_breaker
from .exceptions import CircuitBreakerOpenError, KeyedBreakerFullError
from .hedge import Hedge
from .implementations.circuit_breaker import UnifiedCircuitBreaker
from .keyed_breaker import KeyBreaker, KeyedBreaker
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
    AdaptiveLimiterConfig,
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    CountWindow,
    HedgeConfig,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryMetrics,
    RetryPolicy,
    RetryResult,
    RetryStrategy,
    TimeWindow,
)
from .registry import Registry, get_registry
from .resilience import (
    BackoffCalculator,
    Bulkhead,
    BulkheadFullError,
    KeyedRateLimiter,
    RateLimiter,
    RateLimitExceededError,
    ResilienceMetrics,
    Retrier,
    RetryBudget,
    with_resilience,
)
from .simulation import simulate, sweep
from .fault import FaultInjectionConfig, FaultInjector, InjectedFaultError
from .throttle import AdaptiveThrottler, ThrottleConfig
from .exceptions import ThrottledError

# The installed distribution's version (the workspace Cargo.toml's, which
# maturin writes into the wheel's metadata).
__version__: str = _metadata.version("seawall")

__all__ = [
    "__version__",
    "CircuitState",
    "CircuitBreakerConfig",
    "CountWindow",
    "TimeWindow",
    "RetryStrategy",
    "RetryConfig",
    "RetryPolicy",
    "RETRY_POLICIES",
    "BulkheadConfig",
    "AdaptiveLimiterConfig",
    "RetryBudgetConfig",
    "HedgeConfig",
    "Hedge",
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
    "DistributedCircuitBreaker",
    "FleetRateLimiter",
    "create_circuit_breaker_adapter",
    "default_implementation",
    "set_default_implementation",
    "with_circuit_breaker",
    "CircuitBreakerOpenError",
    "KeyBreaker",
    "KeyedBreaker",
    "KeyedBreakerFullError",
    "ManualClock",
    "Permit",
    "Registry",
    "get_registry",
    "install_alias",
    "install_legacy_aliases",
    "with_resilience",
    "BackoffCalculator",
    "Retrier",
    "RetryBudget",
    "Bulkhead",
    "BulkheadFullError",
    "AdaptiveLimiter",
    "LimitReachedError",
    "RateLimiter",
    "KeyedRateLimiter",
    "RateLimitExceededError",
    "AdaptiveThrottler",
    "ThrottleConfig",
    "ThrottledError",
    "FaultInjector",
    "FaultInjectionConfig",
    "InjectedFaultError",
    "ResilienceMetrics",
    "snapshot",
    "simulate",
    "sweep",
]

_SUBMODULES = (
    "models",
    "interfaces",
    "exceptions",
    "adapters",
    "distributed",
    "decorators",
    "registry",
    "resilience",
    "implementations",
    "implementations.circuit_breaker",
)


def install_alias(name: str) -> None:
    """Makes ``name`` (e.g. ``"shared.resilience"``) and its submodules
    aliases of ``seawall`` and its submodules in ``sys.modules``: the same
    module objects, so classes and the process-wide registry are shared."""
    _sys.modules[name] = _sys.modules[__name__]
    for sub in _SUBMODULES:
        _sys.modules[f"{name}.{sub}"] = _sys.modules[f"{__name__}.{sub}"]


# The legacy module paths of the original package and what they import.
_LEGACY = {
    "shared.utils.retry_strategy": "compat.retry_strategy",
    "shared.clients.unified_http_client": "compat.unified_http_client",
    "shared.security.protection_facade": "compat.protection_facade",
}


def install_legacy_aliases() -> None:
    """Makes the original package's module paths import Seawall, so old
    call sites run unchanged: ``shared.resilience`` and its submodules (as
    ``install_alias("shared.resilience")``), the legacy
    ``shared.utils.retry_strategy`` (``seawall.compat.retry_strategy``),
    ``shared.security.protection_facade``
    (``seawall.compat.protection_facade``) and
    ``shared.clients.unified_http_client``
    (``seawall.compat.unified_http_client``, which needs ``httpx``: without
    it, importing from that path raises an ``ImportError`` saying so).
    A parent package that cannot be imported (``shared``, ``shared.utils``)
    is created empty; one that exists is kept, and gets the alias as an
    attribute."""
    import importlib

    def alias(path: str, module: _types.ModuleType) -> None:
        parent, _, child = path.rpartition(".")
        if parent:
            if parent not in _sys.modules:
                try:
                    importlib.import_module(parent)
                except ModuleNotFoundError as e:
                    if e.name != parent:
                        raise
                    package = _types.ModuleType(
                        parent, "Created by seawall.install_legacy_aliases()."
                    )
                    package.__path__ = []
                    alias(parent, package)
            setattr(_sys.modules[parent], child, module)
        _sys.modules[path] = module

    alias("shared.resilience", _sys.modules[__name__])
    for sub in _SUBMODULES:
        alias(f"shared.resilience.{sub}", _sys.modules[f"{__name__}.{sub}"])
    for path, target in _LEGACY.items():
        try:
            module = importlib.import_module(f"{__name__}.{target}")
        except ModuleNotFoundError as e:
            if e.name != "httpx":
                raise
            module = _needs(path, "httpx", "seawall[httpx]")
        alias(path, module)


def _needs(path: str, package: str, extra: str) -> _types.ModuleType:
    """A stand-in for the module ``path``, which needs ``package``: using
    it raises an ``ImportError`` that says what to install."""
    module = _types.ModuleType(path)

    def missing(attr: str) -> object:
        raise ImportError(f"{path}.{attr} needs {package}: pip install '{extra}'")

    setattr(module, "__getattr__", missing)  # a module-level __getattr__ (PEP 562)
    return module
