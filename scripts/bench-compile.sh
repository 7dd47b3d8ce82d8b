#!/usr/bin/env bash
# Compile check for CI: every bench target of the workspace builds (in the
# bench profile) without running anything.
#
# Usage: scripts/bench-compile.sh [extra cargo args...]
set -euo pipefail
cd "$(dirname "$0")/.."
exec cargo bench --workspace --no-run "$@"
