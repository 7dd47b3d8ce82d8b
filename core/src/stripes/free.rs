//! The set of owned-stripe numbers that no live thread holds: one bit per
//! stripe in one atomic word, claimed by clearing the bit and handed back by
//! setting it again.
//!
//! No lock: a process that forks while its threads start and exit leaves
//! its child a set it can use. A number held by a thread that does not
//! exist in the child stays claimed there: that stripe keeps its counts (and
//! is summed as before); it just never counts again.

use crate::sync::{AtomicU32, Ordering};

/// The set with the numbers `0..n` free (`n <= 32`).
pub(crate) const fn all(n: usize) -> u32 {
    assert!(n <= 32, "one bit per stripe in a u32");
    if n == 0 {
        0
    } else {
        u32::MAX >> (32 - n)
    }
}

/// Takes the lowest free number, if any is free.
pub(crate) fn claim(free: &AtomicU32) -> Option<usize> {
    // Relaxed: a guess for the swap below.
    let mut cur = free.load(Ordering::Relaxed);
    while cur != 0 {
        let lowest = cur & cur.wrapping_neg();
        // Acquire on success: pairs with the Release in `hand_back` by the
        // number's previous holder (other threads' swaps in between
        // continue its release sequence), so that holder's last plain
        // stores to the stripe happen before this thread's first plain load
        // of it. Relaxed on failure: the value only feeds the next attempt.
        match free.compare_exchange_weak(cur, cur & !lowest, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => return Some(lowest.trailing_zeros() as usize),
            Err(actual) => cur = actual,
        }
    }
    None
}

/// Hands back a number that `claim` returned to this thread.
pub(crate) fn hand_back(free: &AtomicU32, i: usize) {
    // Release: pairs with the Acquire in `claim` (see there).
    let prev = free.fetch_or(1 << i, Ordering::Release);
    debug_assert_eq!(prev & (1 << i), 0, "stripe {i} handed back twice");
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_claimed_lowest_first_and_reused_after_hand_back() {
        assert_eq!(all(0), 0);
        assert_eq!(all(8), 0xFF);
        assert_eq!(all(32), u32::MAX);
        let free = AtomicU32::new(all(3));
        assert_eq!(
            [claim(&free), claim(&free), claim(&free), claim(&free)],
            [Some(0), Some(1), Some(2), None]
        );
        hand_back(&free, 1);
        assert_eq!(claim(&free), Some(1));
        assert_eq!(claim(&free), None);
        hand_back(&free, 2);
        hand_back(&free, 0);
        assert_eq!(free.load(Ordering::Relaxed), 0b101);
    }

    #[test]
    fn racing_threads_never_hold_the_same_number() {
        const N: usize = 8;
        let free = AtomicU32::new(all(N));
        let held: [AtomicU32; N] = Default::default();
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..20_000 {
                        let Some(i) = claim(&free) else { continue };
                        // Relaxed: the counter is its own record; a second
                        // holder would see 1 here.
                        assert_eq!(held[i].fetch_add(1, Ordering::Relaxed), 0);
                        held[i].fetch_sub(1, Ordering::Relaxed);
                        hand_back(&free, i);
                    }
                });
            }
        });
        assert_eq!(
            free.load(Ordering::Relaxed),
            all(N),
            "every number came back"
        );
    }
}
