//! Runs `N` calls through one breaker on a chosen path, for instruction
//! counting under callgrind (`scripts/callgrind.sh`).
//!
//! Usage: `hot_path <mode> <N>` (modes below). Before any mode runs, the
//! production clock's `recent` refresher is started and has published a
//! reading.
//!
//! * `closed`: `try_acquire()` + `success()` on a default breaker on the
//!   production clock (consecutive policy, counters on).
//! * `closed_shared`: `closed` on a breaker another thread has counted on
//!   first, so its counters have grown their per-thread stripes.
//! * `rejected`: `try_acquire()` on a tripped breaker (60 s open time) on the
//!   production clock.
//! * `time_window`, `count_window`: `closed` with a failure-rate rule over a
//!   60 s / 10-bucket time window or a 100-call count window.
//! * `count_window_eval`: `count_window` with every tenth call a failure,
//!   which evaluates the window (10% failed: the rule never fires).
//! * `registry`: `closed` through `Registry::with` (a look-up by name among
//!   six breakers on every call).
//! * `keyed`: `closed` through `KeyedBreaker::try_acquire` on one of 1,000
//!   live keys (`host-N.example.com:443`, cycled): hash, look-up, the
//!   breaker's call, the eviction handshake, record, count the call
//!   finished. `keyed_one`: the same with one key (every call on the same
//!   entry).
//! * `distributed`: `closed` through a `seawall_distributed::DistributedBreaker`
//!   whose fleet adds no restriction (its coordinator has no server to reach;
//!   the call path is the same as with one: no I/O either way).
//! * `failsafe`, `recloser`: the peers' closed success paths, for comparison.
//! * `bulkhead`: a default `Bulkhead`'s `try_acquire()` and the permit
//!   dropped; `adaptive`, `adaptive_manual`: the same on a default
//!   `AdaptiveLimiter` on the production clock (the admission reads it to
//!   time the call) and on the manual clock; `adaptive_recent`: on the
//!   production clock with `Timing::Recent` (the admission reads the
//!   cheap time); `adaptive_sample`: an AIMD
//!   limiter on the manual clock whose permit records a 1 ms success.
//! * `throttler`: an `AdaptiveThrottler`'s `check` + `record(true)` on the
//!   production clock (a healthy backend: no draw).
//! * `fault_off`: a switched-off `FaultInjector`'s `decide` (one relaxed
//!   load); `no_strategy`: the same loop without it, the baseline.
//!
//! The calls run inside the `#[inline(never)]` functions named `run_*`, so
//! callgrind can count them alone with `--toggle-collect`. The binary also
//! prints the loop's wall-clock and thread-CPU time per call
//! (`scripts/bench-hot.sh` repeats runs and keeps the best and the median).

use std::hint::black_box;
use std::time::{Duration, Instant};

use seawall::{
    AdaptiveLimiter, AdaptiveLimiterConfig, AdaptiveThrottler, Breaker, BreakerConfig, Bulkhead,
    BulkheadConfig, Clock, Fault, FaultConfig, FaultInjector, KeyedBreaker, LimitAlgorithm,
    ManualClock, Outcome, Priority, QuantaClock, Registry, ThrottleConfig, Timing, Window,
};
use seawall_benches::thread_cpu;

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
fn run_tenth_fails(b: &Breaker, n: u64) -> u64 {
    let mut done = 0;
    for i in 0..n {
        if let Ok(p) = black_box(b).try_acquire() {
            if i % 10 == 9 {
                p.failure();
            } else {
                p.success();
            }
            done += 1;
        }
    }
    done
}

#[inline(never)]
fn run_distributed(b: &seawall_distributed::DistributedBreaker, n: u64) -> u64 {
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
fn run_registry(r: &Registry, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        let admitted = black_box(r).with("users", |b| b.try_acquire().map(|p| p.success()));
        if let Some(Ok(())) = admitted {
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_keyed(f: &KeyedBreaker, keys: &[String], n: u64) -> u64 {
    let mut ok = 0;
    // Cycled with a compare, not `%`: a division per call would cost more
    // than some of what is measured.
    let mut j = 0;
    for _ in 0..n {
        let key = &keys[j];
        j += 1;
        if j == keys.len() {
            j = 0;
        }
        if let Ok(p) = black_box(f).try_acquire(key) {
            p.success();
            ok += 1;
        }
    }
    ok
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

#[inline(never)]
fn run_throttler(t: &AdaptiveThrottler, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if let Ok(p) = black_box(t).check(Priority::Normal) {
            p.record(true);
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_fault_off(f: &FaultInjector, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if black_box(f).decide() == Fault::None {
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_no_strategy(n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        ok += black_box(1);
    }
    ok
}

#[inline(never)]
fn run_bulkhead(b: &Bulkhead, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if black_box(b).try_acquire().is_ok() {
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_adaptive<C: Clock>(l: &AdaptiveLimiter<C>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if black_box(l).try_acquire().is_ok() {
            ok += 1;
        }
    }
    ok
}

#[inline(never)]
fn run_adaptive_sample(l: &AdaptiveLimiter<ManualClock>, n: u64) -> u64 {
    let mut ok = 0;
    for _ in 0..n {
        if let Ok(p) = black_box(l).try_acquire() {
            p.record(Outcome::Success, Duration::from_millis(1));
            ok += 1;
        }
    }
    ok
}

/// Runs `f` and returns its result with the wall and thread-CPU time taken.
fn timed(f: impl FnOnce() -> u64) -> (u64, Duration, Duration) {
    let (wall, cpu) = (Instant::now(), thread_cpu());
    let done = f();
    (done, wall.elapsed(), thread_cpu() - cpu)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "closed".into());
    let n: u64 = args
        .next()
        .map(|s| s.parse().expect("N must be a whole number"))
        .unwrap_or(1_000_000);
    // Every mode on the production clock: start the refresher thread behind
    // `Clock::recent` and let it publish its first reading, so that the
    // counted calls take the steady path. Under callgrind, whose threads run
    // one at a time, a loop started at once could run on the cold path that
    // starts the refresher, and count its instructions.
    QuantaClock.recent();
    std::thread::sleep(Duration::from_millis(20));
    let (done, wall, cpu) = match mode.as_str() {
        "closed" => {
            let b = Breaker::new("hot", BreakerConfig::default()).expect("valid config");
            timed(|| run_closed(&b, n))
        }
        "closed_shared" => {
            // A breaker another thread has counted on: its counters have
            // grown their padded per-thread stripes (the path every thread
            // of a breaker shared by several threads takes).
            // This thread counts first (a thread that counted first and
            // exited would hand its stripe number, and with it the inline
            // stripe, to the next thread that claims one).
            let b = Breaker::new("hot", BreakerConfig::default()).expect("valid config");
            b.try_acquire().map(|p| p.success()).expect("closed");
            std::thread::scope(|s| {
                s.spawn(|| b.try_acquire().map(|p| p.success()));
            });
            assert!(b.memory_bytes() > std::mem::size_of::<Breaker>());
            timed(|| run_closed(&b, n))
        }
        "time_window" | "count_window" | "count_window_eval" => {
            let window = if mode == "time_window" {
                Window::Time {
                    length: Duration::from_secs(60),
                    buckets: 10,
                }
            } else {
                Window::Count { size: 100 }
            };
            let config = BreakerConfig {
                window,
                failure_rate_threshold: Some(0.5),
                minimum_calls: 100,
                ..Default::default()
            };
            let b = Breaker::new("hot", config).expect("valid config");
            if mode == "count_window_eval" {
                timed(|| run_tenth_fails(&b, n))
            } else {
                timed(|| run_closed(&b, n))
            }
        }
        "rejected" => {
            let b = Breaker::new("hot", BreakerConfig::default()).expect("valid config");
            while b.try_acquire().map(|p| p.failure()).is_ok() {}
            timed(|| run_rejected(&b, n))
        }
        "throttler" => {
            let t = AdaptiveThrottler::new(ThrottleConfig::default()).expect("valid config");
            timed(|| run_throttler(&t, n))
        }
        "fault_off" => {
            let f = FaultInjector::new(FaultConfig {
                error_rate: 0.5,
                ..Default::default()
            })
            .expect("valid config");
            timed(|| run_fault_off(&f, n))
        }
        "no_strategy" => timed(|| run_no_strategy(n)),
        "registry" => {
            let r = Registry::new();
            for name in ["auth", "billing", "orders", "search", "users", "zones"] {
                r.get_or_create(name, &BreakerConfig::default())
                    .expect("valid config");
            }
            timed(|| run_registry(&r, n))
        }
        "keyed" | "keyed_one" => {
            let count = if mode == "keyed" { 1000 } else { 1 };
            let keys: Vec<String> = (0..count)
                .map(|i| format!("host-{i}.example.com:443"))
                .collect();
            let f = KeyedBreaker::new("http:", BreakerConfig::default(), 2000, Duration::from_secs(60))
                .expect("valid settings");
            for k in &keys {
                f.try_acquire(k).expect("room for every key").success();
            }
            timed(|| run_keyed(&f, &keys, n))
        }
        "distributed" => {
            use seawall_distributed::{
                Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig,
            };
            // Port 9 (discard) on loopback: nothing listens, the coordinator
            // stays degraded and the fleet restricts nothing.
            let c = Coordinator::connect("redis://127.0.0.1:9/", CoordinatorConfig::default())
                .expect("a valid URL");
            let b = DistributedBreaker::new(
                "hot",
                BreakerConfig::default(),
                FleetConfig::default(),
                &c,
            )
            .expect("valid config");
            timed(|| run_distributed(&b, n))
        }
        "failsafe" => {
            let policy = failsafe::failure_policy::consecutive_failures(
                5,
                failsafe::backoff::constant(Duration::from_secs(60)),
            );
            let b = failsafe::Config::new().failure_policy(policy).build();
            timed(|| run_failsafe(&b, n))
        }
        "recloser" => {
            let b = recloser::Recloser::custom().build();
            timed(|| run_recloser(&b, n))
        }
        "bulkhead" => {
            let b = Bulkhead::new(BulkheadConfig::default()).expect("valid config");
            timed(|| run_bulkhead(&b, n))
        }
        "adaptive" | "adaptive_recent" => {
            let timing = if mode == "adaptive" {
                Timing::Exact
            } else {
                Timing::Recent
            };
            let config = AdaptiveLimiterConfig {
                timing,
                ..Default::default()
            };
            let l = AdaptiveLimiter::new(config).expect("valid config");
            timed(|| run_adaptive(&l, n))
        }
        "adaptive_manual" | "adaptive_sample" => {
            let config = AdaptiveLimiterConfig {
                algorithm: LimitAlgorithm::Aimd,
                ..Default::default()
            };
            let l = AdaptiveLimiter::with_clock(config, ManualClock::new()).expect("valid config");
            if mode == "adaptive_sample" {
                timed(|| run_adaptive_sample(&l, n))
            } else {
                timed(|| run_adaptive(&l, n))
            }
        }
        other => panic!(
            "unknown mode {other:?}: closed, closed_shared, rejected, time_window, count_window, count_window_eval, registry, keyed, keyed_one, distributed, throttler, fault_off, no_strategy, bulkhead, adaptive, adaptive_recent, adaptive_manual, adaptive_sample, failsafe or recloser"
        ),
    };
    assert_eq!(done, n, "every call must take the measured path");
    let per = |d: Duration| d.as_secs_f64() * 1e9 / n.max(1) as f64;
    println!(
        "{mode}: {n} calls, {:.3} ns/call wall, {:.3} ns/call thread CPU",
        per(wall),
        per(cpu)
    );
}
