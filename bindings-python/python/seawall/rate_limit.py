"""The rate limiters (GCRA, computed by the core) and their waits."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Optional, Tuple, Union

from . import _check, _native
from ._time import Seconds, asleep as _asleep, sleep as _sleep
from .exceptions import RateLimitExceededError

__all__ = ["KeyedRateLimiter", "RateLimiter", "RateLimitExceededError"]

Key = Union[str, bytes]


class _Limit:
    """What both limiters keep: their settings as given and how they wait."""

    def __init__(
        self,
        rate: int,
        period: Seconds,
        burst: Optional[int],
        timing: str,
        max_wait: Optional[float],
        sleep: Optional[Callable[[float], Any]],
        asleep: Optional[Callable[[float], Awaitable[Any]]],
    ) -> None:
        _check.optional_callable("sleep", sleep)
        _check.optional_callable("asleep", asleep)
        if max_wait is not None:
            max_wait = _check.non_negative_seconds("max_wait", max_wait)
        self.rate = rate
        self.period = _check.seconds("period", period)
        self.burst = rate if burst is None else burst
        self.timing = timing
        self.max_wait = max_wait
        self._sleep = sleep or _sleep
        self._asleep = asleep or _asleep

    @staticmethod
    def _turn(reserved: Tuple[bool, float]) -> float:
        """The seconds to sleep before the call (its turn taken), or raises
        ``RateLimitExceededError`` when that exceeds ``max_wait``."""
        ok, wait = reserved
        if not ok:
            raise RateLimitExceededError("rate limit exceeded", wait)
        return wait

    # `_wait` and `_await` differ only in `await`; an admitted call costs
    # one native `reserve` (of the key, for the keyed limiter).

    def _wait(self, reserve: Callable[..., Tuple[bool, float]], *key: Key) -> None:
        wait = self._turn(reserve(*key, self.max_wait))
        if wait:
            self._sleep(wait)

    async def _await(self, reserve: Callable[..., Tuple[bool, float]], *key: Key) -> None:
        wait = self._turn(reserve(*key, self.max_wait))
        if wait:
            await self._asleep(wait)


class RateLimiter(_Limit):
    """GCRA: ``rate`` calls per ``period`` seconds on average, bursts of up
    to ``burst`` (default ``rate``). ``check()`` returns 0.0 when a call is
    admitted, else the seconds to wait (a refused call changes nothing).

    ``timing`` is the clock reading decisions are made on: ``"exact"``
    (default) or ``"recent"``, a cheaper reading lagging by up to 1 ms (the
    burst may then be larger by the calls of 1 ms, and waits up to 1 ms
    longer).

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
        timing: str = "exact",
        max_wait: Optional[float] = None,
        clock: Optional[_native.ManualClock] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
        name: str = "default",
    ) -> None:
        super().__init__(rate, period, burst, timing, max_wait, sleep, asleep)
        self.name = _check.name("name", name)
        self._native = _native.RateLimiter(
            rate, self.period, self.burst, timing=timing, clock=clock, name=self.name
        )
        self.check = self._native.check

    def acquire(self) -> None:
        self._wait(self._native.reserve)

    async def aacquire(self) -> None:
        await self._await(self._native.reserve)


class KeyedRateLimiter(_Limit):
    """A ``RateLimiter`` per key (client, tenant, host) in fixed memory:
    ``rate`` calls per ``period`` seconds for each key, bursts of up to
    ``burst`` (default ``rate``), ``timing`` as for ``RateLimiter``.

    A key is a ``str`` (hashed as its UTF-8 bytes) or ``bytes``, so ``"a"``
    and ``b"a"`` are one key, and the C face's byte keys the same. Keys are
    hashed into a table of ``slots`` limiters (rounded up to a power of
    two; ``memory_bytes()`` is fixed at creation, whatever keys are seen):
    keys that share a slot share its allowance, which never lets a key
    exceed its own limit but can make a quiet key wait for a busy one. Size
    the table to a few times the keys busy at once (4096 slots keep 100 busy
    keys 97.6% collision-free).

    ``check(key)`` returns 0.0 when a call for ``key`` is admitted, else the
    seconds to wait (a refused call changes nothing). ``acquire(key)`` /
    ``aacquire(key)`` wait for the key's turn as ``RateLimiter``'s do.
    Admissions and refusals over all keys are reported under ``name`` in
    ``seawall.snapshot()`` and the metrics exporters.
    """

    def __init__(
        self,
        rate: int,
        period: Seconds = 1.0,
        burst: Optional[int] = None,
        *,
        slots: int = 4096,
        timing: str = "exact",
        max_wait: Optional[float] = None,
        clock: Optional[_native.ManualClock] = None,
        sleep: Optional[Callable[[float], Any]] = None,
        asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
        name: str = "default",
    ) -> None:
        super().__init__(rate, period, burst, timing, max_wait, sleep, asleep)
        self.name = _check.name("name", name)
        self._native = _native.KeyedRateLimiter(
            rate, self.period, self.burst, slots=slots, timing=timing, clock=clock,
            name=self.name,
        )
        self.check = self._native.check
        self.slots = self._native.slots
        self.memory_bytes = self._native.memory_bytes

    def acquire(self, key: Key) -> None:
        self._wait(self._native.reserve, key)

    async def aacquire(self, key: Key) -> None:
        await self._await(self._native.reserve, key)
