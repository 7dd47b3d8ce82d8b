//! HALF_OPEN trials, back-off and jitter of the open time, and the expiry of a trial batch.

use super::*;

#[test]
fn half_open_admits_at_most_max_calls_trials_at_once() {
    for max in 1..=4 {
        let (b, clock) = new_breaker(small(1, 10, max, 10));
        trip(&b);
        clock.advance(secs(10));
        let mut trials: Vec<_> = (0..max).map(|_| admitted(&b)).collect();
        assert_eq!(b.metrics().trial_calls_in_flight, max);
        let r = rejected(&b);
        assert_eq!(r.state, State::HalfOpen, "max {max}");
        // The batch expires 5 s (half_open_timeout) after its first trial.
        assert_eq!(r.retry_after, Some(secs(5)));
        clock.advance(secs(2));
        assert_eq!(rejected(&b).retry_after, Some(secs(3)));
        // Each resolved trial, whatever its outcome short of failure, frees a slot.
        trials.pop().unwrap().success();
        let again = admitted(&b);
        assert!(b.try_acquire().is_err());
        drop(again);
        let again = admitted(&b);
        again.ignore();
        assert_eq!(b.metrics().trial_calls_in_flight, max - 1);
        let m = b.metrics();
        assert_eq!(m.rejected, 3);
        assert_eq!(m.trial_successes, 1);
        drop(trials);
    }
}

#[test]
fn success_threshold_successes_close_and_clear_the_back_off() {
    let config = BreakerConfig {
        timeout_multiplier: 2.0,
        max_timeout: Some(secs(100)),
        ..small(1, 3, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    clock.advance(secs(10));
    admitted(&b).failure();
    assert_eq!(rejected(&b).retry_after, Some(secs(20)), "backed off");
    clock.advance(secs(20));
    for i in 1..3 {
        admitted(&b).success();
        assert_eq!(b.state(), State::HalfOpen, "after {i} successes");
        assert_eq!(b.metrics().trial_successes, i);
    }
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!((m.trial_successes, m.consecutive_failures), (0, 0));
    assert_eq!(m.transitions.to_closed, 1);
    trip(&b);
    assert_eq!(
        rejected(&b).retry_after,
        Some(secs(10)),
        "closing resets the back-off"
    );
}

#[test]
fn a_trial_failure_reopens_even_with_successes_counted() {
    let (b, clock) = new_breaker(small(2, 3, 2, 10));
    trip(&b);
    clock.advance(secs(10));
    let t1 = admitted(&b);
    let t2 = admitted(&b);
    t1.success();
    assert_eq!(b.metrics().trial_successes, 1);
    t2.failure();
    assert_eq!(b.state(), State::Open);
    let r = rejected(&b);
    assert_eq!((r.state, r.retry_after), (State::Open, Some(secs(10))));
    let m = b.metrics();
    assert_eq!(m.transitions.to_open, 2);
    assert_eq!(m.trial_successes, 0);
    // The next HALF_OPEN episode starts counting from zero.
    clock.advance(secs(10));
    admitted(&b).success();
    admitted(&b).success();
    assert_eq!(b.state(), State::HalfOpen);
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn success_rate_mode_tolerates_failures_until_the_rate_is_out_of_reach() {
    // Judged as a batch of 4 outcomes of which ceil(0.75 * 4) = 3 must succeed.
    let config = BreakerConfig {
        half_open_success_rate: Some(0.75),
        ..small(1, 4, 4, 10)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    clock.advance(secs(10));
    admitted(&b).success();
    admitted(&b).failure();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "one failure of four is tolerated"
    );
    admitted(&b).ignore();
    admitted(&b).success();
    assert_eq!(b.state(), State::HalfOpen);
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed, "three successes close");
    trip(&b);
    clock.advance(secs(10));
    admitted(&b).failure();
    admitted(&b).success();
    assert_eq!(b.state(), State::HalfOpen);
    admitted(&b).failure();
    assert_eq!(b.state(), State::Open, "3 of 4 can no longer succeed");
}

#[test]
fn back_off_multiplies_each_consecutive_trip_up_to_the_cap() {
    let config = BreakerConfig {
        timeout_multiplier: 2.0,
        max_timeout: Some(secs(35)),
        ..small(1, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    for expected in [10, 20, 35, 35, 35] {
        let r = rejected(&b);
        assert_eq!(r.retry_after, Some(secs(expected)));
        clock.advance(secs(expected) - US);
        assert_eq!(b.state(), State::Open);
        clock.advance(US);
        admitted(&b).failure();
    }
}

#[test]
fn a_multiplier_without_a_cap_has_no_effect() {
    let config = BreakerConfig {
        timeout_multiplier: 3.0,
        ..small(1, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    for _ in 0..3 {
        assert_eq!(rejected(&b).retry_after, Some(secs(10)));
        clock.advance(secs(10));
        admitted(&b).failure();
    }
}

#[test]
fn the_back_off_exponent_saturates_without_overflow() {
    let config = BreakerConfig {
        timeout_multiplier: 1000.0,
        max_timeout: Some(secs(3600)),
        ..small(1, 1, 1, 1)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    clock.advance(secs(1));
    for trip in 1..40 {
        admitted(&b).failure();
        let expected = if trip == 1 { 1000 } else { 3600 };
        assert_eq!(
            rejected(&b).retry_after,
            Some(secs(expected)),
            "trip {trip}"
        );
        clock.advance(secs(expected));
    }
}

#[test]
fn jittered_open_time_lies_within_its_bounds() {
    let jitter = 0.4;
    let config = BreakerConfig {
        timeout_jitter: jitter,
        timeout_multiplier: 2.0,
        max_timeout: Some(secs(30)),
        ..small(1, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..50 {
        trip(&b);
        // Back-off applies before jitter: 10 s, then 20 s, then 30 s (cap).
        for full in [10u64, 20, 30] {
            let open = rejected(&b).retry_after.expect("OPEN says when");
            let full = secs(full);
            assert!(
                open >= full.mul_f64(1.0 - jitter) && open <= full,
                "open time {open:?} outside [{:?}, {full:?}]",
                full.mul_f64(1.0 - jitter)
            );
            seen.insert(open);
            // The breaker opens for exactly the time it announced.
            clock.advance(open - US);
            assert_eq!(b.state(), State::Open);
            clock.advance(US);
            assert_eq!(b.state(), State::HalfOpen);
            admitted(&b).failure();
        }
        b.reset();
    }
    assert!(
        seen.len() > 100,
        "jitter should vary the open time: {seen:?}"
    );
}

/// The open times, trip after trip, of a jittered breaker drawing from a
/// source seeded with `seed`.
fn seeded_open_times(seed: u64) -> Vec<Duration> {
    let config = BreakerConfig {
        timeout_jitter: 0.5,
        timeout_multiplier: 2.0,
        max_timeout: Some(secs(40)),
        ..small(1, 1, 1, 10)
    };
    let clock = ManualClock::new();
    let b = Breaker::with_clock_and_random("t", config, clock.clone(), SeededRandom::new(seed))
        .expect("valid config");
    (0..20)
        .map(|_| {
            if b.state() == State::Closed {
                trip(&b);
            }
            let open = rejected(&b).retry_after.expect("OPEN says when");
            clock.advance(open);
            // A failed trial reopens (backing off); every fourth closes.
            let trial = admitted(&b);
            if clock.now() % 4 == 0 {
                trial.success();
            } else {
                trial.failure();
            }
            open
        })
        .collect()
}

#[test]
fn a_seeded_random_source_makes_jittered_open_times_repeat() {
    let (a, b, other) = (
        seeded_open_times(7),
        seeded_open_times(7),
        seeded_open_times(8),
    );
    assert_eq!(a, b, "the same seed gives the same open times");
    assert_ne!(a, other, "another seed gives others");
    // Jittered, not fixed: the open times are not just the back-off steps.
    assert!(a.iter().any(|t| t.subsec_nanos() != 0), "{a:?}");
}

#[test]
fn trials_outstanding_past_half_open_timeout_reopen_and_their_results_do_not_count() {
    let config = BreakerConfig {
        timeout_multiplier: 2.0,
        max_timeout: Some(secs(100)),
        ..small(1, 1, 1, 10)
    };
    let (b, clock) = new_breaker(config);
    trip(&b);
    clock.advance(secs(10));
    let trial = admitted(&b);
    clock.advance(secs(5) - US);
    assert_eq!(b.state(), State::HalfOpen, "not yet expired");
    clock.advance(US);
    assert_eq!(b.state(), State::Open, "expired trials read as OPEN");
    // The success arrives late: it reopens instead of closing, with back-off.
    trial.success();
    assert_eq!(b.state(), State::Open);
    let r = rejected(&b);
    assert_eq!((r.state, r.retry_after), (State::Open, Some(secs(20))));
    let m = b.metrics();
    assert_eq!(
        (m.successes, m.transitions.to_open, m.transitions.to_closed),
        (1, 2, 0)
    );
}

#[test]
fn a_full_expired_batch_reopens_on_the_next_acquire() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    trip(&b);
    clock.advance(secs(10));
    let trial = admitted(&b);
    clock.advance(secs(5));
    let r = rejected(&b);
    assert_eq!((r.state, r.retry_after), (State::Open, Some(secs(10))));
    assert_eq!(b.metrics().transitions.to_open, 2);
    // Its result, from the expired batch, changes nothing.
    trial.success();
    assert_eq!(b.state(), State::Open);
    assert_eq!(rejected(&b).retry_after, Some(secs(10)));
    let m = b.metrics();
    assert_eq!((m.successes, m.late), (0, 1));
}

/// `state()` reads OPEN as soon as outstanding trials have expired, and the
/// config says the breaker then reopens; so the next acquire must be
/// rejected even when a trial slot is still free.
#[test]
fn expired_trials_with_a_free_slot_reject_like_the_state_says() {
    let (b, clock) = new_breaker(small(1, 1, 2, 10));
    trip(&b);
    clock.advance(secs(10));
    let trial = admitted(&b);
    clock.advance(secs(5));
    assert_eq!(b.state(), State::Open);
    match b.try_acquire() {
        Err(r) => assert_eq!(r.state, State::Open),
        Ok(p) => {
            let _ = p.into_ticket();
            panic!("state() reads OPEN but try_acquire admitted a trial into the expired batch")
        }
    }
    drop(trial);
}

#[test]
fn an_idle_half_open_breaker_does_not_expire() {
    let (b, clock) = new_breaker(small(1, 2, 1, 10));
    trip(&b);
    clock.advance(secs(10));
    admitted(&b).success();
    clock.advance(secs(100));
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "no trial outstanding: nothing to expire"
    );
    admitted(&b).ignore();
    clock.advance(secs(100));
    assert_eq!(b.state(), State::HalfOpen);
    // A fresh batch gets its own expiry, counted from its first trial.
    let trial = admitted(&b);
    clock.advance(secs(5) - US);
    assert_eq!(b.state(), State::HalfOpen);
    trial.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().transitions.to_open, 1);
}
