#!/usr/bin/env bash
# Every test of the project, in one command (the README's test command and
# what CI runs). Each part installs what it needs on a fresh machine.
#
#   rust    fmt, clippy (-D warnings), unit/model/stress tests, the demo
#   loom    loom models of the core's concurrency (bounded preemptions)
#   c       the C ABI: header drift, C tests under ASan/UBSan, C++ include,
#           pkg-config
#   python  the Python module: build into a virtualenv, stubtest, pytest
#   examples the programs of examples/ (Rust, C, Python) built, run and
#           their output checked (uses the python part's virtualenv)
#   install the README's "Use it from your project" steps on a clean clone:
#           a Rust path dependency, `pip install ./bindings-python`, a wheel
#           from `maturin build --release` (twine check), the C library
#           from `cargo cinstall` used through pkg-config (shared, static)
#   observability  the alerting rules (promtool check and unit tests) and
#           the Grafana dashboard (valid JSON, only known metric names)
#   docs    the documentation site: the configuration reference generated
#           from the code's field docs, `mkdocs build --strict` into
#           target/site, the pages rendered by headless Chromium
#   benches a compile check of every benchmark (no timing in tests)
#   fuzz    the libFuzzer targets of fuzz/ (C ABI call sequences, config
#           validators, C config structs): committed regression inputs,
#           then FUZZ_SECONDS (default 30) of fuzzing per target
#   asan    the core's and the C ABI crate's Rust tests again under
#           AddressSanitizer (target/asan)
#
# Run a subset with e.g. `scripts/test.sh rust loom`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(rust loom c python examples install observability docs benches fuzz asan)

for part in "${parts[@]}"; do
    case "$part" in
        rust) script=scripts/test-rust.sh ;;
        loom) script=scripts/test-loom.sh ;;
        c) script=scripts/test-c.sh ;;
        python) script=scripts/test-python.sh ;;
        examples) script=scripts/test-examples.sh ;;
        install) script=scripts/test-install.sh ;;
        observability) script=scripts/test-observability.sh ;;
        docs) script=scripts/test-docs.sh ;;
        benches) script=scripts/bench-compile.sh ;;
        fuzz) script=scripts/test-fuzz.sh ;;
        asan) script=scripts/test-asan.sh ;;
        *) echo "unknown part: $part" >&2; exit 2 ;;
    esac
    printf '\n######## %s (%s)\n' "$part" "$script"
    start=$SECONDS
    bash "$script"
    printf '######## %s passed in %ss\n' "$part" "$((SECONDS - start))"
done
printf '\nall parts passed: %s\n' "${parts[*]}"
# A closing line CI reads as the whole run's verdict (any failure exits above).
printf 'parts: %d passed, 0 failed\n' "${#parts[@]}"
