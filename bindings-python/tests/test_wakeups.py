"""Waits end by the event that ends them, in every face: an ``aacquire``
waiter is woken by a release from its own loop, from another thread, from
a synchronous ``acquire`` user, and through another handle to the same
bulkhead; waiters are served first come, first served; cancellations
racing releases never lose or duplicate a slot; rate-limited callers
sleep once, for the wait the core reserved.

No assertion depends on timing. Waits that must end by a wake-up are
bounded by a guard far longer than any poll could be (a hang becomes a
failure), and the absence of polling is checked directly: a waiting task
leaves no timer on its loop unless it has a deadline to keep.
"""

from __future__ import annotations

import asyncio
import random
import threading
from datetime import timedelta
from typing import Any, List, Optional

from seawall import Bulkhead, BulkheadConfig, ManualClock, RateLimiter, RateLimitExceededError

from conftest import Sleeps

HANG_GUARD = 30.0  # seconds


def bulkhead(
    max_concurrent: int = 1, max_queue_size: int = 16, clock: Optional[ManualClock] = None
) -> Bulkhead:
    config = BulkheadConfig(
        max_concurrent=max_concurrent,
        max_queue_size=max_queue_size,
        timeout=timedelta(hours=1),
    )
    return Bulkhead(config, clock=clock)


async def queued(bh: Bulkhead, n: int) -> None:
    """Yields to the loop until `n` callers wait in `bh`."""
    while bh.get_queue_size() < n:
        await asyncio.sleep(0)


def timers(loop: asyncio.AbstractEventLoop) -> int:
    """Timer handles scheduled on `loop` and not cancelled."""
    return sum(1 for h in getattr(loop, "_scheduled") if not h.cancelled())


def test_a_waiting_task_schedules_no_timer_of_its_own() -> None:
    """Nothing polls: on a manual clock (no real-time deadline) a task
    waiting for a slot leaves the loop with no timer at all, and on the
    production clock with exactly one, its deadline."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for clock, want in ((ManualClock(), 0), (None, 1)):
            bh = bulkhead(clock=clock)
            assert await bh.aacquire()
            t = asyncio.ensure_future(bh.aacquire())
            await queued(bh, 1)
            await asyncio.sleep(0)
            assert timers(loop) == want
            bh.release()
            assert await asyncio.wait_for(t, HANG_GUARD)
            bh.release()
            assert timers(loop) == 0

    asyncio.run(main())


def test_a_release_from_the_same_loop_wakes_the_waiter() -> None:
    async def main() -> None:
        bh = bulkhead(clock=ManualClock())
        assert await bh.aacquire()
        t = asyncio.ensure_future(bh.aacquire())
        await queued(bh, 1)
        bh.release()
        assert await asyncio.wait_for(t, HANG_GUARD)
        assert (bh.get_available_permits(), bh.get_queue_size()) == (0, 0)
        bh.release()

    asyncio.run(main())


def test_a_release_from_another_thread_wakes_the_waiter() -> None:
    async def main() -> None:
        bh = bulkhead(clock=ManualClock())
        assert bh.acquire()
        t = asyncio.ensure_future(bh.aacquire())
        await queued(bh, 1)
        releaser = threading.Thread(target=bh.release)
        releaser.start()
        assert await asyncio.wait_for(t, HANG_GUARD)
        releaser.join()
        bh.release()
        assert bh.get_available_permits() == 1

    asyncio.run(main())


def test_a_release_through_another_handle_wakes_the_waiter() -> None:
    """A release made on the native handle directly (as another wrapper of
    the same bulkhead would) reaches a task waiting through this one."""

    async def main() -> None:
        bh = bulkhead(clock=ManualClock())
        other = bh._native
        assert other.try_acquire()
        t = asyncio.ensure_future(bh.aacquire())
        await queued(bh, 1)
        assert other.release()
        assert await asyncio.wait_for(t, HANG_GUARD)
        bh.release()
        assert (bh.get_available_permits(), bh.get_queue_size()) == (1, 0)

    asyncio.run(main())


def test_threads_and_tasks_are_served_in_the_order_they_queued() -> None:
    """A synchronous waiter queued first is served first; its release (from
    its thread) wakes the task queued after it; a thread queued after the
    task waits for the task's release."""

    async def main() -> None:
        bh = bulkhead(clock=ManualClock())
        order: List[str] = []
        assert bh.acquire()

        def sync_user(name: str) -> None:
            assert bh.acquire()
            order.append(name)
            bh.release()

        first = threading.Thread(target=sync_user, args=("thread 1",))
        first.start()
        await queued(bh, 1)

        async def task() -> None:
            assert await bh.aacquire()
            order.append("task")
            await asyncio.sleep(0)
            bh.release()

        t = asyncio.ensure_future(task())
        await queued(bh, 2)
        last = threading.Thread(target=sync_user, args=("thread 2",))
        last.start()
        await queued(bh, 3)
        bh.release()
        await asyncio.wait_for(t, HANG_GUARD)
        await asyncio.get_running_loop().run_in_executor(None, last.join, HANG_GUARD)
        first.join(HANG_GUARD)
        assert order == ["thread 1", "task", "thread 2"]
        assert (bh.get_available_permits(), bh.get_queue_size()) == (1, 0)

    asyncio.run(main())


def test_tasks_are_served_in_the_order_they_queued() -> None:
    async def main() -> None:
        bh = bulkhead(clock=ManualClock())
        assert await bh.aacquire()
        order: List[int] = []

        async def task(i: int) -> None:
            assert await bh.aacquire()
            order.append(i)
            bh.release()

        tasks = []
        for i in range(8):
            tasks.append(asyncio.ensure_future(task(i)))
            await queued(bh, i + 1)
        bh.release()
        await asyncio.wait_for(asyncio.gather(*tasks), HANG_GUARD)
        assert order == list(range(8))

    asyncio.run(main())


def test_advancing_a_manual_clock_ends_an_async_wait() -> None:
    async def main() -> None:
        clock = ManualClock()
        bh = bulkhead(clock=clock)
        assert await bh.aacquire()
        t = asyncio.ensure_future(bh.aacquire())
        await queued(bh, 1)
        clock.advance(3599.0)  # short of the deadline: the task waits on
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert not t.done() and bh.get_queue_size() == 1
        threading.Thread(target=clock.advance, args=(1.0,)).start()
        assert not await asyncio.wait_for(t, HANG_GUARD)
        assert (bh.get_queue_size(), bh.rejections) == (0, 1)
        bh.release()

    asyncio.run(main())


def test_cancellations_racing_releases_conserve_slots() -> None:
    """Tasks on two loops and threads acquire, time out, are cancelled and
    release at random; at the end every slot is free and nobody waits: a
    slot handed to a task as it was cancelled went on to the next waiter."""
    bh = Bulkhead(BulkheadConfig(max_concurrent=2, max_queue_size=256, timeout=timedelta(seconds=5)))
    inside = [0]
    most = [0]
    lock = threading.Lock()

    def enter() -> None:
        with lock:
            inside[0] += 1
            most[0] = max(most[0], inside[0])

    def leave() -> None:
        with lock:
            inside[0] -= 1
        bh.release()

    async def tasks(seed: int) -> None:
        rng = random.Random(seed)

        async def one() -> None:
            if await bh.aacquire(timeout=rng.choice([0.0, 0.001, 0.01, 1.0])):
                enter()
                try:
                    await asyncio.sleep(0)  # may be cancelled here, holding the slot
                finally:
                    leave()

        for _ in range(30):
            batch = [asyncio.ensure_future(one()) for _ in range(10)]
            await asyncio.sleep(0)
            for t in batch:
                if rng.random() < 0.4:
                    t.cancel()
            await asyncio.gather(*batch, return_exceptions=True)

    def threads(seed: int) -> None:
        rng = random.Random(seed)
        for _ in range(200):
            if bh.acquire(rng.choice([0.0, 0.001, 0.01])):
                enter()
                leave()

    workers = [threading.Thread(target=asyncio.run, args=(tasks(s),)) for s in (1, 2)]
    workers += [threading.Thread(target=threads, args=(s,)) for s in (3, 4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
        assert not w.is_alive()
    assert most[0] <= 2
    assert (bh.get_available_permits(), bh.get_queue_size()) == (2, 0)


def test_rate_limited_callers_sleep_once_for_their_reserved_turn() -> None:
    """Callers arriving together each sleep once, for their own turn
    (spaced by the interval), and never check again; beyond ``max_wait``
    a caller is refused and reserves nothing."""
    clock = ManualClock()
    sleeps = Sleeps()
    rl = RateLimiter(4, 1.0, burst=1, clock=clock, sleep=sleeps, asleep=sleeps.a, max_wait=1.0)
    for _ in range(5):
        rl.acquire()
    assert sleeps.slept == [0.25, 0.5, 0.75, 1.0]
    try:
        rl.acquire()
        raise AssertionError("a wait of 1.25 s beyond max_wait=1.0 was granted")
    except RateLimitExceededError as e:
        assert e.retry_after == 1.25
    # The refusal reserved nothing: the next turn is still 1.25 s away.
    assert rl.check() == 1.25

    async def main() -> None:
        a = Sleeps()
        arl = RateLimiter(2, 1.0, burst=1, clock=ManualClock(), asleep=a.a)
        await asyncio.gather(*(arl.aacquire() for _ in range(4)))
        assert a.slept == [0.5, 1.0, 1.5]

    asyncio.run(main())


def test_rate_limiter_acquire_does_not_check_again_after_its_sleep() -> None:
    """The sleep is the whole wait: a caller whose sleep returns early
    (the manual clock did not move) still goes ahead, once."""
    clock = ManualClock()
    calls: List[Any] = []
    rl = RateLimiter(1, 1.0, clock=clock, sleep=calls.append)
    rl.acquire()
    rl.acquire()
    rl.acquire()
    assert calls == [1.0, 2.0]
