"""``with_resilience``: retries, hedging, a circuit breaker, a bulkhead, a
rate limit, an adaptive throttler, a timeout, fault injection and a
fallback composed around one function, for plain and
``async def`` functions and for generators of both kinds (the order of the
layers is in its docstring)."""

from __future__ import annotations

import asyncio
import functools
import inspect
import random
from typing import (
    Any,
    AsyncGenerator,
    Awaitable,
    Callable,
    Dict,
    Iterable,
    NamedTuple,
    Optional,
    Tuple,
    TypeVar,
    Union,
)

from . import _check, _native, _threads
from ._time import Seconds, asleep as _asleep, sleep as _sleep
from .backoff import BackoffCalculator, _no_custom_backoff
from .budget import RetryBudget
from .adapters import Breaker
from .adaptive_limiter import AdaptiveLimiter
from .adaptive_limiter import aadmit as limiter_aadmit
from .adaptive_limiter import admit as limiter_admit
from .bulkhead import Bulkhead, aadmit, admit
from .distributed import DistributedCircuitBreaker
from .hedge import Hedge
from .fault import FaultInjector
from .implementations.circuit_breaker import (
    Stream,
    UnifiedCircuitBreaker,
    drive_stream,
    guard_generator,
    is_async_generator_function,
    is_generator_function,
    mark_coroutine_function,
    relay,
    start_stream,
)
from .models import (
    AdaptiveLimiterConfig,
    BulkheadConfig,
    CircuitBreakerConfig,
    RetryBudgetConfig,
    RetryConfig,
    RetryMetrics,
    RetryPolicy,
    RetryStrategy,
)
from .rate_limit import RateLimiter
from .registry import Registry, get_registry
from .retry import _Plan, _retry_config
from .throttle import AdaptiveThrottler, Priority, _priority

__all__ = ["with_resilience"]

F = TypeVar("F", bound=Callable[..., Any])


def _is_async(func: Callable[..., Any]) -> bool:
    f = func
    while isinstance(f, functools.partial):
        f = f.func
    return inspect.iscoroutinefunction(f) or asyncio.iscoroutinefunction(f)


def with_resilience(
    retry_policy: Union[None, str, RetryPolicy, RetryConfig] = None,
    circuit_breaker_name: Optional[str] = None,
    *,
    circuit_breaker: Optional[Breaker] = None,
    name: Optional[str] = None,
    circuit_breaker_config: Optional[CircuitBreakerConfig] = None,
    bulkhead: Union[
        None, Bulkhead, BulkheadConfig, AdaptiveLimiter, AdaptiveLimiterConfig
    ] = None,
    rate_limit: Union[None, RateLimiter, int] = None,
    timeout: Optional[Seconds] = None,
    fallback: Optional[Callable[..., Any]] = None,
    retry_budget: Union[None, RetryBudget, RetryBudgetConfig] = None,
    registry: Optional[Registry] = None,
    sleep: Optional[Callable[[float], Any]] = None,
    asleep: Optional[Callable[[float], Awaitable[Any]]] = None,
    rng: Optional[random.Random] = None,
    metrics: Optional[RetryMetrics] = None,
    hedge: Optional[Hedge] = None,
    sync_timeout: Optional[str] = None,
    throttler: Optional[AdaptiveThrottler] = None,
    priority: Priority = "normal",
    fault_injection: Optional[FaultInjector] = None,
) -> Callable[[F], F]:
    """Protects a sync or ``async def`` function (or method) with retries, a
    circuit breaker, a bulkhead, a rate limit, a timeout and a fallback.

    - ``retry_policy``: a name in ``RETRY_POLICIES`` (``'network'``, ...), a
      ``RetryPolicy`` or a ``RetryConfig``; ``None``: no retries.
    - ``circuit_breaker_name``: the shared breaker of that name in the
      registry (``registry`` or the process-wide one), created from
      ``circuit_breaker_config`` if new, of the implementation the
      rollback switch names (see ``seawall.adapters``).
    - ``circuit_breaker``: a breaker object to use instead (a
      ``UnifiedCircuitBreaker``, one of its adapters, or a
      ``DistributedCircuitBreaker``); not with ``circuit_breaker_name``.
    - ``name``: what the function's retries are counted under in the metrics
      (default: the function's qualified name, ``module.function``).
    - ``bulkhead``: a ``Bulkhead`` (shared) or a ``BulkheadConfig``; or an
      ``AdaptiveLimiter`` (shared) or an ``AdaptiveLimiterConfig``, whose
      limit each attempt's outcome and latency teach (it refuses with
      ``LimitReachedError``, never queues; a generator's attempt holds its
      slot until the stream ends and teaches nothing).
    - ``rate_limit``: a ``RateLimiter`` or calls per second.
    - ``timeout``: seconds (or ``timedelta``) per attempt, raising
      ``TimeoutError`` (a failure for the breaker). For ``async def``
      functions the attempt is cancelled. A running sync call cannot be
      interrupted, so sync functions need ``sync_timeout="thread"`` too:
      each attempt then runs on a worker thread (up to 32 per decorated
      function, daemon threads, the caller's ``contextvars`` copied) and the
      caller stops waiting at the timeout, **abandoning the call, which
      keeps running on its thread** until it returns by itself (its result
      is dropped). Calls beyond the 32 threads wait for one within their
      timeout. Not for generators.
    - ``sync_timeout``: ``"thread"`` to allow ``timeout`` on a sync
      function, as above; ``None`` (default) refuses it with a
      ``TypeError``.
    - ``hedge``: a ``Hedge`` (``async def`` functions only: a losing sync
      attempt could not be cancelled): each attempt is a hedged call, with
      extra attempts after the hedge's delay if its config is
      ``idempotent``, each drawn from the hedge's retry budget; the first
      good answer wins, the others are cancelled. When the hedge shares the
      retry layer's budget, the call is counted in it once.
    - ``fallback``: called with the call's arguments (awaited if it returns
      an awaitable) when the call finally fails with an ``Exception``.
    - ``retry_budget``: a ``RetryBudget`` (share one between functions) or a
      ``RetryBudgetConfig``; by default each decorated function gets its own
      budget from ``RetryBudgetConfig()`` when the retry config has
      ``retry_budget_enabled``.
    - ``throttler``: an ``AdaptiveThrottler`` (share one per backend) that
      sheds attempts locally, as ``priority`` (``'critical'``, ``'high'``,
      ``'normal'``, ``'low'``), while the backend refuses more than it
      accepts; its refusals raise ``ThrottledError``.
    - ``fault_injection``: a ``FaultInjector``, the innermost layer, so
      that every other layer meets its faults as real ones.
    - ``sleep`` / ``asleep`` / ``rng``: injected for tests.

    The layers, outermost first:

    1. fallback;
    2. retry: per-call attempt count and delays, decided by the core's
       retry state machine (made at the call's first failure); a retry must
       be granted by the budget (every call counts as a request); a
       circuit-open rejection
       is never retried, except that when the breaker announces a
       ``retry_after`` within ``max_delay`` the retry waits for it; only
       ``retryable_exceptions`` / ``retryable_status_codes`` are retried, and
       an exhausted retry raises ``RetryError`` (``attempts``,
       ``last_exception``); other exceptions propagate at once;
    3. hedge (``async def`` only): each retry attempt is one hedged call;
       hedging answers slowness where retry answers failure, so it sits
       inside the retry. Every hedged attempt is a real request, so each
       passes the layers below on its own: it takes its own rate-limit
       token, bulkhead slot and throttler admission, the breaker sees it
       (an open breaker refuses hedges too; a cancelled loser counts as
       neither success nor failure) and it has its own timeout;
    4. rate limit, then bulkhead (or adaptive limiter), then throttler, per
       attempt (their refusals are not the dependency's failures, so the
       breaker does not count them; the throttler counts what the breaker
       lets through);
    5. circuit breaker: sees each attempt;
    6. timeout around the call (on a worker thread for sync functions with
       ``sync_timeout="thread"``);
    7. fault injection, around the function itself.

    ``throttler`` and ``fault_injection`` apply to plain and ``async def``
    functions, not to generators.

    On the success path the call runs once through the breaker's native
    wrapper and the retry machinery is entered only after a failure; when
    there is no bulkhead or rate limit, the decorated function is that
    native wrapper itself (no Python frame per call), marked so that
    ``inspect`` and ``asyncio`` see a coroutine function for ``async def``.
    Waiting in async code uses ``asyncio.sleep``; sync waits use
    ``time.sleep``, which releases the GIL.

    Metrics: a call that fails at least once is counted as a retrier's call
    under ``name`` or the function's qualified name (``seawall_retry_calls_total{name=
    "module.function", outcome}`` and ``seawall_retry_attempts_total``), and
    each of its attempts reaches ``metrics`` and an attached
    ``ResilienceMetrics``; the first attempt, run in the native wrapper that
    reads no clock, is reported with a duration of 0. A call that succeeds
    at once is counted by the breaker alone.
    """
    config = _retry_config(retry_policy)
    for field, fn in (("fallback", fallback), ("sleep", sleep), ("asleep", asleep)):
        _check.optional_callable(field, fn)
    if rng is not None:
        _check.instance("rng", rng, random.Random, "a random.Random")
    if metrics is not None:
        _check.instance("metrics", metrics, RetryMetrics)
    if registry is not None:
        _check.instance("registry", registry, Registry)
    if circuit_breaker_config is not None and not isinstance(circuit_breaker_config, CircuitBreakerConfig):
        _native.validate_config(circuit_breaker_config)
    if name is not None:
        _check.name("name", name)
    if throttler is not None:
        _check.instance("throttler", throttler, AdaptiveThrottler)
    throttle = None if throttler is None else (throttler, _priority(priority))
    if fault_injection is not None:
        _check.instance("fault_injection", fault_injection, FaultInjector)
    breaker: Any = None
    if circuit_breaker is not None:
        if circuit_breaker_name is not None:
            raise ValueError(
                "circuit_breaker and circuit_breaker_name both given: pass the breaker "
                "object or the name of a registry breaker, not both"
            )
        if not isinstance(circuit_breaker, (UnifiedCircuitBreaker, DistributedCircuitBreaker)):
            raise _check.type_error(
                "circuit_breaker",
                "a UnifiedCircuitBreaker or a DistributedCircuitBreaker",
                circuit_breaker,
            )
        breaker = circuit_breaker
    if circuit_breaker_name is not None:
        _check.name("circuit_breaker_name", circuit_breaker_name)
        breaker = (registry if registry is not None else get_registry()).get_or_create(
            circuit_breaker_name, circuit_breaker_config
        )
    bh: Union[None, Bulkhead, AdaptiveLimiter] = None
    if isinstance(bulkhead, BulkheadConfig):
        bh = Bulkhead(bulkhead)
    elif isinstance(bulkhead, AdaptiveLimiterConfig):
        bh = AdaptiveLimiter(bulkhead)
    elif isinstance(bulkhead, AdaptiveLimiter):
        bh = bulkhead
    elif bulkhead is not None:
        bh = _check.instance(
            "bulkhead",
            bulkhead,
            Bulkhead,
            "a Bulkhead, a BulkheadConfig, an AdaptiveLimiter or an AdaptiveLimiterConfig",
        )
    rl: Optional[RateLimiter] = None
    if isinstance(rate_limit, RateLimiter):
        rl = rate_limit
    elif rate_limit is not None:
        n = _check.integer("rate_limit", rate_limit) if isinstance(rate_limit, int) else None
        if n is None:
            raise _check.type_error(
                "rate_limit", "a RateLimiter or an int (calls per second)", rate_limit
            )
        if n < 1:
            raise ValueError(
                f"invalid rate_limit = {n}: must be a RateLimiter or an int of calls per second >= 1"
            )
        try:
            rl = RateLimiter(n, 1.0, sleep=sleep, asleep=asleep)
        except ValueError as e:
            raise ValueError(f"invalid rate_limit = {n}: {e}") from None
    t = None if timeout is None else _check.positive_seconds("timeout", timeout)
    if sync_timeout not in (None, "thread"):
        raise ValueError(
            f"invalid sync_timeout = {_check.shown(sync_timeout)}: must be None or 'thread'"
        )
    if hedge is not None:
        _check.instance("hedge", hedge, Hedge)
    shared_budget: Optional[RetryBudget] = None
    if isinstance(retry_budget, RetryBudgetConfig):
        shared_budget = RetryBudget(retry_budget)
    elif retry_budget is not None:
        shared_budget = _check.instance(
            "retry_budget", retry_budget, RetryBudget, "a RetryBudget or a RetryBudgetConfig"
        )
    calc = BackoffCalculator(rng)
    if config is not None:
        # Validated now, not at the first failure.
        if config.strategy == RetryStrategy.CUSTOM and config.custom_backoff is None:
            _no_custom_backoff(0)
        calc._native_for(config)
    do_sleep = sleep or _sleep
    do_asleep = asleep or _asleep

    def decorate(func: F) -> F:
        if not callable(func):
            raise TypeError(f"can only decorate a callable, not {type(func).__name__}")
        is_async = _is_async(func)
        is_gen = is_generator_function(func)
        is_agen = is_async_generator_function(func)
        if t is not None and is_gen:
            raise TypeError("timeout= applies to functions and async generators, not generators")
        if t is not None and not (is_async or is_agen) and sync_timeout is None:
            raise TypeError(
                "timeout= cancels async def functions; on a sync function it needs "
                "sync_timeout='thread': the call then runs on a worker thread and is "
                "abandoned (it keeps running) after the timeout"
            )
        if hedge is not None and not is_async:
            raise TypeError(
                "hedge= applies to async def functions only: a losing sync attempt "
                "could not be cancelled"
            )
        if (is_gen or is_agen) and (throttle is not None or fault_injection is not None):
            raise TypeError(
                "throttler= and fault_injection= apply to plain and async def functions only"
            )
        inner = func if fault_injection is None else fault_injection(func)
        budget = shared_budget
        if budget is None and config is not None and config.retry_budget_enabled:
            budget = RetryBudget(RetryBudgetConfig())
        if config is not None and not config.retry_budget_enabled:
            budget = None
        # The function's retries are counted under its qualified name for
        # the metrics exporters (calls that failed at least once: one that
        # succeeds at once never leaves the native wrapper, and is the
        # breaker's count).
        plan = (
            None
            if config is None
            else _Plan(
                config, calc, rng, budget, metrics, do_sleep, do_asleep,
                _native.RetryStats(name or f"{func.__module__}.{func.__qualname__}"),
            )
        )
        layers = _Layers(plan, budget, breaker, bh, rl, t, fallback, throttle)
        if is_gen:
            wrapper = _generator_wrapper(func, layers)
        elif is_agen:
            wrapper = _async_generator_wrapper(func, layers)
        elif is_async:
            wrapper = _async_wrapper(inner, layers, hedge)
        else:
            target = inner if t is None else _threads.in_thread(inner, t)
            wrapper = _sync_wrapper(target, layers)
        functools.update_wrapper(wrapper, func)
        if is_async and not inspect.iscoroutinefunction(wrapper):
            mark_coroutine_function(wrapper, func)
        wrapper.circuit_breaker = breaker  # type: ignore[attr-defined]
        wrapper.retry_budget = budget  # type: ignore[attr-defined]
        wrapper.bulkhead = bh  # type: ignore[attr-defined]
        wrapper.hedge = hedge  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


class _Layers(NamedTuple):
    """The layers `with_resilience` puts around one function (their order
    is in its docstring); each is None when not asked for."""

    plan: Optional[_Plan]
    budget: Optional[RetryBudget]
    breaker: Any
    bulkhead: Union[None, Bulkhead, AdaptiveLimiter]
    rate_limit: Optional[RateLimiter]
    timeout: Optional[float]
    fallback: Optional[Callable[..., Any]]
    throttle: Optional[Tuple[AdaptiveThrottler, str]]


def _native_first_attempt(
    func: Callable[..., Any], is_async: bool, layers: _Layers, slow: Callable[..., Any]
) -> Optional[Callable[..., Any]]:
    """The whole wrapper as the breaker's native function, when the breaker
    is the only layer an attempt goes through: it counts the call in the
    budget and hands an ``Exception`` to ``slow`` (the retries and the
    fallback) with no Python frame on the success path. ``None`` when a
    bulkhead, rate limiter or throttler must admit each attempt first."""
    if (
        not isinstance(layers.breaker, UnifiedCircuitBreaker)
        or layers.bulkhead is not None
        or layers.rate_limit is not None
        or layers.throttle is not None
    ):
        return None
    budget = None if layers.budget is None else layers.budget._native
    needed = layers.plan is not None or layers.fallback is not None
    return layers.breaker._wrap(
        func, is_async, budget=budget, on_error=slow if needed else None
    )


def _sync_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, _, fallback, throttle = layers
    # The breaker layer: its native wrapper (no Python frame per call).
    call: Callable[..., Any] = func if breaker is None else breaker._wrap(func, False)
    if throttle is not None:
        call = throttle[0]._guard(call, throttle[1])
    wait = None if rl is None else rl.acquire
    if isinstance(bh, AdaptiveLimiter):
        call = limiter_admit(call, bh, wait)
    else:
        call = admit(call, bh, wait)

    def slow(exc: Exception, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        try:
            if plan is None:
                raise exc
            return plan.run(lambda: call(*args, **kwargs), exc)[0]
        except Exception:
            if fallback is None:
                raise
            return fallback(*args, **kwargs)

    first = _native_first_attempt(func, False, layers, slow)
    if first is not None:
        return first
    # The wrapper comes in two variants (with and without a budget to count
    # the call in), so that neither tests for the budget per call.
    record = None if budget is None else budget.record_attempt
    if record is not None:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            record(False)
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                return slow(exc, args, kwargs)

    else:

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                return slow(exc, args, kwargs)

    return wrapper


def _async_wrapper(
    func: Callable[..., Any], layers: _Layers, hedge: Optional[Hedge] = None
) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, t, fallback, throttle = layers
    inner: Callable[..., Any] = func
    if t is not None:

        async def inner(*args: Any, **kwargs: Any) -> Any:
            return await asyncio.wait_for(func(*args, **kwargs), t)

    call: Callable[..., Any] = inner if breaker is None else breaker._wrap(inner, True)
    if throttle is not None:
        call = throttle[0]._aguard(call, throttle[1])
    await_ = None if rl is None else rl.aacquire
    if isinstance(bh, AdaptiveLimiter):
        call = limiter_aadmit(call, bh, await_)
    else:
        call = aadmit(call, bh, await_)
    if hedge is not None:
        call = _hedged(call, hedge, budget)

    async def slow(exc: Exception, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        try:
            if plan is None:
                raise exc
            return (await plan.arun(lambda: call(*args, **kwargs), exc))[0]
        except Exception:
            if fallback is None:
                raise
            r = fallback(*args, **kwargs)
            if inspect.isawaitable(r):
                r = await r
            return r

    # A hedged attempt is not the breaker's one native call.
    first = None if hedge is not None else _native_first_attempt(inner, True, layers, slow)
    if first is not None:
        return first
    record = None if budget is None else budget.record_attempt  # see _sync_wrapper
    if record is not None:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            record(False)
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                return await slow(exc, args, kwargs)

    else:

        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await call(*args, **kwargs)
            except Exception as exc:
                return await slow(exc, args, kwargs)

    return wrapper


def _hedged(
    call: Callable[..., Any], hedge: Hedge, budget: Optional[RetryBudget]
) -> Callable[..., Any]:
    """``call`` as one hedged call per attempt, idempotent as the hedge's
    config says. Its first attempt is counted in the hedge's budget unless
    that is the retry layer's budget, which counted it already."""
    idempotent = hedge.config.idempotent
    record_first = hedge.budget is not budget

    async def hedged(*args: Any, **kwargs: Any) -> Any:
        return await hedge._run(lambda: call(*args, **kwargs), idempotent, record_first)

    return hedged


# ------------------------------------------- generators in with_resilience
#
# A decorated generator function is protected for the whole iteration of
# each attempt: the rate limit is passed, a bulkhead slot and the breaker's
# permit are taken when the attempt starts and held until the generator
# ends. An attempt that fails before yielding its first item is retried
# like any call (nothing has reached the consumer); once an item has been
# delivered a failure propagates (the consumer cannot be handed the items
# again), and the fallback is used only if nothing was delivered (its
# result, an iterable, is iterated in place of the stream).

_END = object()


def _generator_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, _, fallback, _ = layers
    guarded = func if breaker is None else guard_generator(breaker, func)

    def attempt(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Any:
        if rl is not None:
            rl.acquire()
        if bh is None:
            return (yield from guarded(*args, **kwargs))
        # Held until the generator ends.
        with bh.slot(learn=False) if isinstance(bh, AdaptiveLimiter) else bh:
            return (yield from guarded(*args, **kwargs))

    def first(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Tuple[Any, Any]:
        """An attempt's generator and its first item (``_END`` and the
        return value if it yielded none), retried while nothing has been
        delivered."""
        if budget is not None:
            budget.record_attempt(False)

        def start() -> Tuple[Any, Any]:
            g = attempt(args, kwargs)
            try:
                return g, next(g)
            except StopIteration as stop:
                return _END, stop.value

        if plan is None:
            return start()
        return plan.run(start)[0]  # type: ignore[no-any-return]

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            g, item = first(args, kwargs)
        except Exception:
            if fallback is None:
                raise
            return (yield from fallback(*args, **kwargs))
        if g is _END:
            return item
        return (yield from relay(g, item))

    return wrapper


def _async_generator_wrapper(func: Callable[..., Any], layers: _Layers) -> Callable[..., Any]:
    plan, budget, breaker, bh, rl, t, fallback, _ = layers

    async def attempt(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Optional[Stream]:
        """One attempt: the rate limit, a bulkhead slot, then the breaker's
        permit and the first item within the timeout. The slot is given
        back when the attempt fails (so a retry can take it) and otherwise
        when the stream ends (``drive_stream``)."""
        if rl is not None:
            await rl.aacquire()
        if bh is None:
            return await start_stream(breaker, func, args, kwargs, t)
        if isinstance(bh, AdaptiveLimiter):
            p = bh._take()
            return await start_stream(breaker, func, args, kwargs, t, p.ignore)
        if not await bh.aacquire():
            raise bh._full()
        return await start_stream(breaker, func, args, kwargs, t, bh.release)

    async def start(args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> Optional[Stream]:
        """The stream and its first item, retried while nothing has been
        delivered, else the fallback's stream."""
        if budget is not None:
            budget.record_attempt(False)
        try:
            if plan is None:
                return await attempt(args, kwargs)
            return (await plan.arun(lambda: attempt(args, kwargs)))[0]  # type: ignore[no-any-return]
        except Exception:
            if fallback is None:
                raise
            items = fallback(*args, **kwargs)
            agen = items if hasattr(items, "__anext__") else _from_iterable(items)
            try:
                return Stream(agen, await agen.__anext__(), None, None, None)
            except StopAsyncIteration:
                return None

    return drive_stream(start)


async def _from_iterable(items: Iterable[Any]) -> AsyncGenerator[Any, None]:
    """A fallback's plain iterable as an async generator."""
    for item in items:
        yield item
