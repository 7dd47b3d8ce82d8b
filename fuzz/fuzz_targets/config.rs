//! The core's configuration validators, with every field arbitrary
//! (durations up to `Duration::MAX`, NaN and infinite rates, counts up to
//! `u32::MAX`): `BreakerConfig`, `RetryConfig`, `RetryBudgetConfig`,
//! `BulkheadConfig` and `RateLimitConfig`.
//!
//! Checks, for each: `validate` never panics; it accepts exactly the
//! configurations the documented ranges allow (the oracle in `src/lib.rs`);
//! a refusal names a field that breaks a rule, shows a value and says what
//! is allowed; a configuration it accepts builds (`with_clock`) and works on
//! a manual clock (a breaker trips, rejects with a sensible retry_after, and
//! admits a trial once its longest open time has passed; a bulkhead counts
//! its slots; a rate limiter admits its burst and then says how long to
//! wait; a retry budget keeps retries within requests; back-off delays stay
//! within `max_delay`).
#![no_main]

use std::time::Duration;

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use seawall::{
    Backoff, Breaker, BreakerConfig, Bulkhead, BulkheadError, Clock, ConfigError, ManualClock,
    RateLimiter, RetryBudget, RetryStrategy, State,
};
use seawall_fuzz::{
    breaker_config, breaker_verdict, budget_config, budget_verdict, bulkhead_config,
    bulkhead_verdict, known_defect, nanos, rate_limit_config, rate_limit_verdict, retry_config,
    retry_verdict, Float, Nanos, Verdict,
};

/// Loops driving a valid engine stop here, so one input stays fast.
const MAX_STEPS: u32 = 2_000;

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(which) = u.int_in_range(0..=4u8) else {
        return;
    };
    // Any start time, near u64::MAX included: the engines must work on
    // the whole range of the clock (advances saturate at the top).
    let start = match u.int_in_range(0..=2u8) {
        Ok(0) => u.arbitrary::<u64>().unwrap_or(0) >> 2,
        Ok(1) => {
            u64::MAX - (u.arbitrary::<u64>().unwrap_or(0) >> u.int_in_range(0..=63u32).unwrap_or(0))
        }
        _ => u.arbitrary::<Nanos>().map_or(0, |n| n.0),
    };
    let clock = ManualClock::new();
    clock.set(start);
    let _ = match which {
        0 => breaker(&mut u, clock),
        1 => retry(&mut u),
        2 => budget(&mut u, clock),
        3 => bulkhead(&mut u, clock),
        _ => rate_limit(&mut u, clock),
    };
});

/// A refusal must name a field the oracle implicates, carry the value and
/// the allowed range, and say all three in its message.
fn check_refusal(what: &str, e: &ConfigError, verdict: &Verdict, config: &dyn std::fmt::Debug) {
    assert!(
        verdict.may_refuse(),
        "{what}: a valid configuration was refused ({e}): {config:?}"
    );
    assert!(
        verdict.names(e.field),
        "{what}: the error names `{}`, which breaks no rule (broken: {:?}): {config:?}",
        e.field,
        verdict.fields
    );
    assert!(
        !e.value.is_empty() && !e.allowed.is_empty(),
        "{what}: {e:?}"
    );
    let text = e.to_string();
    assert!(
        text.contains(e.field) && text.contains(&e.value) && text.contains(e.allowed),
        "{what}: the message does not say field, value and range: {text}"
    );
}

/// What a constructor made of `config`: a refusal is checked
/// (`check_refusal`) and gives `None`; an acceptance must be one the oracle
/// allows.
fn accepted<T>(
    what: &str,
    built: Result<T, ConfigError>,
    verdict: &Verdict,
    config: &dyn std::fmt::Debug,
) -> Option<T> {
    match built {
        Err(e) => {
            check_refusal(what, &e, verdict, config);
            None
        }
        Ok(t) => {
            assert!(
                verdict.valid(),
                "{what}: accepted although {:?} break a rule: {config:?}",
                verdict.fields
            );
            Some(t)
        }
    }
}

/// Whether one of the `calls` theoretical arrival times after `now`,
/// `interval` apart, lands exactly on 0 (mod 2^64), where known defect
/// `gcra-tat-zero` lives: 0 also means "empty", and an arrival time there
/// is moved to 1, which cuts the burst short by one call.
fn tat_hits_zero(now: u64, interval: u64, calls: u32) -> bool {
    let to_wrap = (1u128 << 64) - u128::from(now);
    let interval = u128::from(interval.max(1));
    to_wrap % interval == 0 && to_wrap / interval <= u128::from(calls) + 1
}

fn breaker(u: &mut Unstructured<'_>, clock: ManualClock) -> arbitrary::Result<()> {
    let config = breaker_config(u)?;
    let verdict = breaker_verdict(&config);
    let built = Breaker::with_clock("fuzz", config.clone(), clock.clone());
    if let Err(e) = &built {
        assert_eq!(
            config.validate(),
            Err(e.clone()),
            "constructor and validate disagree"
        );
    }
    let Some(b) = accepted("BreakerConfig", built, &verdict, &config) else {
        return Ok(());
    };
    drive_breaker(&b, &config, &clock);
    Ok(())
}

/// A valid breaker works: it admits while CLOSED, keeps its books, trips on
/// its consecutive failures, rejects while OPEN with a retry_after within
/// its open time, and admits a trial once the longest open time has passed.
fn drive_breaker(b: &Breaker<ManualClock>, c: &BreakerConfig, clock: &ManualClock) {
    assert_eq!(b.state(), State::Closed);
    b.try_acquire().expect("a new breaker admits").success();

    b.force_open();
    let r = b.try_acquire().expect_err("FORCED_OPEN rejects");
    assert_eq!((r.state, r.retry_after), (State::ForcedOpen, None));
    b.reset();
    assert_eq!(b.state(), State::Closed);

    let mut failures = 0;
    while b.state() == State::Closed && failures < MAX_STEPS {
        b.try_acquire().expect("CLOSED admits").failure();
        failures += 1;
    }
    if c.trip_on_consecutive_failures && c.failure_threshold <= MAX_STEPS {
        assert!(
            failures <= c.failure_threshold,
            "{failures} consecutive failures did not trip at threshold {}",
            c.failure_threshold
        );
    }
    let m = b.metrics();
    assert_eq!(
        m.permitted,
        m.successes + m.failures + m.ignored + m.late,
        "books: {m:?}"
    );
    if b.state() != State::Open {
        return;
    }
    // The longest open time, plus the microsecond deadlines round up to.
    let longest = c.max_timeout.unwrap_or(c.timeout).max(c.timeout) + Duration::from_micros(1);
    let r = b.try_acquire().expect_err("OPEN rejects");
    assert_eq!(r.state, State::Open);
    let after = r.retry_after.expect("OPEN says when to retry");
    assert!(
        !after.is_zero() && after <= longest,
        "retry_after {after:?} outside (0, {longest:?}]"
    );
    clock.advance(after);
    let trial = b
        .try_acquire()
        .expect("a trial is admitted once retry_after has passed");
    assert_eq!(b.state(), State::HalfOpen);
    trial.success();
    assert!(matches!(b.state(), State::HalfOpen | State::Closed));
}

fn retry(u: &mut Unstructured<'_>) -> arbitrary::Result<()> {
    let config = retry_config(u)?;
    let verdict = retry_verdict(&config);
    let built = Backoff::new(config);
    let Some(backoff) = accepted("RetryConfig", built, &verdict, &config) else {
        return Ok(());
    };
    let unit = u.arbitrary::<Float>()?.0;
    let mut previous = Duration::from_nanos(u.arbitrary::<Nanos>()?.0);
    let mut last = Duration::ZERO;
    for attempt in 1..=config.max_attempts.min(64) {
        let d = backoff.delay(attempt, previous, unit);
        assert_eq!(
            d,
            backoff.delay(attempt, previous, unit),
            "not deterministic"
        );
        assert!(
            d <= config.max_delay,
            "delay {d:?} above max_delay: {config:?}"
        );
        match config.strategy {
            RetryStrategy::Fixed => assert_eq!(nanos(d), nanos(config.initial_delay)),
            RetryStrategy::Linear | RetryStrategy::Exponential | RetryStrategy::Fibonacci => {
                assert!(d >= last, "delay shrank from {last:?} to {d:?}: {config:?}")
            }
            _ => {}
        }
        last = d;
        previous = d;
    }
    Ok(())
}

fn budget(u: &mut Unstructured<'_>, clock: ManualClock) -> arbitrary::Result<()> {
    let config = budget_config(u)?;
    let verdict = budget_verdict(&config);
    let built = RetryBudget::with_clock(config, clock.clone());
    let Some(b) = accepted("RetryBudgetConfig", built, &verdict, &config) else {
        return Ok(());
    };
    // The bucket starts full and, with the clock still, grants exactly
    // `max_tokens` retries below `min_requests`.
    if u.arbitrary()?
        && config.max_tokens < MAX_STEPS
        && config.min_requests > config.max_tokens + 1
    {
        let interval = ((1e9 / config.tokens_per_second) as u64).max(1);
        let skip = known_defect("gcra-tat-zero")
            && tat_hits_zero(clock.now(), interval, config.max_tokens);
        let grants = (0..=config.max_tokens).filter(|_| b.can_retry()).count();
        if !skip {
            assert_eq!(
                grants,
                config.max_tokens as usize,
                "grants from a full bucket at clock {}: {config:?}",
                clock.now()
            );
        }
    }
    let steps = u.arbitrary_len::<u8>()?.min(MAX_STEPS as usize);
    for _ in 0..steps {
        match u.int_in_range(0..=3u8)? {
            0 => b.record_attempt(false),
            1 => b.record_attempt(true),
            2 => {
                let _ = b.can_retry();
            }
            _ => clock.advance(Duration::from_nanos(u.arbitrary::<Nanos>()?.0 >> 8)),
        }
        let p = b.remaining_percent();
        assert!((0.0..=100.0).contains(&p), "remaining_percent {p}");
        let c = b.counts();
        assert!(c.retries <= c.requests, "{c:?}");
        assert!(b.tokens() <= u64::from(config.max_tokens));
    }
    Ok(())
}

fn bulkhead(u: &mut Unstructured<'_>, clock: ManualClock) -> arbitrary::Result<()> {
    let config = bulkhead_config(u)?;
    let verdict = bulkhead_verdict(&config);
    let built = Bulkhead::with_clock(config, clock);
    let Some(b) = accepted("BulkheadConfig", built, &verdict, &config) else {
        return Ok(());
    };
    assert_eq!(b.available_permits(), config.max_concurrent);
    let take = config.max_concurrent.min(MAX_STEPS);
    let mut held = Vec::new();
    for i in 0..take {
        held.push(b.try_acquire().expect("a free slot is taken"));
        assert_eq!(b.available_permits(), config.max_concurrent - i - 1);
    }
    if take == config.max_concurrent {
        assert_eq!(b.try_acquire().map(|_| ()), Err(BulkheadError::Full));
        // A zero timeout never waits, and there is no free slot to take.
        let full = b.acquire_timeout(Duration::ZERO).map(|_| ());
        assert!(matches!(
            full,
            Err(BulkheadError::Full | BulkheadError::Timeout)
        ));
    }
    assert_eq!(b.queue_size(), 0);
    drop(held);
    assert_eq!(b.available_permits(), config.max_concurrent);
    Ok(())
}

fn rate_limit(u: &mut Unstructured<'_>, clock: ManualClock) -> arbitrary::Result<()> {
    let config = rate_limit_config(u)?;
    let verdict = rate_limit_verdict(&config);
    let built = RateLimiter::with_clock(config, clock.clone());
    let Some(l) = accepted("RateLimitConfig", built, &verdict, &config) else {
        return Ok(());
    };
    // The full burst is admitted at one instant, then a call waits at most
    // one emission interval and is admitted after waiting that long.
    let interval = (nanos(config.period) / u64::from(config.rate)).max(1);
    if known_defect("gcra-tat-zero") && tat_hits_zero(clock.now(), interval, config.burst) {
        return Ok(());
    }
    let burst = config.burst.min(MAX_STEPS);
    for i in 0..burst {
        assert!(
            l.check().is_ok(),
            "call {i} of a burst of {} refused at clock {}: {config:?}",
            config.burst,
            clock.now()
        );
    }
    if burst == config.burst {
        let Err(refused) = l.check() else {
            panic!(
                "admitted a call after a burst of {} at clock {}: {config:?}",
                config.burst,
                clock.now()
            );
        };
        let wait = refused.retry_after;
        assert!(
            !wait.is_zero() && nanos(wait) <= interval,
            "wait {wait:?} outside (0, {interval} ns]"
        );
        // (Unless the wait runs past the end of the clock.)
        if clock.now().checked_add(nanos(wait)).is_some() {
            clock.advance(wait);
            assert!(l.check().is_ok(), "refused after waiting {wait:?}");
        }
    }
    Ok(())
}
