//! The bulkhead's acquire/release and its waiter queue.
//!
//! The fast path (one compare-and-swap to acquire, one `fetch_add` to
//! release) never admits more than `max_concurrent`; a release that finds
//! waiters hands its slot to the oldest and wakes it, and never misses one;
//! a waiter that leaves (dropped, cancelled, timed out) while a slot is
//! handed over neither loses the slot nor gets a second one. Under loom,
//! `Condvar::wait_timeout` never times out, so a lost wake-up (or a slot
//! handed to no one) shows up as a deadlock that loom reports.
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::thread;
use seawall::{Admission, Bulkhead, BulkheadConfig, BulkheadError, ManualClock};
use seawall_loom_tests::model;

fn bulkhead(max_concurrent: u32, max_queue_size: u32) -> Arc<Bulkhead<ManualClock>> {
    let config = BulkheadConfig {
        max_concurrent,
        max_queue_size,
        ..Default::default()
    };
    Arc::new(Bulkhead::with_clock(config, ManualClock::new()).expect("valid config"))
}

/// Two callers race for one slot on the fast path: never both inside, and
/// the slot is free once both are done.
#[test]
fn the_fast_path_never_admits_more_than_max_concurrent() {
    model(|| {
        let b = bulkhead(1, 0);
        let inside = Arc::new(AtomicBool::new(false));
        let run = {
            let (b, inside) = (Arc::clone(&b), Arc::clone(&inside));
            move || {
                if let Ok(p) = b.try_acquire() {
                    // SeqCst: a test probe, not production code.
                    assert!(!inside.swap(true, Ordering::SeqCst), "two callers inside");
                    inside.store(false, Ordering::SeqCst);
                    drop(p);
                    true
                } else {
                    false
                }
            }
        };
        let t = thread::spawn(run.clone());
        let here = run();
        let there = t.join().unwrap();
        assert!(here || there, "one of them got the slot");
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    });
}

/// A caller blocks in `acquire` while the only slot is held; the holder
/// releases it from another thread. The waiter must wake and get the slot
/// in every interleaving (else loom reports a deadlock).
#[test]
fn a_release_always_wakes_a_blocked_waiter() {
    model(|| {
        let b = bulkhead(1, 1);
        b.try_acquire().unwrap().detach();
        let b2 = Arc::clone(&b);
        let waiter = thread::spawn(move || b2.acquire().map(drop).is_ok());
        assert!(b.release_detached());
        assert!(waiter.join().unwrap());
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    });
}

/// While one caller blocks for the held slot, another joins the queue and
/// gives up (is dropped) as the slot is released: the blocked caller still
/// gets the slot, and nothing is left behind.
#[test]
fn a_dropped_waiter_racing_a_release_strands_nothing() {
    model(|| {
        let b = bulkhead(1, 2);
        b.try_acquire().unwrap().detach();
        let b1 = Arc::clone(&b);
        let blocked = thread::spawn(move || b1.acquire().map(drop).is_ok());
        let b2 = Arc::clone(&b);
        let leaver = thread::spawn(move || match b2.enqueue() {
            Ok(Admission::Queued(w)) => drop(w),
            Ok(Admission::Permit(p)) => drop(p),
            Err(e) => panic!("queue has room: {e}"),
        });
        assert!(b.release_detached());
        leaver.join().unwrap();
        assert!(blocked.join().unwrap());
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    });
}

/// A waiter is cancelled (from another thread) while a release frees the
/// slot and another caller is blocked for it: in every interleaving the
/// blocked caller gets the slot, the cancelled waiter either took the slot
/// first or left the queue, and nothing is left behind. (`cancel` wakes
/// every sleeper, and a waiter that leaves passes on a wake-up it may have
/// absorbed; either suffices here. The bulkhead and the waiter are leaked
/// so that threads can share the waiter's borrow: a few bytes per
/// iteration.)
#[test]
fn a_cancelled_waiter_racing_a_release_strands_nothing() {
    model(|| {
        let b: &'static Bulkhead<ManualClock> = Box::leak(Box::new(
            Bulkhead::with_clock(
                BulkheadConfig {
                    max_concurrent: 1,
                    max_queue_size: 2,
                    ..Default::default()
                },
                ManualClock::new(),
            )
            .expect("valid config"),
        ));
        b.try_acquire().unwrap().detach();
        let w = match b.enqueue().unwrap() {
            Admission::Queued(w) => &*Box::leak(Box::new(w)),
            Admission::Permit(_) => unreachable!("the slot is held"),
        };
        let cancelled = thread::spawn(move || w.wait().map(drop));
        let blocked = thread::spawn(move || b.acquire().map(drop).is_ok());
        assert!(b.release_detached());
        w.cancel();
        let _ = cancelled.join().unwrap(); // got the slot first, or cancelled
        assert!(blocked.join().unwrap());
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    });
}

/// A waiter blocks on a bulkhead on the manual clock; another thread moves
/// the clock past its deadline. In every interleaving the waiter wakes and
/// returns `Timeout` (a lost wake-up would be a deadlock: loom's waits never
/// time out, and nothing else would wake it), leaving the queue empty. The
/// waiter is registered (its deadline fixed) before the move; the bulkhead
/// and the waiter are leaked as in the model above.
#[test]
fn moving_the_manual_clock_past_a_deadline_wakes_the_waiter() {
    model(|| {
        let clock = ManualClock::new();
        let config = BulkheadConfig {
            max_concurrent: 1,
            max_queue_size: 1,
            timeout: std::time::Duration::from_secs(3),
        };
        let b: &'static Bulkhead<ManualClock> = Box::leak(Box::new(
            Bulkhead::with_clock(config, clock.clone()).expect("valid config"),
        ));
        b.try_acquire().unwrap().detach();
        let w = match b.enqueue().unwrap() {
            Admission::Queued(w) => &*Box::leak(Box::new(w)),
            Admission::Permit(_) => unreachable!("the slot is held"),
        };
        let waiter = thread::spawn(move || w.wait().map(drop));
        clock.advance(std::time::Duration::from_secs(3));
        assert_eq!(waiter.join().unwrap(), Err(BulkheadError::Timeout));
        assert_eq!((b.available_permits(), b.queue_size()), (0, 0));
    });
}

/// Leaks a bulkhead and one queued waiter, so that threads can share the
/// waiter's borrow (a few bytes per iteration).
fn leaked_waiter(
    b: &'static Bulkhead<ManualClock>,
) -> &'static seawall::Waiter<'static, ManualClock> {
    match b.enqueue().expect("the queue has room") {
        Admission::Queued(w) => Box::leak(Box::new(w)),
        Admission::Permit(_) => unreachable!("the slot is held"),
    }
}

/// Release against cancel: the only slot is held, two waiters are queued
/// (A, the oldest, then B); A is cancelled from one thread while the slot
/// is released from another and B waits in a third. In every
/// interleaving the slot ends with B (A either never got it, or passes it
/// on), A reports `Cancelled`, and once B lets go the slot is free and the
/// queue empty: the slot was neither lost nor handed twice.
#[test]
fn a_release_racing_a_cancel_hands_the_slot_on() {
    model(|| {
        let b: &'static Bulkhead<ManualClock> = Box::leak(Box::new(
            Bulkhead::with_clock(
                BulkheadConfig {
                    max_concurrent: 1,
                    max_queue_size: 2,
                    ..Default::default()
                },
                ManualClock::new(),
            )
            .expect("valid config"),
        ));
        b.try_acquire().unwrap().detach();
        let a = leaked_waiter(b);
        let w = leaked_waiter(b);
        let canceller = thread::spawn(move || a.cancel());
        let releaser = thread::spawn(move || assert!(b.release_detached()));
        let got = w.wait().map(drop);
        canceller.join().unwrap();
        releaser.join().unwrap();
        assert_eq!(got, Ok(()), "B gets the slot");
        assert_eq!(a.try_acquire().unwrap_err(), BulkheadError::Cancelled);
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    });
}

/// Release against timeout: A (deadline 3 s) and B (deadline 4 s) wait for
/// the held slot; one thread releases it while another moves the manual
/// clock to 3 s. A either gets the slot (and lets go of it) or times out;
/// in every interleaving B gets the slot, and the books balance.
#[test]
fn a_release_racing_a_timeout_hands_the_slot_on() {
    model(|| {
        let clock = ManualClock::new();
        let config = BulkheadConfig {
            max_concurrent: 1,
            max_queue_size: 2,
            timeout: std::time::Duration::from_secs(3),
        };
        let b: &'static Bulkhead<ManualClock> = Box::leak(Box::new(
            Bulkhead::with_clock(config, clock.clone()).expect("valid config"),
        ));
        b.try_acquire().unwrap().detach();
        let a = leaked_waiter(b);
        clock.advance(std::time::Duration::from_secs(1));
        let w = leaked_waiter(b);
        let first = thread::spawn(move || a.wait().map(drop));
        let releaser = thread::spawn(move || assert!(b.release_detached()));
        let mover = {
            let clock = clock.clone();
            thread::spawn(move || clock.advance(std::time::Duration::from_secs(2)))
        };
        let got = w.wait().map(drop);
        let a_got = first.join().unwrap();
        releaser.join().unwrap();
        mover.join().unwrap();
        assert!(matches!(a_got, Ok(()) | Err(BulkheadError::Timeout)));
        assert_eq!(got, Ok(()), "B gets the slot");
        assert_eq!((b.available_permits(), b.queue_size()), (1, 0));
    });
}
