#!/usr/bin/env bash
# Fleet convergence, measured on real processes: 4 fleet-worker processes
# (distributed/src/bin/fleet-worker.rs) against one redis-server, tripped by
# a loopback dependency that starts failing, ROUNDS times (default 20).
# Prints the time from the fleet's trip decision (Redis TIME in the
# published message) to each busy worker's first rejection (p50, p99, max),
# the failing calls that still reached the dependency after the fleet
# threshold was crossed, and the Redis scripts and commands per second one
# instance with 10 busy breakers generates (INFO commandstats).
#
# Usage: scripts/bench-convergence.sh [ROUNDS]
# Release build; a run takes about 2 s per round plus 5 s. Needs
# redis-server on the PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
export FLEET_ROUNDS="${1:-20}"
cargo test --release -q -p seawall-distributed --test fleet -- \
    --ignored --exact convergence_figures --nocapture --test-threads 1
