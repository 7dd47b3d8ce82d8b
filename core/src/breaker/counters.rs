//! Exact per-breaker call counters, striped so that hot paths never contend.
//!
//! Each of the first [`STRIPES`] threads that count holds a process-wide
//! stripe number, unique among live threads, claimed from a lock-free set
//! (`free.rs`) and handed back when the thread exits. Its holder is the
//! only writer of that stripe in every breaker and increments with a plain
//! load and store: no locked instruction, no cache line shared with another
//! writer. Threads that find no number free (or whose thread-local storage
//! is already torn down) use one shared stripe with `fetch_add`. Both kinds
//! of increments are exact; a snapshot sums all stripes.
//!
//! Under `cfg(seawall_loom)` every increment goes to the shared stripe:
//! loom models the state machine, and the single-writer argument above does
//! not need a model.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, Ordering};

// Under loom the model compiles `free.rs` itself (loom-tests/tests/stripes.rs).
#[cfg(not(seawall_loom))]
mod free;

/// The stripes with a single owner each. With 128-byte padding (crossbeam's
/// choice for x86_64, which prefetches line pairs) this is 1 KiB per breaker.
pub(crate) const STRIPES: usize = 8;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Counter {
    Permitted = 0,
    Successes,
    Failures,
    Ignored,
    Rejected,
    Slow,
    Late,
}

const COUNTERS: usize = 7;
const COUNTER_ORDER: [Counter; COUNTERS] = [
    Counter::Permitted,
    Counter::Successes,
    Counter::Failures,
    Counter::Ignored,
    Counter::Rejected,
    Counter::Slow,
    Counter::Late,
];

#[derive(Default)]
struct Stripe([AtomicU64; COUNTERS]);

/// The counters of one breaker.
#[derive(Default)]
pub(crate) struct Counters {
    owned: [CachePadded<Stripe>; STRIPES],
    shared: CachePadded<Stripe>,
    /// The totals at the last `clear`: reported counts are measured from
    /// here, while the raw totals stay monotone for the time window.
    baseline: Stripe,
}

impl Counters {
    /// Adds one to `c`.
    #[inline]
    pub(crate) fn incr(&self, c: Counter) {
        match thread_stripe() {
            Some(i) => {
                let cell = &self.owned[i].0[c as usize];
                // Relaxed load and store: this thread is the only writer of
                // its stripe (see the module docs), so no increment can be
                // lost between the two; readers only need the value, and
                // the final totals become visible through whatever joins or
                // synchronises with this thread.
                cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
            }
            None => {
                // Relaxed: an exact atomic increment; nothing is published
                // through the counter.
                self.shared.0[c as usize].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The total of `c` since the last [`Counters::clear`].
    pub(crate) fn reported(&self, c: Counter) -> u64 {
        // Relaxed: see `get`.
        self.get(c)
            .saturating_sub(self.baseline.0[c as usize].load(Ordering::Relaxed))
    }

    /// The sum of `c` over all stripes, since creation: monotone.
    pub(crate) fn get(&self, c: Counter) -> u64 {
        let i = c as usize;
        // Relaxed: each stripe value is read on its own; a snapshot taken
        // during traffic is a consistent lower bound per counter.
        self.owned
            .iter()
            .chain(std::iter::once(&self.shared))
            .map(|s| s.0[i].load(Ordering::Relaxed))
            .sum()
    }

    /// Restarts the reported counts from zero. Exact only while no thread
    /// is counting; the raw totals are untouched.
    pub(crate) fn clear(&self) {
        for (i, cell) in self.baseline.0.iter().enumerate() {
            // Relaxed: see `get`.
            cell.store(self.get(COUNTER_ORDER[i]), Ordering::Relaxed);
        }
    }
}

#[cfg(seawall_loom)]
#[inline]
fn thread_stripe() -> Option<usize> {
    None
}

#[cfg(not(seawall_loom))]
#[inline]
fn thread_stripe() -> Option<usize> {
    // The hot path is one load of a `const`-initialised thread-local with no
    // destructor: no lazy-init or torn-down check, no bounds check.
    let i = slot::INDEX.with(std::cell::Cell::get);
    if i < STRIPES {
        Some(i)
    } else {
        slot::claim()
    }
}

#[cfg(not(seawall_loom))]
mod slot {
    use std::cell::Cell;

    use super::{free, STRIPES};
    use crate::sync::AtomicU32;

    /// `INDEX` of a thread that has not counted yet.
    const UNCLAIMED: usize = usize::MAX;
    /// `INDEX` of a thread that counts in the shared stripe: no number was
    /// free when it first counted, or it has exited (its `Slot` is dropped).
    const SHARED: usize = usize::MAX - 1;

    /// The stripe numbers no live thread holds (see `free.rs`).
    static FREE: AtomicU32 = AtomicU32::new(free::all(STRIPES));

    /// The number a thread holds, if it got one; handed back on exit.
    pub(super) struct Slot(Option<usize>);

    impl Drop for Slot {
        fn drop(&mut self) {
            if let Some(i) = self.0 {
                // Counts made after this (by other thread-local destructors)
                // go to the shared stripe: the number is handed back below.
                INDEX.with(|x| x.set(SHARED));
                free::hand_back(&FREE, i);
            }
        }
    }

    thread_local! {
        /// This thread's owned stripe, if it holds one; else `UNCLAIMED` or
        /// `SHARED`. `const` and without a destructor, so reading it is a
        /// plain thread-local load that works at any point of the thread's
        /// life.
        pub(super) static INDEX: Cell<usize> = const { Cell::new(UNCLAIMED) };
        /// Holds the thread's number and hands it back when the thread exits.
        static SLOT: Slot = Slot(free::claim(&FREE));
    }

    /// The slow path of `thread_stripe`: claims a number at the thread's
    /// first count; `None` for threads that count in the shared stripe.
    #[cold]
    #[inline(never)]
    pub(super) fn claim() -> Option<usize> {
        if INDEX.with(Cell::get) != UNCLAIMED {
            return None;
        }
        // `try_with` fails once the thread's locals are being destroyed.
        let i = SLOT.try_with(|s| s.0).ok().flatten();
        INDEX.with(|x| x.set(i.unwrap_or(SHARED)));
        i
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn layout_is_padded_per_stripe() {
        assert_eq!(std::mem::align_of::<CachePadded<Stripe>>() % 64, 0);
        assert!(
            std::mem::size_of::<Stripe>() <= 64,
            "a stripe must fit one cache line"
        );
        assert_eq!(
            std::mem::size_of::<Counters>(),
            (STRIPES + 2) * std::mem::size_of::<CachePadded<Stripe>>()
        );
        for (i, c) in COUNTER_ORDER.iter().enumerate() {
            assert_eq!(*c as usize, i);
        }
    }

    #[test]
    fn many_threads_count_exactly_including_beyond_the_owned_stripes() {
        let c = Counters::default();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES * 2) {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        c.incr(Counter::Successes);
                        c.incr(Counter::Rejected);
                    }
                });
            }
        });
        assert_eq!(c.get(Counter::Successes), 160_000);
        assert_eq!(c.get(Counter::Rejected), 160_000);
        assert_eq!(c.get(Counter::Failures), 0);
        c.clear();
        assert_eq!(c.reported(Counter::Successes), 0);
        assert_eq!(
            c.get(Counter::Successes),
            160_000,
            "raw totals stay monotone"
        );
        c.incr(Counter::Successes);
        assert_eq!(c.reported(Counter::Successes), 1);
    }
}
