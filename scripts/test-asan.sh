#!/usr/bin/env bash
# The Rust tests of the crates with unsafe code and hand-made atomics, once
# more under AddressSanitizer: the core (`seawall`: unit, model, stress and
# doc tests) and the C ABI crate (`seawall-ffi`: its unit tests and the
# header check). Stable Rust with RUSTC_BOOTSTRAP=1 for -Zsanitizer; its own
# target dir ($CARGO_TARGET_DIR/asan, default target/asan), since every
# crate is rebuilt instrumented.
#
# Not here, and why:
# - bindings-python: a cdylib loaded by the Python interpreter, with no
#   cargo tests (`test = false`); running it under ASan would mean an
#   instrumented interpreter or LD_PRELOADing libasan into python.
# - benches: a compile check elsewhere; nothing of ours to run.
# - loom-tests: the models only exist under --cfg seawall_loom, where
#   loom's own checker replaces the real atomics.
# - The C tests run under ASan + UBSan already (scripts/test-c.sh).
#
# Usage: scripts/test-asan.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-Zsanitizer=address"
export RUSTDOCFLAGS="${RUSTDOCFLAGS:+$RUSTDOCFLAGS }-Zsanitizer=address"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR_ASAN:-${CARGO_TARGET_DIR:-target}/asan}"
# Leaks are errors too; abort (not just exit) so a failure is unmistakable.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"

# An explicit --target keeps build scripts and proc macros (built for the
# host) out of the sanitizer, which they would not survive.
target=$(rustc -vV | sed -n 's/^host: //p')

printf '==> cargo test under AddressSanitizer (target %s, dir %s)\n' "$target" "$CARGO_TARGET_DIR"
start=$SECONDS
cargo test --target "$target" -p seawall -p seawall-ffi --no-fail-fast "$@"
printf '\nASan tests passed in %ss\n' "$((SECONDS - start))"
