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
//! Then hedging (group `hedge_answer_at_once`): one call whose attempt
//! answers at once, so no hedge is ever due: the per-call cost of the
//! hedging machinery itself, on a runtime with its timer enabled.
//!
//! * `bare`: the attempt awaited alone.
//! * `seawall_fixed`: `Hedge::run` with a fixed delay (the state machine,
//!   the budget's count of the call).
//! * `seawall_p95`: `Hedge::run` with the delay learnt from the latencies
//!   (adds the quantile read at the call's start and the latency record).
//! * `tokio_select`: the hand-written hedge, `tokio::select!` between the
//!   attempt and a `tokio::time::sleep` of the delay (then a second attempt),
//!   with no budget, no metrics and no learnt delay.
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
use seawall::{Breaker, BreakerConfig, Hedge, HedgeConfig, RetryBudget, Window};
use seawall_benches::{criterion_dir, fmt_median, fmt_ratio, median};
use tokio::runtime::Runtime;
use tower::{service_fn, Layer, Service, ServiceExt};

const GROUP: &str = "tower_layer_closed";
const HEDGE: &str = "hedge_answer_at_once";

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

/// The attempt of the hedge benches: answers at once.
async fn answer(i: u64) -> Result<u64, std::io::Error> {
    Ok(black_box(i))
}

/// Times `iters` calls of `call` on `rt`.
fn drive_calls<F, Fut>(rt: &Runtime, iters: u64, mut call: F) -> Duration
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = Result<u64, std::io::Error>>,
{
    rt.block_on(async {
        let start = Instant::now();
        for i in 0..iters {
            black_box(call(i).await.unwrap());
        }
        start.elapsed()
    })
}

/// The hand-written hedge: the attempt, and a second one if the first has
/// not answered within `delay`.
async fn select_hedge(i: u64, delay: Duration) -> Result<u64, std::io::Error> {
    let first = answer(i);
    tokio::pin!(first);
    tokio::select! {
        biased;
        r = &mut first => r,
        () = tokio::time::sleep(delay) => {
            tokio::select! {
                biased;
                r = &mut first => r,
                r = answer(i) => r,
            }
        }
    }
}

fn hedged(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime with a timer");
    let delay = Duration::from_millis(10);
    let hedge = |quantile| {
        let budget = Arc::new(RetryBudget::new(Default::default()).expect("valid budget"));
        let config = HedgeConfig {
            quantile,
            delay,
            ..Default::default()
        };
        Hedge::new(config, budget).expect("valid config")
    };
    let fixed = hedge(None);
    let p95 = hedge(Some(0.95));
    let mut g = c.benchmark_group(HEDGE);
    g.bench_function("bare", |b| b.iter_custom(|n| drive_calls(&rt, n, answer)));
    g.bench_function("seawall_fixed", |b| {
        b.iter_custom(|n| {
            drive_calls(&rt, n, |i| {
                fixed.run(true, move |_| answer(i), tokio::time::sleep)
            })
        })
    });
    g.bench_function("seawall_p95", |b| {
        b.iter_custom(|n| {
            drive_calls(&rt, n, |i| {
                p95.run(true, move |_| answer(i), tokio::time::sleep)
            })
        })
    });
    g.bench_function("tokio_select", |b| {
        b.iter_custom(|n| drive_calls(&rt, n, |i| select_hedge(i, delay)))
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
    let h = |id: &str| median(dir, since, HEDGE, id);
    let bare = h("bare");
    let overhead = |id: &str| h(id).zip(bare).map(|(v, b)| v - b);
    println!("\n== hedging, an attempt that answers at once (ns per call; overhead = minus bare)");
    println!("  {:<18} {:>10}", "bare", fmt_median(bare));
    for id in ["seawall_fixed", "seawall_p95", "tokio_select"] {
        println!(
            "  {id:<18} {:>10}   overhead {:>10}",
            fmt_median(h(id)),
            fmt_median(overhead(id))
        );
    }
    for id in ["seawall_fixed", "seawall_p95"] {
        println!(
            "  overhead {id} / tokio_select: {}",
            fmt_ratio(overhead(id), overhead("tokio_select"))
        );
    }
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
    hedged(&mut c);
    c.final_summary();
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        report(&dir, since);
    }
}
