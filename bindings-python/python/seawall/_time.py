"""Durations and waits shared by the retry, rate-limit and composition
modules."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Awaitable, Union

Seconds = Union[timedelta, float, int]


def sleep(seconds: float) -> None:
    """``time.sleep`` looked up per call (so it can be patched)."""
    time.sleep(seconds)


def asleep(seconds: float) -> Awaitable[None]:
    """``asyncio.sleep`` looked up per call (so it can be patched)."""
    return asyncio.sleep(seconds)


def secs(v: Seconds) -> float:
    return v.total_seconds() if isinstance(v, timedelta) else float(v)
