//! The listener list: an append-only lock-free list (`core/src/breaker/events.rs`).
//!
//! Listeners added while another thread makes a transition are linked by a
//! compare-and-swap on the last node; delivery walks the list. Racing
//! additions are both kept, in some order, and never lost; a delivery sees
//! every listener added before it and, of those added concurrently, any
//! subset (each exactly once or not at all).
#![cfg(seawall_loom)]

use std::sync::Arc;

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;
use seawall::{State, Transition};
use seawall_loom_tests::{breaker, model};

fn counter() -> (
    Arc<AtomicUsize>,
    impl Fn(&str, Transition) + Send + Sync + 'static,
) {
    let n = Arc::new(AtomicUsize::new(0));
    let m = Arc::clone(&n);
    // SeqCst: a test probe, not production code.
    (n, move |_: &str, _: Transition| {
        m.fetch_add(1, Ordering::SeqCst);
    })
}

/// Two threads each add a listener while a third forces the breaker open.
/// The listener present from the start hears the transition; each racing
/// one hears it at most once; after the joins all of them hear the next
/// transition exactly once (no addition was lost).
#[test]
fn listeners_added_during_a_transition_are_never_lost() {
    model(|| {
        let (b, _clock, events) = breaker(1, 1, 1);
        let (first, second) = (counter(), counter());
        let adders: Vec<_> = [first.1, second.1]
            .into_iter()
            .map(|l| {
                let b = Arc::clone(&b);
                thread::spawn(move || b.add_listener(l))
            })
            .collect();
        b.force_open();
        for t in adders {
            t.join().unwrap();
        }
        assert_eq!(events.count(State::Closed, State::ForcedOpen), 1);
        let heard = |n: &AtomicUsize| n.load(Ordering::SeqCst);
        let before = [heard(&first.0), heard(&second.0)];
        assert!(before.iter().all(|&n| n <= 1), "{before:?}");
        b.force_closed();
        assert_eq!(events.all().len(), 2);
        assert_eq!(heard(&first.0), before[0] + 1);
        assert_eq!(heard(&second.0), before[1] + 1);
    });
}
