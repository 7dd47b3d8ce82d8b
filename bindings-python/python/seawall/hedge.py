"""Hedging for ``async def`` calls: after a delay without an answer, start
another attempt; the first good answer wins and the other attempts are
cancelled.

The decisions are the core's (``seawall._native.Hedge``): the delay (fixed
or a quantile of recent latencies), how many extra attempts, the retry
budget every extra attempt is drawn from, and which attempt won. This module
only runs the attempts as asyncio tasks.

Hedging is for ``async def`` functions only. A sync call running on a thread
cannot be cancelled: the losing attempts would run on to the end, holding
their threads and connections, and every hedge would be load that nobody
waits for. (``with_resilience(timeout=..., sync_timeout="thread")`` offers
sync functions an honest timeout instead.)
"""

from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Dict, Optional, TypeVar, Union

from . import _check, _native
from .budget import RetryBudget
from .models import HedgeConfig, RetryBudgetConfig

__all__ = ["Hedge"]

T = TypeVar("T")


class Hedge:
    """Hedged ``async`` calls under one policy (``HedgeConfig``), shared by
    every call to one dependency: its latencies set the delay, and its
    retry budget (``budget``: a ``RetryBudget`` to share, a
    ``RetryBudgetConfig``, or ``None`` for a ``RetryBudgetConfig()`` of its
    own) grants every extra attempt, so hedges stay a bounded share of the
    requests even when every call is slow.

    ``await hedge.run(lambda: fetch(url))`` runs the attempt factory once at
    once, and again (up to ``max_hedges`` times) each time the delay passes
    without an answer, if the call is idempotent (``idempotent=`` here, else
    the config's) and the budget grants it. The first attempt that returns
    wins; an attempt that raises is waited out while others run, and the
    call raises the last error when all of them failed. The other attempts
    are cancelled, and awaited, before ``run`` returns or raises, and
    likewise when the caller is cancelled.
    """

    def __init__(
        self,
        config: Optional[HedgeConfig] = None,
        *,
        name: str = "default",
        budget: Union[None, RetryBudget, RetryBudgetConfig] = None,
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        c = HedgeConfig() if config is None else _check.instance("config", config, HedgeConfig)
        if isinstance(budget, RetryBudgetConfig) or budget is None:
            budget = RetryBudget(budget, name="hedge", clock=clock)
        self.config = c
        self.name = _check.name("name", name)
        self.budget: RetryBudget = _check.instance(
            "budget", budget, RetryBudget, "a RetryBudget or a RetryBudgetConfig"
        )
        self._native = _native.Hedge(
            c.max_hedges,
            c.delay,
            c.quantile,
            c.min_delay,
            c.max_delay,
            c.window,
            c.min_samples,
            name=self.name,
            budget=self.budget._native,
            clock=clock,
        )

    def delay(self) -> float:
        """The delay, in seconds, before a call starting now would hedge."""
        return self._native.delay()

    def metrics(self) -> Dict[str, int]:
        """``{"calls", "hedges", "refused", "wins"}``: calls started, extra
        attempts started, extra attempts the budget refused (not started),
        calls won by an extra attempt (as in ``seawall.snapshot()``)."""
        return self._native.metrics()

    async def run(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        idempotent: Optional[bool] = None,
    ) -> T:
        """Runs ``attempt()`` (a coroutine function of no arguments, or any
        callable returning an awaitable), hedged; see the class docs."""
        hedged = self.config.idempotent if idempotent is None else _check.boolean(
            "idempotent", idempotent
        )
        return await self._run(attempt, hedged, True)

    async def _run(
        self, attempt: Callable[[], Awaitable[T]], idempotent: bool, record_first: bool
    ) -> T:
        """``run``; ``record_first``: count the first attempt in the budget
        (``with_resilience`` does not when its retry layer shares the
        budget and counted the call already)."""
        call = self._native.start(idempotent, record_first)
        tasks: Dict["asyncio.Future[T]", int] = {asyncio.ensure_future(attempt()): 0}
        error: Optional[BaseException] = None
        try:
            while tasks:
                done, _ = await asyncio.wait(
                    tasks, timeout=call.next_delay(), return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    n = call.may_hedge()
                    if isinstance(n, int):
                        tasks[asyncio.ensure_future(attempt())] = n
                    continue
                for task in done:
                    number = tasks.pop(task)
                    if task.cancelled():
                        error = asyncio.CancelledError()
                    else:
                        error = task.exception()
                    verdict = call.record(number, error is None)
                    if verdict == "won":
                        return task.result()
                    if verdict == "failed":
                        assert error is not None
                        raise error
            # Every attempt ended without a winner (only reachable if the
            # state machine and the tasks disagree): the last error.
            assert error is not None
            raise error
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    def __repr__(self) -> str:
        return f"Hedge({self.config!r})"
