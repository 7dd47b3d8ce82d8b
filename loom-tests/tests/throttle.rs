//! The adaptive throttler's counts under racing callers.
//!
//! A local refusal (one request) and a recorded accept (one request, one
//! accept) land in the same time slice at once, as compare-and-swaps of the
//! same word: neither count is lost, and a check that races with them sees
//! either side of each write, never a torn slice.
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::thread;
use seawall::{AdaptiveThrottler, ManualClock, Priority, Random, ThrottleConfig};
use seawall_loom_tests::model;

/// Always draws 0: every call with a positive probability is refused.
struct Zero;
impl Random for Zero {
    fn unit(&self) -> f64 {
        0.0
    }
}

#[test]
fn racing_refusals_and_records_lose_no_count() {
    model(|| {
        let t = Arc::new(
            AdaptiveThrottler::with_clock_and_random(
                ThrottleConfig::default(),
                ManualClock::new(),
                Zero,
            )
            .expect("valid config"),
        );
        // One refused request: the next Normal check is refused (p = 1/2).
        t.record(false);
        let t2 = Arc::clone(&t);
        let other = thread::spawn(move || t2.record(true));
        let refused = t.check(Priority::Normal).is_err();
        other.join().unwrap();
        let m = t.metrics();
        // Refused unless the accept came first (then 2 - 2 * 1 <= 0).
        assert_eq!(m.requests, 2 + u64::from(refused));
        assert_eq!(m.accepts, 1);
        assert_eq!(m.throttled, u64::from(refused));
    });
}
