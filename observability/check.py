"""Checks the dashboard and the alerting rules against the exported metrics.

Usage: python observability/check.py (with the seawall package importable,
e.g. bindings-python/.venv/bin/python)

- the metric table of README.md's "Metrics" section must list exactly the
  metrics seawall exports (the core's catalog, `_native.metric_catalog()`,
  counters with their `_total` suffix);

- seawall-dashboard.json must be valid JSON with unique panel ids, and every
  panel (other than rows) must have at least one non-empty PromQL target;
- every PromQL expression of the dashboard (targets, template queries) and
  of alerts.yml may name only metrics listed in README.md's "Metrics"
  section and only known PromQL functions;
- every metric of the table must appear on the dashboard.

No third-party modules: PromQL is reduced to the identifiers it names
(strings, label matchers, ranges and grouping clauses removed), which is
enough for the small expressions written here. Exits 1 and names every
problem when something is wrong.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Iterator, List, Set, Tuple

HERE = Path(__file__).resolve().parent

FUNCTIONS = {
    # aggregations
    "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group",
    # functions
    "rate", "irate", "increase", "delta", "idelta", "deriv", "changes", "resets",
    "abs", "ceil", "floor", "round", "clamp", "clamp_min", "clamp_max", "absent",
    "absent_over_time", "avg_over_time", "min_over_time", "max_over_time", "sum_over_time",
    "count_over_time", "last_over_time", "present_over_time", "quantile_over_time",
    "histogram_quantile", "label_replace", "label_join", "time", "timestamp", "vector",
    "scalar", "sort", "sort_desc",
}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan"}


def table_metrics() -> Set[str]:
    """The metric names listed (in backticks) in README.md's "Metrics"
    section."""
    text = (HERE / "README.md").read_text()
    section = re.search(r"^## Metrics\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    if section is None:
        sys.exit("observability/README.md has no '## Metrics' section")
    return set(re.findall(r"`(seawall_[a-z_]+)", section.group(1)))


def names_in(expr: str) -> Iterator[Tuple[str, bool]]:
    """The identifiers `expr` names outside label matchers, ranges and
    grouping clauses: (identifier, called as a function)."""
    e = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # Grafana's interval variables
    e = re.sub(r"\$\{?\w+\}?", "x", e)
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', e)
    e = re.sub(r"\{[^{}]*\}", " ", e)
    e = re.sub(r"\[[^\]]*\]", " ", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    for m in re.finditer(r"(?<![\w.])([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?", e):
        yield m.group(1), m.group(2) is not None


def check_expr(where: str, expr: str, known: Set[str], used: Set[str]) -> List[str]:
    problems = []
    if not expr.strip():
        return [f"{where}: empty expression"]
    if expr.count("(") != expr.count(")"):
        problems.append(f"{where}: unbalanced parentheses in {expr!r}")
    for name, called in names_in(expr):
        if called:
            if name not in FUNCTIONS:
                problems.append(f"{where}: unknown function {name!r} in {expr!r}")
        elif name.lower() in KEYWORDS:
            continue
        elif name not in known:
            problems.append(f"{where}: metric {name!r} is not in observability/README.md")
        else:
            used.add(name)
    return problems


def dashboard_exprs(d: dict) -> Iterator[Tuple[str, str]]:
    for p in d.get("panels", []):
        for inner in [p, *p.get("panels", [])]:
            for t in inner.get("targets", []):
                yield f"panel {inner.get('title')!r} target {t.get('refId')}", t.get("expr", "")
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else q or ""
        m = re.fullmatch(r"label_values\((.*),\s*\w+\)", q.strip())
        yield f"template variable {v.get('name')!r}", m.group(1) if m else q


def exported_metrics() -> Set[str]:
    """The names a Prometheus scrape shows: the core's catalog, with the
    `_total` suffix the exposition adds to counters."""
    from seawall import _native

    return {name + ("_total" if kind == "counter" else "")
            for name, _help, kind in _native.metric_catalog()}


def main() -> int:
    known = table_metrics()
    problems: List[str] = []
    exported = exported_metrics()
    for m in sorted(exported - known):
        problems.append(f"README.md's Metrics section does not list the exported metric {m!r}")
    for m in sorted(known - exported):
        problems.append(f"README.md's Metrics section lists {m!r}, which seawall does not export")
    if len(known) < 10:
        problems.append(f"README.md's Metrics section lists only {len(known)} metrics")
    try:
        d = json.loads((HERE / "seawall-dashboard.json").read_text())
    except json.JSONDecodeError as e:
        print(f"seawall-dashboard.json is not valid JSON: {e}")
        return 1
    ids = [p.get("id") for p in d.get("panels", [])]
    if len(ids) != len(set(ids)):
        problems.append("seawall-dashboard.json: panel ids are not unique")
    for p in d.get("panels", []):
        if p.get("type") != "row" and not any(t.get("expr") for t in p.get("targets", [])):
            problems.append(f"panel {p.get('title')!r} has no PromQL target")
    used: Set[str] = set()
    for where, expr in dashboard_exprs(d):
        problems += check_expr(f"dashboard {where}", expr, known, used)
    for m in sorted(known - used):
        problems.append(f"dashboard: metric {m!r} of the table is shown on no panel")
    rules = (HERE / "alerts.yml").read_text().splitlines()
    exprs = [(i, line.split("expr:", 1)[1].strip()) for i, line in enumerate(rules, 1)
             if line.strip().startswith("expr:")]
    if not exprs:
        problems.append("alerts.yml: no expressions found")
    for i, expr in exprs:
        if expr[:1] in ("|", ">"):
            problems.append(f"alerts.yml:{i}: write each expr on one line (checked line by line)")
        problems += check_expr(f"alerts.yml:{i}", expr, known, set())
    for p in problems:
        print(p)
    if problems:
        return 1
    print(f"dashboard and alerts name only the {len(known)} metrics of the table "
          f"({len(exprs)} alert expressions checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
