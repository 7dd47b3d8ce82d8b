"""The retry budget: retries limited to a share of recent requests, shared by
every caller holding it."""

from __future__ import annotations

from typing import Optional, Tuple

from . import _check, _native
from ._time import secs
from .interfaces import RetryBudgetInterface
from .models import RetryBudgetConfig

__all__ = ["RetryBudget"]


class RetryBudget(RetryBudgetInterface):
    """Retries limited to ``budget_percent`` of the requests of the last
    ``window_size`` (not enforced below ``min_requests``), with a token
    bucket floor (``tokens_per_second``, up to ``max_tokens``). Lock-free,
    shared by every caller holding it. Ask ``can_retry()`` before each
    retry: a granted retry is counted by it; count first attempts with
    ``record_attempt(False)``."""

    def __init__(
        self,
        config: Optional[RetryBudgetConfig] = None,
        *,
        name: str = "default",
        clock: Optional[_native.ManualClock] = None,
    ) -> None:
        c = RetryBudgetConfig() if config is None else config
        _check.instance("config", c, RetryBudgetConfig)
        self.config = c
        self.name = _check.name("name", name)
        self._native = _native.RetryBudget(
            float(c.budget_percent),
            c.min_requests,
            secs(c.window_size),
            float(c.tokens_per_second),
            c.max_tokens,
            clock=clock,
            name=self.name,
        )
        self.record_attempt = self._native.record_attempt  # type: ignore[method-assign]
        self.can_retry = self._native.can_retry  # type: ignore[method-assign]

    def can_retry(self) -> bool:
        return self._native.can_retry()

    def record_attempt(self, is_retry: bool) -> None:
        self._native.record_attempt(is_retry)

    def get_remaining_budget_percent(self) -> float:
        return self._native.remaining_percent()

    def counts(self) -> Tuple[int, int]:
        """``(requests, retries)`` counted in the window."""
        return self._native.counts()

    def tokens(self) -> int:
        """The tokens in the bucket now: the retries it would grant below
        ``min_requests``."""
        return self._native.tokens()

    def reset(self) -> None:
        self._native.reset()
