//! The committed `include/seawall.h` must be what cbindgen generates from
//! this crate with `cbindgen.toml`. Run with `SEAWALL_BLESS=1` to rewrite it.

use std::path::Path;

#[test]
fn committed_header_matches_the_generated_one() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config =
        cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).expect("cbindgen.toml parses");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut generated);
    let generated = String::from_utf8(generated).expect("header is UTF-8");

    let path = crate_dir.join("../include/seawall.h");
    if std::env::var_os("SEAWALL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write include/seawall.h");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let first = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(committed.lines().count().min(generated.lines().count()));
        panic!(
            "include/seawall.h is out of date (first difference at line {}); \
             regenerate it with `SEAWALL_BLESS=1 cargo test -p seawall-ffi --test header`",
            first + 1
        );
    }
}
