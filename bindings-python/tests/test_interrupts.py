"""``KeyboardInterrupt`` and ``SystemExit`` raised inside user code that the
breaker calls (predicates, transition callbacks, listeners, fallbacks,
``on_retry`` hooks, back-off functions) propagate to the caller; ordinary
exceptions there are still logged and swallowed. When an interrupt
propagates, no permit or trial slot is left taken and the state is
consistent."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any, Callable, Iterator, List, Type

import pytest

from seawall import (
    CircuitBreakerConfig,
    ManualClock,
    RetryConfig,
    RetryStrategy,
    UnifiedCircuitBreaker,
    with_resilience,
)

from conftest import Boom

INTERRUPTS = [KeyboardInterrupt, SystemExit]


def _raise(exc: Type[BaseException]) -> Callable[..., Any]:
    def f(*args: Any) -> Any:
        raise exc()

    return f


def _boom() -> None:
    raise Boom()


def _mk(clock: ManualClock, **kw: Any) -> UnifiedCircuitBreaker:
    kw.setdefault("failure_threshold", 1)
    kw.setdefault("success_threshold", 1)
    kw.setdefault("timeout", timedelta(seconds=5))
    return UnifiedCircuitBreaker("i", CircuitBreakerConfig(**kw), clock=clock)


def _half_open(b: UnifiedCircuitBreaker, clock: ManualClock) -> None:
    b.record_failure()  # counted as a failure without classifying anything
    assert b.is_open()
    clock.advance(5)


CALLS = {
    "call": lambda b, f: b.call(f),
    "decorator": lambda b, f: b(f)(),
    "acall": lambda b, f: asyncio.run(b.acall(_as_coro(f))),
    "async-decorator": lambda b, f: asyncio.run(b(_as_coro(f))()),
    "with": lambda b, f: _with(b, f),
    "permit": lambda b, f: _permit(b, f),
}


def _as_coro(f: Callable[[], Any]) -> Callable[[], Any]:
    async def c() -> Any:
        return f()

    return c


def _with(b: UnifiedCircuitBreaker, f: Callable[[], Any]) -> Any:
    with b:
        return f()


def _permit(b: UnifiedCircuitBreaker, f: Callable[[], Any]) -> Any:
    p = b.acquire()
    try:
        v = f()
    except BaseException as e:
        p.record_exception(e)
        raise
    p.record_result(v)
    return v


@pytest.mark.parametrize("exc", INTERRUPTS)
# A with block has no result to classify.
@pytest.mark.parametrize("how", [h for h in CALLS if h != "with"])
def test_interrupt_in_result_predicate(clock: ManualClock, exc: Type[BaseException], how: str) -> None:
    b = _mk(clock, result_predicate=_raise(exc))
    _half_open(b, clock)
    with pytest.raises(exc):
        CALLS[how](b, lambda: 1)
    # The trial slot is free again and the state is consistent.
    assert b.is_half_open()
    assert b.metrics()["trial_calls_in_flight"] == 0


@pytest.mark.parametrize("exc", INTERRUPTS)
@pytest.mark.parametrize("how", list(CALLS))
def test_interrupt_in_failure_predicate(clock: ManualClock, exc: Type[BaseException], how: str) -> None:
    b = _mk(clock, track_exceptions=[], failure_predicate=_raise(exc))
    _half_open(b, clock)
    with pytest.raises(exc) as info:
        CALLS[how](b, _boom)
    assert isinstance(info.value.__context__, Boom)
    assert b.is_half_open()
    assert b.metrics()["trial_calls_in_flight"] == 0


@pytest.mark.parametrize("exc", INTERRUPTS)
@pytest.mark.parametrize("hook", ["on_open", "on_close", "on_half_open", "listener"])
@pytest.mark.parametrize("how", list(CALLS))
def test_interrupt_in_transition_callbacks(
    clock: ManualClock, exc: Type[BaseException], hook: str, how: str
) -> None:
    after: List[str] = []
    if hook == "listener":
        b = _mk(clock)
        b.add_listener(lambda n, o, s: _raise(exc)() if s.value == "open" else None)
        b.add_listener(lambda n, o, s: after.append(s.value))
        trigger = "open"
    else:
        b = _mk(clock, **{hook: _raise(exc)})
        trigger = hook[3:]
    if trigger == "open":
        with pytest.raises(exc):
            CALLS[how](b, _boom)
        assert b.is_open()
    elif trigger == "half_open":
        with pytest.raises(Boom):
            b.call(_boom)
        clock.advance(5)
        with pytest.raises(exc):
            CALLS[how](b, lambda: 1)
        # The transition happened; the trial made by the interrupted call
        # was released, not stranded.
        assert b.metrics()["trial_calls_in_flight"] == 0
        b.call(lambda: 1)
        assert b.is_closed()
    else:
        with pytest.raises(Boom):
            b.call(_boom)
        clock.advance(5)
        with pytest.raises(exc):
            CALLS[how](b, lambda: 1)
        assert b.is_closed()
    if hook == "listener":
        assert after == ["open"]  # the other listeners still ran


@pytest.mark.parametrize("exc", INTERRUPTS)
# (A manual success on a CLOSED breaker makes no transition.)
@pytest.mark.parametrize("op", ["force_open", "force_closed", "reset", "record_failure"])
def test_interrupt_in_a_callback_of_a_manual_transition(
    clock: ManualClock, exc: Type[BaseException], op: str
) -> None:
    b = _mk(clock)
    if op == "reset":
        b.force_open()
    b.add_listener(_raise(exc))
    with pytest.raises(exc):
        getattr(b, op)()


def test_ordinary_exceptions_in_callbacks_are_still_logged(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    b = _mk(clock, on_open=_raise(ValueError), result_predicate=_raise(ValueError))
    with caplog.at_level(logging.ERROR, logger="seawall"):
        assert b.call(lambda: 1) == 1
        with pytest.raises(Boom):
            b.call(_boom)
    assert b.is_open()
    assert len(caplog.records) == 2


@pytest.mark.parametrize("exc", INTERRUPTS)
def test_interrupt_in_a_fallback(clock: ManualClock, exc: Type[BaseException]) -> None:
    b = _mk(clock)
    _half_open(b, clock)
    with pytest.raises(exc):
        b.call(_boom, fallback=_raise(exc))
    assert b.is_open()  # the failure was recorded first
    assert b.metrics()["trial_calls_in_flight"] == 0


@pytest.mark.parametrize("exc", INTERRUPTS)
@pytest.mark.parametrize(
    "where", ["on_retry", "custom_backoff", "fallback", "result_predicate", "sleep"]
)
@pytest.mark.parametrize("is_async", [False, True])
def test_interrupt_in_with_resilience_hooks(
    clock: ManualClock, exc: Type[BaseException], where: str, is_async: bool
) -> None:
    import seawall

    reg = seawall.Registry(clock=clock)
    bh = seawall.Bulkhead(seawall.BulkheadConfig(max_concurrent=1))
    cfg = RetryConfig(
        strategy=RetryStrategy.CUSTOM if where == "custom_backoff" else RetryStrategy.FIXED,
        max_attempts=3,
        initial_delay=0.1,
        retryable_exceptions=[Boom],
        retry_budget_enabled=False,
        on_retry=_raise(exc) if where == "on_retry" else None,
        custom_backoff=_raise(exc) if where == "custom_backoff" else (lambda n: 0.1),
        bulkhead_enabled=True,
    )
    cb_cfg = CircuitBreakerConfig(
        failure_threshold=100,
        result_predicate=_raise(exc) if where == "result_predicate" else None,
    )

    async def asleep(s: float) -> None:
        _raise(exc)()

    kw: Any = dict(
        circuit_breaker_config=cb_cfg,
        registry=reg,
        bulkhead=bh,
        fallback=_raise(exc) if where == "fallback" else None,
        sleep=_raise(exc) if where == "sleep" else (lambda s: None),
        asleep=asleep if where == "sleep" else None,
    )
    result = 1 if where == "result_predicate" else None
    if is_async:

        @with_resilience(cfg, "r", **kw)
        async def af() -> Any:
            if result is None:
                raise Boom()
            return result

        with pytest.raises(exc):
            asyncio.run(af())
    else:

        @with_resilience(cfg, "r", **kw)
        def f() -> Any:
            if result is None:
                raise Boom()
            return result

        with pytest.raises(exc):
            f()
    b = reg.get("r")
    assert b is not None
    assert b.metrics()["trial_calls_in_flight"] == 0
    assert bh.get_available_permits() == 1  # the slot was released


@pytest.mark.parametrize("exc", INTERRUPTS)
def test_interrupt_in_predicate_of_a_generator(clock: ManualClock, exc: Type[BaseException]) -> None:
    b = _mk(clock, failure_predicate=_raise(exc), track_exceptions=[])
    _half_open(b, clock)

    @b
    def gen() -> Iterator[int]:
        yield 1
        raise Boom()

    with pytest.raises(exc):
        list(gen())
    assert b.metrics()["trial_calls_in_flight"] == 0


class _Meta(type):
    interrupt: Type[BaseException] = KeyboardInterrupt

    def __instancecheck__(cls, instance: Any) -> bool:
        raise cls.interrupt()


@pytest.mark.parametrize("exc", INTERRUPTS)
@pytest.mark.parametrize("where", ["track_exceptions", "exclude_exceptions", "status_code"])
def test_interrupt_in_user_code_run_while_classifying(
    clock: ManualClock, exc: Type[BaseException], where: str
) -> None:
    class Checked(Exception, metaclass=_Meta):
        pass

    _Meta.interrupt = exc

    class WithCode(Exception):
        @property
        def status_code(self) -> int:
            raise exc()

    kw: Any = {where: [Checked]} if where != "status_code" else {"track_exceptions": []}
    b = _mk(clock, **kw)
    _half_open(b, clock)
    with pytest.raises(exc):
        b.call(lambda: (_ for _ in ()).throw(WithCode() if where == "status_code" else Boom()))
    assert b.is_half_open()
    assert b.metrics()["trial_calls_in_flight"] == 0


def test_ordinary_exceptions_in_classifying_code_count_as_no(clock: ManualClock) -> None:
    class WithCode(Exception):
        @property
        def status_code(self) -> int:
            raise RuntimeError("no code")

    b = _mk(clock, track_exceptions=[])
    with pytest.raises(WithCode):
        b.call(lambda: (_ for _ in ()).throw(WithCode()))
    assert b.is_closed() and b.metrics()["ignored"] == 1


@pytest.mark.parametrize("exc", INTERRUPTS)
@pytest.mark.parametrize("where", ["on_open", "result_predicate"])
def test_interrupt_in_a_logging_handler(clock: ManualClock, exc: Type[BaseException], where: str) -> None:
    # A callback raises an ordinary exception, which is logged; the logging
    # handler (user code too) is interrupted.
    class Interrupting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            raise exc()

    b = _mk(clock, **{where: _raise(ValueError)})
    # Before the handler: the trip is logged too (a WARNING record).
    _half_open(b, clock) if where == "result_predicate" else None
    handler = Interrupting()
    logger = logging.getLogger("seawall")
    logger.addHandler(handler)
    try:
        with pytest.raises(exc):
            b.call(_boom if where == "on_open" else (lambda: 1))
    finally:
        logger.removeHandler(handler)
    assert b.metrics()["trial_calls_in_flight"] == 0
    # Nothing is left to be raised by a later, unrelated call.
    assert UnifiedCircuitBreaker("other").call(lambda: 2) == 2
