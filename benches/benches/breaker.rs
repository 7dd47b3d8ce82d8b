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
//!   equals the one-thread figure). `seawall_unshared` is a control: each
//!   thread on its own breaker, so its loss is the machine's, not sharing's.
//! * `keyed`: a closed success by key, cycling through 1,000 live keys
//!   (`host-N.example.com:443`): ours (`KeyedBreaker`: hash, look-up, the
//!   breaker's call and record, the eviction handshake, the counts; and
//!   `seawall_keyed_one`, every call on one hot key) beside a plain breaker
//!   call on one breaker and on the same 1,000 plain breakers picked by
//!   index (the cache cost of many breakers, without the look-up), and the peers' common practice: a
//!   `Mutex<HashMap<String, breaker>>` locked for the look-up, the breaker
//!   cloned out (an `Arc`) and called after the unlock, with failsafe's and
//!   recloser's breakers.
//!
//! Every bench runs twice: timed by the wall clock (criterion's default) and
//! by the calling thread's CPU clock (`CLOCK_THREAD_CPUTIME_ID`), which does
//! not count the time the thread spends preempted, so it stays meaningful on
//! a machine shared with other work. `SEAWALL_BENCH_CLOCK=wall` or `=cpu`
//! runs one of the two only. In CPU mode the two-thread `wall` figure is the
//! busier thread's CPU time / calls (the wall time the pair would take
//! running side by side without preemption).
//!
//! After the benches the binary prints every median it measured in this run
//! and the ratios ours/peer, then the bytes each breaker occupies
//! (`size_of` plus the heap it allocates, counted by a global allocator).
//!
//! Run with `cargo bench -p seawall-benches --bench breaker` (or
//! `scripts/bench-run.sh`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use criterion::measurement::{Measurement, ValueFormatter, WallTime};
use criterion::{BenchmarkGroup, Criterion, Throughput};
use seawall::{
    Breaker, BreakerConfig, Clock, KeyedBreaker, ManualClock, QuantaClock, State, Window,
};
use seawall_benches::{criterion_dir, fmt_median, fmt_ratio, median, on_two_threads, thread_cpu};

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
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
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
// Thread CPU time as a criterion measurement.

/// Criterion measurement: CPU time of the thread running the routine.
struct ThreadCpu;

impl Measurement for ThreadCpu {
    type Intermediate = Duration;
    type Value = Duration;

    fn start(&self) -> Duration {
        thread_cpu()
    }
    fn end(&self, start: Duration) -> Duration {
        thread_cpu().saturating_sub(start)
    }
    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }
    fn zero(&self) -> Duration {
        Duration::ZERO
    }
    fn to_f64(&self, v: &Duration) -> f64 {
        v.as_nanos() as f64
    }
    fn formatter(&self) -> &dyn ValueFormatter {
        &Nanos
    }
}

/// Shows values in nanoseconds, unscaled (every figure here is a few ns).
struct Nanos;

impl ValueFormatter for Nanos {
    fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
        "ns"
    }
    fn scale_throughputs(&self, _typical: f64, t: &Throughput, values: &mut [f64]) -> &'static str {
        let per_iter = match *t {
            Throughput::Bytes(n) | Throughput::BytesDecimal(n) | Throughput::Elements(n) => {
                n as f64
            }
        };
        for v in values {
            *v = per_iter * 1e9 / *v;
        }
        "/s"
    }
    fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
        "ns"
    }
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

/// A failure-rate rule: 50% over a 60 s time window of 10 buckets.
fn ours_time_window() -> Breaker {
    let config = BreakerConfig {
        window: Window::Time {
            length: Duration::from_secs(60),
            buckets: 10,
        },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 100,
        ..Default::default()
    };
    Breaker::new("bench", config).expect("valid config")
}

/// Failure rate 50% over the last 100 calls (recloser's default policy).
fn ours_count_window() -> Breaker {
    let config = BreakerConfig {
        window: Window::Count { size: 100 },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 100,
        ..Default::default()
    };
    Breaker::new("bench", config).expect("valid config")
}

type FailsafeDefault = failsafe::StateMachine<
    failsafe::failure_policy::OrElse<
        failsafe::failure_policy::SuccessRateOverTimeWindow<failsafe::backoff::EqualJittered>,
        failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::EqualJittered>,
    >,
    (),
>;

/// failsafe's default policy: success rate over a time window, or else
/// consecutive failures.
fn failsafe_default() -> FailsafeDefault {
    failsafe::Config::new().build()
}

type Failsafe = failsafe::StateMachine<
    failsafe::failure_policy::ConsecutiveFailures<failsafe::backoff::Constant>,
    (),
>;

/// failsafe's consecutive-failures breaker, tripping at 5 like ours.
fn failsafe_breaker() -> Failsafe {
    let policy =
        failsafe::failure_policy::consecutive_failures(5, failsafe::backoff::constant(OPEN_TIME));
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
fn failsafe_default_call(b: &FailsafeDefault) {
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

fn closed_success<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("closed_success");
    let b = ours();
    g.bench_function("seawall", |x| x.iter(|| ours_call(black_box(&b))));
    let b = ours_manual();
    g.bench_function("seawall_manual_clock", |x| {
        x.iter(|| ours_call(black_box(&b)))
    });
    let b = failsafe_breaker();
    g.bench_function("failsafe", |x| x.iter(|| failsafe_call(black_box(&b))));
    let b = recloser_breaker();
    g.bench_function("recloser", |x| x.iter(|| recloser_call(black_box(&b))));
    g.finish();
}

fn rejected_open<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
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
    g.bench_function("seawall", |x| {
        x.iter(|| black_box(black_box(&b).try_acquire().is_err()))
    });

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
    g.bench_function("failsafe", |x| {
        x.iter(|| black_box(!black_box(&b).is_call_permitted()))
    });

    let b = recloser_breaker();
    while !matches!(b.call(err), Err(recloser::Error::Rejected)) {}
    g.bench_function("recloser", |x| {
        x.iter(|| {
            black_box(matches!(
                black_box(&b).call(ok),
                Err(recloser::Error::Rejected)
            ))
        })
    });
    g.finish();
}

fn two_threads_of<M: Measurement<Value = Duration>>(
    g: &mut BenchmarkGroup<'_, M>,
    cpu: bool,
    name: &str,
    call: impl Fn() + Sync,
) {
    g.bench_function(format!("{name}_one_thread"), |x| x.iter(&call));
    g.bench_function(format!("{name}_two_threads_wall"), |x| {
        x.iter_custom(|iters| on_two_threads(iters, cpu, &call).0)
    });
    g.bench_function(format!("{name}_two_threads_cpu"), |x| {
        x.iter_custom(|iters| on_two_threads(iters, cpu, &call).1)
    });
}

/// The closed success path with window rules, against the peers'
/// window policies, on one thread and with two threads sharing a breaker.
fn windows<M: Measurement<Value = Duration>>(c: &mut Criterion<M>, cpu: bool) {
    let mut g = c.benchmark_group("windows");
    let b = ours_time_window();
    two_threads_of(&mut g, cpu, "seawall_time_rate", || {
        ours_call(black_box(&b))
    });
    let b = ours_count_window();
    two_threads_of(&mut g, cpu, "seawall_count_rate", || {
        ours_call(black_box(&b))
    });
    let b = failsafe_default();
    two_threads_of(&mut g, cpu, "failsafe_default", || {
        failsafe_default_call(black_box(&b))
    });
    let b = recloser_breaker();
    two_threads_of(&mut g, cpu, "recloser_count", || {
        recloser_call(black_box(&b))
    });
    g.finish();
}

fn two_threads<M: Measurement<Value = Duration>>(c: &mut Criterion<M>, cpu: bool) {
    let mut g = c.benchmark_group("two_threads");
    let b = ours();
    two_threads_of(&mut g, cpu, "seawall", || ours_call(black_box(&b)));
    let b = recloser_breaker();
    two_threads_of(&mut g, cpu, "recloser", || recloser_call(black_box(&b)));
    let b = failsafe_breaker();
    two_threads_of(&mut g, cpu, "failsafe", || failsafe_call(black_box(&b)));
    // Control: each thread on a breaker of its own, nothing shared. Whatever
    // the pair loses here is the machine's (two vCPUs that share a physical
    // core, frequency), not the breaker's.
    thread_local! {
        static OWN: Breaker = ours();
    }
    two_threads_of(&mut g, cpu, "seawall_unshared", || {
        OWN.with(|b| ours_call(black_box(b)))
    });
    g.finish();
}

const KEYS: usize = 1000;

fn keyed<M: Measurement<Value = Duration>>(c: &mut Criterion<M>) {
    let mut g = c.benchmark_group("keyed");
    let keys: Vec<String> = (0..KEYS)
        .map(|i| format!("host-{i}.example.com:443"))
        .collect();
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % KEYS;
        &keys[i]
    };
    let family = KeyedBreaker::new(
        "http:",
        BreakerConfig::default(),
        2 * KEYS as u32,
        Duration::from_secs(60),
    )
    .expect("valid settings");
    for k in &keys {
        family.try_acquire(k).expect("room for every key").success();
    }
    assert_eq!(family.len(), KEYS);
    g.bench_function("seawall_keyed", |x| {
        x.iter(|| {
            if let Ok(p) = family.try_acquire(black_box(next())) {
                p.success();
            }
        })
    });
    let one = KeyedBreaker::new(
        "http:",
        BreakerConfig::default(),
        1,
        Duration::from_secs(60),
    )
    .expect("valid settings");
    let hot = &keys[0];
    g.bench_function("seawall_keyed_one", |x| {
        x.iter(|| {
            if let Ok(p) = one.try_acquire(black_box(hot)) {
                p.success();
            }
        })
    });
    let b = ours();
    g.bench_function("seawall_plain", |x| x.iter(|| ours_call(black_box(&b))));
    let plain: Vec<Breaker> = (0..KEYS).map(|_| ours()).collect();
    let mut j = 0;
    g.bench_function("seawall_plain_1000", |x| {
        x.iter(|| {
            j = (j + 1) % KEYS;
            ours_call(black_box(&plain[j]))
        })
    });
    let map: Mutex<HashMap<String, Failsafe>> = Mutex::new(
        keys.iter()
            .map(|k| (k.clone(), failsafe_breaker()))
            .collect(),
    );
    g.bench_function("failsafe_mutex_map", |x| {
        x.iter(|| {
            let b = get_or_make(&map, black_box(next()), failsafe_breaker);
            failsafe_call(&b)
        })
    });
    let map: Mutex<HashMap<String, Arc<recloser::Recloser>>> = Mutex::new(
        keys.iter()
            .map(|k| (k.clone(), Arc::new(recloser_breaker())))
            .collect(),
    );
    g.bench_function("recloser_mutex_map", |x| {
        x.iter(|| {
            let b = get_or_make(&map, black_box(next()), || Arc::new(recloser_breaker()));
            recloser_call(&b)
        })
    });
    g.finish();
}

/// The peers' per-key practice: look up under the lock, make the breaker
/// on a miss (never, in the bench: every key is made beforehand, without
/// allocating the key on a hit), clone it out and unlock.
fn get_or_make<V: Clone>(
    map: &Mutex<HashMap<String, V>>,
    key: &str,
    make: impl FnOnce() -> V,
) -> V {
    let mut m = map.lock().expect("no panic while locked");
    if let Some(v) = m.get(key) {
        return v.clone();
    }
    m.entry(key.to_owned()).or_insert_with(make).clone()
}

// ---------------------------------------------------------------------------
// The report.

fn report(dir: &std::path::Path, since: SystemTime, clock: &str) {
    let m = |g: &str, id: &str| median(dir, since, g, id);
    let (fmt, ratio) = (fmt_median, fmt_ratio);

    println!("\n== medians (ns per call, {clock}) and ratios, this run ==");
    for group in ["closed_success", "rejected_open"] {
        println!("{group}:");
        let ours = m(group, "seawall");
        for id in ["seawall", "seawall_manual_clock", "failsafe", "recloser"] {
            let v = m(group, id);
            let r = if id.starts_with("seawall") {
                String::new()
            } else {
                format!("  seawall/{id} = {}", ratio(ours, v))
            };
            println!("  {id:<24}{:>10}{r}", fmt(v));
        }
    }
    println!("two_threads (closed success path, one shared breaker):");
    if clock != "wall clock" {
        println!("  (wall/calls here = the busier thread's CPU time / all calls)");
    }
    let rows = [
        ("two_threads", "seawall"),
        ("two_threads", "recloser"),
        ("two_threads", "failsafe"),
        ("two_threads", "seawall_unshared"),
        ("windows", "seawall_time_rate"),
        ("windows", "seawall_count_rate"),
        ("windows", "failsafe_default"),
        ("windows", "recloser_count"),
    ];
    for (group, name) in rows {
        if group == "windows" && name == "seawall_time_rate" {
            println!("windows (closed success path with window rules):");
        }
        let one = m(group, &format!("{name}_one_thread"));
        let wall = m(group, &format!("{name}_two_threads_wall"));
        let cpu = m(group, &format!("{name}_two_threads_cpu"));
        println!(
            "  {name:<18} one thread {:>8}  two threads: wall/calls {:>8} ({}x one)  busy/calls {:>8} ({}x one)",
            fmt(one),
            fmt(wall),
            ratio(wall, one),
            fmt(cpu),
            ratio(cpu, one)
        );
    }
    println!("keyed (closed success by key, 1,000 live keys):");
    let ours = m("keyed", "seawall_keyed");
    for id in [
        "seawall_keyed",
        "seawall_keyed_one",
        "seawall_plain",
        "seawall_plain_1000",
        "failsafe_mutex_map",
        "recloser_mutex_map",
    ] {
        let v = m("keyed", id);
        let r = if id == "seawall_keyed" {
            String::new()
        } else {
            format!("  seawall_keyed/{id} = {}", ratio(ours, v))
        };
        println!("  {id:<24}{:>10}{r}", fmt(v));
    }
    let one = |name: &str| m("windows", &format!("{name}_one_thread"));
    println!(
        "  one thread: seawall_time_rate/failsafe_default = {}, seawall_count_rate/recloser_count = {}",
        ratio(one("seawall_time_rate"), one("failsafe_default")),
        ratio(one("seawall_count_rate"), one("recloser_count"))
    );
}

fn bytes_report() {
    println!("\n== bytes per breaker (size_of + heap owned after construction) ==");
    let rows = [
        ("seawall Breaker<QuantaClock>", footprint(ours)),
        ("seawall Breaker<ManualClock>", footprint(ours_manual)),
        ("failsafe consecutive_failures", footprint(failsafe_breaker)),
        ("recloser (closed_len 100)", footprint(recloser_breaker)),
        (
            "seawall, 10-bucket time window",
            footprint(ours_time_window),
        ),
        (
            "seawall, 100-call count window",
            footprint(ours_count_window),
        ),
        (
            "failsafe default (time window)",
            footprint(failsafe_default),
        ),
    ];
    for (name, (inline, heap)) in rows {
        println!(
            "  {name:<32} size_of {inline:>5}  heap {heap:>5}  total {:>5}",
            inline as isize + heap
        );
    }
}

/// Runs every bench with measurement `m`, writing under `dir`, then prints
/// the medians of this run.
fn run<M: Measurement<Value = Duration>>(m: M, dir: PathBuf, cpu: bool, clock: &str) {
    let since = SystemTime::now();
    // Short windows keep the whole run near a minute and a half on a shared
    // machine; `--measurement-time` and `--warm-up-time` override them.
    let mut c = Criterion::default()
        .with_measurement(m)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&dir)
        .configure_from_args();
    closed_success(&mut c);
    rejected_open(&mut c);
    two_threads(&mut c, cpu);
    windows(&mut c, cpu);
    keyed(&mut c);
    c.final_summary();
    // `cargo bench -- --test` and `cargo test --benches` run each bench once
    // and write no estimates; the report then has nothing to show.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        report(&dir, since, clock);
    }
}

fn main() {
    let which = std::env::var("SEAWALL_BENCH_CLOCK").unwrap_or_default();
    let dir = criterion_dir();
    if which != "cpu" {
        run(WallTime, dir.join("wall"), false, "wall clock");
    }
    if which != "wall" {
        run(ThreadCpu, dir.join("thread-cpu"), true, "thread CPU time");
    }
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        bytes_report();
    }
}
