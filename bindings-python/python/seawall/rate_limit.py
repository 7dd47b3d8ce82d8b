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
    admitted, else the seconds to wait (a refused call changes nothing).

    ``acquire`` / ``aacquire`` reserve the call's turn in the core, which
    decides the wait once: they sleep that long (``time.sleep`` /
    ``asyncio.sleep``) a single time and go ahead, with no second check;
    callers that wait together are spaced by the rate, first come, first
    served. When the wait would exceed ``max_wait`` they raise
    ``RateLimitExceededError`` (its ``retry_after`` the wait) and reserve
    nothing. A turn reserved by a task cancelled during its sleep is spent.
    """

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

    def _reserve(self) -> float:
        """The seconds to sleep before the call (its turn taken), or raises
        ``RateLimitExceededError`` when that exceeds ``max_wait``."""
        ok, wait = self._native.reserve(self.max_wait)
        if not ok:
            raise RateLimitExceededError("rate limit exceeded", wait)
        return wait

    # `acquire` and `aacquire` differ only in `await`; an admitted call
    # costs one native `reserve`.

    def acquire(self) -> None:
        wait = self._reserve()
        if wait:
            self._sleep(wait)

    async def aacquire(self) -> None:
        wait = self._reserve()
        if wait:
            await self._asleep(wait)
