//! CLOSED counts failures and trips; OPEN rejects with the exact time left.

use super::*;

#[test]
fn closed_counts_consecutive_failures_success_resets_ignored_does_not() {
    let (b, _) = new_breaker(small(3, 1, 1, 10));
    admitted(&b).failure();
    admitted(&b).failure();
    assert_eq!(b.metrics().consecutive_failures, 2);
    admitted(&b).ignore();
    admitted(&b).record(Outcome::Ignored);
    drop(admitted(&b));
    assert_eq!(
        b.metrics().consecutive_failures,
        2,
        "ignored must not reset"
    );
    assert_eq!(b.state(), State::Closed);
    admitted(&b).success();
    assert_eq!(b.metrics().consecutive_failures, 0, "a success resets");
    admitted(&b).failure();
    admitted(&b).failure();
    assert_eq!(b.state(), State::Closed);
    admitted(&b).failure();
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.ignored, m.rejected),
        (9, 1, 5, 3, 0)
    );
    assert_eq!(m.consecutive_failures, 0, "reads 0 outside CLOSED");
    assert_eq!(m.transitions.to_open, 1);
}

#[test]
fn trips_at_exactly_the_failure_threshold() {
    for threshold in 1..=6 {
        let (b, _) = new_breaker(small(threshold, 1, 1, 10));
        for i in 1..threshold {
            admitted(&b).failure();
            assert_eq!(
                b.state(),
                State::Closed,
                "threshold {threshold}, failure {i}"
            );
            assert_eq!(b.metrics().consecutive_failures, i);
        }
        admitted(&b).failure();
        assert_eq!(b.state(), State::Open, "threshold {threshold}");
    }
}

#[test]
fn default_config_trips_at_five_and_waits_sixty_seconds() {
    let (b, clock) = new_breaker(BreakerConfig::default());
    for _ in 0..4 {
        admitted(&b).failure();
    }
    assert_eq!(b.state(), State::Closed);
    admitted(&b).failure();
    assert_eq!(rejected(&b).retry_after, Some(secs(60)));
    clock.advance(secs(60));
    assert_eq!(b.state(), State::HalfOpen);
}

#[test]
fn open_rejects_with_its_state_and_the_exact_time_left() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    clock.set(5 * 1_000_000_000);
    trip(&b);
    let r = rejected(&b);
    assert_eq!(r.state, State::Open);
    assert_eq!(r.retry_after, Some(secs(10)));
    assert_eq!(r.to_string(), "circuit breaker is OPEN; next trial in 10s");
    clock.advance(secs(3));
    assert_eq!(rejected(&b).retry_after, Some(secs(7)));
    clock.advance(Duration::from_millis(6_999) + Duration::from_micros(999));
    assert_eq!(rejected(&b).retry_after, Some(US));
    let m = b.metrics();
    assert_eq!((m.permitted, m.rejected), (1, 3));
    assert_eq!(
        m.transitions.to_half_open, 0,
        "rejections make no transition"
    );
}

#[test]
fn call_is_not_run_while_open() {
    let (b, _) = new_breaker(small(1, 1, 1, 10));
    trip(&b);
    let mut ran = false;
    let r = b.call(|| {
        ran = true;
        Ok::<(), ()>(())
    });
    assert!(!ran);
    match r {
        Err(CallError::Rejected(r)) => {
            assert_eq!(r.state, State::Open);
            assert_eq!(r.retry_after, Some(secs(10)));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn timeout_exactly_reached_reads_half_open_and_admits_a_trial() {
    let (b, clock) = new_breaker(small(1, 2, 1, 10));
    trip(&b);
    clock.advance(secs(10) - US);
    assert_eq!(b.state(), State::Open, "one microsecond before");
    assert_eq!(rejected(&b).retry_after, Some(US));
    clock.advance(US);
    assert_eq!(b.state(), State::HalfOpen, "timeout exactly reached");
    assert_eq!(
        b.metrics().transitions.to_half_open,
        0,
        "a read moves nothing"
    );
    let trial = admitted(&b);
    assert_eq!(b.state(), State::HalfOpen);
    let m = b.metrics();
    assert_eq!(m.transitions.to_half_open, 1);
    assert_eq!(m.trial_calls_in_flight, 1);
    // The only trial slot is taken: the next caller is turned away.
    let r = rejected(&b);
    assert_eq!(r.state, State::HalfOpen);
    trial.success();
    assert_eq!(b.metrics().trial_successes, 1);
}
