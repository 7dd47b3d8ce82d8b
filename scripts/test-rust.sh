#!/usr/bin/env bash
# The Rust checks of the whole workspace, in the order a reviewer wants them:
# formatting, lints (warnings denied by flag), the API docs, every test,
# and the README's main job (a simulated outage) run to completion.
#
# Usage, from anywhere in the checkout: scripts/test-rust.sh
# PROPTEST_CASES=N raises or lowers the model-based test's case count
# (default 256).
#
# The workspace's tests include distributed/'s tier-1 tests, which start
# their own redis-server on free loopback ports (and a local Redis Cluster,
# joined with redis-cli); both are installed through apt if missing, as is
# rsvg-convert, which the simulator's tests render its SVG with.
#
# Tests run in debug mode on purpose: debug builds keep overflow checks and
# debug assertions on, and the stress tests (core/tests/stress.rs, over a
# million calls) take about a second that way on a 2-core machine.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    printf '\n==> %s\n' "$*"
}

scripts/ensure-redis-server.sh
scripts/ensure-rsvg-convert.sh

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The C ABI's distributed breaker is behind a feature no workspace member
# turns on.
step "cargo clippy -p seawall-ffi --features distributed --all-targets -- -D warnings"
cargo clippy -p seawall-ffi --features distributed --all-targets -- -D warnings

# The API docs as docs.rs would build them: a broken intra-doc link fails.
# (The Python extension's crate has no Rust API to document.)
step "cargo doc --workspace --no-deps (warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --exclude seawall-python

step "cargo test --workspace --no-fail-fast"
cargo test --workspace --no-fail-fast

step "cargo test -p seawall --features tracing --test logs (transitions as tracing events)"
cargo test -p seawall --features tracing --test logs

step "cargo run -q -p seawall --example outage"
cargo run -q -p seawall --example outage

# The README's first command, as written there.
step "cargo run -q -p seawall-cli -- simulate outage --svg outage.svg"
cargo run -q -p seawall-cli -- simulate outage --svg outage.svg

printf '\nall Rust checks passed\n'
