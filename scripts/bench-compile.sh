#!/usr/bin/env bash
# Compile check for CI: every bench target of the workspace compiles and
# links, without running anything. In the dev profile, which reuses what the
# Rust tests built: the optimized bench profile (thin LTO) would add minutes
# to CI for no check that the dev build lacks. `cargo bench --no-run` builds
# them as measured.
#
# Usage: scripts/bench-compile.sh [extra cargo args...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo build --workspace --benches "$@"
