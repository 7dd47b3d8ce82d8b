"""The distributed breaker from Python, against a real redis-server each
test starts for itself (the `redis_url` fixture). Every wait has a time
limit: a bound for a slow machine, not a measurement."""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import socket
import subprocess
import sys
import textwrap
import uuid
from datetime import timedelta
from typing import Any, List

import pytest

import seawall
from seawall import (
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    CircuitState,
    DistributedCircuitBreaker,
)

from conftest import Boom, boom, fail, families_of, wait_for


def connected(cb: DistributedCircuitBreaker) -> bool:
    """Reaches Redis and knows the fleet's state (a fleet transition fires
    callbacks only for a breaker that knew the state before it)."""
    m = cb.fleet_metrics()
    return not m["degraded"] and bool(m["epoch"])


def test_a_url_is_required_and_bad_settings_are_named(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="SEAWALL_REDIS_URL"):
        DistributedCircuitBreaker("d")
    with pytest.raises(ValueError, match="SEAWALL_REDIS_URL"):
        seawall.create_circuit_breaker_adapter("d", None, implementation="distributed")
    with pytest.raises(TypeError, match="redis_url"):
        DistributedCircuitBreaker("d", redis_url=6379)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redis_url"):
        DistributedCircuitBreaker("d", redis_url="http://127.0.0.1/")
    with pytest.raises(ValueError, match="redis_url"):
        DistributedCircuitBreaker("d", redis_url="not a url")
    with pytest.raises(ValueError, match="hash tag"):
        DistributedCircuitBreaker("d", redis_url=redis_url, namespace="{app}")
    with pytest.raises(ValueError, match="hash tag"):
        DistributedCircuitBreaker("a{b}", redis_url=redis_url)
    with pytest.raises(TypeError, match="namespace"):
        DistributedCircuitBreaker("d", redis_url=redis_url, namespace=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="failure_threshold"):
        DistributedCircuitBreaker(
            "d", CircuitBreakerConfig(failure_threshold=0), redis_url=redis_url
        )


def test_the_adapter_builds_one_from_the_environment_with_the_whole_interface(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEAWALL_REDIS_URL", redis_url)
    cb = seawall.create_circuit_breaker_adapter("svc", None, implementation="distributed")
    assert isinstance(cb, DistributedCircuitBreaker)
    assert isinstance(cb, seawall.CircuitBreakerInterface)
    assert cb.call(lambda: "ok") == "ok"
    assert cb.call(boom, fallback=lambda: "fb") == "fb"
    assert asyncio.run(cb.acall(lambda: asyncio.sleep(0, "async"))) == "async"

    @cb
    def decorated() -> int:
        return 7

    @cb
    async def adecorated() -> int:
        return 8

    assert decorated() == 7
    assert asyncio.run(adecorated()) == 8
    with cb:
        pass
    permit = cb.acquire()
    permit.success()
    m = cb.get_metrics()
    assert m["total_successes"] == 6 and m["total_failures"] == 1
    assert m["state"] == CircuitState.CLOSED and cb.is_closed()
    wait_for("connected", lambda: connected(cb))
    assert cb.fleet_metrics()["instance"]
    assert cb.fleet_metrics()["namespace"] == "seawall"
    assert repr(cb) == "<DistributedCircuitBreaker 'svc' CLOSED>"


def test_a_fleet_open_rejects_through_every_handle_and_runs_callbacks(redis_url: str) -> None:
    # Two handles in one process share one coordinator: one instance of the
    # fleet (a quorum of one), each with its own local breaker. The fleet's
    # rate rule (0.5 when the configuration has none) judges minimum_calls.
    opened: List[str] = []
    transitions: List[Any] = []
    config = dict(failure_threshold=1000, minimum_calls=5, timeout=timedelta(seconds=30))
    a = DistributedCircuitBreaker("dep", CircuitBreakerConfig(**config), redis_url=redis_url)
    b = DistributedCircuitBreaker(
        "dep",
        CircuitBreakerConfig(**config, on_open=lambda: opened.append("b")),
        redis_url=redis_url,
    )
    b.add_listener(lambda name, old, new: transitions.append((name, old, new)))
    # Counts made before the coordinator first reaches Redis are dropped,
    # like an outage's.
    wait_for("connected", lambda: connected(a) and connected(b))
    fail(a, 5)
    wait_for("b rejects with the fleet OPEN", lambda: b.get_state() == CircuitState.OPEN)
    with pytest.raises(CircuitBreakerOpenError) as e:
        b.call(lambda: "never")
    assert e.value.state == CircuitState.OPEN
    assert e.value.retry_after is not None and 0 < e.value.retry_after <= 30
    wait_for("b's on_open ran for the fleet trip", lambda: opened != [])
    assert opened == ["b"]
    wait_for("b's listener ran", lambda: ("dep", CircuitState.CLOSED, CircuitState.OPEN) in transitions)
    assert b.fleet_metrics()["state"] == CircuitState.OPEN
    assert b.metrics()["rejected"] >= 1
    # Only the fleet is OPEN: neither local breaker tripped (1000 failures).
    assert a.metrics()["consecutive_failures"] == 5


def test_operator_commands_apply_fleet_wide(redis_url: str) -> None:
    a = DistributedCircuitBreaker("ops", redis_url=redis_url, namespace="ops")
    b = DistributedCircuitBreaker("ops", redis_url=redis_url, namespace="ops")
    wait_for("connected", lambda: connected(a))
    a.force_open()
    assert a.get_state() == CircuitState.FORCED_OPEN
    wait_for("b is forced open too", lambda: b.get_state() == CircuitState.FORCED_OPEN)
    with pytest.raises(CircuitBreakerOpenError):
        b.call(lambda: 1)
    b.force_closed()
    wait_for("a is forced closed too", lambda: a.get_state() == CircuitState.FORCED_CLOSED)
    b.reset()
    wait_for("a is reset too", lambda: a.get_state() == CircuitState.CLOSED)
    assert a.call(lambda: 1) == 1


def test_distributed_breakers_export_their_books_the_fleet_state_and_the_store_health(
    redis_url: str,
) -> None:
    name = f"exported-{uuid.uuid4().hex[:8]}"
    config = CircuitBreakerConfig(failure_threshold=1000, minimum_calls=5)
    cb = DistributedCircuitBreaker(name, config, redis_url=redis_url)
    wait_for("connected", lambda: connected(cb))
    fail(cb, 5)
    wait_for("the fleet opens", lambda: cb.get_state() == CircuitState.OPEN)
    f = families_of(name)
    assert f["seawall_breaker_fleet_state"][(("state", "open"),)] == 1
    assert f["seawall_breaker_fleet_state"][(("state", "closed"),)] == 0
    assert f["seawall_breaker_fleet_degraded"][()] == 0
    assert f["seawall_breaker_calls"][(("outcome", "failure"),)] == 5
    assert f["seawall_breaker_state"][(("state", "open"),)] == 1
    assert seawall.snapshot()["breakers"][name]["failures"] == 5
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = DistributedCircuitBreaker(f"{name}-down", redis_url=f"redis://127.0.0.1:{port}/")
    assert families_of(f"{name}-down")["seawall_breaker_fleet_degraded"][()] == 1
    del cb, down
    gc.collect()
    assert families_of(name) == {} and families_of(f"{name}-down") == {}
    assert name not in seawall.snapshot()["breakers"]


def test_an_unreachable_redis_never_blocks_calls_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    caplog.set_level(logging.WARNING, logger="seawall")
    cb = DistributedCircuitBreaker(
        "down", CircuitBreakerConfig(failure_threshold=3), redis_url=f"redis://127.0.0.1:{port}/"
    )
    assert cb.fleet_metrics()["degraded"]
    for _ in range(1000):
        assert cb.call(lambda: 1) == 1
    # Decided locally: the local breaker still trips on its own.
    fail(cb, 3)
    with pytest.raises(CircuitBreakerOpenError):
        cb.call(boom)
    with pytest.raises(Boom):
        boom()
    wait_for(
        "a warning that Redis cannot be reached",
        lambda: any("cannot reach Redis" in r.getMessage() for r in caplog.records),
    )


def test_dropping_the_last_handle_never_waits_for_the_coordinator(redis_url: str) -> None:
    # The coordinator thread runs fleet callbacks, which need the GIL. If
    # dropping the last handle (under the GIL) waited for that thread, the
    # two would wait for each other forever: run it in a child process with
    # a time limit.
    script = textwrap.dedent(
        f"""
        import gc, sys, time
        from seawall import CircuitBreakerConfig, DistributedCircuitBreaker

        opened = []
        cb = DistributedCircuitBreaker(
            "dep",
            CircuitBreakerConfig(failure_threshold=1000, minimum_calls=5,
                                 on_open=lambda: opened.append(1)),
            redis_url={redis_url!r},
        )
        deadline = time.monotonic() + 20
        while cb.fleet_metrics()["degraded"]:
            assert time.monotonic() < deadline, "never connected"
            time.sleep(0.01)
        sys.setswitchinterval(30)  # keep the GIL on this thread
        for _ in range(5):
            try:
                cb.call(lambda: 1 / 0)
            except ZeroDivisionError:
                pass
        end = time.monotonic() + 0.5
        while time.monotonic() < end:  # the coordinator trips and waits for the GIL
            pass
        del cb
        gc.collect()
        print("dropped")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "dropped" in done.stdout


# A forked child inherits the parent's breakers but not its coordinator
# thread; the package's fork hook builds them again in the child.
_inherited: List[DistributedCircuitBreaker] = []


def _forked_child(parent_instance: str, out: Any, go: Any) -> None:
    cb = _inherited[0]
    try:
        wait_for("the child's coordinator reaches Redis", lambda: connected(cb), timeout=20)
        assert cb.fleet_metrics()["instance"] != parent_instance
        assert cb.call(lambda: "child") == "child"
        wait_for("the child's counts reach Redis", lambda: cb.fleet_metrics()["flushes"] > 0, 20)
        out.put(("ready", cb.fleet_metrics()["instance"]))
        assert go.wait(30), "the parent never forced the fleet open"
        wait_for(
            "the child sees the fleet forced open",
            lambda: cb.get_state() == CircuitState.FORCED_OPEN,
            timeout=20,
        )
        with pytest.raises(CircuitBreakerOpenError):
            cb.call(lambda: "rejected")
        out.put(("ok", ""))
    except BaseException as e:  # reported to the parent, which fails the test
        out.put(("error", repr(e)))


@pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="needs the fork start method"
)
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # forking with threads (3.12+)
def test_a_forked_child_gets_a_working_coordinator(redis_url: str) -> None:
    cb = DistributedCircuitBreaker("forked", redis_url=redis_url, namespace="fork")
    _inherited[:] = [cb]
    try:
        assert cb.call(lambda: 1) == 1
        wait_for("connected", lambda: connected(cb))
        parent = cb.fleet_metrics()["instance"]
        ctx = multiprocessing.get_context("fork")
        out = ctx.Queue()
        go = ctx.Event()
        child = ctx.Process(target=_forked_child, args=(parent, out, go))
        child.start()
        try:
            kind, detail = out.get(timeout=60)
            assert kind == "ready", detail
            # The child reports to the same fleet as another instance.
            wait_for("the parent sees two live instances",
                     lambda: cb.fleet_metrics()["live_instances"] == 2, timeout=20)
            cb.force_open()
            go.set()
            kind, detail = out.get(timeout=60)
            assert kind == "ok", detail
            child.join(timeout=30)
            assert child.exitcode == 0
        finally:
            if child.is_alive():
                child.kill()
                child.join()
        # The parent's breaker is untouched by the fork.
        assert cb.fleet_metrics()["instance"] == parent
        cb.reset()
        assert cb.call(lambda: 2) == 2
    finally:
        _inherited.clear()


def test_instances_configured_differently_are_warned_and_counted(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Two handles on one coordinator flush the same breaker with other
    # settings (a rolling deploy changing minimum_calls): each hears of the
    # other's configuration once, as a warning, and counts it.
    caplog.set_level(logging.WARNING, logger="seawall")
    a = DistributedCircuitBreaker("cfg", CircuitBreakerConfig(minimum_calls=5), redis_url=redis_url)
    b = DistributedCircuitBreaker("cfg", CircuitBreakerConfig(minimum_calls=20), redis_url=redis_url)
    assert a.fleet_metrics()["config_mismatches"] == 0
    wait_for("connected", lambda: connected(a) and connected(b))
    for cb in (a, b):
        cb.call(lambda: "ok")
    wait_for(
        "both heard of the other configuration",
        lambda: a.fleet_metrics()["config_mismatches"] >= 1
        and b.fleet_metrics()["config_mismatches"] >= 1,
    )
    assert a.fleet_metrics()["config_conflicts"] >= 1
    warned = [r.getMessage() for r in caplog.records if "configured differently" in r.getMessage()]
    assert warned and all("'cfg'" in m for m in warned)
    # Both still decide calls.
    assert a.call(lambda: 1) == 1 and b.call(lambda: 2) == 2


def test_acall_and_async_decorators_classify_and_fall_back_like_the_local_breaker(
    redis_url: str,
) -> None:
    cb = DistributedCircuitBreaker(
        "aio",
        CircuitBreakerConfig(failure_threshold=100, exclude_exceptions=[KeyError]),
        redis_url=redis_url,
        namespace="aio",
    )

    async def failing() -> None:
        raise Boom("down")

    async def missing() -> None:
        raise KeyError("k")

    async def afallback() -> str:
        return "async fb"

    async def scenario() -> None:
        # A failure with a fallback: the fallback's result (awaited).
        assert await cb.acall(failing, fallback=afallback) == "async fb"
        # An excluded exception is neutral: raised, never replaced.
        with pytest.raises(KeyError):
            await cb.acall(missing, fallback=lambda: "never")
        with pytest.raises(Boom):
            await cb.acall(failing)

        @cb
        async def decorated(x: int) -> int:
            await asyncio.sleep(0)
            return x * 2

        assert asyncio.iscoroutinefunction(decorated)
        assert decorated.__name__ == "decorated"
        assert await decorated(21) == 42
        cb.force_open()
        # Rejected: the fallback runs (a plain value is returned as it is).
        assert await cb.acall(failing, fallback=lambda: "sync fb") == "sync fb"
        with pytest.raises(CircuitBreakerOpenError):
            await decorated(1)
        cb.reset()

    asyncio.run(scenario())
    m = cb.metrics()
    assert m["failures"] == 2 and m["ignored"] == 1 and m["successes"] == 1


def test_a_permit_reports_exactly_once_and_counts_when_dropped(redis_url: str) -> None:
    cb = DistributedCircuitBreaker(
        "permits",
        CircuitBreakerConfig(
            failure_threshold=100,
            exclude_exceptions=[KeyError],
            result_predicate=lambda v: v == "bad",
        ),
        redis_url=redis_url,
        namespace="permits",
    )
    # Each report, and whether it counted as a failure.
    reports: List[Any] = [
        (lambda p: p.record_exception(Boom()), True),
        (lambda p: p.record_exception(KeyError("k")), False),
        (lambda p: p.record_result("bad"), True),
        (lambda p: p.record_result("ok"), False),
    ]
    for report, failed in reports:
        permit = cb.acquire()
        assert permit.pending
        assert report(permit) is failed
        assert not permit.pending
        for again in (permit.success, permit.ignore, lambda: permit.record_result(1)):
            with pytest.raises(RuntimeError, match="already reported"):
                again()
    unreported = cb.acquire()
    del unreported
    gc.collect()
    m = cb.metrics()
    assert (m["permitted"], m["failures"], m["successes"], m["ignored"]) == (5, 2, 1, 2)
