//! Loom models of the words the call path shares with the coordinator,
//! run by `scripts/test-loom.sh` (`--cfg seawall_loom` makes `crate::sync`
//! loom's): every interleaving of the threads, up to the preemption bound.

use loom::sync::Arc;
use loom::thread;

use crate::overlay::{self, Overlay, Pool, Results, Tokens, Verdict};
use crate::sync::{AtomicU64, Ordering};

/// Two callers take trial permits while the coordinator replaces the pool
/// with the next generation's: every permit of either generation is held
/// by one caller or left in (or returned by) the pool, never both, never
/// twice.
#[test]
fn pool_permits_are_conserved_across_a_generation_change() {
    loom::model(|| {
        let pool = Arc::new(Pool::new());
        pool.replace(1, 1);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || pool.take())
            })
            .collect();
        let (old_tag, old_left) = pool.replace(2, 1);
        let held: Vec<Option<u32>> = callers.into_iter().map(|c| c.join().unwrap()).collect();
        let held_of = |tag| held.iter().filter(|t| **t == Some(tag)).count() as u32;
        assert_eq!(old_tag, 1);
        assert_eq!(
            held_of(1) + old_left,
            1,
            "generation 1: {held:?}, {old_left} left"
        );
        let (tag, left) = pool.replace(3, 0);
        assert_eq!((tag, held_of(2) + left), (2, 1), "generation 2: {held:?}");
    });
}

/// The coordinator starts a generation (resets the verdict word) and then
/// publishes the overlay; a caller that sees the published overlay and
/// records a verdict for that generation never has it wiped by the reset:
/// the next drain reports it.
#[test]
fn a_verdict_after_the_published_reset_is_never_lost() {
    loom::model(|| {
        let results = Arc::new(Results::new());
        let word = Arc::new(AtomicU64::new(Overlay::new(overlay::OPEN, 0, false).0));
        results.drain(1);
        let caller = {
            let (results, word) = (Arc::clone(&results), Arc::clone(&word));
            thread::spawn(move || {
                // Acquire: pairs with the coordinator's Release, as on the
                // call path.
                let ov = Overlay(word.load(Ordering::Acquire));
                if ov.kind() == overlay::HALF_OPEN {
                    results.add(2, Verdict::Failure);
                    return true;
                }
                false
            })
        };
        results.drain(2);
        // Release: as `apply` publishes a new generation.
        word.store(
            Overlay::new(overlay::HALF_OPEN, 0, false).0,
            Ordering::Release,
        );
        let recorded = caller.join().unwrap();
        let (tag, _, failures, _) = results.drain(3);
        assert_eq!(tag, 2);
        assert_eq!(failures, u64::from(recorded));
    });
}

/// Two callers take leased tokens while the coordinator grants more and
/// then takes back what is left: taken + taken back + left = granted.
#[test]
fn leased_tokens_are_conserved() {
    loom::model(|| {
        let tokens = Arc::new(Tokens::new());
        tokens.grant(1);
        let callers: Vec<_> = (0..2)
            .map(|_| {
                let tokens = Arc::clone(&tokens);
                thread::spawn(move || u64::from(tokens.take().is_some()))
            })
            .collect();
        tokens.grant(1);
        let back = tokens.take_all();
        let taken: u64 = callers.into_iter().map(|c| c.join().unwrap()).sum();
        assert_eq!(taken + back + tokens.get(), 2);
    });
}
