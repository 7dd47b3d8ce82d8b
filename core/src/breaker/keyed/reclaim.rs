//! The keyed table's memory reclamation: when may a link or node that a
//! removal unlinked be freed, given that readers walk the table holding no
//! lock and writing nothing shared?
//!
//! A reader brackets its walk in a *section* (a [`Guard`]): it adds one to
//! a count of sections, then runs the light side of an asymmetric fence
//! (`sync/asymmetric.rs`), then reads the table; leaving, it takes the one
//! back with a Release store. Each of the process's stripe numbers
//! (`stripes`) has its own counts, written by the number's holder alone
//! with a plain load and store, on a line of their own: a section costs
//! no locked instruction and shares no written line with another thread.
//! Threads without a number share one more pair of counts and use
//! `fetch_add` / `fetch_sub` on it.
//!
//! A removal retires what it unlinked (a lock-free stack). A reclaimer
//! takes the stack as a batch, runs the heavy side of the fence, then reads
//! every count; one that reads zero is *cleared* for the batch. Once every
//! count has been cleared (in this attempt or a later one, each after a
//! heavy fence), the batch is freed. Why that is safe, for one count:
//!
//! * The unlinking came before the batch was taken (the stack's Release
//!   push and Acquire take), so before the heavy fence, so before the read.
//! * A section counted there whose increment the read did not see: the
//!   section stored its increment then loaded the bucket after its light
//!   fence, and the reclaimer stored the unlinking then loaded the count
//!   after its heavy fence (a Dekker handshake): at least one of them sees
//!   the other's store, and the reclaimer did not, so the section sees the
//!   bucket without the unlinked link, and chains are immutable: it cannot
//!   reach what was unlinked.
//! * A section whose increment the read did see has also been taken back
//!   by the time the count reads zero (each section takes back its own
//!   one); the Acquire read pairs with the Release that took it back, so
//!   everything the section read happens before the batch is freed.
//!
//! Each count comes in two generations, and readers count in the one a
//! shared word names; every attempt flips the word. That is only for
//! progress: a thread that is almost always inside a section (a tight loop
//! of calls on one key) may never show a zero to a single read, but after
//! a flip its new sections count in the other generation and the old count
//! drains to zero. A reader that read the word just before a flip counts
//! in the old generation: the argument above does not depend on which.
//!
//! Reclaiming never waits: a reclaimer that finds a count not cleared
//! leaves the batch for a later attempt (the family makes one after every
//! removal and on every call that makes a key; `KeyedBreaker::evict_idle`
//! too), and one thread at a time reclaims (a flag taken with a swap; the
//! others leave at once). What is still retired when the table is dropped
//! is freed then.

use std::marker::PhantomData;
use std::ptr;

use crossbeam_utils::CachePadded;

use crate::stripes::STRIPES;
use crate::sync::{AtomicBool, AtomicPtr, AtomicU64, Fence, Ordering, UnsafeCell};

/// Two generations of a section count.
type Counts = CachePadded<[AtomicU64; 2]>;

/// One bit per count: two per stripe number, then the shared two.
const ALL: u32 = (1 << (2 * (STRIPES + 1))) - 1;

/// Something unlinked, waiting to be freed.
struct Retired {
    ptr: *mut (),
    free: unsafe fn(*mut ()),
    next: *mut Retired,
}

/// The batch being reclaimed: what was taken from the stack, and the
/// counts not yet cleared for it.
struct Batch {
    head: *mut Retired,
    waiting: u32,
}

/// The counts, the stack of retired things and the batch (see the module
/// docs).
pub(super) struct Reclaimer {
    /// The generation new sections count in (bit 0).
    generation: CachePadded<AtomicU64>,
    /// The counts of each stripe number's holder.
    owned: [Counts; STRIPES],
    /// The counts of threads without a number.
    shared: Counts,
    fence: Fence,
    retired: AtomicPtr<Retired>,
    reclaiming: AtomicBool,
    /// Only read or written by the holder of `reclaiming`.
    batch: UnsafeCell<Batch>,
}

// SAFETY: the raw pointers are retired things owned by the reclaimer (sent
// to whichever thread frees them: the table's values are `Send`), and the
// batch is reached only by the holder of `reclaiming`.
unsafe impl Send for Reclaimer {}
// SAFETY: as above.
unsafe impl Sync for Reclaimer {}

/// A reader's section: while it lives, nothing the reader reaches from a
/// bucket read inside it is freed.
pub(super) struct Guard<'a> {
    count: &'a AtomicU64,
    owned: bool,
    /// Not `Send`: an owned count is written by its stripe's holder only.
    _thread: PhantomData<*const ()>,
}

impl Reclaimer {
    pub(super) fn new() -> Self {
        Self {
            generation: CachePadded::new(AtomicU64::new(0)),
            owned: std::array::from_fn(|_| {
                CachePadded::new([AtomicU64::new(0), AtomicU64::new(0)])
            }),
            shared: CachePadded::new([AtomicU64::new(0), AtomicU64::new(0)]),
            fence: Fence::new(),
            retired: AtomicPtr::new(ptr::null_mut()),
            reclaiming: AtomicBool::new(false),
            batch: UnsafeCell::new(Batch {
                head: ptr::null_mut(),
                waiting: 0,
            }),
        }
    }

    /// Starts a section as the holder of `stripe` (the calling thread's
    /// [`thread_stripe`](crate::stripes::thread_stripe); `None`: the
    /// shared counts).
    #[inline(always)]
    pub(super) fn enter(&self, stripe: Option<usize>) -> Guard<'_> {
        // Relaxed: the generation only decides which count drains when
        // (progress); safety rests on the fence below, whichever it is.
        let g = (self.generation.load(Ordering::Relaxed) & 1) as usize;
        let (counts, owned) = match stripe {
            // `STRIPES` is a power of two and `s` below it: no bounds check.
            Some(s) => (&self.owned[s & (STRIPES - 1)], true),
            None => (&self.shared, false),
        };
        let count = &counts[g];
        if owned {
            // Relaxed: the stripe's holder is the count's only writer (see
            // `stripes`); the fence orders it before the section's reads.
            count.store(count.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
        } else {
            // Relaxed: as above.
            count.fetch_add(1, Ordering::Relaxed);
        }
        // The handshake with reclaimers (module docs).
        self.fence.light();
        Guard {
            count,
            owned,
            _thread: PhantomData,
        }
    }

    /// Hands `ptr` to be freed by `free` once no section can reach it.
    ///
    /// # Safety
    ///
    /// `ptr` is unreachable for sections that start from now on (it was
    /// unlinked before this call), it is retired once, and `free(ptr)` is
    /// sound on any thread once no section that could reach it is left.
    pub(super) unsafe fn retire(&self, ptr: *mut (), free: unsafe fn(*mut ())) {
        let r = Box::into_raw(Box::new(Retired {
            ptr,
            free,
            next: ptr::null_mut(),
        }));
        // Relaxed: the swap below is what publishes.
        let mut head = self.retired.load(Ordering::Relaxed);
        loop {
            // SAFETY: `r` is not published until the swap succeeds.
            unsafe { (*r).next = head };
            // Release: pairs with the Acquire take in `reclaim`, so the
            // unlinking (before this call) happens before the reclaimer's
            // heavy fence.
            match self
                .retired
                .compare_exchange_weak(head, r, Ordering::Release, Ordering::Relaxed)
            {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }

    /// Frees what no section can reach any more, without waiting; returns
    /// whether something retired is still waiting. Called inside a section
    /// of the calling thread, it frees nothing that section could reach
    /// (the thread's own count does not read zero).
    pub(super) fn reclaim(&self) -> bool {
        // Acquire: pairs with the Release store that ended the previous
        // holder's turn, so the batch is seen as it was left.
        if self.reclaiming.swap(true, Ordering::Acquire) {
            return true;
        }
        let pending = self.batch.with_mut(|b| {
            // SAFETY: only the holder of `reclaiming` reaches the batch.
            let b = unsafe { &mut *b };
            // Two rounds: a batch freed at once leaves room to take what
            // was retired meanwhile.
            for _ in 0..2 {
                if b.head.is_null() {
                    // Acquire: pairs with the Release push in `retire`.
                    b.head = self.retired.swap(ptr::null_mut(), Ordering::Acquire);
                    b.waiting = ALL;
                }
                if b.head.is_null() || !self.clear(&mut b.waiting) {
                    break;
                }
                // Taken off the batch first: if a free panics, the rest
                // leaks rather than being freed twice.
                let batch = std::mem::replace(&mut b.head, ptr::null_mut());
                // SAFETY: every count was cleared for the batch (module
                // docs); only the holder of `reclaiming` frees it.
                unsafe { free_all(batch) };
            }
            // Relaxed: a hint for the caller.
            !b.head.is_null() || !self.retired.load(Ordering::Relaxed).is_null()
        });
        // Release: see the Acquire above.
        self.reclaiming.store(false, Ordering::Release);
        pending
    }

    /// How many retired things wait to be freed (for tests: the caller
    /// is the only thread using the reclaimer).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        // SAFETY: no other thread (the caller's contract).
        let batch = self.batch.with_mut(|b| unsafe { (*b).head });
        // Relaxed: no other thread.
        count(batch) + count(self.retired.load(Ordering::Relaxed))
    }

    /// One attempt: flips the generation, runs the heavy fence and clears
    /// each count of `waiting` that reads zero. `true` once all are clear.
    fn clear(&self, waiting: &mut u32) -> bool {
        // Relaxed: progress only (module docs); one reclaimer at a time
        // writes it.
        let g = self.generation.load(Ordering::Relaxed);
        self.generation.store(g ^ 1, Ordering::Relaxed);
        if !self.fence.heavy() {
            return false;
        }
        let counts = self.owned.iter().chain(std::iter::once(&self.shared));
        for (i, c) in counts.flat_map(|c| c.iter()).enumerate() {
            // Acquire: pairs with the Release that ended the last section
            // counted (module docs).
            if *waiting & (1 << i) != 0 && c.load(Ordering::Acquire) == 0 {
                *waiting &= !(1 << i);
            }
        }
        *waiting == 0
    }
}

/// How many things a list holds.
#[cfg(test)]
fn count(mut r: *mut Retired) -> usize {
    let mut n = 0;
    while !r.is_null() {
        n += 1;
        // SAFETY: a list of `retire`, not freed while the caller holds it.
        r = unsafe { (*r).next };
    }
    n
}

/// Frees a list of retired things.
///
/// # Safety
///
/// No section can reach any of them, and the list is not used again.
unsafe fn free_all(mut r: *mut Retired) {
    while !r.is_null() {
        // SAFETY: from `Box::into_raw` in `retire`, taken off the stack once.
        let b = unsafe { Box::from_raw(r) };
        // SAFETY: the contract of `retire`, with no section left.
        unsafe { (b.free)(b.ptr) };
        r = b.next;
    }
}

impl Drop for Reclaimer {
    fn drop(&mut self) {
        // `&mut self`: no section is left, nor any other thread.
        let batch = self.batch.with_mut(|b| {
            // SAFETY: `&mut self`.
            unsafe { std::mem::replace(&mut (*b).head, ptr::null_mut()) }
        });
        // SAFETY: as above; each list is freed once.
        unsafe {
            free_all(batch);
            free_all(self.retired.swap(ptr::null_mut(), Ordering::Relaxed));
        }
    }
}

impl Drop for Guard<'_> {
    #[inline(always)]
    fn drop(&mut self) {
        // Release: pairs with the Acquire read in `clear`, so everything
        // the section read happens before what it reached is freed.
        if self.owned {
            self.count
                .store(self.count.load(Ordering::Relaxed) - 1, Ordering::Release);
        } else {
            self.count.fetch_sub(1, Ordering::Release);
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// Retires something that counts itself freed in `freed`.
    fn retire(r: &Reclaimer, freed: &Arc<AtomicUsize>) {
        unsafe fn free(p: *mut ()) {
            // SAFETY: from `Box::into_raw` below.
            let freed = unsafe { Box::from_raw(p.cast::<Arc<AtomicUsize>>()) };
            freed.fetch_add(1, Ordering::Relaxed);
        }
        let p = Box::into_raw(Box::new(freed.clone()));
        // SAFETY: never reachable by any section; freed once.
        unsafe { r.retire(p.cast(), free) };
    }

    fn freed() -> Arc<AtomicUsize> {
        Arc::new(AtomicUsize::new(0))
    }

    #[test]
    fn with_no_section_a_reclaim_frees_everything_retired() {
        let r = Reclaimer::new();
        let f = freed();
        assert!(!r.reclaim(), "nothing retired, nothing waits");
        for _ in 0..3 {
            retire(&r, &f);
        }
        assert!(!r.reclaim());
        assert_eq!(f.load(Ordering::Relaxed), 3);
    }

    /// A section of any count (an owned stripe's, or the shared one) keeps
    /// what was retired during it; once it ends, the next attempt frees.
    #[test]
    fn a_section_keeps_what_was_retired_during_it_until_it_ends() {
        for stripe in [Some(3), None] {
            let r = Reclaimer::new();
            let f = freed();
            let g = r.enter(stripe);
            retire(&r, &f);
            assert!(r.reclaim(), "{stripe:?}: still waiting");
            assert!(r.reclaim(), "{stripe:?}: flips do not end a section");
            assert_eq!(
                f.load(Ordering::Relaxed),
                0,
                "{stripe:?}: freed under a section"
            );
            drop(g);
            assert!(!r.reclaim());
            assert_eq!(f.load(Ordering::Relaxed), 1, "{stripe:?}");
        }
    }

    /// Nested sections on one stripe: the count is zero only when the
    /// outer one ends.
    #[test]
    fn nested_sections_keep_it_until_the_outer_one_ends() {
        let r = Reclaimer::new();
        let f = freed();
        let outer = r.enter(Some(0));
        retire(&r, &f);
        assert!(r.reclaim());
        // In the other generation now: the outer section's count stays.
        drop(r.enter(Some(0)));
        assert!(r.reclaim());
        assert_eq!(f.load(Ordering::Relaxed), 0);
        drop(outer);
        assert!(!r.reclaim());
        assert_eq!(f.load(Ordering::Relaxed), 1);
    }

    /// A thread that is almost always inside a section (one after another,
    /// as a loop of calls on one key is) does not hold reclamation off: the
    /// flips move its sections to the other generation.
    #[test]
    fn a_reader_always_in_a_section_does_not_hold_reclamation_off() {
        let r = Reclaimer::new();
        let f = freed();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut g = r.enter(crate::stripes::thread_stripe());
                while !stop.load(Ordering::Relaxed) {
                    // The next section starts before the last one ends.
                    let next = r.enter(crate::stripes::thread_stripe());
                    drop(std::mem::replace(&mut g, next));
                }
            });
            for round in 1..=20 {
                retire(&r, &f);
                let mut attempts = 0;
                while r.reclaim() {
                    attempts += 1;
                    assert!(attempts < 100_000, "round {round}: never freed");
                    std::thread::yield_now();
                }
                assert_eq!(f.load(Ordering::Relaxed), round);
            }
            stop.store(true, Ordering::Relaxed);
        });
    }

    #[test]
    fn what_is_still_waiting_is_freed_with_the_reclaimer() {
        let f = freed();
        {
            let r = Reclaimer::new();
            let g = r.enter(None);
            retire(&r, &f);
            assert!(r.reclaim());
            retire(&r, &f);
            drop(g);
        }
        assert_eq!(f.load(Ordering::Relaxed), 2);
    }
}
