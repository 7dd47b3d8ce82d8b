"""``UnifiedCircuitBreaker``: the lock-free Seawall core behind the original API."""

from __future__ import annotations

import asyncio
import functools
import inspect
import sys
import threading
from types import CodeType, FrameType, TracebackType
from typing import (
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Dict,
    Generator,
    Iterator,
    List,
    NamedTuple,
    Optional,
    Tuple,
    TYPE_CHECKING,
    Type,
    TypeVar,
    Union,
    cast,
)

from .. import _native
from ..interfaces import CircuitBreakerInterface
from ..models import CircuitState

__all__ = ["UnifiedCircuitBreaker", "BreakerMethods"]

F = TypeVar("F", bound=Callable[..., Any])
B = TypeVar("B", bound="BreakerMethods")

#: A native breaker handle: local, or shared by a fleet through Redis.
NativeBreaker = Union[_native.Breaker, _native.DistributedBreaker]
#: A permit of either.
NativePermit = Union[_native.Permit, _native.DistributedPermit]

class _WithBlocks:
    """The permits of a breaker's ``with`` blocks in progress: ``(frame,
    permit)`` in the order entered, where ``frame`` runs the ``with``
    statement. ``__exit__`` finds its permit by that frame, which is the same
    wherever ``__exit__`` runs: a ``with`` block inside a generator may be
    entered on one thread and left on another (Starlette's
    ``iterate_in_threadpool``), or in another task. Keeping the frame in the
    entry also keeps its id from being reused while the entry exists. The
    lock, one per breaker, is held for a few list operations only."""

    __slots__ = ("lock", "entries")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: List[Tuple[FrameType, NativePermit]] = []


class BreakerMethods(CircuitBreakerInterface):
    """The pure-Python part of every breaker class over a native handle
    (``UnifiedCircuitBreaker``, ``DistributedCircuitBreaker``): decorator,
    context managers, the original metrics dict."""

    # `call`, `acall`, `get_state`, `record_success`, `record_failure`,
    # `reset`, `force_open`, `force_closed`, `acquire`, `add_listener`,
    # `metrics`, `clear_metrics`, `name` and `config` come from the native
    # handle class, which comes first in a subclass's bases.
    if TYPE_CHECKING:

        @property
        def name(self) -> str: ...
        def get_state(self) -> CircuitState: ...
        def acquire(self) -> NativePermit: ...
        def metrics(self) -> Dict[str, Any]: ...
        def _wrap(self, func: Callable[..., Any], is_async: bool) -> Any: ...

    #: The implementation's name, as ``create_circuit_breaker_adapter`` takes it.
    implementation: str

    @property
    def state(self) -> CircuitState:
        """The current state (same as ``get_state()``)."""
        return self.get_state()

    def get_metrics(self) -> Dict[str, Any]:
        """The original metrics dict, plus Seawall's extra counters.

        ``failure_count`` is the consecutive failures counted toward the trip
        (CLOSED), ``success_count`` the trial successes counted toward closing
        (HALF_OPEN), ``total_calls`` the calls admitted, ``rejections`` the
        calls refused, ``uptime`` the seconds spent in the current state,
        ``window`` the outcomes in the trip rules' window (a dict of
        ``successes``, ``failures``, ``slow_calls``, ``ignored`` and
        ``calls``, the successes plus failures every rate divides by), or
        ``None`` without a window.
        """
        return legacy_metrics(self.name, self.implementation, self.metrics())

    def __call__(self, func: F) -> F:
        """Decorates ``func`` (sync or ``async def``) to run through this breaker."""
        return wrap_function(self, func)

    def __enter__(self: B) -> B:
        permit = self.acquire()
        _push_permit(self, sys._getframe(1), permit)
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        permit = _pop_permit(self, sys._getframe(1))
        if exc is None:
            permit.success()
        else:
            permit.record_exception(exc)

    async def __aenter__(self: B) -> B:
        # The awaiting coroutine's frame: the one running `async with`.
        permit = self.acquire()
        _push_permit(self, sys._getframe(1), permit)
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        permit = _pop_permit(self, sys._getframe(1))
        if exc is None:
            permit.success()
        else:
            permit.record_exception(exc)

class UnifiedCircuitBreaker(_native.Breaker, BreakerMethods):
    """A lock-free circuit breaker.

    ``UnifiedCircuitBreaker(config)``, ``UnifiedCircuitBreaker(name, config)``
    and keywords (``name=``, ``config=``) are all accepted; the name defaults
    to ``"default"`` and the config to ``CircuitBreakerConfig()``. Pass
    ``clock=seawall.ManualClock()`` to drive its time by hand in tests, and
    ``seed=`` (an ``int`` in ``[0, 2**64)``) to draw the open-time jitter
    (``timeout_jitter``) from a generator with that seed: on a manual clock,
    breakers with the same config and seed open for the same durations from
    run to run (C: ``seawall_breaker_new_seeded``). Without it the jitter is
    unseeded.

    CLOSED admits every call and counts consecutive failures; at
    ``failure_threshold`` it opens. OPEN rejects calls without running them
    for ``timeout``; then up to ``half_open_max_calls`` trial calls run at
    once (HALF_OPEN): ``success_threshold`` successes close it, a failure
    reopens it, and trials unresolved after ``half_open_timeout`` reopen it.

    ``call`` and ``acall`` are implemented natively: taking a permit, running
    the function and recording its outcome hold no lock, so calls from many
    threads or tasks run in parallel. Which exceptions count as failures is
    described on ``CircuitBreakerConfig``.

    Also usable as a decorator (``@breaker``), as a context manager
    (``with breaker:`` / ``async with breaker:``), and by hand through
    ``acquire()`` permits.
    """

    implementation = "unified"
    """What ``create_circuit_breaker_adapter`` calls this kind of breaker."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.get_state().name}>"


def _blocks(breaker: BreakerMethods) -> _WithBlocks:
    d = breaker.__dict__
    blocks = d.get("_with_blocks")
    if blocks is None:
        # setdefault is atomic: racing first users share one.
        blocks = d.setdefault("_with_blocks", _WithBlocks())
    return blocks  # type: ignore[no-any-return]


def _push_permit(breaker: BreakerMethods, frame: FrameType, permit: NativePermit) -> None:
    blocks = _blocks(breaker)
    with blocks.lock:
        blocks.entries.append((frame, permit))


def _pop_permit(breaker: BreakerMethods, frame: FrameType) -> NativePermit:
    """The permit of the innermost block entered from ``frame``; failing
    that (``__exit__`` called from elsewhere than the ``with`` statement,
    e.g. by an ``ExitStack``), the last one entered."""
    blocks = _blocks(breaker)
    with blocks.lock:
        entries = blocks.entries
        for i in range(len(entries) - 1, -1, -1):
            if entries[i][0] is frame:
                return entries.pop(i)[1]
        if entries:
            return entries.pop()[1]
    raise RuntimeError(
        f"circuit breaker {breaker.name!r}: __exit__ without a matching __enter__"
    )


def _is_async(func: Any) -> bool:
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func)


def _unwrap_partial(func: Any) -> Any:
    while isinstance(func, functools.partial):
        func = func.func
    return func


def is_generator_function(func: Any) -> bool:
    """Whether calling ``func`` makes a generator (``def`` with ``yield``)."""
    return inspect.isgeneratorfunction(_unwrap_partial(func))


def is_async_generator_function(func: Any) -> bool:
    """Whether calling ``func`` makes an async generator."""
    return inspect.isasyncgenfunction(_unwrap_partial(func))


def guard_generator(
    breaker: NativeBreaker, func: Callable[..., Generator[Any, Any, Any]]
) -> Callable[..., Any]:
    """``func`` (a generator function) protected for the whole iteration:
    the permit is taken when iteration starts (the first ``next``), held
    while the consumer iterates, and the outcome recorded when the
    generator returns (a success, or whatever ``result_predicate`` says of
    its return value), raises (classified like any exception) or is closed
    early (neutral). ``send``/``throw``/``close`` reach ``func``'s
    generator."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        permit = breaker.acquire()
        try:
            result = yield from func(*args, **kwargs)
        except BaseException as exc:
            permit.record_exception(exc)
            raise
        permit.record_result(result)
        return result

    return wrapper


def guard_async_generator(
    breaker: Optional[NativeBreaker],
    func: Callable[..., AsyncGenerator[Any, Any]],
    timeout: Optional[float] = None,
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """``guard_generator`` for async generator functions: the permit is
    taken at the first ``__anext__``/``asend`` and the outcome recorded when
    the generator ends (a success), raises, or is closed (``aclose``:
    neutral). ``asend``/``athrow``/``aclose`` reach ``func``'s generator.
    With a ``timeout``, each step of ``func``'s generator that takes longer
    raises ``TimeoutError``, recorded on the permit like any exception.
    Without a breaker only the timeout applies."""

    def start(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Awaitable[Optional[Stream]]:
        return start_stream(breaker, func, args, kwargs, timeout)

    return drive_stream(start)


class Stream(NamedTuple):
    """An async generator started for a consumer by ``start_stream``:
    ``first`` is its first item. Each later step is bounded by ``timeout``,
    the outcome is recorded on ``permit`` and ``release`` is called when
    it ends (each when not None)."""

    agen: Any
    first: Any
    permit: Optional[NativePermit]
    timeout: Optional[float]
    release: Optional[Callable[[], Any]]


def astep(agen: Any, how: str, arg: Any, timeout: Optional[float]) -> Awaitable[Any]:
    """One step of an async generator driven on behalf of a consumer:
    ``asend(arg)`` or ``athrow(arg)``, within ``timeout`` seconds if not
    None."""
    step: Awaitable[Any] = agen.asend(arg) if how == "send" else agen.athrow(arg)
    return step if timeout is None else asyncio.wait_for(step, timeout)


async def start_stream(
    breaker: Optional[NativeBreaker],
    func: Callable[..., AsyncGenerator[Any, Any]],
    args: Tuple[Any, ...],
    kwargs: Dict[str, Any],
    timeout: Optional[float] = None,
    release: Optional[Callable[[], Any]] = None,
) -> Optional[Stream]:
    """Takes ``breaker``'s permit (when given), calls ``func`` and awaits
    its generator's first item within ``timeout``, for ``drive_stream``.

    ``release`` is called once when the stream ends: here if it fails to
    start (the exception propagates, recorded on the permit once taken) or
    yields nothing (None is returned, a success recorded); else by
    ``drive_stream``."""
    ended = True
    try:
        permit = None if breaker is None else breaker.acquire()
        agen: Optional[AsyncGenerator[Any, Any]] = None
        try:
            agen = func(*args, **kwargs)
            first = await astep(agen, "send", None, timeout)
        except StopAsyncIteration:
            if permit is not None:
                permit.success()
            return None
        except BaseException as exc:
            if permit is not None:
                permit.record_exception(exc)
            if agen is not None:
                # Finished by the exception, except when the consumer was
                # cancelled inside ``wait_for`` right after the step
                # yielded (Python < 3.12): then this closes it.
                await agen.aclose()
            raise
        ended = False
        return Stream(agen, first, permit, timeout, release)
    finally:
        if ended and release is not None:
            release()


def drive_stream(
    start: Callable[[Tuple[Any, ...], Dict[str, Any]], Awaitable[Optional[Stream]]],
) -> Callable[..., AsyncGenerator[Any, Any]]:
    """An async generator function that relays the stream ``start(args,
    kwargs)`` gives (None: an empty one) to its consumer: yields its first
    item, then passes every ``asend``/``athrow``/``aclose`` on to its
    generator, one step at a time within the stream's timeout; records the
    outcome on its permit (a success when the generator is exhausted, else
    the exception, ``GeneratorExit`` or cancellation included) and calls
    its ``release`` however it ends. The package's one async relay loop:
    async generators cannot delegate (no ``yield from``), so the breaker,
    the timeout and ``with_resilience``'s layers are all applied here rather
    than each relaying the next."""

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        s = await start(args, kwargs)
        if s is None:
            return
        agen, value, permit, timeout, release = s
        try:
            while True:
                try:
                    arg, how = (yield value), "send"
                except GeneratorExit:
                    await agen.aclose()
                    raise
                except BaseException as exc:  # noqa: BLE001 - passed on to agen
                    how, arg = "throw", exc
                try:
                    value = await astep(agen, how, arg, timeout)
                except StopAsyncIteration:
                    break
        except BaseException as exc:
            if permit is not None:
                permit.record_exception(exc)
            raise
        else:
            if permit is not None:
                permit.success()
        finally:
            if release is not None:
                release()

    return wrapper


def relay(gen: Iterator[Any], first: Any) -> Generator[Any, Any, Any]:
    """Yields ``first`` (already taken from the generator ``gen``), then
    everything ``gen`` yields, passing ``send``/``throw``/``close`` on to
    it; returns its return value."""
    value = first
    while True:
        try:
            sent = yield value
        except GeneratorExit:
            gen.close()  # type: ignore[attr-defined]
            raise
        except BaseException as exc:  # noqa: BLE001 - passed on to gen
            try:
                value = gen.throw(exc)  # type: ignore[attr-defined]
            except StopIteration as stop:
                return stop.value
        else:
            try:
                value = gen.send(sent)  # type: ignore[attr-defined]
            except StopIteration as stop:
                return stop.value


def wrap_function(breaker: Any, func: F) -> F:
    """``func`` wrapped so that every call runs through ``breaker``.

    The wrapper is native (no Python frame per call). For an ``async def``
    function it returns an awaitable that takes the permit when awaited and
    keeps it until the coroutine finishes. Generator and async generator
    functions are protected for their whole iteration (see
    ``guard_generator``). It carries ``func``'s name and docstring,
    ``__wrapped__``, and ``circuit_breaker``; it binds as a method.
    """
    if not callable(func):
        raise TypeError(f"can only decorate a callable, not {type(func).__name__}")
    if is_generator_function(func):
        return finish_wrapper(guard_generator(breaker, func), func, breaker)  # type: ignore[return-value]
    if is_async_generator_function(func):
        return finish_wrapper(guard_async_generator(breaker, func), func, breaker)  # type: ignore[return-value]
    is_async = _is_async(func)
    wrapper = breaker._wrap(func, is_async)
    functools.update_wrapper(wrapper, func)
    wrapper.circuit_breaker = breaker
    if is_async:
        mark_coroutine_function(wrapper, func)
    return cast(F, wrapper)


def mark_coroutine_function(wrapper: Any, func: Callable[..., Any]) -> None:
    """Makes ``wrapper``, a native function standing for the coroutine
    function ``func``, pass for one. ``asyncio.iscoroutinefunction`` (3.11)
    and ``inspect.iscoroutinefunction`` (3.12+) read marks; on 3.11,
    ``inspect.iscoroutinefunction`` (which frameworks such as FastAPI use to
    decide whether to await) reads the code flags of any function-like
    object, so ``wrapper`` also gets ``func``'s code and defaults. A
    wrapper that is a coroutine function already is left as it is."""
    if inspect.iscoroutinefunction(wrapper):
        return
    wrapper._is_coroutine = getattr(asyncio.coroutines, "_is_coroutine", None)
    mark = getattr(inspect, "markcoroutinefunction", None)
    if mark is not None:
        mark(wrapper)
        return
    code = getattr(func, "__code__", None)
    if isinstance(code, CodeType) and code.co_flags & inspect.CO_COROUTINE:
        wrapper.__code__ = code
        wrapper.__defaults__ = getattr(func, "__defaults__", None)
        wrapper.__kwdefaults__ = getattr(func, "__kwdefaults__", None)


def finish_wrapper(wrapper: Callable[..., Any], func: Callable[..., Any], breaker: Any) -> Callable[..., Any]:
    functools.update_wrapper(wrapper, func)
    wrapper.circuit_breaker = breaker  # type: ignore[attr-defined]
    return wrapper


def legacy_metrics(name: str, implementation: str, m: Dict[str, Any]) -> Dict[str, Any]:
    """``get_metrics()`` of a breaker called ``name`` from its core
    ``metrics()`` dict ``m``."""
    return {
        "name": name,
        "implementation": implementation,
        "state": m["state"],
        "failure_count": m["consecutive_failures"],
        "success_count": m["trial_successes"],
        "total_calls": m["permitted"],
        "total_failures": m["failures"],
        "total_successes": m["successes"],
        "rejections": m["rejected"],
        "uptime": m["time_in_state"],
        "total_ignored": m["ignored"],
        "late_outcomes": m["late"],
        "slow_calls": m["slow_calls"],
        "trial_calls_in_flight": m["trial_calls_in_flight"],
        "transitions": m["transitions"],
        "window": m["window"],
    }
