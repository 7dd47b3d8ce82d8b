//! HALF_OPEN never admits more than `half_open_max_calls` trials at once.
#![cfg(seawall_loom)]

use std::sync::Arc;

// The model's own witness must be a loom atomic: loom prunes schedules that
// differ only in the order of operations it cannot see, and with a std
// atomic it missed a seeded over-admission.
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use seawall::{Breaker, ManualClock, Outcome, State};
use seawall_loom_tests::{
    assert_books_balance, breaker, model, model_with_branches, Events, HALF_OPEN_TIMEOUT, TIMEOUT,
};

/// A breaker tripped at time 0 whose open time has just passed: the next
/// acquire starts HALF_OPEN. Successes never close it within these models.
fn ready(max_calls: u32) -> (Arc<Breaker<ManualClock>>, ManualClock, Events) {
    let (b, clock, events) = breaker(1, 100, max_calls);
    b.try_acquire().expect("closed admits").failure();
    assert_eq!(b.state(), State::Open);
    clock.advance(TIMEOUT);
    assert_eq!(b.state(), State::HalfOpen);
    (b, clock, events)
}

/// Three threads race to acquire with two trial slots and nobody releasing:
/// exactly two are admitted, the third is rejected with the batch's expiry,
/// the metrics show two trials in flight, and OPEN -> HALF_OPEN happened
/// once.
#[test]
fn trials_held_fill_exactly_the_slots() {
    const MAX: u32 = 2;
    model(|| {
        let (b, _clock, events) = ready(MAX);
        let threads: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || match b.try_acquire() {
                    Ok(p) => Some(p.into_ticket()),
                    Err(r) => {
                        assert_eq!(
                            (r.state, r.retry_after),
                            (State::HalfOpen, Some(HALF_OPEN_TIMEOUT)),
                            "a caller racing OPEN -> HALF_OPEN was told {r:?}"
                        );
                        None
                    }
                })
            })
            .collect();
        let tickets: Vec<_> = threads
            .into_iter()
            .filter_map(|t| t.join().unwrap())
            .collect();

        assert_eq!(tickets.len(), MAX as usize);
        let m = b.metrics();
        assert_eq!(m.state, State::HalfOpen);
        assert_eq!(m.trial_calls_in_flight, MAX);
        assert_eq!(m.rejected, 1);
        assert_eq!(events.count(State::Open, State::HalfOpen), 1);
        events.balance(State::HalfOpen, &m);

        for t in tickets {
            b.record(t, Outcome::Ignored);
        }
        let m = b.metrics();
        assert_eq!(m.trial_calls_in_flight, 0);
        assert_eq!(m.state, State::HalfOpen);
        assert_books_balance(&m, 4);
    });
}

/// Trials are admitted and released (ignored) concurrently, so slots free up
/// and new batches start while other threads acquire; the first `holders`
/// threads keep their trial until every thread is done. A counter raised
/// after each admission and lowered before each release never exceeds the
/// limit, and (with `read_metrics`) an admitted thread sees its own trial,
/// and no more than the limit, in the metrics. A metrics snapshot reads
/// every counter stripe, which multiplies the interleavings, so the wider
/// model leaves it out.
fn admitted_never_exceed(max: u32, threads: usize, holders: usize, read_metrics: bool) {
    // A metrics snapshot per thread makes one long path (every stripe of
    // every counter is a load): more branches than loom's default cap.
    model_with_branches(if read_metrics { 5_000 } else { 1_000 }, move || {
        let (b, _clock, events) = ready(max);
        let active = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let b = b.clone();
                let active = active.clone();
                thread::spawn(move || match b.try_acquire() {
                    Ok(p) => {
                        // SeqCst: the witness is the model's, not code under
                        // test; it is a plain count of the trials held now.
                        let n = active.fetch_add(1, Ordering::SeqCst) + 1;
                        assert!(
                            n <= max as usize,
                            "{n} trials admitted at once, limit {max}"
                        );
                        if read_metrics {
                            let inflight = b.metrics().trial_calls_in_flight;
                            assert!(
                                (1..=max).contains(&inflight),
                                "metrics show {inflight} trials while one is held, limit {max}"
                            );
                        }
                        if i < holders {
                            return (true, Some(p.into_ticket()));
                        }
                        active.fetch_sub(1, Ordering::SeqCst);
                        p.ignore();
                        (true, None)
                    }
                    Err(r) => {
                        assert_eq!(r.state, State::HalfOpen, "rejected with {r:?}");
                        (false, None)
                    }
                })
            })
            .collect();
        let mut admitted = 0;
        let mut held = Vec::new();
        for h in handles {
            let (a, t) = h.join().unwrap();
            admitted += usize::from(a);
            held.extend(t);
        }

        // At least the first `max` acquires find a free slot.
        assert!(admitted >= (max as usize).min(threads));
        let m = b.metrics();
        assert_eq!(m.state, State::HalfOpen);
        assert_eq!(m.trial_calls_in_flight as usize, held.len());
        for t in held {
            b.record(t, Outcome::Ignored);
        }
        let m = b.metrics();
        assert_eq!(m.trial_calls_in_flight, 0);
        // Later batches start in the same state: no event for them.
        assert_eq!(events.count(State::Open, State::HalfOpen), 1);
        events.balance(State::HalfOpen, &m);
        assert_books_balance(&m, threads as u64 + 1);
    });
}

#[test]
fn one_slot_three_threads() {
    admitted_never_exceed(1, 3, 0, true);
}

#[test]
fn two_slots_three_threads_one_holding() {
    admitted_never_exceed(2, 3, 1, false);
}
