//! Sliding windows over recent outcomes: the last N calls, or the last T of
//! time. Both are lock-free and bounded in memory whatever the traffic.
//!
//! **Count window.** A ring of `N` slots (rounded up to a power of two) and a
//! shared position counter. Recording takes the next position with one
//! `fetch_add` and stores the outcome's code, tagged with the ring lap of its
//! position, into the slot. Evaluation scans the last `N` positions and
//! counts only slots whose lap tag matches the position, so an outcome is
//! never counted outside its window nor twice. The one inexactness: an
//! outcome whose writer has taken its position but not yet stored the code is
//! missing from a concurrent evaluation (at most one per thread in flight).
//!
//! **Time window.** `B` buckets of `T / B` each. Instead of counting into
//! buckets, the window reuses the breaker's cumulative outcome counters
//! (exact, striped, already paid for): at the first outcome of each bucket,
//! one thread (elected by a compare-and-swap of the current epoch) stores a
//! snapshot of the cumulative counts into the bucket. The window's counts are
//! the cumulative counts now minus the oldest snapshot still inside the
//! window. Recording therefore costs one comparison of the time against the
//! current bucket's end. Counts are differences of monotone totals, so an
//! outcome is never counted twice or lost; one recorded at the instant of a
//! roll-over may be attributed to the bucket on either side. Snapshots are
//! written under a per-bucket sequence number (a seqlock with a single
//! elected writer), so a reader never uses a half-written bucket: it skips it
//! and falls back to the next older valid one or to an empty window.
//!
//! **Episodes.** A window only judges the current CLOSED episode: before any
//! swap into CLOSED the breaker raises the window's floor to the present
//! (`raise_floor`), and counts below the floor are excluded. A floor raised by
//! a swap that then loses its race only drops outcomes recorded in the
//! moments in between.

use std::time::Duration;

use crossbeam_utils::CachePadded;

use super::state::Outcome;
use crate::clock::nanos;
use crate::sync::{fence, AtomicU32, AtomicU64, Ordering};

/// Outcome counts within a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Successful calls.
    pub successes: u64,
    /// Failed calls.
    pub failures: u64,
    /// Calls (successful or failed) that were slow.
    pub slow_calls: u64,
    /// Neutral outcomes: recorded, but not calls for the rates.
    pub ignored: u64,
}

impl WindowCounts {
    /// Successes plus failures: the denominator of every rate.
    pub fn calls(&self) -> u64 {
        self.successes + self.failures
    }

    fn saturating_sub(self, o: WindowCounts) -> WindowCounts {
        WindowCounts {
            successes: self.successes.saturating_sub(o.successes),
            failures: self.failures.saturating_sub(o.failures),
            slow_calls: self.slow_calls.saturating_sub(o.slow_calls),
            ignored: self.ignored.saturating_sub(o.ignored),
        }
    }

    fn max(self, o: WindowCounts) -> WindowCounts {
        WindowCounts {
            successes: self.successes.max(o.successes),
            failures: self.failures.max(o.failures),
            slow_calls: self.slow_calls.max(o.slow_calls),
            ignored: self.ignored.max(o.ignored),
        }
    }
}

/// What one outcome contributes to a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Sample {
    pub(crate) outcome: Outcome,
    pub(crate) slow: bool,
}

const SUCCESS: u32 = 1;
const FAILURE: u32 = 2;
const IGNORED: u32 = 4;
const SLOW: u32 = 8;
const CODE_BITS: u32 = 8;

impl Sample {
    fn code(self) -> u32 {
        let base = match self.outcome {
            Outcome::Success => SUCCESS,
            Outcome::Failure => FAILURE,
            Outcome::Ignored => IGNORED,
        };
        if self.slow {
            base | SLOW
        } else {
            base
        }
    }
}

/// The last `size` outcomes.
pub(crate) struct CountWindow {
    head: CachePadded<AtomicU64>,
    floor: AtomicU64,
    size: u64,
    ring_bits: u32,
    slots: Box<[AtomicU32]>,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let ring = u64::from(size).next_power_of_two();
        Self {
            head: CachePadded::new(AtomicU64::new(0)),
            floor: AtomicU64::new(0),
            size: u64::from(size),
            ring_bits: ring.trailing_zeros(),
            slots: (0..ring).map(|_| AtomicU32::new(0)).collect(),
        }
    }

    fn lap(&self, pos: u64) -> u32 {
        // The lap, truncated to the bits left beside the code.
        ((pos >> self.ring_bits) as u32) << CODE_BITS
    }

    fn slot(&self, pos: u64) -> &AtomicU32 {
        &self.slots[(pos & ((1 << self.ring_bits) - 1)) as usize]
    }

    pub(crate) fn record(&self, s: Sample) {
        // Relaxed: the position only has to be unique; the slot's lap tag,
        // not ordering, tells readers whether the slot holds it yet.
        let pos = self.head.fetch_add(1, Ordering::Relaxed);
        // Release: pairs with the Acquire load in `counts`, which then sees
        // a code whose lap matches only once this store is visible.
        self.slot(pos)
            .store(self.lap(pos) | s.code(), Ordering::Release);
    }

    pub(crate) fn counts(&self) -> WindowCounts {
        // Relaxed: a position read slightly stale only shifts the window by
        // the outcomes in flight.
        let head = self.head.load(Ordering::Relaxed);
        let floor = self.floor.load(Ordering::Relaxed);
        let mut c = WindowCounts::default();
        for pos in head.saturating_sub(self.size).max(floor)..head {
            // Acquire: pairs with the Release store in `record`.
            let v = self.slot(pos).load(Ordering::Acquire);
            if v & !((1 << CODE_BITS) - 1) != self.lap(pos) {
                continue; // not yet written for this lap
            }
            c.successes += u64::from(v & SUCCESS != 0);
            c.failures += u64::from(v & FAILURE != 0);
            c.ignored += u64::from(v & IGNORED != 0);
            c.slow_calls += u64::from(v & SLOW != 0);
        }
        c
    }

    pub(crate) fn raise_floor(&self) {
        // Relaxed: positions are only compared; see the module docs on
        // floors raised by a swap that loses.
        let head = self.head.load(Ordering::Relaxed);
        self.floor.fetch_max(head, Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

/// One bucket's snapshot of the cumulative counts at its start.
#[derive(Default)]
struct Bucket {
    /// `(epoch + 1) << 1`, with the low bit set while being written; zero
    /// before the first write.
    seq: AtomicU64,
    counts: [AtomicU64; 4],
}

/// The last `length` of time, in `buckets` slices.
pub(crate) struct TimeWindow {
    width: u64,
    /// End of the current bucket: the only thing read per outcome.
    end: AtomicU64,
    /// `epoch + 1` of the current bucket (0: none yet).
    epoch: AtomicU64,
    floor: [AtomicU64; 4],
    buckets: Box<[Bucket]>,
}

fn to_array(c: WindowCounts) -> [u64; 4] {
    [c.successes, c.failures, c.slow_calls, c.ignored]
}

fn from_array(a: [u64; 4]) -> WindowCounts {
    WindowCounts {
        successes: a[0],
        failures: a[1],
        slow_calls: a[2],
        ignored: a[3],
    }
}

impl TimeWindow {
    pub(crate) fn new(length: Duration, buckets: u32) -> Self {
        Self {
            width: (nanos(length) / u64::from(buckets)).max(1),
            end: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            floor: Default::default(),
            buckets: (0..buckets).map(|_| Bucket::default()).collect(),
        }
    }

    /// Called before an outcome at `now` is added to the cumulative counts:
    /// if `now` starts a new bucket, snapshots `cumulative` into it. Returns
    /// whether this call rolled the window over.
    #[inline]
    pub(crate) fn roll(&self, now: u64, cumulative: impl FnOnce() -> WindowCounts) -> bool {
        if self.in_current_bucket(now) {
            return false;
        }
        self.roll_over(now, cumulative)
    }

    /// Is `now` before the end of the current bucket (no roll-over due)?
    #[inline]
    pub(crate) fn in_current_bucket(&self, now: u64) -> bool {
        // Relaxed: `end` is a hint; the epoch CAS in `roll_over` decides.
        now < self.end.load(Ordering::Relaxed)
    }

    #[cold]
    fn roll_over(&self, now: u64, cumulative: impl FnOnce() -> WindowCounts) -> bool {
        let e = now / self.width;
        // Relaxed: the epoch only elects the one writer of this bucket; the
        // bucket's own sequence number orders its contents.
        let cur = self.epoch.load(Ordering::Relaxed);
        if e < cur
            || self
                .epoch
                .compare_exchange(cur, e + 1, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        // Relaxed: see `roll`.
        self.end
            .store((e + 1).saturating_mul(self.width), Ordering::Relaxed);
        self.write(e, cumulative());
        true
    }

    fn bucket(&self, e: u64) -> &Bucket {
        &self.buckets[(e % self.buckets.len() as u64) as usize]
    }

    fn write(&self, e: u64, c: WindowCounts) {
        let b = self.bucket(e);
        let mine = (e + 1) << 1;
        // Relaxed: the marker's ordering comes from the fence below.
        let mut s = b.seq.load(Ordering::Relaxed);
        loop {
            if s & 1 == 1 || s >= mine {
                return; // another writer is at work, or a newer epoch is here
            }
            match b
                .seq
                .compare_exchange(s, mine | 1, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(actual) => s = actual,
            }
        }
        // Release fence (seqlock writer): a reader whose data loads see any of
        // the stores below also sees the odd marker above on its re-check.
        fence(Ordering::Release);
        for (cell, v) in b.counts.iter().zip(to_array(c)) {
            cell.store(v, Ordering::Relaxed);
        }
        // Release: pairs with the Acquire load in `read`.
        b.seq.store(mine, Ordering::Release);
    }

    /// The snapshot of epoch `e`, if present and read consistently.
    fn read(&self, e: u64) -> Option<WindowCounts> {
        let b = self.bucket(e);
        // Acquire: pairs with the final Release store in `write`.
        let s1 = b.seq.load(Ordering::Acquire);
        if s1 != (e + 1) << 1 {
            return None;
        }
        let mut a = [0; 4];
        for (v, cell) in a.iter_mut().zip(&b.counts) {
            *v = cell.load(Ordering::Relaxed);
        }
        // Acquire fence (seqlock reader): keeps the data loads above before
        // the re-check below.
        fence(Ordering::Acquire);
        (b.seq.load(Ordering::Relaxed) == s1).then(|| from_array(a))
    }

    /// The counts of the window ending at `now`, given the cumulative counts.
    pub(crate) fn counts(&self, now: u64, cumulative: WindowCounts) -> WindowCounts {
        let e = now / self.width;
        let first = e.saturating_sub(self.buckets.len() as u64 - 1);
        // The oldest snapshot inside the window: everything recorded since
        // is in the window, everything before it is not.
        let base = (first..=e).find_map(|k| self.read(k));
        let Some(base) = base else {
            return WindowCounts::default();
        };
        // Relaxed: each floor counter is a monotone value on its own.
        let floor = from_array(std::array::from_fn(|i| {
            self.floor[i].load(Ordering::Relaxed)
        }));
        cumulative.saturating_sub(base.max(floor))
    }

    pub(crate) fn raise_floor(&self, cumulative: WindowCounts) {
        for (cell, v) in self.floor.iter().zip(to_array(cumulative)) {
            // Relaxed: see `counts`.
            cell.fetch_max(v, Ordering::Relaxed);
        }
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.buckets)
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    fn s(outcome: Outcome) -> Sample {
        Sample {
            outcome,
            slow: false,
        }
    }

    #[test]
    fn count_window_is_a_true_sliding_window() {
        let w = CountWindow::new(100);
        for _ in 0..1000 {
            w.record(s(Outcome::Success));
        }
        for _ in 0..50 {
            w.record(s(Outcome::Failure));
        }
        let c = w.counts();
        assert_eq!((c.successes, c.failures), (50, 50));
        w.record(Sample {
            outcome: Outcome::Success,
            slow: true,
        });
        w.record(s(Outcome::Ignored));
        let c = w.counts();
        assert_eq!(
            (c.successes, c.failures, c.slow_calls, c.ignored),
            (49, 50, 1, 1)
        );
    }

    #[test]
    fn count_window_floor_forgets_older_outcomes() {
        let w = CountWindow::new(10);
        for _ in 0..5 {
            w.record(s(Outcome::Failure));
        }
        w.raise_floor();
        assert_eq!(w.counts(), WindowCounts::default());
        w.record(s(Outcome::Success));
        assert_eq!(w.counts().calls(), 1);
    }

    #[test]
    fn count_window_skips_a_slot_not_yet_written_for_its_lap() {
        let w = CountWindow::new(4);
        for _ in 0..4 {
            w.record(s(Outcome::Failure));
        }
        // Simulate a writer that took position 4 but has not stored yet.
        w.head.fetch_add(1, Ordering::Relaxed);
        let c = w.counts();
        assert_eq!(c.failures, 3, "position 4's slot still holds lap 0");
    }

    #[test]
    fn time_window_counts_differences_of_snapshots() {
        let w = TimeWindow::new(Duration::from_secs(10), 10);
        let sec = 1_000_000_000;
        let mut total = WindowCounts::default();
        // One failure per second for 15 s.
        for t in 0..15u64 {
            assert!(w.roll(t * sec, || total));
            total.failures += 1;
            assert!(!w.roll(t * sec + 1, || total), "same bucket: no roll");
        }
        // At t = 14.5 s the window holds buckets 5..=14: 10 failures.
        assert_eq!(w.counts(14 * sec + sec / 2, total).failures, 10);
        // After an idle gap longer than the window, nothing is left.
        assert_eq!(w.counts(40 * sec, total).failures, 0);
        // A clock that stepped back finds no snapshot of its epoch.
        assert_eq!(w.counts(0, total).failures, 0);
        w.raise_floor(total);
        assert_eq!(w.counts(14 * sec, total).failures, 0);
    }

    #[test]
    fn time_window_bucket_rolls_exactly_at_the_boundary() {
        let w = TimeWindow::new(Duration::from_secs(1), 4);
        let q = 250_000_000;
        let zero = WindowCounts::default();
        assert!(w.roll(0, || zero));
        assert!(!w.roll(q - 1, || zero));
        assert!(w.roll(q, || zero));
    }
}
