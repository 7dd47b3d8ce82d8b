//! Properties of `Backoff::delay` over the whole `u32` attempt range and
//! every back-off strategy, for random valid configurations:
//!
//! * it never panics (overflow checks are on in test builds);
//! * every delay lies within the strategy's bounds, and never above
//!   `max_delay`;
//! * with the same random unit and previous delay, the delay never
//!   decreases as the attempt number grows (jittered strategies included:
//!   the unit fixes the point within the jitter range);
//! * the jittered strategies never decrease as the unit grows, and
//!   decorrelated jitter never decreases as the previous delay grows.
//!
//! Cases default to 256 per property; set `PROPTEST_CASES` to run more (or
//! fewer).

use std::time::Duration;

use proptest::prelude::*;
use seawall::{Backoff, RetryConfig, RetryStrategy};

/// `RetryConfig`'s largest delay: 365 days, in nanoseconds.
const MAX_NS: u64 = 365 * 24 * 3600 * 1_000_000_000;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

fn strategy() -> impl Strategy<Value = RetryStrategy> {
    prop_oneof![
        Just(RetryStrategy::Fixed),
        Just(RetryStrategy::Linear),
        Just(RetryStrategy::Exponential),
        Just(RetryStrategy::Fibonacci),
        Just(RetryStrategy::ExponentialWithJitter),
        Just(RetryStrategy::DecorrelatedJitter),
    ]
}

/// Attempt numbers from the whole `u32` range, weighted towards the edges
/// where conversions to `i32`, doubling and saturation change behaviour.
fn attempt() -> impl Strategy<Value = u32> {
    prop_oneof![
        any::<u32>(),
        0u32..=100,
        (1u32 << 31) - 2..=(1u32 << 31) + 2,
        u32::MAX - 2..=u32::MAX,
    ]
}

/// A delay in nanoseconds within `RetryConfig`'s range.
fn delay_ns() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(0u64),
        1u64..=1_000,
        0u64..=60_000_000_000,
        0u64..=MAX_NS,
        MAX_NS - 3..=MAX_NS,
    ]
}

/// A valid configuration, `max_attempts` aside (the delay ignores it).
fn config() -> impl Strategy<Value = RetryConfig> {
    (
        strategy(),
        delay_ns(),
        delay_ns(),
        prop_oneof![
            Just(1.0),
            1.0f64..=1000.0,
            1.0f64..1.001,
            // A few units in the last place above 1: the slowest growth.
            (1u32..=64).prop_map(|k| 1.0 + f64::from(k) * f64::EPSILON),
            Just(1000.0),
        ],
        prop_oneof![Just(0.0), 0.0f64..=1.0, Just(1.0)],
    )
        .prop_map(
            |(strategy, a, b, exponential_base, jitter_factor)| RetryConfig {
                strategy,
                initial_delay: Duration::from_nanos(a.min(b)),
                max_delay: Duration::from_nanos(a.max(b)),
                exponential_base,
                jitter_factor,
                ..Default::default()
            },
        )
}

/// A random unit in `[0, 1)`, edges included.
fn unit() -> impl Strategy<Value = f64> {
    prop_oneof![Just(0.0), 0.0f64..1.0, Just(1.0 - f64::EPSILON)]
}

/// The previous delay a caller may pass: anything, zero and huge included.
fn previous() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::ZERO),
        delay_ns().prop_map(Duration::from_nanos),
        Just(Duration::MAX),
    ]
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap()
}

/// The smallest delay `c`'s strategy may give.
fn lower_bound(c: &RetryConfig) -> u64 {
    let initial = ns(c.initial_delay);
    match c.strategy {
        RetryStrategy::ExponentialWithJitter => {
            // The smallest jitter factor, `1 - jitter_factor`, applied to
            // the initial delay.
            ((initial as f64 * (1.0 - c.jitter_factor)) as u64).min(initial)
        }
        _ => initial,
    }
}

/// Checks the bounds every delay of `p` must keep.
fn assert_bounded(p: &Backoff, d: Duration, what: &str) -> Result<(), TestCaseError> {
    let c = p.config();
    let (lo, hi) = (lower_bound(c), ns(c.max_delay));
    let d = ns(d);
    prop_assert!(
        lo <= d && d <= hi,
        "{what}: {d} ns outside [{lo}, {hi}] for {c:?}"
    );
    if c.strategy == RetryStrategy::Fixed {
        prop_assert_eq!(d, ns(c.initial_delay), "fixed: {:?}", c);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        ..ProptestConfig::default()
    })]

    #[test]
    fn delays_never_decrease_with_the_attempt_and_stay_in_bounds(
        c in config(),
        a in attempt(),
        b in prop_oneof![attempt().prop_map(Some), (0u32..=2).prop_map(|_| None)],
        step in 1u32..=3,
        u in unit(),
        prev in previous(),
    ) {
        let p = Backoff::new(c).unwrap();
        // Either two attempts from anywhere or neighbours, where rounding
        // would show first.
        let b = b.unwrap_or_else(|| a.saturating_add(step));
        let (a, b) = (a.min(b), a.max(b));
        let da = p.delay(a, prev, u);
        let db = p.delay(b, prev, u);
        assert_bounded(&p, da, "delay(a)")?;
        assert_bounded(&p, db, "delay(b)")?;
        prop_assert!(
            da <= db,
            "delay({}) = {:?} > delay({}) = {:?} for {:?}, unit {}, previous {:?}",
            a, da, b, db, c, u, prev
        );
    }

    #[test]
    fn growing_strategies_reach_the_cap_and_stay_there(
        c in config(),
        n in 200u32..=u32::MAX,
    ) {
        // From attempt 200 on, 1.5^199 (about 1e35) and F(200) (about
        // 3e41) times a non-zero initial delay are far above any cap (at
        // most 3.2e16 ns), so those strategies are at `max_delay`, as is the
        // linear one once `n * initial` reaches it.
        let p = Backoff::new(c).unwrap();
        let d = p.delay(n, Duration::ZERO, 0.5);
        let grows = match c.strategy {
            RetryStrategy::Exponential => c.exponential_base >= 1.5,
            RetryStrategy::Fibonacci => true,
            RetryStrategy::Linear => c.initial_delay.as_nanos() * u128::from(n) >= c.max_delay.as_nanos(),
            _ => false,
        };
        if grows && !c.initial_delay.is_zero() {
            prop_assert_eq!(d, c.max_delay, "attempt {} of {:?}", n, c);
        }
    }

    #[test]
    fn jittered_delays_never_decrease_with_the_unit(
        c in config(),
        n in attempt(),
        u in unit(),
        v in unit(),
        prev in previous(),
    ) {
        let p = Backoff::new(c).unwrap();
        let (u, v) = (u.min(v), u.max(v));
        let (du, dv) = (p.delay(n, prev, u), p.delay(n, prev, v));
        assert_bounded(&p, du, "delay(unit u)")?;
        assert_bounded(&p, dv, "delay(unit v)")?;
        prop_assert!(du <= dv, "unit {} gives {:?} > unit {} gives {:?} for {:?}", u, du, v, dv, c);
    }

    #[test]
    fn decorrelated_jitter_never_decreases_with_the_previous_delay(
        c in config(),
        n in attempt(),
        u in unit(),
        x in previous(),
        y in previous(),
    ) {
        let p = Backoff::new(RetryConfig { strategy: RetryStrategy::DecorrelatedJitter, ..c }).unwrap();
        // Zero means "no previous delay" (the initial delay), so compare
        // non-zero previous delays only.
        let (x, y) = (x.min(y).max(Duration::from_nanos(1)), x.max(y).max(Duration::from_nanos(1)));
        let (dx, dy) = (p.delay(n, x, u), p.delay(n, y, u));
        assert_bounded(&p, dx, "delay(previous x)")?;
        assert_bounded(&p, dy, "delay(previous y)")?;
        prop_assert!(dx <= dy, "previous {:?} gives {:?} > previous {:?} gives {:?}", x, dx, y, dy);
    }
}
