"""Back-off: the delays between retries of a ``RetryConfig``, computed by the
core's ``Backoff``."""

from __future__ import annotations

import random
from typing import Any, Callable, Dict, NoReturn, Optional, Tuple

from . import _check, _native
from .interfaces import BackoffCalculatorInterface
from .models import RetryConfig, RetryStrategy, _max_total_delay

__all__ = ["BackoffCalculator"]

_CORE_STRATEGY = {
    RetryStrategy.FIXED: "fixed",
    RetryStrategy.LINEAR: "linear",
    RetryStrategy.EXPONENTIAL: "exponential",
    RetryStrategy.FIBONACCI: "fibonacci",
    RetryStrategy.EXPONENTIAL_WITH_JITTER: "exponential_with_jitter",
    RetryStrategy.DECORRELATED_JITTER: "decorrelated_jitter",
    # The original's named strategies are exponential curves.
    RetryStrategy.AGGRESSIVE: "exponential_with_jitter",
    RetryStrategy.STANDARD: "exponential_with_jitter",
    RetryStrategy.CONSERVATIVE: "exponential_with_jitter",
}


def _backoff(config: RetryConfig) -> _native.Backoff:
    """The core's delay function for ``config`` (validated there)."""
    strategy = _CORE_STRATEGY.get(RetryStrategy(config.strategy), "exponential")
    jitter = config.jitter_factor if config.jitter_enabled else 0.0
    if strategy == "decorrelated_jitter" and not config.jitter_enabled:
        strategy = "exponential"
    # Checked again here: the dataclass may have been changed since it was
    # built.
    return _native.Backoff(
        strategy,
        config.max_attempts,
        _check.number("initial_delay", config.initial_delay),
        _check.number("max_delay", config.max_delay),
        _check.number("exponential_base", config.exponential_base),
        _check.number("jitter_factor", jitter),
        _max_total_delay(config.max_total_delay),
    )


def _no_custom_backoff(attempt: int) -> NoReturn:
    raise ValueError("strategy CUSTOM needs custom_backoff")


def _custom_delays(config: RetryConfig) -> Callable[[int], float]:
    """The delay function of a CUSTOM ``config``: its ``custom_backoff``, or
    one that raises the ``ValueError`` naming it missing."""
    return config.custom_backoff or _no_custom_backoff


class BackoffCalculator(BackoffCalculatorInterface):
    """Delays of a ``RetryConfig``, computed by the core.

    With ``n`` the attempt that just failed (1 for the first), ``i`` the
    initial delay and ``b`` the base, every delay capped at ``max_delay``:
    FIXED ``i``; LINEAR ``i*n``; EXPONENTIAL ``i*b^(n-1)``; FIBONACCI
    ``i*F(n)``; EXPONENTIAL_WITH_JITTER the exponential delay scaled by a
    random factor in ``[1-jitter_factor, 1+jitter_factor)`` (none when
    ``jitter_enabled`` is false); DECORRELATED_JITTER uniform in
    ``[i, 3*previous)``. AGGRESSIVE/STANDARD/CONSERVATIVE are exponential;
    CUSTOM calls ``custom_backoff(n)``. ``rng`` (a ``random.Random``) makes
    the jitter reproducible.
    """

    def __init__(self, rng: Optional[random.Random] = None) -> None:
        self._random: Callable[[], float] = (rng or random.Random()).random
        self._cache: Dict[Tuple[Any, ...], _native.Backoff] = {}

    def _native_for(self, config: RetryConfig) -> _native.Backoff:
        key = (
            config.strategy,
            config.max_attempts,
            config.initial_delay,
            config.max_delay,
            config.exponential_base,
            config.jitter_enabled,
            config.jitter_factor,
        )
        b = self._cache.get(key)
        if b is None:
            b = self._cache[key] = _backoff(config)
        return b

    def calculate_delay(self, attempt: int, config: RetryConfig, previous: float = 0.0) -> float:
        """The delay after attempt ``attempt`` (any non-negative int; those
        beyond the core's largest attempt get its delay) failed."""
        _check.instance("config", config, RetryConfig)
        if config.strategy == RetryStrategy.CUSTOM:
            _native.attempt_number(attempt)
            return max(0.0, float(_custom_delays(config)(attempt)))
        previous = _check.number("previous", previous)
        return self._native_for(config).delay(attempt, previous, self._random())

    def add_jitter(self, delay: float, jitter_factor: float) -> float:
        """``delay`` scaled by a random factor in ``[1-f, 1+f)``, never
        negative."""
        if not 0.0 <= jitter_factor <= 1.0:
            raise ValueError(f"invalid jitter_factor = {jitter_factor}: must be in [0, 1]")
        return max(0.0, delay * (1.0 + jitter_factor * (2.0 * self._random() - 1.0)))
