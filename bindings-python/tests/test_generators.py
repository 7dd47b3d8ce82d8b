"""Decorated generator and async generator functions are protected for the
whole iteration: the permit is taken when iteration starts, held while the
consumer iterates, and the outcome is recorded when the generator finishes
(success), raises (classified like any exception), or is closed early
(neutral)."""

from __future__ import annotations

import asyncio
import inspect
from datetime import timedelta
from typing import Any, AsyncIterator, Callable, Iterator, List

import pytest

import seawall
from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    ManualClock,
    RetryConfig,
    RetryError,
    RetryStrategy,
    UnifiedCircuitBreaker,
    with_circuit_breaker,
    with_resilience,
)

from conftest import Boom


def _breaker(clock: ManualClock, **kw: Any) -> UnifiedCircuitBreaker:
    kw.setdefault("failure_threshold", 2)
    return UnifiedCircuitBreaker("g", CircuitBreakerConfig(**kw), clock=clock)


DECORATORS = {
    "breaker": lambda b: b,
    "with_circuit_breaker": lambda b: with_circuit_breaker(
        b.name, registry=_registry_holding(b)
    ),
    "with_resilience": lambda b: with_resilience(
        None, b.name, registry=_registry_holding(b)
    ),
}


class _Reg(seawall.Registry):
    def __init__(self, b: UnifiedCircuitBreaker) -> None:
        super().__init__()
        self._breakers[b.name] = b


def _registry_holding(b: UnifiedCircuitBreaker) -> seawall.Registry:
    return _Reg(b)


@pytest.fixture(params=list(DECORATORS))
def protect(request: Any) -> Callable[[UnifiedCircuitBreaker], Any]:
    return DECORATORS[request.param]  # type: ignore[no-any-return]


def test_sync_generator_success_is_recorded_at_the_end(
    clock: ManualClock, protect: Callable[[UnifiedCircuitBreaker], Any]
) -> None:
    b = _breaker(clock)

    @protect(b)
    def gen(n: int) -> Iterator[int]:
        yield from range(n)
        return None

    assert inspect.isgeneratorfunction(gen)
    it = gen(3)
    assert b.metrics()["permitted"] == 0  # nothing until iteration starts
    assert next(it) == 0
    m = b.metrics()
    assert (m["permitted"], m["successes"]) == (1, 0)  # held while iterating
    assert list(it) == [1, 2]
    assert b.metrics()["successes"] == 1


def test_sync_generator_failures_while_iterating_count(
    clock: ManualClock, protect: Callable[[UnifiedCircuitBreaker], Any]
) -> None:
    b = _breaker(clock)

    @protect(b)
    def gen() -> Iterator[int]:
        yield 1
        raise Boom()

    for _ in range(2):
        with pytest.raises(Boom):
            list(gen())
    assert b.is_open()
    with pytest.raises(CircuitBreakerOpenError):
        next(gen())


def test_sync_generator_closed_early_is_neutral(
    clock: ManualClock, protect: Callable[[UnifiedCircuitBreaker], Any]
) -> None:
    b = _breaker(clock)

    @protect(b)
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    it = gen()
    next(it)
    it.close()
    m = b.metrics()
    assert (m["successes"], m["failures"], m["ignored"]) == (0, 0, 1)


def test_sync_generator_send_and_throw_are_forwarded(
    clock: ManualClock, protect: Callable[[UnifiedCircuitBreaker], Any]
) -> None:
    b = _breaker(clock)
    seen: List[Any] = []

    @protect(b)
    def gen() -> Any:
        try:
            x = yield 1
            seen.append(x)
            yield 2
        except KeyError:
            yield "caught"
        return "done"

    it = gen()
    assert next(it) == 1
    assert it.send("hi") == 2
    assert it.throw(KeyError()) == "caught"
    with pytest.raises(StopIteration) as stop:
        next(it)
    assert stop.value.value == "done"
    assert seen == ["hi"]
    assert b.metrics()["successes"] == 1


def test_async_generator_is_protected(
    clock: ManualClock, protect: Callable[[UnifiedCircuitBreaker], Any]
) -> None:
    b = _breaker(clock)

    @protect(b)
    async def agen(fail: bool) -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(0)
        if fail:
            raise Boom()
        yield 2

    assert inspect.isasyncgenfunction(agen)

    async def main() -> None:
        assert [x async for x in agen(False)] == [1, 2]
        assert b.metrics()["successes"] == 1
        it = agen(True)
        assert await it.__anext__() == 1
        assert b.metrics()["permitted"] == 2
        with pytest.raises(Boom):
            await it.__anext__()
        with pytest.raises(Boom):
            [x async for x in agen(True)]
        assert b.is_open()
        with pytest.raises(CircuitBreakerOpenError):
            await agen(False).__anext__()
        b.reset()
        it = agen(False)
        await it.__anext__()
        await it.aclose()
        assert b.metrics()["ignored"] == 1

    asyncio.run(main())


def _asend_athrow(decorate: Callable[[Any], Any]) -> Any:
    """Decorates an async generator that echoes what it is sent and catches
    a thrown ``KeyError``, drives it with ``asend``/``athrow`` to the end,
    and returns the decorated function."""

    @decorate
    async def agen() -> Any:
        try:
            x = yield 1
            yield x
        except KeyError:
            yield "caught"

    async def main() -> None:
        it = agen()
        assert await it.asend(None) == 1
        assert await it.asend("v") == "v"
        assert await it.athrow(KeyError()) == "caught"
        with pytest.raises(StopAsyncIteration):
            await it.__anext__()

    asyncio.run(main())
    return agen


def test_async_generator_asend_athrow(clock: ManualClock) -> None:
    b = _breaker(clock)
    _asend_athrow(b)
    assert b.metrics()["successes"] == 1


def test_half_open_trial_slot_is_held_while_streaming(clock: ManualClock) -> None:
    b = _breaker(clock, failure_threshold=1, success_threshold=1, timeout=timedelta(seconds=5))

    @b
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    with pytest.raises(Boom):
        b.call(lambda: (_ for _ in ()).throw(Boom()))
    clock.advance(5)
    it = gen()
    next(it)
    assert b.is_half_open()
    with pytest.raises(CircuitBreakerOpenError):  # the one trial slot is taken
        next(gen())
    list(it)
    assert b.is_closed()


def test_with_resilience_retries_a_generator_that_fails_before_its_first_item() -> None:
    attempts: List[int] = []
    slept: List[float] = []
    cfg = RetryConfig(
        strategy=RetryStrategy.FIXED,
        max_attempts=3,
        initial_delay=0.5,
        retryable_exceptions=[ConnectionError],
        retry_budget_enabled=False,
    )

    @with_resilience(cfg, sleep=slept.append)
    def gen() -> Iterator[int]:
        attempts.append(1)
        if len(attempts) < 3:
            raise ConnectionError()
        yield 1
        yield 2

    assert list(gen()) == [1, 2]
    assert len(attempts) == 3 and slept == [0.5, 0.5]

    # Once an item has been delivered, a failure is not retried.
    calls: List[int] = []

    @with_resilience(cfg, sleep=slept.append)
    def late() -> Iterator[int]:
        calls.append(1)
        yield 1
        raise ConnectionError()

    it = late()
    assert next(it) == 1
    with pytest.raises(ConnectionError):
        next(it)
    assert calls == [1]

    @with_resilience(cfg, sleep=slept.append)
    def never() -> Iterator[int]:
        raise ConnectionError()
        yield 1

    with pytest.raises(RetryError):
        list(never())


def test_with_resilience_async_generator_retries_and_falls_back() -> None:
    attempts: List[int] = []
    cfg = RetryConfig(
        strategy=RetryStrategy.FIXED,
        max_attempts=2,
        initial_delay=0.0,
        retryable_exceptions=[ConnectionError],
        retry_budget_enabled=False,
    )

    async def no_wait(s: float) -> None:
        pass

    async def fb() -> AsyncIterator[str]:
        yield "fallback"

    @with_resilience(cfg, asleep=no_wait, fallback=lambda: fb())
    async def agen() -> AsyncIterator[str]:
        attempts.append(1)
        raise ConnectionError()
        yield "x"

    async def main() -> List[str]:
        return [x async for x in agen()]

    assert asyncio.run(main()) == ["fallback"]
    assert len(attempts) == 2


def test_bulkhead_slot_is_held_while_streaming() -> None:
    bh = seawall.Bulkhead(seawall.BulkheadConfig(max_concurrent=1, max_queue_size=0, timeout=timedelta(0)))

    @with_resilience(bulkhead=bh)
    def gen() -> Iterator[int]:
        yield 1
        yield 2

    it = gen()
    next(it)
    assert bh.get_available_permits() == 0
    with pytest.raises(seawall.BulkheadFullError):
        next(gen())
    list(it)
    assert bh.get_available_permits() == 1


def test_timeout_applies_to_each_item_of_an_async_generator() -> None:
    @with_resilience(timeout=0.05)
    async def agen() -> AsyncIterator[int]:
        yield 1
        await asyncio.sleep(1)
        yield 2

    async def main() -> None:
        it = agen()
        assert await it.__anext__() == 1
        with pytest.raises(asyncio.TimeoutError):
            await it.__anext__()

    asyncio.run(main())


def test_generator_methods_and_partials(clock: ManualClock) -> None:
    import functools

    b = _breaker(clock)

    class Client:
        def __init__(self) -> None:
            self.items = [1, 2]

        @b
        def stream(self) -> Iterator[int]:
            yield from self.items

        @b
        async def astream(self) -> AsyncIterator[int]:
            for i in self.items:
                yield i

    c = Client()
    assert list(c.stream()) == [1, 2]

    async def main() -> List[int]:
        return [x async for x in c.astream()]

    assert asyncio.run(main()) == [1, 2]

    def numbers(n: int) -> Iterator[int]:
        yield from range(n)

    assert list(b(functools.partial(numbers, 3))()) == [0, 1, 2]
    assert b.metrics()["successes"] == 3


# ------------------------------ async generators through every with_resilience layer
#
# Bulkhead (one slot, no queue, no wait), timeout, retries and optionally a
# breaker around one async generator function: however a stream ends, its
# bulkhead slot is free again and its permit has an outcome.

_RETRY = RetryConfig(
    strategy=RetryStrategy.FIXED,
    max_attempts=3,
    initial_delay=0.0,
    retryable_exceptions=[ConnectionError, asyncio.TimeoutError],
    retry_budget_enabled=False,
)


async def _no_wait(seconds: float) -> None:
    pass


@pytest.fixture(params=["no breaker", "breaker"])
def layers(request: Any, clock: ManualClock) -> Any:
    """``layers(timeout)``: with_resilience with a one-slot bulkhead, that
    timeout, retries and (per the parameter) a breaker; ``layers.breaker``."""
    b = _breaker(clock, failure_threshold=100) if request.param == "breaker" else None

    def make(timeout: float, **kw: Any) -> Any:
        return with_resilience(
            _RETRY,
            None if b is None else b.name,
            registry=None if b is None else _registry_holding(b),
            bulkhead=seawall.BulkheadConfig(max_concurrent=1, max_queue_size=0, timeout=timedelta(0)),
            timeout=timeout,
            asleep=_no_wait,
            **kw,
        )

    make.breaker = b  # type: ignore[attr-defined]
    return make


def _all_resolved(b: Any) -> None:
    """Every permit the breaker gave has an outcome."""
    if b is not None:
        m = b.metrics()
        assert m["successes"] + m["failures"] + m["ignored"] == m["permitted"]


@pytest.mark.parametrize(
    "ending", ["exhausted", "aclose", "cancel", "raise", "athrow", "timeout", "empty"]
)
def test_async_generator_frees_its_bulkhead_slot_however_it_ends(layers: Any, ending: str) -> None:
    gate = asyncio.Event()
    cleaned: List[int] = []

    @layers(0.05 if ending == "timeout" else 5.0)
    async def agen() -> AsyncIterator[int]:
        if ending == "empty":
            return
        try:
            yield 1
            if ending == "cancel":
                await gate.wait()
            if ending == "timeout":
                await asyncio.sleep(5)
            if ending == "raise":
                raise Boom()
            yield 2
        finally:
            cleaned.append(1)

    bh = agen.bulkhead

    async def main() -> None:
        it = agen()
        if ending == "empty":
            assert [x async for x in it] == []
            return
        assert await it.__anext__() == 1
        assert bh.get_available_permits() == 0  # held while streaming
        if ending == "exhausted":
            assert [x async for x in it] == [2]
        elif ending == "aclose":
            await it.aclose()
        elif ending == "cancel":
            task = asyncio.ensure_future(it.__anext__())
            for _ in range(3):
                await asyncio.sleep(0)
            assert not task.done()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        elif ending == "raise":
            with pytest.raises(Boom):  # delivered items are not retried
                await it.__anext__()
        elif ending == "athrow":
            with pytest.raises(KeyError):
                await it.athrow(KeyError())
        else:
            with pytest.raises(asyncio.TimeoutError):
                await it.__anext__()
        assert cleaned == [1]  # the decorated generator has ended too
        with pytest.raises(StopAsyncIteration):  # the stream is over
            await it.__anext__()

    asyncio.run(main())
    assert bh.get_available_permits() == 1
    _all_resolved(layers.breaker)


@pytest.mark.parametrize("failure", ["raise", "timeout", "refused"])
def test_async_generator_first_item_retried_without_leaking_the_slot(
    layers: Any, failure: str
) -> None:
    attempts: List[int] = []
    b = layers.breaker

    @layers(0.05)
    async def agen() -> AsyncIterator[int]:
        attempts.append(1)
        if len(attempts) == 1:
            if failure == "raise":
                raise ConnectionError()
            await asyncio.sleep(5)
        yield 1
        yield 2

    bh = agen.bulkhead

    async def main() -> List[int]:
        return [x async for x in agen()]

    if failure == "refused":
        # The slot is taken: the attempt is refused before it starts, and a
        # refusal is not retried.
        assert bh.acquire()
        with pytest.raises(seawall.BulkheadFullError):
            asyncio.run(main())
        assert attempts == []
        bh.release()
    else:
        # With a one-slot bulkhead the retry runs only if the failed attempt
        # gave its slot back.
        assert asyncio.run(main()) == [1, 2]
        assert len(attempts) == 2
        if b is not None:
            m = b.metrics()
            assert (m["permitted"], m["failures"], m["successes"]) == (2, 1, 1)
    assert bh.get_available_permits() == 1
    _all_resolved(b)


def test_async_generator_cancelled_before_its_first_item_frees_the_slot(layers: Any) -> None:
    entered = asyncio.Event()

    @layers(5.0)
    async def agen() -> AsyncIterator[int]:
        entered.set()
        await asyncio.Event().wait()
        yield 1

    bh = agen.bulkhead

    async def main() -> None:
        task = asyncio.ensure_future(agen().__anext__())
        await entered.wait()
        assert bh.get_available_permits() == 0
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert bh.get_available_permits() == 1
    _all_resolved(layers.breaker)


def test_async_generator_asend_athrow_through_every_layer(layers: Any) -> None:
    agen = _asend_athrow(layers(5.0))
    assert agen.bulkhead.get_available_permits() == 1
    b = layers.breaker
    if b is not None:
        assert b.metrics()["successes"] == 1


@pytest.mark.parametrize("first", [True, False], ids=["first item", "later item"])
def test_async_generator_step_timeout_is_a_breaker_failure(clock: ManualClock, first: bool) -> None:
    b = _breaker(clock, failure_threshold=1)

    @with_resilience(None, b.name, registry=_registry_holding(b), timeout=0.05)
    async def agen() -> AsyncIterator[int]:
        if not first:
            yield 1
        await asyncio.sleep(5)
        yield 2

    async def main() -> None:
        it = agen()
        if not first:
            assert await it.__anext__() == 1
        with pytest.raises(asyncio.TimeoutError):
            await it.__anext__()

    asyncio.run(main())
    m = b.metrics()
    assert (m["permitted"], m["failures"], m["ignored"]) == (1, 1, 0)
    assert b.is_open()


@pytest.mark.parametrize("items", [[], ["a", "b"]])
def test_async_generator_fallback_may_return_a_plain_iterable(items: List[str]) -> None:
    @with_resilience(fallback=lambda n: iter(items[:n]))
    async def agen(n: int) -> AsyncIterator[str]:
        raise ConnectionError()
        yield "x"

    async def main() -> List[str]:
        return [x async for x in agen(2)]

    assert asyncio.run(main()) == items
