#!/usr/bin/env bash
# Installs rsvg-convert through apt (Debian's `librsvg2-bin`) when it is
# missing: `seawall simulate --png` converts its SVG timeline with it, and
# the simulator's tests check that every SVG it writes renders.
set -euo pipefail
command -v rsvg-convert >/dev/null 2>&1 && exit 0
printf '\n==> %s\n' "apt-get install librsvg2-bin (for rsvg-convert, which renders the simulator's SVG)"
bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" --no-install-recommends librsvg2-bin
