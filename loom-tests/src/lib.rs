//! Loom models live in `tests/`; run them with `RUSTFLAGS="--cfg seawall_loom"`.
