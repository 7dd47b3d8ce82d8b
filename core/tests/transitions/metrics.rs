//! The metrics snapshot: transitions, time in state, trial progress, slow calls.

use super::*;

#[test]
fn metrics_count_transitions_time_in_state_and_trial_progress() {
    let (b, clock) = new_breaker(small(3, 3, 2, 10));
    clock.advance(secs(7));
    let m = b.metrics();
    assert_eq!((m.state, m.time_in_state), (State::Closed, secs(7)));
    admitted(&b).failure();
    admitted(&b).failure();
    assert_eq!(b.metrics().consecutive_failures, 2);
    admitted(&b).failure();
    clock.advance(secs(4));
    let m = b.metrics();
    assert_eq!(
        (m.state, m.time_in_state, m.consecutive_failures),
        (State::Open, secs(4), 0)
    );
    clock.advance(secs(6));
    // Read as HALF_OPEN, but no transition was made yet.
    let m = b.metrics();
    assert_eq!((m.state, m.time_in_state), (State::HalfOpen, secs(10)));
    let t1 = admitted(&b);
    let t2 = admitted(&b);
    clock.advance(secs(1));
    let m = b.metrics();
    assert_eq!((m.time_in_state, m.trial_calls_in_flight), (secs(1), 2));
    t1.success();
    let m = b.metrics();
    assert_eq!((m.trial_successes, m.trial_calls_in_flight), (1, 1));
    t2.success();
    admitted(&b).success();
    let m = b.metrics();
    assert_eq!(
        (m.state, m.trial_successes, m.time_in_state),
        (State::Closed, 0, secs(0))
    );
    assert_eq!(
        (
            m.transitions.to_open,
            m.transitions.to_half_open,
            m.transitions.to_closed
        ),
        (1, 1, 1)
    );
    assert_eq!((m.permitted, m.successes, m.failures), (6, 3, 3));
    b.clear_metrics();
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.transitions.to_open),
        (0, 0, 0, 0)
    );
    assert_eq!(m.state, State::Closed, "clearing metrics keeps the state");
}

#[test]
fn slow_calls_are_those_lasting_at_least_slow_call_duration() {
    let config = BreakerConfig {
        slow_call_duration: Some(Duration::from_millis(200)),
        ..small(5, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    let fast = admitted(&b);
    let exact = admitted(&b);
    clock.advance(Duration::from_millis(200) - Duration::from_nanos(1));
    fast.success();
    assert_eq!(b.metrics().slow_calls, 0);
    let late_start = admitted(&b);
    clock.advance(Duration::from_nanos(1));
    exact.failure();
    assert_eq!(b.metrics().slow_calls, 1, "exactly the threshold is slow");
    clock.advance(secs(5));
    drop(late_start);
    admitted(&b).ignore();
    let long_ignored = admitted(&b);
    clock.advance(secs(5));
    long_ignored.ignore();
    assert_eq!(
        b.metrics().slow_calls,
        1,
        "only successes and failures are timed"
    );
    let long_success = admitted(&b);
    clock.advance(secs(5));
    long_success.success();
    assert_eq!(b.metrics().slow_calls, 2);
    assert_eq!(b.call(|| Ok::<_, ()>(())), Ok(()));
    assert_eq!(b.metrics().slow_calls, 2);
    assert_eq!(
        b.call(|| {
            clock.advance(secs(1));
            Ok::<_, ()>(())
        }),
        Ok(())
    );
    assert_eq!(
        b.metrics().slow_calls,
        3,
        "call() times from the permit's start"
    );
    // A late outcome is counted as late only, however long it took.
    let stale = admitted(&b);
    b.reset();
    clock.advance(secs(5));
    stale.failure();
    let m = b.metrics();
    assert_eq!((m.slow_calls, m.late), (3, 1));
}

#[test]
fn without_slow_call_duration_nothing_is_slow() {
    let (b, clock) = new_breaker(small(5, 1, 1, 10));
    let p = admitted(&b);
    clock.advance(secs(3600));
    p.success();
    assert_eq!(b.metrics().slow_calls, 0);
}

#[test]
fn record_elapsed_times_the_call_by_the_callers_duration() {
    let config = BreakerConfig {
        slow_call_duration: Some(secs(2)),
        ..small(3, 1, 1, 10)
    };
    let (b, _clock) = new_breaker(config);
    let t = admitted(&b).into_ticket();
    b.record_elapsed(t, Outcome::Success, secs(2));
    let t = admitted(&b).into_ticket();
    b.record_elapsed(t, Outcome::Failure, secs(2) - US);
    let t = admitted(&b).into_ticket();
    b.record_elapsed(t, Outcome::Ignored, secs(5));
    let m = b.metrics();
    assert_eq!(
        (m.slow_calls, m.successes, m.failures, m.ignored),
        (1, 1, 1, 1)
    );
}
