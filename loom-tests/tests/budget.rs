//! The retry budget's grants and counts under racing callers.
//!
//! Every decision to grant a retry is a compare-and-swap of the current
//! window slice that checks the share against the value it replaces, and
//! the token bucket below `min_requests` is one GCRA word: racing callers
//! can never together take more than the budget, and no count is lost when
//! a slice is reused for a new stretch of time.
#![cfg(seawall_loom)]

use std::sync::Arc;
use std::time::Duration;

use loom::thread;
use seawall::{BudgetCounts, ManualClock, RetryBudget, RetryBudgetConfig};
use seawall_loom_tests::model;

fn budget(config: RetryBudgetConfig) -> (Arc<RetryBudget<ManualClock>>, ManualClock) {
    let clock = ManualClock::new();
    let b = RetryBudget::with_clock(config, clock.clone()).expect("valid config");
    (Arc::new(b), clock)
}

/// Nine first attempts at 10%: room for exactly one retry (1 of 10). Two
/// callers ask at once; exactly one is granted and counted.
#[test]
fn racing_grants_never_exceed_the_share() {
    model(|| {
        let (b, _clock) = budget(RetryBudgetConfig {
            budget_percent: 10.0,
            min_requests: 1,
            ..Default::default()
        });
        for _ in 0..9 {
            b.record_attempt(false);
        }
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || b2.can_retry());
        let here = b.can_retry();
        let there = t.join().unwrap();
        assert!(here ^ there, "granted here {here}, there {there}");
        assert_eq!(
            b.counts(),
            BudgetCounts {
                requests: 10,
                retries: 1
            }
        );
    });
}

/// Below `min_requests` one token is left: two callers race for it.
#[test]
fn racing_callers_share_the_last_token() {
    model(|| {
        let (b, _clock) = budget(RetryBudgetConfig {
            min_requests: 100,
            max_tokens: 1,
            tokens_per_second: 1.0,
            ..Default::default()
        });
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || b2.can_retry());
        let here = b.can_retry();
        let there = t.join().unwrap();
        assert!(here ^ there, "granted here {here}, there {there}");
        assert_eq!(b.tokens(), 0);
        assert_eq!(
            b.counts(),
            BudgetCounts {
                requests: 1,
                retries: 1
            }
        );
    });
}

/// A slice is reused for a later stretch of time by whichever of two racing
/// recorders comes first: the old counts are dropped once, and both new
/// attempts are counted.
#[test]
fn recording_racing_with_a_slice_reuse_counts_each_attempt_once() {
    model(|| {
        let (b, clock) = budget(RetryBudgetConfig {
            window_size: Duration::from_secs(10),
            min_requests: 1,
            ..Default::default()
        });
        b.record_attempt(false);
        b.record_attempt(true);
        // Ten slices later: slice 0's ring slot now belongs to slice 10.
        clock.set(10_000_000_000);
        let b2 = Arc::clone(&b);
        let t = thread::spawn(move || b2.record_attempt(false));
        b.record_attempt(true);
        t.join().unwrap();
        assert_eq!(
            b.counts(),
            BudgetCounts {
                requests: 2,
                retries: 1
            }
        );
    });
}
