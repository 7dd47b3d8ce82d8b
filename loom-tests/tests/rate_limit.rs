//! The rate limiter's compare-and-swap under racing callers.
//!
//! Admissions are read-modify-writes of one word (the theoretical arrival
//! time): racing callers are admitted exactly as often as the burst allows,
//! no update is lost (the wait announced afterwards is exact), every call
//! is counted once as admitted or refused, and a keyed limiter's shared
//! slot behaves the same.
#![cfg(seawall_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use seawall::{KeyedRateLimiter, ManualClock, RateLimitConfig, RateLimiter};
use seawall_loom_tests::model;

fn config(burst: u32) -> RateLimitConfig {
    RateLimitConfig {
        rate: 1,
        period: Duration::from_secs(1),
        burst,
        ..Default::default()
    }
}

/// Three callers, each checking twice at the same instant, against a burst
/// of three: exactly three admissions, and the next caller is told to wait
/// exactly one interval (a lost update would have admitted a fourth); the
/// metrics count each call once.
#[test]
fn racing_checks_admit_exactly_the_burst() {
    model(|| {
        let l = Arc::new(RateLimiter::with_clock(config(3), ManualClock::new()).unwrap());
        let spawn = || {
            let l = Arc::clone(&l);
            thread::spawn(move || (0..2).filter(|_| l.check().is_ok()).count())
        };
        let (t1, t2) = (spawn(), spawn());
        let here = (0..2).filter(|_| l.check().is_ok()).count();
        let total = here + t1.join().unwrap() + t2.join().unwrap();
        assert_eq!(total, 3);
        assert_eq!(l.check().unwrap_err().retry_after, Duration::from_secs(1));
        // Every call counted once: 3 admitted, 3 + 1 refused.
        let m = l.metrics();
        assert_eq!((m.allowed, m.denied), (3, 4));
    });
}

/// Two keys sharing the one slot of a keyed limiter race for a burst of one.
#[test]
fn keys_sharing_a_slot_race_for_one_allowance() {
    model(|| {
        let l = KeyedRateLimiter::<str, _, _>::with_hasher(
            config(1),
            1,
            ManualClock::new(),
            std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default(),
        )
        .unwrap();
        let l = Arc::new(l);
        let l2 = Arc::clone(&l);
        let t = thread::spawn(move || l2.check_key("a").is_ok());
        let here = l.check_key("b").is_ok();
        let there = t.join().unwrap();
        assert!(here ^ there, "admitted here {here}, there {there}");
    });
}
