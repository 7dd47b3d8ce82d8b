#!/usr/bin/env bash
# Installs Debian packages through apt (through sudo unless root): the one
# place the test scripts install what a fresh machine lacks. Arguments go to
# `apt-get install` (package names, and options such as
# --no-install-recommends).
set -euo pipefail
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq "$@" >/dev/null
