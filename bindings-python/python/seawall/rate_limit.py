"""The rate limiter (GCRA, computed by the core) and its waits."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional

from . import _check, _native
from ._time import Seconds, asleep as _asleep, sleep as _sleep
from .exceptions import RateLimitExceededError

__all__ = ["RateLimiter", "RateLimitExceededError"]


class RateLimiter:
    """GCRA: ``rate`` calls per ``period`` seconds on average, bursts of up
    to ``burst`` (default ``rate``). ``check()`` returns 0.0 when a call is
    admitted, else the seconds to wait. ``acquire`` / ``aacquire`` wait
    that long (``time.sleep`` / ``asyncio.sleep``) and try again; when the
    wait exceeds ``max_wait`` they raise ``RateLimitExceededError``."""

    def __init__(
        self,
        rate: int,
        period: Seconds = 1.0,
        burst: Optional[int] = None,
        *,
        max_wait: Optional[float] = None,
        clock: Optional[_native.ManualClock] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
    ) -> None:
        _check.optional_callable("sleep", sleep)
        _check.optional_callable("asleep", asleep)
        if max_wait is not None:
            max_wait = _check.non_negative_seconds("max_wait", max_wait)
        self.rate = rate
        self.period = _check.seconds("period", period)
        self.burst = rate if burst is None else burst
        self.max_wait = max_wait
        self._native = _native.RateLimiter(rate, self.period, self.burst, clock=clock)
        self.check = self._native.check
        self._sleep = sleep or _sleep
        self._asleep = asleep or _asleep

    def _allowed(self, wait: float) -> float:
        """``wait``, or raises ``RateLimitExceededError`` when it exceeds
        ``max_wait``."""
        if self.max_wait is not None and wait > self.max_wait:
            raise RateLimitExceededError("rate limit exceeded", wait)
        return wait

    # `acquire` and `aacquire` differ only in `await`; an admitted call
    # costs one native `check`.

    def acquire(self) -> None:
        wait = self._native.check()
        while wait:
            self._sleep(self._allowed(wait))
            wait = self._native.check()

    async def aacquire(self) -> None:
        wait = self._native.check()
        while wait:
            await self._asleep(self._allowed(wait))
            wait = self._native.check()
