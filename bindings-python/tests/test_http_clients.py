"""seawall.httpx and seawall.requests against a real HTTP server on
loopback: breakers per host, retries, Retry-After, timeouts, dropped
connections, refusals raised or answered with a synthetic response."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Iterator, List

import httpx
import pytest
import requests

import seawall
from seawall import (
    BulkheadConfig,
    BulkheadFullError,
    CircuitBreakerConfig,
    CircuitBreakerOpenError,
    CircuitState,
    ManualClock,
    RateLimitExceededError,
    RetryBudget,
    RetryBudgetConfig,
    RetryConfig,
)
from seawall._http import parse_retry_after
from seawall.httpx import AsyncResilientTransport, ResilientTransport
from seawall.requests import ResilientAdapter

from http_server import Server

class Result:
    def __init__(self, status: int, headers: Any, text: str, raw: Any) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        self.raw = raw


class Client:
    """One of the three clients, driven the same way: ``kind`` is
    ``httpx``, ``httpx-async`` or ``requests``; ``sleeps`` records every
    wait between attempts."""

    def __init__(self, kind: str, timeout: float = 5.0, **options: Any) -> None:
        self.kind = kind
        self.sleeps: List[float] = []

        async def asleep(s: float) -> None:
            self.sleeps.append(s)

        options.setdefault("sleep", self.sleeps.append)
        options.setdefault("asleep", asleep)
        if kind == "httpx":
            self.transport: Any = ResilientTransport(**options)
            self.client: Any = httpx.Client(transport=self.transport, timeout=timeout)
        elif kind == "httpx-async":
            self.loop = asyncio.new_event_loop()
            self.transport = AsyncResilientTransport(**options)
            self.client = httpx.AsyncClient(transport=self.transport, timeout=timeout)
        else:
            self.transport = ResilientAdapter(**options)
            self.client = requests.Session()
            self.client.mount("http://", self.transport)
        self.timeout = timeout

    def request(self, method: str, url: str) -> Result:
        if self.kind == "httpx":
            r = self.client.request(method, url, content=b"x" if method != "GET" else None)
            return Result(r.status_code, r.headers, r.text, r)
        if self.kind == "httpx-async":
            r = self.loop.run_until_complete(
                self.client.request(method, url, content=b"x" if method != "GET" else None)
            )
            return Result(r.status_code, r.headers, r.text, r)
        r = self.client.request(
            method, url, data=b"x" if method != "GET" else None, timeout=self.timeout
        )
        return Result(r.status_code, r.headers, r.text, r)

    def get(self, url: str) -> Result:
        return self.request("GET", url)

    def post(self, url: str) -> Result:
        return self.request("POST", url)

    def timeout_error(self) -> Any:
        return requests.Timeout if self.kind == "requests" else httpx.TimeoutException

    def transport_error(self) -> Any:
        return requests.ConnectionError if self.kind == "requests" else httpx.TransportError

    def close(self) -> None:
        if self.kind == "httpx-async":
            self.loop.run_until_complete(self.client.aclose())
            self.loop.close()
        else:
            self.client.close()


KINDS = ["httpx", "httpx-async", "requests"]


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make(kind: str, registry: seawall.Registry) -> Iterator[Any]:
    clients: List[Client] = []

    def build(**options: Any) -> Client:
        options.setdefault("registry", registry)
        c = Client(kind, **options)
        clients.append(c)
        return c

    yield build
    for c in clients:
        c.close()


def breaker_config(**kw: Any) -> CircuitBreakerConfig:
    kw.setdefault("failure_threshold", 3)
    kw.setdefault("success_threshold", 1)
    kw.setdefault("timeout", timedelta(seconds=30))
    return CircuitBreakerConfig(**kw)


def test_an_outage_opens_the_hosts_breaker_and_recovery_closes_it(
    make: Any, server: Server, other: Server, registry: seawall.Registry, clock: ManualClock
) -> None:
    c = make(breaker_config=breaker_config(), retry=None)
    server.down = True
    for _ in range(3):
        assert c.get(server.url("/a")).status == 503  # returned, not raised
    breaker = registry.get(server.breaker_name)
    assert breaker is not None and breaker.get_state() == CircuitState.OPEN
    with pytest.raises(CircuitBreakerOpenError) as e:
        c.get(server.url("/a"))
    assert str(e.value.request.url) == server.url("/a")  # type: ignore[attr-defined]
    assert e.value.retry_after == pytest.approx(30)
    assert server.hits["/a"] == 3  # failed fast
    # Another host is unaffected.
    assert c.get(other.url("/a")).status == 200
    assert registry.get(other.breaker_name).get_state() == CircuitState.CLOSED  # type: ignore[union-attr]
    # Recovery: the trial after the open time succeeds and closes it.
    server.down = False
    clock.advance(31)
    assert c.get(server.url("/a")).status == 200
    assert breaker.get_state() == CircuitState.CLOSED
    assert server.hits["/a"] == 4


def test_retries_a_failing_get_with_back_off(make: Any, server: Server) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10))
    server.then("/flaky", 503, 502)
    r = c.get(server.url("/flaky"))
    assert (r.status, r.text) == (200, "ok")
    assert server.hits["/flaky"] == 3
    assert len(c.sleeps) == 2 and all(s > 0 for s in c.sleeps)


def test_the_last_response_is_returned_when_attempts_run_out(make: Any, server: Server) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10))
    server.then("/x", 503, 503, 504)
    r = c.get(server.url("/x"))
    assert (r.status, r.text) == (504, "failed")
    assert server.hits["/x"] == 3


def test_non_idempotent_requests_are_not_retried(make: Any, server: Server) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10))
    server.then("/post", 503)
    assert c.post(server.url("/post")).status == 503
    assert server.hits["/post"] == 1 and c.sleeps == []
    server.then("/put", 503)
    assert c.request("PUT", server.url("/put")).status == 200
    assert server.hits["/put"] == 2


def test_statuses_outside_the_retry_list_are_not_retried(make: Any, server: Server) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10))
    server.then("/500", 500)
    assert c.get(server.url("/500")).status == 500
    assert server.hits["/500"] == 1


def test_retries_stop_when_the_budget_is_spent(
    make: Any, server: Server, clock: ManualClock
) -> None:
    budget = RetryBudget(
        RetryBudgetConfig(min_requests=1000, tokens_per_second=0.001, max_tokens=2), clock=clock
    )
    c = make(breaker_config=breaker_config(failure_threshold=100), retry_budget=budget)
    server.down = True
    assert c.get(server.url("/b")).status == 503
    assert server.hits["/b"] == 3  # two retries granted
    assert c.get(server.url("/b")).status == 503
    assert server.hits["/b"] == 4  # none left
    assert budget.counts()[1] == 2  # retries granted


def test_retry_after_is_honoured(make: Any, server: Server) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10))
    server.then("/ra", (429, {"Retry-After": "3"}), (503, {"Retry-After": "2"}))
    assert c.get(server.url("/ra")).status == 200
    assert c.sleeps == [3.0, 2.0]
    assert server.hits["/ra"] == 3


def test_a_retry_after_beyond_the_cap_returns_the_response(make: Any, server: Server) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10), max_retry_after=5)
    server.then("/long", (503, {"Retry-After": "120"}))
    r = c.get(server.url("/long"))
    assert (r.status, r.headers["Retry-After"]) == (503, "120")
    assert server.hits["/long"] == 1 and c.sleeps == []


def test_timeouts_count_as_failures(make: Any, server: Server, registry: seawall.Registry) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=2), retry=None, timeout=0.2)
    server.then("/slow", "hang", "hang")
    for _ in range(2):
        with pytest.raises(c.timeout_error()):
            c.get(server.url("/slow"))
    assert registry.get(server.breaker_name).get_state() == CircuitState.OPEN  # type: ignore[union-attr]
    with pytest.raises(CircuitBreakerOpenError):
        c.get(server.url("/slow"))
    assert server.hits["/slow"] == 2


def test_a_dropped_connection_is_a_failure_and_is_retried(
    make: Any, server: Server, registry: seawall.Registry
) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=10))
    server.then("/drop", "drop")
    assert c.get(server.url("/drop")).status == 200
    assert server.hits["/drop"] == 2
    m = registry.get(server.breaker_name).get_metrics()  # type: ignore[union-attr]
    assert (m["total_failures"], m["total_successes"]) == (1, 1)
    # Without retries the transport error propagates.
    c2 = make(breaker_config=breaker_config(failure_threshold=10), retry=None)
    server.then("/drop2", "drop")
    with pytest.raises(c2.transport_error()):
        c2.get(server.url("/drop2"))


def test_rejected_response_answers_with_a_synthetic_503(
    make: Any, server: Server
) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=1), retry=None, rejected="response")
    server.down = True
    assert c.get(server.url("/r")).status == 503
    r = c.get(server.url("/r"))
    assert r.status == 503
    assert r.headers["X-Seawall-Rejected"] == "circuit_open"
    assert r.headers["Retry-After"] == "30"
    assert server.hits["/r"] == 1
    if c.kind != "requests":
        assert isinstance(r.raw.extensions["seawall_rejected"], CircuitBreakerOpenError)


def test_rate_limit_per_host(make: Any, server: Server, other: Server) -> None:
    c = make(rate_limit=1, rejected="response")
    assert c.get(server.url("/rl")).status == 200
    r = c.get(server.url("/rl"))
    assert (r.status, r.headers["X-Seawall-Rejected"], r.headers["Retry-After"]) == (
        429, "rate_limited", "1"
    )
    assert server.hits["/rl"] == 1
    assert c.get(other.url("/rl")).status == 200  # its own limit
    raising = make(rate_limit=1)
    assert raising.get(other.url("/rl2")).status == 200
    with pytest.raises(RateLimitExceededError) as e:
        raising.get(other.url("/rl2"))
    assert e.value.request is not None  # type: ignore[attr-defined]


def test_refusals_are_not_failures_of_the_host(
    make: Any, server: Server, registry: seawall.Registry
) -> None:
    c = make(breaker_config=breaker_config(failure_threshold=1), rate_limit=1)
    c.get(server.url("/n"))
    with pytest.raises(RateLimitExceededError):
        c.get(server.url("/n"))
    assert registry.get(server.breaker_name).get_state() == CircuitState.CLOSED  # type: ignore[union-attr]


def test_a_key_function_names_the_breaker(
    make: Any, server: Server, registry: seawall.Registry
) -> None:
    def route(request: Any) -> str:
        return "api:" + str(request.url).rsplit("/", 1)[-1]

    c = make(breaker_config=breaker_config(failure_threshold=1), retry=None, key=route)
    server.then("/one", 503)
    assert c.get(server.url("/one")).status == 503
    assert registry.get("http:api:one").get_state() == CircuitState.OPEN  # type: ignore[union-attr]
    assert c.get(server.url("/two")).status == 200  # another key


def test_retries_are_counted_in_the_metrics(make: Any, server: Server, kind: str) -> None:
    name = f"http-test-{kind}"
    c = make(breaker_config=breaker_config(failure_threshold=10), name=name)
    server.then("/m", 503)
    c.get(server.url("/m"))
    c.get(server.url("/ok"))
    c.post(server.url("/ok"))  # not retryable: not counted
    server.then("/e", 500)  # a failure, not retried
    c.get(server.url("/e"))
    stats = seawall.snapshot()["retriers"][name]
    assert stats == {
        "success": 1,
        "success_after_retry": 1,
        "gave_up": 0,
        "not_retryable": 1,
        "retries": 1,
    }


@pytest.mark.parametrize("kind", ["httpx", "requests"])
def test_a_full_bulkhead_refuses_without_counting_a_failure(
    make: Any, server: Server, registry: seawall.Registry
) -> None:
    c = make(
        breaker_config=breaker_config(failure_threshold=1),
        bulkhead=BulkheadConfig(max_concurrent=1, max_queue_size=0, timeout=timedelta(0)),
    )
    server.then("/hold", "hang")
    results: List[int] = []
    t = threading.Thread(target=lambda: results.append(c.get(server.url("/hold")).status))
    t.start()
    assert server.hanging.wait(10)
    with pytest.raises(BulkheadFullError) as e:
        c.get(server.url("/other"))
    assert e.value.request is not None  # type: ignore[attr-defined]
    server.release.set()
    t.join(10)
    assert results == [200]
    assert server.hits["/other"] == 0
    assert registry.get(server.breaker_name).get_state() == CircuitState.CLOSED  # type: ignore[union-attr]


def test_parse_retry_after() -> None:
    now = 1_700_000_000.0
    date = format_datetime(datetime.fromtimestamp(now + 90, timezone.utc), usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(90)
    past = format_datetime(datetime.fromtimestamp(now - 90, timezone.utc), usegmt=True)
    assert parse_retry_after(past, now) == 0.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-3", now) is None


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="rejected"):
        ResilientTransport(rejected="ignore")
    with pytest.raises(TypeError):
        ResilientTransport(retries=3)
    with pytest.raises(TypeError, match="retry"):
        ResilientAdapter(retry=3)
    with pytest.raises(ValueError, match="rate_limit"):
        AsyncResilientTransport(rate_limit=0)
    with pytest.raises(TypeError, match="failure_status_codes"):
        ResilientTransport(failure_status_codes="500")


def test_importing_seawall_needs_neither_client() -> None:
    code = (
        "import sys; import seawall; "
        "assert 'httpx' not in sys.modules and 'requests' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_retry_config_schedule_is_used(make: Any, server: Server) -> None:
    c = make(
        breaker_config=breaker_config(failure_threshold=10),
        retry=RetryConfig(strategy="fixed", max_attempts=4, initial_delay=0.5, jitter_enabled=False),
    )
    server.down = True
    assert c.get(server.url("/f")).status == 503
    assert server.hits["/f"] == 4
    assert c.sleeps == [0.5, 0.5, 0.5]


def test_a_retried_response_is_closed_and_any_inner_transport_works(
    registry: seawall.Registry,
) -> None:
    class Body(httpx.SyncByteStream):
        def __init__(self) -> None:
            self.closed = False

        def __iter__(self) -> Iterator[bytes]:
            yield b"body"

        def close(self) -> None:
            self.closed = True

    bodies: List[Body] = []
    closed_before_retry: List[bool] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if bodies:
            closed_before_retry.append(bodies[-1].closed)
        bodies.append(Body())
        return httpx.Response(503 if len(bodies) == 1 else 200, stream=bodies[-1])

    sleeps: List[float] = []
    transport = ResilientTransport(
        httpx.MockTransport(handler), registry=registry, sleep=sleeps.append
    )
    with httpx.Client(transport=transport) as client:
        r = client.get("http://example.test/x")
    assert r.status_code == 200 and r.text == "body"
    assert closed_before_retry == [True] and len(sleeps) == 1
    assert registry.get("http:example.test:80") is not None


@pytest.mark.parametrize("parsed", [True, False])
def test_the_default_key_is_the_host_and_port_however_the_url_is_spelt(
    parsed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import seawall.httpx as sh

    assert sh._PARSED  # this httpx keeps its parsed reference: the fast path is tested
    monkeypatch.setattr(sh, "_PARSED", parsed)
    monkeypatch.setattr(sh, "_KEYS", {})
    monkeypatch.setattr(sh, "_MAX_KEYS", 3)
    cases = [
        ("HTTP://Example.COM:80/a", "example.com:80"),
        ("http://example.com/b", "example.com:80"),
        ("https://example.com/", "example.com:443"),
        ("https://example.com:8443/", "example.com:8443"),
        ("https://xn--bcher-kva.example/", "bücher.example:443"),
        ("https://bücher.example/x", "bücher.example:443"),
        ("http://example.com/again", "example.com:80"),
    ]
    for url, key in cases * 2:
        assert sh._target(httpx.Request("GET", url))[0] == key, url
        assert len(sh._KEYS) <= 3
    assert bool(sh._KEYS) == parsed


# ------------------------------------------------ the bound on hosts


def mock_client(registry: seawall.Registry, handler: Any, **options: Any) -> httpx.Client:
    """An ``httpx.Client`` over a ``MockTransport`` answering ``handler``."""
    options.setdefault("retry", None)
    transport = ResilientTransport(httpx.MockTransport(handler), registry=registry, **options)
    return httpx.Client(transport=transport)


def status_by_host(statuses: Any) -> Any:
    """A handler answering the status ``statuses`` gives each host (200 else)."""
    return lambda request: httpx.Response(statuses.get(request.url.host, 200))


def test_max_hosts_bounds_the_breakers_idle_hosts_are_evicted_open_ones_kept(
    registry: seawall.Registry, clock: ManualClock
) -> None:
    c = mock_client(
        registry,
        status_by_host({"down": 503}),
        breaker_config=breaker_config(failure_threshold=1),
        max_hosts=2,
        host_idle_timeout=10,
    )
    family = c._transport._policy.family  # type: ignore[attr-defined]
    assert c.get("http://down/").status_code == 503  # trips: OPEN, never evicted
    assert c.get("http://a/").status_code == 200
    assert registry.get("http:down:80").get_state() == CircuitState.OPEN  # type: ignore[union-attr]
    # Full, and "a" used less than host_idle_timeout ago: a new host is refused.
    with pytest.raises(seawall.KeyedBreakerFullError) as e:
        c.get("http://b/")
    assert isinstance(e.value, CircuitBreakerOpenError)
    assert str(e.value.request.url) == "http://b/"  # type: ignore[attr-defined]
    # Once "a" is idle it makes way; the open breaker stays.
    clock.advance(11)
    assert c.get("http://b/").status_code == 200
    assert sorted(c._transport.breakers()) == ["http:b:80", "http:down:80"]  # type: ignore[attr-defined]
    assert registry.get("http:a:80") is None and "http:a:80" not in registry
    assert registry.get("http:down:80").get_state() == CircuitState.OPEN  # type: ignore[union-attr]
    assert len(family) == 2
    t = family.totals()
    assert (t["created"], t["evicted"], t["full"]) == (3, 1, 1)
    c.close()


def test_a_host_with_a_request_in_flight_keeps_its_breaker_and_a_full_family_answers(
    registry: seawall.Registry,
) -> None:
    inner: List[httpx.Response] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "busy":
            # While "busy" is in flight (its breaker pinned), a new host.
            inner.append(c.get("http://new/"))
        return httpx.Response(200)

    c = mock_client(registry, handler, max_hosts=1, host_idle_timeout=0, rejected="response")
    assert c.get("http://busy/").status_code == 200
    r = inner[0]
    assert r.status_code == 503
    assert r.headers["X-Seawall-Rejected"] == "circuit_open"
    assert "Retry-After" not in r.headers  # a full family announces no time
    assert isinstance(r.extensions["seawall_rejected"], seawall.KeyedBreakerFullError)
    # Idle now (host_idle_timeout 0): the next new host takes its place.
    assert c.get("http://new/").status_code == 200
    assert list(c._transport.breakers()) == ["http:new:80"]  # type: ignore[attr-defined]
    c.close()


def test_an_evicted_host_loses_its_rate_limiter_and_bulkhead_and_gets_fresh_ones(
    registry: seawall.Registry,
) -> None:
    c = mock_client(
        registry,
        status_by_host({}),
        max_hosts=2,
        host_idle_timeout=0,
        rate_limit=1,
        bulkhead=BulkheadConfig(max_concurrent=1),
    )
    policy = c._transport._policy  # type: ignore[attr-defined]
    assert c.get("http://a/").status_code == 200
    with pytest.raises(RateLimitExceededError):  # a's allowance is spent
        c.get("http://a/")
    limiter = policy._guards["a:80"].limiter
    c.get("http://b/")
    c.get("http://c/")  # evicts a and b (idle)
    assert sorted(policy.breakers()) == ["http:c:80"]
    c.get("http://d/")  # a key without guards in a full dict: the evicted ones' go
    assert sorted(policy._guards) == ["c:80", "d:80"]
    # a comes back with a fresh breaker and a fresh limiter: allowed again.
    assert c.get("http://a/").status_code == 200
    assert policy._guards["a:80"].limiter is not limiter
    assert len(policy._guards) <= policy.family.max_keys + 1
    c.close()


def test_threads_sending_to_many_hosts_stay_within_max_hosts(registry: seawall.Registry) -> None:
    c = mock_client(registry, status_by_host({}), max_hosts=8, host_idle_timeout=0, rate_limit=10**6)
    policy = c._transport._policy  # type: ignore[attr-defined]
    ok: List[int] = []
    full: List[int] = []
    errors: List[BaseException] = []

    def worker(t: int) -> None:
        try:
            for i in range(150):
                try:
                    c.get(f"http://h{(t * 7 + i) % 40}/")
                    ok.append(i)
                except seawall.KeyedBreakerFullError:
                    full.append(i)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(ok) + len(full) == 600
    t = policy.family.totals()
    assert (t["permitted"], t["full"], t["successes"]) == (len(ok), len(full), len(ok))
    assert len(policy.family) <= 8 and len(policy._guards) <= 9
    assert t["created"] - t["evicted"] == len(policy.family)
    c.close()


@pytest.mark.parametrize("bad", [0, -1, 2**32])
def test_max_hosts_is_checked(bad: int) -> None:
    with pytest.raises(ValueError, match=f"invalid max_hosts = {bad}: must be the number of hosts"):
        ResilientTransport(httpx.MockTransport(lambda r: httpx.Response(200)), max_hosts=bad)
    with pytest.raises(TypeError, match="max_hosts"):
        ResilientTransport(max_hosts="8")


def test_the_hosts_breakers_are_in_the_snapshot(registry: seawall.Registry) -> None:
    c = mock_client(registry, status_by_host({"snap-host": 503}))
    c.get("http://snap-host/")
    assert seawall.snapshot()["breakers"]["http:snap-host:80"]["failures"] == 1
    assert registry.snapshot()["http:snap-host:80"]["failures"] == 1
    assert "http:snap-host:80" in registry.names()
    c.close()
