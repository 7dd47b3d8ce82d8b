#!/usr/bin/env bash
# The Python benchmark: seawall against pybreaker and circuitbreaker, and
# with_resilience against tenacity (all from PyPI), in one run; prints the
# table and the overhead ratios. Builds the extension (release) into
# bindings-python/.venv like scripts/test-python.sh.
# Arguments are passed to the bench script (e.g. --quick). With --wakeup it
# runs bindings-python/benches/wakeup.py instead (bulkhead wake-up latency:
# p50/p99 from a release to the waiter running; further arguments go to it).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=$PWD/bindings-python/.venv
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
py=$VENV/bin/python
export VIRTUAL_ENV=$VENV

bench=bench.py
peers=(pybreaker circuitbreaker tenacity)
if [ "${1:-}" = --wakeup ]; then
    shift
    bench=wakeup.py
    peers=()
fi
"$py" -m pip install -q --disable-pip-version-check "maturin>=1.7,<2" "${peers[@]}"
(cd bindings-python && "$VENV/bin/maturin" develop --release --quiet)
"$py" bindings-python/benches/$bench "$@"
