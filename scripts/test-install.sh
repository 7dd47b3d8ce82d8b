#!/usr/bin/env bash
# The README's "Use it from your project" steps, done as a user would, on a
# clean clone of this repository's committed HEAD (uncommitted changes are
# not part of it), in a temporary directory:
#
#   Rust    a new crate that depends on `seawall` by path (`cargo add
#           --path`) builds and runs
#   Python  `pip install ./bindings-python` into an empty virtualenv, then
#           `import seawall`; `maturin build --release`, `twine check` on the
#           wheel, which installs into another empty virtualenv and imports,
#           and whose extension is stripped
#   C       `cargo cinstall --profile dist` into a temporary prefix; a C
#           program compiled with `pkg-config --cflags --libs seawall` from
#           that prefix runs, against the shared and the static library
#
# Builds go to install-check/target under the usual target directory
# ($CARGO_TARGET_DIR, default target/ of this checkout), kept between runs so
# that a warm run rebuilds little. Installs what it
# needs on a fresh machine: pkg-config through apt, cargo-c through `cargo
# install --locked` (pinned below), maturin and twine into a virtualenv.
# PYTHON=/path/to/python picks the interpreter (default: python3.11, else
# python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

# The newest cargo-c that builds with the project's Rust (1.95).
CARGO_C_VERSION=0.10.24+cargo-0.98.0

step() {
    printf '\n==> %s\n' "$*"
}

# --- tools -----------------------------------------------------------------
missing=()
command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v git >/dev/null 2>&1 || missing+=(git)
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    bash "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" "${missing[@]}"
fi
if ! cargo cinstall --version 2>/dev/null | grep -qF "${CARGO_C_VERSION%%+*}"; then
    # --debug: an unoptimized build of cargo-c (the cargo library inside it
    # is large) takes a fraction of the release build's time, and what the
    # tool itself computes is negligible beside the compiler it runs. No
    # debug information either: about 290 s instead of 370 s cold on 2 cores.
    step "cargo install cargo-c --version $CARGO_C_VERSION --locked --debug"
    CARGO_PROFILE_DEV_DEBUG=false \
        cargo install --quiet cargo-c --version "$CARGO_C_VERSION" --locked --debug
fi

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
export CARGO_TARGET_DIR
CARGO_TARGET_DIR=$(realpath -m "${CARGO_TARGET_DIR:-target}")
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The clone and the virtualenvs live at fixed paths, made
# again on every run: the paths are part of what the builds depend on
# (the interpreter's, for pyo3), so new ones would rebuild more and leave
# stale artifacts behind in the target directory.
check=$CARGO_TARGET_DIR/install-check
# The clone builds into a target directory of its own: its crates have the
# same names and workspace-relative paths as this checkout's, hence the same
# fingerprints, and sharing one directory let a build of the clone stand in
# for this checkout's later (cargo then saw the clone's unchanged sources and
# linked a library built from them).
CARGO_TARGET_DIR=$check/target
tools=$check/tools
if [ ! -x "$tools/bin/python" ]; then
    "$PYTHON" -m venv "$tools"
fi
"$tools/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.9.2,<2" "twine>=6.1"

step "git clone $root (committed HEAD)"
rm -rf "$check/seawall"
git clone -q "$root" "$check/seawall"
cd "$check/seawall"

# --- Rust ------------------------------------------------------------------
step "Rust: cargo new app && cargo add --path seawall/core && cargo run"
cargo new -q --vcs none "$work/app-rust"
(cd "$work/app-rust" && cargo add -q --path "$check/seawall/core")
cat >"$work/app-rust/src/main.rs" <<'EOF'
use seawall::{Breaker, BreakerConfig, CallError};

fn main() {
    let config = BreakerConfig { failure_threshold: 2, ..Default::default() };
    let breaker = Breaker::new("app", config).expect("a valid config");
    let mut rejected = 0;
    for _ in 0..5 {
        match breaker.call(|| Err::<(), _>("down")) {
            Err(CallError::Rejected(_)) => rejected += 1,
            Err(CallError::Failed(_)) => {}
            Ok(()) => unreachable!("the call always fails"),
        }
    }
    assert_eq!(rejected, 3, "two failures open the breaker");
    println!("seawall from a path dependency: {rejected} calls rejected");
}
EOF
(cd "$work/app-rust" && cargo run -q)

# --- Python ----------------------------------------------------------------
check_import() {
    local py=$1
    local got
    got=$(cd "$work" && "$py" -c "import seawall; print(seawall.__version__)")
    echo "import seawall: $got"
    [ "$got" = "$version" ] || { echo "seawall.__version__ is $got, not $version" >&2; exit 1; }
}

step "Python: pip install ./bindings-python into an empty virtualenv"
"$PYTHON" -m venv --clear "$check/pip"
"$check/pip/bin/python" -m pip install -q --disable-pip-version-check ./bindings-python
check_import "$check/pip/bin/python"

step "Python: maturin build --release, twine check, install the wheel into an empty virtualenv"
wheels=$CARGO_TARGET_DIR/wheels
rm -f "$wheels"/seawall-*.whl
# From the virtualenv pip installed into, as a user with it active would: the
# same interpreter, so pip's build serves (pyo3 rebuilds for another one).
(cd bindings-python && VIRTUAL_ENV=$check/pip "$tools/bin/maturin" build --release --quiet)
wheel=$(ls "$wheels"/seawall-"$version"-*.whl)
echo "$wheel"
"$tools/bin/twine" check --strict "$wheel"
"$tools/bin/python" - "$wheel" "$work/so" <<'EOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = z.namelist()
    for need in ("seawall/py.typed", "LICENSE-MIT", "LICENSE-APACHE"):
        assert any(n.endswith(need) for n in names), f"{need} missing from {wheel}"
    (so,) = [n for n in names if n.startswith("seawall/_native") and n.endswith(".so")]
    with open(out, "wb") as f:
        f.write(z.read(so))
    meta = z.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    assert "License-Expression: MIT OR Apache-2.0" in meta, meta
EOF
if readelf -S "$work/so" | grep -qE '\.symtab|\.debug_'; then
    echo "the wheel's extension module is not stripped" >&2
    exit 1
fi
"$PYTHON" -m venv --clear "$check/wheel"
"$check/wheel/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
check_import "$check/wheel/bin/python"

# --- C ---------------------------------------------------------------------
prefix=$work/prefix
step "C: cargo cinstall -p seawall-ffi --profile dist --prefix=$prefix"
cargo cinstall -p seawall-ffi --profile dist --prefix="$prefix" --libdir="$prefix/lib"
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion seawall)" = "$version" ]
cflags=$(pkg-config --cflags seawall)
libs=$(pkg-config --libs seawall)
libdir=$(pkg-config --variable=libdir seawall)
echo "pkg-config --cflags --libs seawall: $cflags $libs"
[ -f "$prefix/include/seawall/seawall.h" ] && [ -f "$libdir/libseawall.a" ]
cmp "$prefix/include/seawall/seawall.h" include/seawall.h
cp examples/c/protect.c "$work/app.c"

echo "-- shared library"
# shellcheck disable=SC2086 # pkg-config prints lists of words
cc -std=c11 -Wall -Werror "$work/app.c" $cflags $libs -Wl,-rpath,"$libdir" -o "$work/app"
ldd "$work/app" >"$work/app.ldd"
grep -q "$libdir/libseawall.so" "$work/app.ldd"
"$work/app" | tail -n 3

echo "-- static library"
# The archive itself, then the system libraries it needs (Libs.private), as
# ffi-c/README.md says.
static_libs=$(pkg-config --libs-only-l --static seawall | sed 's/-lseawall //')
# shellcheck disable=SC2086
cc -std=c11 -Wall -Werror "$work/app.c" $cflags "$libdir/libseawall.a" $static_libs -o "$work/app-static"
ldd "$work/app-static" >"$work/app-static.ldd"
if grep -q seawall "$work/app-static.ldd"; then
    echo "app-static links the shared library" >&2
    exit 1
fi
"$work/app-static" | tail -n 3

echo "install: every README step passed (Rust, pip, wheel, C shared and static)"
