//! Unit tests of every transition and edge of the breaker, on the manual
//! clock. Each test drives one breaker step by step and checks the state,
//! the rejection (state and exact `retry_after`), the events and the metrics
//! that the docs of `state.rs`, `breaker.rs` and `config.rs` promise.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use seawall::{
    Breaker, BreakerConfig, CallError, ManualClock, Outcome, Permit, Rejected, State, Ticket,
    Transition,
};

const US: Duration = Duration::from_micros(1);

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn new_breaker(config: BreakerConfig) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let breaker = Breaker::with_clock("t", config, clock.clone()).expect("valid config");
    (breaker, clock)
}

/// A config with small thresholds; everything else at its default.
fn small(failures: u32, successes: u32, trials: u32, timeout: u64) -> BreakerConfig {
    BreakerConfig {
        failure_threshold: failures,
        success_threshold: successes,
        half_open_max_calls: trials,
        timeout: secs(timeout),
        half_open_timeout: secs(5),
        ..Default::default()
    }
}

fn rejected(b: &Breaker<ManualClock>) -> Rejected {
    match b.try_acquire() {
        Ok(p) => {
            let _ = p.into_ticket();
            panic!("expected a rejection in {:?}", b.state())
        }
        Err(r) => r,
    }
}

fn admitted(b: &Breaker<ManualClock>) -> Permit<'_, ManualClock> {
    b.try_acquire()
        .unwrap_or_else(|r| panic!("expected an admission, got {r}"))
}

/// Trips a CLOSED breaker with `failure_threshold` failures.
fn trip(b: &Breaker<ManualClock>) {
    assert_eq!(b.state(), State::Closed);
    for _ in 0..b.config().failure_threshold {
        admitted(b).failure();
    }
    assert_eq!(b.state(), State::Open);
}

/// Records every transition a breaker announces.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<(String, Transition)>>>);

impl Recorder {
    fn attach(&self, b: &Breaker<ManualClock>) {
        let log = Arc::clone(&self.0);
        b.add_listener(move |name: &str, t: Transition| {
            log.lock().unwrap().push((name.to_owned(), t));
        });
    }

    fn take(&self) -> Vec<(State, State)> {
        self.0
            .lock()
            .unwrap()
            .drain(..)
            .map(|(_, t)| (t.from, t.to))
            .collect()
    }

    fn take_full(&self) -> Vec<(String, Transition)> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

// ---------------------------------------------------------------- CLOSED

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

// ---------------------------------------------------------------- OPEN

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

// ---------------------------------------------------------------- HALF_OPEN

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

// ---------------------------------------------------------------- half_open_timeout

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

// ---------------------------------------------------------------- generations

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

// ---------------------------------------------------------------- manual control

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

// ---------------------------------------------------------------- clock stepping back

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

// ---------------------------------------------------------------- permits and tickets

#[test]
fn dropping_a_permit_counts_as_ignored_and_frees_its_trial_slot() {
    let (b, clock) = new_breaker(small(2, 1, 1, 10));
    admitted(&b).failure();
    drop(admitted(&b));
    assert_eq!(b.metrics().consecutive_failures, 1);
    assert_eq!(b.metrics().ignored, 1);
    admitted(&b).failure();
    clock.advance(secs(10));
    let trial = admitted(&b);
    assert!(b.try_acquire().is_err());
    drop(trial);
    assert_eq!(b.metrics().trial_calls_in_flight, 0);
    assert_eq!(b.state(), State::HalfOpen);
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.metrics().ignored, 2);
}

#[test]
fn a_ticket_round_trips_and_records_like_its_permit() {
    let (b, clock) = new_breaker(small(2, 1, 1, 10));
    let t1 = admitted(&b).into_ticket();
    let t2 = admitted(&b).into_ticket();
    let (gen, start) = t2.into_parts();
    let t2 = Ticket::from_parts(gen, start);
    assert_eq!(b.metrics().ignored, 0, "a detached permit is not dropped");
    b.record(t1, Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
    b.record(t2, Outcome::Failure);
    assert_eq!(b.state(), State::Open);
    // A trial held as a ticket keeps its slot until recorded.
    clock.advance(secs(10));
    let trial = admitted(&b).into_ticket();
    assert_eq!(rejected(&b).state, State::HalfOpen);
    b.record(trial, Outcome::Success);
    assert_eq!(b.state(), State::Closed);
    // A ticket of an older generation is stale like its permit.
    let stale = admitted(&b).into_ticket();
    b.reset();
    admitted(&b).failure();
    b.record(stale, Outcome::Failure);
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.ignored, m.late),
        (5, 1, 3, 0, 1)
    );
}

// ---------------------------------------------------------------- call helpers

#[test]
fn call_counts_ok_as_success_and_every_err_as_failure() {
    let (b, _) = new_breaker(small(2, 1, 1, 10));
    assert_eq!(b.call(|| Ok::<_, &str>(7)), Ok(7));
    assert_eq!(
        b.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    );
    assert_eq!(b.metrics().consecutive_failures, 1);
    assert_eq!(
        b.call(|| Err::<(), _>("boom")),
        Err(CallError::Failed("boom"))
    );
    assert_eq!(b.state(), State::Open);
    match b.call(|| Ok::<_, &str>(1)) {
        Err(CallError::Rejected(r)) => assert_eq!(r.state, State::Open),
        other => panic!("expected a rejection, got {other:?}"),
    }
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.rejected),
        (3, 1, 2, 1)
    );
}

#[test]
fn call_classified_lets_the_classifier_decide() {
    let (b, _) = new_breaker(small(1, 1, 1, 10));
    let classify = |e: &u32| match e {
        404 => Outcome::Ignored,
        200 => Outcome::Success,
        _ => Outcome::Failure,
    };
    assert_eq!(
        b.call_classified(|| Err::<(), _>(404), classify),
        Err(CallError::Failed(404))
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.call_classified(|| Err::<(), _>(200), classify),
        Err(CallError::Failed(200))
    );
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        b.call_classified(|| Err::<(), _>(503), classify),
        Err(CallError::Failed(503))
    );
    assert_eq!(b.state(), State::Open);
    let m = b.metrics();
    assert_eq!((m.successes, m.failures, m.ignored), (1, 1, 1));
}

#[test]
fn a_panic_inside_call_releases_the_permit_as_ignored() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call(|| -> Result<(), ()> { panic!("closure panics in CLOSED") });
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::Closed);
    trip(&b);
    clock.advance(secs(10));
    let r = catch_unwind(AssertUnwindSafe(|| {
        let _ = b.call_classified(
            || -> Result<(), ()> { panic!("closure panics in a trial") },
            |_| Outcome::Failure,
        );
    }));
    assert!(r.is_err());
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(
        b.metrics().trial_calls_in_flight,
        0,
        "the trial slot is free again"
    );
    assert_eq!(b.call(|| Ok::<_, ()>(())), Ok(()));
    assert_eq!(b.state(), State::Closed);
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.successes, m.failures, m.ignored),
        (4, 1, 1, 2)
    );
}

// ---------------------------------------------------------------- listeners

#[test]
fn listeners_hear_each_transition_exactly_once_with_from_and_to() {
    let (b, clock) = new_breaker(small(1, 2, 2, 10));
    let events = Recorder::default();
    let second = Recorder::default();
    events.attach(&b);
    second.attach(&b);
    clock.set(1_000);
    trip(&b);
    clock.advance(secs(10));
    assert_eq!(b.state(), State::HalfOpen);
    assert!(events.take_full().iter().all(|(n, _)| n == "t"));
    let t = admitted(&b);
    let t2 = admitted(&b);
    t.ignore();
    t2.ignore();
    // A new batch of trials in the same HALF_OPEN episode is no transition.
    admitted(&b).failure();
    clock.advance(secs(10));
    admitted(&b).success();
    admitted(&b).success();
    b.force_open();
    b.force_closed();
    b.force_closed();
    b.reset();
    b.reset();
    let expected = vec![
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Open),
        (State::Open, State::HalfOpen),
        (State::HalfOpen, State::Closed),
        (State::Closed, State::ForcedOpen),
        (State::ForcedOpen, State::ForcedClosed),
        (State::ForcedClosed, State::Closed),
    ];
    assert_eq!(events.take(), expected);
    let mut all = vec![(State::Closed, State::Open)];
    all.extend(expected);
    assert_eq!(second.take(), all);
    let m = b.metrics().transitions;
    assert_eq!(
        (
            m.to_closed,
            m.to_open,
            m.to_half_open,
            m.to_forced_open,
            m.to_forced_closed
        ),
        (2, 2, 2, 1, 1)
    );
}

#[test]
fn transitions_carry_the_clock_reading_and_the_breaker_name() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    let events = Recorder::default();
    events.attach(&b);
    clock.set(3_000);
    trip(&b);
    clock.set(20 * 1_000_000_000);
    admitted(&b).success();
    let got: Vec<_> = events
        .take_full()
        .into_iter()
        .map(|(n, t)| (n, t.from, t.to, t.at_nanos))
        .collect();
    let at = 20 * 1_000_000_000;
    assert_eq!(
        got,
        vec![
            ("t".to_owned(), State::Closed, State::Open, 3_000),
            ("t".to_owned(), State::Open, State::HalfOpen, at),
            ("t".to_owned(), State::HalfOpen, State::Closed, at),
        ]
    );
}

#[test]
fn a_panicking_listener_does_not_break_the_breaker() {
    let (b, clock) = new_breaker(small(1, 1, 1, 10));
    b.add_listener(|_: &str, t: Transition| panic!("listener panics on {t:?}"));
    let events = Recorder::default();
    events.attach(&b);
    trip(&b);
    assert_eq!(rejected(&b).retry_after, Some(secs(10)));
    clock.advance(secs(10));
    admitted(&b).success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        events.take(),
        vec![
            (State::Closed, State::Open),
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::Closed)
        ]
    );
    let m = b.metrics();
    assert_eq!(
        (m.permitted, m.failures, m.successes, m.rejected),
        (2, 1, 1, 1)
    );
}

/// A listener that reads the breaker, registers another listener and issues
/// a command from inside the callback. Run on another thread so that a
/// deadlock fails the test instead of hanging it.
#[test]
fn a_listener_may_call_back_into_the_breaker() {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let clock = ManualClock::new();
        let b = Arc::new(Breaker::with_clock("t", small(1, 1, 1, 10), clock.clone()).unwrap());
        let me: Arc<OnceLock<Weak<Breaker<ManualClock>>>> = Arc::default();
        me.set(Arc::downgrade(&b)).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let late = Recorder::default();
        {
            let (me, seen, late) = (Arc::clone(&me), Arc::clone(&seen), late.clone());
            let added = AtomicBool::new(false);
            b.add_listener(move |_: &str, t: Transition| {
                let b = me.get().unwrap().upgrade().unwrap();
                seen.lock()
                    .unwrap()
                    .push((t.to, b.state(), b.metrics().state));
                if !added.swap(true, Ordering::Relaxed) {
                    late.attach(&b);
                }
                if t.to == State::HalfOpen {
                    // Drive the breaker from inside the callback.
                    b.force_open();
                }
            });
        }
        trip(&b);
        clock.advance(secs(10));
        let trial = b.try_acquire().map(Permit::into_ticket);
        let state = b.state();
        let seen = seen.lock().unwrap().clone();
        tx.send((trial.is_ok(), state, seen, late.take())).unwrap();
        if let Ok(t) = trial {
            b.record(t, Outcome::Ignored);
        }
    });
    let (got_trial, state, seen, late) = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(v) => v,
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("a listener calling back into the breaker deadlocked")
        }
        Err(e) => panic!("the test thread failed: {e}"),
    };
    assert!(got_trial);
    assert_eq!(state, State::ForcedOpen);
    assert_eq!(
        seen,
        vec![
            (State::Open, State::Open, State::Open),
            (State::HalfOpen, State::HalfOpen, State::HalfOpen),
            (State::ForcedOpen, State::ForcedOpen, State::ForcedOpen),
        ]
    );
    // Registered during the CLOSED -> OPEN delivery, it hears each later
    // transition once, in the order the thread made them: the one caused by
    // a listener is delivered after the delivery in progress.
    assert_eq!(
        late,
        vec![
            (State::Open, State::HalfOpen),
            (State::HalfOpen, State::ForcedOpen)
        ]
    );
}

// ---------------------------------------------------------------- metrics

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
