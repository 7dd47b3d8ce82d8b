"""Metrics export: ``_native.metric_families()``, ``seawall.snapshot()``,
the ``prometheus_client`` collector and the native scrape text (both
checked with ``promtool``) and the OpenTelemetry instruments all carry the
engines' exact counters after a scripted run; dropped engines disappear
and leave memory flat."""

from __future__ import annotations

import gc
import subprocess
import tracemalloc
import urllib.request
import uuid
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import seawall
import seawall.opentelemetry
import seawall.prometheus
from seawall import (
    Bulkhead,
    BulkheadConfig,
    CircuitBreakerConfig,
    CircuitState,
    ManualClock,
    KeyedRateLimiter,
    RateLimiter,
    Retrier,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
    RetryError,
    RetryStrategy,
    UnifiedCircuitBreaker,
    _native,
)

from conftest import Labels, boom, fail, families_of, ok, require_tool



class Engines:
    """One engine of each kind, run through a script, under fresh names."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.clock = ManualClock()
        config = CircuitBreakerConfig(failure_threshold=2, success_threshold=1, timeout=10.0)
        self.breaker = UnifiedCircuitBreaker(f"b{self.tag}", config, clock=self.clock)
        self.registry = seawall.Registry(clock=self.clock)
        self.shared = self.registry.get_or_create(f"r{self.tag}", config)
        self.bulkhead = Bulkhead(
            BulkheadConfig(max_concurrent=1, max_queue_size=0, pool_name=f"h{self.tag}")
        )
        self.limiter = RateLimiter(1, 1.0, 2, clock=self.clock, name=f"l{self.tag}")
        self.budget = RetryBudget(
            RetryBudgetConfig(budget_percent=25.0, min_requests=0, max_tokens=0),
            name=f"g{self.tag}",
            clock=self.clock,
        )
        self.retrier = Retrier(sleep=lambda s: None, name=f"t{self.tag}")

    def run(self) -> None:
        b = self.breaker
        b.call(ok)
        fail(b, 2)  # opens
        for _ in range(3):
            with pytest.raises(seawall.CircuitBreakerOpenError):
                b.call(ok)
        self.clock.advance(10.0)
        b.call(ok)  # the half-open trial closes it
        self.clock.advance(2.5)
        self.shared.call(ok)

        assert self.bulkhead.try_acquire()
        assert not self.bulkhead.acquire(0.0)

        for _ in range(4):
            self.limiter.check()

        for _ in range(3):
            self.budget.record_attempt(False)
        for _ in range(3):
            self.budget.can_retry()

        cfg = RetryConfig(
            strategy=RetryStrategy.FIXED, max_attempts=3, initial_delay=0.0,
            circuit_breaker_enabled=False, retry_budget_enabled=False,
        )
        errors = iter([ConnectionError("a"), None])

        def flaky() -> str:
            e = next(errors)
            if e is not None:
                raise e
            return "ok"

        assert self.retrier.execute(flaky, cfg).success
        assert self.retrier.execute(ok, cfg).success
        assert not self.retrier.execute(boom, cfg).success  # not retryable

        def down() -> None:
            raise ConnectionError("down")

        assert not self.retrier.execute(down, cfg).success  # gives up after 3


@pytest.fixture
def engines() -> Iterator[Engines]:
    e = Engines()
    e.run()
    yield e


def test_families_equal_the_engines_counters(engines: Engines) -> None:
    e = engines
    m = e.breaker.metrics()
    f = families_of(f"b{e.tag}")
    calls = f["seawall_breaker_calls"]
    assert calls[(("outcome", "success"),)] == m["successes"] == 2
    assert calls[(("outcome", "failure"),)] == m["failures"] == 2
    assert calls[(("outcome", "ignored"),)] == m["ignored"] == 0
    assert f["seawall_breaker_rejected_calls"][()] == m["rejected"] == 3
    t = f["seawall_breaker_transitions"]
    assert t[(("from", "closed"), ("to", "open"))] == 1
    assert t[(("from", "open"), ("to", "half_open"))] == 1
    assert t[(("from", "half_open"), ("to", "closed"))] == 1
    assert sum(t.values()) == sum(m["transitions"].values()) == 3
    assert f["seawall_breaker_state"][(("state", "closed"),)] == 1
    assert f["seawall_breaker_state"][(("state", "open"),)] == 0
    assert f["seawall_breaker_state_duration_seconds"][()] == 2.5
    assert families_of(f"r{e.tag}")["seawall_breaker_calls"][(("outcome", "success"),)] == 1

    h = families_of(f"h{e.tag}")
    assert h["seawall_bulkhead_in_use"][()] == 1
    assert h["seawall_bulkhead_capacity"][()] == 1
    assert h["seawall_bulkhead_rejected_calls"][()] == 1
    lim = families_of(f"l{e.tag}")
    assert lim["seawall_rate_limiter_allowed"][()] == 2
    assert lim["seawall_rate_limiter_denied"][()] == 2
    g = families_of(f"g{e.tag}")
    assert g["seawall_retry_budget_exhausted"][()] == 2
    assert g["seawall_retry_budget_remaining_ratio"][()] == e.budget.get_remaining_budget_percent() / 100
    r = families_of(f"t{e.tag}")
    outcomes = {dict(k)["outcome"]: v for k, v in r["seawall_retry_calls"].items()}
    assert outcomes == {"success": 1, "success_after_retry": 1, "gave_up": 1, "not_retryable": 1}
    assert r["seawall_retry_attempts"][()] == 1 + 2


def test_with_resilience_counts_its_retried_calls_under_the_functions_name() -> None:
    outcomes = iter([ConnectionError("a"), None, ValueError("no"), ConnectionError("b"),
                     ConnectionError("c")])

    @seawall.with_resilience(
        RetryConfig(max_attempts=2, initial_delay=0.0, max_delay=0.0, jitter_enabled=False,
                    retry_budget_enabled=False),
        circuit_breaker_name=f"wr-{uuid.uuid4().hex[:8]}",
        sleep=lambda s: None,
    )
    def flaky() -> str:
        e = next(outcomes, None)
        if e is not None:
            raise e
        return "done"

    assert flaky() == "done"  # after one retry
    with pytest.raises(ValueError):
        flaky()  # not retryable
    with pytest.raises(RetryError):
        flaky()  # gives up after 2 attempts
    assert flaky() == "done"  # at once: the breaker's count only
    r = families_of(f"{__name__}.{flaky.__qualname__}")
    calls = {dict(k)["outcome"]: v for k, v in r["seawall_retry_calls"].items()}
    assert calls == {"success": 0, "success_after_retry": 1, "gave_up": 1, "not_retryable": 1}
    assert r["seawall_retry_attempts"][()] == 2


def test_snapshot_has_one_format_for_every_engine(engines: Engines) -> None:
    e = engines
    s = seawall.snapshot()
    assert set(s) == {
        "breakers",
        "bulkheads",
        "rate_limiters",
        "retry_budgets",
        "retriers",
        "adaptive_limiters",
        "throttlers",
        "fault_injectors",
        "hedges",
    }
    b = s["breakers"][f"b{e.tag}"]
    assert b == e.breaker.metrics()
    assert b["state"] is CircuitState.CLOSED
    assert s["breakers"][f"r{e.tag}"]["successes"] == 1
    assert s["bulkheads"][f"h{e.tag}"] == {"in_use": 1, "queued": 0, "capacity": 1, "rejected": 1}
    assert s["rate_limiters"][f"l{e.tag}"] == {"allowed": 2, "denied": 2}
    assert s["retry_budgets"][f"g{e.tag}"]["exhausted"] == 2
    assert s["retriers"][f"t{e.tag}"] == {
        "success": 1, "success_after_retry": 1, "gave_up": 1, "not_retryable": 1, "retries": 3,
    }


def test_a_dropped_engine_disappears() -> None:
    name = f"gone{uuid.uuid4().hex[:8]}"
    b = UnifiedCircuitBreaker(name, clock=ManualClock())
    assert name in seawall.snapshot()["breakers"]
    del b
    gc.collect()
    assert name not in seawall.snapshot()["breakers"]
    assert families_of(name) == {}


def test_creating_and_dropping_breakers_leaves_memory_flat() -> None:
    """100,000 breakers built directly, each dropped at once: the view
    holds them weakly and sweeps its dead entries as it grows, so neither
    Python allocations nor the process's resident memory grow."""

    def batch(n: int) -> None:
        for _ in range(n):
            UnifiedCircuitBreaker("flat")
        gc.collect()

    batch(10_000)  # warm-up: caches, freelists, allocator arenas
    tracemalloc.start()
    rss0 = _rss()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(9):
        batch(10_000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert grown < 256 * 1024
    # A native breaker is about 1.5 KiB: a leak would be over 130 MB.
    assert _rss() - rss0 < 16 * 2**20
    assert "flat" not in seawall.snapshot()["breakers"]


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def _scrape(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_prometheus_collector_exposes_the_exact_counters(engines: Engines) -> None:
    e = engines
    registry = CollectorRegistry()
    seawall.prometheus.register(registry)
    text = _scrape(registry)
    samples: Dict[Tuple[str, Labels], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    b = f"b{e.tag}"
    m = e.breaker.metrics()
    key = lambda n, **kw: (n, tuple(sorted({"name": b, **kw}.items())))  # noqa: E731
    assert samples[key("seawall_breaker_calls_total", outcome="success")] == m["successes"]
    assert samples[key("seawall_breaker_calls_total", outcome="failure")] == m["failures"]
    assert samples[key("seawall_breaker_rejected_calls_total")] == m["rejected"]
    assert samples[key("seawall_breaker_transitions_total", **{"from": "open", "to": "half_open"})] == 1
    assert samples[key("seawall_breaker_state", state="closed")] == 1
    assert f'seawall_rate_limiter_denied_total{{name="l{e.tag}"}} 2.0' in text
    assert "# TYPE seawall_breaker_calls_total counter" in text
    assert "# TYPE seawall_breaker_state gauge" in text


def test_promtool_accepts_the_scraped_text(engines: Engines) -> None:
    promtool = require_tool("promtool")
    registry = CollectorRegistry()
    seawall.prometheus.register(registry)
    Counter("app_requests", "Requests served.", registry=registry).inc()
    for text in (_scrape(registry), seawall.prometheus.generate_latest(registry).decode()):
        out = subprocess.run(
            [promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
        )
        assert out.returncode == 0, out.stdout.decode() + out.stderr.decode()


def _samples(text: str, tag: str) -> Dict[Tuple[str, Labels], float]:
    """The samples of ``text`` of the engines tagged ``tag`` and of the
    application's own metrics."""
    out: Dict[Tuple[str, Labels], float] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if tag in s.labels.get("name", tag):
                out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_the_native_text_equals_the_collectors_and_keeps_the_registrys_metrics(
    engines: Engines,
) -> None:
    registry = CollectorRegistry()
    seawall.prometheus.register(registry)
    Counter("app_requests", "Requests served.", registry=registry).inc(3)
    collected = _samples(_scrape(registry), engines.tag)
    text = seawall.prometheus.generate_latest(registry).decode()
    assert _samples(text, engines.tag) == collected
    assert collected[("app_requests_total", ())] == 3
    assert collected[("seawall_breaker_calls_total", (("name", f"b{engines.tag}"), ("outcome", "success")))] == 2
    # The registered collector steps aside: each family is declared once.
    assert text.count("# TYPE seawall_breaker_calls_total counter\n") == 1
    # Without a collector registered, Seawall's families are still there.
    bare = seawall.prometheus.generate_latest(CollectorRegistry()).decode()
    assert _samples(bare, engines.tag) == {
        k: v for k, v in collected.items() if not k[0].startswith("app_")
    }
    # OpenMetrics, as the C face writes it.
    assert _native.prometheus_text(openmetrics=True).endswith(b"# EOF\n")


def test_the_native_http_server_serves_the_text(engines: Engines) -> None:
    registry = CollectorRegistry()
    Counter("app_requests", "Requests served.", registry=registry).inc()
    server, thread = seawall.prometheus.start_http_server(0, addr="127.0.0.1", registry=registry)
    try:
        url = f"http://127.0.0.1:{server.server_port}/metrics"
        with urllib.request.urlopen(url, timeout=10) as response:
            assert response.headers["Content-Type"] == seawall.prometheus.CONTENT_TYPE_LATEST
            body = response.read().decode()
    finally:
        server.shutdown()
        thread.join(timeout=10)
    samples = _samples(body, engines.tag)
    assert samples[("app_requests_total", ())] == 1
    m = engines.breaker.metrics()
    key = ("seawall_breaker_rejected_calls_total", (("name", f"b{engines.tag}"),))
    assert samples[key] == m["rejected"] == 3


def test_opentelemetry_instruments_read_the_same_families(engines: Engines) -> None:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    e = engines
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    seawall.opentelemetry.instrument(provider)

    def points() -> Dict[str, List[Any]]:
        data = reader.get_metrics_data()
        assert data is not None
        out: Dict[str, List[Any]] = {}
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for metric in sm.metrics:
                    out[metric.name] = list(metric.data.data_points)
        return out

    def value(ps: Dict[str, List[Any]], name: str, **attrs: str) -> float:
        want = {"name": f"b{e.tag}", **attrs}
        (v,) = [p.value for p in ps[name] if dict(p.attributes) == want]
        return float(v)

    ps = points()
    m = e.breaker.metrics()
    assert value(ps, "seawall.breaker.calls", outcome="success") == m["successes"]
    assert value(ps, "seawall.breaker.rejected_calls") == m["rejected"]
    assert value(ps, "seawall.breaker.state", state="closed") == 1
    assert value(ps, "seawall.breaker.transitions", **{"from": "closed", "to": "open"}) == 1
    # A second collection reads the engines again.
    fail(e.breaker, 2)
    ps = points()
    assert value(ps, "seawall.breaker.calls", outcome="failure") == m["failures"] + 2
    assert value(ps, "seawall.breaker.state", state="open") == 1
    provider.shutdown()



def test_keyed_rate_limiters_are_exported_under_their_name() -> None:
    name = f"k{uuid.uuid4().hex[:8]}"
    # One slot, so "b" shares "a"'s spent allowance whatever the hash seed
    # (with 16 slots they collided one run in 16).
    limiter = KeyedRateLimiter(1, 1.0, slots=1, clock=ManualClock(), name=name)
    assert [limiter.check(k) == 0.0 for k in ("a", "a", "b")] == [True, False, False]
    f = families_of(name)
    assert f["seawall_rate_limiter_allowed"][()] == 1
    assert f["seawall_rate_limiter_denied"][()] == 2
    assert seawall.snapshot()["rate_limiters"][name] == {"allowed": 1, "denied": 2}
    del limiter
    gc.collect()
    assert families_of(name) == {}


def test_throttlers_fault_injectors_and_hedges_export_under_their_names() -> None:
    tag = uuid.uuid4().hex[:8]
    t = seawall.AdaptiveThrottler(name=f"th{tag}", clock=_native.ManualClock())
    t.record(False)
    t.record(False)
    t.record(True)
    inj = seawall.FaultInjector(
        seawall.FaultInjectionConfig(enabled=True, error_rate=1.0), name=f"fi{tag}"
    )
    assert inj.decide() == -1.0
    h = seawall.Hedge(name=f"he{tag}", clock=_native.ManualClock())
    h._native.start(True, True)
    th = families_of(f"th{tag}")
    assert th["seawall_throttler_requests"][()] == 3
    assert th["seawall_throttler_accepts"][()] == 1
    assert th["seawall_throttler_throttled_calls"][()] == 0
    assert th["seawall_throttler_rejection_probability"][()] == 0.25  # (3 - 2) / 4
    fi = families_of(f"fi{tag}")
    assert fi["seawall_fault_injection_enabled"][()] == 1
    assert fi["seawall_fault_injections"][(("kind", "error"),)] == 1
    assert fi["seawall_fault_injections"][(("kind", "latency"),)] == 0
    assert families_of(f"he{tag}")["seawall_hedge_calls"][()] == 1
    s = seawall.snapshot()
    assert s["throttlers"][f"th{tag}"] == {
        "requests": 3, "accepts": 1, "throttled": 0, "rejection_probability": 0.25,
    }
    assert s["fault_injectors"][f"fi{tag}"] == {
        "enabled": True, "errors": 1, "results": 0, "latencies": 0,
    }
    assert s["hedges"][f"he{tag}"] == {"calls": 1, "hedges": 0, "refused": 0, "wins": 0}
    inj.disable()
    assert families_of(f"fi{tag}")["seawall_fault_injection_enabled"][()] == 0
