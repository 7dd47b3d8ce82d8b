"""Counters of the resilience patterns (``ResilienceMetricsInterface``),
fed by hand or, once attached, by every engine of the process."""

from __future__ import annotations

import threading
from typing import Any, Dict

from . import _events
from .interfaces import ResilienceMetricsInterface
from .models import CircuitState

__all__ = ["ResilienceMetrics"]


class ResilienceMetrics(ResilienceMetricsInterface):
    """Thread-safe counters of the resilience patterns.

    Fed by hand through the ``record_*`` methods, or by the engines once
    attached (``metrics = ResilienceMetrics().attach()``): from then on every
    circuit breaker transition, bulkhead rejection, retry budget exhaustion
    and retry attempt of a call that failed at least once (a first attempt
    that succeeds is not counted) is recorded here, from every breaker,
    bulkhead and retry of the process, until ``detach()``. Only those rare
    events are reported: a call that succeeds at once costs nothing more.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._retries: Dict[str, Dict[str, float]] = {}
        self._transitions: Dict[str, Dict[str, int]] = {}
        self._bulkhead_rejections: Dict[str, int] = {}
        self._budget_exhaustions: Dict[str, int] = {}

    def attach(self) -> "ResilienceMetrics":
        """Records the engines' events from now on; returns ``self``.
        Attaching twice records each event once."""
        _events.attach(self)
        return self

    def detach(self) -> None:
        """Stops recording the engines' events (the counts stay)."""
        _events.detach(self)

    def record_retry_attempt(self, strategy: str, attempt: int, success: bool, duration: float) -> None:
        with self._lock:
            s = self._retries.setdefault(
                strategy, {"attempts": 0, "successes": 0, "failures": 0, "total_duration": 0.0,
                           "max_attempt": 0}
            )
            s["attempts"] += 1
            s["successes" if success else "failures"] += 1
            s["total_duration"] += duration
            s["max_attempt"] = max(s["max_attempt"], attempt)

    def record_circuit_state_change(
        self, circuit_name: str, old_state: CircuitState, new_state: CircuitState
    ) -> None:
        key = f"{CircuitState(old_state).value}->{CircuitState(new_state).value}"
        with self._lock:
            t = self._transitions.setdefault(circuit_name, {})
            t[key] = t.get(key, 0) + 1

    def record_bulkhead_rejection(self, bulkhead_name: str) -> None:
        with self._lock:
            self._bulkhead_rejections[bulkhead_name] = (
                self._bulkhead_rejections.get(bulkhead_name, 0) + 1
            )

    def record_retry_budget_exhaustion(self, budget_name: str) -> None:
        with self._lock:
            self._budget_exhaustions[budget_name] = self._budget_exhaustions.get(budget_name, 0) + 1

    def get_metrics_summary(self) -> Dict[str, Any]:
        with self._lock:
            return {
                "retries": {k: dict(v) for k, v in self._retries.items()},
                "circuit_state_changes": {k: dict(v) for k, v in self._transitions.items()},
                "bulkhead_rejections": dict(self._bulkhead_rejections),
                "retry_budget_exhaustions": dict(self._budget_exhaustions),
            }
