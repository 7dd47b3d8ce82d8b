#!/usr/bin/env bash
# The Python benchmark: seawall against pybreaker and circuitbreaker, and
# with_resilience against tenacity (all from PyPI), in one run; prints the
# table and the overhead ratios. Builds the extension (release) into
# bindings-python/.venv like scripts/test-python.sh.
# Arguments are passed to the bench script (e.g. --quick). With --wakeup it
# runs bindings-python/benches/wakeup.py instead (bulkhead wake-up latency:
# p50/p99 from a release to the waiter running; further arguments go to it).
# With --callgrind [N] [mode...] it prints instructions per call of each path
# and of the peers' equivalents, counted by callgrind inside the measured
# loop only (bindings-python/benches/callgrind_paths.py): figures that repeat
# exactly on a noisy machine (modes http_bare, http_transport and
# http_peers count a request through seawall.httpx beside tenacity +
# pybreaker). Needs valgrind (with its headers) and a C compiler. With --distributed it runs bindings-python/benches/distributed.py
# instead: the distributed breaker's call beside the local one and pybreaker with its
# Redis storage, on a redis-server it starts (needs redis-server installed).
# With --scrape it runs bindings-python/benches/scrape.py instead: one
# metrics scrape of 1,000 breakers (--breakers N) beside a prometheus_client
# Counter incremented on every call.
# With --http it runs bindings-python/benches/http_clients.py: the per-request
# overhead of seawall.httpx.ResilientTransport on an in-memory transport,
# beside tenacity + pybreaker wired around the same client.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=$PWD/bindings-python/.venv
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
py=$VENV/bin/python
export VIRTUAL_ENV=$VENV

bench=bench.py
peers=(pybreaker circuitbreaker tenacity)
mode=table
case "${1:-}" in
    --wakeup) shift; bench=wakeup.py; peers=(); mode=wakeup ;;
    --callgrind) shift; mode=callgrind; peers+=(httpx) ;;
    --distributed) shift; bench=distributed.py; peers=(pybreaker redis); mode=distributed ;;
    --scrape) shift; bench=scrape.py; peers=(prometheus_client); mode=scrape ;;
    --http) shift; bench=http_clients.py; peers=(httpx pybreaker tenacity); mode=http ;;
esac
"$py" -m pip install -q --disable-pip-version-check "maturin>=1.7,<2" "${peers[@]}"
(cd bindings-python && "$VENV/bin/maturin" develop --release --quiet)
if [ "$mode" != callgrind ]; then
    exec "$py" bindings-python/benches/$bench "$@"
fi

command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 1; }
n=20000
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then n=$1; shift; fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# A fixed path: the library's name is on the measured process's command
# line, and a name that changes from run to run moves its memory layout.
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
toggle=$target/cgtoggle.so
mkdir -p "$target"
cc -O2 -shared -fPIC -o "$toggle" bindings-python/benches/cgtoggle.c
paths=bindings-python/benches/callgrind_paths.py
modes=("$@")
[ "${#modes[@]}" -gt 0 ] || read -r -a modes <<< "$(cd bindings-python/benches && "$py" -c 'import callgrind_paths as c; print(*c.MODES)')"
printf '%-18s %12s\n' path "Ir per call"
for m in "${modes[@]}"; do
    # Fixed hash seed and no address randomisation: the same work each run.
    PYTHONHASHSEED=0 setarch "$(uname -m)" -R valgrind --tool=callgrind --collect-atstart=no \
        --callgrind-out-file="$out/$m.cg" "$py" "$paths" "$toggle" "$m" "$n" >/dev/null 2>"$out/$m.err" \
        || { cat "$out/$m.err" >&2; exit 1; }
    # Each dump states its count twice (a `summary:` and a `totals:` line):
    # count each dump once. "%.0f", not "%d": mawk's %d stops at 2^31 - 1,
    # which a slow path's total passes (tenacity's, at the default N).
    total=$(awk '/^(summary|totals):/ {c[FILENAME] = $2} END {for (f in c) s += c[f]; printf "%.0f", s}' "$out"/"$m".cg*)
    printf '%-18s %12d\n' "$m" $((total / n))
done
