#!/usr/bin/env bash
# The checks of observability/ (a few seconds): the alerting rules are
# valid (`promtool check rules`) and fire as their unit tests say
# (`promtool test rules`); the Grafana dashboard is valid JSON and it and the
# rules name only the metrics of observability/README.md (check.py).
# Needs python3; promtool is installed through apt if missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    printf '\n==> %s\n' "$*"
}

scripts/ensure-promtool.sh

step "promtool check rules observability/alerts.yml"
promtool check rules observability/alerts.yml

step "promtool test rules observability/alerts_test.yml"
(cd observability && promtool test rules alerts_test.yml)

# The metric names come from the extension's catalog: the Python part
# (scripts/test-python.sh, run before this one by scripts/test.sh) builds it.
py=bindings-python/.venv/bin/python
[ -x "$py" ] || { echo "no $py: run scripts/test-python.sh first (it builds the extension)" >&2; exit 1; }
step "observability/check.py (dashboard JSON, metric names against the catalog)"
"$py" observability/check.py

printf '\nall observability checks passed\n'
