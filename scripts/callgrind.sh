#!/usr/bin/env bash
# Instructions per call on seawall's hot paths (and the peers' closed paths),
# counted by callgrind: repeatable on a noisy machine, unlike wall time.
#
# Builds benches/examples/hot_path.rs in release, runs each mode with N and
# 2N calls under `valgrind --tool=callgrind`, counting only inside the
# `run_*` loop functions, and prints (Ir(2N) - Ir(N)) / N: the cost of one
# call, with set-up and loop-invariant work cancelled out.
#
# Usage: scripts/callgrind.sh [N] [mode...]
#   N      calls in the short run (default 200000)
#   modes  closed closed_shared rejected time_window count_window count_window_eval registry
#          keyed keyed_one distributed throttler fault_off no_strategy bulkhead adaptive
#          adaptive_recent adaptive_manual adaptive_sample failsafe recloser
#          (default: all)
set -euo pipefail

cd "$(dirname "$0")/.."
n="${1:-200000}"
shift || true
modes=("$@")
[ "${#modes[@]}" -gt 0 ] || modes=(closed closed_shared rejected time_window count_window count_window_eval registry keyed keyed_one distributed throttler fault_off no_strategy bulkhead adaptive adaptive_recent adaptive_manual adaptive_sample failsafe recloser)

command -v valgrind >/dev/null || { echo "valgrind not found" >&2; exit 1; }
cargo build --release --quiet -p seawall-benches --example hot_path
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/examples/hot_path"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

collected() { # mode calls -> instructions counted inside run_*
    valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2.cg" \
        --toggle-collect='hot_path::run_*' "$bin" "$1" "$2" 2>&1 >/dev/null |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}

printf '%-10s %14s %14s %12s\n' mode "Ir(N=$n)" "Ir(2N)" "Ir/call"
for m in "${modes[@]}"; do
    a="$(collected "$m" "$n")"
    b="$(collected "$m" $((2 * n)))"
    per="$(python3 -c "print(f'{($b - $a) / $n:.2f}')")"
    printf '%-10s %14s %14s %12s\n' "$m" "$a" "$b" "$per"
done
