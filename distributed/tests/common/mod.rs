//! What the integration tests share (each test binary uses part of it):
//! the `redis-server` the unit tests start too, the wall clock the worker
//! processes and Redis share, and percentiles.

#![allow(dead_code)]

#[path = "../../src/tests/server.rs"]
pub mod server;

use std::time::{SystemTime, UNIX_EPOCH};

/// Wall-clock microseconds since the Unix epoch: one clock for the test,
/// its worker processes and Redis `TIME` on one host.
pub fn micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_micros() as u64
}

/// Percentile `p` (0..=100) of `v`, sorted in place.
pub fn percentile(v: &mut [u64], p: usize) -> u64 {
    v.sort_unstable();
    v.get((v.len() * p / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0)
}
