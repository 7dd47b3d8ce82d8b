//! `seawall-tower`'s `CircuitBreakerLayer` beside the closest peer,
//! `tower-resilience-circuitbreaker`, and a bare service, in the same run.
//!
//! Each row is one request through `ready().await` and `call().await` on a
//! current-thread tokio runtime, the service answering at once (a ready
//! future): what is measured is the layer's own cost per call on the success
//! path (CLOSED).
//!
//! * `bare`: the service alone.
//! * `seawall_default`: our layer on a default breaker (consecutive
//!   failures).
//! * `seawall_count100`: our layer on the peer's default rule: failure rate
//!   50% over the last 100 calls.
//! * `tower_resilience`: the peer's layer with its defaults (the same rule).
//!
//! After the benches the binary prints every median of this run, each
//! layer's overhead (its median minus the bare one) and the ratio of the
//! overheads. The machine may be shared: compare ratios within one run.
//!
//! Run with `cargo bench -p seawall-benches --bench tower`.

use std::future::{ready, Ready};
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::Criterion;
use seawall::{Breaker, BreakerConfig, Window};
use seawall_benches::{criterion_dir, fmt_median, fmt_ratio, median};
use tokio::runtime::Runtime;
use tower::{service_fn, Layer, Service, ServiceExt};

const GROUP: &str = "tower_layer_closed";

/// The protected service: answers at once.
fn echo() -> impl Service<
    u64,
    Response = u64,
    Error = std::io::Error,
    Future = Ready<Result<u64, std::io::Error>>,
> + Clone {
    service_fn(|req: u64| ready(Ok::<u64, std::io::Error>(req)))
}

/// Times `iters` requests through `svc` on `rt`.
fn drive<S>(rt: &Runtime, svc: &mut S, iters: u64) -> Duration
where
    S: Service<u64, Response = u64>,
    S::Error: std::fmt::Debug,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            let r = svc.ready().await.unwrap().call(black_box(i)).await.unwrap();
            black_box(r);
        }
        start.elapsed()
    })
}

fn closed(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime");
    let count100 = BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Count { size: 100 },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 100,
        ..Default::default()
    };
    let ours = |config: BreakerConfig| {
        let breaker = Arc::new(Breaker::new("bench", config).expect("valid config"));
        seawall_tower::CircuitBreakerLayer::new(breaker).layer(echo())
    };
    let mut g = c.benchmark_group(GROUP);
    let mut bare = echo();
    g.bench_function("bare", |b| b.iter_custom(|n| drive(&rt, &mut bare, n)));
    let mut ours_default = ours(BreakerConfig::default());
    g.bench_function("seawall_default", |b| {
        b.iter_custom(|n| drive(&rt, &mut ours_default, n))
    });
    let mut ours_count = ours(count100);
    g.bench_function("seawall_count100", |b| {
        b.iter_custom(|n| drive(&rt, &mut ours_count, n))
    });
    let mut peer = tower_resilience_circuitbreaker::CircuitBreakerLayer::builder()
        .build()
        .expect("the peer's defaults")
        .layer(echo());
    g.bench_function("tower_resilience", |b| {
        b.iter_custom(|n| drive(&rt, &mut peer, n))
    });
    g.finish();
}

fn report(dir: &Path, since: SystemTime) {
    let m = |id: &str| median(dir, since, GROUP, id);
    let bare = m("bare");
    let overhead = |id: &str| m(id).zip(bare).map(|(v, b)| v - b);
    println!("\n== medians of this run (ns per request; overhead = minus the bare service)");
    println!("  {:<18} {:>10}", "bare", fmt_median(bare));
    for id in ["seawall_default", "seawall_count100", "tower_resilience"] {
        println!(
            "  {id:<18} {:>10}   overhead {:>10}",
            fmt_median(m(id)),
            fmt_median(overhead(id))
        );
    }
    println!(
        "  overhead seawall_count100 / tower_resilience (same rule): {}",
        fmt_ratio(overhead("seawall_count100"), overhead("tower_resilience"))
    );
    println!(
        "  overhead seawall_default / tower_resilience: {}",
        fmt_ratio(overhead("seawall_default"), overhead("tower_resilience"))
    );
}

fn main() {
    let dir = criterion_dir().join("tower");
    let since = SystemTime::now();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .output_directory(&dir)
        .configure_from_args();
    closed(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        report(&dir, since);
    }
}
