#!/usr/bin/env bash
# The breaker's speed checks in one go: the criterion benches against
# failsafe and recloser (wall clock and thread CPU time, medians and ratios
# printed at the end), callgrind instructions per call, and best-of-R thread
# CPU ns/call of the hot paths.
#
# Usage: scripts/bench-run.sh [criterion args...]   e.g. `-- closed_success`
# Timings are noisy on a shared machine: compare hot paths with the
# callgrind figures, which are repeatable.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== criterion (benches/benches/breaker.rs) =="
cargo bench -p seawall-benches --bench breaker -- "$@" 2>&1 |
    grep -vE '^(Benchmarking|Found|  [0-9]+ \([0-9.]+%\) (low|high) (mild|severe))' |
    grep -vE '^\s*$|^\s+change:|Performance has|No change|Change within'
echo
echo "== callgrind: instructions per call =="
scripts/callgrind.sh
echo
echo "== thread CPU ns/call, best of 7 =="
scripts/bench-hot.sh 20000000 7
