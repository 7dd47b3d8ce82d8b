"""``with_circuit_breaker``: protect a function with a named, shared breaker."""

from __future__ import annotations

from typing import Any, Callable, Optional, TypeVar

from . import _check
from .implementations.circuit_breaker import wrap_function
from .models import CircuitBreakerConfig
from .registry import Registry, get_registry

__all__ = ["with_circuit_breaker"]

F = TypeVar("F", bound=Callable[..., Any])


def with_circuit_breaker(
    name: str,
    config: Optional[CircuitBreakerConfig] = None,
    *,
    registry: Optional[Registry] = None,
) -> Callable[[F], F]:
    """Decorates a sync or ``async def`` function (or method) so that every
    call goes through the breaker called ``name``.

    The breaker is looked up (or created from ``config``) once, here, in the
    process-wide registry (or ``registry``), and shared with every other user
    of the name: the first creator's configuration wins. Rejected calls raise
    ``CircuitBreakerOpenError``. Generator and async generator functions are
    protected for their whole iteration (the permit is held until the
    generator ends; see the package README).
    """
    if registry is not None and not isinstance(registry, Registry):
        raise _check.type_error("registry", "a Registry", registry)
    breaker = (registry if registry is not None else get_registry()).get_or_create(name, config)

    def decorate(func: F) -> F:
        return wrap_function(breaker, func)

    return decorate
