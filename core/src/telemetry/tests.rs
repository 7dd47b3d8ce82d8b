use std::time::Duration;

use super::*;
use crate::{
    Breaker, BreakerConfig, Bulkhead, BulkheadConfig, BulkheadError, ManualClock, RateLimitConfig,
    RateLimiter, RetryBudget, RetryBudgetConfig, Transitions, Window,
};

/// The value of `family`'s sample for engine `name` with `labels`.
pub(crate) fn value(families: &[Family], family: &str, name: &str, labels: &[Label]) -> f64 {
    let f = families
        .iter()
        .find(|f| f.name == family)
        .unwrap_or_else(|| panic!("no family {family}"));
    f.samples
        .iter()
        .find(|s| &*s.name == name && s.labels == labels)
        .unwrap_or_else(|| panic!("no sample {family}{{name={name},{labels:?}}}"))
        .value
}

/// Opens, half-opens and closes a breaker, with rejections on the way.
pub(crate) fn scripted_breaker(clock: &ManualClock) -> Breaker<ManualClock> {
    let config = BreakerConfig {
        failure_threshold: 2,
        success_threshold: 1,
        timeout: Duration::from_secs(10),
        ..Default::default()
    };
    let b = Breaker::with_clock("users", config, clock.clone()).unwrap();
    b.try_acquire().unwrap().success();
    b.try_acquire().unwrap().ignore();
    b.try_acquire().unwrap().failure();
    b.try_acquire().unwrap().failure(); // opens
    for _ in 0..3 {
        b.try_acquire().unwrap_err();
    }
    clock.advance(Duration::from_secs(10));
    b.try_acquire().unwrap().success(); // half-open trial, closes
    clock.advance(Duration::from_secs(2));
    b
}

#[test]
fn breaker_families_equal_the_breakers_counters() {
    let clock = ManualClock::new();
    let b = scripted_breaker(&clock);
    let m = b.metrics();
    let mut c = Catalog::new();
    c.breaker(b.name(), &m);
    let f = c.finish();
    let v = |family, labels| value(&f, family, "users", labels);
    assert_eq!(v("seawall_breaker_calls", &[("outcome", "success")]), 2.0);
    assert_eq!(v("seawall_breaker_calls", &[("outcome", "failure")]), 2.0);
    assert_eq!(v("seawall_breaker_calls", &[("outcome", "ignored")]), 1.0);
    assert_eq!(v("seawall_breaker_rejected_calls", &[]), m.rejected as f64);
    assert_eq!(m.rejected, 3);
    let t = "seawall_breaker_transitions";
    assert_eq!(v(t, &[("from", "closed"), ("to", "open")]), 1.0);
    assert_eq!(v(t, &[("from", "open"), ("to", "half_open")]), 1.0);
    assert_eq!(v(t, &[("from", "half_open"), ("to", "closed")]), 1.0);
    assert_eq!(v(t, &[("from", "half_open"), ("to", "open")]), 0.0);
    assert_eq!(v("seawall_breaker_state", &[("state", "closed")]), 1.0);
    assert_eq!(v("seawall_breaker_state", &[("state", "open")]), 0.0);
    assert_eq!(v("seawall_breaker_state_duration_seconds", &[]), 2.0);
    assert_eq!(v("seawall_breaker_trial_calls_in_flight", &[]), 0.0);
    // No window configured: no ratio; no fleet.
    assert!(f
        .iter()
        .all(|f| f.name != "seawall_breaker_window_failure_ratio"));
    assert!(f.iter().all(|f| !f.name.contains("fleet")));
    // The state machine's four pairs are reported from zero; a pair
    // through a forced state only once it has happened.
    let pairs = |f: &[Family]| f.iter().find(|f| f.name == t).unwrap().samples.len();
    assert_eq!(pairs(&f), 4);
    b.force_open();
    b.reset();
    let mut c = Catalog::new();
    c.breaker(b.name(), &b.metrics());
    let f = c.finish();
    assert_eq!(pairs(&f), 6);
    assert_eq!(
        value(&f, t, "users", &[("from", "closed"), ("to", "forced_open")]),
        1.0
    );
    assert_eq!(
        value(&f, t, "users", &[("from", "forced_open"), ("to", "closed")]),
        1.0
    );
}

#[test]
fn transitions_are_counted_by_pair_and_sum_to_the_entries() {
    let clock = ManualClock::new();
    let b = scripted_breaker(&clock);
    b.force_open();
    b.reset();
    let t = b.metrics().transitions;
    assert_eq!(t.between(State::Closed, State::ForcedOpen), 1);
    assert_eq!(t.between(State::ForcedOpen, State::Closed), 1);
    for to in State::ALL {
        let entries: u64 = State::ALL.iter().map(|&from| t.between(from, to)).sum();
        let expected = match to {
            State::Closed => t.to_closed,
            State::Open => t.to_open,
            State::HalfOpen => t.to_half_open,
            State::ForcedOpen => t.to_forced_open,
            State::ForcedClosed => t.to_forced_closed,
        };
        assert_eq!(entries, expected, "{to}");
    }
    b.clear_metrics();
    assert_eq!(b.metrics().transitions, Transitions::default());
}

#[test]
fn window_failure_ratio_reads_the_window() {
    let config = BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Count { size: 10 },
        failure_rate_threshold: Some(0.9),
        minimum_calls: 10,
        ..Default::default()
    };
    let b = Breaker::with_clock("w", config, ManualClock::new()).unwrap();
    let ratio = |b: &Breaker<ManualClock>| {
        let mut c = Catalog::new();
        c.breaker(b.name(), &b.metrics());
        value(
            &c.finish(),
            "seawall_breaker_window_failure_ratio",
            "w",
            &[],
        )
    };
    assert_eq!(ratio(&b), 0.0);
    for _ in 0..3 {
        b.try_acquire().unwrap().success();
    }
    b.try_acquire().unwrap().failure();
    assert_eq!(ratio(&b), 0.25);
}

#[test]
fn other_engines_report_their_exact_counts() {
    let clock = ManualClock::new();
    let bh = Bulkhead::with_clock(
        BulkheadConfig {
            max_concurrent: 2,
            max_queue_size: 1,
            timeout: Duration::from_secs(1),
        },
        clock.clone(),
    )
    .unwrap();
    let p1 = bh.try_acquire().unwrap();
    let _p2 = bh.try_acquire().unwrap();
    assert_eq!(bh.try_acquire().unwrap_err(), BulkheadError::Full);
    let crate::Admission::Queued(w) = bh.enqueue().unwrap() else {
        panic!("queued expected")
    };
    assert_eq!(bh.enqueue().unwrap_err(), BulkheadError::Full);
    let m = bh.metrics();
    assert_eq!((m.in_use, m.queued, m.capacity, m.rejected), (2, 1, 2, 2));
    assert!(bh.try_take().is_none(), "full");
    assert_eq!(bh.metrics().rejected, 2, "try_take counts no refusal");
    clock.advance(Duration::from_secs(1));
    assert_eq!(w.try_acquire().unwrap_err(), BulkheadError::Timeout);
    assert_eq!(w.try_acquire().unwrap_err(), BulkheadError::Timeout);
    drop(p1);
    let m = bh.metrics();
    assert_eq!(
        (m.in_use, m.queued, m.rejected),
        (1, 0, 3),
        "a timeout counts once"
    );

    let rl = RateLimiter::with_clock(
        RateLimitConfig {
            rate: 1,
            period: Duration::from_secs(1),
            burst: 2,
            ..Default::default()
        },
        clock.clone(),
    )
    .unwrap();
    rl.check().unwrap();
    rl.reserve(Duration::ZERO).unwrap();
    rl.check().unwrap_err();
    rl.reserve(Duration::ZERO).unwrap_err();
    rl.reserve(Duration::from_secs(5)).unwrap();
    assert_eq!(
        rl.metrics(),
        RateLimiterMetrics {
            allowed: 3,
            denied: 2
        }
    );

    let budget = RetryBudget::with_clock(
        RetryBudgetConfig {
            min_requests: 0,
            max_tokens: 0,
            budget_percent: 25.0,
            ..Default::default()
        },
        clock.clone(),
    )
    .unwrap();
    for _ in 0..3 {
        budget.record_attempt(false);
    }
    assert!(budget.can_retry());
    assert!(!budget.can_retry());
    assert!(!budget.can_retry());
    let m = budget.metrics();
    assert_eq!(m.exhausted, 2);
    assert_eq!(m.remaining_ratio, budget.remaining_percent() / 100.0);

    let stats = RetryStats::new();
    stats.record(RetryOutcome::succeeded(1), 1);
    stats.record(RetryOutcome::succeeded(3), 3);
    stats.record(RetryOutcome::stopped(crate::Stop::Exhausted), 4);
    stats.record(RetryOutcome::stopped(crate::Stop::NotRetryable), 1);

    let mut c = Catalog::new();
    c.bulkhead("pool", &bh.metrics());
    c.rate_limiter("api", &rl.metrics());
    c.retry_budget("budget", &budget.metrics());
    c.retry("fetch", &stats.counts());
    let f = c.finish();
    assert_eq!(value(&f, "seawall_bulkhead_in_use", "pool", &[]), 1.0);
    assert_eq!(value(&f, "seawall_bulkhead_capacity", "pool", &[]), 2.0);
    assert_eq!(
        value(&f, "seawall_bulkhead_rejected_calls", "pool", &[]),
        3.0
    );
    assert_eq!(value(&f, "seawall_rate_limiter_allowed", "api", &[]), 3.0);
    assert_eq!(value(&f, "seawall_rate_limiter_denied", "api", &[]), 2.0);
    assert_eq!(
        value(&f, "seawall_retry_budget_exhausted", "budget", &[]),
        2.0
    );
    let calls = |o| value(&f, "seawall_retry_calls", "fetch", &[("outcome", o)]);
    assert_eq!(
        [
            calls("success"),
            calls("success_after_retry"),
            calls("gave_up"),
            calls("not_retryable")
        ],
        [1.0; 4]
    );
    assert_eq!(value(&f, "seawall_retry_attempts", "fetch", &[]), 5.0);
}

#[test]
fn names_follow_one_scheme() {
    let f = Family {
        name: "seawall_breaker_calls",
        help: "",
        kind: MetricKind::Counter,
        samples: vec![],
    };
    assert_eq!(f.dotted_name(), "seawall.breaker.calls");
    for (name, _, kind) in FAMILIES {
        assert!(name.starts_with("seawall_"), "{name}");
        assert!(!name.ends_with("_total"), "{name}: exporters add _total");
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{name}"
        );
        if kind == MetricKind::Counter {
            assert!(
                !name.ends_with("_seconds") && !name.ends_with("_ratio"),
                "{name}"
            );
        }
    }
    for (s, l) in State::ALL.iter().zip(STATE_LABELS) {
        assert_eq!(s.label(), l);
    }
    assert!(Catalog::new().finish().is_empty());
}

#[test]
fn engines_of_one_kind_sharing_a_name_report_as_one() {
    let clock = ManualClock::new();
    let config = BreakerConfig {
        failure_threshold: 1,
        ..Default::default()
    };
    let a = Breaker::with_clock("users", config.clone(), clock.clone()).unwrap();
    let b = Breaker::with_clock("users", config, clock.clone()).unwrap();
    a.try_acquire().unwrap().success();
    a.try_acquire().unwrap().success();
    b.try_acquire().unwrap().failure(); // opens b
    let one_per_second = RateLimitConfig {
        rate: 1,
        period: Duration::from_secs(1),
        burst: 1,
        ..Default::default()
    };
    let l = RateLimiter::with_clock(one_per_second, clock.clone()).unwrap();
    l.check().unwrap();
    let mut c = Catalog::new();
    c.breaker("users", &a.metrics());
    c.breaker("users", &b.metrics());
    // Another kind may use the same name.
    c.rate_limiter("users", &l.metrics());
    let f = c.finish();
    for family in &f {
        let keys: std::collections::HashSet<_> =
            family.samples.iter().map(|s| (&s.name, s.labels)).collect();
        assert_eq!(
            keys.len(),
            family.samples.len(),
            "{} has duplicate samples",
            family.name
        );
    }
    let v = |family, labels| value(&f, family, "users", labels);
    // Counters add up; of the gauges, the last engine's.
    assert_eq!(v("seawall_breaker_calls", &[("outcome", "success")]), 2.0);
    assert_eq!(v("seawall_breaker_calls", &[("outcome", "failure")]), 1.0);
    assert_eq!(
        v(
            "seawall_breaker_transitions",
            &[("from", "closed"), ("to", "open")]
        ),
        1.0
    );
    assert_eq!(v("seawall_breaker_state", &[("state", "open")]), 1.0);
    assert_eq!(v("seawall_breaker_state", &[("state", "closed")]), 0.0);
    assert_eq!(v("seawall_rate_limiter_allowed", &[]), 1.0);
}

#[test]
fn an_adaptive_limiter_reports_its_limit_and_exact_counts() {
    let config = crate::AdaptiveLimiterConfig {
        initial_limit: 2,
        ..Default::default()
    };
    let l = crate::AdaptiveLimiter::with_clock(config, ManualClock::new()).unwrap();
    let held = l.try_acquire().unwrap();
    drop(l.try_acquire().unwrap());
    let _again = l.try_acquire().unwrap();
    l.try_acquire().unwrap_err();
    let mut c = Catalog::new();
    c.adaptive_limiter("search", &l.metrics());
    let f = c.finish();
    let v = |family| value(&f, family, "search", &[]);
    assert_eq!(v("seawall_adaptive_limiter_limit"), 2.0);
    assert_eq!(v("seawall_adaptive_limiter_in_flight"), 2.0);
    assert_eq!(v("seawall_adaptive_limiter_admitted_calls"), 3.0);
    assert_eq!(v("seawall_adaptive_limiter_rejected_calls"), 1.0);
    drop(held);
}

#[test]
fn a_throttler_a_fault_injector_and_a_hedge_report_their_snapshots() {
    // A real throttler whose backend refused twice and accepted once.
    let t =
        crate::AdaptiveThrottler::with_clock(crate::ThrottleConfig::default(), ManualClock::new())
            .unwrap();
    t.record(false);
    t.record(false);
    t.record(true);
    let f = crate::FaultInjector::new(crate::FaultConfig {
        enabled: true,
        error_rate: 1.0,
        ..Default::default()
    })
    .unwrap();
    assert_eq!(f.decide(), crate::Fault::Error);
    let mut c = Catalog::new();
    c.throttler("api", &t.metrics());
    c.fault_injector("chaos", &f.metrics());
    c.hedge(
        "search",
        &HedgeMetrics {
            calls: 9,
            hedges: 3,
            refused: 1,
            wins: 2,
        },
    );
    let fams = c.finish();
    let v = |family, name, labels: &[Label]| value(&fams, family, name, labels);
    assert_eq!(v("seawall_throttler_requests", "api", &[]), 3.0);
    assert_eq!(v("seawall_throttler_accepts", "api", &[]), 1.0);
    assert_eq!(v("seawall_throttler_throttled_calls", "api", &[]), 0.0);
    // (3 - 2 * 1) / (3 + 1)
    assert_eq!(
        v("seawall_throttler_rejection_probability", "api", &[]),
        0.25
    );
    assert_eq!(v("seawall_fault_injection_enabled", "chaos", &[]), 1.0);
    assert_eq!(
        v("seawall_fault_injections", "chaos", &[("kind", "error")]),
        1.0
    );
    assert_eq!(
        v("seawall_fault_injections", "chaos", &[("kind", "latency")]),
        0.0
    );
    assert_eq!(v("seawall_hedge_calls", "search", &[]), 9.0);
    assert_eq!(v("seawall_hedge_attempts", "search", &[]), 3.0);
    assert_eq!(v("seawall_hedge_refused", "search", &[]), 1.0);
    assert_eq!(v("seawall_hedge_wins", "search", &[]), 2.0);
}
