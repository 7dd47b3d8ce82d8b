//! The named retry policies (the table every face builds its presets from)
//! and the parts of `RetryState` that bindings drive step by step: a state
//! resumed after a first attempt made on the caller's fast path, delays of
//! the caller's own, and the budget's grant.

use std::time::Duration;

use seawall::{
    Backoff, ManualClock, RetryBudget, RetryBudgetConfig, RetryConfig, RetryPolicy, RetryState,
    RetryStrategy, Stop,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn every_policy_has_the_original_packages_values() {
    use RetryStrategy::{Exponential as Plain, ExponentialWithJitter as Jitter};
    // (name, description, strategy, attempts, initial ms, cap ms, base): the
    // original's RETRY_POLICIES, with attempts = max_retries + 1.
    let want = [
        ("standard", "General purpose", Jitter, 4, 1_000, 10_000, 2.0),
        (
            "network",
            "Network calls to other services",
            Jitter,
            4,
            500,
            10_000,
            2.0,
        ),
        (
            "conservative",
            "Few, widely spaced retries",
            Jitter,
            3,
            2_000,
            20_000,
            1.5,
        ),
        (
            "database",
            "Database operations",
            Jitter,
            6,
            1_000,
            30_000,
            1.5,
        ),
        (
            "webhook",
            "Outgoing webhooks",
            Plain,
            4,
            30_000,
            300_000,
            2.0,
        ),
        (
            "validation",
            "Validation: retry once",
            Plain,
            2,
            1_000,
            1_000,
            1.0,
        ),
        (
            "critical",
            "Critical operations: many quick retries",
            Jitter,
            11,
            100,
            60_000,
            1.3,
        ),
    ];
    assert_eq!(RetryPolicy::ALL.len(), want.len());
    for (p, (name, description, strategy, attempts, initial, max, base)) in
        RetryPolicy::ALL.into_iter().zip(want)
    {
        assert_eq!((p.name(), p.description()), (name, description));
        assert_eq!(RetryPolicy::from_name(name), Some(p));
        assert_eq!(
            p.config(),
            RetryConfig {
                strategy,
                max_attempts: attempts,
                initial_delay: initial * MS,
                max_delay: max * MS,
                exponential_base: base,
                jitter_factor: 0.1,
                max_total_delay: None,
            },
            "{name}"
        );
        assert!(Backoff::new(p.config()).is_ok(), "{name}");
    }
    assert_eq!(RetryPolicy::from_name("Network"), None);
    assert_eq!(RetryPolicy::from_name(""), None);
}

#[test]
fn a_preset_drives_a_retry_state() {
    let backoff = Backoff::new(RetryPolicy::Webhook.config()).unwrap();
    let mut state = RetryState::new(&backoff);
    let none = None::<&RetryBudget>;
    let mut delays = Vec::new();
    let stop = loop {
        state.begin_attempt();
        match state.on_failure(true, none, || 0.5) {
            Ok(d) => delays.push(d),
            Err(stop) => break stop,
        }
    };
    let s = Duration::from_secs;
    assert_eq!(delays, [s(30), s(60), s(120)]);
    assert_eq!((stop, state.attempts()), (Stop::Exhausted, 4));
}

fn fixed(max_attempts: u32) -> Backoff {
    Backoff::new(RetryConfig {
        strategy: RetryStrategy::Fixed,
        max_attempts,
        initial_delay: 100 * MS,
        max_delay: 1_000 * MS,
        max_total_delay: Some(5_000 * MS),
        ..Default::default()
    })
    .unwrap()
}

/// A budget whose bucket decides (below `min_requests`), holding `tokens`
/// retries.
fn budget(tokens: u32) -> RetryBudget<ManualClock> {
    let config = RetryBudgetConfig {
        min_requests: 1_000,
        max_tokens: tokens,
        ..Default::default()
    };
    RetryBudget::with_clock(config, ManualClock::new()).unwrap()
}

#[test]
fn a_resumed_state_continues_the_numbering_and_records_nothing_at_begin() {
    let b = budget(5);
    let mut state = RetryState::resumed(&fixed(3), 1);
    assert_eq!(state.attempts(), 1);
    assert_eq!(state.on_failure(true, Some(&b), || 0.5), Ok(100 * MS));
    assert_eq!(state.begin(Some(&b)), 2);
    // The grant counted the retry (as a request and a retry); begin
    // recorded nothing more.
    assert_eq!((b.counts().requests, b.counts().retries), (1, 1));
    assert_eq!(state.on_failure(true, Some(&b), || 0.5), Ok(100 * MS));
    assert_eq!(state.begin(Some(&b)), 3);
    assert_eq!(
        state.on_failure(true, Some(&b), || 0.5),
        Err(Stop::Exhausted)
    );
    // Resumed at the last attempt: nothing left to retry.
    let state = RetryState::resumed(&fixed(3), 3);
    assert_eq!(state.after_failure(true, || 0.5), Err(Stop::Exhausted));
}

#[test]
fn delays_of_the_callers_own_skip_the_cap_but_keep_the_limits() {
    let mut state = RetryState::resumed(&fixed(3), 1);
    // Called only when a delay is needed.
    assert_eq!(
        state.after_failure_with(false, |_| panic!("not needed")),
        Err(Stop::NotRetryable)
    );
    // Given the attempt that failed; not capped at max_delay (1 s).
    let d = state.after_failure_with(true, |n| n * 3_000 * MS).unwrap();
    assert_eq!(d, 3_000 * MS);
    let none = None::<&RetryBudget>;
    assert_eq!(state.grant(d, none), Ok(3_000 * MS));
    state.begin_attempt();
    // 3 s + 6 s would overrun max_total_delay (5 s).
    assert_eq!(
        state.after_failure_with(true, |n| n * 3_000 * MS),
        Err(Stop::DelayBudgetExhausted)
    );
    assert_eq!(
        state.after_failure_with(true, |_| 2_000 * MS),
        Ok(2_000 * MS)
    );
    // A refused grant commits nothing.
    let empty = budget(0);
    assert_eq!(
        state.grant(2_000 * MS, Some(&empty)),
        Err(Stop::BudgetExhausted)
    );
    assert_eq!(state.total_delay(), 3_000 * MS);
    assert_eq!(state.grant(2_000 * MS, none), Ok(2_000 * MS));
    assert_eq!(state.total_delay(), 5_000 * MS);
    state.begin_attempt();
    assert_eq!(
        state.after_failure_with(true, |_| panic!("exhausted first")),
        Err(Stop::Exhausted)
    );
}

#[test]
fn strategy_names_are_snake_case_and_round_trip() {
    let names = [
        (RetryStrategy::Fixed, "fixed"),
        (RetryStrategy::Linear, "linear"),
        (RetryStrategy::Exponential, "exponential"),
        (RetryStrategy::Fibonacci, "fibonacci"),
        (
            RetryStrategy::ExponentialWithJitter,
            "exponential_with_jitter",
        ),
        (RetryStrategy::DecorrelatedJitter, "decorrelated_jitter"),
    ];
    assert_eq!(RetryStrategy::ALL.len(), names.len());
    for ((s, name), all) in names.into_iter().zip(RetryStrategy::ALL) {
        assert_eq!((s, s.name()), (all, name));
        assert_eq!(RetryStrategy::from_name(name), Some(s));
    }
    assert_eq!(RetryStrategy::from_name("custom"), None);
}

#[test]
fn stop_names_are_snake_case() {
    let names = [
        (Stop::Exhausted, "exhausted"),
        (Stop::NotRetryable, "not_retryable"),
        (Stop::Rejected, "rejected"),
        (Stop::BudgetExhausted, "budget_exhausted"),
        (Stop::DelayBudgetExhausted, "delay_budget_exhausted"),
    ];
    for (stop, name) in names {
        assert_eq!(stop.name(), name);
    }
}
