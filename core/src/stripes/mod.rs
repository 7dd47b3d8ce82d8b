//! Exact counts, striped per thread so that threads counting at once never
//! contend: the one mechanism behind the breaker's per-outcome counters, the
//! rate limiter's refusals and the distributed breaker's fleet rejections.
//!
//! Each of the first [`STRIPES`] threads that count holds a process-wide
//! stripe number, unique among live threads, claimed from a lock-free set
//! (`free.rs`) and handed back when the thread exits. Its holder is the
//! only writer of that stripe in every [`StripedCounts`] and increments with
//! a plain load and store: no locked instruction, no cache line shared with
//! another writer. Threads that find no number free (or whose thread-local
//! storage is already torn down) use one shared stripe with `fetch_add`.
//! Both kinds of increments are exact; a reading sums all stripes.
//!
//! # Growing only when a second thread counts
//!
//! Most sets are only ever counted by one thread at a time, and a set of
//! padded stripes per thread costs more than a kilobyte. So a set starts
//! with one small inline stripe and a control word, and grows its padded
//! stripes on the heap, once, when a second thread counts:
//!
//! * The control word is a small number while nothing is grown (the stripe
//!   number that owns the inline stripe, or "unowned") and the address of
//!   the grown stripes once they exist: the owner's tag is not needed then.
//! * The first thread with a stripe number to count while nothing is grown
//!   claims the inline stripe by swapping its number in. From then on
//!   whoever holds that number (the same thread, or a later one the number
//!   was handed to: `free.rs` orders the two) counts in the inline stripe
//!   with a plain load and store, as long as nothing is grown. The test is
//!   one comparison: the word equals a thread's number only while that
//!   number owns the inline stripe and nothing is grown.
//! * Any other count (another number, or no number) makes sure the grown
//!   stripes exist (allocated once, zeroed, published with a
//!   compare-and-swap; racing allocations lose and are freed) and counts
//!   there. Once they exist every thread counts in them, the inline
//!   stripe's owner too: the inline stripe is then read-only, so its line is
//!   never written by one thread while another reads the same set's control
//!   word, and nothing written per count shares a line with another
//!   counting thread.
//! * A reading sums the inline stripe and, if there are any, the grown ones;
//!   the grown stripes are freed with the set.
//!
//! The inline stripe is single-writer for the same reason as an owned one:
//! only the holder of its number writes it, and numbers change hands only
//! through the free set. A number whose thread does not exist in a forked
//! child stays claimed there, and with it the inline stripe it owns (the
//! child's threads count in the grown stripes). No lock is taken anywhere.
//! Allocating the grown stripes (or a baseline, see
//! [`StripedCounts::clear`]) calls `handle_alloc_error` if the allocator
//! fails, as every `Box` does; no count is lost or made inexact by a growth.
//!
//! Under `cfg(seawall_loom)` [`StripedCounts::incr`] adds atomically to one
//! stripe kept for loom alone: the loom models of the engines that count
//! need no stripe numbers, and one atomic add per count keeps their state
//! space as it was. `StripedCounts::incr_as` lets a model hand out numbers
//! itself and counts through the production paths, which
//! `loom-tests/tests/stripes.rs` does to check the growth. The set of free
//! numbers has its own model in the same file.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicPtr, AtomicU64, OnceBox, Ordering};

// Under loom the model compiles `free.rs` itself (loom-tests/tests/stripes.rs).
#[cfg(not(seawall_loom))]
mod free;
mod slot;

pub(crate) use slot::{listed_stripe, thread_stripe};

/// The stripes with a single owner each, once a set has grown: a grown set
/// of up to 8 counts holds `STRIPES + 1` padded lines on the heap (with
/// 128-byte padding, crossbeam's choice for x86_64, which prefetches line
/// pairs, 1152 bytes).
pub const STRIPES: usize = 8;

/// Control words below this are tags: the stripe number that owns the
/// inline stripe, or [`UNOWNED`]; nothing is grown. From it on, the word is
/// the address of the grown stripes (aligned to at least this much, so never
/// below it).
const GROWN_MIN: usize = 16;
/// The tag of a set whose inline stripe no number owns yet.
const UNOWNED: usize = GROWN_MIN - 1;
const _: () = assert!(STRIPES < UNOWNED, "every stripe number is a tag");
const _: () = assert!(STRIPES.is_power_of_two(), "see `count_owned`");

/// One thread's `N` counts.
struct Stripe<const N: usize>([AtomicU64; N]);

impl<const N: usize> Stripe<N> {
    fn new() -> Self {
        Self(std::array::from_fn(|_| AtomicU64::new(0)))
    }

    fn get(&self, i: usize) -> u64 {
        // Relaxed: each stripe value is read on its own; a reading taken
        // during traffic is a lower bound per count.
        self.0[i].load(Ordering::Relaxed)
    }

    /// Adds one to count `i`; only for the stripe's single writer.
    #[inline(always)]
    fn bump_owned(&self, i: usize) {
        let cell = &self.0[i];
        // Relaxed load and store: the calling thread is the only writer of
        // this stripe (see the module docs), so no increment can be lost
        // between the two; readers only need the value, and the final totals
        // become visible through whatever joins or synchronises with this
        // thread.
        cell.store(cell.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }
}

/// The stripes a set grows when a second thread counts, each on a line of
/// its own; the alignment keeps their address above every tag.
#[repr(align(16))]
struct Grown<const N: usize> {
    owned: [CachePadded<Stripe<N>>; STRIPES],
    shared: CachePadded<Stripe<N>>,
}

impl<const N: usize> Grown<N> {
    fn total(&self, i: usize) -> u64 {
        self.owned
            .iter()
            .chain(std::iter::once(&self.shared))
            .map(|s| s.get(i))
            .sum()
    }
}

/// The control word of a tag (see [`GROWN_MIN`]): never dereferenced.
fn tag<T>(t: usize) -> *mut T {
    std::ptr::null_mut::<u8>().wrapping_add(t).cast()
}

/// `N` exact counts, striped per thread (see the module docs).
///
/// [`StripedCounts::incr`] writes only the calling thread's stripe (for the
/// first [`STRIPES`] live threads; the others share one stripe and add
/// atomically). A reading sums every stripe: each stripe's value is read on
/// its own with `Relaxed`, so a reading taken while threads count is a lower
/// bound per count, and exact once the counting threads are joined (or have
/// otherwise synchronised with the reader).
///
/// Until a second thread counts, a set takes `8 * N + 16` bytes and nothing
/// on the heap; see [`StripedCounts::heap_bytes`] for what it grows.
pub struct StripedCounts<const N: usize> {
    /// The stripe of the first thread that counted (see the module docs).
    inline: Stripe<N>,
    /// The inline stripe's owner, or the grown stripes' address (see
    /// [`GROWN_MIN`]).
    ctl: AtomicPtr<Grown<N>>,
    /// The totals at the last `clear` (none before the first `clear` of a
    /// set that had counted): reported counts are measured from here, while
    /// the totals stay monotone.
    baseline: OnceBox<Stripe<N>>,
    /// Under loom, where [`StripedCounts::incr`] counts (see the module
    /// docs).
    #[cfg(seawall_loom)]
    loom_shared: Stripe<N>,
}

impl<const N: usize> StripedCounts<N> {
    /// `N` counts at zero.
    pub fn new() -> Self {
        Self {
            inline: Stripe::new(),
            ctl: AtomicPtr::new(tag(UNOWNED)),
            baseline: OnceBox::new(),
            #[cfg(seawall_loom)]
            loom_shared: Stripe::new(),
        }
    }

    /// Adds one to count `i`. Panics if `i >= N`.
    #[inline]
    pub fn incr(&self, i: usize) {
        self.incr_on(thread_stripe(), i);
    }

    /// Adds one to count `i` on `stripe`, the calling thread's
    /// [`thread_stripe`] looked up once for counts in several sets.
    /// Panics if `i >= N`.
    #[inline]
    pub(crate) fn incr_on(&self, stripe: Option<usize>, i: usize) {
        match stripe {
            Some(s) => self.count_owned(s, i),
            #[cfg(not(seawall_loom))]
            None => self.count_shared(i),
            // Relaxed: as in `count_shared`. Under loom every count lands
            // here: the engines' models count with one atomic add, as they
            // always have, and the growth has models of its own.
            #[cfg(seawall_loom)]
            None => {
                self.loom_shared.0[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Adds one to count `i` as the holder of stripe number `stripe`
    /// (`None`: the shared stripe), for loom models, which hand out the
    /// numbers themselves. Two threads must not count as holders of one
    /// number at once, and a later holder must be ordered after the
    /// earlier (joined), else counts are lost. Panics if `i >= N` or
    /// `stripe >= STRIPES`.
    #[cfg(seawall_loom)]
    #[doc(hidden)]
    pub fn incr_as(&self, stripe: Option<usize>, i: usize) {
        match stripe {
            Some(s) => {
                assert!(s < STRIPES);
                self.count_owned(s, i);
            }
            None => self.count_shared(i),
        }
    }

    /// Adds one to count `i` if that takes no call: the calling thread is
    /// listed in the thread-pointer table (`slot.rs`) and owns the inline
    /// stripe, or finds the set grown. Returns `false`, having counted
    /// nothing, otherwise: [`StripedCounts::incr`] then counts. For hot
    /// paths that must make no call (the C ABI's breaker leaves). Panics if
    /// `i >= N`.
    #[inline(always)]
    pub fn incr_at_once(&self, i: usize) -> bool {
        match listed_stripe() {
            Some(s) => self.count_owned_at_once(s, i),
            None => false,
        }
    }

    /// A count by the holder of stripe number `s`.
    #[inline(always)]
    fn count_owned(&self, s: usize, i: usize) {
        if !self.count_owned_at_once(s, i) {
            self.first_count(Some(s), i);
        }
    }

    /// A count by the holder of stripe number `s` in the inline stripe it
    /// owns or in the grown stripes; `false`, having counted nothing, when
    /// neither is so (`first_count` settles it).
    #[inline(always)]
    fn count_owned_at_once(&self, s: usize, i: usize) -> bool {
        // Acquire: pairs with the Release swap in `settle` that published
        // the grown stripes, so a thread that finds them also sees them
        // zeroed. (A plain load on x86.)
        let ctl = self.ctl.load(Ordering::Acquire);
        if ctl as usize == s {
            // `s` owns the inline stripe and nothing is grown.
            self.inline.bump_owned(i);
        } else if let Some(grown) = self.grown_at(ctl) {
            // `s < STRIPES`, a power of two: the mask changes nothing but
            // spares a bounds check the compiler cannot see past the slow
            // path of `thread_stripe`.
            grown.owned[s & (STRIPES - 1)].bump_owned(i);
        } else {
            return false;
        }
        true
    }

    /// A count by a thread without a stripe number.
    #[inline(always)]
    fn count_shared(&self, i: usize) {
        // Acquire: as in `count_owned`.
        match self.grown_at(self.ctl.load(Ordering::Acquire)) {
            // Relaxed: an exact atomic increment; nothing is published
            // through the count.
            Some(grown) => {
                grown.shared.0[i].fetch_add(1, Ordering::Relaxed);
            }
            None => self.first_count(None, i),
        }
    }

    /// A count while nothing is grown that is not the inline owner's: the
    /// first count of the first number claims the inline stripe, any other
    /// grows the padded stripes (or finds them grown by a racing thread).
    #[cold]
    #[inline(never)]
    fn first_count(&self, stripe: Option<usize>, i: usize) {
        match (self.settle(stripe), stripe) {
            (None, _) => self.inline.bump_owned(i),
            (Some(grown), Some(s)) => grown.owned[s].bump_owned(i),
            (Some(grown), None) => {
                // Relaxed: as in `count_shared`.
                grown.shared.0[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Claims the inline stripe for `stripe` if nothing is grown and no
    /// number owns it (`None`: claimed), else returns the grown stripes,
    /// growing them if needed.
    fn settle(&self, stripe: Option<usize>) -> Option<&Grown<N>> {
        let mut fresh: *mut Grown<N> = std::ptr::null_mut();
        // Acquire: as in `count_owned`.
        let mut ctl = self.ctl.load(Ordering::Acquire);
        let found = loop {
            if let Some(grown) = self.grown_at(ctl) {
                break grown;
            }
            let next = match stripe {
                Some(s) if ctl as usize == UNOWNED => tag(s),
                // Owned by another number (only a number's holder ever
                // writes its own tag, so a word reloaded after a lost swap
                // cannot name this one), or no number: grow.
                _ => {
                    if fresh.is_null() {
                        fresh = Box::into_raw(Box::new(Grown {
                            owned: std::array::from_fn(|_| CachePadded::new(Stripe::new())),
                            shared: CachePadded::new(Stripe::new()),
                        }));
                    }
                    fresh
                }
            };
            // Release on success: publishes the zeroed stripes (pairs with
            // the Acquire in `count_owned`, `count_shared` and `grown`); a
            // claim publishes nothing, its number's holders being ordered
            // by the free set. Acquire on failure: the word read may be
            // stripes grown by another thread, which must be seen zeroed.
            match self
                .ctl
                .compare_exchange(ctl, next, Ordering::Release, Ordering::Acquire)
            {
                // Published the grown stripes. (A claim by stripe number 0
                // swaps in `tag(0)`, the null pointer `fresh` still is
                // when nothing was allocated: that is the claim below.)
                Ok(_) if next == fresh && !fresh.is_null() => return self.grown_at(fresh),
                Ok(_) => {
                    // A claim is only tried while no number owns the inline
                    // stripe, and a lost claim means one does for good: no
                    // allocation came before it.
                    debug_assert!(fresh.is_null());
                    return None;
                }
                Err(actual) => ctl = actual,
            }
        };
        if !fresh.is_null() {
            // SAFETY: `fresh` came from `Box::into_raw` above and was never
            // published: another thread's stripes won.
            drop(unsafe { Box::from_raw(fresh) });
        }
        Some(found)
    }

    /// The grown stripes `ctl` (a word of this set's `ctl`) points to, if
    /// it is an address rather than a tag.
    fn grown_at(&self, ctl: *mut Grown<N>) -> Option<&Grown<N>> {
        if (ctl as usize) < GROWN_MIN {
            return None;
        }
        // SAFETY: an address in this set's control word came from
        // `Box::into_raw` in `settle`, is never replaced, and is freed only
        // when the set is dropped: it lives as long as the borrow of `self`.
        Some(unsafe { &*ctl })
    }

    /// The grown stripes, if a second thread has counted.
    fn grown(&self) -> Option<&Grown<N>> {
        // Acquire: as in `count_owned`.
        self.grown_at(self.ctl.load(Ordering::Acquire))
    }

    /// The sum of count `i` over all stripes, since creation: monotone.
    /// Panics if `i >= N`.
    pub fn total(&self, i: usize) -> u64 {
        // The inline stripe is read first: it stops moving once the grown
        // stripes exist, so no count is seen twice or missed for good.
        let total = self.inline.get(i) + self.grown().map_or(0, |g| g.total(i));
        #[cfg(seawall_loom)]
        let total = total + self.loom_shared.get(i);
        total
    }

    /// Count `i` since the last [`StripedCounts::clear`]. Panics if
    /// `i >= N`.
    pub fn reported(&self, i: usize) -> u64 {
        let base = self.baseline.get().map_or(0, |b| b.get(i));
        self.total(i).saturating_sub(base)
    }

    /// Restarts the reported counts from zero. Exact only while no thread
    /// is counting; the totals are untouched. The first `clear` of a set
    /// that has counted puts a baseline of `8 * N` bytes on the heap.
    pub fn clear(&self) {
        let totals: [u64; N] = std::array::from_fn(|i| self.total(i));
        if self.baseline.get().is_none() && totals.iter().all(|&t| t == 0) {
            return;
        }
        let baseline = self.baseline.get_or_init(Stripe::new);
        for (cell, total) in baseline.0.iter().zip(totals) {
            // Relaxed: see `Stripe::get`.
            cell.store(total, Ordering::Relaxed);
        }
    }

    /// Bytes on the heap: none until a second thread counts (then the
    /// padded stripes, `(STRIPES + 1)` padded lines) or the set is first
    /// cleared after counting (then the baseline, `8 * N`).
    pub fn heap_bytes(&self) -> usize {
        self.grown().map_or(0, |_| std::mem::size_of::<Grown<N>>())
            + self
                .baseline
                .get()
                .map_or(0, |_| std::mem::size_of::<Stripe<N>>())
    }
}

impl<const N: usize> Drop for StripedCounts<N> {
    fn drop(&mut self) {
        // Acquire: as in `count_owned`; the last access.
        let ctl = self.ctl.load(Ordering::Acquire);
        if self.grown_at(ctl).is_some() {
            // SAFETY: made by `Box::into_raw` in `settle`, owned by `self`,
            // which nobody else can reach any more.
            drop(unsafe { Box::from_raw(ctl) });
        }
    }
}

impl<const N: usize> Default for StripedCounts<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> std::fmt::Debug for StripedCounts<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reported: Vec<u64> = (0..N).map(|i| self.reported(i)).collect();
        f.debug_struct("StripedCounts")
            .field("reported", &reported)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn an_idle_set_is_its_inline_stripe_and_a_grown_one_is_padded_per_stripe() {
        assert_eq!(std::mem::size_of::<StripedCounts<7>>(), 7 * 8 + 16);
        assert_eq!(std::mem::size_of::<StripedCounts<1>>(), 8 + 16);
        assert!(
            std::mem::align_of::<Grown<7>>() >= GROWN_MIN,
            "an address is above every tag"
        );
        assert_eq!(std::mem::align_of::<CachePadded<Stripe<7>>>() % 64, 0);
        assert!(
            std::mem::size_of::<Stripe<8>>() <= 64,
            "eight counts fit one cache line"
        );
        let padded = std::mem::size_of::<CachePadded<Stripe<1>>>();
        assert_eq!(std::mem::size_of::<CachePadded<Stripe<7>>>(), padded);
        assert_eq!(std::mem::size_of::<Grown<7>>(), (STRIPES + 1) * padded);
        assert_eq!(StripedCounts::<7>::new().heap_bytes(), 0);
    }

    #[test]
    fn counting_at_once_declines_having_counted_nothing_until_the_thread_is_listed() {
        let c = StripedCounts::<2>::new();
        std::thread::scope(|s| {
            s.spawn(|| {
                // A new thread holds no number yet: not listed.
                assert!(!c.incr_at_once(1));
                assert_eq!(c.total(1), 0);
                c.incr(1);
                // Listed now, unless its table cell is another thread's.
                let listed = listed_stripe().is_some();
                assert_eq!(c.incr_at_once(1), listed);
                assert_eq!(c.total(1), 1 + u64::from(listed));
            });
        });
        // Another thread: the set grows, and the first thread's number
        // (held by whichever thread counts next with it) counts there.
        std::thread::scope(|s| {
            s.spawn(|| {
                c.incr(0);
                let listed = listed_stripe().is_some();
                assert_eq!(c.incr_at_once(0), listed);
                assert_eq!(c.total(0), 1 + u64::from(listed));
            });
        });
    }

    #[test]
    fn one_thread_counts_inline_and_a_second_grows_the_stripes_once() {
        let c = StripedCounts::<2>::new();
        for _ in 0..1000 {
            c.incr(1);
        }
        assert_eq!(c.heap_bytes(), 0, "one counting thread never grows");
        assert_eq!((c.total(0), c.total(1)), (0, 1000));
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..10 {
                    c.incr(0);
                }
            });
        });
        let grown = std::mem::size_of::<Grown<2>>();
        assert_eq!(c.heap_bytes(), grown);
        for _ in 0..5 {
            c.incr(1);
        }
        assert_eq!((c.total(0), c.total(1)), (10, 1005));
        assert_eq!(
            c.inline.get(1),
            1000,
            "the owner counts in the grown stripes after growth"
        );
        assert_eq!(c.heap_bytes(), grown, "grown once");
    }

    #[test]
    fn growth_racing_with_counts_and_readings_loses_nothing() {
        const THREADS: u64 = 4;
        const EACH: u64 = 5_000;
        for _ in 0..20 {
            let c = StripedCounts::<2>::new();
            let start = std::sync::Barrier::new(THREADS as usize + 1);
            let done = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                let counters: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            for _ in 0..EACH {
                                c.incr(0);
                                c.incr(1);
                            }
                        })
                    })
                    .collect();
                s.spawn(|| {
                    start.wait();
                    let mut last = 0;
                    // Relaxed: a flag for this reader only; the counts it
                    // reads carry their own guarantee.
                    while !done.load(std::sync::atomic::Ordering::Relaxed) {
                        let now = c.total(0);
                        assert!(now >= last, "readings are monotone");
                        assert!(now <= THREADS * EACH, "a lower bound");
                        last = now;
                    }
                });
                for t in counters {
                    t.join().unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::Relaxed);
            });
            assert_eq!((c.total(0), c.total(1)), (THREADS * EACH, THREADS * EACH));
        }
    }

    #[test]
    fn clear_on_a_set_that_never_counted_puts_nothing_on_the_heap() {
        let c = StripedCounts::<2>::new();
        c.clear();
        assert_eq!(c.heap_bytes(), 0);
        c.incr(0);
        c.clear();
        assert_eq!(c.heap_bytes(), std::mem::size_of::<Stripe<2>>());
        assert_eq!((c.reported(0), c.total(0)), (0, 1));
        c.incr(0);
        assert_eq!((c.reported(0), c.total(0)), (1, 2));
    }

    #[test]
    fn many_threads_count_exactly_including_beyond_the_owned_stripes() {
        let c = StripedCounts::<3>::new();
        std::thread::scope(|s| {
            for _ in 0..(STRIPES * 2) {
                s.spawn(|| {
                    for _ in 0..10_000 {
                        c.incr(0);
                        c.incr(2);
                    }
                });
            }
        });
        assert_eq!(c.total(0), 160_000);
        assert_eq!(c.total(2), 160_000);
        assert_eq!(c.total(1), 0);
        c.clear();
        assert_eq!(c.reported(0), 0);
        assert_eq!(c.total(0), 160_000, "totals stay monotone");
        c.incr(0);
        assert_eq!(c.reported(0), 1);
        assert_eq!(c.reported(2), 0);
    }

    #[test]
    fn counts_of_different_sets_do_not_mix() {
        let (a, b) = (StripedCounts::<1>::new(), StripedCounts::<2>::new());
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        a.incr(0);
                        b.incr(1);
                        b.incr(1);
                    }
                });
            }
        });
        assert_eq!((a.total(0), b.total(0), b.total(1)), (3000, 0, 6000));
    }

    #[test]
    #[should_panic]
    fn a_count_beyond_n_panics() {
        StripedCounts::<2>::new().incr(2);
    }
}
