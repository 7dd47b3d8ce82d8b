"""The legacy APIs (`seawall.compat`), `seawall.install_legacy_aliases()` and
the rollback switch (`SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION`,
`seawall.set_default_implementation`):
the migration guide's "Before" snippets run unchanged through the old
module paths, with the old semantics (consecutive failures of the expected
exception, a recovery timeout, one trial call) checked on the manual clock.

The snippets are copied verbatim from circuit-breaker-migration-guide.md.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import types
from typing import Any, Dict, Iterator, List

import pytest

import seawall
from seawall import CircuitBreakerOpenError, ManualClock, RetryError
from seawall.adapters import LegacyCircuitBreakerAdapter
from seawall.compat.retry_strategy import CircuitBreaker, with_retry

from conftest import families_of, flaky_fetch_user
from http_server import Server

PATTERN_1_BEFORE = '''
from shared.utils.retry_strategy import CircuitBreaker

circuit_breaker = CircuitBreaker(
    failure_threshold=5,
    recovery_timeout=60,
    expected_exception=Exception
)

try:
    if not circuit_breaker._should_attempt_reset():
        raise Exception("Circuit open")
    result = make_call()
    circuit_breaker.record_success()
except Exception as e:
    circuit_breaker.record_failure()
    raise
'''

STEP_4_OLD = '''
# Old (retry_strategy)
cb = CircuitBreaker(
    failure_threshold=5,
    recovery_timeout=60,
    expected_exception=HTTPError
)
'''

STEP_3_OLD_IMPORTS = '''
from shared.utils.retry_strategy import CircuitBreaker
'''


@pytest.fixture
def aliases() -> Iterator[None]:
    """The old module paths, removed again after the test."""
    seawall.install_legacy_aliases()
    yield
    for name in [m for m in sys.modules if m == "shared" or m.startswith("shared.")]:
        del sys.modules[name]


def run(snippet: str, ns: Dict[str, Any]) -> Dict[str, Any]:
    exec(compile(textwrap.dedent(snippet), "<guide>", "exec"), ns)
    return ns


@pytest.mark.usefixtures("aliases")
def test_pattern_1_before_runs_unchanged_and_opens_after_five_failures() -> None:
    ns = run(PATTERN_1_BEFORE, dict(make_call=lambda: 42))
    assert ns["result"] == 42
    cb = ns["circuit_breaker"]
    assert isinstance(cb, CircuitBreaker) and isinstance(cb, seawall.UnifiedCircuitBreaker)

    def failing() -> None:
        raise RuntimeError("down")

    # The snippet's protected part, run again on the same breaker.
    use = "try:" + PATTERN_1_BEFORE.split("\ntry:", 1)[1]
    ns["make_call"] = failing
    for _ in range(5):
        with pytest.raises(RuntimeError):
            run(use, ns)
    # Open: the snippet's own check refuses before calling.
    called: list[int] = []
    ns["make_call"] = lambda: called.append(1)
    with pytest.raises(Exception, match="Circuit open"):
        run(use, ns)
    assert called == []
    assert cb._state == "open"


@pytest.mark.usefixtures("aliases")
def test_the_old_imports_and_the_new_package_path_resolve_to_seawall() -> None:
    ns = run(STEP_3_OLD_IMPORTS, {})
    assert ns["CircuitBreaker"] is CircuitBreaker
    import shared.resilience  # type: ignore[import-not-found]
    import shared.resilience.adapters  # type: ignore[import-not-found]

    assert shared.resilience is seawall
    assert shared.resilience.adapters is seawall.adapters


def test_an_existing_parent_package_is_kept(tmp_path: Any) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "__init__.py").write_text("REAL = True\n")
    sys.path.insert(0, str(tmp_path))
    try:
        seawall.install_legacy_aliases()
        import shared  # type: ignore[import-not-found]
        import shared.utils.retry_strategy as rs  # type: ignore[import-not-found]

        assert shared.REAL and shared.resilience is seawall
        assert rs is seawall.compat.retry_strategy
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "shared" or m.startswith("shared.")]:
            del sys.modules[name]


def test_legacy_semantics_on_the_manual_clock() -> None:
    class HTTPError(Exception):
        pass

    clock = ManualClock()
    ns = run(STEP_4_OLD, dict(HTTPError=HTTPError, CircuitBreaker=lambda **kw: CircuitBreaker(
        **kw, clock=clock)))
    cb = ns["cb"]
    assert (cb.failure_threshold, cb.recovery_timeout, cb.expected_exception) == (5, 60.0, HTTPError)

    def http_error() -> None:
        raise HTTPError("503")

    def other() -> None:
        raise KeyError("not the expected exception")

    for _ in range(10):
        with pytest.raises(KeyError):
            cb.call(other)
    assert cb._state == "closed"
    for _ in range(4):
        with pytest.raises(HTTPError):
            cb.call(http_error)
    cb.record_success()  # consecutive: a success starts the count again
    for _ in range(5):
        with pytest.raises(HTTPError):
            cb.call(http_error)
    assert cb._state == "open" and cb.is_open() and not cb._should_attempt_reset()
    clock.advance(59.9)
    assert not cb._should_attempt_reset()
    clock.advance(0.1)
    assert cb._should_attempt_reset()
    # One trial call; its failure reopens for another recovery_timeout.
    with pytest.raises(HTTPError):
        cb.call(http_error)
    assert cb._state == "open"
    clock.advance(60)
    assert cb.call(lambda: "ok") == "ok"  # a single success closes it
    assert cb._state == "closed"


def test_with_retry_retries_through_the_breaker_sync_and_async() -> None:
    name = "user_fetch_legacy"
    cb = CircuitBreaker(failure_threshold=3, recovery_timeout=60, expected_exception=ConnectionError,
                        clock=ManualClock())
    attempts: list[int] = []

    @with_retry(name, circuit_breaker=cb, max_attempts=3, initial_delay=0.0, max_delay=0.0)
    def fetch(user_id: int) -> Dict[str, int]:
        attempts.append(user_id)
        if len(attempts) < 2:
            raise ConnectionError("flaky")
        return {"id": user_id}

    assert fetch(7) == {"id": 7}
    assert attempts == [7, 7]

    @with_retry(name, circuit_breaker=cb, max_attempts=3, initial_delay=0.0, max_delay=0.0)
    async def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryError):
        asyncio.run(down())  # 3 attempts: the breaker opens at the third
    assert cb._state == "open"
    # Open: rejected at once (its retry_after, 60 s, exceeds max_delay).
    with pytest.raises(CircuitBreakerOpenError):
        fetch(8)
    assert attempts == [7, 7]
    calls = {dict(k)["outcome"]: v for k, v in families_of(name)["seawall_retry_calls"].items()}
    # Both functions count under one name: the exhausted call and the
    # rejected one gave up.
    assert calls["success_after_retry"] == 1 and calls["gave_up"] == 2, calls


def test_bad_arguments_are_named() -> None:
    with pytest.raises(TypeError, match="expected_exception"):
        CircuitBreaker(expected_exception=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="recovery_timeout"):
        CircuitBreaker(recovery_timeout=-1)
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="not both"):
        seawall.with_resilience(circuit_breaker=CircuitBreaker(), circuit_breaker_name="x")
    with pytest.raises(TypeError, match="circuit_breaker"):
        with_retry("x", circuit_breaker="cb")  # type: ignore[arg-type]


@pytest.fixture
def no_switch(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(seawall.adapters.IMPLEMENTATION_ENV, raising=False)
    yield
    seawall.set_default_implementation(None)


@pytest.mark.usefixtures("no_switch")
def test_the_rollback_switch_chooses_the_implementation_without_code_changes(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="seawall")
    make = seawall.create_circuit_breaker_adapter
    assert seawall.default_implementation() == ("unified", "default")
    cb = make("payments")
    assert type(cb) is seawall.UnifiedCircuitBreaker
    assert cb.get_metrics()["implementation"] == "unified"
    assert caplog.records == []

    monkeypatch.setenv(seawall.adapters.IMPLEMENTATION_ENV, "legacy")
    cb = make("payments")
    assert isinstance(cb, LegacyCircuitBreakerAdapter)
    assert cb.get_metrics()["implementation"] == "legacy"
    (record,) = caplog.records
    assert record.levelno == logging.INFO
    assert (record.circuit_breaker, record.implementation, record.source) == (  # type: ignore[attr-defined]
        "payments", "legacy", "SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION"
    )
    # The programmatic override wins over the environment; an explicit
    # argument wins over both.
    seawall.set_default_implementation("lightweight")
    assert seawall.default_implementation() == ("lightweight", "set_default_implementation")
    assert make("payments").get_metrics()["implementation"] == "lightweight"
    assert make("payments", implementation="unified").get_metrics()["implementation"] == "unified"
    seawall.set_default_implementation(None)
    assert seawall.default_implementation()[0] == "legacy"


@pytest.mark.usefixtures("no_switch")
def test_the_rollback_switch_builds_the_decorators_breakers_not_the_http_clients_per_host_ones(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    import httpx

    from seawall.httpx import ResilientTransport

    registry = seawall.Registry(clock=ManualClock())
    config = seawall.CircuitBreakerConfig(failure_threshold=2, timeout=60.0)
    monkeypatch.setenv(seawall.adapters.IMPLEMENTATION_ENV, "legacy")

    @seawall.with_circuit_breaker("orders", config, registry=registry)
    def place(ok: bool) -> str:
        if not ok:
            raise ConnectionError("down")
        return "placed"

    @seawall.with_resilience(circuit_breaker_name="stock", retry_policy=None, registry=registry)
    async def stock() -> int:
        return 3

    orders = place.circuit_breaker  # type: ignore[attr-defined]
    assert isinstance(orders, LegacyCircuitBreakerAdapter)
    assert isinstance(stock.circuit_breaker, LegacyCircuitBreakerAdapter)  # type: ignore[attr-defined]
    assert asyncio.run(stock()) == 3
    for _ in range(2):
        with pytest.raises(ConnectionError):
            place(False)
    assert orders._state == "open"  # the legacy names, through the decorator
    with pytest.raises(CircuitBreakerOpenError):
        place(True)

    # Breakers already built keep their implementation; new ones follow a
    # change of the switch: here the fleet's, on a real Redis.
    seawall.set_default_implementation("distributed")
    monkeypatch.setenv("SEAWALL_REDIS_URL", redis_url)

    @seawall.with_resilience(circuit_breaker_name="fleet-orders", retry_policy="network",
                             registry=registry, sleep=lambda s: None)
    def fleet_place() -> str:
        return "placed"

    fleet = fleet_place.circuit_breaker  # type: ignore[attr-defined]
    assert isinstance(fleet, seawall.DistributedCircuitBreaker)
    assert fleet_place() == "placed"
    assert fleet.get_metrics()["implementation"] == "distributed"
    assert registry.get("fleet-orders") is fleet and "fleet-orders" in registry.names()
    assert registry.snapshot()["fleet-orders"]["successes"] == 1
    assert registry.get("orders") is orders

    with httpx.Client(
        transport=ResilientTransport(
            httpx.MockTransport(lambda r: httpx.Response(200)), registry=registry
        )
    ) as client:
        assert client.get("http://api.test/x").status_code == 200
    # The HTTP clients' per-host breakers are a keyed family, always native:
    # the switch does not apply to them.
    host = registry.get("http:api.test:80")
    assert isinstance(host, seawall.KeyBreaker)
    m = host.get_metrics()
    assert m is not None and (m["implementation"], m["total_successes"]) == ("keyed", 1)


@pytest.mark.usefixtures("no_switch")
def test_a_distributed_switch_without_a_redis_url_stops_the_decorator_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
    seawall.set_default_implementation("distributed")
    with pytest.raises(ValueError, match="SEAWALL_REDIS_URL"):
        seawall.with_circuit_breaker("orders", registry=seawall.Registry())


@pytest.mark.usefixtures("no_switch")
def test_an_invalid_switch_is_refused_by_name_never_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="implementation must be one of .*'legacy'.*not 'legcy'"):
        seawall.set_default_implementation("legcy")
    monkeypatch.setenv(seawall.adapters.IMPLEMENTATION_ENV, "legcy")
    with pytest.raises(ValueError, match="SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION must be one of"):
        seawall.create_circuit_breaker_adapter("payments")
    # At startup: importing the package fails with the same message.
    env = {**os.environ, seawall.adapters.IMPLEMENTATION_ENV: "legcy"}
    out = subprocess.run([sys.executable, "-c", "import seawall"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode != 0
    assert "SEAWALL_CIRCUIT_BREAKER_IMPLEMENTATION must be one of" in out.stderr


def test_unified_http_client_per_endpoint_breakers_retries_and_metrics(
    server: Server, other: Server, registry: seawall.Registry, clock: ManualClock
) -> None:
    from seawall.compat.unified_http_client import UnifiedHTTPClient

    slept: List[float] = []

    async def asleep(d: float) -> None:
        slept.append(d)

    with UnifiedHTTPClient(
        server.url(""),
        timeout=5.0,
        registry=registry,
        name="users-api",
        breaker_config=seawall.CircuitBreakerConfig(failure_threshold=3, success_threshold=1,
                                                    timeout=30.0),
        retry=seawall.RetryConfig(max_attempts=2, initial_delay=0.0, max_delay=0.0,
                                  jitter_enabled=False),
        sleep=slept.append,
        asleep=asleep,
    ) as client:
        server.then("/users/7", 503)
        assert client.get("/users/7").status_code == 200  # retried once
        # Sync and async requests share the endpoint's breaker.
        server.down = True
        assert asyncio.run(client.aget("/users/8")).status_code == 503
        assert client.post("/users", json={}).status_code == 503  # never retried
        assert server.hits["/users"] == 1
        with pytest.raises(CircuitBreakerOpenError):
            client.get("/users/9")
        assert client.get(other.url("/x")).status_code == 200  # another endpoint
        m = client.get_metrics()
        assert set(m["endpoints"]) == {server.breaker_name, other.breaker_name}
        assert m["endpoints"][server.breaker_name]["state"] == seawall.CircuitState.OPEN
        assert m["retries"]["success_after_retry"] == 1
        assert m["retries"]["gave_up"] >= 1
        server.down = False
        clock.advance(30)
        assert client.get("/users/9").status_code == 200
        assert client.get_metrics()["endpoints"][server.breaker_name]["state"] == (
            seawall.CircuitState.CLOSED
        )


@pytest.mark.usefixtures("aliases")
def test_the_old_http_client_path_imports_it() -> None:
    from shared.clients.unified_http_client import UnifiedHTTPClient  # type: ignore[import-not-found]

    from seawall.compat.unified_http_client import UnifiedHTTPClient as Ours

    assert UnifiedHTTPClient is Ours


def test_without_httpx_the_old_http_client_path_says_what_to_install() -> None:
    code = textwrap.dedent('''
        import sys
        sys.modules["httpx"] = None  # as if not installed
        import seawall
        seawall.install_legacy_aliases()
        from shared.utils.retry_strategy import CircuitBreaker
        try:
            from shared.clients.unified_http_client import UnifiedHTTPClient
        except ImportError as e:
            print(e)
    ''')
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "needs httpx: pip install 'seawall[httpx]'" in out.stdout


COMPLETE_MIGRATION_BEFORE = '''
# File: user_service_client.py
from shared.utils.retry_strategy import CircuitBreaker, with_retry
from shared.security.protection_facade import get_protection_facade

class UserServiceClient:
    def __init__(self):
        # Two different circuit breakers!
        self.cb = CircuitBreaker(failure_threshold=5)
        self.protection = get_protection_facade()
        
    @with_retry("user_fetch", circuit_breaker=self.cb)
    async def get_user(self, user_id):
        # Complex retry logic
        return await self._fetch_user(user_id)
'''


@pytest.mark.usefixtures("aliases")
def test_the_complete_before_example_runs_through_the_aliases(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
    # The snippet's class body uses `self`, which does not exist there: a
    # stand-in holding the breaker is supplied, as other snippets' missing
    # names are.
    stand_in = types.SimpleNamespace(cb=CircuitBreaker(failure_threshold=5))
    ns = run(COMPLETE_MIGRATION_BEFORE, {"self": stand_in})
    client_cls = ns["UserServiceClient"]
    calls: List[int] = []
    client_cls._fetch_user = flaky_fetch_user(calls)
    client = client_cls()
    assert isinstance(client.cb, CircuitBreaker)
    assert not client.protection.distributed  # no Redis URL: local

    async def no_sleep(d: float) -> None:
        pass

    monkeypatch.setattr(asyncio, "sleep", no_sleep)  # undone at teardown
    assert asyncio.run(client.get_user(7)) == {"id": 7}
    assert calls == [7, 7]
    assert client_cls.get_user.circuit_breaker is stand_in.cb


def test_the_protection_facade_locally(registry: seawall.Registry, clock: ManualClock) -> None:
    from seawall.compat.protection_facade import ProtectionFacade

    facade = ProtectionFacade(registry=registry)
    config = seawall.CircuitBreakerConfig(failure_threshold=2, timeout=10.0)

    async def ok() -> str:
        return "ok"

    async def down() -> None:
        raise ConnectionError("down")

    async def scenario() -> None:
        assert await facade.call("payments", ok, config=config) == "ok"
        for _ in range(2):
            with pytest.raises(ConnectionError):
                await facade.call("payments", down)
        assert await facade.is_circuit_open("payments")
        with pytest.raises(CircuitBreakerOpenError):
            await facade.call("payments", ok)
        # Rate limits by key: 3 per second, bursts of 3.
        admitted = [await facade.check_rate_limit("user:1", 3) for _ in range(5)]
        assert admitted == [True, True, True, False, False]
        assert await facade.check_rate_limit("user:2", 3)  # another key
        assert await facade.retry_after("user:1", 3) == pytest.approx(1 / 3)
        clock.advance(1)
        assert await facade.check_rate_limit("user:1", 3)

    asyncio.run(scenario())
    status = facade.get_status()
    assert status["distributed"] is False
    assert status["circuit_breakers"]["payments"]["state"] == seawall.CircuitState.OPEN
    assert registry.get("payments") is facade.get_circuit_breaker("payments")
    with pytest.raises(ValueError, match="limit"):
        asyncio.run(facade.check_rate_limit("k", 0))
    with pytest.raises(TypeError, match="redis_url"):
        ProtectionFacade(42)  # type: ignore[arg-type]


def test_the_protection_facade_across_a_fleet(redis_url: str) -> None:
    from seawall.compat.protection_facade import get_protection_facade

    facade = get_protection_facade(redis_url, namespace="facade")
    assert facade is get_protection_facade(redis_url, namespace="facade")
    assert facade.distributed
    cb = facade.get_circuit_breaker("orders")
    assert isinstance(cb, seawall.DistributedCircuitBreaker)
    assert facade.get_circuit_breaker("orders") is cb

    async def ok() -> int:
        return 1

    assert asyncio.run(facade.call("orders", ok)) == 1
    # A fleet limit answers from memory, never waiting for Redis.
    results = [asyncio.run(facade.check_rate_limit("tenant:9", 1000)) for _ in range(10)]
    assert all(results)
    assert "orders" in facade.get_status()["circuit_breakers"]
