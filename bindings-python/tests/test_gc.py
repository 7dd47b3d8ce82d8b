"""Python objects held by native objects are visible to the garbage
collector: a breaker whose callbacks, listeners, predicates or decorated
functions refer back to it is freed by ``gc.collect()``."""

from __future__ import annotations

import asyncio
import gc
import weakref
from datetime import timedelta
from typing import Any, Callable, List

import pytest

import seawall
from seawall import CircuitBreakerConfig, UnifiedCircuitBreaker

from conftest import Boom


def _collected(build: Callable[[], Any]) -> bool:
    """Builds an object graph, drops it, and says whether the object that
    `build` returned was freed by a collection."""
    ref = weakref.ref(build())
    gc.collect()
    return ref() is None


def _on_open_cycle() -> UnifiedCircuitBreaker:
    log: List[Any] = []
    holder: List[UnifiedCircuitBreaker] = []
    b = UnifiedCircuitBreaker(
        "cycle",
        CircuitBreakerConfig(on_open=lambda: log.append(holder[0].get_metrics())),
    )
    holder.append(b)
    return b


def _listener_cycle() -> UnifiedCircuitBreaker:
    b = UnifiedCircuitBreaker("cycle")
    b.add_listener(lambda name, old, new: b.get_metrics())
    return b


def _predicate_cycle() -> UnifiedCircuitBreaker:
    holder: List[UnifiedCircuitBreaker] = []
    b = UnifiedCircuitBreaker(
        "cycle",
        CircuitBreakerConfig(
            failure_predicate=lambda e: holder[0].is_closed(),
            result_predicate=lambda v: holder[0].is_open(),
        ),
    )
    holder.append(b)
    return b


def _decorated_cycle() -> Any:
    # The breaker's callback refers to the decorated function, which holds
    # the breaker: breaker -> callback -> function -> breaker.
    holder: List[Any] = []
    b = UnifiedCircuitBreaker("cycle", CircuitBreakerConfig(on_close=lambda: holder[0]))

    @b
    def f() -> int:
        return 1

    holder.append(f)
    del b
    return f


def _async_decorated_cycle() -> Any:
    holder: List[Any] = []
    b = UnifiedCircuitBreaker("cycle", CircuitBreakerConfig(on_close=lambda: holder[0]))

    @b
    async def f() -> int:
        return 1

    # An awaitable created and never awaited, kept by the callback too.
    holder.append((f, f()))
    del b
    return f


def _resilient_cycle() -> Any:
    # A with_resilience function whose fallback refers to the function:
    # function -> its first-attempt layer -> the fallback -> function; an
    # awaitable started and left mid-call holds the layer and the arguments.
    holder: List[Any] = []
    reg = seawall.Registry()

    @seawall.with_resilience("network", "cycle", registry=reg,
                             fallback=lambda *a: holder[0])
    async def f(x: Any) -> Any:
        await asyncio.sleep(0)
        return x

    started = f(holder)
    started.send(None)
    holder.append((f, started))
    return f


def _permit_cycle() -> UnifiedCircuitBreaker:
    b = UnifiedCircuitBreaker("cycle", CircuitBreakerConfig(on_open=lambda: permits))
    permits = [b.acquire()]
    return b


def _registry_cycle() -> Any:
    reg = seawall.Registry()
    reg.get_or_create("cycle", CircuitBreakerConfig(on_open=lambda: reg.names()))
    return reg


@pytest.mark.parametrize(
    "build",
    [
        _on_open_cycle,
        _listener_cycle,
        _predicate_cycle,
        _decorated_cycle,
        _async_decorated_cycle,
        _resilient_cycle,
        _permit_cycle,
        _registry_cycle,
    ],
)
def test_self_referencing_objects_are_collected(build: Callable[[], Any]) -> None:
    assert _collected(build)


def test_a_collected_breaker_leaves_no_trial_slot_taken() -> None:
    # A permit caught in a cycle with its breaker is released when collected.
    b = UnifiedCircuitBreaker("t", CircuitBreakerConfig(on_open=lambda: b))
    p = b.acquire()
    r = weakref.ref(b)
    del b, p
    gc.collect()
    assert r() is None


def test_callbacks_still_run_while_the_breaker_is_alive() -> None:
    seen: List[str] = []
    b = UnifiedCircuitBreaker(
        "t", CircuitBreakerConfig(failure_threshold=1, on_open=lambda: seen.append("open"))
    )
    b.add_listener(lambda n, o, s: seen.append(s.value))
    gc.collect()
    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    assert seen == ["open", "open"]


def test_native_objects_show_what_they_hold() -> None:
    cfg = CircuitBreakerConfig()
    b = UnifiedCircuitBreaker("t", cfg)
    listener = lambda n, o, s: None  # noqa: E731
    b.add_listener(listener)
    held = gc.get_referents(b)
    assert cfg in held and listener in held

    async def work(x: int) -> int:
        return x

    fb = lambda: 0  # noqa: E731
    call = b.acall(work, fallback=fb)
    assert work in gc.get_referents(call) and fb in gc.get_referents(call)
    call.close()
    g = b._wrap(work, True)
    assert work in gc.get_referents(g) and b in gc.get_referents(g)
    p = b.acquire()
    assert b in gc.get_referents(p)
    p.ignore()


def test_memory_is_flat_for_self_referencing_breakers() -> None:
    """100,000 breakers, each referred to by its own on_open callback or
    listener, created and dropped in batches: after a warm-up batch neither
    the number of live Python objects nor the process's resident memory
    grows. (Before the breakers showed what they hold to the collector,
    every one of them leaked: about 1.4 KB of Python objects plus the native
    breaker each, over 120 MB here.)"""

    def batch(n: int) -> None:
        for _ in range(n):
            _on_open_cycle()
            _listener_cycle()
        gc.collect()

    batch(5_000)  # warm-up: caches, freelists, allocator arenas
    objects0, rss0 = len(gc.get_objects()), _rss()
    for _ in range(9):
        batch(5_000)
    # 90,000 more breakers: a leak of one object each would show as 90,000.
    assert len(gc.get_objects()) - objects0 < 1_000
    # ... and of the native side (about 1 KiB a breaker): 90 MB.
    assert _rss() - rss0 < 16 * 2**20


def _rss() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096
    except OSError:  # not Linux: the object count still applies
        return 0


def test_awaitables_reused_from_the_freelist_are_tracked() -> None:
    # The awaitable objects are recycled; a recycled one must still be seen
    # by the collector, or the cycles through it leak.
    b = UnifiedCircuitBreaker("t")

    async def work() -> int:
        return 1

    f = b(work)
    for _ in range(3):
        calls = [b.acall(work) for _ in range(100)] + [f() for _ in range(100)]
        assert all(gc.is_tracked(c) for c in calls)
        for c in calls:
            c.close()
        del calls
    assert _collected(_async_decorated_cycle)
