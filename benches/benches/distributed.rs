//! The distributed breaker's call path beside the local breaker's, in the
//! same run.
//!
//! * `distributed_success`: take permission and report a success, one
//!   thread. `local` is a plain `seawall::Breaker`; `redis_up` a
//!   `DistributedBreaker` whose coordinator is connected to a live
//!   `redis-server` (started by the bench on a free loopback port) and
//!   flushes every 100 ms meanwhile; `redis_down` the same breaker after
//!   that server was killed (the coordinator degraded, reconnecting in the
//!   background). The call path does no I/O in any of them: the three
//!   should be within a few nanoseconds of each other.
//! * `distributed_rejected`: one call refused, by the local breaker's OPEN
//!   (`local_open`) and by a fleet OPEN (`fleet_open`).
//!
//! After the benches the binary prints every median of this run and the
//! ratios to the local breaker. Needs `redis-server` on the PATH.
//!
//! Run with `cargo bench -p seawall-benches --bench distributed`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use seawall::{Breaker, BreakerConfig, Clock};
use seawall_benches::{criterion_dir, fmt_median, fmt_ratio, median};
use seawall_distributed::{Coordinator, CoordinatorConfig, DistributedBreaker, FleetConfig};

// The tests' redis-server child process (killed when dropped).
#[allow(dead_code)]
#[path = "../../distributed/src/tests/server.rs"]
mod server;

use server::{wait_until, RedisServer};

fn local_call<C: Clock>(b: &Breaker<C>) {
    if let Ok(p) = b.try_acquire() {
        p.success();
    }
}

fn fleet_call(b: &DistributedBreaker) {
    if let Ok(p) = b.try_acquire() {
        p.success();
    }
}

fn coordinator(server: &RedisServer, ns: &str) -> Coordinator {
    let c = Coordinator::connect(
        &server.url(),
        CoordinatorConfig {
            namespace: ns.into(),
            reconnect_max: Duration::from_secs(1),
            ..Default::default()
        },
    )
    .expect("a valid URL");
    wait_until("connected", Duration::from_secs(10), || !c.is_degraded());
    c
}

fn success(c: &mut Criterion) {
    let mut g = c.benchmark_group("distributed_success");
    let local = Breaker::new("bench", BreakerConfig::default()).expect("valid");
    g.bench_function("local", |x| x.iter(|| local_call(black_box(&local))));

    let server = RedisServer::start();
    let coordinator = coordinator(&server, "bench");
    let b = DistributedBreaker::new(
        "bench",
        BreakerConfig::default(),
        FleetConfig::default(),
        &coordinator,
    )
    .expect("valid");
    g.bench_function("redis_up", |x| x.iter(|| fleet_call(black_box(&b))));
    assert!(b.fleet().flushes > 0, "the coordinator flushed meanwhile");

    drop(server);
    wait_until("degraded", Duration::from_secs(10), || {
        coordinator.is_degraded()
    });
    g.bench_function("redis_down", |x| x.iter(|| fleet_call(black_box(&b))));
    g.finish();
}

fn rejected(c: &mut Criterion) {
    let mut g = c.benchmark_group("distributed_rejected");
    let local = Breaker::new("bench", BreakerConfig::default()).expect("valid");
    local.force_open();
    g.bench_function("local_open", |x| x.iter(|| local_call(black_box(&local))));

    let server = RedisServer::start();
    let config = BreakerConfig {
        timeout: Duration::from_secs(3600),
        ..Default::default()
    };
    let fleet = FleetConfig {
        minimum_calls: 4,
        min_failing_instances: Some(1),
        ..Default::default()
    };
    let opener = coordinator(&server, "open");
    let b = DistributedBreaker::new("bench", config, fleet, &opener).expect("valid");
    for _ in 0..4 {
        if let Ok(p) = b.try_acquire() {
            p.failure();
        }
    }
    b.local().reset();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.try_acquire().is_ok() {
        assert!(Instant::now() < deadline, "the fleet never opened");
        std::thread::sleep(Duration::from_millis(5));
    }
    g.bench_function("fleet_open", |x| x.iter(|| fleet_call(black_box(&b))));
    g.finish();
}

fn report(dir: &Path, since: SystemTime) {
    let m = |g: &str, id: &str| median(dir, since, g, id);
    let (fmt, ratio) = (fmt_median, fmt_ratio);
    println!("\n== medians (ns per call, wall clock) and ratios, this run ==");
    for (group, base, ids) in [
        (
            "distributed_success",
            "local",
            &["local", "redis_up", "redis_down"][..],
        ),
        (
            "distributed_rejected",
            "local_open",
            &["local_open", "fleet_open"][..],
        ),
    ] {
        println!("{group}:");
        for id in ids {
            let v = m(group, id);
            println!(
                "  {id:<12}{:>8}  {id}/{base} = {}",
                fmt(v),
                ratio(v, m(group, base))
            );
        }
    }
}

fn main() {
    let dir = criterion_dir().join("distributed");
    let since = SystemTime::now();
    // Short windows keep the run near half a minute on a shared machine;
    // `--measurement-time` and `--warm-up-time` override them.
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&dir)
        .configure_from_args();
    success(&mut c);
    rejected(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        report(&dir, since);
    }
}
