"""Every Python snippet of circuit-breaker-migration-guide.md that uses the
unified API, run with only its import line changed (`shared.resilience` ->
`seawall`), or unchanged through the one-line shim module.

The snippets are copied verbatim below. Names a snippet uses without defining
(`make_call`, `fetch_from_service`, `HTTPError`, `logger`, `timedelta` where
the snippet forgot the import) are supplied as minimal fakes in the namespace
the snippet runs in.
"""

from __future__ import annotations

import ast
import asyncio
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any, Dict

import pytest

import seawall

from conftest import flaky_fetch_user

PATTERN_1_AFTER = '''
from shared.resilience import UnifiedCircuitBreaker, CircuitBreakerConfig

config = CircuitBreakerConfig(
    failure_threshold=5,
    timeout=timedelta(seconds=60),
    track_exceptions=[Exception]
)

circuit_breaker = UnifiedCircuitBreaker(config)

# Use the cleaner interface
result = circuit_breaker.call(make_call)
# Or async
result = await circuit_breaker.acall(make_async_call)
'''

PATTERN_2_AFTER = '''
from shared.resilience import with_circuit_breaker

@with_circuit_breaker('user-service')
async def get_user_data(user_id):
    return await fetch_from_service(user_id)
'''

PATTERN_3 = '''
from shared.resilience.adapters import create_circuit_breaker_adapter
from shared.resilience import CircuitBreakerConfig

# For Redis-distributed state (multi-instance)
distributed_cb = create_circuit_breaker_adapter(
    name="payment-service",
    config=CircuitBreakerConfig(
        failure_threshold=10,
        success_threshold=5,
        timeout=timedelta(seconds=30)
    ),
    implementation="distributed"  # Uses Protection Facade
)

# For legacy compatibility
legacy_cb = create_circuit_breaker_adapter(
    name="legacy-service",
    config=CircuitBreakerConfig(...),
    implementation="legacy"  # Uses retry_strategy
)
'''

STEP_3_NEW_IMPORT = '''
# New unified import
from shared.resilience import (
    UnifiedCircuitBreaker,
    CircuitBreakerConfig,
    with_circuit_breaker,
    create_circuit_breaker_adapter  # If using adapters
)
'''

STEP_4_NEW = '''
# New (unified)
from datetime import timedelta

config = CircuitBreakerConfig(
    failure_threshold=5,
    timeout=timedelta(seconds=60),
    track_exceptions=[HTTPError],
    on_open=lambda: logger.warning("Circuit opened!")
)
cb = UnifiedCircuitBreaker(config)
'''

COMPLETE_MIGRATION_AFTER = '''
# File: user_service_client.py
from shared.resilience import with_resilience, CircuitBreakerConfig

class UserServiceClient:
    def __init__(self):
        # Single, clear configuration
        self.cb_config = CircuitBreakerConfig(
            failure_threshold=5,
            success_threshold=2,
            timeout=timedelta(seconds=30)
        )
    
    @with_resilience(
        retry_policy='network',
        circuit_breaker_name='user-service'
    )
    async def get_user(self, user_id):
        # Clean and simple
        return await self._fetch_user(user_id)
'''


def adapted(snippet: str) -> str:
    """The one change a migrating user makes: the import line."""
    return snippet.replace("shared.resilience", "seawall")


def run(snippet: str, ns: Dict[str, Any]) -> Dict[str, Any]:
    """Runs a snippet as module code; top-level `await` is allowed, as in the
    guide, and runs on a fresh event loop."""
    code = compile(textwrap.dedent(snippet), "<guide>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)
    if asyncio.iscoroutine(result):
        asyncio.run(result)
    return ns


class Recorder:
    """A fake `logger`."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, msg: str) -> None:
        self.warnings.append(msg)


def test_pattern_1_direct_migration_sync_and_async() -> None:
    calls = []

    def make_call() -> str:
        calls.append("sync")
        return "sync-result"

    async def make_async_call() -> str:
        calls.append("async")
        await asyncio.sleep(0)
        return "async-result"

    ns = run(adapted(PATTERN_1_AFTER), dict(timedelta=timedelta, make_call=make_call,
                                           make_async_call=make_async_call))
    assert calls == ["sync", "async"]
    assert ns["result"] == "async-result"
    cb = ns["circuit_breaker"]
    assert isinstance(cb, seawall.UnifiedCircuitBreaker)
    assert cb.get_metrics()["total_successes"] == 2
    # The config was taken from the single positional argument.
    assert cb.config.failure_threshold == 5


def test_pattern_2_decorator_on_async_function() -> None:
    seen = []

    async def fetch_from_service(user_id: int) -> dict:
        seen.append(user_id)
        return {"id": user_id}

    ns = run(adapted(PATTERN_2_AFTER), dict(fetch_from_service=fetch_from_service))
    get_user_data = ns["get_user_data"]
    assert asyncio.run(get_user_data(7)) == {"id": 7}
    assert seen == [7]
    assert get_user_data.__name__ == "get_user_data"
    assert asyncio.iscoroutinefunction(get_user_data)
    # The decorator shares the process-wide breaker of that name.
    assert get_user_data.circuit_breaker is seawall.get_registry().get("user-service")


def test_pattern_3_distributed_adapter_runs_unchanged_with_the_url_in_the_environment(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    distributed_part = PATTERN_3.split("# For legacy compatibility")[0]
    monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
    with pytest.raises(ValueError, match="SEAWALL_REDIS_URL"):
        run(adapted(distributed_part), dict(timedelta=timedelta))
    monkeypatch.setenv("SEAWALL_REDIS_URL", redis_url)
    ns = run(adapted(distributed_part), dict(timedelta=timedelta))
    cb = ns["distributed_cb"]
    assert isinstance(cb, seawall.DistributedCircuitBreaker)
    assert cb.call(lambda: 42) == 42
    assert cb.config.failure_threshold == 10


def test_pattern_3_legacy_adapter() -> None:
    # Only the legacy half; `CircuitBreakerConfig(...)` is the guide's
    # placeholder for "your settings": here, the defaults.
    legacy_part = PATTERN_3.split("# For legacy compatibility")[1]
    snippet = "from shared.resilience.adapters import create_circuit_breaker_adapter\n" \
              "from shared.resilience import CircuitBreakerConfig\n" + legacy_part.replace(
                  "CircuitBreakerConfig(...)", "CircuitBreakerConfig()")
    ns = run(adapted(snippet), {})
    legacy_cb = ns["legacy_cb"]
    assert legacy_cb.name == "legacy-service"
    assert legacy_cb.is_closed() and legacy_cb._state == "closed"
    assert legacy_cb._should_attempt_reset()
    for _ in range(5):
        legacy_cb.record_failure()
    assert legacy_cb.is_open() and legacy_cb._state == "open"
    assert not legacy_cb._should_attempt_reset()


def test_step_3_imports() -> None:
    ns = run(adapted(STEP_3_NEW_IMPORT), {})
    assert ns["UnifiedCircuitBreaker"] is seawall.UnifiedCircuitBreaker
    assert ns["create_circuit_breaker_adapter"] is seawall.create_circuit_breaker_adapter


def test_step_4_configuration_with_on_open_callback() -> None:
    class HTTPError(Exception):
        pass

    logger = Recorder()
    ns = run(adapted("from shared.resilience import UnifiedCircuitBreaker, CircuitBreakerConfig\n")
             + STEP_4_NEW, dict(HTTPError=HTTPError, logger=logger))
    cb = ns["cb"]

    def http_error() -> None:
        raise HTTPError("503")

    def other_error() -> None:
        raise KeyError("not tracked")

    for _ in range(10):  # untracked: neutral, never opens
        with pytest.raises(KeyError):
            cb.call(other_error)
    assert cb.is_closed() and logger.warnings == []
    for _ in range(5):
        with pytest.raises(HTTPError):
            cb.call(http_error)
    assert cb.is_open()
    assert logger.warnings == ["Circuit opened!"]


def test_complete_migration_with_resilience() -> None:
    ns = run(adapted(COMPLETE_MIGRATION_AFTER), dict(timedelta=timedelta))
    client_cls = ns["UserServiceClient"]
    calls: list[int] = []
    client_cls._fetch_user = flaky_fetch_user(calls)
    client = client_cls()
    assert client.cb_config.success_threshold == 2
    # One ConnectionError, then the retry of the 'network' policy succeeds
    # (its first delay, 0.5 s +-10%, is slept by asyncio.sleep: patched out).
    slept: list[float] = []

    async def fake_sleep(d: float) -> None:
        slept.append(d)

    real = asyncio.sleep
    asyncio.sleep = fake_sleep  # type: ignore[assignment]
    try:
        assert asyncio.run(client.get_user(7)) == {"id": 7}
    finally:
        asyncio.sleep = real
    assert calls == [7, 7]
    assert len(slept) == 1 and 0.45 <= slept[0] <= 0.55
    assert client_cls.get_user.circuit_breaker.name == "user-service"


def test_unchanged_snippets_run_through_the_one_line_shim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pkg = tmp_path / "shared" / "resilience"
    pkg.mkdir(parents=True)
    (tmp_path / "shared" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("import seawall; seawall.install_alias(__name__)\n")
    sys.path.insert(0, str(tmp_path))
    try:
        async def make_async_call() -> int:
            return 2

        ns = run(PATTERN_1_AFTER, dict(timedelta=timedelta, make_call=lambda: 1,
                                       make_async_call=make_async_call))
        assert ns["result"] == 2
        assert ns["UnifiedCircuitBreaker"] is seawall.UnifiedCircuitBreaker
        # Without a Redis URL the distributed adapter says what is missing.
        monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
        with pytest.raises(ValueError, match="SEAWALL_REDIS_URL"):
            run(PATTERN_3, dict(timedelta=timedelta))
        import shared.resilience.adapters as adapters_alias  # type: ignore[import-not-found]

        assert adapters_alias is seawall.adapters
    finally:
        sys.path.remove(str(tmp_path))
        for name in [m for m in sys.modules if m == "shared" or m.startswith("shared.")]:
            del sys.modules[name]
