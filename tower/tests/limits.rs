//! The bulkhead and rate-limit layers over a real HTTP server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{send, Call};
use seawall::{Bulkhead, BulkheadConfig, ManualClock, RateLimitConfig, RateLimiter};
use seawall_tower::{BulkheadLayer, Error, RateLimitLayer};
use tower::{Layer, Service};

#[tokio::test]
async fn a_full_bulkhead_refuses_at_once() {
    let (server, client) = common::start().await;
    let config = BulkheadConfig {
        max_concurrent: 1,
        max_queue_size: 0,
        ..Default::default()
    };
    let bulkhead = Arc::new(Bulkhead::with_clock(config, ManualClock::new()).unwrap());
    let mut svc = BulkheadLayer::new(Arc::clone(&bulkhead)).layer(client);

    // Readiness reserves no slot.
    for _ in 0..10 {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    }
    assert_eq!(bulkhead.available_permits(), 1);

    let held = tokio::spawn(svc.call(Call::get("/hang")));
    assert_eq!(bulkhead.available_permits(), 0);
    for _ in 0..3 {
        match send(&mut svc, Call::get("/ok")).await {
            Err(Error::BulkheadFull) => {}
            other => panic!("expected BulkheadFull, got {other:?}"),
        }
    }
    server.release.notify_one();
    assert_eq!(held.await.unwrap().unwrap().status(), 200);
    assert_eq!(
        bulkhead.available_permits(),
        1,
        "the slot is freed on completion"
    );
    assert_eq!(server.hits(), 1, "a refused call reached the server");
    assert_eq!(bulkhead.metrics().rejected, 3);

    // A dropped response future frees its slot too.
    let abandoned = svc.call(Call::get("/ok"));
    assert_eq!(bulkhead.available_permits(), 0);
    drop(abandoned);
    assert_eq!(bulkhead.available_permits(), 1);
    assert_eq!(
        send(&mut svc, Call::get("/ok")).await.unwrap().status(),
        200
    );
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn a_rate_limited_call_says_when_to_come_back() {
    let (server, client) = common::start().await;
    let config = RateLimitConfig {
        rate: 1,
        period: Duration::from_secs(1),
        burst: 1,
        ..Default::default()
    };
    let clock = ManualClock::new();
    let limiter = Arc::new(RateLimiter::with_clock(config, clock.clone()).unwrap());
    let mut svc = RateLimitLayer::new(Arc::clone(&limiter)).layer(client);

    // Readiness spends nothing.
    for _ in 0..10 {
        std::future::poll_fn(|cx| svc.poll_ready(cx)).await.unwrap();
    }
    assert_eq!(
        send(&mut svc, Call::get("/ok")).await.unwrap().status(),
        200
    );
    let retry_after = match send(&mut svc, Call::get("/ok")).await {
        Err(Error::RateLimited { retry_after }) => retry_after,
        other => panic!("expected RateLimited, got {other:?}"),
    };
    assert!(retry_after > Duration::ZERO);
    assert!(retry_after <= Duration::from_secs(1));
    assert_eq!(server.hits(), 1, "a refused call reached the server");

    clock.advance(retry_after);
    assert_eq!(
        send(&mut svc, Call::get("/ok")).await.unwrap().status(),
        200
    );
    assert_eq!(server.hits(), 2);
    assert_eq!(limiter.metrics().denied, 1);
}

#[test]
fn errors_name_what_refused_the_call() {
    let full: Error<std::io::Error> = Error::BulkheadFull;
    assert_eq!(
        full.to_string(),
        "refused by the bulkhead: every slot is taken"
    );
    let limited: Error<std::io::Error> = Error::RateLimited {
        retry_after: Duration::from_millis(250),
    };
    assert_eq!(
        limited.to_string(),
        "refused by the rate limiter; retry in 250ms"
    );
    let inner = Error::Inner(std::io::Error::other("boom"));
    assert_eq!(inner.to_string(), "inner service failed: boom");
    assert!(!inner.is_refusal() && full.is_refusal());
    let source = std::error::Error::source(&inner).unwrap();
    assert_eq!(source.to_string(), "boom");
    let nested: Error<Error<&str>> = Error::Inner(Error::BulkheadFull);
    assert!(matches!(nested.flatten(), Error::BulkheadFull));
}
