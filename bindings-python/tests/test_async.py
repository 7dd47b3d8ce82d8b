"""acall, async decorators and `async with`, under asyncio."""

from __future__ import annotations

import asyncio
import collections.abc
import types
from typing import Any

import pytest

import seawall
from seawall import CircuitBreakerOpenError, CircuitState

from conftest import Boom


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@types.coroutine
def suspend() -> Any:
    """Suspends the awaiting coroutine once (no event loop needed)."""
    yield "suspended"


async def value(x: Any = 1) -> Any:
    await asyncio.sleep(0)
    return x


async def aboom() -> None:
    await asyncio.sleep(0)
    raise Boom("down")


def test_acall_success_failure_and_rejection(make: Any) -> None:
    cb = make(failure_threshold=2)

    async def main() -> None:
        assert await cb.acall(value) == 1
        assert await cb.acall(lambda: value(5)) == 5
        for _ in range(2):
            with pytest.raises(Boom):
                await cb.acall(aboom)
        assert cb.is_open()
        with pytest.raises(CircuitBreakerOpenError) as info:
            await cb.acall(value)
        assert str(info.value) == "Circuit breaker 't' is OPEN"

    run(main())
    m = cb.get_metrics()
    assert (m["total_successes"], m["total_failures"], m["rejections"]) == (2, 2, 1)


def test_acall_takes_its_permit_only_when_awaited(make: Any) -> None:
    cb = make(failure_threshold=1)
    started = []

    async def f() -> int:
        started.append(1)
        return 1

    pending = cb.acall(f)
    assert cb.metrics()["permitted"] == 0 and started == []
    pending.close()
    assert cb.metrics()["permitted"] == 0

    async def main() -> int:
        return await cb.acall(f)

    assert run(main()) == 1 and started == [1]


def test_acall_fallbacks(make: Any) -> None:
    cb = make(failure_threshold=1, track_exceptions=[Boom])

    async def afallback() -> str:
        await asyncio.sleep(0)
        return "async fb"

    async def main() -> None:
        assert await cb.acall(aboom, fallback=lambda: "fb") == "fb"
        assert cb.is_open()
        assert await cb.acall(value, fallback=lambda: "rejected fb") == "rejected fb"
        assert await cb.acall(value, fallback=afallback) == "async fb"

    run(main())


def test_async_decorator_and_methods(make: Any) -> None:
    cb = make(failure_threshold=2)

    @cb
    async def get(x: int, *, y: int = 0) -> int:
        """Gets."""
        await asyncio.sleep(0)
        return x + y

    class Client:
        @cb
        async def fetch(self, x: int) -> tuple:
            return self, x

    async def main() -> None:
        assert await get(1) == 1 and await get(1, y=2) == 3
        c = Client()
        assert await c.fetch(4) == (c, 4)

    run(main())
    assert asyncio.iscoroutinefunction(get) and get.__doc__ == "Gets."
    assert cb.get_metrics()["total_successes"] == 3


def test_awaitable_is_a_coroutine_for_asyncio(make: Any) -> None:
    cb = make()

    @cb
    async def job(x: int) -> int:
        await asyncio.sleep(0)
        return x

    async def main() -> list:
        c = job(1)
        assert isinstance(c, collections.abc.Coroutine)
        t = asyncio.create_task(c)
        results = await asyncio.gather(job(2), cb.acall(lambda: value(3)))
        return [await t, *results]

    assert run(main()) == [1, 2, 3]
    assert asyncio.run(job(9)) == 9  # asyncio.run demands a coroutine


def test_concurrent_tasks_exact_totals(make: Any) -> None:
    cb = make(failure_threshold=4095, track_exceptions=[Boom])

    async def worker(i: int) -> None:
        for j in range(50):
            if (i + j) % 5 == 0:
                with pytest.raises(Boom):
                    await cb.acall(aboom)
            else:
                await cb.acall(value)

    async def main() -> None:
        await asyncio.gather(*(worker(i) for i in range(40)))

    run(main())
    m = cb.metrics()
    assert m["permitted"] == 2000
    assert (m["failures"], m["successes"], m["ignored"]) == (400, 1600, 0)


def test_cancellation_is_neutral_and_frees_the_trial_slot(make: Any, clock: Any) -> None:
    cb = make(failure_threshold=1, timeout=1, track_exceptions=[BaseException])

    async def main() -> None:
        with pytest.raises(Boom):
            await cb.acall(aboom)
        clock.advance(1)
        gate = asyncio.Event()
        entered = asyncio.Event()

        async def slow() -> None:
            entered.set()
            await gate.wait()

        task = asyncio.create_task(cb.acall(slow))
        await entered.wait()
        assert cb.metrics()["trial_calls_in_flight"] == 1
        with pytest.raises(CircuitBreakerOpenError):  # the one trial slot is taken
            await cb.acall(value)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cb.get_state() is CircuitState.HALF_OPEN, "cancellation must not count"
        assert cb.metrics()["trial_calls_in_flight"] == 0
        assert await cb.acall(value) == 1  # the slot is free again

    run(main())
    assert cb.metrics()["ignored"] == 1


def test_timeout_cancellation_inside_wait_for(make: Any) -> None:
    cb = make(failure_threshold=1, track_exceptions=[Exception])

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(cb.acall(lambda: asyncio.sleep(10)), timeout=0.01)

    run(main())
    # wait_for cancels the inner call: neutral. The TimeoutError is raised
    # outside the breaker, so the breaker stays closed.
    assert cb.is_closed() and cb.metrics()["ignored"] == 1


def test_exception_thrown_into_a_pending_call_reaches_the_coroutine(make: Any) -> None:
    cb = make(failure_threshold=1)
    seen = []

    async def waits() -> None:
        try:
            await suspend()
        except Boom as e:
            seen.append(e)
            raise

    call = cb.acall(waits)
    assert call.send(None) == "suspended"
    with pytest.raises(Boom):
        call.throw(Boom("injected"))
    assert len(seen) == 1 and cb.is_open()
    with pytest.raises(RuntimeError, match="cannot reuse"):
        call.send(None)


def test_abandoned_call_releases_its_permit(make: Any) -> None:
    cb = make()

    async def waits() -> None:
        await suspend()

    call = cb.acall(waits)
    assert call.send(None) == "suspended"
    assert cb.metrics()["permitted"] == 1
    del call  # never finished nor closed
    import gc

    gc.collect()
    assert cb.metrics()["ignored"] == 1


def test_async_with(make: Any) -> None:
    cb = make(failure_threshold=1, track_exceptions=[Boom])

    async def main() -> None:
        async with cb:
            await asyncio.sleep(0)

        async def task_body(fail: bool) -> None:
            async with cb:
                await asyncio.sleep(0)
                if fail:
                    raise Boom()

        # Interleaved tasks each keep their own permit.
        r = await asyncio.gather(task_body(False), task_body(False), task_body(True),
                                 return_exceptions=True)
        assert isinstance(r[2], Boom)
        assert cb.is_open()
        with pytest.raises(CircuitBreakerOpenError):
            async with cb:
                pass

    run(main())
    m = cb.metrics()
    assert (m["successes"], m["failures"], m["rejected"]) == (3, 1, 1)


def test_sync_function_given_to_acall(make: Any) -> None:
    cb = make()

    async def main() -> Any:
        return await cb.acall(lambda: 42)

    assert run(main()) == 42
    assert cb.metrics()["successes"] == 1
