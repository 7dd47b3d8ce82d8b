//! Back-off schedules and the retry executor on the manual clock: every
//! strategy's schedule, seeded jitter, stop conditions, and the interplay
//! with a breaker and a retry budget. Nothing sleeps: `ManualSleep` advances
//! the clock the breaker and the budget read.

use std::time::Duration;

use seawall::{
    Backoff, Breaker, BreakerConfig, CallError, Clock, ManualClock, ManualSleep, Outcome, Retry,
    RetryBudget, RetryBudgetConfig, RetryConfig, RetryError, RetryHooks, RetryState, RetryStrategy,
    Sleep, State, Stop,
};

const MS: Duration = Duration::from_millis(1);

fn backoff(strategy: RetryStrategy, f: impl FnOnce(&mut RetryConfig)) -> Backoff {
    let mut c = RetryConfig {
        strategy,
        max_attempts: 10,
        initial_delay: 100 * MS,
        max_delay: 10_000 * MS,
        exponential_base: 2.0,
        jitter_factor: 0.0,
        ..Default::default()
    };
    f(&mut c);
    Backoff::new(c).unwrap()
}

/// The delays after attempts 1..=n, threading the previous delay through.
fn schedule(p: &Backoff, n: u32, mut unit: impl FnMut() -> f64) -> Vec<Duration> {
    let mut prev = Duration::ZERO;
    (1..=n)
        .map(|a| {
            let d = p.delay(a, prev, unit());
            prev = d;
            d
        })
        .collect()
}

fn ms(v: &[u32]) -> Vec<Duration> {
    v.iter().map(|&m| m * MS).collect()
}

#[test]
fn deterministic_strategies_follow_their_formulas_and_the_cap() {
    let half = || 0.5;
    let p = backoff(RetryStrategy::Fixed, |_| {});
    assert_eq!(schedule(&p, 4, half), ms(&[100, 100, 100, 100]));
    let p = backoff(RetryStrategy::Linear, |c| c.max_delay = 350 * MS);
    assert_eq!(schedule(&p, 5, half), ms(&[100, 200, 300, 350, 350]));
    let p = backoff(RetryStrategy::Exponential, |c| c.max_delay = 1000 * MS);
    assert_eq!(schedule(&p, 6, half), ms(&[100, 200, 400, 800, 1000, 1000]));
    let p = backoff(RetryStrategy::Exponential, |c| c.exponential_base = 1.5);
    assert_eq!(
        schedule(&p, 4, half),
        vec![100 * MS, 150 * MS, 225 * MS, Duration::from_micros(337_500)]
    );
    let p = backoff(RetryStrategy::Fibonacci, |c| c.max_delay = 1000 * MS);
    assert_eq!(
        schedule(&p, 8, half),
        ms(&[100, 100, 200, 300, 500, 800, 1000, 1000])
    );
}

#[test]
fn exponential_with_jitter_disabled_is_exponential_whatever_the_random_number() {
    let jittered = backoff(RetryStrategy::ExponentialWithJitter, |c| {
        c.jitter_factor = 0.0
    });
    for unit in [0.0, 0.3, 0.999] {
        assert_eq!(
            schedule(&jittered, 5, || unit),
            ms(&[100, 200, 400, 800, 1600])
        );
    }
}

#[test]
fn exponential_with_jitter_spreads_by_the_factor_and_stays_capped() {
    let p = backoff(RetryStrategy::ExponentialWithJitter, |c| {
        c.jitter_factor = 0.5;
        c.max_delay = 1000 * MS;
    });
    // unit 0 -> factor 0.5; unit 0.75 -> factor 1.25.
    assert_eq!(p.delay(1, Duration::ZERO, 0.0), 50 * MS);
    assert_eq!(p.delay(3, Duration::ZERO, 0.0), 200 * MS);
    assert_eq!(p.delay(3, Duration::ZERO, 0.75), 500 * MS);
    // 800 ms * 1.25 = 1000 ms; 1600 ms caps at 1000 before and after.
    assert_eq!(p.delay(4, Duration::ZERO, 0.75), 1000 * MS);
    assert_eq!(p.delay(5, Duration::ZERO, 0.75), 1000 * MS);
    assert_eq!(p.delay(5, Duration::ZERO, 0.0), 500 * MS);
    // Out-of-range random numbers are clamped, not trusted.
    assert_eq!(p.delay(1, Duration::ZERO, -3.0), 50 * MS);
    assert_eq!(p.delay(1, Duration::ZERO, f64::NAN), 50 * MS);
    assert!(p.delay(1, Duration::ZERO, 7.0) < 150 * MS);
}

#[test]
fn decorrelated_jitter_draws_between_the_initial_delay_and_three_times_the_last() {
    let p = backoff(RetryStrategy::DecorrelatedJitter, |c| {
        c.max_delay = 1000 * MS
    });
    // First retry: previous is the initial delay, so [100, 300).
    assert_eq!(p.delay(1, Duration::ZERO, 0.0), 100 * MS);
    assert_eq!(p.delay(1, Duration::ZERO, 0.5), 200 * MS);
    // After 200 ms: [100, 600).
    assert_eq!(p.delay(2, 200 * MS, 0.5), 350 * MS);
    // After 900 ms: the upper end caps at max_delay.
    assert_eq!(p.delay(3, 900 * MS, 0.5), 550 * MS);
    // A constant draw of 0.5: 200, 350, then 550 for good (the upper end
    // capped at 1000).
    assert_eq!(
        schedule(&p, 5, || 0.5),
        vec![200 * MS, 350 * MS, 550 * MS, 550 * MS, 550 * MS]
    );
}

/// Hooks with a seeded generator that record every retry.
struct Recording {
    rng: fastrand::Rng,
    retries: Vec<(u32, String, Duration)>,
    retryable: fn(&String) -> bool,
    outcome: Outcome,
}

impl Recording {
    fn seeded(seed: u64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            retries: Vec::new(),
            retryable: |_| true,
            outcome: Outcome::Failure,
        }
    }
}

impl RetryHooks<String> for Recording {
    fn is_retryable(&mut self, error: &String) -> bool {
        (self.retryable)(error)
    }
    fn outcome(&mut self, _: &String) -> Outcome {
        self.outcome
    }
    fn on_retry(&mut self, attempt: u32, error: &CallError<String>, delay: Duration) {
        let e = match error {
            CallError::Failed(e) => e.clone(),
            CallError::Rejected(r) => format!("rejected: {r}"),
        };
        self.retries.push((attempt, e, delay));
    }
    fn random(&mut self) -> f64 {
        self.rng.f64()
    }
}

fn always_fail(attempt: u32) -> Result<(), String> {
    Err(format!("fail {attempt}"))
}

#[test]
fn seeded_jitter_is_reproducible_and_matches_the_pure_schedule() {
    for strategy in [
        RetryStrategy::ExponentialWithJitter,
        RetryStrategy::DecorrelatedJitter,
    ] {
        let p = backoff(strategy, |c| {
            c.max_attempts = 6;
            c.jitter_factor = 0.2;
        });
        let sleep = ManualSleep::new(ManualClock::new());
        let mut hooks = Recording::seeded(42);
        let err = Retry::new(&p, &sleep)
            .run_with(always_fail, &mut hooks)
            .unwrap_err();
        assert_eq!(err.stop, Stop::Exhausted);
        assert_eq!(err.attempts, 6);
        let mut rng = fastrand::Rng::with_seed(42);
        let expected = schedule(&p, 5, || rng.f64());
        let slept: Vec<Duration> = hooks.retries.iter().map(|r| r.2).collect();
        assert_eq!(slept, expected, "{strategy:?}");
        assert_eq!(err.total_delay, expected.iter().sum::<Duration>());
        assert_eq!(sleep.slept(), err.total_delay);
        // A second run with the same seed sleeps the same schedule.
        let mut again = Recording::seeded(42);
        let _ = Retry::new(&p, &sleep).run_with(always_fail, &mut again);
        assert_eq!(again.retries, hooks.retries);
    }
    // The jittered exponential stays within +-20% of the plain schedule.
    let p = backoff(RetryStrategy::ExponentialWithJitter, |c| {
        c.jitter_factor = 0.2
    });
    let mut rng = fastrand::Rng::with_seed(7);
    for (a, d) in (1..=6).zip(schedule(&p, 6, || rng.f64())) {
        let plain = 100.0 * 2f64.powi(a - 1);
        let got = d.as_secs_f64() * 1000.0;
        assert!(
            got >= plain * 0.8 && got < plain * 1.2,
            "attempt {a}: {got} ms"
        );
    }
}

#[test]
fn succeeds_after_retries_with_the_hook_seeing_each_failure() {
    let p = backoff(RetryStrategy::Exponential, |c| c.max_attempts = 5);
    let clock = ManualClock::new();
    let sleep = ManualSleep::new(clock.clone());
    let mut hooks = Recording::seeded(1);
    let out = Retry::new(&p, &sleep)
        .run_with(
            |a| {
                if a < 4 {
                    Err(format!("fail {a}"))
                } else {
                    Ok(a * 10)
                }
            },
            &mut hooks,
        )
        .unwrap();
    assert_eq!((out.value, out.attempts), (40, 4));
    assert_eq!(out.total_delay, 700 * MS);
    assert_eq!(
        hooks.retries,
        vec![
            (1, "fail 1".to_string(), 100 * MS),
            (2, "fail 2".to_string(), 200 * MS),
            (3, "fail 3".to_string(), 400 * MS),
        ]
    );
    assert_eq!(Duration::from_nanos(clock.now()), 700 * MS);
}

#[test]
fn exhaustion_returns_the_last_error_and_the_books() {
    let p = backoff(RetryStrategy::Fixed, |c| c.max_attempts = 3);
    let sleep = ManualSleep::new(ManualClock::new());
    let mut calls = 0;
    let err = Retry::new(&p, &sleep)
        .run(|a| {
            calls += 1;
            Err::<(), _>(a)
        })
        .unwrap_err();
    assert_eq!(calls, 3);
    assert_eq!(
        err,
        RetryError {
            attempts: 3,
            total_delay: 200 * MS,
            stop: Stop::Exhausted,
            error: CallError::Failed(3),
        }
    );
    assert_eq!(err.to_string(), "gave up after 3 attempt(s) (Exhausted): 3");
    // One attempt allowed: no retry, no sleep.
    let once = backoff(RetryStrategy::Fixed, |c| c.max_attempts = 1);
    let err = Retry::new(&once, &sleep).run(always_fail).unwrap_err();
    assert_eq!(
        (err.attempts, err.stop, err.total_delay),
        (1, Stop::Exhausted, Duration::ZERO)
    );
}

#[test]
fn any_attempt_count_is_accepted_and_honoured_exactly() {
    for max in [1_001, 1_000_000, u32::MAX] {
        let p = backoff(RetryStrategy::Exponential, |c| c.max_attempts = max);
        assert_eq!(p.config().max_attempts, max);
    }
    let p = backoff(RetryStrategy::Fixed, |c| c.max_attempts = 5_000);
    let sleep = ManualSleep::new(ManualClock::new());
    let err = Retry::new(&p, &sleep).run(always_fail).unwrap_err();
    assert_eq!((err.attempts, err.stop), (5_000, Stop::Exhausted));
}

#[test]
fn a_non_retryable_error_stops_at_once() {
    let p = backoff(RetryStrategy::Fixed, |_| {});
    let sleep = ManualSleep::new(ManualClock::new());
    let mut hooks = Recording::seeded(0);
    hooks.retryable = |e| e.starts_with("transient");
    let err = Retry::new(&p, &sleep)
        .run_with(
            |a| {
                Err::<(), _>(if a < 3 {
                    "transient".into()
                } else {
                    "fatal".to_string()
                })
            },
            &mut hooks,
        )
        .unwrap_err();
    assert_eq!((err.attempts, err.stop), (3, Stop::NotRetryable));
    assert_eq!(err.error, CallError::Failed("fatal".to_string()));
    assert_eq!(hooks.retries.len(), 2);
    assert_eq!(sleep.slept(), 200 * MS);
}

#[test]
fn the_total_delay_cap_stops_before_a_delay_that_would_pass_it() {
    let p = backoff(RetryStrategy::Exponential, |c| {
        c.max_total_delay = Some(350 * MS)
    });
    let sleep = ManualSleep::new(ManualClock::new());
    let err = Retry::new(&p, &sleep).run(always_fail).unwrap_err();
    // 100 + 200 fit; the next 400 would not.
    assert_eq!(err.stop, Stop::DelayBudgetExhausted);
    assert_eq!((err.attempts, err.total_delay), (3, 300 * MS));
}

#[test]
fn per_call_state_is_not_shared_between_concurrent_calls() {
    struct NoSleep;
    impl Sleep for NoSleep {
        fn sleep(&self, _: Duration) {}
    }
    let p = backoff(RetryStrategy::Fixed, |c| c.max_attempts = 4);
    let retry = Retry::new(&p, &NoSleep);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..4)
            .map(|_| {
                s.spawn(|| {
                    let mut seen = Vec::new();
                    let err = retry
                        .run(|a| {
                            seen.push(a);
                            Err::<(), _>(())
                        })
                        .unwrap_err();
                    (seen, err.attempts)
                })
            })
            .collect();
        for r in runs {
            assert_eq!(r.join().unwrap(), (vec![1, 2, 3, 4], 4));
        }
    });
}

#[test]
fn retry_state_is_usable_without_the_executor() {
    let p = backoff(RetryStrategy::Linear, |c| c.max_attempts = 3);
    let mut s = RetryState::new(&p);
    assert_eq!(s.begin_attempt(), 1);
    let d = s.after_failure(true, || 0.0).unwrap();
    assert_eq!(d, 100 * MS);
    s.commit(d);
    assert_eq!(s.begin_attempt(), 2);
    assert_eq!(s.after_failure(false, || 0.0), Err(Stop::NotRetryable));
    let d = s.after_failure(true, || 0.0).unwrap();
    assert_eq!(d, 200 * MS);
    s.commit(d);
    assert_eq!(s.begin_attempt(), 3);
    assert_eq!(
        s.after_failure(true, || panic!("not drawn")),
        Err(Stop::Exhausted)
    );
    assert_eq!((s.attempts(), s.total_delay()), (3, 300 * MS));
}

fn breaker(clock: &ManualClock, failure_threshold: u32) -> Breaker<ManualClock> {
    let config = BreakerConfig {
        failure_threshold,
        success_threshold: 1,
        timeout: Duration::from_secs(5),
        ..Default::default()
    };
    Breaker::with_clock("dep", config, clock.clone()).unwrap()
}

#[test]
fn the_breaker_sees_every_attempt_and_its_announced_trial_is_awaited() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    let sleep = ManualSleep::new(clock.clone());
    let p = backoff(RetryStrategy::Fixed, |c| {
        c.initial_delay = Duration::from_secs(1);
        c.max_delay = Duration::from_secs(10);
        c.max_attempts = 5;
    });
    let mut hooks = Recording::seeded(0);
    let mut ran = Vec::new();
    let out = Retry::new(&p, &sleep)
        .breaker(&b)
        .run_with(
            |a| {
                ran.push(a);
                if a <= 2 {
                    Err(format!("fail {a}"))
                } else {
                    Ok(a)
                }
            },
            &mut hooks,
        )
        .unwrap();
    // Attempts 1 and 2 fail (the second opens the breaker at t = 1 s, open
    // until t = 6 s); attempt 3 (t = 2 s) is refused with 4 s to go, which
    // is waited for; attempt 4 is the trial and succeeds.
    assert_eq!(ran, vec![1, 2, 4]);
    assert_eq!((out.value, out.attempts), (4, 4));
    assert_eq!(out.total_delay, Duration::from_secs(6));
    assert_eq!(hooks.retries[2].0, 3);
    let expected = format!(
        "rejected: circuit breaker is {}; next trial in 4s",
        State::Open
    );
    assert_eq!(hooks.retries[2].1, expected);
    assert_eq!(hooks.retries[2].2, Duration::from_secs(4));
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.failures, m.successes, m.rejected),
        (3, 2, 1, 1)
    );
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_rejection_is_never_retried_when_its_trial_is_too_far() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let sleep = ManualSleep::new(clock.clone());
    // max_delay 2 s < the 5 s open time.
    let p = backoff(RetryStrategy::Fixed, |c| {
        c.initial_delay = Duration::from_secs(1);
        c.max_delay = Duration::from_secs(2);
    });
    let mut ran = 0;
    let err = Retry::new(&p, &sleep)
        .breaker(&b)
        .run(|_| {
            ran += 1;
            Err::<(), _>("down")
        })
        .unwrap_err();
    assert_eq!(ran, 1, "only the first attempt reached the dependency");
    assert_eq!((err.attempts, err.stop), (2, Stop::Rejected));
    match err.error {
        CallError::Rejected(r) => {
            assert_eq!(r.state, State::Open);
            assert_eq!(r.retry_after, Some(Duration::from_secs(4)));
        }
        e => panic!("expected a rejection, got {e:?}"),
    }
    // Within max_delay but beyond the remaining delay budget: also refused.
    let clock = ManualClock::new();
    let b = breaker(&clock, 1);
    let sleep = ManualSleep::new(clock.clone());
    let p = backoff(RetryStrategy::Fixed, |c| {
        c.initial_delay = Duration::from_secs(1);
        c.max_total_delay = Some(Duration::from_secs(3));
    });
    let err = Retry::new(&p, &sleep)
        .breaker(&b)
        .run(always_fail)
        .unwrap_err();
    assert_eq!(
        (err.attempts, err.stop, err.total_delay),
        (2, Stop::Rejected, Duration::from_secs(1))
    );
    // Forced open announces no trial at all.
    b.force_open();
    let err = Retry::new(&p, &sleep)
        .breaker(&b)
        .run(always_fail)
        .unwrap_err();
    assert_eq!((err.attempts, err.stop), (1, Stop::Rejected));
}

#[test]
fn the_outcome_hook_decides_what_the_breaker_counts() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2);
    let sleep = ManualSleep::new(clock.clone());
    let p = backoff(RetryStrategy::Fixed, |c| c.max_attempts = 5);
    let mut hooks = Recording::seeded(0);
    hooks.outcome = Outcome::Ignored;
    let err = Retry::new(&p, &sleep)
        .breaker(&b)
        .run_with(always_fail, &mut hooks)
        .unwrap_err();
    assert_eq!(err.stop, Stop::Exhausted);
    let m = b.metrics();
    assert_eq!((m.permitted, m.ignored, m.failures), (5, 5, 0));
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn the_budget_counts_the_call_and_must_grant_every_retry() {
    let clock = ManualClock::new();
    let sleep = ManualSleep::new(clock.clone());
    let p = backoff(RetryStrategy::Fixed, |c| c.max_attempts = 5);
    // Below min_requests: one token, so one retry.
    let budget = RetryBudget::with_clock(
        RetryBudgetConfig {
            min_requests: 100,
            max_tokens: 1,
            tokens_per_second: 0.001,
            ..Default::default()
        },
        clock.clone(),
    )
    .unwrap();
    let err = Retry::new(&p, &sleep)
        .budget(&budget)
        .run(always_fail)
        .unwrap_err();
    assert_eq!((err.attempts, err.stop), (2, Stop::BudgetExhausted));
    assert_eq!(err.total_delay, 100 * MS);
    let c = budget.counts();
    assert_eq!((c.requests, c.retries), (2, 1));
    // No share at all above min_requests: no retry.
    let none = RetryBudget::with_clock(
        RetryBudgetConfig {
            budget_percent: 0.0,
            min_requests: 0,
            ..Default::default()
        },
        clock.clone(),
    )
    .unwrap();
    let err = Retry::new(&p, &sleep)
        .budget(&none)
        .run(always_fail)
        .unwrap_err();
    assert_eq!((err.attempts, err.stop), (1, Stop::BudgetExhausted));
    // A success needs no grant.
    let out = Retry::new(&p, &sleep)
        .budget(&none)
        .run(|_| Ok::<_, ()>(1))
        .unwrap();
    assert_eq!(out.attempts, 1);
    assert_eq!(none.counts().requests, 2);
}

#[test]
fn delays_hold_at_the_cap_for_attempts_past_i32() {
    // Exponential from 1 s, capped at 60 s: at the cap long before 2^31.
    let p = backoff(RetryStrategy::Exponential, |c| {
        c.initial_delay = Duration::from_secs(1);
        c.max_delay = Duration::from_secs(60);
    });
    let cap = Duration::from_secs(60);
    for a in [
        64,
        i32::MAX as u32,
        1 << 31,
        (1 << 31) + 1,
        u32::MAX - 1,
        u32::MAX,
    ] {
        assert_eq!(p.delay(a, Duration::ZERO, 0.5), cap, "attempt {a}");
    }
    let jittered = backoff(RetryStrategy::ExponentialWithJitter, |c| {
        c.initial_delay = Duration::from_secs(1);
        c.max_delay = Duration::from_secs(60);
        c.jitter_factor = 0.5;
    });
    // Unit 0.5 is the middle of the jitter range: the capped delay itself.
    assert_eq!(jittered.delay(u32::MAX, Duration::ZERO, 0.5), cap);
    assert_eq!(
        jittered.delay(u32::MAX, Duration::ZERO, 0.0),
        Duration::from_secs(30)
    );
}

#[test]
fn manual_sleep_totals_saturate() {
    let sleep = ManualSleep::new(ManualClock::new());
    sleep.sleep(Duration::MAX);
    sleep.sleep(Duration::from_secs(1));
    assert_eq!(sleep.slept(), Duration::from_nanos(u64::MAX));
    assert_eq!(sleep.clock().now(), u64::MAX);
}
