"""See what a configuration does before production does it to you.

``simulate()`` runs Seawall's real engines (breaker, retry with its budget,
bulkhead, rate limiter) on a simulated clock through a built-in scenario or
a recorded trace and returns what happened: time to detect and to recover,
attempts that reached the failing dependency, healthy calls refused, trial
calls, retries. ``sweep()`` runs a grid over one or two settings and marks
the Pareto front of time to detect against healthy calls refused. Both are
the ``seawall`` command line (``python -m seawall simulate --help``): the
same parser, the same runs, the same JSON, here as a ``dict``.

Settings use the names of ``CircuitBreakerConfig`` (pass one as
``breaker=``, or its fields as keywords: ``failure_threshold=5``,
``timeout=timedelta(seconds=30)``, ``window=CountWindow(100)``), and dotted
keys for the other sections in ``settings=``: ``{"scenario.rate": 1000,
"retry.max_attempts": 3, "retry_budget.budget_percent": 10}``.

>>> from seawall.simulation import simulate
>>> report = simulate("outage", failure_threshold=5,
...                   settings={"scenario.rate": 100})
>>> report["detect_max"]  # five failing calls, 10 ms apart
0.04
"""

from __future__ import annotations

import json
import os
from dataclasses import fields as dataclass_fields
from datetime import timedelta
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from . import _native
from .models import CircuitBreakerConfig, CountWindow, TimeWindow

__all__ = ["simulate", "sweep"]

PathLike = Union[str, "os.PathLike[str]"]

#: The fields of ``CircuitBreakerConfig`` a simulation reads (the others
#: classify exceptions and results, or are callbacks).
_BREAKER_FIELDS = (
    "failure_threshold",
    "success_threshold",
    "timeout",
    "half_open_timeout",
    "half_open_max_calls",
    "timeout_multiplier",
    "max_timeout",
    "timeout_jitter",
    "slow_call_duration",
    "window",
    "failure_count_threshold",
    "failure_rate_threshold",
    "slow_call_rate_threshold",
    "minimum_calls",
    "trip_on_consecutive_failures",
    "half_open_success_rate",
)


def _literal(key: str, value: object) -> str:
    """``value`` written as the command line's ``--set`` reads it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, timedelta):
        return repr(value.total_seconds())
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, CountWindow):
        return f"{{ count = {value.size} }}"
    if isinstance(value, TimeWindow):
        return f"{{ time = {value.length.total_seconds()!r}, buckets = {value.buckets} }}"
    raise TypeError(
        f"{key}: cannot simulate a value of type {type(value).__name__} "
        "(give a number, bool, str, timedelta, CountWindow or TimeWindow)"
    )


def _args(
    command: str,
    scenario: Optional[str],
    trace: Optional[PathLike],
    config: Optional[PathLike],
    seed: Optional[int],
    svg: Optional[PathLike],
    png: Optional[PathLike],
    settings: Optional[Mapping[str, object]],
    breaker: Optional[CircuitBreakerConfig],
    fields: Mapping[str, object],
) -> List[str]:
    args = [command]
    if scenario is not None:
        args.append(scenario)
    for flag, path in (("--trace", trace), ("--config", config), ("--svg", svg), ("--png", png)):
        if path is not None:
            args += [flag, os.fspath(path)]
    if seed is not None:
        args += ["--seed", str(int(seed))]
    assignments: Dict[str, object] = {}
    if breaker is not None:
        defaults = CircuitBreakerConfig()
        for f in dataclass_fields(breaker):
            value = getattr(breaker, f.name)
            if f.name in _BREAKER_FIELDS and value is not None and value != getattr(defaults, f.name):
                assignments[f.name] = value
    assignments.update(fields)
    assignments.update(settings or {})
    for key, value in assignments.items():
        if value is not None:
            args += ["--set", f"{key}={_literal(key, value)}"]
    return args


def _run(args: List[str]) -> Dict[str, Any]:
    """The command line's JSON for ``args``, as a ``dict``."""
    result: Dict[str, Any] = json.loads(_native.simulate_json(args + ["--json"]))
    return result


def simulate(
    scenario: Optional[str] = None,
    *,
    trace: Optional[PathLike] = None,
    config: Optional[PathLike] = None,
    seed: Optional[int] = None,
    svg: Optional[PathLike] = None,
    png: Optional[PathLike] = None,
    timeline: bool = False,
    settings: Optional[Mapping[str, object]] = None,
    breaker: Optional[CircuitBreakerConfig] = None,
    **fields: object,
) -> Dict[str, Any]:
    """Runs one configuration and returns the report (``seawall simulate
    --json``): ``counts``, ``episodes``, ``transitions``, ``detect_mean``,
    ``recover_max`` and the rest; with ``timeline=True`` also one entry per
    simulated second. ``scenario`` is one of ``outage`` (the default),
    ``flapping``, ``brownout``, ``latency-spike``, ``partial``,
    ``diurnal``, ``long-tail``; or replay a ``trace`` (CSV or JSON lines). ``svg`` /
    ``png`` write the timeline. Bad settings raise ``ValueError`` naming
    the field (or file and line); values of a type the command line cannot
    take raise ``TypeError``.
    """
    args = _args("simulate", scenario, trace, config, seed, svg, png, settings, breaker, fields)
    if timeline:
        args.append("--timeline")
    return _run(args)


def sweep(
    grid: Mapping[str, Sequence[object]],
    scenario: Optional[str] = None,
    *,
    trace: Optional[PathLike] = None,
    config: Optional[PathLike] = None,
    seed: Optional[int] = None,
    svg: Optional[PathLike] = None,
    png: Optional[PathLike] = None,
    jobs: Optional[int] = None,
    settings: Optional[Mapping[str, object]] = None,
    breaker: Optional[CircuitBreakerConfig] = None,
    **fields: object,
) -> Dict[str, Any]:
    """Runs every combination of one or two settings in ``grid``
    (``{"failure_rate_threshold": [0.2, 0.5], "minimum_calls": [10, 50]}``)
    on every core and returns ``seawall sweep --json``: one entry per point
    in ``points`` with ``detect``, ``rejected_while_healthy`` and
    ``pareto``. ``svg`` / ``png`` write the heatmaps.
    """
    if not 1 <= len(grid) <= 2:
        raise ValueError(f"grid: give one or two settings, not {len(grid)}")
    args = _args("sweep", scenario, trace, config, seed, svg, png, settings, breaker, fields)
    for key, values in grid.items():
        if isinstance(values, (str, bytes)) or not values:
            raise ValueError(f"grid[{key!r}]: give a non-empty list of values")
        args += ["--grid", f"{key}=" + ",".join(_literal(key, v) for v in values)]
    if jobs is not None:
        args += ["--jobs", str(int(jobs))]
    return _run(args)
