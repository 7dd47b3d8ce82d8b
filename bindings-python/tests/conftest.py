"""Shared helpers for the seawall test suite."""

from __future__ import annotations

import random
import shutil
import time
from datetime import timedelta
from typing import Any, Awaitable, Callable, Dict, Iterator, List, Optional, Tuple

import pytest
from hypothesis import HealthCheck, settings

import http_server
import redis_server
import seawall
from seawall import CircuitBreakerConfig, ManualClock, UnifiedCircuitBreaker, _native

# Property tests: CI-sized and reproducible by default (a fixed seed, so a
# red run is red again on any machine); the deep profile draws new values
# each run. `--hypothesis-profile` on the command line selects another.
_PROFILE = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("seawall-ci", max_examples=25, derandomize=True, **_PROFILE)
settings.register_profile("seawall-deep", max_examples=3000, **_PROFILE)
settings.load_profile("seawall-ci")


class Boom(Exception):
    """A tracked failure."""


def boom() -> None:
    raise Boom("down")


def ok() -> str:
    return "ok"


def fail(cb: Any, times: int, exc: Callable[[], BaseException] = lambda: Boom("down")) -> None:
    """Makes `times` calls through `cb` that raise `exc()`."""

    def raiser() -> None:
        raise exc()

    for _ in range(times):
        with pytest.raises(BaseException):
            cb.call(raiser)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def make(clock: ManualClock) -> Callable[..., UnifiedCircuitBreaker]:
    """Builds a breaker on the manual clock: make(name="t", **config)."""

    def build(name: str = "t", **config: Any) -> UnifiedCircuitBreaker:
        config.setdefault("failure_threshold", 3)
        config.setdefault("success_threshold", 2)
        config.setdefault("timeout", timedelta(seconds=10))
        return UnifiedCircuitBreaker(name, CircuitBreakerConfig(**config), clock=clock)

    return build


@pytest.fixture
def registry(clock: ManualClock) -> seawall.Registry:
    return seawall.Registry(clock=clock)


class Fixed(random.Random):
    """A random source that always returns `u`."""

    def __init__(self, u: float) -> None:
        super().__init__(0)
        self.u = u

    def random(self) -> float:
        return self.u


class Sleeps:
    """Records sleeps (sync and async) and optionally advances a clock."""

    def __init__(self, clock: ManualClock | None = None) -> None:
        self.slept: List[float] = []
        self.clock = clock

    def __call__(self, d: float) -> None:
        self.slept.append(d)
        if self.clock is not None:
            self.clock.advance(d)

    async def a(self, d: float) -> None:
        self(d)


@pytest.fixture
def redis_url() -> Iterator[str]:
    """The URL of a redis-server of this test's own (see `redis_server`),
    killed at teardown. A machine without redis-server fails the test
    (install it with `apt-get install redis-server`; scripts/test-python.sh
    does)."""
    try:
        with redis_server.running() as url:
            yield url
    except redis_server.Missing as e:
        pytest.fail(str(e))


def require_tool(name: str) -> str:
    """The path of the Debian `prometheus` package's tool `name`; fails the
    test (never skips it) with how to install it when it is missing."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install it with `apt-get install -y prometheus` "
            "(scripts/ensure-promtool.sh does)"
        )
    return path


def wait_for(what: str, cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Waits for `cond()`, failing after `timeout` seconds (a bound for a
    slow machine, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for: {what}"
        time.sleep(0.005)


Labels = Tuple[Tuple[str, str], ...]


def families_of(name: str) -> Dict[str, Dict[Labels, float]]:
    """``{family: {other labels: value}}`` of the engines called ``name``,
    from ``_native.metric_families()``."""
    out: Dict[str, Dict[Labels, float]] = {}
    for family, _help, _kind, label_names, samples in _native.metric_families():
        assert label_names[0] == "name"
        for values, value in samples:
            if values[0] == name:
                rest = tuple(zip(label_names[1:], values[1:]))
                out.setdefault(family, {})[rest] = value
    return out


@pytest.fixture
def server() -> Iterator[http_server.Server]:
    """A scripted HTTP server on loopback (see `http_server`)."""
    s = http_server.Server()
    yield s
    s.stop()


@pytest.fixture
def other() -> Iterator[http_server.Server]:
    """A second one: another host to the clients."""
    s = http_server.Server()
    yield s
    s.stop()


def flaky_fetch_user(calls: List[int]) -> Callable[..., Awaitable[Dict[str, int]]]:
    """A `_fetch_user(self, user_id)` for the guide's `UserServiceClient`:
    records each user id in `calls` and fails the first call with a
    `ConnectionError`."""

    async def fetch_user(self: Any, user_id: int) -> Dict[str, int]:
        calls.append(user_id)
        if len(calls) == 1:
            raise ConnectionError("flaky")
        return {"id": user_id}

    return fetch_user
