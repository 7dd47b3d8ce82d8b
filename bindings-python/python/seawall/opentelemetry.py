"""Seawall's metrics for OpenTelemetry (``pip install
seawall[opentelemetry]``).

``instrument()`` registers one observable instrument per family of the
core's catalog (observable counters for counters, observable gauges for
gauges) whose callbacks read ``_native.metric_families()`` when the SDK
collects: the snapshots of every live engine, nothing counted per call.
Instruments use the dotted names (``seawall.breaker.calls``,
``seawall.breaker.state``, ...) with the same attributes as the
Prometheus labels (``name``, ``outcome``, ``state``, ...)."""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Optional, Set, Tuple

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from . import _native

__all__ = ["dotted", "instrument"]


def dotted(name: str) -> str:
    """``seawall_breaker_calls`` -> ``seawall.breaker.calls``."""
    return name.replace("_", ".", 2)


class _Scrape:
    """The families read once per collection: the SDK asks every
    instrument's callback in turn, each once per collection, so a family
    asked for a second time means a new collection has begun."""

    def __init__(self) -> None:
        self._families: Dict[str, List[Tuple[Dict[str, str], float]]] = {}
        self._served: Set[str] = set()
        self._read = False

    def samples(self, name: str) -> List[Tuple[Dict[str, str], float]]:
        if not self._read or name in self._served:
            self._families = {
                name: [(dict(zip(label_names, values)), value) for values, value in samples]
                for name, _help, _kind, label_names, samples in _native.metric_families()
            }
            self._served.clear()
            self._read = True
        self._served.add(name)
        return self._families.get(name, [])


def _callback(scrape: _Scrape, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
    def observe(options: CallbackOptions) -> Iterable[Observation]:
        return [Observation(value, labels) for labels, value in scrape.samples(name)]

    return observe


def instrument(meter_provider: Optional[MeterProvider] = None) -> None:
    """Registers Seawall's instruments with ``meter_provider`` (default:
    the global one) under the meter ``seawall``."""
    meter = metrics.get_meter("seawall", meter_provider=meter_provider)
    scrape = _Scrape()
    for name, description, kind in _native.metric_catalog():
        callbacks = [_callback(scrape, name)]
        if kind == "counter":
            meter.create_observable_counter(dotted(name), callbacks, description=description)
        else:
            meter.create_observable_gauge(dotted(name), callbacks, description=description)
