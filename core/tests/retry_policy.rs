//! Retry settings: their validation (errors naming the field), the named
//! policies (the table every face builds its presets from), and the parts
//! of `RetryState` that bindings drive step by step: a state resumed after
//! a first attempt made on the caller's fast path, delays of the caller's
//! own, and the budget's grant.

use std::time::Duration;

use seawall::{
    Backoff, ManualClock, RetryBudget, RetryBudgetConfig, RetryConfig, RetryPolicy, RetryState,
    RetryStrategy, Stop,
};

const MS: Duration = Duration::from_millis(1);

#[test]
fn invalid_settings_name_the_field() {
    const YEAR: Duration = Duration::from_secs(365 * 24 * 3600);
    const NS: Duration = Duration::from_nanos(1);
    // Every field: below and above its range, NaN and infinities for the
    // numbers, the largest durations.
    type Set = fn(&mut RetryConfig);
    let rows: [(Set, &str); 17] = [
        (
            |c| c.max_attempts = 0,
            "invalid max_attempts = 0: must be an integer in [1, 4294967295]",
        ),
        (
            |c| (c.initial_delay, c.max_delay) = (YEAR + NS, YEAR + NS),
            "invalid initial_delay = 31536000.000000001s: must be a duration in [0, 365 days]",
        ),
        (
            |c| (c.initial_delay, c.max_delay) = (Duration::MAX, Duration::MAX),
            "invalid initial_delay = 18446744073709551615.999999999s: must be a duration in [0, 365 days]",
        ),
        (
            |c| c.max_delay = Duration::from_millis(10),
            "invalid max_delay = 10ms: must be a duration in [initial_delay, 365 days]",
        ),
        (
            |c| c.max_delay = Duration::ZERO,
            "invalid max_delay = 0ns: must be a duration in [initial_delay, 365 days]",
        ),
        (
            |c| c.max_delay = YEAR + NS,
            "invalid max_delay = 31536000.000000001s: must be a duration in [initial_delay, 365 days]",
        ),
        (|c| c.exponential_base = 0.5, "invalid exponential_base = 0.5: must be a number in [1, 1000]"),
        (|c| c.exponential_base = -2.0, "invalid exponential_base = -2.0: must be a number in [1, 1000]"),
        (
            |c| c.exponential_base = 1000.001,
            "invalid exponential_base = 1000.001: must be a number in [1, 1000]",
        ),
        (|c| c.exponential_base = f64::NAN, "invalid exponential_base = NaN: must be a number in [1, 1000]"),
        (
            |c| c.exponential_base = f64::INFINITY,
            "invalid exponential_base = inf: must be a number in [1, 1000]",
        ),
        (|c| c.jitter_factor = -0.1, "invalid jitter_factor = -0.1: must be a fraction in [0, 1]"),
        (|c| c.jitter_factor = 1.5, "invalid jitter_factor = 1.5: must be a fraction in [0, 1]"),
        (|c| c.jitter_factor = f64::NAN, "invalid jitter_factor = NaN: must be a fraction in [0, 1]"),
        (
            |c| c.jitter_factor = f64::NEG_INFINITY,
            "invalid jitter_factor = -inf: must be a fraction in [0, 1]",
        ),
        (
            |c| c.max_total_delay = Some(YEAR + NS),
            "invalid max_total_delay = 31536000.000000001s: must be unset or a duration in [0, 365 days]",
        ),
        (
            |c| c.max_total_delay = Some(Duration::MAX),
            "invalid max_total_delay = 18446744073709551615.999999999s: must be unset or a duration in [0, 365 days]",
        ),
    ];
    for (set, want) in rows {
        let mut c = RetryConfig::default();
        set(&mut c);
        assert_eq!(Backoff::new(c).unwrap_err().to_string(), want);
    }
    // The edges of every range are accepted.
    for set in [
        (|c| c.max_attempts = 1) as Set,
        |c| c.max_attempts = 1000,
        |c| (c.initial_delay, c.max_delay) = (Duration::ZERO, Duration::ZERO),
        |c| (c.initial_delay, c.max_delay) = (YEAR, YEAR),
        |c| c.exponential_base = 1.0,
        |c| c.exponential_base = 1000.0,
        |c| c.jitter_factor = 0.0,
        |c| c.jitter_factor = 1.0,
        |c| c.max_total_delay = Some(Duration::ZERO),
        |c| c.max_total_delay = Some(YEAR),
    ] {
        let mut c = RetryConfig::default();
        set(&mut c);
        assert!(Backoff::new(c).is_ok(), "{c:?}");
    }
    let d = RetryConfig::default();
    assert_eq!(d.strategy, RetryStrategy::ExponentialWithJitter);
    assert_eq!(
        (d.max_attempts, d.initial_delay, d.max_delay),
        (3, Duration::from_secs(1), Duration::from_secs(60))
    );
    assert_eq!((d.exponential_base, d.jitter_factor), (2.0, 0.1));
}

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
