//! The `prometheus-client` collector: the scraped text carries the engines'
//! exact counters after a scripted run (open, half-open, close, rejections).
#![cfg(feature = "prometheus-client")]

use std::sync::Arc;
use std::time::Duration;

use seawall::telemetry::prometheus::RegistryCollector;
use seawall::{BreakerConfig, ManualClock, Registry, State};

/// The value of the sample line `series` (name and labels, as printed).
fn sample(text: &str, series: &str) -> f64 {
    let line = text
        .lines()
        .find(|l| l.rsplit_once(' ').is_some_and(|(s, _)| s == series))
        .unwrap_or_else(|| panic!("no sample {series} in\n{text}"));
    line.rsplit_once(' ').unwrap().1.parse().unwrap()
}

#[test]
fn scraped_text_equals_the_breakers_counters() {
    let clock = ManualClock::new();
    let breakers = Arc::new(Registry::with_clock(clock.clone()));
    let config = BreakerConfig {
        failure_threshold: 2,
        success_threshold: 1,
        timeout: Duration::from_secs(30),
        ..Default::default()
    };
    let users = breakers.get_or_create("users", &config).unwrap();
    let orders = breakers.get_or_create("orders", &config).unwrap();
    for _ in 0..5 {
        users.try_acquire().unwrap().success();
    }
    users.try_acquire().unwrap().failure();
    users.try_acquire().unwrap().failure(); // opens
    for _ in 0..4 {
        users.try_acquire().unwrap_err();
    }
    clock.advance(Duration::from_secs(30));
    users.try_acquire().unwrap().failure(); // half-open trial fails: reopens
    clock.advance(Duration::from_secs(30));
    users.try_acquire().unwrap().success(); // closes
    orders.try_acquire().unwrap().ignore();
    clock.advance(Duration::from_millis(1500));

    let mut registry = prometheus_client::registry::Registry::default();
    registry.register_collector(Box::new(RegistryCollector::new(Arc::clone(&breakers))));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();

    let m = users.metrics();
    assert_eq!(m.state, State::Closed);
    let s = |series: &str| sample(&text, series);
    let calls = |name: &str, outcome: &str| {
        s(&format!(
            "seawall_breaker_calls_total{{name=\"{name}\",outcome=\"{outcome}\"}}"
        ))
    };
    assert_eq!(calls("users", "success"), m.successes as f64);
    assert_eq!(calls("users", "failure"), m.failures as f64);
    assert_eq!(calls("users", "ignored"), m.ignored as f64);
    assert_eq!((m.successes, m.failures, m.ignored), (6, 3, 0));
    assert_eq!(calls("orders", "ignored"), 1.0);
    assert_eq!(
        s("seawall_breaker_rejected_calls_total{name=\"users\"}"),
        m.rejected as f64
    );
    assert_eq!(m.rejected, 4);
    let t = |from: &str, to: &str| {
        s(&format!(
            "seawall_breaker_transitions_total{{name=\"users\",from=\"{from}\",to=\"{to}\"}}"
        ))
    };
    assert_eq!(t("closed", "open"), 1.0);
    assert_eq!(t("open", "half_open"), 2.0);
    assert_eq!(t("half_open", "open"), 1.0);
    assert_eq!(t("half_open", "closed"), 1.0);
    // A pair through a forced state is left out until it happens.
    assert!(!text.contains("to=\"forced_open\""));
    assert_eq!(m.transitions.to_open, 2);
    assert_eq!(
        s("seawall_breaker_state{name=\"users\",state=\"closed\"}"),
        1.0
    );
    assert_eq!(
        s("seawall_breaker_state{name=\"users\",state=\"open\"}"),
        0.0
    );
    assert_eq!(
        s("seawall_breaker_state_duration_seconds{name=\"users\"}"),
        1.5
    );
    assert!(text.contains("# TYPE seawall_breaker_calls counter\n"));
    assert!(text.contains("# TYPE seawall_breaker_state gauge\n"));
    assert!(text.ends_with("# EOF\n"));
}
