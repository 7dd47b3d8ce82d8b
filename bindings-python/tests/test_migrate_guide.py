"""The migration guide's complete example through seawall-migrate: its
"Before" rewritten has the shape of its "After" (Seawall imports, a
``with_resilience`` decorator, a ``CircuitBreakerConfig``), keeps its
comments, and behaves as the original "Before" (run through the legacy
aliases) under a scripted outage on the manual clock."""

from __future__ import annotations

import ast
import asyncio
import sys
import types
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest

pytest.importorskip("libcst")

import seawall  # noqa: E402
from seawall import CircuitBreakerOpenError, ManualClock, RetryError  # noqa: E402
from seawall.migrate import process  # noqa: E402

from test_legacy import COMPLETE_MIGRATION_BEFORE  # noqa: E402
from test_migration_guide import COMPLETE_MIGRATION_AFTER, adapted  # noqa: E402


def rewritten(source: str) -> str:
    r = process("user_service_client.py", source, rewrite=True)
    assert r.error is None and r.new_source is not None
    return r.new_source


def imports(source: str) -> Set[Tuple[str, str]]:
    return {(n.module or "", a.name) for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.ImportFrom) for a in n.names}


def decorators(source: str) -> List[str]:
    return [d.func.id for n in ast.walk(ast.parse(source)) if isinstance(n, ast.AsyncFunctionDef)
            for d in n.decorator_list if isinstance(d, ast.Call) and isinstance(d.func, ast.Name)]


def test_the_before_rewritten_has_the_shape_of_the_after() -> None:
    new = rewritten(COMPLETE_MIGRATION_BEFORE)
    after = adapted(COMPLETE_MIGRATION_AFTER)
    assert not any(m.startswith("shared") for m, _ in imports(new))
    assert imports(after) <= imports(new)  # with_resilience, CircuitBreakerConfig
    assert decorators(new) == decorators(after) == ["with_resilience"]
    assert "CircuitBreakerConfig(failure_threshold=5" in new
    for comment in ("# File: user_service_client.py", "# Two different circuit breakers!",
                    "# Complex retry logic"):
        assert comment in new
    assert process("x.py", new, rewrite=True).new_source is None  # a second run changes nothing


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instant(d: float) -> None:
        pass

    monkeypatch.setattr(asyncio, "sleep", instant)


@pytest.fixture
def aliases() -> Iterator[None]:
    seawall.install_legacy_aliases()
    yield
    for name in [m for m in sys.modules if m == "shared" or m.startswith("shared.")]:
        del sys.modules[name]


def outage(snippet: str, breaker: str) -> List[Tuple[str, int, str]]:
    """Runs the client of ``snippet`` through a scripted outage on a manual
    clock: (outcome, calls to the service so far, breaker state) per call.
    Its class body's ``self.cb`` (a NameError in the guide) is supplied,
    built by ``breaker`` on the manual clock."""
    clock = ManualClock()
    ns: Dict[str, Any] = {"clock": clock}
    exec(breaker, ns)
    cb = ns["cb"]
    down = [False]
    calls: List[int] = []

    async def fetch(self: Any, user_id: int) -> Dict[str, int]:
        calls.append(user_id)
        if down[0]:
            raise ConnectionError("outage")
        return {"id": user_id}

    ns2: Dict[str, Any] = {"self": types.SimpleNamespace(cb=cb)}
    exec(snippet, ns2)
    client_cls = ns2["UserServiceClient"]
    client_cls._fetch_user = fetch
    client = client_cls()
    trace: List[Tuple[str, int, str]] = []

    def call() -> None:
        try:
            asyncio.run(client.get_user(1))
            outcome = "ok"
        except (RetryError, CircuitBreakerOpenError) as e:
            outcome = type(e).__name__
        trace.append((outcome, len(calls), cb.get_state().name))

    call()
    down[0] = True
    for _ in range(3):
        call()
    clock.advance(59)
    call()  # still open
    clock.advance(1)
    call()  # the trial fails: open again
    down[0] = False
    clock.advance(60)
    call()  # the trial succeeds and closes it
    call()
    return trace


@pytest.mark.usefixtures("no_sleep")
def test_the_rewrite_behaves_as_the_original_under_an_outage(
    aliases: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SEAWALL_REDIS_URL", raising=False)
    old_breaker = ("from shared.utils.retry_strategy import CircuitBreaker\n"
                   "cb = CircuitBreaker(failure_threshold=5, clock=clock)\n")
    before = outage(COMPLETE_MIGRATION_BEFORE, old_breaker)
    for name in [m for m in sys.modules if m == "shared" or m.startswith("shared.")]:
        del sys.modules[name]
    after = outage(rewritten(COMPLETE_MIGRATION_BEFORE), rewritten(old_breaker))
    assert not any(m == "shared" or m.startswith("shared.") for m in sys.modules)
    assert after == before, (before, after)
    outcomes = [o for o, _, _ in before]
    assert outcomes[0] == "ok" and outcomes[-2:] == ["ok", "ok"]
    assert before[-2][2] == "CLOSED"  # one trial success closes it, as the old breaker did
    assert "CircuitBreakerOpenError" in outcomes
