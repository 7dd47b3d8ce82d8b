//! Runs `N` calls through one breaker on a chosen path, for instruction
//! counting under callgrind (`scripts/callgrind.sh`).
//!
//! Usage: `hot_path <closed|rejected|failsafe|recloser> <N>`.
//!
//! * `closed`: `try_acquire()` + `success()` on a default breaker on the
//!   production clock (consecutive policy, counters on).
//! * `rejected`: `try_acquire()` on a tripped breaker (60 s open time) on the
//!   production clock; the `recent` refresher is warmed up first.
//! * `failsafe`, `recloser`: the peers' closed success paths, for comparison.
//!
//! The calls run inside the `#[inline(never)]` functions named `run_*`, so
//! callgrind can count them alone with `--toggle-collect`.

use std::hint::black_box;
use std::time::Duration;

use seawall::{Breaker, BreakerConfig, Clock, QuantaClock};

#[inline(never)]
fn run_closed(b: &Breaker, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if let Ok(p) = black_box(b).try_acquire() {
            p.success();
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_rejected(b: &Breaker, n: u64) -> u64 {
    let mut rejected = 0;
    for _ in 0..n {
        if black_box(b).try_acquire().is_err() {
            rejected += 1;
        }
    }
    rejected
}

#[inline(never)]
fn run_failsafe(b: &impl failsafe::CircuitBreaker, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if black_box(b).call(|| Ok::<(), ()>(())).is_ok() {
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_recloser(b: &recloser::Recloser, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if black_box(b).call(|| Ok::<(), ()>(())).is_ok() {
            ok += 1;
        }
    }
    ok
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "closed".into());
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("N must be a whole number"))
        .unwrap_or(1_000_000);
    let done = match mode.as_str() {
        "closed" => {
            let b = Breaker::new("hot", BreakerConfig::default()).expect("valid config");
            run_closed(&b, n)
        }
        "rejected" => {
            let b = Breaker::new("hot", BreakerConfig::default()).expect("valid config");
            while b.try_acquire().map(|p| p.failure()).is_ok() {}
            // Start the refresher thread behind `Clock::recent` and let it
            // publish, so the counted calls take the steady path.
            QuantaClock.recent();
            std::thread::sleep(Duration::from_millis(20));
            run_rejected(&b, n)
        }
        "failsafe" => {
            let policy = failsafe::failure_policy::consecutive_failures(
                5,
                failsafe::backoff::constant(Duration::from_secs(60)),
            );
            let b = failsafe::Config::new().failure_policy(policy).build();
            run_failsafe(&b, n)
        }
        "recloser" => {
            let b = recloser::Recloser::custom().build();
            run_recloser(&b, n)
        }
        other => panic!("unknown mode {other:?}: closed, rejected, failsafe or recloser"),
    };
    assert_eq!(done, n, "every call must take the measured path");
    println!("{mode}: {n} calls");
}
