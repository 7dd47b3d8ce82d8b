//! A service that calls a flaky dependency through a circuit breaker taken
//! from a [`Registry`], retrying failed attempts on a back-off schedule that
//! a [`RetryBudget`] keeps from piling up during the outage. At the end it
//! prints the metrics as Prometheus scrape text.
//!
//! Everything runs on one [`ManualClock`]: the retry "sleeps" advance it
//! ([`ManualSleep`]) and so does the loop between requests, so a minute of
//! traffic takes a few milliseconds and the output is the same on every run.
//! In production, drop the clock arguments (`Registry::new()`,
//! `RetryBudget::new(..)`) and sleep with [`seawall::ThreadSleep`].
//!
//! Run it with `cargo run -q -p seawall-examples --bin flaky-service`.

use std::time::Duration;

use seawall::telemetry::{text, Catalog, RetryOutcome, RetryStats, TextFormat};
use seawall::{
    Backoff, BreakerConfig, Clock, ManualClock, ManualSleep, Registry, Retry, RetryBudget,
    RetryBudgetConfig, RetryConfig, RetryStrategy, Transition,
};

/// The dependency: answers, except from t=10s to t=30s, when every call
/// fails.
fn fetch_stock(now_secs: u64, item: u64) -> Result<u64, &'static str> {
    if (10..30).contains(&now_secs) {
        Err("503 Service Unavailable")
    } else {
        Ok(item * 7 % 100)
    }
}

fn main() {
    let clock = ManualClock::new();

    // One registry per process: every part of the service that talks to
    // "inventory" gets the same breaker, whatever config it passes later.
    let registry = Registry::with_clock(clock.clone());
    let breaker = registry
        .get_or_create(
            "inventory",
            &BreakerConfig {
                failure_threshold: 3,
                success_threshold: 2,
                timeout: Duration::from_secs(5),
                ..Default::default()
            },
        )
        .expect("valid breaker config");
    breaker.add_listener(|name: &str, t: Transition| {
        println!(
            "  [t={:>4.1}s] breaker {name}: {} -> {}",
            t.at_nanos as f64 / 1e9,
            t.from,
            t.to
        );
    });

    // Up to 3 attempts, 100 ms then 200 ms apart. No jitter, so the
    // schedule is the same on every run (keep the jitter in production).
    let backoff = Backoff::new(RetryConfig {
        strategy: RetryStrategy::Exponential,
        max_attempts: 3,
        initial_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        ..Default::default()
    })
    .expect("valid retry config");

    // Retries may be at most 20% of the requests of the last 10 s; below
    // 10 requests a bucket of 5 tokens (refilled at 0.5/s) decides.
    let budget = RetryBudget::with_clock(
        RetryBudgetConfig {
            budget_percent: 20.0,
            min_requests: 10,
            window_size: Duration::from_secs(10),
            tokens_per_second: 0.5,
            max_tokens: 5,
        },
        clock.clone(),
    )
    .expect("valid budget config");

    let sleep = ManualSleep::new(clock.clone());
    let retry = Retry::new(&backoff, &sleep)
        .breaker(&breaker)
        .budget(&budget);
    let stats = RetryStats::new();

    println!("one request a second for 45 s; the dependency is down from t=10s to t=30s");
    let (mut served, mut gave_up) = (0, 0);
    for item in 0..45u64 {
        let started = clock.now();
        let result = retry.run(|_attempt| fetch_stock(clock.now() / 1_000_000_000, item));
        // Log lines carry the time the request finished (after its retries).
        let finished = clock.now() as f64 / 1e9;
        match result {
            Ok(done) => {
                served += 1;
                stats.record(RetryOutcome::succeeded(done.attempts), done.attempts);
                if done.attempts > 1 {
                    println!(
                        "  [t={finished:>4.1}s] item {item}: {} in stock after {} attempts",
                        done.value, done.attempts
                    );
                }
            }
            Err(e) => {
                gave_up += 1;
                stats.record(RetryOutcome::stopped(e.stop), e.attempts);
                // Log the first refusals of each kind, not every one.
                if gave_up <= 3 || item % 5 == 0 {
                    println!(
                        "  [t={finished:>4.1}s] item {item}: {} ({})",
                        e,
                        e.stop.name()
                    );
                }
            }
        }
        // The next request comes one second after this one started.
        let next = started + 1_000_000_000;
        let now = clock.now();
        if next > now {
            clock.advance(Duration::from_nanos(next - now));
        }
    }

    let m = breaker.metrics();
    let b = budget.metrics();
    println!(
        "served {served}, gave up {gave_up}; breaker {}: {} successes, {} failures, {} rejected, opened {} times",
        m.state, m.successes, m.failures, m.rejected, m.transitions.to_open
    );
    println!(
        "retries: {} in all; the budget refused {}",
        stats.counts().retries,
        b.exhausted
    );

    // What a /metrics endpoint would serve: every breaker of the registry,
    // the budget and the retrier's counts, in the Prometheus text format.
    let mut catalog = Catalog::new();
    catalog.registry(&registry);
    catalog.retry_budget("inventory", &b);
    catalog.retry("inventory", &stats.counts());
    println!("\n--- Prometheus text ---");
    print!("{}", text(&catalog.finish(), TextFormat::Prometheus));
}
