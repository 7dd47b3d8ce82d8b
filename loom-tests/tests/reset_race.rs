//! Manual commands racing with calls keep the books and the events exact.
#![cfg(seawall_loom)]

use loom::thread;
use seawall::State;
use seawall_loom_tests::{assert_books_balance, breaker, model};

/// Takes a permit if admitted and reports a failure (`fail`) or a success.
/// Returns whether it was admitted.
fn call(b: &seawall::Breaker<seawall::ManualClock>, fail: bool) -> bool {
    match b.try_acquire() {
        Ok(p) if fail => {
            p.failure();
            true
        }
        Ok(p) => {
            p.success();
            true
        }
        Err(r) => {
            assert!(matches!(r.state, State::Open | State::ForcedOpen), "{r:?}");
            false
        }
    }
}

/// A failing call (threshold one), a succeeding call and a reset, at once.
/// Whatever the interleaving: every permit has one outcome, every attempt is
/// permitted or rejected, the breaker ends CLOSED or OPEN with no
/// consecutive failures (one failure trips it), the events chain from CLOSED
/// to the final state and match the transition counters.
#[test]
fn reset_racing_with_calls() {
    model(|| {
        let (b, _clock, events) = breaker(1, 1, 1);
        let threads = [
            {
                let b = b.clone();
                thread::spawn(move || {
                    call(&b, true);
                })
            },
            {
                let b = b.clone();
                thread::spawn(move || {
                    call(&b, false);
                })
            },
            {
                let b = b.clone();
                thread::spawn(move || b.reset())
            },
        ];
        for t in threads {
            t.join().unwrap();
        }

        let m = b.metrics();
        assert!(matches!(m.state, State::Closed | State::Open), "{m:?}");
        assert_eq!(m.consecutive_failures, 0);
        // At most: the trip, then the reset reopening nothing but closing it.
        assert!(m.transitions.to_open <= 1);
        assert!(m.transitions.to_closed <= 1);
        events.balance(m.state, &m);
        assert_books_balance(&m, 2);
    });
}

/// `force_open`, `reset` and a failing call (threshold one), at once. The
/// breaker ends FORCED_OPEN, CLOSED or OPEN depending on the order, and the
/// events and counters agree with that order.
#[test]
fn force_open_and_reset_racing_with_a_call() {
    model(|| {
        let (b, _clock, events) = breaker(1, 1, 1);
        let threads = [
            {
                let b = b.clone();
                thread::spawn(move || {
                    call(&b, true);
                })
            },
            {
                let b = b.clone();
                thread::spawn(move || b.force_open())
            },
            {
                let b = b.clone();
                thread::spawn(move || b.reset())
            },
        ];
        for t in threads {
            t.join().unwrap();
        }

        let m = b.metrics();
        assert!(
            matches!(m.state, State::Closed | State::Open | State::ForcedOpen),
            "{m:?}"
        );
        assert_eq!(
            m.transitions.to_forced_open, 1,
            "force_open always takes effect"
        );
        events.balance(m.state, &m);
        assert_books_balance(&m, 1);
    });
}
