#!/usr/bin/env bash
# Time per call on the hot paths, robust to a busy machine: runs
# benches/examples/hot_path.rs R times per mode with N calls each and prints
# the best and the median of the thread-CPU ns/call (CPU time does not count
# the time the thread is preempted; the best run is the one least disturbed).
#
# Usage: scripts/bench-hot.sh [N] [R] [mode...]
#   N      calls per run (default 50000000)
#   R      runs per mode (default 7)
#   modes  closed rejected failsafe recloser (default: all four)
set -euo pipefail

cd "$(dirname "$0")/.."
n="${1:-50000000}"
r="${2:-7}"
shift $(($# > 2 ? 2 : $#)) || true
modes=("$@")
[ "${#modes[@]}" -gt 0 ] || modes=(closed rejected failsafe recloser)

cargo build --release --quiet -p seawall-benches --example hot_path
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/examples/hot_path"

printf '%-10s %12s %12s %12s   (ns/call, thread CPU, %s runs of %s calls)\n' mode best median worst "$r" "$n"
for m in "${modes[@]}"; do
    for _ in $(seq "$r"); do
        "$bin" "$m" "$n" | sed -n 's/.* \([0-9.]*\) ns\/call thread CPU/\1/p'
    done | sort -g | python3 -c '
import sys
v = [float(x) for x in sys.stdin.read().split()]
print(f"{sys.argv[1]:<10} {v[0]:>12.3f} {v[len(v)//2]:>12.3f} {v[-1]:>12.3f}")' "$m"
done
