#!/usr/bin/env bash
# The programs of examples/ (see examples/README.md): builds and runs each
# one and checks its output for the lines that show it worked (a breaker
# that opened and recovered, a fallback that answered, retries that
# succeeded), failing with the whole output otherwise.
#
#   rust    examples/rust (package seawall-examples): cargo run of each bin
#   c       examples/c/protect.c through examples/c/Makefile, against the
#           release library that scripts/test-c.sh also builds
#           (cargo build --release -p seawall-ffi)
#   python  examples/python/*.py and examples/python/migration/run.py in the
#           virtualenv that scripts/test-python.sh builds
#           (bindings-python/.venv, with seawall installed by maturin):
#           run `scripts/test.sh python` first (scripts/test.sh runs this
#           part after it)
#
# Respects CARGO_TARGET_DIR; the C binary and the outputs go to
# ${CARGO_TARGET_DIR:-target}/examples-c and .../examples-out.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
out=$target/examples-out
mkdir -p "$out"

# run NAME COMMAND...: runs the example, prints its output, keeps it in
# $out/NAME.log.
run() {
    local name=$1
    shift
    printf '\n== %s: %s\n' "$name" "$*"
    if ! "$@" >"$out/$name.log" 2>&1; then
        cat "$out/$name.log"
        echo "example $name failed (exit status above)" >&2
        exit 1
    fi
    cat "$out/$name.log"
}

# expect NAME LINE...: each LINE must be a whole line of NAME's output.
expect() {
    local name=$1
    shift
    local line
    for line in "$@"; do
        if ! grep -qxF -- "$line" "$out/$name.log"; then
            echo "example $name: expected the line: $line" >&2
            exit 1
        fi
    done
}

# --- Rust ------------------------------------------------------------------
cargo build -q -p seawall-examples
run rust-flaky-service cargo run -q -p seawall-examples --bin flaky-service
expect rust-flaky-service \
    "  [t=10.3s] breaker inventory: CLOSED -> OPEN" \
    "  [t=31.2s] breaker inventory: HALF_OPEN -> CLOSED" \
    "served 25, gave up 20; breaker CLOSED: 25 successes, 6 failures, 19 rejected, opened 4 times" \
    "retries: 5 in all; the budget refused 4" \
    'seawall_breaker_state{name="inventory",state="closed"} 1' \
    'seawall_retry_calls_total{name="inventory",outcome="success_after_retry"} 1'

run rust-tower-stack cargo run -q -p seawall-examples --bin tower-stack
expect rust-tower-stack \
    "apple: failed, last error call 3: 503" \
    "pear: refused by the breaker (OPEN)" \
    "plum: ok, plum: 12.50 EUR (call 4)" \
    "  breaker pricing: HALF_OPEN -> CLOSED" \
    "search 4: rate limited, retry in 500ms" \
    "rate limiter: 3 allowed, 2 denied"

# --- C -----------------------------------------------------------------------
cargo build -q --release -p seawall-ffi
run c-protect make -s -C examples/c run CARGO_TARGET_DIR="$target" OUT="$target/examples-c"
expect c-protect \
    "invalid config: refused (invalid configuration): seawall_breaker_new: invalid timeout_ns = 0ns: must be a duration in (0, 365 days]" \
    "NULL out pointer: refused (a required pointer argument was NULL): seawall_breaker_new: \`out\` is NULL" \
    "  [t=  60 ms] inventory: CLOSED -> OPEN" \
    "  [t= 145 ms] inventory: HALF_OPEN -> CLOSED" \
    "final state CLOSED: 28 permitted, 22 successes, 6 failures, 12 rejected, opened 4 times"

# --- Python ------------------------------------------------------------------
py=$root/bindings-python/.venv/bin/python
if ! [ -x "$py" ] || ! "$py" -c 'import seawall' 2>/dev/null; then
    echo "no virtualenv with seawall in bindings-python/.venv: run scripts/test.sh python first" >&2
    exit 1
fi
# Unbuffered, so that the library's log lines (stderr) and the program's
# own (stdout) keep their order in the kept output.
export PYTHONUNBUFFERED=1
run py-sync-service "$py" examples/python/sync_service.py
expect py-sync-service \
    "  [t=   7s] recommendations breaker OPEN" \
    "  [t=   8s] rejected: Circuit breaker 'recommendations' is OPEN" \
    "  [t=  16s] recommendations breaker CLOSED" \
    "recommendations: served 15, failed 4, rejected 6; breaker closed" \
    "profiles: 15 from the service, 10 from the cache; breaker closed, 6 rejected"

run py-async-service "$py" examples/python/async_service.py
expect py-async-service \
    "order 1: charged 10.00 (3 gateway calls, waits: 0.48s, 0.93s)" \
    "order 2: queued 20.00 for later (4 gateway calls, waits: 0.52s, 0.91s, 2.01s)" \
    "order 4: queued 40.00 for later (0 gateway calls, waits: none)" \
    "  [t=35.34s] breaker payments: half_open -> closed" \
    "order 5: charged 50.00 (1 gateway calls, waits: none)" \
    "quote ACME: 99.5 (breaker open)" \
    "payments breaker closed: 2 successes, 7 failures, 2 rejected"

run py-migration "$py" examples/python/migration/run.py
expect py-migration \
    "shared.resilience is seawall: True" \
    "  inventory circuit opened!" \
    "inventory breaker: open" \
    "shipping quote: 4.95" \
    "tax rate in eu (legacy breaker open: True): None"

run py-httpx-client "$py" examples/python/httpx_client.py
expect py-httpx-client \
    "request 1: 200 (3 sent, t=0.3s)" \
    "request 3: 503 circuit_open (0 sent, t=0.6s)" \
    "breaker http:catalog.internal:80: open, 5 failures, 2 rejected"

printf '\nexamples: all ran and printed what they should\n'
