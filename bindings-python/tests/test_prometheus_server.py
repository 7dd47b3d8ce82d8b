"""End to end: a real Prometheus server (Debian's ``prometheus`` package)
scrapes this process's ``seawall.prometheus`` collector over loopback, and a
PromQL query through its HTTP API answers with the breaker's state.

The server runs on a free loopback port with a temporary configuration and
storage directory, and is stopped at the end, whatever happens."""

from __future__ import annotations

import json
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
from prometheus_client import CollectorRegistry, start_http_server

import seawall.prometheus
from seawall import CircuitBreakerConfig, ManualClock, UnifiedCircuitBreaker

from conftest import fail, require_tool, wait_for

DEADLINE = 60.0  # seconds for the server to start and scrape twice


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_json(url: str) -> Optional[Any]:
    """The decoded answer, or None while the server is not answering yet."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return json.load(r)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


@pytest.fixture(params=["collector", "native"])
def prometheus_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Starts a Prometheus server scraping an exporter of this process
    every second; yields (server URL, exporter port). The exporter is
    ``prometheus_client``'s server over a registry with Seawall's collector,
    or ``seawall.prometheus``'s server writing the native text."""
    binary = require_tool("prometheus")
    registry = CollectorRegistry()
    seawall.prometheus.register(registry)
    exporter_port = free_port()
    serve = start_http_server if request.param == "collector" else seawall.prometheus.start_http_server
    exporter, thread = serve(exporter_port, addr="127.0.0.1", registry=registry)
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: seawall\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{exporter_port}']\n"
    )
    log = (tmp_path / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield f"http://127.0.0.1:{port}", exporter_port
    finally:
        proc.kill()
        proc.wait(timeout=10)
        exporter.shutdown()
        thread.join(timeout=10)
        log.close()


def query(server: str, promql: str) -> List[Any]:
    url = f"{server}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    answer = get_json(url)
    if not answer or answer.get("status") != "success":
        return []
    result: List[Any] = answer["data"]["result"]
    return result


def test_a_real_prometheus_scrapes_the_breaker_state(prometheus_server: tuple[str, int]) -> None:
    server, exporter_port = prometheus_server
    name = f"e2e-{uuid.uuid4().hex[:8]}"
    b = UnifiedCircuitBreaker(
        name,
        CircuitBreakerConfig(failure_threshold=2, timeout=3600.0),
        clock=ManualClock(),
    )
    fail(b, 2)
    assert b.get_state().value == "open"
    open_query = f'seawall_breaker_state{{name="{name}",state="open"}}'
    calls_query = f'seawall_breaker_calls_total{{name="{name}",outcome="failure"}}'
    target_up = f'up{{job="seawall",instance="127.0.0.1:{exporter_port}"}}'
    seen: dict[str, List[Any]] = {}

    def answered() -> bool:
        seen.update({q: query(server, q) for q in (target_up, open_query, calls_query)})
        return all(seen.values())

    wait_for("the server to scrape the exporter and answer every query", answered, DEADLINE)
    assert [r["value"][1] for r in seen[target_up]] == ["1"]
    assert [r["value"][1] for r in seen[open_query]] == ["1"], seen
    assert [r["value"][1] for r in seen[calls_query]] == ["2"], seen
