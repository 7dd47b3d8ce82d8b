#!/usr/bin/env bash
# The Python module's checks: builds `seawall` (PyO3 extension + pure-Python
# package) into a virtualenv, checks the .pyi stubs against the built module
# (mypy.stubtest), type-checks the package (mypy --strict) and runs pytest.
#
# Needs only Python >= 3.10 with pip and venv, and Rust; the distributed
# breaker's tests start their own redis-server, installed through apt if
# missing. The virtualenv
# (bindings-python/.venv, git-ignored) is created on first use and reused.
# PYTHON=/path/to/python picks the interpreter (default: python3.11, else
# python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    printf '\n==> %s\n' "$*"
}

scripts/ensure-redis-server.sh
# promtool checks the scraped text of the Prometheus exporter.
scripts/ensure-promtool.sh
# rsvg-convert renders the simulator's timeline (seawall.simulate(png=...)).
scripts/ensure-rsvg-convert.sh

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=$PWD/bindings-python/.venv
if [ ! -x "$VENV/bin/python" ]; then
    step "create $VENV with $PYTHON"
    "$PYTHON" -m venv "$VENV"
fi
py=$VENV/bin/python
export VIRTUAL_ENV=$VENV
# Keep tool caches out of the source tree.
export MYPY_CACHE_DIR=$VENV/mypy-cache
export HYPOTHESIS_STORAGE_DIRECTORY=$VENV/hypothesis

step "pip install maturin pytest mypy hypothesis prometheus_client opentelemetry-api opentelemetry-sdk httpx requests types-requests libcst"
"$py" -m pip install -q --disable-pip-version-check "maturin>=1.7,<2" "pytest>=7" "mypy>=1.10" "hypothesis>=6.100" \
    "prometheus_client>=0.20" "opentelemetry-api>=1.25" "opentelemetry-sdk>=1.25" \
    "httpx>=0.25" "requests>=2.28" "types-requests>=2.28" \
    "libcst>=1.1"

step "maturin develop --release (build the extension into the virtualenv)"
(cd bindings-python && "$VENV/bin/maturin" develop --release --quiet)

cd bindings-python

step "mypy.stubtest seawall (stubs match the built module)"
"$py" -m mypy.stubtest seawall --allowlist stubtest-allowlist.txt

step "mypy --strict python/seawall"
"$py" -m mypy --strict python/seawall

step "pytest"
"$py" -m pytest -p no:cacheprovider -q tests
