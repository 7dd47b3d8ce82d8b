"""Seawall's metrics for ``prometheus_client`` (``pip install
seawall[prometheus]``).

Two ways to serve them, both reading the snapshot of every engine the
process has alive (breakers, bulkheads, rate limiters, retry budgets,
retriers) at scrape time, with nothing counted per call beyond the
engines' own books:

- ``register()`` adds a collector to a ``prometheus_client`` registry, so
  ``prometheus_client.generate_latest`` and its HTTP servers include
  Seawall's families. Simple, and ``prometheus_client`` formats every
  sample in Python: fine for tens of engines.
- ``generate_latest()``, ``make_wsgi_app()`` and ``start_http_server()``
  here are drop-ins for ``prometheus_client``'s functions of those names
  that write Seawall's families with the native encoder, tens of times
  faster: for thousands of engines. They serve the registry's other
  metrics too; a Seawall collector registered in it yields nothing while
  they run, so nothing appears twice.

Names follow the catalog of the core
(``seawall_breaker_calls_total{name, outcome}``,
``seawall_breaker_state{name, state}``, ...)."""

from __future__ import annotations

import threading
from socketserver import ThreadingMixIn
from typing import Any, Callable, Dict, Iterable, Iterator, Optional, Tuple
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import prometheus_client
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from . import _native

__all__ = [
    "CONTENT_TYPE_LATEST",
    "SeawallCollector",
    "generate_latest",
    "make_wsgi_app",
    "register",
    "start_http_server",
]

CONTENT_TYPE_LATEST = prometheus_client.CONTENT_TYPE_LATEST
"""The ``Content-Type`` of ``generate_latest()``'s text (format 0.0.4)."""

# Set while `generate_latest` has `prometheus_client` format a registry:
# Seawall's collectors then yield nothing, their families being written
# natively.
_native_pass = threading.local()


class SeawallCollector:
    """A ``prometheus_client`` collector of every live Seawall engine."""

    def collect(self) -> Iterator[Metric]:
        if getattr(_native_pass, "active", False):
            return
        for name, help_text, kind, label_names, samples in _native.metric_families():
            family: Any
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=label_names)
            else:
                family = GaugeMetricFamily(name, help_text, labels=label_names)
            for values, value in samples:
                family.add_metric(values, value)
            yield family

    def describe(self) -> Iterator[Metric]:
        # No samples at registration: the families a scrape yields depend on
        # the engines alive then.
        return iter(())


def register(registry: Optional[CollectorRegistry] = None) -> SeawallCollector:
    """Registers a ``SeawallCollector`` with ``registry`` (default: the
    global ``prometheus_client.REGISTRY``) and returns it (pass it to
    ``registry.unregister`` to remove it)."""
    collector = SeawallCollector()
    (REGISTRY if registry is None else registry).register(collector)
    return collector


def generate_latest(registry: CollectorRegistry = REGISTRY) -> bytes:
    """The scrape text (Prometheus format 0.0.4) of ``registry``'s metrics
    followed by every live Seawall engine's, the latter written by the
    native encoder. Whether or not a ``SeawallCollector`` is registered in
    ``registry``, each Seawall family appears once."""
    _native_pass.active = True
    try:
        others = prometheus_client.generate_latest(registry)
    finally:
        _native_pass.active = False
    return others + _native.prometheus_text()


WsgiApp = Callable[[Dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_wsgi_app(registry: CollectorRegistry = REGISTRY) -> WsgiApp:
    """A WSGI application answering every request with
    ``generate_latest(registry)``."""

    def app(environ: Dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = generate_latest(registry)
        start_response(
            "200 OK",
            [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not logged."""


def start_http_server(
    port: int, addr: str = "0.0.0.0", registry: CollectorRegistry = REGISTRY
) -> Tuple[WSGIServer, threading.Thread]:
    """Serves ``make_wsgi_app(registry)`` on ``addr:port`` from a daemon
    thread, as ``prometheus_client.start_http_server`` does; returns the
    server and its thread (``server.shutdown()`` stops it)."""
    server = make_server(addr, port, make_wsgi_app(registry), _Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, name="seawall-metrics", daemon=True)
    thread.start()
    return server, thread
