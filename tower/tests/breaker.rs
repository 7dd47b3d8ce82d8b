//! The circuit-breaker layer over a real HTTP server.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{send, Call};
use seawall::{Breaker, BreakerConfig, State};
use seawall_tower::{CircuitBreakerLayer, Error};
use tower::{Layer, Service};

#[tokio::test]
async fn five_hundreds_open_it_and_rejections_never_reach_the_server() {
    let (server, client) = common::start().await;
    let config = BreakerConfig {
        failure_threshold: 3,
        success_threshold: 1,
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let (layer, breaker, clock) = common::http_breaker(config);
    let mut svc = layer.layer(client);

    for _ in 0..3 {
        let response = send(&mut svc, Call::get("/fail")).await.unwrap();
        assert_eq!(response.status(), 500);
    }
    assert_eq!(breaker.state(), State::Open);
    assert_eq!(server.hits(), 3);

    for _ in 0..5 {
        match send(&mut svc, Call::get("/ok")).await {
            Err(Error::Rejected(r)) => {
                assert_eq!(r.state, State::Open);
                assert_eq!(r.retry_after, Some(Duration::from_secs(30)));
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }
    assert_eq!(server.hits(), 3, "a rejected call reached the server");

    clock.advance(Duration::from_secs(30));
    assert_eq!(breaker.state(), State::HalfOpen);
    let response = send(&mut svc, Call::get("/ok")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.hits(), 4);
}

#[tokio::test]
async fn readiness_never_takes_the_half_open_trial() {
    let (server, client) = common::start().await;
    let config = BreakerConfig {
        failure_threshold: 1,
        success_threshold: 1,
        half_open_max_calls: 1,
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let (layer, breaker, clock) = common::http_breaker(config);
    let mut svc = layer.layer(client);

    send(&mut svc, Call::get("/fail")).await.unwrap();
    clock.advance(Duration::from_secs(10));
    assert_eq!(breaker.state(), State::HalfOpen);

    // Readiness, polled many times on several clones, takes nothing.
    let mut others: Vec<_> = (0..4).map(|_| svc.clone()).collect();
    for other in others.iter_mut().chain(std::iter::once(&mut svc)) {
        for _ in 0..25 {
            std::future::poll_fn(|cx| other.poll_ready(cx))
                .await
                .unwrap();
        }
    }

    // The one trial goes to the first call; it hangs until released.
    let trial = tokio::spawn(svc.call(Call::get("/hang")));
    match svc.call(Call::get("/ok")).await {
        Err(Error::Rejected(r)) => assert_eq!(r.state, State::HalfOpen),
        other => panic!("expected a HALF_OPEN rejection, got {other:?}"),
    }
    server.release.notify_one();
    assert_eq!(trial.await.unwrap().unwrap().status(), 200);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.hits(), 2, "the /fail call and the trial");
}

#[tokio::test]
async fn a_dropped_response_future_frees_its_trial_slot() {
    let (server, client) = common::start().await;
    let config = BreakerConfig {
        failure_threshold: 1,
        success_threshold: 1,
        half_open_max_calls: 1,
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let (layer, breaker, clock) = common::http_breaker(config);
    let mut svc = layer.layer(client);
    send(&mut svc, Call::get("/fail")).await.unwrap();
    clock.advance(Duration::from_secs(10));

    // The trial is taken by `call` and given back, as ignored, by the drop.
    let abandoned = svc.call(Call::get("/ok"));
    assert!(matches!(
        svc.call(Call::get("/ok")).await,
        Err(Error::Rejected(_))
    ));
    drop(abandoned);
    assert_eq!(breaker.state(), State::HalfOpen);

    let response = send(&mut svc, Call::get("/ok")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.hits(), 2);
}

#[tokio::test]
async fn the_default_classifier_counts_only_errors() {
    let (server, client) = common::start().await;
    let config = BreakerConfig {
        failure_threshold: 1,
        ..Default::default()
    };
    let breaker = Arc::new(Breaker::new("http", config).unwrap());
    let mut svc = CircuitBreakerLayer::new(Arc::clone(&breaker)).layer(client);
    // A 500 is a response, so a success to the default classifier.
    for _ in 0..3 {
        assert_eq!(
            send(&mut svc, Call::get("/fail")).await.unwrap().status(),
            500
        );
    }
    assert_eq!(breaker.state(), State::Closed);
    assert_eq!(server.hits(), 3);
}
