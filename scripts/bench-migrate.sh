#!/usr/bin/env bash
# seawall-migrate's speed: generates a tree of 2,000 Python files (about
# 200,000 lines; one file in ten uses the old breakers through imports and
# aliases) in a temp directory and prints files/s for `scan` and `rewrite`
# (a diff, nothing written) beside `grep -r` over the same tree. Needs the
# virtualenv of scripts/test-python.sh (seawall built, libcst installed).
# FILES=N changes the tree's size; JOBS=N the worker processes (default: one
# per core).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

py=$PWD/bindings-python/.venv/bin/python
[ -x "$py" ] || { echo "run scripts/test-python.sh first (it builds the virtualenv)" >&2; exit 1; }
FILES=${FILES:-2000}
tree=$(mktemp -d)
trap 'rm -rf "$tree"' EXIT

"$py" - "$tree" "$FILES" <<'PY'
import os, sys
root, n = sys.argv[1], int(sys.argv[2])
plain = '''

def handler_{i}_{j}(request, retries=3):
    """Handles one request ({j}); the circuit_breaker is elsewhere."""
    total = 0
    for attempt in range(retries):
        total += len(str(request)) * attempt
        if total > {j}:
            break
    return {{"handler": {i}, "total": total, "note": "CircuitBreaker in a string"}}
'''
old = '''import shared.utils.retry_strategy as rs
from shared.utils.retry_strategy import CircuitBreaker as CB, with_retry
from datetime import timedelta

BREAKER = CB(failure_threshold=5, recovery_timeout=60, expected_exception=OSError)
OTHER = rs.CircuitBreaker(3, 10, (KeyError, ValueError))


class Client:
    def __init__(self):
        self.cb = CB(
            failure_threshold=4,  # a comment
            recovery_timeout=timedelta(seconds=30),
        )

    @with_retry("client_get", circuit_breaker=BREAKER, max_attempts=2)
    async def get(self, x):
        return x
'''
for i in range(n):
    d = os.path.join(root, f"pkg{i // 100}")
    os.makedirs(d, exist_ok=True)
    body = [old if i % 10 == 0 else "import os\n"]
    lines = body[0].count("\n")
    j = 0
    while lines < 100:
        chunk = plain.format(i=i, j=j)
        body.append(chunk)
        lines += chunk.count("\n")
        j += 1
    with open(os.path.join(d, f"mod{i}.py"), "w") as f:
        f.write("".join(body))
PY
lines=$(cat "$tree"/*/*.py | wc -l)
echo "tree: $FILES files, $lines lines, $(nproc) cores"

# Wall time and CPU time (user + system, workers included): on a machine
# shared with other work the wall time varies from run to run, the CPU time
# much less.
run() {  # label command...: prints seconds and files/s
    local label=$1 status=0 t
    shift
    t=$( { TIMEFORMAT='%R %U %S'; time "$@" >/dev/null 2>&1 || status=$?; } 2>&1 )
    # 1: old usages found, as expected; 2 and above: a failure.
    [ "$status" -le 1 ] || { echo "$label failed with status $status" >&2; exit 1; }
    echo "$t" | awk -v l="$label" -v n="$FILES" \
        '{ printf "%-30s %7.2f s wall %8.0f files/s %7.2f s CPU\n", l, $1, n / $1, $2 + $3 }'
}
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
jobs=${JOBS:+--jobs $JOBS}
run "grep -r" grep -r -E "CircuitBreaker|circuit_breaker" --include=*.py "$tree"
run "seawall-migrate scan" "$py" -m seawall.migrate scan $jobs "$tree"
run "seawall-migrate scan --jobs 1" "$py" -m seawall.migrate scan --jobs 1 "$tree"
run "seawall-migrate rewrite" "$py" -m seawall.migrate rewrite $jobs "$tree"
