//! Generations fence late permits; manual commands start fresh episodes.

use super::*;

#[test]
fn a_failure_from_before_a_reset_does_not_count_in_the_new_closed_episode() {
    let (b, _) = new_breaker(small(2, 1, 1, 10));
    let old = admitted(&b);
    admitted(&b).failure();
    assert_eq!(b.metrics().consecutive_failures, 1);
    b.reset();
    assert_eq!(b.metrics().consecutive_failures, 0);
    admitted(&b).failure();
    old.failure();
    assert_eq!(b.state(), State::Closed, "the stale failure must not trip");
    let m = b.metrics();
    assert_eq!((m.consecutive_failures, m.failures, m.late), (1, 2, 1));
}

#[test]
fn a_failure_from_a_previous_closed_episode_does_not_count() {
    let (b, clock) = new_breaker(small(2, 1, 1, 10));
    let old = admitted(&b);
    trip(&b);
    clock.advance(secs(10));
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    admitted(&b).failure();
    old.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 1);
}

#[test]
fn a_late_success_from_a_previous_half_open_batch_cannot_close_a_new_one() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    trip(&b);
    clock.advance(secs(10));
    let old_trial = admitted(&b);
    clock.advance(secs(5));
    assert!(b.try_acquire().is_err(), "the expired batch reopens");
    clock.advance(secs(10));
    let new_trial = admitted(&b);
    old_trial.success();
    assert_eq!(b.state(), State::HalfOpen, "the old success must not close");
    let m = b.metrics();
    assert_eq!((m.trial_successes, m.trial_calls_in_flight), (0, 1));
    new_trial.success();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!((m.successes, m.late), (1, 1));
}

#[test]
fn a_late_failure_from_a_previous_half_open_episode_cannot_reopen() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    trip(&b);
    clock.advance(secs(10));
    let old_trial = admitted(&b);
    b.reset();
    assert_eq!(b.state(), State::Closed);
    old_trial.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().transitions.to_open, 1);
}

/// Commands bump the generation without opening, so a long run of them
/// between two trips must not confuse the OPEN deadline of the next trip.
#[test]
fn deadlines_stay_right_after_many_generations_without_a_trip() {
    for resets in [499, 500, 501, 600, 998, 999, 1000, 1999] {
        let (b, clock) = new_breaker(small(1, 1, 1, 10));
        trip(&b);
        clock.advance(secs(100));
        for _ in 0..resets {
            b.reset();
        }
        assert_eq!(b.state(), State::Closed);
        trip(&b);
        let r = rejected(&b);
        assert_eq!(
            (b.state(), r.retry_after),
            (State::Open, Some(secs(10))),
            "after {resets} resets"
        );
        clock.advance(secs(10));
        assert_eq!(b.state(), State::HalfOpen, "after {resets} resets");
    }
}

#[test]
fn deadlines_stay_right_across_many_trip_cycles() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    for cycle in 0..2_500 {
        trip(&b);
        assert_eq!(rejected(&b).retry_after, Some(secs(10)), "cycle {cycle}");
        clock.advance(secs(10));
        admitted(&b).success();
    }
    assert_eq!(b.metrics().transitions.to_closed, 2_500);
}

#[test]
fn force_open_during_traffic_rejects_and_makes_earlier_permits_stale() {
    let (b, _) = new_breaker(small(1, 1, 1, 10));
    let events = Recorder::default();
    events.attach(&b);
    let p1 = admitted(&b);
    let p2 = admitted(&b);
    b.force_open();
    b.force_open();
    assert_eq!(b.state(), State::ForcedOpen);
    let r = rejected(&b);
    assert_eq!((r.state, r.retry_after), (State::ForcedOpen, None));
    assert_eq!(r.to_string(), "circuit breaker is FORCED_OPEN; until reset");
    p1.failure();
    assert_eq!(b.state(), State::ForcedOpen);
    b.reset();
    p2.failure();
    assert_eq!(
        b.state(),
        State::Closed,
        "a permit from before the reset is stale"
    );
    assert_eq!(
        events.take(),
        vec![
            (State::Closed, State::ForcedOpen),
            (State::ForcedOpen, State::Closed)
        ]
    );
    let m = b.metrics();
    assert_eq!(
        (m.transitions.to_forced_open, m.transitions.to_closed),
        (1, 1)
    );
    assert_eq!((m.failures, m.late, m.rejected), (0, 2, 1));
}

#[test]
fn forced_closed_admits_and_measures_but_never_trips() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    trip(&b);
    b.force_closed();
    assert_eq!(b.state(), State::ForcedClosed);
    for _ in 0..100 {
        admitted(&b).failure();
    }
    clock.advance(secs(1000));
    assert_eq!(b.state(), State::ForcedClosed);
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.failures, m.consecutive_failures),
        (101, 101, 0)
    );
    assert_eq!(m.transitions.to_forced_closed, 1);
    // Failures measured while forced closed do not carry over.
    b.reset();
    assert_eq!(b.metrics().consecutive_failures, 0);
    trip(&b);
}

#[test]
fn force_closed_during_half_open_makes_the_trials_stale() {
    let (b, clock) = new_breaker(small(1, 1, 2, 10));
    trip(&b);
    clock.advance(secs(10));
    let t1 = admitted(&b);
    let t2 = admitted(&b);
    b.force_closed();
    t1.failure();
    assert_eq!(b.state(), State::ForcedClosed);
    b.reset();
    t2.failure();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().consecutive_failures, 0);
}

#[test]
fn reset_while_open_closes_and_clears_the_back_off() {
    let config = BreakerConfig {
        timeout_multiplier: 2.0,
        max_timeout: Some(secs(100)),
        ..small(1, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    clock.advance(secs(10));
    admitted(&b).failure();
    assert_eq!(rejected(&b).retry_after, Some(secs(20)));
    b.reset();
    assert_eq!(b.state(), State::Closed);
    trip(&b);
    assert_eq!(rejected(&b).retry_after, Some(secs(10)));
}

#[test]
fn reset_of_a_closed_breaker_is_no_transition_but_clears_the_count() {
    let (b, _) = new_breaker(small(3, 1, 1, 10));
    let events = Recorder::default();
    events.attach(&b);
    let old = admitted(&b);
    admitted(&b).failure();
    admitted(&b).failure();
    b.reset();
    assert_eq!(b.metrics().consecutive_failures, 0);
    old.failure();
    assert_eq!(b.metrics().consecutive_failures, 0);
    assert!(events.take().is_empty());
    assert_eq!(b.metrics().transitions.to_closed, 0);
}
