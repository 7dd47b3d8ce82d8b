//! The count window's blocks (`core/src/breaker/window.rs`): threads holding
//! a counter stripe take positions a block at a time and fill them through
//! cursors of their own; other threads take one at a time. Under loom the
//! breaker's threads hold no stripe, so these models drive the window
//! directly and choose each thread's stripe. Under loom a block is 2
//! positions, two stripes have cursors, and a window of 2 has a ring of 8.
//!
//! * A writer preempted while the ring laps it never overwrites the newer
//!   outcome: every slot holds the newest position stored to it.
//! * Two stripe holders and a reader: the reader never counts more than the
//!   window or an outcome twice; once joined the window is full.
//! * A floor raised while another thread's block is open: outcomes from
//!   before the raise never count, those recorded after it always do.
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::thread;
use seawall::{CountWindowProbe, Outcome};
use seawall_loom_tests::model;

#[test]
fn a_lapped_writer_never_overwrites_a_newer_outcome() {
    model(|| {
        let w = Arc::new(CountWindowProbe::new(2));
        let laps = w.ring() + 1;
        let w2 = Arc::clone(&w);
        // A stripe holder whose one position may be lapped before it stores.
        let t = thread::spawn(move || w2.record(Some(0), Outcome::Failure));
        let mut stored: Vec<(u64, Outcome)> = (0..laps)
            .map(|_| (w.record(None, Outcome::Success), Outcome::Success))
            .collect();
        let pos = t.join().unwrap();
        stored.push((pos, Outcome::Failure));
        // Each slot holds the outcome of the newest position stored to it.
        for &(pos, outcome) in &stored {
            let newest = stored
                .iter()
                .all(|&(p, _)| p % w.ring() != pos % w.ring() || p <= pos);
            if newest {
                assert_eq!(w.stored_at(pos), Some(outcome), "position {pos}");
            }
        }
        let c = w.counts();
        assert_eq!(c.calls(), 2, "{c:?}");
    });
}

#[test]
fn two_stripe_holders_and_a_reader_count_each_outcome_once_within_the_window() {
    model(|| {
        let w = Arc::new(CountWindowProbe::new(2));
        let w2 = Arc::clone(&w);
        let t = thread::spawn(move || {
            w2.record(Some(0), Outcome::Failure);
            w2.record(Some(0), Outcome::Failure);
        });
        w.record(Some(1), Outcome::Success);
        let seen = w.counts();
        assert!(seen.calls() <= 2, "never more than the window: {seen:?}");
        assert!(seen.successes <= 1, "never twice: {seen:?}");
        t.join().unwrap();
        // Joined: full; the last outcome by position is a failure, or the
        // success with the failure below it.
        let c = w.counts();
        assert_eq!(c.calls(), 2, "{c:?}");
        assert!(c.failures >= 1, "{c:?}");
    });
}

#[test]
fn a_floor_raised_under_an_open_block_keeps_episodes_apart() {
    model(|| {
        let w = Arc::new(CountWindowProbe::new(2));
        // Stripe 0's block is open, one of its two positions used.
        w.record(Some(0), Outcome::Success);
        let w2 = Arc::clone(&w);
        let t = thread::spawn(move || {
            w2.raise_floor();
            w2.record(Some(1), Outcome::Failure);
        });
        let seen = w.counts();
        assert!(seen.successes <= 1 && seen.failures <= 1, "{seen:?}");
        t.join().unwrap();
        // After the raise: stripe 0 gives up the rest of its block, which
        // is below the floor, and records in a fresh one.
        w.record(Some(0), Outcome::Failure);
        let c = w.counts();
        assert_eq!((c.successes, c.failures), (0, 2), "{c:?}");
    });
}
