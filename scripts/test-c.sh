#!/usr/bin/env bash
# The C ABI (ffi-c/, include/seawall.h): builds the library, checks the
# committed header against cbindgen's output, compiles and runs the C tests
# under AddressSanitizer + UBSan (and once as C++) and compile-checks the
# benchmark, all against the library as `cargo build` leaves it
# (libseawall_ffi in $CARGO_TARGET_DIR/release, default target/release).
# The C example (examples/c/protect.c) is built and run by
# scripts/test-examples.sh; the installed library (cargo cinstall:
# libseawall, include/seawall/seawall.h, seawall.pc) is checked by
# scripts/test-install.sh.
# Then builds the library again with the distributed breaker
# (--features distributed, into the same release directory) and runs its C
# tests (ffi-c/tests/distributed/, compiled with -DSEAWALL_DISTRIBUTED)
# against a redis-server it starts on a free loopback port.
# Works on a fresh Debian machine (installs gcc, g++ and
# redis-server if missing).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# --- tools -----------------------------------------------------------------
missing=()
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v g++ >/dev/null 2>&1 || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${missing[@]}"
fi

# --- library and header ----------------------------------------------------
echo "== cargo build --release -p seawall-ffi"
cargo build --release -p seawall-ffi
target=$(realpath -m "${CARGO_TARGET_DIR:-target}")
libdir=$target/release
[ -f "$libdir/libseawall_ffi.so" ] && [ -f "$libdir/libseawall_ffi.a" ]

echo "== header drift and unit tests (cargo test -p seawall-ffi)"
cargo test -p seawall-ffi

# The header from the source tree and the library from the build: what a
# program built inside this checkout uses (ffi-c/README.md, "Inside this
# checkout"), and the system libraries a static link needs.
flags="-I$root/include -L$libdir -lseawall_ffi"
static_libs="-lpthread -ldl -lm"

# --- C tests under the sanitizers ------------------------------------------
out=$target/c-tests
mkdir -p "$out"
san=(-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
cwarn=(-std=c11 -Wall -Wextra -Wpedantic -Werror)
rpath=(-Wl,-rpath,"$libdir")
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

run() {
    echo "-- $*"
    "$@"
}

for src in ffi-c/tests/*.c; do
    name=$(basename "$src" .c)
    tsan=("${san[@]}")
    what="ASan + UBSan"
    if [ "$name" = test_fork ]; then
        # The fork storm forks while other threads allocate. GCC's ASan
        # runtime (libsanitizer before LLVM 18) has no fork handler for its
        # allocator lock, so a child can hang in its first malloc for the
        # sanitizer's own reasons (seen here: a child stuck in
        # SizeClassAllocator64::GetFromAllocator). glibc's malloc is fork-safe,
        # so this test runs under UBSan alone.
        tsan=(-fsanitize=undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g)
        what="UBSan"
    fi
    echo "== $name (gcc, $what, shared library)"
    # shellcheck disable=SC2086 # $flags is a list of words
    gcc "${cwarn[@]}" "${tsan[@]}" -Iffi-c/tests "$src" $flags "${rpath[@]}" -pthread -lm \
        -o "$out/$name"
    run "$out/$name"
done

echo "== test_threads (gcc, ASan + UBSan, static library)"
# shellcheck disable=SC2086
gcc "${cwarn[@]}" "${san[@]}" -Iffi-c/tests ffi-c/tests/test_threads.c \
    -I"$root/include" "$libdir/libseawall_ffi.a" $static_libs -pthread \
    -o "$out/test_threads_static"
if ldd "$out/test_threads_static" | grep -q seawall; then
    echo "test_threads_static links the shared library" >&2
    exit 1
fi
run "$out/test_threads_static"

echo "== test_cxx (g++ -std=c++17, ASan + UBSan)"
# shellcheck disable=SC2086
g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror "${san[@]}" ffi-c/tests/test_cxx.cpp $flags \
    "${rpath[@]}" -o "$out/test_cxx"
run "$out/test_cxx"

# --- benchmark -------------------------------------------------------------
echo "== benchmark compile check (ffi-c/bench/bench.c; not run)"
# shellcheck disable=SC2086
gcc -O2 "${cwarn[@]}" ffi-c/bench/bench.c -I"$root/include" \
    "$libdir/libseawall_ffi.a" $static_libs -pthread -o "$out/bench"

# --- the distributed breaker and fleet rate limiter -----------------------
scripts/ensure-redis-server.sh
echo "== cargo build --release -p seawall-ffi --features distributed"
cargo build --release -p seawall-ffi --features distributed
echo "== unit tests with the feature (cargo test -p seawall-ffi --features distributed)"
cargo test -p seawall-ffi --features distributed

echo "== test_header and test_cxx with -DSEAWALL_DISTRIBUTED (the guarded declarations as C and C++)"
# shellcheck disable=SC2086
gcc "${cwarn[@]}" "${san[@]}" -DSEAWALL_DISTRIBUTED -Iffi-c/tests ffi-c/tests/test_header.c \
    $flags "${rpath[@]}" -o "$out/test_header_distributed"
run "$out/test_header_distributed"
# shellcheck disable=SC2086
g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror "${san[@]}" -DSEAWALL_DISTRIBUTED \
    ffi-c/tests/test_cxx.cpp $flags "${rpath[@]}" -o "$out/test_cxx_distributed"
run "$out/test_cxx_distributed"

# A redis-server of its own, with persistence off, on a free loopback port:
# a random one, tried again if taken (the server that answers must be ours:
# its process id is checked).
redis_pid=
stop_redis() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
}
trap stop_redis EXIT
for _ in 1 2 3 4 5 6 7 8 9 10; do
    port=$((20000 + RANDOM % 30000))
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        >"$out/redis-server.log" 2>&1 &
    redis_pid=$!
    for _ in $(seq 200); do
        kill -0 "$redis_pid" 2>/dev/null || break
        info=$(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' || true)
        if grep -qx "process_id:$redis_pid" <<<"$info"; then
            break 2
        fi
        sleep 0.05
    done
    stop_redis
    redis_pid=
done
if [ -z "$redis_pid" ]; then
    echo "could not start redis-server (log: $out/redis-server.log)" >&2
    exit 1
fi
export SEAWALL_TEST_REDIS_URL=redis://127.0.0.1:$port/
echo "== redis-server on port $port"

for src in ffi-c/tests/distributed/test_*.c; do
    name=$(basename "$src" .c)
    echo "== $name (gcc, ASan + UBSan, shared library with the distributed feature)"
    # shellcheck disable=SC2086
    gcc "${cwarn[@]}" "${san[@]}" -DSEAWALL_DISTRIBUTED -Iffi-c/tests "$src" $flags \
        "${rpath[@]}" -pthread -lm -o "$out/$name"
    run "$out/$name"
done

echo "C ABI: all checks passed"
