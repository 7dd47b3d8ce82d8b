//! Seawall's rate limiter against `governor`, and the bulkhead's fast path,
//! in the same run.
//!
//! * `rate_limiter_allowed`: one `check()` that is admitted (a limit of
//!   10^9 per second, so every call conforms and takes the compare-and-swap
//!   path). Ours on the production clock and on the manual clock (the
//!   decision without the clock read); governor's direct limiter on its
//!   default (quanta) clock. Then the pair that decides on a 1 ms "recent"
//!   time: ours with `Timing::Recent`, governor with `QuantaUpkeepClock`.
//! * `rate_limiter_denied`: one `check()` refused by an exhausted limiter
//!   (one per hour).
//! * `rate_limiter_two_threads`: two threads hammer one shared limiter on
//!   the admitted path. `wall` is the wall time from the first thread's
//!   start to the last one's finish / calls (ideal scaling halves the
//!   one-thread figure); `busy` is the sum of both threads' spans / calls,
//!   the cost of one call as each thread sees it (ideal: the one-thread
//!   figure).
//! * `rate_limiter_denied_two_threads`: the same on the refused path: two
//!   threads hammer one shared exhausted limiter (one per hour). A refusal
//!   changes no shared word, so ideal scaling is as above; what it does
//!   write (its count) shows here as contention.
//! * `clock_read`: one exact reading of each side's production clock, the
//!   part of `check()` that is not the limiter's own.
//! * `bulkhead`: take a slot and free it, uncontended.
//! * `concurrency_limit`: take a slot and free it, uncontended, in each
//!   bound on calls in flight: the fixed `Bulkhead`; the `AdaptiveLimiter`
//!   on the manual clock (the admission without the clock read it makes to
//!   time the call), on the production clock with exact timing (the
//!   default: a hardware counter read at admission) and with
//!   `Timing::Recent` (one shared load), dropping the permit (no
//!   sample); the adaptive limiter recording a 1 ms success (AIMD: the
//!   rule, which leaves the limit alone here, one call in flight of 20, so
//!   no compare-and-swap of the estimate; gradient: the window word's
//!   compare-and-swap, and the estimate's when a window closes: here every
//!   65,535th call, the window's cap, as the manual clock stands still);
//!   tower's `ConcurrencyLimit` (`poll_ready`, `call`, and the response
//!   polled to completion, which frees its semaphore permit) around a
//!   service that answers at once.
//! * `throttler`: the adaptive throttler's `check` and `record` of an
//!   admitted call on a healthy backend (no draw), on the production and
//!   the manual clock; and a `check` refused locally (a backend that
//!   refuses everything, every draw refusing).
//! * `fault_injection`: a trivial call with no strategy, the same call
//!   behind a switched-off injector (the goal: within 1 ns), and behind an
//!   enabled one that draws and injects nothing (rates 0).
//!
//! After the benches the binary prints every median of this run and the
//! ratios ours/governor. The machine may be shared: compare ratios within
//! one run, not figures across runs.
//!
//! Run with `cargo bench -p seawall-benches --bench limits`.

use std::hint::black_box;
use std::num::NonZeroU32;
use std::path::Path;
use std::time::{Duration, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};
use governor::clock::QuantaUpkeepClock;
use seawall::{
    AdaptiveLimiter, AdaptiveLimiterConfig, AdaptiveThrottler, Bulkhead, BulkheadConfig, Fault,
    FaultConfig, FaultInjector, KeyedRateLimiter, LimitAlgorithm, ManualClock, Outcome, Priority,
    Random, RateLimitConfig, RateLimiter, ThrottleConfig, Timing,
};
use seawall_benches::{criterion_dir, fmt_median, fmt_ratio, median, on_two_threads};

type Governor = governor::DefaultDirectRateLimiter;

/// governor's clock that reads quanta's 1 ms "recent" time, the peer of our
/// `Timing::Recent` (ours refreshes its own recent time every millisecond).
fn upkeep_clock() -> QuantaUpkeepClock {
    QuantaUpkeepClock::from_interval(Duration::from_millis(1)).expect("quanta upkeep thread")
}

fn recent(config: RateLimitConfig) -> RateLimitConfig {
    RateLimitConfig {
        timing: Timing::Recent,
        ..config
    }
}

fn per_second(n: u32) -> (RateLimitConfig, governor::Quota) {
    let config = RateLimitConfig {
        rate: n,
        period: Duration::from_secs(1),
        burst: n,
        ..Default::default()
    };
    let nz = NonZeroU32::new(n).expect("non-zero rate");
    (config, governor::Quota::per_second(nz))
}

/// One call per hour, bursts of one.
fn per_hour() -> (RateLimitConfig, governor::Quota) {
    let config = RateLimitConfig {
        rate: 1,
        period: Duration::from_secs(3600),
        burst: 1,
        ..Default::default()
    };
    (config, governor::Quota::per_hour(NonZeroU32::MIN))
}

fn allowed(c: &mut Criterion, upkeep: &QuantaUpkeepClock) {
    let mut g = c.benchmark_group("rate_limiter_allowed");
    let (config, quota) = per_second(1_000_000_000);
    let ours = RateLimiter::new(config).expect("valid config");
    g.bench_function("seawall", |x| {
        x.iter(|| black_box(black_box(&ours).check().is_ok()))
    });
    let manual = RateLimiter::with_clock(config, ManualClock::new()).expect("valid config");
    // On a clock that never moves, only the burst (10^9) is admitted: enough
    // for any measurement window here.
    g.bench_function("seawall_manual_clock", |x| {
        x.iter(|| black_box(black_box(&manual).check().is_ok()))
    });
    let gov = Governor::direct(quota);
    g.bench_function("governor", |x| {
        x.iter(|| black_box(black_box(&gov).check().is_ok()))
    });
    let ours = RateLimiter::new(recent(config)).expect("valid config");
    g.bench_function("seawall_recent", |x| {
        x.iter(|| black_box(black_box(&ours).check().is_ok()))
    });
    let gov = governor::RateLimiter::direct_with_clock(quota, upkeep.clone());
    g.bench_function("governor_upkeep", |x| {
        x.iter(|| black_box(black_box(&gov).check().is_ok()))
    });
    // Per key: one key admitted again and again (its slot, or its map entry).
    let keyed: KeyedRateLimiter<str> = KeyedRateLimiter::new(config, 4096).expect("valid config");
    g.bench_function("seawall_keyed", |x| {
        x.iter(|| black_box(black_box(&keyed).check_key("tenant-42").is_ok()))
    });
    let gov_keyed = governor::RateLimiter::keyed(quota);
    g.bench_function("governor_keyed", |x| {
        x.iter(|| black_box(black_box(&gov_keyed).check_key(&"tenant-42").is_ok()))
    });
    g.finish();
}

fn denied(c: &mut Criterion, upkeep: &QuantaUpkeepClock) {
    let mut g = c.benchmark_group("rate_limiter_denied");
    let (config, quota) = per_hour();
    let ours = RateLimiter::new(config).expect("valid config");
    assert!(ours.check().is_ok() && ours.check().is_err());
    g.bench_function("seawall", |x| {
        x.iter(|| black_box(black_box(&ours).check().is_err()))
    });
    let gov = Governor::direct(quota);
    assert!(gov.check().is_ok() && gov.check().is_err());
    g.bench_function("governor", |x| {
        x.iter(|| black_box(black_box(&gov).check().is_err()))
    });
    let ours = RateLimiter::new(recent(config)).expect("valid config");
    assert!(ours.check().is_ok() && ours.check().is_err());
    g.bench_function("seawall_recent", |x| {
        x.iter(|| black_box(black_box(&ours).check().is_err()))
    });
    let gov = governor::RateLimiter::direct_with_clock(quota, upkeep.clone());
    assert!(gov.check().is_ok() && gov.check().is_err());
    g.bench_function("governor_upkeep", |x| {
        x.iter(|| black_box(black_box(&gov).check().is_err()))
    });
    g.finish();
}

fn two_threads_of(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: impl Fn() + Sync) {
    g.bench_function(format!("{name}_wall"), |x| {
        x.iter_custom(|n| on_two_threads(n, false, &call).0)
    });
    g.bench_function(format!("{name}_busy"), |x| {
        x.iter_custom(|n| on_two_threads(n, false, &call).1)
    });
}

fn two_threads(c: &mut Criterion, upkeep: &QuantaUpkeepClock) {
    let mut g = c.benchmark_group("rate_limiter_two_threads");
    let (config, quota) = per_second(1_000_000_000);
    let ours = RateLimiter::new(config).expect("valid config");
    two_threads_of(&mut g, "seawall", || {
        black_box(black_box(&ours).check().is_ok());
    });
    let gov = Governor::direct(quota);
    two_threads_of(&mut g, "governor", || {
        black_box(black_box(&gov).check().is_ok());
    });
    let ours = RateLimiter::new(recent(config)).expect("valid config");
    two_threads_of(&mut g, "seawall_recent", || {
        black_box(black_box(&ours).check().is_ok());
    });
    let gov = governor::RateLimiter::direct_with_clock(quota, upkeep.clone());
    two_threads_of(&mut g, "governor_upkeep", || {
        black_box(black_box(&gov).check().is_ok());
    });
    g.finish();
}

fn denied_two_threads(c: &mut Criterion, upkeep: &QuantaUpkeepClock) {
    let mut g = c.benchmark_group("rate_limiter_denied_two_threads");
    let (config, quota) = per_hour();
    let ours = RateLimiter::new(config).expect("valid config");
    assert!(ours.check().is_ok() && ours.check().is_err());
    two_threads_of(&mut g, "seawall", || {
        black_box(black_box(&ours).check().is_err());
    });
    let gov = Governor::direct(quota);
    assert!(gov.check().is_ok() && gov.check().is_err());
    two_threads_of(&mut g, "governor", || {
        black_box(black_box(&gov).check().is_err());
    });
    let ours = RateLimiter::new(recent(config)).expect("valid config");
    assert!(ours.check().is_ok() && ours.check().is_err());
    two_threads_of(&mut g, "seawall_recent", || {
        black_box(black_box(&ours).check().is_err());
    });
    let gov = governor::RateLimiter::direct_with_clock(quota, upkeep.clone());
    assert!(gov.check().is_ok() && gov.check().is_err());
    two_threads_of(&mut g, "governor_upkeep", || {
        black_box(black_box(&gov).check().is_err());
    });
    g.finish();
}

/// What one exact clock reading costs each limiter: our `QuantaClock::now`
/// and governor's default clock.
fn clock_read(c: &mut Criterion) {
    use governor::clock::Clock as _;
    use seawall::Clock as _;
    let mut g = c.benchmark_group("clock_read");
    g.bench_function("seawall", |x| {
        x.iter(|| black_box(black_box(&seawall::QuantaClock).now()))
    });
    let gov = governor::clock::QuantaClock::default();
    g.bench_function("governor", |x| x.iter(|| black_box(black_box(&gov).now())));
    g.finish();
}

fn bulkhead(c: &mut Criterion) {
    let mut g = c.benchmark_group("bulkhead");
    let b = Bulkhead::new(BulkheadConfig::default()).expect("valid config");
    g.bench_function("acquire_release", |x| {
        x.iter(|| drop(black_box(black_box(&b).try_acquire())))
    });
    g.finish();
}

/// Always draws 0: every call with a positive probability is refused.
struct Zero;
impl Random for Zero {
    fn unit(&self) -> f64 {
        0.0
    }
}

fn throttler(c: &mut Criterion) {
    let mut g = c.benchmark_group("throttler");
    let t = AdaptiveThrottler::new(ThrottleConfig::default()).expect("valid config");
    g.bench_function("check_record", |x| {
        x.iter(|| {
            if let Ok(permit) = black_box(&t).check(Priority::Normal) {
                permit.record(true);
            }
        })
    });
    let manual = AdaptiveThrottler::with_clock(ThrottleConfig::default(), ManualClock::new())
        .expect("valid config");
    g.bench_function("check_record_manual_clock", |x| {
        x.iter(|| {
            if let Ok(permit) = black_box(&manual).check(Priority::Normal) {
                permit.record(true);
            }
        })
    });
    let refusing = AdaptiveThrottler::with_clock_and_random(
        ThrottleConfig::default(),
        ManualClock::new(),
        Zero,
    )
    .expect("valid config");
    refusing.record(false);
    g.bench_function("check_refused_manual_clock", |x| {
        x.iter(|| black_box(black_box(&refusing).check(Priority::Normal).is_err()))
    });
    g.finish();
}

/// The call every `fault_injection` bench makes: cheap, not optimised away.
#[inline(never)]
fn work(x: u64) -> u64 {
    x.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(7)
}

fn behind(injector: &FaultInjector, x: u64) -> u64 {
    match injector.decide() {
        Fault::None => work(x),
        _ => 0,
    }
}

fn fault_injection(c: &mut Criterion) {
    let mut g = c.benchmark_group("fault_injection");
    g.bench_function("no_strategy", |x| x.iter(|| black_box(work(black_box(1)))));
    let off = FaultInjector::new(FaultConfig {
        error_rate: 0.5,
        ..Default::default()
    })
    .expect("valid config");
    g.bench_function("off", |x| {
        x.iter(|| black_box(behind(black_box(&off), black_box(1))))
    });
    let on = FaultInjector::new(FaultConfig {
        enabled: true,
        ..Default::default()
    })
    .expect("valid config");
    g.bench_function("on_injecting_nothing", |x| {
        x.iter(|| black_box(behind(black_box(&on), black_box(1))))
    });
    g.finish();
}

/// One call through tower's `ConcurrencyLimit`: ready (takes a semaphore
/// permit), call, and the response polled to completion (frees it). The
/// inner service is ready at once and answers at once, so the noop waker is
/// never woken.
fn tower_limited_call<S>(svc: &mut S)
where
    S: tower::Service<(), Response = (), Error = std::convert::Infallible>,
{
    use std::future::Future as _;
    use std::task::{Context, Poll, Waker};
    let mut cx = Context::from_waker(Waker::noop());
    assert!(matches!(svc.poll_ready(&mut cx), Poll::Ready(Ok(()))));
    let mut fut = std::pin::pin!(svc.call(()));
    assert!(matches!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(()))));
}

fn concurrency_limit(c: &mut Criterion) {
    let mut g = c.benchmark_group("concurrency_limit");
    let b = Bulkhead::new(BulkheadConfig::default()).expect("valid config");
    g.bench_function("bulkhead", |x| {
        x.iter(|| drop(black_box(black_box(&b).try_acquire())))
    });
    let config = AdaptiveLimiterConfig::default();
    let manual = AdaptiveLimiter::with_clock(config, ManualClock::new()).expect("valid config");
    g.bench_function("adaptive_manual_clock", |x| {
        x.iter(|| drop(black_box(black_box(&manual).try_acquire())))
    });
    let adaptive = AdaptiveLimiter::new(config).expect("valid config");
    g.bench_function("adaptive", |x| {
        x.iter(|| drop(black_box(black_box(&adaptive).try_acquire())))
    });
    let recent = AdaptiveLimiter::new(AdaptiveLimiterConfig {
        timing: Timing::Recent,
        ..config
    })
    .expect("valid config");
    g.bench_function("adaptive_recent", |x| {
        x.iter(|| drop(black_box(black_box(&recent).try_acquire())))
    });
    let latency = Duration::from_millis(1);
    for (id, algorithm) in [
        ("adaptive_aimd_sample", LimitAlgorithm::Aimd),
        ("adaptive_gradient_sample", LimitAlgorithm::Gradient),
    ] {
        let l = AdaptiveLimiter::with_clock(
            AdaptiveLimiterConfig {
                algorithm,
                ..config
            },
            ManualClock::new(),
        )
        .expect("valid config");
        g.bench_function(id, |x| {
            x.iter(|| {
                if let Ok(p) = black_box(&l).try_acquire() {
                    p.record(Outcome::Success, latency);
                }
            })
        });
    }
    let mut svc = tower::limit::ConcurrencyLimit::new(
        tower::service_fn(|()| std::future::ready(Ok::<(), std::convert::Infallible>(()))),
        10,
    );
    g.bench_function("tower", |x| {
        x.iter(|| tower_limited_call(black_box(&mut svc)))
    });
    g.finish();
}

fn report(dir: &Path, since: SystemTime) {
    let m = |g: &str, id: &str| median(dir, since, g, id);
    let (fmt, ratio) = (fmt_median, fmt_ratio);
    println!("\n== medians (ns per call, wall clock) and ratios, this run ==");
    let pairs = [
        ("seawall", "governor"),
        ("seawall_recent", "governor_upkeep"),
    ];
    for group in ["rate_limiter_allowed", "rate_limiter_denied"] {
        println!("{group}:");
        if group == "rate_limiter_allowed" {
            println!(
                "  {:<22}{:>8}",
                "seawall_manual_clock",
                fmt(m(group, "seawall_manual_clock"))
            );
        }
        for (ours, peer) in pairs {
            let (a, b) = (m(group, ours), m(group, peer));
            println!("  {ours:<22}{:>8}", fmt(a));
            println!("  {peer:<22}{:>8}  {ours}/{peer} = {}", fmt(b), ratio(a, b));
        }
    }
    for (g, one_group, path) in [
        (
            "rate_limiter_two_threads",
            "rate_limiter_allowed",
            "admitted",
        ),
        (
            "rate_limiter_denied_two_threads",
            "rate_limiter_denied",
            "refused",
        ),
    ] {
        println!("{g} ({path} path, one shared limiter):");
        for (ours, peer) in pairs {
            for name in [ours, peer] {
                let one = m(one_group, name);
                let wall = m(g, &format!("{name}_wall"));
                let busy = m(g, &format!("{name}_busy"));
                println!(
                    "  {name:<16} wall/calls {:>8}  busy/calls {:>8} ({}x one thread)",
                    fmt(wall),
                    fmt(busy),
                    ratio(busy, one)
                );
            }
            println!(
                "  {ours}/{peer}: wall {}  busy {}",
                ratio(m(g, &format!("{ours}_wall")), m(g, &format!("{peer}_wall"))),
                ratio(m(g, &format!("{ours}_busy")), m(g, &format!("{peer}_busy")))
            );
        }
    }
    println!(
        "clock_read (exact): seawall {}  governor {}  seawall/governor = {}",
        fmt(m("clock_read", "seawall")),
        fmt(m("clock_read", "governor")),
        ratio(m("clock_read", "seawall"), m("clock_read", "governor"))
    );
    println!(
        "bulkhead acquire+release, uncontended: {} ns",
        fmt(m("bulkhead", "acquire_release"))
    );
    println!(
        "throttler check+record: {} ns (manual clock {} ns); refused check: {} ns",
        fmt(m("throttler", "check_record")),
        fmt(m("throttler", "check_record_manual_clock")),
        fmt(m("throttler", "check_refused_manual_clock"))
    );
    let none = m("fault_injection", "no_strategy");
    let off = m("fault_injection", "off");
    println!(
        "fault_injection: no strategy {} ns, off {} ns (off - none = {:.2} ns), on {} ns",
        fmt(none),
        fmt(off),
        off.zip(none).map_or(f64::NAN, |(a, b)| a - b),
        fmt(m("fault_injection", "on_injecting_nothing"))
    );
    let g = "concurrency_limit";
    let fixed = m(g, "bulkhead");
    println!("{g} (acquire+release, uncontended; ratio to the fixed bulkhead):");
    for id in [
        "bulkhead",
        "adaptive_manual_clock",
        "adaptive",
        "adaptive_recent",
        "adaptive_aimd_sample",
        "adaptive_gradient_sample",
        "tower",
    ] {
        let v = m(g, id);
        println!("  {id:<26}{:>8}  {}", fmt(v), ratio(v, fixed));
    }
}

fn main() {
    let dir = criterion_dir().join("limits");
    let since = SystemTime::now();
    // Short windows keep the run near a minute on a shared machine;
    // `--measurement-time` and `--warm-up-time` override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&dir)
        .configure_from_args();
    let upkeep = upkeep_clock();
    allowed(&mut c, &upkeep);
    denied(&mut c, &upkeep);
    two_threads(&mut c, &upkeep);
    denied_two_threads(&mut c, &upkeep);
    clock_read(&mut c);
    bulkhead(&mut c);
    throttler(&mut c);
    fault_injection(&mut c);
    concurrency_limit(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        report(&dir, since);
    }
}
