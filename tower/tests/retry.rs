//! The retry layer over a real HTTP server: the core's schedule, budget and
//! breaker rejections.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{send, Call, ClientError, Response};
use seawall::{
    Backoff, Breaker, BreakerConfig, ManualClock, RetryBudget, RetryBudgetConfig, RetryConfig,
    RetryStrategy, State,
};
use seawall_tower::{
    CircuitBreakerLayer, Error, HttpStatusClassifier, RetryFn, RetryLayer, Verdict,
};
use tower::Layer;

/// No delay between attempts: the tests wait for nothing.
fn backoff(max_attempts: u32) -> Backoff {
    Backoff::new(RetryConfig {
        strategy: RetryStrategy::Fixed,
        max_attempts,
        initial_delay: Duration::ZERO,
        max_delay: Duration::from_secs(1),
        ..Default::default()
    })
    .unwrap()
}

/// A 503 is a failure, retryable only for an idempotent call.
fn unavailable(call: &Call, result: &Result<Response, ClientError>) -> Verdict {
    match result {
        Ok(r) if r.status() == 503 => Verdict::Failure {
            retryable: call.idempotent,
        },
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::Failure { retryable: true },
    }
}

#[tokio::test]
async fn a_503_is_retried_up_to_max_attempts() {
    let (server, client) = common::start().await;
    let mut svc = RetryLayer::new(backoff(3))
        .with_classifier(RetryFn::new(unavailable))
        .layer(client);
    let response = send(&mut svc, Call::get("/busy")).await.unwrap();
    assert_eq!(response.status(), 503, "the last attempt's result");
    assert_eq!(server.hits(), 3);

    // A call that recovers returns the first success.
    let response = send(&mut svc, Call::get("/flaky")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(server.hits(), 5);
}

#[tokio::test]
async fn a_request_marked_not_retryable_is_sent_once() {
    let (server, client) = common::start().await;
    let mut svc = RetryLayer::new(backoff(5))
        .with_classifier(RetryFn::new(unavailable))
        .layer(client);
    let response = send(&mut svc, Call::post("/busy")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn retries_stop_when_the_budget_is_spent() {
    let (server, client) = common::start().await;
    // Below `min_requests` the token bucket decides: two retries in all.
    let config = RetryBudgetConfig {
        min_requests: 1_000,
        max_tokens: 2,
        ..Default::default()
    };
    let budget = Arc::new(RetryBudget::with_clock(config, ManualClock::new()).unwrap());
    let mut svc = RetryLayer::new(backoff(10))
        .with_budget(Arc::clone(&budget))
        .with_classifier(RetryFn::new(unavailable))
        .layer(client);

    send(&mut svc, Call::get("/busy")).await.unwrap();
    assert_eq!(
        server.hits(),
        3,
        "the first attempt and two granted retries"
    );
    send(&mut svc, Call::get("/busy")).await.unwrap();
    assert_eq!(server.hits(), 4, "no retry left in the budget");
    // Attempts counted: two first attempts and the two granted retries.
    let counts = budget.counts();
    assert_eq!((counts.requests, counts.retries), (4, 2));
}

/// Through a breaker: its failures are 503s, its rejections wait for the
/// announced trial.
fn through_breaker(call: &Call, result: &Result<Response, Error<ClientError>>) -> Verdict {
    match result {
        Err(Error::Rejected(r)) => Verdict::Rejected(*r),
        Ok(r) if r.status() == 503 => Verdict::Failure {
            retryable: call.idempotent,
        },
        Ok(_) => Verdict::Success,
        Err(_) => Verdict::Failure { retryable: true },
    }
}

#[tokio::test]
async fn a_rejection_announcing_a_trial_beyond_max_delay_stops_at_once() {
    let (server, client) = common::start().await;
    let config = BreakerConfig {
        failure_threshold: 1,
        timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let (breaker_layer, breaker, _clock) = common::http_breaker(config);
    let mut svc = RetryLayer::new(backoff(10))
        .with_classifier(RetryFn::new(through_breaker))
        .layer(breaker_layer.layer(client));

    // The 503 opens the breaker; the retry is rejected with a trial 60 s
    // away, beyond `max_delay` (1 s): the call ends with the rejection.
    match send(&mut svc, Call::get("/busy")).await {
        Err(Error::Rejected(r)) => assert_eq!(r.retry_after, Some(Duration::from_secs(60))),
        other => panic!("expected the rejection, got {other:?}"),
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(server.hits(), 1);
}

#[tokio::test]
async fn a_rejection_waits_for_the_announced_trial() {
    let (server, client) = common::start().await;
    // On the real clock: the retry sleeps the breaker's `retry_after`
    // (50 ms), after which the breaker admits the trial.
    let config = BreakerConfig {
        failure_threshold: 1,
        success_threshold: 1,
        timeout: Duration::from_millis(50),
        ..Default::default()
    };
    let breaker = Arc::new(Breaker::new("http", config).unwrap());
    let breaker_layer =
        CircuitBreakerLayer::new(Arc::clone(&breaker)).with_classifier(HttpStatusClassifier);
    let mut svc = RetryLayer::new(backoff(10))
        .with_classifier(RetryFn::new(through_breaker))
        .layer(breaker_layer.layer(client));

    // /flaky answers 503 once (opening the breaker), then 200. Without the
    // wait, every retry would be rejected at once until the attempts ran
    // out.
    let response = send(&mut svc, Call::get("/flaky")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.hits(), 2);
}
