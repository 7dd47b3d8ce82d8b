//! Sliding windows over recent outcomes: the last N calls, or the last T of
//! time. Both are lock-free and bounded in memory whatever the traffic.
//!
//! **Count window.** A ring of slots and a shared position counter (the
//! *head*). Every outcome takes a position and stores its code, tagged with
//! the ring lap of its position, into the slot. Evaluation walks back from
//! the head and counts the last `N` outcomes it finds, skipping a slot whose
//! lap tag does not match (not yet written for this lap), so an outcome is
//! never counted outside its window nor twice.
//!
//! Positions are taken in *blocks* of [`BLOCK`] (16: one 64-byte line of
//! slots): a thread holding a counter stripe (`crate::stripes`, the first 8
//! live threads) reserves a block with one `fetch_add` on the head, then
//! fills it in order through a cursor of its own, so threads sharing a
//! breaker neither contend on the head nor write to each other's lines.
//! Other threads take one position at a time. A slot is written with a
//! compare-and-swap that only replaces an older lap, so a writer that was
//! preempted while the ring lapped it can never overwrite a newer outcome:
//! it gives the position up and takes another. A cursor gives up the rest
//! of its block (stored as void codes, which count nothing) when the block
//! is below the floor or `reach + BLOCK` positions behind the start of the
//! last block reserved (so the voids lie beyond an evaluation's reach). The ring has at least `reach + 2 * BLOCK` slots, where
//! `reach = N + 8 * (BLOCK - 1)` (eight cursors' unfilled tails), and an
//! evaluation looks back at most `reach` positions.
//!
//! Exactness. *One thread* recording throughout gets exactly the last `N`
//! outcomes: its own unfilled block tail is above everything it wrote and
//! is skipped. *Several threads*: positions follow block reservations, not
//! the order outcomes are stored, so the window is the last `N` outcomes by
//! position. Let `T` be the number of cursors with a block open, `S` the
//! number of threads without a stripe that record, and `F` the number of
//! outcomes whose position is taken but not yet stored. An evaluation
//! counts at most `N` outcomes, each stored since the floor, each once. It
//! counts at least `min(N, C) - F` of the `C` stored since the floor. Of
//! the last `N` stored (in time), it misses at most `(T - 1) * BLOCK + S +
//! F` (`T * BLOCK + S + F` when `S > 0`), counting as many older ones in
//! their place. Proof sketch: if `o` is counted and a newer `o'` is not,
//! `o'` lies below `o`, so its position was taken before `o` was stored: it
//! lies in a block another cursor had open then (at most `BLOCK` positions
//! each, none in `o`'s own cursor, which fills in order), or it was a
//! stripeless position in flight then. With two threads and `N = 100`, the
//! window is the last 100 outcomes give or take 16. The property test
//! below (`model`) checks these bounds against a list of the outcomes in
//! the order stored, for several simulated threads with positions taken and
//! stored as separate steps; `loom-tests/tests/count_window_blocks.rs`
//! models lapping, floors and readers.
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

/// Positions a thread with a counter stripe takes at a time: one 64-byte
/// cache line of slots. Smaller under loom, so a model laps the ring in a
/// few records.
#[cfg(not(seawall_loom))]
pub(crate) const BLOCK: u64 = 16;
#[cfg(seawall_loom)]
pub(crate) const BLOCK: u64 = 2;

/// Cursors: one per counter stripe (loom models choose stripes themselves).
#[cfg(not(seawall_loom))]
const CURSORS: usize = crate::stripes::STRIPES;
#[cfg(seawall_loom)]
const CURSORS: usize = 2;

/// The code of a position given up: written, but not an outcome.
const VOID: u32 = 0;
const CODE_MASK: u32 = (1 << CODE_BITS) - 1;

/// Does slot value `v` hold an older lap than `tag`? Lap tags are `lap + 1`
/// (so a slot never written, 0, is older than every lap) truncated to the
/// 24 bits beside the code; a tag is older than another when it is behind
/// it by less than half their range: then the difference, shifted into the
/// top bits, is positive as a signed number.
#[inline(always)]
fn older(v: u32, tag: u32) -> bool {
    (tag.wrapping_sub(v & !CODE_MASK) as i32) > 0
}

/// The block a stripe's holder is filling: `next` up to `end`. Only the
/// holder of the stripe writes it; a new holder continues where the last
/// one stopped. On a 64-byte line of its own, like the blocks it fills
/// (not crossbeam's 128-byte pair: eight cursors stay at 512 bytes).
#[derive(Default)]
#[repr(align(64))]
struct Cursor {
    next: AtomicU64,
    end: AtomicU64,
}

/// The head, the floor and the low mark: written once a block (and at
/// a floor's raise), `low` read by every record.
#[derive(Default)]
struct Edge {
    /// The next position not yet taken.
    head: AtomicU64,
    /// Positions below it belong to earlier episodes.
    floor: AtomicU64,
    /// A cursor whose next position is below it gives up its block: the
    /// floor, or `reach + BLOCK` behind the start of the last block
    /// reserved.
    low: AtomicU64,
}

/// The last `size` outcomes (see the module docs).
pub(crate) struct CountWindow {
    edge: CachePadded<Edge>,
    size: u64,
    /// How far back from the head an evaluation looks.
    reach: u64,
    ring_bits: u32,
    /// The ring's length minus one.
    mask: u64,
    slots: Box<[AtomicU32]>,
    cursors: Box<[Cursor; CURSORS]>,
}

impl CountWindow {
    pub(crate) fn new(size: u32) -> Self {
        let reach = u64::from(size) + CURSORS as u64 * (BLOCK - 1);
        let ring = (reach + 2 * BLOCK).next_power_of_two();
        Self {
            edge: CachePadded::default(),
            size: u64::from(size),
            reach,
            ring_bits: ring.trailing_zeros(),
            mask: ring - 1,
            slots: (0..ring).map(|_| AtomicU32::new(0)).collect(),
            cursors: Box::new(std::array::from_fn(|_| Cursor::default())),
        }
    }

    #[inline(always)]
    fn tag(&self, pos: u64) -> u32 {
        // `lap + 1`, truncated to the bits left beside the code.
        (((pos >> self.ring_bits) + 1) as u32) << CODE_BITS
    }

    #[inline(always)]
    fn slot(&self, pos: u64) -> &AtomicU32 {
        let i = (pos & self.mask) as usize;
        // SAFETY: `mask` is the ring's length (a power of two) minus one, so
        // `i` is in bounds.
        unsafe { self.slots.get_unchecked(i) }
    }

    // `always`: on the steady success path the code is a constant and the
    // record a few loads and one compare-and-swap; as a call it would spend
    // more on the call than on the record.
    #[inline(always)]
    pub(crate) fn record(&self, s: Sample) {
        self.record_as(crate::stripes::thread_stripe(), s.code());
    }

    /// Records `code` for a thread holding `stripe`; returns the position
    /// it was stored at. The common case inline: the next position of the
    /// cursor's block, stored at the first attempt.
    #[inline(always)]
    fn record_as(&self, stripe: Option<usize>, code: u32) -> u64 {
        if let Some(c) = stripe.and_then(|i| self.cursors.get(i)) {
            // Relaxed (cursor): only the stripe's holder touches it; a new
            // holder is ordered after the last by the stripe's hand-back.
            let next = c.next.load(Ordering::Relaxed);
            // Relaxed (low): a stale mark only delays giving up a block by
            // the outcomes in flight; `store` refuses a lapped slot whatever
            // it says.
            if next != c.end.load(Ordering::Relaxed)
                && next >= self.edge.low.load(Ordering::Relaxed)
            {
                c.next.store(next + 1, Ordering::Relaxed);
                if self.store(next, code) {
                    return next;
                }
            }
        }
        self.record_slow(stripe, code)
    }

    /// `record_as` when the cursor needs a new block, the thread has no
    /// cursor, or a position was lapped before its code was stored: takes
    /// positions until one holds the code.
    #[cold]
    #[inline(never)]
    fn record_slow(&self, stripe: Option<usize>, code: u32) -> u64 {
        let cursor = stripe.and_then(|i| self.cursors.get(i));
        loop {
            let pos = self.take(cursor);
            if self.store(pos, code) {
                return pos;
            }
        }
    }

    /// Takes the next position: the cursor's, or a fresh one.
    fn take(&self, cursor: Option<&Cursor>) -> u64 {
        let Some(c) = cursor else {
            // Relaxed: the position only has to be unique; the slot's lap
            // tag, not ordering, tells readers whether it holds the code.
            return self.edge.head.fetch_add(1, Ordering::Relaxed);
        };
        // Relaxed: see `record_as`.
        let next = c.next.load(Ordering::Relaxed);
        let end = c.end.load(Ordering::Relaxed);
        if next == end || next < self.edge.low.load(Ordering::Relaxed) {
            return self.reserve(c, next, end);
        }
        c.next.store(next + 1, Ordering::Relaxed);
        next
    }

    /// Gives up the rest of the cursor's block and reserves a new one.
    fn reserve(&self, c: &Cursor, next: u64, end: u64) -> u64 {
        // Void codes, so that no slot of a given-up position keeps an old
        // lap's code for ever (a tag could then alias one 2^24 laps later).
        for pos in next..end {
            self.store(pos, VOID);
        }
        // Relaxed: see the stripeless case of `take`.
        let start = self.edge.head.fetch_add(BLOCK, Ordering::Relaxed);
        // Relaxed: a monotone mark, only compared (see `take`).
        self.edge
            .low
            .fetch_max(start.saturating_sub(self.reach + BLOCK), Ordering::Relaxed);
        // Relaxed: see `take`.
        c.end.store(start + BLOCK, Ordering::Relaxed);
        c.next.store(start + 1, Ordering::Relaxed);
        start
    }

    /// Stores `code` at `pos`, unless the slot already holds the same or a
    /// later lap (the ring lapped this writer): then returns `false` and
    /// leaves the newer code in place.
    #[inline(always)]
    fn store(&self, pos: u64, code: u32) -> bool {
        let slot = self.slot(pos);
        // Relaxed: only compared; the compare-and-swap below decides.
        let cur = slot.load(Ordering::Relaxed);
        if !older(cur, self.tag(pos)) {
            return false;
        }
        // Release: pairs with the Acquire load in `scan`, which then sees a
        // code whose lap matches only once this store is visible. Relaxed
        // on failure: another writer stored to the slot meanwhile, and
        // `store_again` reads it again.
        slot.compare_exchange(
            cur,
            self.tag(pos) | code,
            Ordering::Release,
            Ordering::Relaxed,
        )
        .is_ok()
            || self.store_again(pos, code)
    }

    /// `store` after another writer stored to the slot between its load and
    /// its compare-and-swap.
    #[cold]
    #[inline(never)]
    fn store_again(&self, pos: u64, code: u32) -> bool {
        let slot = self.slot(pos);
        // Relaxed: see `store`.
        let mut cur = slot.load(Ordering::Relaxed);
        while older(cur, self.tag(pos)) {
            // Release, Relaxed: see `store`.
            match slot.compare_exchange(
                cur,
                self.tag(pos) | code,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(v) => cur = v,
            }
        }
        false
    }

    pub(crate) fn counts(&self) -> WindowCounts {
        let mut c = WindowCounts::default();
        self.scan(|_, v| {
            c.successes += u64::from(v & SUCCESS != 0);
            c.failures += u64::from(v & FAILURE != 0);
            c.ignored += u64::from(v & IGNORED != 0);
            c.slow_calls += u64::from(v & SLOW != 0);
        });
        c
    }

    /// Calls `f` with the position and code of each outcome in the window,
    /// newest position first.
    #[inline]
    fn scan(&self, mut f: impl FnMut(u64, u32)) {
        // Relaxed: a head or floor read slightly stale only shifts the window
        // by the outcomes in flight.
        let head = self.edge.head.load(Ordering::Relaxed);
        let floor = self.edge.floor.load(Ordering::Relaxed);
        let bottom = head.saturating_sub(self.reach).max(floor);
        let mut left = self.size;
        let mut pos = head;
        while left > 0 && pos > bottom {
            pos -= 1;
            // Acquire: pairs with the Release compare-and-swap in `store`.
            let v = self.slot(pos).load(Ordering::Acquire);
            if v & !CODE_MASK != self.tag(pos) || v & CODE_MASK == VOID {
                continue; // not written for this lap yet, or given up
            }
            left -= 1;
            f(pos, v & CODE_MASK);
        }
    }

    pub(crate) fn raise_floor(&self) {
        // Relaxed: positions are only compared; see the module docs on
        // floors raised by a swap that loses.
        let head = self.edge.head.load(Ordering::Relaxed);
        self.edge.floor.fetch_max(head, Ordering::Relaxed);
        self.edge.low.fetch_max(head, Ordering::Relaxed);
    }

    pub(crate) fn bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots) + std::mem::size_of_val(&*self.cursors)
    }
}

/// The count window with each record's stripe chosen by the caller: lets a
/// loom model run threads with and without a stripe (under loom the
/// breaker's threads have none).
#[cfg(seawall_loom)]
#[doc(hidden)]
pub struct CountWindowProbe(CountWindow);

#[cfg(seawall_loom)]
impl CountWindowProbe {
    /// A window of the last `size` outcomes.
    pub fn new(size: u32) -> Self {
        Self(CountWindow::new(size))
    }

    /// Records `outcome` as the holder of `stripe` would; returns the
    /// position it was stored at.
    pub fn record(&self, stripe: Option<usize>, outcome: Outcome) -> u64 {
        let s = Sample {
            outcome,
            slow: false,
        };
        self.0.record_as(stripe, s.code())
    }

    /// The outcome the ring holds for `pos`: `None` if its slot holds
    /// another lap or a void code.
    pub fn stored_at(&self, pos: u64) -> Option<Outcome> {
        // Relaxed: read after the writers are joined.
        let v = self.0.slot(pos).load(Ordering::Relaxed);
        if v & !CODE_MASK != self.0.tag(pos) {
            return None;
        }
        match v & (SUCCESS | FAILURE | IGNORED) {
            SUCCESS => Some(Outcome::Success),
            FAILURE => Some(Outcome::Failure),
            IGNORED => Some(Outcome::Ignored),
            _ => None,
        }
    }

    /// The window's counts.
    pub fn counts(&self) -> WindowCounts {
        self.0.counts()
    }

    /// Starts a new episode.
    pub fn raise_floor(&self) {
        self.0.raise_floor();
    }

    /// Slots in the ring.
    pub fn ring(&self) -> u64 {
        self.0.slots.len() as u64
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
            w.record_as(None, FAILURE);
        }
        // A writer that has taken position 4 but not stored yet.
        let pos = w.take(None);
        assert_eq!(w.counts().failures, 4, "its slot still holds lap 0");
        assert!(w.store(pos, SUCCESS));
        assert_eq!((w.counts().successes, w.counts().failures), (1, 3));
    }

    #[test]
    fn a_writer_lapped_by_the_ring_never_overwrites_the_newer_outcome() {
        let w = CountWindow::new(4);
        let ring = w.slots.len() as u64;
        let stale = w.take(None);
        for _ in 0..ring {
            w.record_as(None, FAILURE);
        }
        assert!(!w.store(stale, SUCCESS), "position lapped: refused");
        assert_eq!((w.counts().successes, w.counts().failures), (0, 4));
        // A cursor holding a lapped block gives it up and records at the head.
        let w = CountWindow::new(4);
        let c = w.cursors.first();
        let stale = w.take(c);
        for _ in 0..ring {
            w.record_as(None, FAILURE);
        }
        assert!(!w.store(stale, SUCCESS));
        w.record_as(Some(0), SUCCESS);
        assert_eq!((w.counts().successes, w.counts().failures), (1, 3));
    }

    #[test]
    fn one_thread_with_a_stripe_sees_exactly_the_last_n_across_blocks_and_floors() {
        let w = CountWindow::new(20);
        let mut model: Vec<u32> = Vec::new();
        for i in 0..200u32 {
            let code = if i % 7 < 3 { FAILURE } else { SUCCESS };
            w.record_as(Some(3), code);
            model.push(code);
            if i % 53 == 52 {
                w.raise_floor();
                model.clear();
            }
            let last: Vec<u32> = model.iter().rev().take(20).copied().collect();
            let mut seen = Vec::new();
            w.scan(|_, v| seen.push(v));
            assert_eq!(seen, last, "after record {i}");
        }
    }

    #[test]
    fn a_cursor_behind_the_reach_moves_to_the_head() {
        let w = CountWindow::new(10);
        w.record_as(Some(0), FAILURE); // block [0, 16)
        for _ in 0..2 * (w.reach + BLOCK) {
            w.record_as(Some(1), SUCCESS);
        }
        // Writing at position 1 now would be far outside the window.
        w.record_as(Some(0), FAILURE);
        assert_eq!(w.counts().failures, 1, "the new failure is at the head");
    }

    #[test]
    fn bytes_count_the_ring_and_the_cursors() {
        assert_eq!(std::mem::size_of::<Cursor>(), 64, "a cursor per line");
        assert_eq!(std::mem::align_of::<Cursor>(), 64);
        let w = CountWindow::new(100);
        assert_eq!(w.slots.len(), 256);
        assert_eq!(w.bytes(), 256 * 4 + CURSORS * 64);
    }

    mod model {
        //! Several simulated threads, each holding a stripe or not, record
        //! in random interleavings with positions taken and stored as
        //! separate steps; every evaluation is checked against a plain list
        //! of the outcomes stored, in the order they were stored.

        use std::collections::{HashMap, HashSet};

        use super::super::*;
        use proptest::prelude::*;

        #[derive(Clone, Debug)]
        enum Op {
            /// Thread `t` takes a position for `code`, or stores the one
            /// it has taken.
            Step(usize, u32),
            /// Thread `t` records `code` `k` times in one go (storing any
            /// it holds first).
            Record(usize, u32, u32),
            Evaluate,
            RaiseFloor,
        }

        fn op(threads: usize) -> impl Strategy<Value = Op> {
            let code = prop_oneof![
                Just(SUCCESS),
                Just(FAILURE),
                Just(IGNORED),
                Just(SUCCESS | SLOW)
            ];
            prop_oneof![
                6 => (0..threads, code.clone()).prop_map(|(t, c)| Op::Step(t, c)),
                12 => (0..threads, code, prop_oneof![4 => Just(1u32), 1 => 1..80u32])
                    .prop_map(|(t, c, k)| Op::Record(t, c, k)),
                3 => Just(Op::Evaluate),
                1 => Just(Op::RaiseFloor),
            ]
        }

        fn case() -> impl Strategy<Value = (u32, Vec<Option<usize>>, Vec<Op>)> {
            (1..=12u32, 1..=4usize).prop_flat_map(|(size, n)| {
                // Distinct stripes for the threads that hold one.
                let stripes =
                    proptest::collection::vec(proptest::option::weighted(0.7, 0..CURSORS), n)
                        .prop_map(|v| {
                            let mut used = Vec::new();
                            v.into_iter()
                                .map(|s| s.filter(|s| !used.contains(s)).inspect(|s| used.push(*s)))
                                .collect::<Vec<_>>()
                        });
                (
                    Just(size),
                    stripes,
                    proptest::collection::vec(op(n), 1..300),
                )
            })
        }

        struct Sim {
            stripe: Option<usize>,
            /// Position taken, its code and the episode it was taken in.
            pending: Option<(u64, u32, u64)>,
            /// Has it taken a block (held a cursor's block open)?
            opened: bool,
        }

        /// The window, the simulated threads and the reference.
        struct World {
            w: CountWindow,
            sims: Vec<Sim>,
            episode: u64,
            /// (position, code) of every outcome stored in the current
            /// episode, in the order stored.
            stored: Vec<(u64, u32)>,
            /// Code of every outcome ever stored, by position.
            all: HashMap<u64, u32>,
            writers: HashSet<usize>,
        }

        impl World {
            /// One step of thread `t`: stores the code it holds a position
            /// for (`true` once stored), else takes a position for `code`.
            fn step(&mut self, t: usize, code: u32) -> Result<bool, TestCaseError> {
                self.writers.insert(t);
                let sim = &mut self.sims[t];
                let cursor = sim.stripe.and_then(|i| self.w.cursors.get(i));
                if let Some((pos, code, ep)) = sim.pending.take() {
                    if self.w.store(pos, code) {
                        prop_assert!(self.all.insert(pos, code).is_none(), "position reused");
                        if ep == self.episode {
                            self.stored.push((pos, code));
                        }
                        return Ok(true);
                    }
                    // Lapped: take another position, still in flight.
                    sim.pending = Some((self.w.take(cursor), code, self.episode));
                } else {
                    sim.opened |= sim.stripe.is_some();
                    sim.pending = Some((self.w.take(cursor), code, self.episode));
                }
                Ok(false)
            }

            /// Thread `t` finishes what it holds, then records `code`.
            fn record(&mut self, t: usize, code: u32) -> Result<(), TestCaseError> {
                if self.sims[t].pending.is_some() {
                    while !self.step(t, code)? {}
                }
                self.step(t, code)?;
                while !self.step(t, code)? {}
                Ok(())
            }

            fn raise_floor(&mut self) {
                self.w.raise_floor();
                self.episode += 1;
                self.stored.clear();
                // Positions taken before the raise are below the floor:
                // their outcomes belong to the old episode.
                for s in &mut self.sims {
                    if let Some(p) = &mut s.pending {
                        p.2 = p.2.min(self.episode - 1);
                    }
                }
            }

            fn check(&self) -> Result<(), TestCaseError> {
                let n = self.w.size;
                let mut seen = Vec::new();
                self.w.scan(|pos, code| seen.push((pos, code)));
                let in_flight = self.sims.iter().filter(|s| s.pending.is_some()).count() as u64;
                let open = self.sims.iter().filter(|s| s.opened).count() as u64;
                let stripeless = self.sims.iter().filter(|s| s.stripe.is_none()).count() as u64;
                let current: HashSet<(u64, u32)> = self.stored.iter().copied().collect();
                prop_assert!(seen.len() as u64 <= n);
                let mut positions = HashSet::new();
                for &(pos, code) in &seen {
                    prop_assert!(positions.insert(pos), "counted twice");
                    prop_assert!(
                        current.contains(&(pos, code)),
                        "position {} counted but not stored in this episode",
                        pos
                    );
                }
                let c = self.stored.len() as u64;
                prop_assert!(
                    seen.len() as u64 + in_flight >= n.min(c),
                    "counted {} of {} stored, {} in flight",
                    seen.len(),
                    c,
                    in_flight
                );
                let last: Vec<(u64, u32)> =
                    self.stored.iter().rev().take(n as usize).copied().collect();
                let missed = last.iter().filter(|o| !positions.contains(&o.0)).count() as u64;
                // An outcome counted in place of a newer one: the newer one
                // is in a block another cursor had open, or was in flight.
                let others = if stripeless > 0 {
                    open
                } else {
                    open.saturating_sub(1)
                };
                prop_assert!(
                    missed <= others * BLOCK + stripeless + in_flight,
                    "missed {} of the last {}",
                    missed,
                    n
                );
                if self.writers.len() == 1 && in_flight == 0 {
                    prop_assert_eq!(&seen, &last, "one thread: exact");
                }
                // No stored outcome was overwritten by an older lap.
                for (&pos, &code) in &self.all {
                    let v = self.w.slot(pos).load(Ordering::Relaxed);
                    prop_assert!(
                        v == self.w.tag(pos) | code || older(self.w.tag(pos), v & !CODE_MASK),
                        "position {}: slot {:#x} is older than its outcome",
                        pos,
                        v
                    );
                }
                Ok(())
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(96))]

            #[test]
            fn the_window_is_the_last_n_stored_within_the_documented_bound(
                (size, stripes, ops) in case()
            ) {
                let mut world = World {
                    w: CountWindow::new(size),
                    sims: stripes
                        .iter()
                        .map(|&stripe| Sim { stripe, pending: None, opened: false })
                        .collect(),
                    episode: 0,
                    stored: Vec::new(),
                    all: HashMap::new(),
                    writers: HashSet::new(),
                };
                for op in ops {
                    match op {
                        Op::Step(t, code) => {
                            world.step(t, code)?;
                        }
                        Op::Record(t, code, k) => {
                            for _ in 0..k {
                                world.record(t, code)?;
                            }
                        }
                        Op::RaiseFloor => world.raise_floor(),
                        Op::Evaluate => {}
                    }
                    world.check()?;
                }
            }
        }
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
