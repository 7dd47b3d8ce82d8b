//! The window trip rules, each on the manual clock, with the
//! worked examples of the docs.

use std::time::Duration;

use seawall::{Breaker, BreakerConfig, ManualClock, State, Window, WindowCounts};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn breaker(config: BreakerConfig) -> (Breaker<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    (
        Breaker::with_clock("w", config, clock.clone()).unwrap(),
        clock,
    )
}

fn succeed(b: &Breaker<ManualClock>, n: u32) {
    for _ in 0..n {
        b.try_acquire().expect("admitted").success();
    }
}

fn fail(b: &Breaker<ManualClock>, n: u32) {
    for _ in 0..n {
        b.try_acquire().expect("admitted").failure();
    }
}

/// Failure rate 50% over the last 100 calls, consecutive rule off.
fn rate_over_last_100() -> BreakerConfig {
    BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Count { size: 100 },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 100,
        ..Default::default()
    }
}

#[test]
fn a_count_window_is_truly_sliding_old_successes_do_not_dilute() {
    let (b, _) = breaker(rate_over_last_100());
    succeed(&b, 1000);
    fail(&b, 49);
    assert_eq!(b.state(), State::Closed, "49 of the last 100 failed");
    let w = b.metrics().window.unwrap();
    assert_eq!((w.successes, w.failures), (51, 49));
    fail(&b, 1);
    assert_eq!(b.state(), State::Open, "the 50th failure makes 50%");
}

#[test]
fn the_failure_rate_waits_for_the_minimum_and_a_success_can_complete_it() {
    let config = BreakerConfig {
        window: Window::Count { size: 20 },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 10,
        failure_threshold: 100,
        ..Default::default()
    };
    let (b, _) = breaker(config);
    fail(&b, 5);
    assert_eq!(b.state(), State::Closed, "5 calls are below the minimum");
    succeed(&b, 4);
    assert_eq!(b.state(), State::Closed, "9 calls");
    succeed(&b, 1);
    assert_eq!(
        b.state(),
        State::Open,
        "the 10th call, a success, completes the minimum at 50%"
    );
}

#[test]
fn ignored_outcomes_sit_in_a_count_window_but_are_not_calls() {
    let config = BreakerConfig {
        window: Window::Count { size: 4 },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 2,
        ..Default::default()
    };
    let (b, _) = breaker(config);
    fail(&b, 1);
    for _ in 0..3 {
        b.try_acquire().unwrap().ignore();
    }
    let w = b.metrics().window.unwrap();
    assert_eq!(
        (w.failures, w.ignored),
        (1, 3),
        "ignored outcomes take slots"
    );
    b.try_acquire().unwrap().ignore();
    let w = b.metrics().window.unwrap();
    assert_eq!(
        w,
        WindowCounts {
            ignored: 4,
            ..Default::default()
        },
        "the failure slid out"
    );
    succeed(&b, 1);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open, "1 of 2 calls failed");
}

#[test]
fn the_failure_count_rule_ignores_the_minimum() {
    let config = BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Time {
            length: secs(60),
            buckets: 6,
        },
        failure_count_threshold: Some(3),
        minimum_calls: 1000,
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    for _ in 0..2 {
        fail(&b, 1);
        succeed(&b, 10);
        clock.advance(secs(20));
    }
    assert_eq!(b.state(), State::Closed);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open, "3 failures within 60 s");
}

#[test]
fn time_window_failures_expire_bucket_by_bucket() {
    let config = BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Time {
            length: secs(10),
            buckets: 10,
        },
        failure_count_threshold: Some(3),
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    fail(&b, 2); // bucket [0, 1)
    clock.advance(secs(9)); // bucket [9, 10): the window is [0, 10)
    assert_eq!(b.metrics().window.unwrap().failures, 2);
    clock.advance(Duration::from_nanos(999_999_999));
    assert_eq!(
        b.metrics().window.unwrap().failures,
        2,
        "one nanosecond before the boundary"
    );
    clock.advance(Duration::from_nanos(1)); // t = 10 s: bucket [0, 1) leaves
    assert_eq!(
        b.metrics().window.unwrap().failures,
        0,
        "exactly at the boundary"
    );
    fail(&b, 2);
    assert_eq!(b.state(), State::Closed, "the first two failures expired");
    fail(&b, 1);
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_long_idle_gap_empties_a_time_window() {
    let config = BreakerConfig {
        window: Window::Time {
            length: secs(10),
            buckets: 5,
        },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 4,
        failure_threshold: 100,
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    fail(&b, 3);
    clock.advance(secs(3600));
    assert_eq!(b.metrics().window.unwrap(), WindowCounts::default());
    succeed(&b, 3);
    fail(&b, 1);
    assert_eq!(
        b.state(),
        State::Closed,
        "1 of 4 failed: the old 3 are gone"
    );
}

#[test]
fn old_successes_leaving_a_time_window_can_trip_on_a_success() {
    let config = BreakerConfig {
        window: Window::Time {
            length: secs(10),
            buckets: 10,
        },
        failure_rate_threshold: Some(0.5),
        minimum_calls: 4,
        failure_threshold: 100,
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    succeed(&b, 10); // t = 0
    clock.advance(secs(5));
    fail(&b, 4); // 4 of 14
    assert_eq!(b.state(), State::Closed);
    clock.advance(secs(5)); // t = 10: the 10 successes leave
    succeed(&b, 1);
    assert_eq!(b.state(), State::Open, "4 failures of 5 calls");
}

#[test]
fn a_clock_stepping_back_never_trips_early_nor_panics() {
    let config = BreakerConfig {
        window: Window::Time {
            length: secs(10),
            buckets: 10,
        },
        failure_count_threshold: Some(3),
        failure_threshold: 100,
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    clock.set(100_000_000_000);
    fail(&b, 2);
    clock.set(1_000_000_000);
    fail(&b, 1);
    // The window at t = 1 s finds no snapshot of its own time: it judges
    // nothing rather than something wrong.
    assert_eq!(b.state(), State::Closed);
    clock.set(100_500_000_000);
    fail(&b, 1);
    assert_eq!(
        b.state(),
        State::Open,
        "back in the present: 4 failures in the window"
    );
}

#[test]
fn the_slow_call_rate_counts_successes_that_took_too_long() {
    let config = BreakerConfig {
        window: Window::Count { size: 10 },
        slow_call_duration: Some(secs(2)),
        slow_call_rate_threshold: Some(0.5),
        minimum_calls: 4,
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    for slow in [true, false, true, false] {
        let p = b.try_acquire().unwrap();
        clock.advance(if slow { secs(2) } else { secs(1) });
        p.success();
    }
    assert_eq!(b.state(), State::Open, "2 of 4 calls took 2 s or more");
    assert_eq!(b.metrics().slow_calls, 2);
}

#[test]
fn a_closed_episode_is_judged_without_the_failures_that_opened_the_last_one() {
    for window in [
        Window::Count { size: 10 },
        Window::Time {
            length: secs(600),
            buckets: 10,
        },
    ] {
        let config = BreakerConfig {
            window,
            failure_count_threshold: Some(3),
            failure_threshold: 100,
            success_threshold: 1,
            timeout: secs(10),
            ..Default::default()
        };
        let (b, clock) = breaker(config);
        fail(&b, 3);
        assert_eq!(b.state(), State::Open);
        clock.advance(secs(10));
        succeed(&b, 1);
        assert_eq!(b.state(), State::Closed);
        assert_eq!(b.metrics().window.unwrap().failures, 0, "{window:?}");
        fail(&b, 2);
        assert_eq!(
            b.state(),
            State::Closed,
            "{window:?}: only 2 failures in this episode"
        );
        fail(&b, 1);
        assert_eq!(b.state(), State::Open);
        b.reset();
        fail(&b, 2);
        assert_eq!(
            b.state(),
            State::Closed,
            "{window:?}: a reset starts a new episode"
        );
    }
}

#[test]
fn half_open_can_close_on_a_success_rate() {
    let config = BreakerConfig {
        failure_threshold: 1,
        success_threshold: 5,
        half_open_success_rate: Some(0.6),
        half_open_max_calls: 5,
        timeout: secs(1),
        ..Default::default()
    };
    let (b, clock) = breaker(config);
    fail(&b, 1);
    clock.advance(secs(1));
    let trials: Vec<_> = (0..5).map(|_| b.try_acquire().unwrap()).collect();
    assert!(b.try_acquire().is_err(), "5 trial slots");
    let mut trials = trials.into_iter();
    trials.next().unwrap().failure();
    trials.next().unwrap().failure();
    assert_eq!(
        b.state(),
        State::HalfOpen,
        "2 failures of 5 still allow 3 of 5"
    );
    trials.next().unwrap().success();
    trials.next().unwrap().success();
    assert_eq!(b.metrics().trial_successes, 2);
    trials.next().unwrap().success();
    assert_eq!(b.state(), State::Closed, "3 of 5 = 60%");

    fail(&b, 1);
    clock.advance(secs(1));
    let mut t: Vec<_> = (0..3).map(|_| b.try_acquire().unwrap()).collect();
    t.pop().unwrap().failure();
    t.pop().unwrap().failure();
    t.pop().unwrap().failure();
    assert_eq!(
        b.state(),
        State::Open,
        "a third failure makes 3 of 5 impossible"
    );
}

#[test]
fn rules_combine_the_first_to_fire_opens() {
    let config = BreakerConfig {
        failure_threshold: 3,
        window: Window::Count { size: 100 },
        failure_rate_threshold: Some(0.2),
        minimum_calls: 10,
        ..Default::default()
    };
    let (b, _) = breaker(config.clone());
    fail(&b, 3);
    assert_eq!(b.state(), State::Open, "consecutive rule first");
    let (b, _) = breaker(config);
    for _ in 0..2 {
        fail(&b, 1);
        succeed(&b, 3);
    }
    assert_eq!(b.state(), State::Closed, "2 of 8 calls: below the minimum");
    succeed(&b, 1);
    fail(&b, 1);
    assert_eq!(b.state(), State::Open, "3 of 10 calls = 30% >= 20%");
}

#[test]
fn window_memory_stays_bounded() {
    let time = BreakerConfig {
        window: Window::Time {
            length: secs(10),
            buckets: 10,
        },
        failure_rate_threshold: Some(0.5),
        ..Default::default()
    };
    let count = BreakerConfig {
        window: Window::Count { size: 100 },
        failure_rate_threshold: Some(0.5),
        ..Default::default()
    };
    for config in [time, count] {
        let (b, clock) = breaker(config);
        let before = b.memory_bytes();
        for i in 0..10_000u64 {
            b.try_acquire().unwrap().record(if i % 7 == 0 {
                seawall::Outcome::Failure
            } else {
                seawall::Outcome::Success
            });
            clock.advance(Duration::from_millis(7));
        }
        assert_eq!(
            b.memory_bytes(),
            before,
            "memory does not grow with traffic"
        );
        assert!(before <= 4096, "{before} bytes");
    }
}

#[test]
fn an_ignored_outcome_pushing_a_success_out_of_a_count_window_can_trip() {
    let config = BreakerConfig {
        trip_on_consecutive_failures: false,
        window: Window::Count { size: 4 },
        failure_rate_threshold: Some(1.0),
        minimum_calls: 2,
        ..Default::default()
    };
    let (b, _) = breaker(config);
    succeed(&b, 1);
    fail(&b, 3);
    assert_eq!(b.state(), State::Closed, "3 of 4 failed");
    b.try_acquire().unwrap().ignore();
    assert_eq!(b.state(), State::Open, "the success left: 3 of 3 failed");
}
