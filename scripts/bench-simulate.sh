#!/usr/bin/env bash
# The simulator's speed: simulated calls per second of the release `seawall`
# binary, whole runs timed from the shell (median of RUNS, default 3).
#
#   1. a plain breaker (consecutive rule) through 100 million calls;
#   2. a breaker with a 60 s time-window failure-rate rule, same calls;
#   3. the diurnal scenario: 24 hours at 1,000 calls/s on average (86.4 M);
#   4. a 10-million-line CSV trace (generated once into target/bench-trace.csv);
#   5. a sweep of 8 settings over 10 M calls each, on one core, then on every
#      core (--jobs).
#
# Usage: scripts/bench-simulate.sh   (RUNS=5 for more runs)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RUNS=${RUNS:-3}
cargo build -q --release -p seawall-cli
bin=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/seawall
trace=$(dirname "$bin")/../bench-trace.csv

if [ ! -s "$trace" ]; then
    # 10 M calls at 1,000/s (10,000 s), failing from 3,000 s to 3,600 s,
    # 5 ms each.
    awk 'BEGIN { print "timestamp,status,latency_ms";
                 for (i = 0; i < 10000000; i++) {
                     t = 1700000000 + i / 1000;
                     s = (i >= 3000000 && i < 3600000) ? 503 : 200;
                     printf "%.3f,%d,5\n", t, s } }' > "$trace"
fi

# Prints the median wall time of RUNS runs of "$@", in seconds.
median() {
    for _ in $(seq "$RUNS"); do
        s=$(date +%s.%N)
        "$@" > /dev/null
        e=$(date +%s.%N)
        echo "$e - $s" | bc -l
    done | sort -n | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'
}

report() {
    local name=$1 calls=$2 secs=$3
    printf '%-44s %12s calls %8.3f s %8.1f M calls/s\n' "$name" "$calls" "$secs" \
        "$(echo "$calls / $secs / 1000000" | bc -l)"
}

big=(--set scenario.rate=1000000 --set scenario.duration=100 --set scenario.start=40 --set scenario.end=60)
report "plain breaker, 1 thread" 100000000 "$(median "$bin" simulate "${big[@]}")"
report "time-window rate rule, 1 thread" 100000000 "$(median "$bin" simulate "${big[@]}" \
    --set window.time=60 --set failure_rate_threshold=0.5)"
report "diurnal day (86.4 M calls), 1 thread" 86400000 "$(median "$bin" simulate diurnal)"
lines=$(($(wc -l < "$trace") - 1))
report "CSV trace, 1 thread" "$lines" "$(median "$bin" simulate --trace "$trace")"
sweep=(sweep --set scenario.rate=100000 --set scenario.duration=100 --set scenario.start=40 --set scenario.end=60
       --set window.time=60 --grid failure_rate_threshold=0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8)
report "sweep of 8 x 10 M calls, 1 job" 80000000 "$(median "$bin" "${sweep[@]}" --jobs 1)"
jobs=$(nproc)
report "sweep of 8 x 10 M calls, $jobs jobs" 80000000 "$(median "$bin" "${sweep[@]}" --jobs "$jobs")"
