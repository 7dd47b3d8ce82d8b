"""The bulkhead: at most so many calls at once, a bounded queue of waiters,
for threads and for asyncio tasks."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import Any, Awaitable, Callable, Optional

from . import _check, _events, _native
from .exceptions import BulkheadFullError
from .interfaces import BulkheadInterface
from .models import BulkheadConfig

__all__ = ["Bulkhead", "BulkheadFullError"]


class Bulkhead(BulkheadInterface):
    """At most ``max_concurrent`` calls at once; up to ``max_queue_size``
    more wait up to ``timeout`` for a slot. Pair each successful
    ``acquire`` with one ``release`` (or use ``with bulkhead:`` /
    ``async with bulkhead:``, which raise ``BulkheadFullError``).

    Waiters are served first come, first served: a ``release`` that finds
    callers waiting hands its slot straight to the oldest one (no newcomer
    can take it in between) and wakes that caller alone, whether it waits
    in ``acquire`` (a thread, without the GIL) or in ``aacquire`` (a task,
    woken on its own event loop), and whichever thread, task or handle
    released the slot. Nothing polls.

    A task cancelled while waiting in ``aacquire`` leaves the queue holding
    no slot (a slot handed to it at that moment goes on to the next
    waiter). Given a ``ManualClock``, deadlines are read from it (a wait
    with a positive timeout then ends only on a release or when the clock
    is advanced past it); ``timeout=0`` gives up at once.
    ``reject_on_full`` and ``pool_name`` are kept for reporting: a full
    bulkhead always refuses.
    """

    def __init__(
        self,
        config: Optional[BulkheadConfig] = None,
        *,
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        c = BulkheadConfig() if config is None else config
        _check.instance("config", c, BulkheadConfig)
        self.config = c
        self.name = c.pool_name
        timeout = _check.non_negative_seconds("timeout", c.timeout)
        self._native = _native.Bulkhead(
            c.max_concurrent, c.max_queue_size, timeout, clock=clock, name=self.name
        )
        self.rejections = 0

    def try_acquire(self) -> bool:
        """Takes a free slot if there is one; never waits."""
        return self._native.try_acquire()

    def acquire(self, timeout: Optional[float] = None) -> bool:
        """Takes a slot, waiting up to ``timeout`` seconds (the configured
        timeout when ``None``). False when full or timed out."""
        if timeout is not None:
            timeout = _check.non_negative_seconds("timeout", timeout)
        ok = self._native.acquire(timeout)
        if not ok:
            self._rejected()
        return ok

    async def aacquire(self, timeout: Optional[float] = None) -> bool:
        """Like ``acquire`` for asyncio: waits without blocking the event
        loop, up to ``timeout`` seconds but never beyond the configured
        timeout. The task sleeps on a future that the release handing it a
        slot resolves (through ``call_soon_threadsafe``, from any thread);
        its deadlines are loop timers (or, on a ``ManualClock``, the clock's
        moves). Cancelled while waiting, it leaves the queue and holds no
        slot."""
        if timeout is not None:
            timeout = _check.non_negative_seconds("timeout", timeout)
        if self._native.try_take():
            return True
        r = self._native.enqueue()
        if isinstance(r, bool):
            if not r:
                self._rejected()
            return r
        waiter = r
        loop = asyncio.get_running_loop()
        give_up_at = None if timeout is None else loop.time() + timeout
        try:
            while True:
                fut: asyncio.Future[None] = loop.create_future()
                got = waiter.poll(partial(loop.call_soon_threadsafe, _set_done, fut))
                if got is None and give_up_at is not None and loop.time() >= give_up_at:
                    waiter.cancel()
                    got = False
                if got is not None:
                    if not got:
                        self._rejected()
                    return got
                # Woken by the hand-over or a cancellation; by a timer at the
                # nearer deadline (the core's, when its clock follows real
                # time; the caller's); on a manual clock, by its moves.
                left = waiter.deadline_timer()
                until = None if left is None else loop.time() + left
                if give_up_at is not None:
                    until = give_up_at if until is None else min(until, give_up_at)
                timer = None if until is None else loop.call_at(until, _set_done, fut)
                try:
                    await fut
                finally:
                    if timer is not None:
                        timer.cancel()
        except BaseException:
            # Cancelled (or anything else) while queued: leave the queue; a
            # slot handed over meanwhile goes on to the next waiter.
            waiter.cancel()
            raise

    def release(self) -> None:
        """Frees a slot taken by ``acquire`` / ``aacquire`` (handing it to
        the oldest waiter, if any); raises ``RuntimeError`` when none is
        taken."""
        if not self._native.release():
            raise RuntimeError("release() without a matching acquire()")

    def get_available_permits(self) -> int:
        return self._native.available_permits()

    def get_queue_size(self) -> int:
        return self._native.queue_size()

    def _rejected(self) -> None:
        """Counts a refused ``acquire`` / ``aacquire`` here and in the
        attached ``ResilienceMetrics``."""
        self.rejections += 1
        _events.bulkhead_rejected(self.name)

    def _full(self) -> BulkheadFullError:
        return BulkheadFullError(f"bulkhead '{self.name}' is full")

    def __enter__(self) -> "Bulkhead":
        if not self.acquire():
            raise self._full()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()

    async def __aenter__(self) -> "Bulkhead":
        if not await self.aacquire():
            raise self._full()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.release()


def _set_done(fut: "asyncio.Future[None]") -> None:
    if not fut.done():
        fut.set_result(None)


# The admission of one call, for `with_resilience` and `Retrier`: written
# out rather than as `with bulkhead:` to spare two Python frames per call on
# the success path. `admit` and `aadmit` differ only in `await`.


def admit(
    call: Callable[..., Any],
    bulkhead: Optional[Bulkhead],
    wait: Optional[Callable[[], Any]] = None,
) -> Callable[..., Any]:
    """``call`` run after ``wait()`` (a rate limiter's ``acquire``) while
    holding one of ``bulkhead``'s slots, raising ``BulkheadFullError`` when
    none is given; ``call`` itself when there is neither."""
    if bulkhead is None and wait is None:
        return call

    def admitted(*args: Any, **kwargs: Any) -> Any:
        if wait is not None:
            wait()
        if bulkhead is None:
            return call(*args, **kwargs)
        if not bulkhead.acquire():
            raise bulkhead._full()
        try:
            return call(*args, **kwargs)
        finally:
            bulkhead.release()

    return admitted


def aadmit(
    call: Callable[..., Awaitable[Any]],
    bulkhead: Optional[Bulkhead],
    wait: Optional[Callable[[], Awaitable[Any]]] = None,
) -> Callable[..., Awaitable[Any]]:
    """``admit`` for coroutine functions: ``await wait()`` (a rate limiter's
    ``aacquire``), then a slot from ``aacquire``."""
    if bulkhead is None and wait is None:
        return call

    async def admitted(*args: Any, **kwargs: Any) -> Any:
        if wait is not None:
            await wait()
        if bulkhead is None:
            return await call(*args, **kwargs)
        if not await bulkhead.aacquire():
            raise bulkhead._full()
        try:
            return await call(*args, **kwargs)
        finally:
            bulkhead.release()

    return admitted
