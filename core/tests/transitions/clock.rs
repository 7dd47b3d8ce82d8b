//! A clock that steps back or reads far values delays decisions, never corrupts them.

use super::*;

#[test]
fn a_clock_stepping_back_delays_but_never_corrupts() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    clock.set(100 * 1_000_000_000);
    trip(&b);
    clock.set(50 * 1_000_000_000);
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after, Some(secs(60)));
    assert_eq!(b.metrics().time_in_state, Duration::ZERO);
    clock.set(0);
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after, Some(secs(110)));
    clock.set(110 * 1_000_000_000 - 1_000);
    assert_eq!(b.state(), State::Open, "no premature HALF_OPEN");
    clock.set(110 * 1_000_000_000);
    let trial = admitted(&b);
    // Back again while a trial is outstanding: it does not expire early.
    clock.set(1);
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        rejected(&b).retry_after,
        Some(secs(115) - Duration::from_nanos(1))
    );
    trial.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().time_in_state, Duration::ZERO);
}

#[test]
fn a_call_that_ends_before_it_started_is_not_slow() {
    let config = BreakerConfig {
        slow_call_duration: Some(secs(1)),
        ..small(1, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    clock.set(10 * 1_000_000_000);
    let p = admitted(&b);
    clock.set(0);
    p.success();
    assert_eq!(b.metrics().slow_calls, 0);
}

#[test]
fn far_clock_readings_do_not_overflow() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    clock.set(u64::MAX / 2 / 1_000 * 1_000);
    trip(&b);
    assert_eq!(rejected(&b).retry_after, Some(secs(10)));
    clock.advance(secs(10));
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    // At the very end of the clock's range the deadline saturates to the
    // largest encodable time, which never passes: the breaker stays OPEN
    // rather than reading HALF_OPEN at once, and nothing panics.
    clock.set(u64::MAX - 1_000);
    trip(&b);
    assert_eq!(b.state(), State::Open);
    assert!(b.try_acquire().is_err());
    for _ in 0..3 {
        let _ = b.state();
        if let Ok(p) = b.try_acquire() {
            p.success();
        }
    }
    let m = b.metrics();
    assert_eq!(m.permitted, m.successes + m.failures + m.ignored + m.late);
}
