//! Window recording racing with roll-over and evaluation.
//!
//! Time window: a bucket roll-over (one elected thread writes a snapshot
//! under the bucket's sequence number) racing with recording and with
//! evaluation. Nothing is counted twice or lost: once the threads are joined
//! the window holds exactly the outcomes recorded, and a concurrent
//! evaluation sees between its own outcomes and all of them.
//!
//! Count window: the documented bound, an evaluation may miss an outcome
//! whose writer has taken its position but not yet stored it: at most one
//! per thread in flight, never one counted twice. Under loom the breaker's
//! threads hold no counter stripe, so they take positions one at a time;
//! `count_window_blocks.rs` models the blocks of stripe holders.
#![cfg(seawall_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use seawall::{Breaker, BreakerConfig, ManualClock, State, Window};
use seawall_loom_tests::model_with_branches;

/// `metrics()` reads every counter stripe: more branches than loom's default.
const BRANCHES: usize = 100_000;

fn window_breaker(window: Window) -> (Arc<Breaker<ManualClock>>, ManualClock) {
    let clock = ManualClock::new();
    // A window with no window rule: outcomes are recorded and evaluated
    // (failures always are), and nothing trips within these models.
    let config = BreakerConfig {
        failure_threshold: 100,
        window,
        minimum_calls: 1,
        ..Default::default()
    };
    let b = Breaker::with_clock("w", config, clock.clone()).expect("valid config");
    (Arc::new(b), clock)
}

#[test]
fn time_window_roll_over_racing_with_recording_counts_each_outcome_once() {
    model_with_branches(BRANCHES, || {
        let (b, clock) = window_breaker(Window::Time {
            length: Duration::from_secs(2),
            buckets: 2,
        });
        b.try_acquire().unwrap().failure(); // bucket 0
        clock.set(1_000_000_000); // the first outcome now rolls into bucket 1
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || {
            b2.try_acquire().unwrap().failure();
            b2.metrics().window.unwrap().failures
        });
        b.try_acquire().unwrap().failure();
        let seen_here = b.metrics().window.unwrap().failures;
        let seen_there = t.join().unwrap();
        for seen in [seen_here, seen_there] {
            assert!((2..=3).contains(&seen), "saw {seen} failures");
        }
        let w = b.metrics().window.unwrap();
        assert_eq!((w.failures, w.successes), (3, 0));
        assert_eq!(b.state(), State::Closed);
    });
}

#[test]
fn time_window_snapshot_write_is_never_read_half_done() {
    model_with_branches(BRANCHES, || {
        let (b, clock) = window_breaker(Window::Time {
            length: Duration::from_secs(2),
            buckets: 2,
        });
        b.try_acquire().unwrap().success(); // bucket 0 (slot 0): snapshot of zeros
        clock.set(2_000_000_000); // the window is now buckets [1, 2]
        let b2 = Arc::clone(&b);
        // Rolls into bucket 2, which reuses slot 0: it overwrites bucket 0's
        // snapshot (zeros) with one success.
        let t = thread::spawn(move || b2.try_acquire().unwrap().failure());
        // Reads the window while that write may be in progress. Bucket 1 has
        // no snapshot, so the base is bucket 2's if complete, else none. A
        // half-written slot (new sequence number, old zeros) would make the
        // old success count.
        let w = b.metrics().window.unwrap();
        assert_eq!(w.successes, 0, "the success at t=0 is outside the window");
        assert!(w.failures <= 1);
        t.join().unwrap();
        let w = b.metrics().window.unwrap();
        assert_eq!((w.successes, w.failures), (0, 1));
    });
}

#[test]
fn count_window_misses_at_most_the_outcomes_in_flight_and_never_doubles() {
    model_with_branches(BRANCHES, || {
        let (b, _clock) = window_breaker(Window::Count { size: 2 });
        b.try_acquire().unwrap().success();
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || {
            b2.try_acquire().unwrap().failure();
            b2.metrics().window.unwrap()
        });
        b.try_acquire().unwrap().failure();
        let here = b.metrics().window.unwrap();
        let there = t.join().unwrap();
        for w in [here, there] {
            // Own failure always; the other thread's one at most; the old
            // success only if a failure has not pushed it out yet.
            assert!((1..=2).contains(&w.failures), "{w:?}");
            assert!(w.calls() <= 2, "never more than the window: {w:?}");
        }
        let w = b.metrics().window.unwrap();
        assert_eq!((w.failures, w.successes), (2, 0), "exact once joined");
    });
}
