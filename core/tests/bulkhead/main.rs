//! The bulkhead on the manual clock: admission and its limits
//! (`admission.rs`) and the direct hand-over of slots to waiters
//! (`handoff.rs`); the helpers they share are here.
//!
//! No assertion depends on timing: waiters whose deadline has passed on the
//! manual clock give up without sleeping, blocked threads and tasks are
//! ended by the events under test (a release, a cancellation, a move of the
//! manual clock), and a generous guard only turns a hang into a failure.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use seawall::{Admission, Bulkhead, BulkheadConfig, BulkheadError, ManualClock, Waiter};

mod admission;
mod handoff;

/// How long a test waits for a blocked thread before calling it hung. Far
/// beyond what any of them needs: a guard, not a measurement.
const HANG_GUARD: Duration = Duration::from_secs(30);

/// A bulkhead on a new manual clock (30 s timeout), and the clock.
fn bulkhead(max_concurrent: u32, max_queue_size: u32) -> (Bulkhead<ManualClock>, ManualClock) {
    let clock = ManualClock::new();
    let config = BulkheadConfig {
        max_concurrent,
        max_queue_size,
        timeout: Duration::from_secs(30),
    };
    (Bulkhead::with_clock(config, clock.clone()).unwrap(), clock)
}

/// The waiter of an admission that must have queued.
fn queued<'a>(a: Admission<'a, ManualClock>) -> Waiter<'a, ManualClock> {
    match a {
        Admission::Queued(w) => w,
        Admission::Permit(_) => panic!("expected to be queued"),
    }
}
