"""Fault injection for tests and game days (like Polly's chaos
strategies): with a given probability a call raises an exception, returns
a chosen result without running, or is delayed. The core decides
(``seawall::fault``); this module acts: it raises, returns or sleeps
(``asyncio.sleep`` in coroutines).

Off by default and switched at run time (``enable()``, ``disable()``,
``configure(...)``), from any thread: while off, a protected call costs
one native call that reads one flag."""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union

from . import _check, _native
from ._time import Seconds

__all__ = ["FaultInjectionConfig", "FaultInjector", "InjectedFaultError"]

F = TypeVar("F", bound=Callable[..., Any])


class InjectedFaultError(Exception):
    """The exception a ``FaultInjector`` raises when none is configured."""


@dataclass
class FaultInjectionConfig:
    """What a ``FaultInjector`` injects. The rates are the probabilities of
    disjoint outcomes of one draw (error first, then result, then latency),
    each in ``[0, 1]``, adding up to at most 1.

    - ``exception``: raised on an injected error: an exception instance, an
      exception class (instantiated with a message), or a callable
      returning one; default ``InjectedFaultError``.
    - ``result``: returned, without running the call, on an injected
      result (an HTTP 503 response, a sentinel ...).
    - ``latency``: the delay, in seconds (or a ``timedelta``), or a
      ``(min, max)`` pair to draw it from uniformly.
    - ``enabled``: default ``False``.
    """

    error_rate: float = 0.0
    result_rate: float = 0.0
    latency_rate: float = 0.0
    exception: Any = None
    result: Any = None
    latency: Union[Seconds, Tuple[Seconds, Seconds]] = 0.0
    enabled: bool = False

    def _native_args(self) -> Tuple[bool, float, float, float, float, float]:
        lo, hi = self.latency if isinstance(self.latency, tuple) else (self.latency, self.latency)
        return (
            _check.boolean("enabled", self.enabled),
            _check.number("error_rate", self.error_rate),
            _check.number("result_rate", self.result_rate),
            _check.number("latency_rate", self.latency_rate),
            _check.non_negative_seconds("latency", lo),
            _check.non_negative_seconds("latency", hi),
        )

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field; the
        # ranges are the core injector's.
        e = self.exception
        if not (
            e is None
            or isinstance(e, BaseException)
            or (isinstance(e, type) and issubclass(e, BaseException))
            or callable(e)
        ):
            raise _check.type_error(
                "exception", "an exception, an exception class or a callable", e
            )
        _native.FaultInjector(*self._native_args())


class FaultInjector:
    """Injects the faults its ``FaultInjectionConfig`` describes into the
    calls it protects, once enabled.

    Use it as a decorator (``@injector``, sync or ``async def``), by hand
    (``injector.decide()``), or in ``with_resilience(fault_injection=...)``,
    where it is the innermost layer: breakers, retries and fallbacks see
    the injected faults as they would see real ones."""

    def __init__(
        self,
        config: Optional[FaultInjectionConfig] = None,
        *,
        name: str = "default",
        seed: Optional[int] = None,
    ) -> None:
        c = FaultInjectionConfig() if config is None else config
        _check.instance("config", c, FaultInjectionConfig)
        self._config = c
        self.name = _check.name("name", name)
        self._native = _native.FaultInjector(*c._native_args(), name=self.name, seed=seed)
        self.decide = self._native.decide  # type: ignore[method-assign]

    @property
    def config(self) -> FaultInjectionConfig:
        return self._config

    def decide(self) -> float:
        """The next call's fault: 0.0 none, -1.0 an error, -2.0 a result, a
        positive number a delay in seconds."""
        return self._native.decide()

    @property
    def enabled(self) -> bool:
        return self._native.enabled

    def enable(self) -> None:
        """Starts injecting, with the rates configured."""
        self._native.enabled = True

    def disable(self) -> None:
        """Stops injecting; the rates are kept."""
        self._native.enabled = False

    def configure(self, config: FaultInjectionConfig) -> None:
        """Replaces the whole configuration (its ``enabled`` too)."""
        _check.instance("config", config, FaultInjectionConfig)
        self._native.configure(*config._native_args())
        self._config = config

    def metrics(self) -> Dict[str, Union[bool, int]]:
        """``{"enabled", "errors", "results", "latencies"}``: whether it
        injects now, and the faults injected so far (as in
        ``seawall.snapshot()``)."""
        return self._native.metrics()

    def _error(self) -> BaseException:
        e = self._config.exception
        if e is None:
            return InjectedFaultError("fault injected")
        if isinstance(e, BaseException):
            return e
        made = e("fault injected") if isinstance(e, type) else e()
        if not isinstance(made, BaseException):
            raise TypeError(
                f"exception factory must return an exception, not {type(made).__name__}"
            )
        return made

    def _wrap_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        decide = self._native.decide

        def injected(*args: Any, **kwargs: Any) -> Any:
            f = decide()
            if f:
                if f == -1.0:
                    raise self._error()
                if f == -2.0:
                    return self._config.result
                time.sleep(f)
            return func(*args, **kwargs)

        return injected

    def _wrap_async(self, func: Callable[..., Any]) -> Callable[..., Any]:
        decide = self._native.decide

        async def injected(*args: Any, **kwargs: Any) -> Any:
            f = decide()
            if f:
                if f == -1.0:
                    raise self._error()
                if f == -2.0:
                    return self._config.result
                await asyncio.sleep(f)
            return await func(*args, **kwargs)

        return injected

    def __call__(self, func: F) -> F:
        """``func`` (sync or ``async def``) with faults injected."""
        from .compose import _is_async
        from .implementations.circuit_breaker import mark_coroutine_function

        if not callable(func):
            raise TypeError(f"can only decorate a callable, not {type(func).__name__}")
        if _is_async(func):
            wrapper = self._wrap_async(func)
            functools.update_wrapper(wrapper, func)
            mark_coroutine_function(wrapper, func)
        else:
            wrapper = self._wrap_sync(func)
            functools.update_wrapper(wrapper, func)
        return wrapper  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"FaultInjector({self._config!r})"
