"""The keyed breaker on the manual clock: a breaker per key made from one
configuration, the bound on live keys (``KeyedBreakerFullError`` when none
is idle), eviction of idle keys only (never an OPEN one, never one with a
permit outstanding), totals that keep evicted keys, threads racing on more
keys than fit, and the errors for bad settings and bad keys."""

from __future__ import annotations

import gc
import threading

import pytest

from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    CircuitState,
    KeyedBreaker,
    KeyedBreakerFullError,
    ManualClock,
)


def family(max_keys: int = 2, idle: float = 30.0) -> tuple[KeyedBreaker, ManualClock]:
    clock = ManualClock()
    config = CircuitBreakerConfig(failure_threshold=1, timeout=60.0)
    return KeyedBreaker(config, max_keys=max_keys, idle_timeout=idle, prefix="http:", clock=clock), clock


def test_a_breaker_per_key_made_from_the_shared_config() -> None:
    kb, clock = family(8)
    assert kb.clock is clock
    kb.acquire("a:443").success()
    kb.acquire(b"a:443").success()  # the same key as bytes
    kb.acquire("b:443").failure()
    assert len(kb) == 2
    assert kb.state("a:443") is CircuitState.CLOSED
    assert kb.state("b:443") is CircuitState.OPEN
    assert kb.state("c:443") is None  # reading makes no breaker
    with pytest.raises(CircuitBreakerOpenError) as e:
        kb.acquire("b:443")
    assert e.value.name == "http:b:443"
    assert e.value.state is CircuitState.OPEN
    assert e.value.retry_after == 60.0
    m = kb.metrics("a:443")
    assert m is not None and m["successes"] == 2
    assert [n for n, _ in kb.snapshot()] == ["http:a:443", "http:b:443"]
    assert sorted(kb.keys()) == [b"a:443", b"b:443"]
    t = kb.totals()
    assert (t["permitted"], t["successes"], t["failures"], t["rejected"], t["created"]) == (
        3, 2, 1, 1, 2,
    )


def test_full_when_no_key_is_idle_then_idle_keys_make_room() -> None:
    kb, clock = family(2, idle=30.0)
    kb.acquire("down").failure()  # OPEN for 60 s
    held = kb.acquire("busy")
    clock.advance(30.0)
    with pytest.raises(KeyedBreakerFullError) as e:
        kb.acquire("new")
    assert isinstance(e.value, CircuitBreakerOpenError)
    assert e.value.name == "http:new" and e.value.max_keys == 2 and e.value.retry_after is None
    held.success()
    # "busy" was last acquired 30 s ago and has nothing in flight: idle.
    kb.acquire("new").success()
    assert kb.state("busy") is None
    assert kb.state("down") is CircuitState.OPEN  # never evicted while OPEN
    clock.advance(30.0)  # "down"'s open time is over
    assert kb.evict_idle() == 2
    # The next call of an evicted key gets a fresh CLOSED breaker.
    kb.acquire("down").success()
    assert kb.state("down") is CircuitState.CLOSED
    t = kb.totals()
    assert (t["full"], t["created"], t["evicted"], t["keys"]) == (1, 4, 3, 1)
    assert t["permitted"] == t["successes"] + t["failures"] + t["ignored"] == 4


def test_a_permit_reports_once_and_a_dropped_one_is_ignored() -> None:
    kb, clock = family(4, idle=0.0)
    p = kb.acquire("k")
    assert p.pending
    p.success()
    assert not p.pending
    with pytest.raises(RuntimeError, match="already reported"):
        p.failure()
    p = kb.acquire("k")
    clock.advance(1.0)
    assert kb.evict_idle() == 0  # a permit is outstanding
    del p
    gc.collect()
    assert kb.totals()["ignored"] == 1
    assert kb.evict_idle() == 1


def test_call_counts_exceptions_as_failures() -> None:
    kb, _ = family(4)
    assert kb.call("k", lambda x: x + 1, 1) == 2
    # Keywords reach the function, even ones named like call's own.
    assert kb.call("k", lambda key, func: (key, func), key=1, func=2) == (1, 2)

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        kb.call("k", interrupted)
    assert kb.state("k") is CircuitState.CLOSED  # neither success nor failure

    def boom() -> None:
        raise OSError("down")

    with pytest.raises(OSError):
        kb.call("k", boom)
    assert kb.state("k") is CircuitState.OPEN
    ran = []
    with pytest.raises(CircuitBreakerOpenError) as e:
        kb.call("k", ran.append, 1)
    assert ran == [] and e.value.name == "http:k"
    t = kb.totals()
    assert (t["successes"], t["failures"], t["ignored"], t["rejected"]) == (2, 1, 1, 1)
    assert kb.reset("k") and kb.state("k") is CircuitState.CLOSED
    assert not kb.reset("other")


def test_call_of_a_new_key_in_a_full_family_raises_full_without_running() -> None:
    kb, _ = family(1)
    held = kb.acquire("busy")
    ran = []
    with pytest.raises(KeyedBreakerFullError) as e:
        kb.call("new", ran.append, 1)
    assert ran == []
    assert (e.value.name, e.value.max_keys, e.value.retry_after) == ("http:new", 1, None)
    assert str(e.value) == "Keyed breaker 'http:' is full: 1 keys alive, none idle"
    held.success()


def test_threads_lose_no_outcome() -> None:
    kb = KeyedBreaker(
        CircuitBreakerConfig(failure_threshold=1_000_000), max_keys=8, idle_timeout=0.0
    )
    counts = []

    def work(seed: int) -> None:
        ok = full = 0
        for i in range(3000):
            key = f"k{(seed * 7919 + i * 31) % 16}"
            try:
                p = kb.acquire(key)
            except KeyedBreakerFullError:
                full += 1
                continue
            ok += 1
            p.success() if i % 2 else p.failure()
            if i % 8 == 0:
                kb.evict_idle()
        counts.append((ok, full))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = sum(c[0] for c in counts)
    full = sum(c[1] for c in counts)
    t = kb.totals()
    assert ok + full == 4 * 3000
    assert (t["permitted"], t["full"]) == (ok, full)
    assert t["successes"] + t["failures"] == ok
    assert t["keys"] <= 8 and t["created"] - t["evicted"] == t["keys"]


def test_bad_settings_and_keys_name_the_field() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        KeyedBreaker(max_keys=0)
    with pytest.raises(ValueError, match="max_keys"):
        KeyedBreaker(max_keys=2**40)
    with pytest.raises(ValueError, match="idle_timeout"):
        KeyedBreaker(idle_timeout=-1.0)
    with pytest.raises(ValueError, match="failure_threshold"):
        KeyedBreaker(CircuitBreakerConfig(failure_threshold=0))
    kb = KeyedBreaker()
    assert (kb.max_keys, kb.idle_timeout, kb.prefix, kb.clock) == (1024, 300.0, "", None)
    with pytest.raises(TypeError, match="key must be a str or bytes"):
        kb.acquire(1)  # type: ignore[arg-type]
