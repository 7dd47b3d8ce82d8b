"""The adaptive throttler: client-side throttling (Google SRE book,
"Handling Overload"), lowest priority shed first. The rule is the core's
(``seawall::throttle``): over the last ``window``, with ``requests`` made and
``accepts`` answered by the backend, a call of priority ``p`` is refused
locally with probability
``min(max_rejection_probability, max(0, (requests - K_p * accepts) / (requests + 1)))``,
where ``K_p = 1 + (k - 1) * w_p`` and ``w_p`` is 2 (critical), 1.5 (high),
1 (normal) or 0.5 (low). A local refusal counts as a request."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import timedelta
from typing import (
    Any,
    Awaitable,
    Callable,
    Dict,
    Literal,
    Optional,
    Tuple,
    Type,
    TypeAlias,
    TypeVar,
)

from . import _check, _native
from ._time import Seconds, secs
from .exceptions import CircuitBreakerOpenError, ThrottledError

__all__ = ["AdaptiveThrottler", "Priority", "ThrottleConfig"]

Priority: TypeAlias = Literal["critical", "high", "normal", "low"]
PRIORITIES: Tuple[str, ...] = ("critical", "high", "normal", "low")

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class ThrottleConfig:
    """Settings of an ``AdaptiveThrottler``: ``k`` (the multiplier of a
    "normal" call, ``[1, 1000]``), ``window`` (``[10 ms, 365 days]``) and
    ``max_rejection_probability`` (``[0, 1]``; below 1 a share of calls
    keeps probing a backend that accepts nothing)."""

    k: float = 2.0
    window: Seconds = timedelta(minutes=2)
    max_rejection_probability: float = 1.0

    def __post_init__(self) -> None:
        # Invalid values raise TypeError / ValueError naming the field; the
        # ranges are the core throttler's.
        _native.AdaptiveThrottler(
            _check.number("k", self.k),
            _check.non_negative_seconds("window", self.window),
            _check.number("max_rejection_probability", self.max_rejection_probability),
        )


def _priority(priority: Any) -> str:
    if priority not in PRIORITIES:
        raise ValueError(
            f"invalid priority = {priority!r}: must be one of 'critical', 'high', 'normal', 'low'"
        )
    return str(priority)


class AdaptiveThrottler:
    """Sheds calls locally while the backend refuses more than it accepts.
    Lock-free, shared by every caller of one backend.

    Use it by hand (``check`` then ``record``), as a decorator
    (``@throttler`` or ``throttler.wrap(func, priority="low")``), or in
    ``with_resilience(throttler=..., priority=...)``. Around a call, an
    exception of one of ``refusals`` (default: every ``Exception``) counts
    as the backend's refusal, any other return or ``Exception`` as an
    accept; a breaker's rejection (the call was never sent) and a
    ``BaseException`` that is not an ``Exception`` count nothing."""

    def __init__(
        self,
        config: Optional[ThrottleConfig] = None,
        *,
        name: str = "default",
        refusals: Tuple[Type[BaseException], ...] = (Exception,),
        clock: Optional[_native.ManualClock] = None,
        seed: Optional[int] = None,
    ) -> None:
        c = ThrottleConfig() if config is None else config
        _check.instance("config", c, ThrottleConfig)
        self.config = c
        self.name = _check.name("name", name)
        self.refusals = _check.exception_classes("refusals", refusals)
        self._native = _native.AdaptiveThrottler(
            float(c.k),
            secs(c.window),
            float(c.max_rejection_probability),
            name=self.name,
            clock=clock,
            seed=seed,
        )
        self.record = self._native.record  # type: ignore[method-assign]

    def check(self, priority: Priority = "normal") -> None:
        """Admits a call of ``priority`` (record its outcome with
        ``record``), or raises ``ThrottledError``."""
        p = self._native.check(priority)
        if p:
            raise ThrottledError(priority, p)

    def record(self, accepted: bool) -> None:
        """Counts an admitted call: a request, and an accept if the backend
        ``accepted`` it."""
        self._native.record(accepted)

    def rejection_probability(self, priority: Priority = "normal") -> float:
        """The probability a call of ``priority`` is refused now."""
        return self._native.rejection_probability(priority)

    def metrics(self) -> Dict[str, float]:
        """``{"requests", "accepts", "throttled", "rejection_probability"}``:
        the window's counts, the calls refused locally so far, and the
        probability now for a "normal" call (as in ``seawall.snapshot()``)."""
        return self._native.metrics()

    def reset(self) -> None:
        """Empties the window."""
        self._native.reset()

    def _outcome(self, exc: BaseException) -> Optional[bool]:
        """Whether the backend accepted a call that raised ``exc``; ``None``
        when it never got it."""
        if isinstance(exc, CircuitBreakerOpenError) or not isinstance(exc, Exception):
            return None
        return not isinstance(exc, self.refusals)

    def _guard(self, call: Callable[..., Any], priority: str) -> Callable[..., Any]:
        check, record = self._native.check, self._native.record

        def throttled(*args: Any, **kwargs: Any) -> Any:
            p = check(priority)
            if p:
                raise ThrottledError(priority, p)
            try:
                r = call(*args, **kwargs)
            except BaseException as exc:
                accepted = self._outcome(exc)
                if accepted is not None:
                    record(accepted)
                raise
            record(True)
            return r

        return throttled

    def _aguard(
        self, call: Callable[..., Awaitable[Any]], priority: str
    ) -> Callable[..., Awaitable[Any]]:
        check, record = self._native.check, self._native.record

        async def throttled(*args: Any, **kwargs: Any) -> Any:
            p = check(priority)
            if p:
                raise ThrottledError(priority, p)
            try:
                r = await call(*args, **kwargs)
            except BaseException as exc:
                accepted = self._outcome(exc)
                if accepted is not None:
                    record(accepted)
                raise
            record(True)
            return r

        return throttled

    def wrap(self, func: F, priority: Priority = "normal") -> F:
        """``func`` (sync or ``async def``) throttled at ``priority``."""
        from .compose import _is_async
        from .implementations.circuit_breaker import mark_coroutine_function

        p = _priority(priority)
        if _is_async(func):
            wrapper = self._aguard(func, p)
            functools.update_wrapper(wrapper, func)
            mark_coroutine_function(wrapper, func)
        else:
            wrapper = self._guard(func, p)
            functools.update_wrapper(wrapper, func)
        return wrapper  # type: ignore[return-value]

    def __call__(self, func: F) -> F:
        """Decorates ``func`` at priority "normal"."""
        return self.wrap(func)

    def __repr__(self) -> str:
        return f"AdaptiveThrottler({self.config!r})"
