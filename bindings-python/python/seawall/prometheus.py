"""Seawall's metrics for ``prometheus_client`` (``pip install
seawall[prometheus]``).

``register()`` adds a collector that, at every scrape, reads the snapshot
of every engine the process has alive (breakers, bulkheads, rate
limiters, retry budgets, retriers) through ``_native.metric_families()``:
nothing is counted per call beyond the engines' own books. Names follow
the catalog of the core (``seawall_breaker_calls_total{name, outcome}``,
``seawall_breaker_state{name, state}``, ...)."""

from __future__ import annotations

from typing import Any, Iterator, Optional

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, CollectorRegistry

from . import _native

__all__ = ["SeawallCollector", "register"]


class SeawallCollector:
    """A ``prometheus_client`` collector of every live Seawall engine."""

    def collect(self) -> Iterator[Metric]:
        for name, help_text, kind, samples in _native.metric_families():
            family: Any
            if kind == "counter":
                family = CounterMetricFamily(name, help_text, labels=_label_names(samples))
            else:
                family = GaugeMetricFamily(name, help_text, labels=_label_names(samples))
            for labels, value in samples:
                family.add_metric(list(labels.values()), value)
            yield family

    def describe(self) -> Iterator[Metric]:
        # No samples at registration: the families a scrape yields depend on
        # the engines alive then.
        return iter(())


def _label_names(samples: list[tuple[dict[str, str], float]]) -> list[str]:
    # Every sample of a family has the same labels, in the same order.
    return list(samples[0][0]) if samples else ["name"]


def register(registry: Optional[CollectorRegistry] = None) -> SeawallCollector:
    """Registers a ``SeawallCollector`` with ``registry`` (default: the
    global ``prometheus_client.REGISTRY``) and returns it (pass it to
    ``registry.unregister`` to remove it)."""
    collector = SeawallCollector()
    (REGISTRY if registry is None else registry).register(collector)
    return collector
