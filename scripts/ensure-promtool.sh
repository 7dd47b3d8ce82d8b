#!/usr/bin/env bash
# Installs promtool through apt (Debian's `prometheus` package carries it)
# when it is missing: scripts/test-observability.sh checks and unit-tests
# the alerting rules with it.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
printf '\n==> %s\n' "apt-get install prometheus (for promtool, which checks the alerting rules)"
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends prometheus >/dev/null
