#!/usr/bin/env bash
# The loom models of the core's concurrency (loom-tests/tests/*.rs) and of
# the distributed breaker's shared words (distributed/src/loom.rs).
#
# `--cfg seawall_loom` turns every atomic and lock of the core into loom's
# instrumented type (core/src/sync.rs); each model then runs once per
# interleaving of its threads, up to LOOM_MAX_PREEMPTIONS preemptions
# (default 2: set it higher for a deeper, much slower search).
#
# Release mode, because loom re-runs each model thousands of times; its own
# target directory ($CARGO_TARGET_DIR/loom, default target/loom), because
# the cfg changes every crate's fingerprint and would otherwise throw away
# the normal build.
#
# Usage, from anywhere in the checkout: scripts/test-loom.sh [test-name-filter]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg seawall_loom"
export LOOM_MAX_PREEMPTIONS="${LOOM_MAX_PREEMPTIONS:-2}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_LOOM:-${CARGO_TARGET_DIR:-target}/loom}"

printf '==> loom models (LOOM_MAX_PREEMPTIONS=%s, target %s)\n' \
    "$LOOM_MAX_PREEMPTIONS" "$CARGO_TARGET_DIR"
start=$SECONDS
# --no-fail-fast: one failing model must not hide the others' results.
status=0
cargo test --release -p seawall-loom-tests --no-fail-fast -- "$@" || status=$?
cargo test --release -p seawall-distributed --lib --no-fail-fast -- loom:: "$@" || status=$?
[ "$status" -eq 0 ] || exit "$status"
printf '\nloom models passed in %ss\n' "$((SECONDS - start))"
