//! Seawall against its peers `failsafe` and `recloser`, in the same run.
//!
//! * `closed_success`: take permission and report a success on a CLOSED
//!   breaker, one thread. Ours on the production clock (the default) and on
//!   the manual clock; counters are always on in ours, the peers run with no
//!   instrumentation.
//! * `rejected_open`: one call refused by an OPEN breaker whose open time
//!   (60 s) has not passed.
//! * `two_threads`: two threads hammer one shared breaker on the closed
//!   success path. One iteration is one call; `wall` reports wall time /
//!   calls across both threads (ideal scaling halves the one-thread figure),
//!   `cpu` reports the sum of both threads' busy time / calls (ideal scaling
//!   equals the one-thread figure).
//!
//! After the benches the binary prints every median it measured in this run
//! and the ratios ours/peer, then the bytes each breaker occupies
//! (`size_of` plus the heap it allocates, counted by a global allocator).
//!
//! Run with `cargo bench -p seawall-benches --bench breaker`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant, SystemTime};

use criterion::{BenchmarkGroup, Criterion};
use criterion::measurement::WallTime;
use seawall::{Breaker, BreakerConfig, Clock, ManualClock, QuantaClock, State};

// ---------------------------------------------------------------------------
// Heap accounting, for the bytes-per-breaker report.

/// Counts live heap bytes. Relaxed: a plain running total, read only by the
/// thread that allocated (the size report runs single-threaded).
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged; the counter has no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size as isize - layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// `size_of::<T>()` and the heap bytes still owned after building one `T`
/// (the second one built, so one-time process set-up is not charged).
fn footprint<T>(make: impl Fn() -> T) -> (usize, isize) {
    drop(make());
    let before = LIVE.load(Ordering::Relaxed);
    let value = make();
    let heap = LIVE.load(Ordering::Relaxed) - before;
    drop(value);
    (std::mem::size_of::<T>(), heap)
}

// ---------------------------------------------------------------------------
// The breakers under test.

const OPEN_TIME: Duration = Duration::from_secs(60);

fn ours() -> Breaker {
    Breaker::new("bench", BreakerConfig::default()).expect("default config is valid")
}

fn ours_manual() -> Breaker<ManualClock> {
    Breaker::with_clock("bench", BreakerConfig::default(), ManualClock::new())
        .expect("default config is valid")
}

type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

/// failsafe's consecutive-failures breaker, tripping at 5 like ours.
fn failsafe_breaker() -> Failsafe {
    let policy = failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(OPEN_TIME));
    failsafe::Config::new().failure_policy(policy).build()
}

/// recloser's breaker with its defaults (ring buffer of 100 calls, 50 %
/// error rate), the closest it has to a default policy.
fn recloser_breaker() -> recloser::Recloser {
    recloser::Recloser::custom().open_wait(OPEN_TIME).build()
}

fn ok() -> Result<(), ()> {
    black_box(Ok(()))
}

fn err() -> Result<(), ()> {
    black_box(Err(()))
}

#[inline]
fn ours_call<C: Clock>(b: &Breaker<C>) {
    if let Ok(p) = b.try_acquire() {
        p.success();
    }
}

#[inline]
fn failsafe_call(b: &Failsafe) {
    if b.is_call_permitted() {
        b.on_success();
    }
}

#[inline]
fn recloser_call(b: &recloser::Recloser) {
    let _ = black_box(b.call(ok));
}

// ---------------------------------------------------------------------------
// Benches.

fn closed_success(c: &mut Criterion) {
    let mut g = c.benchmark_group("closed_success");
    let b = ours();
    g.bench_function("seawall", |x| x.iter(|| ours_call(black_box(&b))));
    let b = ours_manual();
    g.bench_function("seawall_manual_clock", |x| x.iter(|| ours_call(black_box(&b))));
    let b = failsafe_breaker();
    g.bench_function("failsafe", |x| x.iter(|| failsafe_call(black_box(&b))));
    let b = recloser_breaker();
    g.bench_function("recloser", |x| x.iter(|| recloser_call(black_box(&b))));
    g.finish();
}

fn rejected_open(c: &mut Criterion) {
    let mut g = c.benchmark_group("rejected_open");

    let b = ours();
    while let Ok(p) = b.try_acquire() {
        p.failure();
    }
    assert_eq!(b.state(), State::Open);
    // Start `QuantaClock::recent`'s refresher and let it publish, so the
    // measured rejections take the steady path.
    QuantaClock.recent();
    std::thread::sleep(Duration::from_millis(20));
    g.bench_function("seawall", |x| x.iter(|| black_box(black_box(&b).try_acquire().is_err())));

    let b = ours_manual();
    while let Ok(p) = b.try_acquire() {
        p.failure();
    }
    g.bench_function("seawall_manual_clock", |x| {
        x.iter(|| black_box(black_box(&b).try_acquire().is_err()))
    });

    let b = failsafe_breaker();
    while b.is_call_permitted() {
        b.on_error();
    }
    g.bench_function("failsafe", |x| x.iter(|| black_box(!black_box(&b).is_call_permitted())));

    let b = recloser_breaker();
    while !matches!(b.call(err), Err(recloser::Error::Rejected)) {}
    g.bench_function("recloser", |x| {
        x.iter(|| black_box(matches!(black_box(&b).call(ok), Err(recloser::Error::Rejected))))
    });
    g.finish();
}

/// Runs `iters` calls split over two threads released together by a
/// barrier. Returns (wall time from the first start to the last finish, sum
/// of both threads' busy time).
fn on_two_threads(iters: u64, call: &(impl Fn() + Sync)) -> (Duration, Duration) {
    let barrier = Barrier::new(2);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = [iters - iters / 2, iters / 2]
            .into_iter()
            .map(|n| {
                let barrier = &barrier;
                s.spawn(move || {
                    // One call before the barrier: thread set-up (such as the
                    // counter stripe a new thread claims) is not timed.
                    call();
                    barrier.wait();
                    let start = Instant::now();
                    for _ in 0..n {
                        call();
                    }
                    (start, Instant::now())
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("bench thread panicked")).collect()
    });
    let first = spans.iter().map(|s| s.0).min().expect("two spans");
    let last = spans.iter().map(|s| s.1).max().expect("two spans");
    let busy = spans.iter().map(|s| s.1 - s.0).sum();
    (last - first, busy)
}

fn two_threads_of(g: &mut BenchmarkGroup<'_, WallTime>, name: &str, call: impl Fn() + Sync) {
    g.bench_function(format!("{name}_one_thread"), |x| x.iter(&call));
    g.bench_function(format!("{name}_two_threads_wall"), |x| {
        x.iter_custom(|iters| on_two_threads(iters, &call).0)
    });
    g.bench_function(format!("{name}_two_threads_cpu"), |x| {
        x.iter_custom(|iters| on_two_threads(iters, &call).1)
    });
}

fn two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("two_threads");
    let b = ours();
    two_threads_of(&mut g, "seawall", || ours_call(black_box(&b)));
    let b = recloser_breaker();
    two_threads_of(&mut g, "recloser", || recloser_call(black_box(&b)));
    let b = failsafe_breaker();
    two_threads_of(&mut g, "failsafe", || failsafe_call(black_box(&b)));
    g.finish();
}

// ---------------------------------------------------------------------------
// The report.

/// Where criterion writes its estimates; set explicitly so the report can
/// read them back.
fn output_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(d) => PathBuf::from(d),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")))
            .join("criterion"),
    }
}

/// The median (ns per iteration) criterion estimated for `group/id`, if that
/// bench ran in this process (estimates older than `since` are ignored).
fn median(dir: &std::path::Path, since: SystemTime, group: &str, id: &str) -> Option<f64> {
    let path = dir.join(group).join(id).join("new").join("estimates.json");
    let meta = std::fs::metadata(&path).ok()?;
    if meta.modified().ok()? < since {
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

fn report(dir: &std::path::Path, since: SystemTime) {
    let m = |g: &str, id: &str| median(dir, since, g, id);
    let fmt = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"));
    let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!("{:.3}", a / b),
        _ => "-".to_string(),
    };

    println!("\n== medians (ns per call) and ratios, this run ==");
    for group in ["closed_success", "rejected_open"] {
        println!("{group}:");
        let ours = m(group, "seawall");
        for id in ["seawall", "seawall_manual_clock", "failsafe", "recloser"] {
            let v = m(group, id);
            let r = if id.starts_with("seawall") { String::new() } else {
                format!("  seawall/{id} = {}", ratio(ours, v))
            };
            println!("  {id:<24}{:>10}{r}", fmt(v));
        }
    }
    println!("two_threads (closed success path, one shared breaker):");
    for name in ["seawall", "recloser", "failsafe"] {
        let one = m("two_threads", &format!("{name}_one_thread"));
        let wall = m("two_threads", &format!("{name}_two_threads_wall"));
        let cpu = m("two_threads", &format!("{name}_two_threads_cpu"));
        println!(
            "  {name:<10} one thread {:>8}  two threads: wall/calls {:>8} ({}x one)  busy/calls {:>8} ({}x one)",
            fmt(one),
            fmt(wall),
            ratio(wall, one),
            fmt(cpu),
            ratio(cpu, one)
        );
    }
}

fn bytes_report() {
    println!("\n== bytes per breaker (size_of + heap owned after construction) ==");
    let rows = [
        ("seawall Breaker<QuantaClock>", footprint(ours)),
        ("seawall Breaker<ManualClock>", footprint(ours_manual)),
        ("failsafe consecutive_failures", footprint(failsafe_breaker)),
        ("recloser (closed_len 100)", footprint(recloser_breaker)),
    ];
    for (name, (inline, heap)) in rows {
        println!("  {name:<32} size_of {inline:>5}  heap {heap:>5}  total {:>5}", inline as isize + heap);
    }
}

fn main() {
    let since = SystemTime::now();
    let dir = output_dir();
    // Short windows keep the whole run near a minute on a shared machine;
    // `--measurement-time` and `--warm-up-time` override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&dir)
        .configure_from_args();
    closed_success(&mut c);
    rejected_open(&mut c);
    two_threads(&mut c);
    c.final_summary();
    // `cargo bench -- --test` and `cargo test --benches` run each bench once
    // and write no estimates; the report then has nothing to show.
    if std::env::args().any(|a| a == "--test" || a == "--list") {
        return;
    }
    report(&dir, since);
    bytes_report();
}
