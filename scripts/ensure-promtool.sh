#!/usr/bin/env bash
# Installs promtool through apt (Debian's `prometheus` package carries it)
# when it is missing: scripts/test-observability.sh checks and unit-tests
# the alerting rules with it.
set -euo pipefail
command -v promtool >/dev/null 2>&1 && exit 0
printf '\n==> %s\n' "apt-get install prometheus (for promtool, which checks the alerting rules)"
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" --no-install-recommends prometheus
