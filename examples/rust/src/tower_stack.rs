//! The same protections as tower middleware (`seawall-tower`): a retry
//! layer outside a circuit breaker layer outside a flaky service, and a rate
//! limiter layer in front of another service.
//!
//! The flaky service fails its first three calls and answers after that:
//! the first request fails three attempts and opens the breaker; the second
//! is refused at once (the breaker's next trial is further away than the
//! retry schedule's `max_delay`, so the retry layer does not wait for it);
//! the third, after the open time, is the trial that closes it. The
//! breaker's open time is 100 ms, so the whole run takes a fifth of a
//! second.
//!
//! Run it with `cargo run -q -p seawall-examples --bin tower-stack`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use seawall::{
    Backoff, Breaker, BreakerConfig, ManualClock, RateLimitConfig, RateLimiter, RetryConfig,
    RetryStrategy, Transition,
};
use seawall_tower::{CircuitBreakerLayer, Error, RateLimitLayer, RetryLayer};
use tower::{service_fn, Layer, ServiceExt};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // --- retry -> circuit breaker -> flaky service ---------------------------
    let breaker = Arc::new(
        Breaker::new(
            "pricing",
            BreakerConfig {
                failure_threshold: 3,
                success_threshold: 1,
                timeout: Duration::from_millis(100),
                ..Default::default()
            },
        )
        .expect("valid breaker config"),
    );
    breaker.add_listener(|name: &str, t: Transition| {
        println!("  breaker {name}: {} -> {}", t.from, t.to);
    });

    let calls = Arc::new(AtomicU32::new(0));
    let pricing = {
        let calls = Arc::clone(&calls);
        service_fn(move |sku: &'static str| {
            // Relaxed: a plain count of calls, read by this task only.
            let n = calls.fetch_add(1, Ordering::Relaxed) + 1;
            async move {
                if n <= 3 {
                    Err(format!("call {n}: 503"))
                } else {
                    Ok(format!("{sku}: 12.50 EUR (call {n})"))
                }
            }
        })
    };
    // Three attempts 10 ms apart. A rejection announcing its next trial
    // within max_delay (here 50 ms) would be waited for; a later one ends
    // the call at once.
    let backoff = Backoff::new(RetryConfig {
        strategy: RetryStrategy::Fixed,
        max_attempts: 3,
        initial_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        ..Default::default()
    })
    .expect("valid retry config");
    let service = RetryLayer::new(backoff)
        .layer(CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(pricing));

    for sku in ["apple", "pear", "plum"] {
        match service.clone().oneshot(sku).await {
            Ok(price) => println!("{sku}: ok, {price}"),
            Err(Error::Inner(e)) => println!("{sku}: failed, last error {e}"),
            Err(Error::Rejected(r)) => println!("{sku}: refused by the breaker ({})", r.state),
            Err(other) => println!("{sku}: {other}"),
        }
        if sku == "pear" {
            // Let the open time pass before the next request.
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }
    let m = breaker.metrics();
    println!(
        "dependency called {} times; breaker {}: {} successes, {} failures, {} rejected",
        calls.load(Ordering::Relaxed),
        m.state,
        m.successes,
        m.failures,
        m.rejected
    );

    // --- rate limiter -> service ------------------------------------------------
    // 2 requests a second with bursts of 3, on a manual clock so that no
    // token comes back during the loop.
    let limiter = Arc::new(
        RateLimiter::with_clock(
            RateLimitConfig {
                rate: 2,
                period: Duration::from_secs(1),
                burst: 3,
                ..Default::default()
            },
            ManualClock::new(),
        )
        .expect("valid rate limit config"),
    );
    let search = RateLimitLayer::new(Arc::clone(&limiter))
        .layer(service_fn(|q: u32| async move { Ok::<_, String>(q * 2) }));
    for q in 1..=5 {
        match search.clone().oneshot(q).await {
            Ok(v) => println!("search {q}: ok ({v})"),
            Err(Error::RateLimited { retry_after }) => {
                println!("search {q}: rate limited, retry in {retry_after:?}")
            }
            Err(e) => println!("search {q}: {e}"),
        }
    }
    let rl = limiter.metrics();
    println!("rate limiter: {} allowed, {} denied", rl.allowed, rl.denied);
}
