//! A sliding window of two counts over time, shared by the engines that
//! judge a share of recent requests: the retry budget (requests, retries)
//! and the adaptive throttler (requests, accepts).
//!
//! The window is a ring of [`BUCKETS`] slices of `window / 10`; each slice
//! is one atomic word holding the slice's number (its tag) and its two
//! counts, so starting a new slice and counting into it are one
//! compare-and-swap. The window spans between nine and ten slices of the
//! past. Counts saturate at [`MAX_BUCKET_COUNT`] per slice.
//!
//! Tags repeat after 2^20 slices (17 minutes with a 10 ms window), so the
//! window also keeps the number of the newest slice written: when the whole
//! window has been idle, every slice is stale whatever its tag says, so a
//! window left alone for exactly 2^20 slices does not count its old slices
//! again. (A single slice could still be mistaken if it alone stayed
//! untouched for 5 * 2^20 slices, a multiple of both the ring and the tag
//! range, while the others were written all along.)
//!
//! # Memory ordering
//!
//! The slice words are self-contained. The newest slice number is raised
//! before the swap that starts a slice (`Release` on that swap, `Acquire`
//! on the reads that judge slices), so whoever sees a slice started after an
//! idle window also sees that the window is no longer idle. A caller that
//! must decide on the counts it adds to (the budget's grant) does so inside
//! [`SliceWindow::update`]'s step, against the value the swap replaces.

use std::time::Duration;

use crate::clock::nanos;
use crate::sync::{AtomicU64, Ordering};

/// Slices in a window.
pub const BUCKETS: u64 = 10;
/// The largest count one slice holds; more saturates.
pub const MAX_BUCKET_COUNT: u64 = (1 << COUNT_BITS) - 1;

const COUNT_BITS: u32 = 22;
const TAG_BITS: u32 = 20;
const TAG_MASK: u64 = (1 << TAG_BITS) - 1;
const REQUESTS_SHIFT: u32 = COUNT_BITS;
const TAG_SHIFT: u32 = 2 * COUNT_BITS;

/// The two counts of a window or a slice: the requests, and the part of
/// them the engine tells apart (retries, accepts).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pair {
    pub(crate) requests: u64,
    pub(crate) marked: u64,
}

/// A slice word: `[tag: 20 | requests: 22 | marked: 22]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice(u64);

impl Slice {
    fn new(tag: u64, requests: u64, marked: u64) -> Self {
        Slice(tag << TAG_SHIFT | requests << REQUESTS_SHIFT | marked)
    }
    fn tag(self) -> u64 {
        self.0 >> TAG_SHIFT
    }
    pub(crate) fn requests(self) -> u64 {
        (self.0 >> REQUESTS_SHIFT) & MAX_BUCKET_COUNT
    }
    pub(crate) fn marked(self) -> u64 {
        self.0 & MAX_BUCKET_COUNT
    }
    /// The slice with `requests` and `marked` more, saturating.
    pub(crate) fn add(self, requests: u64, marked: u64) -> Self {
        Slice::new(
            self.tag(),
            (self.requests() + requests).min(MAX_BUCKET_COUNT),
            (self.marked() + marked).min(MAX_BUCKET_COUNT),
        )
    }
}

/// Where a slice stands relative to the slice `now` falls in.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Age {
    /// The current slice, or a later one within two windows (the caller's
    /// clock reading is behind another caller's): counted into as is.
    Current,
    /// One of the nine slices before the current one: in the window.
    Recent,
    /// Anything else: out of the window, reused by the next write.
    Stale,
}

/// How old the slice in ring slot `slot`, tagged `slice_tag`, is at slice
/// number `n`. A tag only counts when it also belongs in its slot (the ring
/// index is the slice number modulo [`BUCKETS`]), so a slice 2^20 slices
/// old is not taken for a current one. `idle`: no slice was started within
/// a window before now, so every slice is stale.
fn age(slot: usize, slice_tag: u64, n: u64, idle: bool) -> Age {
    let now_tag = n & TAG_MASK;
    let behind = now_tag.wrapping_sub(slice_tag) & TAG_MASK;
    let ahead = slice_tag.wrapping_sub(now_tag) & TAG_MASK;
    // The ring slot of the slice `d` slices after (or before) slice `n`.
    let slot_after = |d: u64| ((n % BUCKETS + d % BUCKETS) % BUCKETS) as usize;
    let slot_before = |d: u64| ((n % BUCKETS + BUCKETS - d % BUCKETS) % BUCKETS) as usize;
    if idle {
        Age::Stale
    } else if behind == 0 || (ahead > 0 && ahead < 2 * BUCKETS) {
        if slot_after(ahead) == slot {
            Age::Current
        } else {
            Age::Stale
        }
    } else if behind < BUCKETS && slot_before(behind) == slot {
        Age::Recent
    } else {
        Age::Stale
    }
}

/// The ring of slices (see the module docs). Times are the nanoseconds of
/// the owning engine's clock.
pub(crate) struct SliceWindow {
    slices: [AtomicU64; BUCKETS as usize],
    /// The number (not the tag) of the newest slice started: tags alone
    /// repeat (see the module docs).
    newest: AtomicU64,
    slice_nanos: u64,
}

impl SliceWindow {
    /// An empty window spanning `window` (at least [`BUCKETS`] ns).
    pub(crate) fn new(window: Duration) -> Self {
        Self {
            slices: std::array::from_fn(|_| AtomicU64::new(0)),
            newest: AtomicU64::new(0),
            slice_nanos: (nanos(window) / BUCKETS).max(1),
        }
    }

    /// The number of the slice `now` falls in; its ring slot is the number
    /// modulo [`BUCKETS`], its tag the number modulo 2^20.
    pub(crate) fn slice_number(&self, now: u64) -> u64 {
        now / self.slice_nanos
    }

    /// Has no slice been started within a window before slice `n`?
    fn idle(&self, n: u64) -> bool {
        // Relaxed: callers load the slices they judge with Acquire first
        // (see the module's "Memory ordering").
        n >= self.newest.load(Ordering::Relaxed).saturating_add(BUCKETS)
    }

    /// Applies `step` to slice number `n`, starting the slice first when its
    /// slot holds another slice's counts. `step` sees the slice to build on
    /// and returns the new value, or `Err` to stop without writing.
    pub(crate) fn update<R>(
        &self,
        n: u64,
        mut step: impl FnMut(Slice) -> Result<Slice, R>,
    ) -> Result<(), R> {
        let (i, tag) = ((n % BUCKETS) as usize, n & TAG_MASK);
        let slot = &self.slices[i];
        // Acquire: pairs with the Release of the swap that wrote it, so a
        // slice started after an idle window comes with its `newest`.
        let mut cur = Slice(slot.load(Ordering::Acquire));
        loop {
            let base = match age(i, cur.tag(), n, self.idle(n)) {
                Age::Current => cur,
                _ => {
                    // Relaxed: published by the Release swap below.
                    if self.newest.load(Ordering::Relaxed) < n {
                        self.newest.fetch_max(n, Ordering::Relaxed);
                    }
                    Slice::new(tag, 0, 0)
                }
            };
            let next = step(base)?;
            // Release: publishes `newest` with the slice; Acquire on
            // failure: as the load above.
            match slot.compare_exchange_weak(cur.0, next.0, Ordering::Release, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = Slice(actual),
            }
        }
    }

    /// Counts `requests` and `marked` into the slice of `now`.
    pub(crate) fn add(&self, now: u64, requests: u64, marked: u64) {
        let added: Result<(), ()> =
            self.update(
                self.slice_number(now),
                |base| Ok(base.add(requests, marked)),
            );
        debug_assert!(added.is_ok());
    }

    /// The window's counts at `now`, leaving out ring slot `skip`.
    pub(crate) fn sum(&self, now: u64, skip: Option<usize>) -> Pair {
        let n = self.slice_number(now);
        // Acquire: see `update`; `newest` is read after the slices.
        let slices: [Slice; BUCKETS as usize] =
            std::array::from_fn(|i| Slice(self.slices[i].load(Ordering::Acquire)));
        let idle = self.idle(n);
        let mut c = Pair::default();
        for (i, s) in slices.into_iter().enumerate() {
            if Some(i) == skip {
                continue;
            }
            if s.0 != 0 && age(i, s.tag(), n, idle) != Age::Stale {
                c.requests += s.requests();
                c.marked += s.marked();
            }
        }
        c
    }

    /// Empties the window. Exact only while no other thread uses it.
    pub(crate) fn reset(&self) {
        for s in &self.slices {
            // Relaxed: see the module's "Memory ordering".
            s.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn slice_fields_pack_and_saturate() {
        let s = Slice::new(TAG_MASK, 5, 7);
        assert_eq!((s.tag(), s.requests(), s.marked()), (TAG_MASK, 5, 7));
        let full = Slice::new(3, MAX_BUCKET_COUNT, MAX_BUCKET_COUNT).add(1, 1);
        assert_eq!(
            (full.tag(), full.requests(), full.marked()),
            (3, MAX_BUCKET_COUNT, MAX_BUCKET_COUNT)
        );
    }

    #[test]
    fn ages_across_the_tag_wrap() {
        // Slice number `n`, in slot n % 10.
        let at = |n: u64, slice: u64| age((slice % BUCKETS) as usize, slice & TAG_MASK, n, false);
        assert_eq!(at(5, 5), Age::Current);
        assert_eq!(at(14, 5), Age::Recent);
        assert_eq!(at(15, 5), Age::Stale);
        assert_eq!(at(TAG_MASK + 4, TAG_MASK), Age::Recent, "wraps");
        assert_eq!(
            at(5, 15),
            Age::Current,
            "a later slice seen by a late caller"
        );
        assert_eq!(at(5, 100), Age::Stale);
        assert_eq!(
            at(1 << 20, 0),
            Age::Stale,
            "2^20 slices old: same tag, other slot"
        );
        assert_eq!(
            at((1 << 20) + 14, 5),
            Age::Stale,
            "2^20 + 9 slices old: a Recent tag in another slot"
        );
        assert_eq!(
            age(5, 5, 5, true),
            Age::Stale,
            "an idle window holds nothing"
        );
    }

    #[test]
    fn counts_age_out_after_a_window() {
        let w = SliceWindow::new(Duration::from_secs(10));
        w.add(0, 3, 1);
        w.add(5_000_000_000, 2, 2);
        assert_eq!(
            w.sum(9_999_999_999, None),
            Pair {
                requests: 5,
                marked: 3
            }
        );
        assert_eq!(
            w.sum(10_000_000_000, None),
            Pair {
                requests: 2,
                marked: 2
            }
        );
        assert_eq!(w.sum(15_000_000_000, None), Pair::default());
        w.reset();
        assert_eq!(w.sum(5_000_000_000, None), Pair::default());
    }
}
