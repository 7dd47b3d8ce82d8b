#!/usr/bin/env bash
# The libFuzzer targets of fuzz/ (cargo fuzz, on stable Rust with
# RUSTC_BOOTSTRAP=1; AddressSanitizer, debug assertions and overflow checks
# on):
#
#   ffi_calls   sequences of calls on the C ABI, checked against the header
#   config      the core's configuration validators against their documented
#               ranges; accepted configurations build and work
#   ffi_config  the C config structs through the C constructors
#
# First replays every committed regression input (fuzz/regressions/<target>/),
# then fuzzes each target for FUZZ_SECONDS (default 20) from its seed corpus
# (fuzz/seeds/<target>/, if any) plus what earlier runs on this machine found
# (fuzz/corpus/<target>/, git-ignored). Any crash, panic, failed check, leak or
# timeout fails the script; the input is left in fuzz/artifacts/<target>/ and
# printed here, to be committed under fuzz/regressions/<target>/.
#
# Defects found and under repair elsewhere are listed in fuzz/known-defects:
# their reproducers must still fail (a fixed one fails the script until its
# line is deleted), and every other run skips the one assertion that detects
# them (SEAWALL_FUZZ_KNOWN_DEFECTS).
#
# Installs cargo-fuzz (pinned) if it is missing. Usage:
#   scripts/test-fuzz.sh [target...]     FUZZ_SECONDS=N to change the budget
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO_FUZZ_VERSION=0.13.2
FUZZ_SECONDS=${FUZZ_SECONDS:-20}
export RUSTC_BOOTSTRAP=1
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]; then
    echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
    cargo install cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked
fi
# libfuzzer-sys compiles libFuzzer's C++ sources.
if ! command -v c++ >/dev/null 2>&1; then
    bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" g++
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(ffi_calls config ffi_config)

cd fuzz
echo "== cargo fuzz build (ASan, release with debug assertions)"
start=$SECONDS
cargo fuzz build
echo "built in $((SECONDS - start))s"

# libFuzzer options shared by every run: a slow input (10 s) is a failure,
# as is one using more than 2 GiB.
opts=(-timeout=10 -rss_limit_mb=2048 -print_final_stats=1)

# Logs beside the fuzz workspace's build (fuzz/target, or $CARGO_TARGET_DIR).
logs=${CARGO_TARGET_DIR:-target}
mkdir -p "$logs"

failed=0
known=()
while read -r name target reproducer; do
    case "$name" in '' | '#'*) continue ;; esac
    known+=("$name")
    echo "== known defect $name: its reproducer must still fail ($target $reproducer)"
    if SEAWALL_FUZZ_KNOWN_DEFECTS='' cargo fuzz run "$target" "$reproducer" -- "${opts[@]}" \
        >"$logs/known-$name.log" 2>&1; then
        echo "!! known defect $name no longer reproduces: delete its line in" \
            "fuzz/known-defects so that fuzzing checks for it again" >&2
        failed=1
    else
        grep -m1 -A1 'panicked at' "$logs/known-$name.log" || true
    fi
done <known-defects
SEAWALL_FUZZ_KNOWN_DEFECTS=$(IFS=,; echo "${known[*]}")
export SEAWALL_FUZZ_KNOWN_DEFECTS
[ -z "$SEAWALL_FUZZ_KNOWN_DEFECTS" ] || echo "== skipping the checks of: $SEAWALL_FUZZ_KNOWN_DEFECTS"

for t in "${targets[@]}"; do
    regressions=(regressions/"$t"/*)
    if [ -e "${regressions[0]}" ]; then
        echo "== $t: replaying ${#regressions[@]} regression input(s)"
        # Given files (not directories), libFuzzer runs each once and stops.
        if ! cargo fuzz run "$t" "${regressions[@]}" -- "${opts[@]}"; then
            echo "!! $t: a committed regression input fails again" >&2
            failed=1
            continue
        fi
    fi
    corpus=(corpus/"$t")
    mkdir -p "corpus/$t"
    rm -rf "artifacts/$t"
    [ -d "seeds/$t" ] && corpus+=("seeds/$t")
    echo "== $t: fuzzing for ${FUZZ_SECONDS}s"
    if ! cargo fuzz run "$t" "${corpus[@]}" -- "${opts[@]}" -max_total_time="$FUZZ_SECONDS"; then
        failed=1
        echo "!! $t: the fuzzer found a failing input:" >&2
        for a in artifacts/"$t"/*; do
            [ -e "$a" ] || continue
            echo "   $a (replay: cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run $t $a;" \
                "keep it: cp $a fuzz/regressions/$t/)" >&2
        done
    fi
done
if [ "$failed" -ne 0 ]; then
    echo "fuzzing failed" >&2
    exit 1
fi
echo "fuzzing passed: ${targets[*]} (${FUZZ_SECONDS}s each)"
