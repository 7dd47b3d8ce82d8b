//! The keyed family's map: a fixed array of buckets (never resized: the
//! family holds at most `max_keys` keys, and the array has a bucket per
//! key, rounded up to a power of two, allocated whole when the family is
//! made: 8 bytes a bucket, 8 MiB at the largest `max_keys`), each a short
//! immutable chain of links swapped whole with one compare-and-swap on the
//! bucket's word.
//!
//! * A look-up reads the bucket word, walks its links comparing the stored
//!   hash first, then the key (kept inline in the node for keys up to
//!   [`INLINE`] bytes). It writes nothing but the guard.
//! * An insert scans the chain it read for the key, then swaps in a new
//!   link in front of it; the swap fails if the chain changed meanwhile
//!   (so two inserts of one key cannot both succeed), and the insert
//!   scans again.
//! * A removal copies the links in front of the removed one and swaps the
//!   copy in; the replaced links and the node are retired.
//!
//! Nothing is ever changed in place but the bucket words, so a reader
//! needs no more than a guard: what a removal unlinks is freed only once
//! no guard that could have read it is left (`reclaim.rs`). A guard is a
//! plain store to a count of the calling thread's own, its fence moved to
//! the reclaimer (`membarrier`). Every operation is lock-free: a failed
//! swap means another one succeeded.
//!
//! Under loom each link and node carries a cell that a reader reads and
//! the reclaimer writes where it would free (the memory is then leaked,
//! not freed), so the loom models see a use after free as a race.

use std::ptr;

use super::key;
pub(super) use super::reclaim::Guard;
use super::reclaim::Reclaimer;
use crate::stripes::thread_stripe;
use crate::sync::{AtomicPtr, Ordering};

/// Keys up to this many bytes are kept in the node itself (one cache line
/// with the start of the value).
pub(super) const INLINE: usize = 40;

/// One key and its value: never moved, freed once retired and unreachable.
pub(super) struct Node<V> {
    len: usize,
    inline: [u8; INLINE],
    /// The key, if longer than `INLINE` (empty, so not allocated, if not).
    heap: Box<[u8]>,
    pub(super) value: V,
    #[cfg(seawall_loom)]
    alive: Alive,
}

impl<V> Node<V> {
    fn new(key: &[u8], value: V) -> Self {
        let mut inline = [0; INLINE];
        let heap = if key.len() <= INLINE {
            inline[..key.len()].copy_from_slice(key);
            Box::default()
        } else {
            key.into()
        };
        Self {
            len: key.len(),
            inline,
            heap,
            value,
            #[cfg(seawall_loom)]
            alive: Alive::default(),
        }
    }

    #[inline]
    pub(super) fn key(&self) -> &[u8] {
        if self.len <= INLINE {
            &self.inline[..self.len]
        } else {
            &self.heap
        }
    }
}

/// One link of a bucket's chain: immutable once published.
struct Link<V> {
    hash: u64,
    node: *mut Node<V>,
    next: *mut Link<V>,
    #[cfg(seawall_loom)]
    alive: Alive,
}

impl<V> Link<V> {
    fn new(hash: u64, node: *mut Node<V>, next: *mut Link<V>) -> Self {
        Self {
            hash,
            node,
            next,
            #[cfg(seawall_loom)]
            alive: Alive::default(),
        }
    }
}

/// Under loom: the memory of a link or node, read by every access of a
/// reader and written where it is freed (see the module docs).
#[cfg(seawall_loom)]
#[derive(Default)]
struct Alive(crate::sync::UnsafeCell<()>);

#[cfg(seawall_loom)]
impl Alive {
    fn read(&self) {
        self.0.with(|_| ());
    }
}

/// What the table allocates one by one and frees once retired.
trait Boxed {
    /// Under loom: its memory's cell (see [`Alive`]).
    #[cfg(seawall_loom)]
    fn alive(&self) -> &Alive;
}

impl<V> Boxed for Link<V> {
    #[cfg(seawall_loom)]
    fn alive(&self) -> &Alive {
        &self.alive
    }
}

impl<V> Boxed for Node<V> {
    #[cfg(seawall_loom)]
    fn alive(&self) -> &Alive {
        &self.alive
    }
}

/// Frees a retired link or node (under loom: marks it freed and leaks it).
///
/// # Safety
///
/// `p` is a `T` from `Box::into_raw`, unreachable by any guard.
unsafe fn free<T: Boxed>(p: *mut ()) {
    #[cfg(seawall_loom)]
    // SAFETY: the function's contract; leaked, so it stays readable.
    unsafe {
        (*p.cast::<T>()).alive().0.with_mut(|_| ())
    };
    #[cfg(not(seawall_loom))]
    // SAFETY: the function's contract.
    drop(unsafe { Box::from_raw(p.cast::<T>()) });
}

/// The map (see the module docs).
pub(super) struct Table<V> {
    buckets: Box<[AtomicPtr<Link<V>>]>,
    /// `buckets.len() - 1`: the length is a power of two.
    mask: usize,
    /// The seed of the keys' hash.
    seed: u64,
    reclaimer: Reclaimer,
}

// SAFETY: the table owns its links and nodes (raw pointers only because
// they are shared through atomics); values are reached from any thread,
// so `V` must be `Send + Sync`.
unsafe impl<V: Send + Sync> Send for Table<V> {}
// SAFETY: as above; every shared mutation is a swap of a bucket word.
unsafe impl<V: Send + Sync> Sync for Table<V> {}

impl<V> Table<V> {
    /// A table for up to `keys` keys.
    pub(super) fn new(keys: u32) -> Self {
        let n = (keys as usize).next_power_of_two();
        Self {
            buckets: (0..n).map(|_| AtomicPtr::new(ptr::null_mut())).collect(),
            mask: n - 1,
            seed: key::seed(),
            reclaimer: Reclaimer::new(),
        }
    }

    /// A guard, under which references read from the table stay valid.
    #[inline(always)]
    pub(super) fn guard(&self) -> Guard<'_> {
        self.guard_on(thread_stripe())
    }

    /// A guard counted on `stripe` (the calling thread's
    /// [`thread_stripe`], or `None`: the shared count).
    #[inline(always)]
    pub(super) fn guard_on(&self, stripe: Option<usize>) -> Guard<'_> {
        self.reclaimer.enter(stripe)
    }

    /// Frees what removals unlinked and no guard can reach any more,
    /// without waiting; `true` if something is still waiting. Called while
    /// the calling thread holds a guard of this table, it frees nothing
    /// that guard could reach.
    pub(super) fn reclaim(&self) -> bool {
        self.reclaimer.reclaim()
    }

    /// How many unlinked links and nodes wait to be freed (for tests, with
    /// no other thread using the table).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.reclaimer.waiting()
    }

    #[inline(always)]
    fn hash(&self, key: &[u8]) -> u64 {
        key::hash(self.seed, key)
    }

    #[inline]
    fn bucket(&self, hash: u64) -> &AtomicPtr<Link<V>> {
        // SAFETY: `mask` is the length less one, a power of two's: the
        // index is in bounds.
        unsafe { self.buckets.get_unchecked(hash as usize & self.mask) }
    }

    /// The head of `bucket`'s chain, protected by `guard`.
    #[inline(always)]
    fn head(&self, bucket: &AtomicPtr<Link<V>>, _guard: &Guard<'_>) -> *mut Link<V> {
        // Acquire: pairs with the Release swaps in `insert` and `remove_if`,
        // so the links and nodes of the chain are seen as published.
        bucket.load(Ordering::Acquire)
    }

    /// The link after `link` and its node.
    ///
    /// # Safety
    ///
    /// `link` was reached from a head read under `guard` (links and nodes
    /// reachable from it are then not reclaimed while the guard lives, and
    /// links are never written once published).
    #[inline(always)]
    unsafe fn read<'g>(link: *mut Link<V>, _guard: &'g Guard<'_>) -> &'g Link<V> {
        // SAFETY: see the function's contract.
        let link = unsafe { &*link };
        #[cfg(seawall_loom)]
        link.alive.read();
        link
    }

    /// The node of a link read under `guard`.
    #[inline(always)]
    fn node(link: &Link<V>) -> &Node<V> {
        // SAFETY: a node is retired only after (with) its last link, so
        // it lives as long as the link's borrow.
        let node = unsafe { &*link.node };
        #[cfg(seawall_loom)]
        node.alive.read();
        node
    }

    /// The link and node of `key` in the chain from `head` (read under
    /// `guard`).
    #[inline(always)]
    fn find<'g>(
        mut link: *mut Link<V>,
        hash: u64,
        key: &[u8],
        guard: &'g Guard<'_>,
    ) -> Option<(*mut Link<V>, &'g Node<V>)> {
        while !link.is_null() {
            // SAFETY: `link` is the head read under `guard` or reached
            // from it.
            let l = unsafe { Self::read(link, guard) };
            if l.hash == hash {
                let node = Self::node(l);
                if key::same(node.key(), key) {
                    return Some((link, node));
                }
            }
            link = l.next;
        }
        None
    }

    /// `key`'s value.
    // `always`: the call's prologue and epilogue cost as much as the
    // look-up of a short chain.
    #[inline(always)]
    pub(super) fn get<'g>(&self, key: &[u8], guard: &'g Guard<'_>) -> Option<&'g V> {
        let hash = self.hash(key);
        let head = self.head(self.bucket(hash), guard);
        Self::find(head, hash, key, guard).map(|(_, n)| &n.value)
    }

    /// Inserts `value` for `key` unless the key has one: `Ok` with the
    /// inserted value, or `Err` with the value found (`value` is dropped).
    pub(super) fn insert<'g>(
        &self,
        key: &[u8],
        value: V,
        guard: &'g Guard<'_>,
    ) -> Result<&'g V, &'g V> {
        let hash = self.hash(key);
        let bucket = self.bucket(hash);
        let node = Box::into_raw(Box::new(Node::new(key, value)));
        let link = Box::into_raw(Box::new(Link::new(hash, node, ptr::null_mut())));
        let mut head = self.head(bucket, guard);
        loop {
            if let Some((_, found)) = Self::find(head, hash, key, guard) {
                // SAFETY: `link` and `node` came from `Box::into_raw`
                // above and were never published.
                unsafe {
                    drop(Box::from_raw(link));
                    drop(Box::from_raw(node));
                }
                return Err(&found.value);
            }
            // SAFETY: `link` is not published yet.
            unsafe { (*link).next = head };
            // Release: publishes the new link and node (pairs with the
            // Acquire in `head`). Fails if the chain changed since `head`
            // was read; then the key is looked for again.
            match bucket.compare_exchange(head, link, Ordering::Release, Ordering::Relaxed) {
                // SAFETY: published, never retired while the guard lives.
                Ok(_) => return Ok(unsafe { &(*node).value }),
                Err(_) => head = self.head(bucket, guard),
            }
        }
    }

    /// Removes `key`'s node if `remove` says so of its value; returns
    /// whether this call removed it. The node is reclaimed once no guard
    /// can reach it.
    pub(super) fn remove_if(
        &self,
        key: &[u8],
        remove: impl Fn(&V) -> bool,
        guard: &Guard<'_>,
    ) -> bool {
        let hash = self.hash(key);
        let bucket = self.bucket(hash);
        loop {
            let head = self.head(bucket, guard);
            let Some((gone, node)) = Self::find(head, hash, key, guard) else {
                return false;
            };
            if !remove(&node.value) {
                return false;
            }
            // The links in front of `gone`, copied (each new link points
            // to the next copy, the last one to the link after `gone`).
            // SAFETY: `gone` was found in the chain read under `guard`.
            let rest = unsafe { Self::read(gone, guard) }.next;
            let mut new_head = rest;
            let mut copies: Vec<*mut Link<V>> = Vec::new();
            let mut l = head;
            while l != gone {
                // SAFETY: `l` is in the chain from `head`, in front of
                // `gone`.
                let old = unsafe { Self::read(l, guard) };
                copies.push(Box::into_raw(Box::new(Link::new(old.hash, old.node, rest))));
                l = old.next;
            }
            for i in (0..copies.len()).rev() {
                // SAFETY: the copies came from `Box::into_raw` above and
                // are not published yet.
                unsafe { (*copies[i]).next = new_head };
                new_head = copies[i];
            }
            // Release: publishes the copied links (pairs with the Acquire
            // in `head`). Fails if the chain changed since it was read.
            match bucket.compare_exchange(head, new_head, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => {
                    // The replaced links and the node: unreachable for any
                    // guard entered from now on.
                    let mut l = head;
                    loop {
                        // SAFETY: in the chain read under `guard`.
                        let next = unsafe { Self::read(l, guard) }.next;
                        // SAFETY: unlinked by the swap above (and retired
                        // once: only the swap's winner retires); boxed.
                        unsafe { self.reclaimer.retire(l.cast(), free::<Link<V>>) };
                        if l == gone {
                            break;
                        }
                        l = next;
                    }
                    // SAFETY: as above; `gone` was the node's only link.
                    unsafe {
                        let node: *const Node<V> = node;
                        self.reclaimer
                            .retire(node.cast_mut().cast(), free::<Node<V>>)
                    };
                    return true;
                }
                Err(_) => {
                    for c in copies {
                        // SAFETY: from `Box::into_raw`, never published.
                        drop(unsafe { Box::from_raw(c) });
                    }
                }
            }
        }
    }

    /// Every node, in no particular order (those inserted or removed
    /// during the walk may or may not be seen).
    pub(super) fn iter<'g>(
        &'g self,
        guard: &'g Guard<'_>,
    ) -> impl Iterator<Item = &'g Node<V>> + 'g {
        self.buckets.iter().flat_map(move |b| {
            let mut l = self.head(b, guard);
            std::iter::from_fn(move || {
                if l.is_null() {
                    return None;
                }
                // SAFETY: in the chain of a head read under `guard`.
                let link = unsafe { Self::read(l, guard) };
                l = link.next;
                Some(Self::node(link))
            })
        })
    }
}

impl<V> Drop for Table<V> {
    fn drop(&mut self) {
        for b in self.buckets.iter() {
            // Relaxed: `&mut self`, no other thread.
            let mut l = b.load(Ordering::Relaxed);
            while !l.is_null() {
                // SAFETY: every published link and its node are owned by
                // the table while in a chain (boxed); retired ones are not
                // in any chain (the collector frees those when it drops).
                let link = unsafe { Box::from_raw(l) };
                // SAFETY: as above.
                drop(unsafe { Box::from_raw(link.node) });
                l = link.next;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(i: u32) -> Vec<u8> {
        // Every fifth key is longer than `INLINE`.
        let n = if i % 5 == 0 {
            INLINE + 9
        } else {
            3 + i as usize % 20
        };
        (0..n).map(|j| (i as usize * 31 + j) as u8).collect()
    }

    /// One bucket: every key shares one chain, so removals copy links in
    /// front of the removed one.
    #[test]
    fn one_chain_holds_keys_inline_and_long_and_removes_from_any_place() {
        let t: Table<u32> = Table::new(1);
        let g = t.guard();
        for i in 0..50 {
            assert_eq!(t.insert(&key(i), i, &g), Ok(&i));
            assert_eq!(t.insert(&key(i), i + 100, &g), Err(&i), "one value per key");
        }
        for i in (0..50).filter(|i| i % 3 == 1) {
            assert!(!t.remove_if(&key(i), |_| false, &g), "kept when told to");
            assert!(t.remove_if(&key(i), |v| *v == i, &g));
            assert!(!t.remove_if(&key(i), |_| true, &g), "gone");
        }
        for i in 0..50 {
            let want = (i % 3 != 1).then_some(&i);
            assert_eq!(t.get(&key(i), &g), want);
        }
        let mut seen: Vec<u32> = t.iter(&g).map(|n| n.value).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..50).filter(|i| i % 3 != 1).collect::<Vec<_>>());
        for n in t.iter(&g) {
            assert_eq!(n.key(), &key(n.value)[..]);
        }
    }

    /// Threads inserting and removing the same few keys in few buckets,
    /// and freeing what they removed as they go: a key never has two
    /// nodes, and every value read belongs to its key (the values are
    /// boxed, so a read of a freed one is a use after free, which the
    /// AddressSanitizer run of these tests reports).
    #[test]
    fn racing_inserts_and_removals_keep_one_node_per_key() {
        let t: Table<Box<u32>> = Table::new(2);
        std::thread::scope(|s| {
            for seed in 0..4 {
                let t = &t;
                s.spawn(move || {
                    let mut rng = fastrand::Rng::with_seed(seed);
                    for n in 0..20_000 {
                        let i = rng.u32(0..12);
                        {
                            let g = t.guard();
                            match rng.u8(0..3) {
                                0 => {
                                    let v =
                                        t.insert(&key(i), Box::new(i), &g).unwrap_or_else(|v| v);
                                    assert_eq!(**v, i);
                                }
                                1 => {
                                    t.remove_if(&key(i), |v| **v == i, &g);
                                }
                                _ => {
                                    if let Some(v) = t.get(&key(i), &g) {
                                        assert_eq!(**v, i);
                                    }
                                }
                            }
                        }
                        if n % 16 == 0 {
                            t.reclaim();
                        }
                    }
                });
            }
        });
        let g = t.guard();
        let mut seen: Vec<u32> = t.iter(&g).map(|n| *n.value).collect();
        let n = seen.len();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), n, "a key inserted twice");
        drop(g);
        assert!(
            !t.reclaim(),
            "everything removed is freed once no guard is left"
        );
    }
}
