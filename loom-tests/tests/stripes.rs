//! The striped counts (`core/src/stripes/`).
//!
//! The set of free stripe numbers (`free.rs`): one bit per stripe in one
//! atomic word, claimed by clearing it, handed back by setting it. Without
//! a lock, so that a forked child never inherits one held by a thread that
//! does not exist there. The set lives in a process-wide static outside
//! loom's reach, so the model compiles the production file itself against
//! loom's atomics (the `sync` module below stands in for the core's).
//!
//! The growth of a set of counts from its inline stripe to padded stripes
//! on the heap (`mod.rs`): modelled through the core's own type, with the
//! stripe numbers handed out by the model (`StripedCounts::incr_as`).
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::cell::UnsafeCell;
use loom::thread;

mod sync {
    pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};
}

#[path = "../../core/src/stripes/free.rs"]
mod free;

use sync::AtomicU32;

/// Stands in for a stripe: written with plain accesses by its holder only.
/// loom reports a data race if two threads ever hold the same number, or if
/// a hand-back does not order the last holder's writes before the next
/// holder's reads.
struct Stripes([UnsafeCell<u32>; 2]);

// SAFETY: each cell is touched only by the thread holding its number; loom
// checks that claim.
unsafe impl Sync for Stripes {}

/// Three threads race for two numbers; each that gets one writes its stripe
/// (read, then write, as the counters do) and hands it back. Never two
/// holders of one number, every write ordered before the next holder's
/// read, and every number back in the set at the end.
#[test]
fn numbers_are_held_by_one_thread_at_a_time_and_all_come_back() {
    seawall_loom_tests::model(|| {
        let free = Arc::new(AtomicU32::new(free::all(2)));
        let stripes = Arc::new(Stripes([UnsafeCell::new(0), UnsafeCell::new(0)]));
        let worker = {
            let (free, stripes) = (Arc::clone(&free), Arc::clone(&stripes));
            move || {
                let Some(i) = free::claim(&free) else {
                    return 0;
                };
                // SAFETY: this thread holds number `i` (checked by loom).
                stripes.0[i].with_mut(|v| unsafe { *v += 1 });
                free::hand_back(&free, i);
                1
            }
        };
        let threads: Vec<_> = (0..2).map(|_| thread::spawn(worker.clone())).collect();
        let mut counted = worker();
        for t in threads {
            counted += t.join().unwrap();
        }
        // SeqCst: a test probe after the joins.
        assert_eq!(free.load(sync::Ordering::SeqCst), free::all(2));
        let total: u32 = stripes
            .0
            .iter()
            // SAFETY: every thread is joined.
            .map(|c| c.with(|v| unsafe { *v }))
            .sum();
        assert_eq!(total, counted);
        assert!(counted >= 2, "two numbers serve at least two threads");
    });
}

/// The growth of a set of striped counts (`core/src/stripes/mod.rs`): two
/// numbers count at once while nothing is grown, so one claims the inline
/// stripe (or finds the stripes grown) and the other grows the padded
/// stripes, racing the claim; a reader sums meanwhile. Every reading is a
/// lower bound, no count is lost or counted twice, and the inline stripe's
/// owner keeps counting right after the growth.
#[test]
fn growth_races_a_claim_and_a_reading_without_losing_counts() {
    use seawall::stripes::StripedCounts;

    seawall_loom_tests::model(|| {
        let counts = Arc::new(StripedCounts::<1>::new());
        let threads: Vec<_> = [(Some(0), 2), (Some(1), 1)]
            .into_iter()
            .map(|(stripe, n)| {
                let counts = Arc::clone(&counts);
                thread::spawn(move || {
                    for _ in 0..n {
                        counts.incr_as(stripe, 0);
                    }
                })
            })
            .collect();
        let seen = counts.total(0);
        assert!(seen <= 3, "{seen}");
        for t in threads {
            t.join().unwrap();
        }
        assert!(counts.total(0) >= seen, "monotone");
        assert_eq!(counts.total(0), 3);
        assert!(counts.heap_bytes() > 0, "two numbers counted: grown");
    });
}

/// A thread without a number (counting atomically in the shared stripe)
/// grows the stripes while the inline stripe's owner counts, and a later
/// holder of the owner's number (ordered after it by the join, as the free
/// set orders holders) carries on in the right stripe.
#[test]
fn a_thread_without_a_number_grows_while_the_owner_counts() {
    use seawall::stripes::StripedCounts;

    seawall_loom_tests::model(|| {
        let counts = Arc::new(StripedCounts::<1>::new());
        let owner = {
            let counts = Arc::clone(&counts);
            thread::spawn(move || counts.incr_as(Some(0), 0))
        };
        let shared = {
            let counts = Arc::clone(&counts);
            thread::spawn(move || counts.incr_as(None, 0))
        };
        owner.join().unwrap();
        // The number's next holder.
        counts.incr_as(Some(0), 0);
        shared.join().unwrap();
        assert_eq!(counts.total(0), 3);
    });
}
