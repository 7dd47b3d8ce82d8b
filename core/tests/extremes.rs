//! The breaker at the edges of its ranges: thresholds and trial counts far
//! beyond what a small packed field holds, a permit held across more state
//! changes than the word's generation counts, and a clock at the end of its
//! range. Each test drives one breaker on the manual clock.

use std::time::Duration;

use seawall::{Breaker, BreakerConfig, ManualClock, State};

const US: Duration = Duration::from_micros(1);

fn breaker(config: BreakerConfig) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let b = Breaker::with_clock("edge", config, clock.clone()).expect("valid config");
    (b, clock)
}

#[test]
fn a_failure_threshold_of_a_million_is_accepted_and_counted_exactly() {
    for threshold in [1_000_000, i32::MAX as u32, u32::MAX] {
        let (b, _) = breaker(BreakerConfig {
            failure_threshold: threshold,
            ..Default::default()
        });
        for _ in 0..5_000 {
            b.try_acquire().unwrap().failure();
        }
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.metrics().consecutive_failures, 5_000);
    }
    let (b, _) = breaker(BreakerConfig {
        failure_threshold: 10_000,
        ..Default::default()
    });
    for i in 1..10_000 {
        b.try_acquire().unwrap().failure();
        assert_eq!(b.metrics().consecutive_failures, i);
    }
    assert_eq!(b.state(), State::Closed);
    b.try_acquire().unwrap().failure();
    assert_eq!(
        b.state(),
        State::Open,
        "opens at exactly the 10,000th failure"
    );
}

#[test]
fn thousands_of_trials_in_flight_and_a_large_success_threshold() {
    let (b, clock) = breaker(BreakerConfig {
        failure_threshold: 1,
        success_threshold: 6_000,
        half_open_max_calls: 5_000,
        timeout: Duration::from_secs(1),
        ..Default::default()
    });
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(1));
    let trials: Vec<_> = (0..5_000).map(|_| b.try_acquire().unwrap()).collect();
    assert_eq!(b.metrics().trial_calls_in_flight, 5_000);
    assert_eq!(
        b.try_acquire().unwrap_err().state,
        State::HalfOpen,
        "the 5,001st trial finds every slot taken"
    );
    for p in trials {
        p.success();
    }
    assert_eq!(b.metrics().trial_successes, 5_000);
    for _ in 0..999 {
        b.try_acquire().unwrap().success();
    }
    assert_eq!(b.state(), State::HalfOpen);
    b.try_acquire().unwrap().success();
    assert_eq!(b.state(), State::Closed, "closes at exactly the 6,000th");
}

#[test]
fn a_permit_held_across_two_to_the_twenty_state_changes_is_late() {
    let (b, clock) = breaker(BreakerConfig {
        failure_threshold: 1,
        success_threshold: 1,
        timeout: Duration::from_secs(1),
        ..Default::default()
    });
    let stale = b.try_acquire().unwrap();
    // Every reset starts a new episode; 2^20 of them bring the word's
    // generation back to the permit's.
    for _ in 0..(1 << 20) {
        b.reset();
    }
    stale.failure();
    assert_eq!(b.state(), State::Closed, "a stale failure must not trip");
    let m = b.metrics();
    assert_eq!((m.late, m.failures), (1, 0));

    // The same for a trial permit: it must not close the breaker.
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(1));
    let trial = b.try_acquire().unwrap();
    for _ in 0..(1 << 20) {
        b.force_open();
        b.force_closed();
    }
    b.force_open();
    b.reset();
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(1));
    let fresh = b.try_acquire().unwrap();
    trial.success();
    assert_eq!(b.metrics().late, 2);
    assert_eq!(
        b.metrics().trial_calls_in_flight,
        1,
        "the stale trial freed no slot"
    );
    fresh.success();
    assert_eq!(b.state(), State::Closed);
}

#[test]
fn a_clock_at_the_end_of_its_range_still_reopens_and_closes() {
    for start in [u64::MAX - 1_000, u64::MAX - 61_000_000_000, u64::MAX] {
        let (b, clock) = breaker(BreakerConfig {
            failure_threshold: 1,
            success_threshold: 1,
            timeout: Duration::from_secs(60),
            ..Default::default()
        });
        clock.set(start);
        b.try_acquire().unwrap().failure();
        match b.try_acquire() {
            Ok(_) => assert_eq!(
                start,
                u64::MAX,
                "only a clock at its end skips the open time"
            ),
            Err(r) => {
                assert_eq!(r.state, State::Open);
                let after = r.retry_after.unwrap();
                assert!(
                    // Deadlines are whole microseconds, rounded up.
                    after > Duration::ZERO && after < Duration::from_secs(60) + US,
                    "{after:?} from {start}"
                );
                clock.advance(after);
            }
        }
        assert_eq!(b.state(), State::HalfOpen);
        let trial = b.try_acquire().expect("a trial once the open time is over");
        // Time stands still at the end of the range: the trial batch must not
        // expire under it.
        clock.advance(Duration::from_secs(3600));
        trial.success();
        assert_eq!(b.state(), State::Closed, "from {start}");
        assert_eq!(b.metrics().late, 0);
    }
}

#[test]
fn a_trial_batch_that_expires_at_the_end_of_the_clock_gives_way_to_a_new_trial() {
    // The batch reopens the breaker, and at the clock's very end that open
    // time is over as soon as it starts: the caller gets the next trial, not
    // an OPEN rejection telling it to come back in 0 ns.
    let (b, clock) = breaker(BreakerConfig {
        failure_threshold: 1,
        success_threshold: 1,
        timeout: Duration::from_secs(60),
        half_open_timeout: Duration::from_secs(10),
        ..Default::default()
    });
    clock.set(u64::MAX - 3600 * 1_000_000_000);
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(61));
    let held = b.try_acquire().expect("the first trial");
    clock.set(u64::MAX);
    let next = b
        .try_acquire()
        .unwrap_or_else(|r| panic!("rejected {:?} retry_after {:?}", r.state, r.retry_after));
    assert_eq!(b.state(), State::HalfOpen);
    held.success();
    assert_eq!(b.metrics().late, 1, "the expired batch's trial is late");
    next.success();
    assert_eq!(b.state(), State::Closed);
}
