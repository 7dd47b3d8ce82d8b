#!/usr/bin/env bash
# Installs redis-server through apt when it is missing: the distributed
# breaker's tests (Rust, Python and C) start their own servers. Used by
# scripts/test-rust.sh, scripts/test-python.sh and scripts/test-c.sh.
set -euo pipefail
command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && exit 0
printf '\n==> %s\n' "apt-get install redis-server (the distributed breaker's tests start their own)"
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" redis-server
