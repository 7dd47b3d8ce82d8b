"""The fleet rate limiter from Python, against a real redis-server each test
starts for itself (the `redis_url` fixture). Every wait has a time limit: a
bound for a slow machine, not a measurement."""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import multiprocessing.queues
import socket
from typing import List

import pytest

import seawall
from seawall import FleetRateLimiter, ManualClock, RateLimitExceededError

from conftest import families_of, wait_for


def test_bad_settings_are_named(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="SEAWALL_REDIS_URL"):
        FleetRateLimiter("api", 10)
    with pytest.raises(ValueError, match="on_store_failure"):
        FleetRateLimiter("api", 10, redis_url=redis_url, on_store_failure="maybe")
    with pytest.raises(ValueError, match="lease_ttl"):
        FleetRateLimiter("api", 10, redis_url=redis_url, lease_ttl=0)
    with pytest.raises(ValueError, match="rate"):
        FleetRateLimiter("api", 0, redis_url=redis_url)
    with pytest.raises(ValueError, match="lease"):
        FleetRateLimiter("api", 10, redis_url=redis_url, lease=-1)
    with pytest.raises(ValueError, match="redis_url"):
        FleetRateLimiter("api", 10, redis_url="http://127.0.0.1/")
    with pytest.raises(ValueError, match="hash tag"):
        FleetRateLimiter("a{b}", 10, redis_url=redis_url)
    with pytest.raises(TypeError, match="namespace"):
        FleetRateLimiter("api", 10, redis_url=redis_url, namespace=3)  # type: ignore[arg-type]


def test_two_limiters_share_one_limit_through_redis(redis_url: str) -> None:
    # Two limiters of one name on a frozen clock: together they admit at
    # most the fleet's burst, plus the tokens leased and not yet used (a
    # lease of 1 each), plus each one's local share (its burst over the live
    # instances: one process, one instance) while no token is leased.
    clock = ManualClock()
    a = FleetRateLimiter("api", 5, 60.0, redis_url=redis_url, lease=1, clock=clock)
    b = FleetRateLimiter("api", 5, 60.0, redis_url=redis_url, lease=1, clock=clock)
    wait_for("a lease", lambda: a.status()["leases"] >= 1 and b.status()["leases"] >= 1)
    admitted = 0
    for _ in range(10):
        for lim in (a, b):
            for _ in range(20):
                if lim.check() == 0.0:
                    admitted += 1
        # Let the coordinator lease and charge what was owed.
        wait_for("another lease", lambda: a.status()["leases"] >= 2)
    # Tokens came from the fleet, and calls admitted on a local share were
    # charged to it.
    assert a.status()["granted"] + b.status()["granted"] >= 1
    wait_for("charged", lambda: a.status()["charged"] + b.status()["charged"] >= 1)
    assert 1 <= admitted <= 5 + 2 + 2 * 5
    refused = a.check()
    assert refused > 0.0
    st = a.status()
    assert st["live_instances"] == 1 and not st["degraded"]
    assert set(st) == {"tokens", "live_instances", "degraded", "leases", "granted", "returned", "charged"}


def test_acquire_waits_on_the_given_sleep_and_gives_up_past_max_wait(redis_url: str) -> None:
    clock = ManualClock()
    slept: List[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock.advance(s)

    lim = FleetRateLimiter(
        "slow", 1, 1.0, redis_url=redis_url, clock=clock, sleep=sleep, on_store_failure="local"
    )
    for _ in range(5):
        lim.acquire()
    assert slept and all(s > 0 for s in slept)
    bounded = FleetRateLimiter(
        "slow", 1, 1.0, redis_url=redis_url, clock=clock, max_wait=0.0, sleep=sleep
    )
    with pytest.raises(RateLimitExceededError) as e:
        for _ in range(50):
            bounded.acquire()
    assert e.value.retry_after is not None and e.value.retry_after > 0

    async def asleep(s: float) -> None:
        sleep(s)

    alim = FleetRateLimiter("aslow", 1, 1.0, redis_url=redis_url, clock=clock, asleep=asleep)

    async def run() -> None:
        for _ in range(3):
            await alim.aacquire()

    asyncio.run(run())


def test_an_unreachable_redis_decides_on_the_local_share_without_blocking() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = ManualClock()
    url = f"redis://127.0.0.1:{port}/"
    local = FleetRateLimiter("down", 3, 60.0, redis_url=url, clock=clock)
    assert local.status()["degraded"]
    assert [local.check() == 0.0 for _ in range(4)] == [True, True, True, False]
    deny = FleetRateLimiter("down", 3, 60.0, redis_url=url, clock=clock, on_store_failure="deny")
    assert deny.check() > 0.0
    allow = FleetRateLimiter("down", 3, 60.0, redis_url=url, clock=clock, on_store_failure="allow")
    assert all(allow.check() == 0.0 for _ in range(100))
    assert isinstance(seawall.FleetRateLimiter, type)


_inherited: List[FleetRateLimiter] = []


def _leasing_child(out: "multiprocessing.queues.Queue[str]") -> None:
    # The inherited limiter leases through the child's own coordinator (the
    # parent's thread did not survive the fork): its counts start afresh.
    import time

    lim = _inherited[0]
    before = lim.status()["leases"]
    lim.check()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if lim.status()["leases"] > before:
            out.put("ok")
            return
        time.sleep(0.01)
    out.put(f"no lease in the child: {lim.status()}")


def test_a_forked_child_leases_through_its_own_coordinator(redis_url: str) -> None:
    lim = FleetRateLimiter("forked", 100, redis_url=redis_url, namespace="fork")
    wait_for("a lease", lambda: lim.status()["leases"] >= 1)
    _inherited[:] = [lim]
    try:
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        child = ctx.Process(target=_leasing_child, args=(out,))
        child.start()
        try:
            assert out.get(timeout=60) == "ok"
            child.join(timeout=30)
            assert child.exitcode == 0
        finally:
            if child.is_alive():
                child.kill()
                child.join()
        assert lim.check() == 0.0
    finally:
        _inherited.clear()


def test_fleet_rate_limiters_are_exported_with_this_instances_counts(redis_url: str) -> None:
    name = "exported-api"
    limiter = FleetRateLimiter(name, 5, 60.0, redis_url=redis_url, lease=1, clock=ManualClock())
    answers = [limiter.check() == 0.0 for _ in range(50)]
    allowed = sum(answers)
    assert 1 <= allowed < 50
    f = families_of(name)
    assert f["seawall_rate_limiter_allowed"][()] == allowed
    assert f["seawall_rate_limiter_denied"][()] == 50 - allowed
    assert seawall.snapshot()["rate_limiters"][name] == {"allowed": allowed, "denied": 50 - allowed}
    del limiter
    gc.collect()
    assert families_of(name) == {}
