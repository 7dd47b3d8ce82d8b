"""A timeout for sync functions (``with_resilience(timeout=...,
sync_timeout="thread")``): each call runs on a worker thread and the caller
stops waiting for it after the timeout, raising ``TimeoutError``.

Python cannot interrupt a running thread: a call whose wait was abandoned
keeps running on its worker until it returns by itself, and its result or
exception is dropped. The workers are a bounded pool per decorated function,
so a dependency that hangs holds at most that many threads; further calls
wait for a worker within their own timeout (and a call that times out before
a worker took it never runs). The workers are daemon threads, so a hung
call does not keep the interpreter from exiting, and a forked child starts
with a fresh pool. Each call runs in a copy of the caller's ``contextvars``
context.
"""

from __future__ import annotations

import contextvars
import functools
import os
import queue
import threading
import weakref
from concurrent.futures import Future, TimeoutError as FutureTimeout
from typing import Any, Callable, Tuple

__all__ = ["WORKERS", "in_thread"]

#: Worker threads per decorated function, at most.
WORKERS = 32

_Work = Tuple["Future[Any]", contextvars.Context, Callable[..., Any], Tuple[Any, ...], Any]


class _Pool:
    """Daemon worker threads, started on demand up to ``size`` and kept."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._work: "queue.SimpleQueue[_Work]" = queue.SimpleQueue()
        self._threads = 0
        self._idle = 0

    def submit(self, fn: Callable[..., Any], args: Tuple[Any, ...], kwargs: Any) -> "Future[Any]":
        f: "Future[Any]" = Future()
        self._work.put((f, contextvars.copy_context(), fn, args, kwargs))
        # An idle worker is claimed here, under the lock, not when it wakes:
        # two calls arriving together must not both count on the same one.
        with self._lock:
            if self._idle:
                self._idle -= 1
                start = False
            else:
                start = self._threads < self._size
                self._threads += start
        if start:
            threading.Thread(target=self._run, name="seawall-timeout", daemon=True).start()
        return f

    def _run(self) -> None:
        # A new worker is started for the call just queued; after each call
        # it is idle until `submit` claims it for the next (or, with every
        # thread started, it takes the oldest queued call).
        work = self._work
        while True:
            f, ctx, fn, args, kwargs = work.get()
            if f.set_running_or_notify_cancel():
                try:
                    result = ctx.run(fn, *args, **kwargs)
                except BaseException as e:  # handed to the waiter, if any
                    f.set_exception(e)
                else:
                    f.set_result(result)
            # (Else it timed out while queued: never run.)
            with self._lock:
                self._idle += 1


_pools: "weakref.WeakSet[_Pool]" = weakref.WeakSet()


def _after_fork() -> None:
    # The child has none of the parent's threads: start afresh.
    for pool in list(_pools):
        pool._lock = threading.Lock()
        pool._reset()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def in_thread(func: Callable[..., Any], timeout: float) -> Callable[..., Any]:
    """``func`` run on a worker thread, waited for at most ``timeout``
    seconds: past it, ``TimeoutError`` is raised and the call is abandoned
    (see the module docs)."""
    pool = _Pool(WORKERS)
    _pools.add(pool)

    @functools.wraps(func)
    def timed(*args: Any, **kwargs: Any) -> Any:
        f = pool.submit(func, args, kwargs)
        try:
            return f.result(timeout)
        except FutureTimeout:
            f.cancel()  # never runs if no worker took it yet
            raise TimeoutError(
                f"{getattr(func, '__qualname__', func)!s} did not return within {timeout}s "
                "(abandoned: it keeps running on its worker thread)"
            ) from None

    return timed
