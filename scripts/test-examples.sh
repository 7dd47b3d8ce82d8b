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
    "pear: failed, last error call 4: 503" \
    "plum: ok, plum: 12.50 EUR (call 5)" \
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
run py-sync-service "$py" examples/python/sync_service.py
run py-async-service "$py" examples/python/async_service.py
run py-migration "$py" examples/python/migration/run.py
run py-httpx-client "$py" examples/python/httpx_client.py

printf '\nexamples: all ran and printed what they should\n'
