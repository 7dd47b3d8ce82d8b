//! The adaptive limiter's admission, release and limit updates.
//!
//! Admission is one compare-and-swap of the calls word against the limit
//! read from the estimate word; a sample moves the estimate by its own
//! compare-and-swap, on the release path. The models check that no
//! admission goes past the limit in force, that a limit falling or rising
//! while others acquire and release never loses or doubles a slot, and that
//! a gradient window that two samples fill at once is applied once.
#![cfg(seawall_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::sync::atomic::{AtomicU32, Ordering};
use loom::thread;
use seawall::{
    AdaptiveLimiter, AdaptiveLimiterConfig, AdaptiveLimiterMetrics, LimitAlgorithm, ManualClock,
    Outcome,
};
use seawall_loom_tests::model;

const MS: Duration = Duration::from_millis(1);

fn aimd(initial: u32, min: u32, max: u32) -> Arc<AdaptiveLimiter<ManualClock>> {
    let config = AdaptiveLimiterConfig {
        algorithm: LimitAlgorithm::Aimd,
        initial_limit: initial,
        min_limit: min,
        max_limit: max,
        backoff_ratio: 0.5,
        ..Default::default()
    };
    Arc::new(AdaptiveLimiter::with_clock(config, ManualClock::new()).expect("valid config"))
}

/// Takes a slot, checks that the calls holding one (counted by the probe
/// `inside`) stay within `bound`, then reports `outcome`.
fn call(
    l: &AdaptiveLimiter<ManualClock>,
    inside: &AtomicU32,
    bound: u32,
    outcome: Outcome,
) -> bool {
    let Ok(p) = l.try_acquire() else {
        return false;
    };
    // SeqCst: a test probe, not production code.
    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
    assert!(now <= bound, "{now} calls inside, limit {bound}");
    inside.fetch_sub(1, Ordering::SeqCst);
    p.record(outcome, MS);
    true
}

/// Two callers race for a limit of one: never both inside, and the slot is
/// free once both are done.
#[test]
fn admission_never_exceeds_the_limit() {
    model(|| {
        let l = aimd(1, 1, 1);
        let inside = Arc::new(AtomicU32::new(0));
        let t = {
            let (l, inside) = (Arc::clone(&l), Arc::clone(&inside));
            thread::spawn(move || call(&l, &inside, 1, Outcome::Success))
        };
        let here = call(&l, &inside, 1, Outcome::Success);
        let there = t.join().unwrap();
        assert!(here || there, "one of them got the slot");
        let m = l.metrics();
        assert_eq!((m.in_flight, m.admitted + m.rejected), (0, 2));
    });
}

/// The limit falls (a failure halves it to one) while another caller
/// acquires and a third releases a detached slot: nobody is admitted past
/// the limit of two in force at the start, once the fall is visible a new
/// caller is refused while one is inside, and every slot comes back
/// exactly once.
#[test]
fn a_falling_limit_racing_acquire_and_release_loses_no_slot() {
    model(|| {
        let l = aimd(2, 1, 2);
        let inside = Arc::new(AtomicU32::new(0));
        let held = l.try_acquire().unwrap().detach();
        let failing = {
            let (l, inside) = (Arc::clone(&l), Arc::clone(&inside));
            thread::spawn(move || call(&l, &inside, 2, Outcome::Failure))
        };
        let releasing = {
            let l = Arc::clone(&l);
            thread::spawn(move || assert!(l.complete(held, Outcome::Success, Some(MS))))
        };
        let here = call(&l, &inside, 2, Outcome::Success);
        let there = failing.join().unwrap();
        releasing.join().unwrap();
        let m = l.metrics();
        let admitted = 1 + u64::from(here) + u64::from(there);
        assert_eq!((m.in_flight, m.admitted), (0, admitted));
        assert!(!l.complete(held, Outcome::Ignored, None), "freed twice");
        // One caller alone never is refused: the limit is at least 1.
        assert!(l.try_acquire().is_ok());
        if l.limit() == 1 {
            let p = l.try_acquire().unwrap();
            assert!(l.try_acquire().is_err(), "over the fallen limit");
            drop(p);
        }
    });
}

/// Two samples fill a gradient window of two at once: exactly one of them
/// closes it, so the limit moves once, by the rule applied to both.
#[test]
fn a_window_filled_by_two_samples_at_once_is_applied_once() {
    model(|| {
        let config = AdaptiveLimiterConfig {
            algorithm: LimitAlgorithm::Gradient,
            initial_limit: 2,
            window_calls: 2,
            window: Duration::ZERO,
            ..Default::default()
        };
        let l = Arc::new(AdaptiveLimiter::with_clock(config, ManualClock::new()).unwrap());
        let a = l.try_acquire().unwrap().detach();
        let b = l.try_acquire().unwrap().detach();
        let t = {
            let l = Arc::clone(&l);
            thread::spawn(move || assert!(l.complete(a, Outcome::Success, Some(MS))))
        };
        assert!(l.complete(b, Outcome::Success, Some(3 * MS)));
        t.join().unwrap();
        // One window (mean 2 ms, gradient 1): 2 * 0.8 + (2 + 4) * 0.2.
        assert!((l.estimate() - 2.8).abs() < 1e-6, "{}", l.estimate());
        assert_eq!(
            l.metrics(),
            AdaptiveLimiterMetrics {
                limit: 2,
                in_flight: 0,
                admitted: 2,
                rejected: 0
            }
        );
    });
}

/// Three failures are recorded at once: each compare-and-swap of the
/// estimate recomputes from the value it replaces, so every one of them
/// halves the limit exactly once, in any interleaving.
#[test]
fn concurrent_samples_are_each_applied_once() {
    model(|| {
        let l = aimd(8, 1, 8);
        let tickets: Vec<_> = (0..3).map(|_| l.try_acquire().unwrap().detach()).collect();
        let threads: Vec<_> = tickets
            .into_iter()
            .map(|t| {
                let l = Arc::clone(&l);
                thread::spawn(move || assert!(l.complete(t, Outcome::Failure, Some(MS))))
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(l.estimate(), 1.0, "8 halved three times");
        assert_eq!(l.in_flight(), 0);
    });
}
