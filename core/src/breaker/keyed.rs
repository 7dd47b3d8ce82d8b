//! A family of breakers, one per key (host, tenant, endpoint), all made
//! from one configuration, with a bound on the keys alive at once.
//!
//! The map (`keyed/table.rs`) is a fixed array of buckets, one per key
//! the family may hold (never resized: the family is bounded), each an
//! immutable chain swapped whole by compare-and-swap; a look-up hashes the
//! key once (`keyed/key.rs`: seeded, inline, a few multiplications for a
//! host name), walks a chain of about one link and compares the key kept
//! inline in the node, inside a guard that is a plain store to a count of
//! the calling thread's own (`keyed/reclaim.rs`: what a removal unlinks is
//! freed once every guard that could reach it has ended). Nothing takes a
//! lock, not even an insert or a removal. It replaced papaya's general map
//! (resizable, with a generic probe and hasher: about twice the
//! instructions per look-up), then `seize`'s guards, whose exit is a
//! locked swap (`xchg`), which made up a third of the by-key call's time.
//! crossbeam's skip list (the [`Registry`](super::Registry)'s map) costs
//! O(log n) string comparisons and pointer hops per look-up; a fixed table
//! like [`KeyedRateLimiter`](crate::KeyedRateLimiter)'s makes keys share
//! breakers.
//!
//! # Entries, calls in flight and eviction
//!
//! Each entry holds its breaker, the time of its last use, a *mark* (live,
//! being evicted, or retired, with the number of the eviction attempt) and
//! a striped count of the calls that finished on it. The calls it let in
//! are its breaker's own count of admissions: so a call in flight is an
//! admission not yet matched by a finish, and a call writes nothing but
//! its own thread's stripes (plain stores, no locked instruction) to be
//! seen by an evictor.
//!
//! A call, inside the map's guard (which keeps the entry's memory from
//! being reclaimed while the call looks it up):
//!
//! 1. asks the breaker (which counts the admission on the thread's stripe);
//! 2. runs the light side of an asymmetric fence (a compiler fence where
//!    Linux's `membarrier` is available, see `sync/asymmetric.rs`);
//! 3. loads the mark: *live*, it goes on; *being evicted*, it turns the
//!    mark back to live with a compare-and-swap (which makes that eviction
//!    fail) and goes on; *retired*, it drops its admission and starts again
//!    on a fresh entry (the retired one was never going to see its
//!    outcome).
//!
//! It then leaves the guard, makes the call, records the outcome, and last
//! counts itself finished on the entry (a Release fence, then a plain
//! store to the thread's stripe): that is its last access to the entry.
//!
//! An evictor, inside its own guard:
//!
//! 1. marks the entry *being evicted* (a compare-and-swap from *live*,
//!    which also numbers the attempt);
//! 2. runs the heavy side of the fence (one `membarrier` for every entry
//!    of a sweep);
//! 3. reads the finished count, an Acquire fence, then the admissions;
//!    retires the entry (a compare-and-swap from its own mark to *retired*)
//!    only if the two are equal and the entry is still idle, and otherwise
//!    turns its mark back to live.
//!
//! Steps 1-2 of the call against 1-2 of the evictor are a Dekker
//! handshake: the call stores its admission then loads the mark, the
//! evictor stores the mark then loads the admissions, and the fence pair
//! makes at least one of them see the other's store. If the evictor sees
//! the admission, it does not retire the entry until that call has
//! finished. If the call sees the mark, it either cancels the attempt
//! (its swap comes first, the evictor's fails) or finds the entry retired
//! and never uses it. An attempt's number makes an evictor's final swap
//! fail if a call cancelled its attempt and another evictor marked the
//! entry again since. Reading the finished count first, then the
//! admissions, can only overstate the calls in flight (each admission
//! precedes its finish); the Acquire fence, paired with each call's Release
//! fence before its finish, orders the call's last access before the
//! evictor's swap, hence before the removal and the reclamation of the
//! entry (the map reclaims only after every guard that could see it is
//! gone, and the evictor's own accesses are inside its guard).
//!
//! The memory of a removed entry is freed by the next reclamation attempt
//! that finds no guard left that could reach it: attempts are made by
//! every call that makes a key (after its guard ends, so after any sweep
//! it ran), by [`KeyedBreaker::evict_idle`], and when the family is
//! dropped. They never wait for a guard to end.
//!
//! Calls made on a key's breaker directly (through
//! [`KeyedBreaker::with`]) are admissions the family never sees finish:
//! such a key is never evicted again.
//!
//! An entry is *idle* when no call is in flight on it, it was
//! last used at least `idle_timeout` ago (by the family's clock), and its
//! breaker reads CLOSED, or HALF_OPEN with no trial in flight (its open
//! time is over). An OPEN breaker (inside its open time) and a forced one
//! are never evicted: a host that is down stays refused until its open
//! time ends, whatever the key churn. An evicted key's next call gets a
//! fresh CLOSED breaker: an evicted HALF_OPEN breaker's trial progress and
//! back-off are forgotten.
//!
//! The bound: at most `max_keys` entries are alive (not retired) at once.
//! A call for a new key when the bound is reached first evicts every idle
//! entry (one pass over the map, O(`max_keys`)); if none is idle it is
//! refused with [`KeyedRejected::Full`] at once, never queued and never
//! allowed to grow the map. A retired entry gives its place back right
//! after the swap that retired it (then stays in the map only until its
//! evictor, or a caller that finds it, removes it), so a call that races an
//! eviction into a full family may be refused `Full` in the instant between
//! the two; it never finds room that is not there.
//!
//! The family's totals ([`KeyedMetrics`]) are counted by the family itself
//! on striped counts, as calls are admitted, refused and reported, so they
//! include evicted keys and never go down.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::config::BreakerConfig;
use super::metrics::Metrics;
use super::permit::{Rejected, Report, Ticket};
use super::state::{Outcome, State};
use super::Breaker;
use crate::clock::{nanos, Clock, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::stripes::{thread_stripe, StripedCounts};
use table::{Guard, Table};

mod key;
mod reclaim;
mod table;
use crate::sync::{fence, AtomicU64, Fence, Ordering};

/// The most keys a family may keep alive at once.
const MAX_KEYS: u32 = 1 << 20;

/// The mark of an entry: its state in the low two bits, the number of
/// the last eviction attempt above them.
mod mark {
    /// The state bits.
    pub(super) const STATE: u64 = 0b11;
    /// Calls use it; no eviction is under way.
    pub(super) const LIVE: u64 = 0;
    /// An evictor is deciding; a call that sees this cancels the attempt.
    pub(super) const EVICTING: u64 = 1;
    /// Evicted: no call uses it again. Never changes once set.
    pub(super) const RETIRED: u64 = 2;
    /// One attempt (2^62 attempts on one entry would take centuries).
    pub(super) const ATTEMPT: u64 = 1 << 2;
}

/// One key's breaker, its mark and its count of finished calls.
struct Entry<C: Clock> {
    mark: AtomicU64,
    /// The family clock's `recent()` at the last call.
    used: AtomicU64,
    /// Calls admitted by `breaker` that have finished (see the module docs).
    finished: StripedCounts<1>,
    breaker: Breaker<C>,
}

impl<C: Clock> Entry<C> {
    fn new(breaker: Breaker<C>, now: u64) -> Self {
        Self {
            mark: AtomicU64::new(mark::LIVE),
            used: AtomicU64::new(now),
            finished: StripedCounts::new(),
            breaker,
        }
    }

    /// Whether the entry is retired (for an admitted call, the decision
    /// is `admit`'s, after the fence).
    #[inline]
    fn retired(&self) -> bool {
        // Acquire: pairs with the Release swap that retired the entry, so
        // a caller that removes a retired entry from the map does so after
        // its evictor's reading of the calls in flight (and so after their
        // last accesses).
        self.mark.load(Ordering::Acquire) & mark::STATE == mark::RETIRED
    }

    /// Step 3 of a call (module docs), after its admission and the light
    /// fence: whether the call may go on with this entry.
    #[inline]
    fn admit(&self) -> bool {
        // Relaxed: the fence before it orders it after the admission (the
        // handshake); nothing else is read through the mark.
        let m = self.mark.load(Ordering::Relaxed);
        m & mark::STATE == mark::LIVE || self.cancel_eviction(m)
    }

    /// Cancels an eviction under way; `false` if the entry is retired.
    #[cold]
    #[inline(never)]
    fn cancel_eviction(&self, mut m: u64) -> bool {
        loop {
            match m & mark::STATE {
                mark::LIVE => return true,
                mark::RETIRED => return false,
                _ => {}
            }
            // Relaxed: the swap itself is what makes the evictor's own
            // swap (from the same attempt's mark) fail; nothing is
            // published through it.
            match self.mark.compare_exchange(
                m,
                m - mark::EVICTING + mark::LIVE,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(now) => m = now,
            }
        }
    }

    /// Counts one admitted call finished, on the calling thread's
    /// `stripe`: the call's last access.
    #[inline]
    fn finish(&self, stripe: Option<usize>) {
        // Release: pairs with the Acquire fence in `in_flight`, so that
        // everything the call did to the entry happens before an evictor
        // that counts it finished retires the entry.
        fence(Ordering::Release);
        self.finished.incr_on(stripe, 0);
    }

    /// Records the time of a use, if it moved (the production clock's
    /// `recent()` moves once a millisecond, so a busy key writes it at
    /// most that often).
    #[inline]
    fn touch(&self, now: u64) {
        // Relaxed: a hint for the evictor, which decides on the calls in
        // flight (read after the handshake).
        if self.used.load(Ordering::Relaxed) != now {
            self.used.store(now, Ordering::Relaxed);
        }
    }

    /// Whether the entry looks idle at `now`: no call in flight, unused
    /// for `idle`, and a breaker that may be forgotten.
    fn idle(&self, now: u64, idle: u64) -> bool {
        // Relaxed: see `touch`. A clock that stepped back reads as a use
        // just now.
        now.saturating_sub(self.used.load(Ordering::Relaxed)) >= idle
            && self.in_flight() == 0
            && matches!(self.breaker.state(), State::Closed | State::HalfOpen)
    }

    /// Admitted calls not counted finished (an overstatement while calls
    /// run: finishes are read first).
    fn in_flight(&self) -> u64 {
        let finished = self.finished.total(0);
        // Acquire: pairs with the Release fence in `finish` of every call
        // whose finish was read above.
        fence(Ordering::Acquire);
        self.breaker.admitted().wrapping_sub(finished)
    }

    /// Step 1 of an eviction: marks the entry if it looks idle. Returns the
    /// attempt's mark.
    fn mark_if_idle(&self, now: u64, idle: u64) -> Option<u64> {
        // Relaxed: a first look; the decision is made in `settle` after the
        // heavy fence.
        let m = self.mark.load(Ordering::Relaxed);
        if m & mark::STATE != mark::LIVE || !self.idle(now, idle) {
            return None;
        }
        let attempt = m + mark::ATTEMPT + mark::EVICTING;
        // Relaxed: the heavy fence that follows orders this store before
        // the evictor's reading of the admissions (the handshake).
        self.mark
            .compare_exchange(m, attempt, Ordering::Relaxed, Ordering::Relaxed)
            .ok()
            .map(|_| attempt)
    }

    /// Step 3 of an eviction (after the heavy fence): retires the entry if
    /// it is still idle and no call cancelled `attempt`, else ends the
    /// attempt. `fenced`: the heavy fence was issued.
    fn settle(&self, attempt: u64, fenced: bool, now: u64, idle: u64) -> bool {
        let (to, order) = if fenced && self.idle(now, idle) {
            // Release: pairs with the Acquire in `retired`, for callers
            // that remove the entry (see there).
            (attempt - mark::EVICTING + mark::RETIRED, Ordering::Release)
        } else {
            // Relaxed: nothing is published by giving up.
            (attempt - mark::EVICTING + mark::LIVE, Ordering::Relaxed)
        };
        // Fails if a call cancelled this attempt (whatever came after).
        self.mark
            .compare_exchange(attempt, to, order, Ordering::Relaxed)
            .is_ok()
            && to & mark::STATE == mark::RETIRED
    }
}

/// The family's counts (indices into its striped counts).
const PERMITTED: usize = 0;
const REJECTED: usize = 1;
const FULL: usize = 2;
const SUCCESSES: usize = 3;
const FAILURES: usize = 4;
const IGNORED: usize = 5;

fn outcome_count(outcome: Outcome) -> usize {
    match outcome {
        Outcome::Success => SUCCESSES,
        Outcome::Failure => FAILURES,
        Outcome::Ignored => IGNORED,
    }
}

/// A breaker per key (host, tenant, endpoint), made on a key's first call
/// from one [`BreakerConfig`], with at most `max_keys` keys alive at once.
///
/// ```
/// use std::time::Duration;
/// use seawall::{BreakerConfig, KeyedBreaker, KeyedRejected, ManualClock, State};
///
/// let clock = ManualClock::new();
/// let config = BreakerConfig { failure_threshold: 1, ..Default::default() };
/// let hosts = KeyedBreaker::with_clock("http:", config, 2, Duration::from_secs(30), clock.clone())
///     .unwrap();
/// hosts.try_acquire("a.example:443").unwrap().failure();
/// assert!(matches!(hosts.try_acquire("a.example:443"), Err(KeyedRejected::Open(_))));
/// hosts.try_acquire("b.example:443").unwrap().success();
/// // Two keys alive, neither idle yet (and a.example's is OPEN): a third is refused.
/// assert_eq!(hosts.try_acquire("c.example:443").unwrap_err(), KeyedRejected::Full { max_keys: 2 });
/// // 30 s later b.example is idle and makes room; a.example stays while OPEN.
/// clock.advance(Duration::from_secs(30));
/// hosts.try_acquire("c.example:443").unwrap().success();
/// assert_eq!(hosts.state("a.example:443"), Some(State::Open));
/// assert_eq!(hosts.state("b.example:443"), None);
/// assert_eq!(hosts.metrics().evicted, 1);
/// ```
///
/// See the module documentation (`core/src/breaker/keyed.rs`) for what
/// idle means, and the ordering argument for eviction racing with calls.
pub struct KeyedBreaker<C: Clock + Clone = QuantaClock> {
    map: Table<Entry<C>>,
    /// Entries in the map that are not retired, plus places reserved by
    /// inserters: at most `max_keys`. (Retired entries wait in the map only
    /// until their evictor, or a caller that finds one, removes it.)
    live: AtomicU64,
    /// The fences of the handshake between calls and evictors.
    fence: Fence,
    counts: StripedCounts<6>,
    created: AtomicU64,
    evicted: AtomicU64,
    config: BreakerConfig,
    max_keys: u32,
    idle: u64,
    prefix: Arc<str>,
    clock: C,
}

/// Why a keyed call was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyedRejected {
    /// The key's breaker refused the call.
    Open(Rejected),
    /// The key is new, `max_keys` keys are alive and none is idle.
    Full {
        /// The family's bound.
        max_keys: u32,
    },
}

impl fmt::Display for KeyedRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedRejected::Open(r) => r.fmt(f),
            KeyedRejected::Full { max_keys } => {
                write!(f, "keyed breaker is full: {max_keys} keys alive, none idle")
            }
        }
    }
}

impl std::error::Error for KeyedRejected {}

/// The totals of a [`KeyedBreaker`] over every key it ever had, evicted
/// ones included: each count only grows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyedMetrics {
    /// Calls admitted by their key's breaker.
    pub permitted: u64,
    /// Calls refused by their key's breaker.
    pub rejected: u64,
    /// Calls of new keys refused because the family was full.
    pub full: u64,
    /// Successes reported (including ones their breaker counted as late).
    pub successes: u64,
    /// Failures reported (likewise).
    pub failures: u64,
    /// Neutral outcomes and dropped permits (likewise).
    pub ignored: u64,
    /// Breakers created (first calls of keys, and of keys again after
    /// their eviction).
    pub created: u64,
    /// Breakers evicted.
    pub evicted: u64,
    /// Keys alive now (not a total).
    pub keys: u64,
}

impl KeyedBreaker<QuantaClock> {
    /// A family on the production clock; see [`KeyedBreaker::with_clock`].
    pub fn new(
        prefix: &str,
        config: BreakerConfig,
        max_keys: u32,
        idle_timeout: Duration,
    ) -> Result<Self, ConfigError> {
        Self::with_clock(prefix, config, max_keys, idle_timeout, QuantaClock)
    }
}

impl<C: Clock + Clone> KeyedBreaker<C> {
    /// A family whose breakers are made from `config` and read `clock`,
    /// named `prefix` followed by the key (read as UTF-8, invalid bytes
    /// replaced), with at most `max_keys` (1 to 2^20) keys alive, evicting
    /// keys idle for `idle_timeout` (at most a year; zero evicts any key
    /// with no call in flight whose breaker is CLOSED) when a new key
    /// needs room or on [`KeyedBreaker::evict_idle`].
    pub fn with_clock(
        prefix: &str,
        config: BreakerConfig,
        max_keys: u32,
        idle_timeout: Duration,
        clock: C,
    ) -> Result<Self, ConfigError> {
        config.validate()?;
        if max_keys == 0 || max_keys > MAX_KEYS {
            return Err(ConfigError::new(
                "max_keys",
                max_keys,
                "an integer in [1, 1048576]",
            ));
        }
        if idle_timeout > MAX_DURATION {
            return Err(ConfigError::new(
                "idle_timeout",
                idle_timeout,
                "a duration of at most 365 days",
            ));
        }
        Ok(Self {
            map: Table::new(max_keys),
            live: AtomicU64::new(0),
            fence: Fence::new(),
            counts: StripedCounts::new(),
            created: AtomicU64::new(0),
            evicted: AtomicU64::new(0),
            config,
            max_keys,
            idle: nanos(idle_timeout),
            prefix: prefix.into(),
            clock,
        })
    }

    /// Asks `key`'s breaker for permission to make one call, making the
    /// breaker if the key has none.
    // `always`: as the plain breaker's; the permit is then built in the
    // caller's registers rather than returned through memory.
    #[inline(always)]
    pub fn try_acquire(&self, key: impl AsRef<[u8]>) -> Result<KeyedPermit<'_, C>, KeyedRejected> {
        let key = key.as_ref();
        // One look-up of the thread's stripe for the guard and the counts.
        let stripe = thread_stripe();
        loop {
            {
                let guard = self.map.guard_on(stripe);
                // A retired entry found here (its evictor has yet to
                // remove it) is caught by `acquire_on`; `make` replaces it.
                if let Some(entry) = self.map.get(key, &guard) {
                    if let Some(r) = self.acquire_on(entry, stripe) {
                        return r;
                    }
                }
            }
            // Then looked up again: returning the entry (or the permit)
            // from here would make the fast path's permit go through
            // memory too, and a wider load of the narrower stores that
            // wrote it stalls every call.
            self.make(key)?;
        }
    }

    /// Asks `entry`'s breaker (found under a guard) for permission,
    /// counting the answer on `stripe` (the thread's); `None` if the entry
    /// turned out retired, which its breaker's answer then does not count
    /// for.
    #[inline(always)]
    fn acquire_on(
        &self,
        entry: &Entry<C>,
        stripe: Option<usize>,
    ) -> Option<Result<KeyedPermit<'_, C>, KeyedRejected>> {
        entry.touch(self.clock.recent());
        match entry.breaker.try_acquire() {
            Ok(p) => {
                let (episode, start) = p.into_ticket().into_parts();
                // The handshake with evictors (module docs, steps 2-3).
                self.fence.light();
                if !entry.admit() {
                    // Retired since it was found: the admission stays in
                    // the dead breaker, which nothing reads again.
                    return None;
                }
                self.counts.incr_on(stripe, PERMITTED);
                let entry: *const Entry<C> = entry;
                // SAFETY: the call is admitted and the entry was not
                // retired after its admission (handshake), so no evictor
                // retires it before the call counts itself finished, which
                // the permit does last; until then it stays in the map and
                // its memory is not reclaimed. `&self` outlives the
                // returned borrow.
                let entry = unsafe { &*entry };
                Some(Ok(KeyedPermit {
                    family: self,
                    entry,
                    episode,
                    start,
                }))
            }
            Err(r) => {
                if entry.retired() {
                    // Refused by a breaker retired since it was found,
                    // which nothing drives any more: ask the key's live
                    // one.
                    return None;
                }
                self.counts.incr_on(stripe, REJECTED);
                Some(Err(KeyedRejected::Open(r)))
            }
        }
    }

    /// Makes `key` a live entry if it has none (evicting idle keys if the
    /// family is full), then frees what that unlinked (outside the guard,
    /// see `keyed/reclaim.rs`).
    #[cold]
    #[inline(never)]
    fn make(&self, key: &[u8]) -> Result<(), KeyedRejected> {
        let made = self.make_under(key, &self.map.guard());
        self.map.reclaim();
        made
    }

    /// Reports the outcome of a call made under a detached
    /// [`KeyedTicket`] of this family.
    ///
    /// # Panics
    ///
    /// If the ticket came from another family.
    #[inline]
    pub fn record(&self, ticket: KeyedTicket, outcome: Outcome) {
        assert!(
            std::ptr::eq(ticket.family, self as *const Self as *const ()),
            "a keyed ticket reported to a family that did not issue it"
        );
        // SAFETY: the ticket is an admitted call of its entry not yet
        // counted finished (issued by this family, checked above), so the
        // entry has not been retired, hence not removed from the map nor
        // reclaimed; the family is alive (`&self`). A ticket is not
        // `Clone`: this is its only report.
        let entry = unsafe { &*ticket.entry.cast::<Entry<C>>() };
        self.finish(entry, ticket.episode, ticket.start, outcome);
    }

    // `always`: as the plain breaker's `finish`; a call here costs its
    // prologue, its epilogue and the permit's spill.
    #[inline(always)]
    fn finish(&self, entry: &Entry<C>, episode: u64, start: u64, outcome: Outcome) {
        entry
            .breaker
            .record(Ticket::from_parts(episode, start), outcome);
        // One look-up of the thread's stripe for both counts.
        let stripe = thread_stripe();
        self.counts.incr_on(stripe, outcome_count(outcome));
        entry.finish(stripe);
    }

    /// `make` under `guard`: removes `key`'s entry if it is retired, and
    /// makes one if there is none.
    fn make_under(&self, key: &[u8], guard: &Guard<'_>) -> Result<(), KeyedRejected> {
        loop {
            if let Some(e) = self.map.get(key, guard) {
                if !e.retired() {
                    return Ok(());
                }
                // Retired: out of the map with it (its evictor may be
                // about to), then make a fresh one.
                self.remove_retired(key, guard);
                continue;
            }
            self.reserve(guard)?;
            let breaker =
                Breaker::with_clock(self.name_of(key), self.config.clone(), self.clock.clone())
                    .expect("the configuration was validated when the family was made");
            // Used now: with a non-zero idle timeout, nobody evicts it
            // before its first call.
            let entry = Entry::new(breaker, self.clock.recent());
            match self.map.insert(key, entry, guard) {
                Ok(_) => {
                    // Relaxed: a statistic.
                    self.created.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                // Another caller made this key's breaker first: use it.
                Err(_) => self.release(),
            }
        }
    }

    /// Takes a place for a new entry, evicting idle ones if the bound is
    /// reached.
    fn reserve(&self, guard: &Guard<'_>) -> Result<(), KeyedRejected> {
        // Relaxed: the count is the only thing this decides on, and the
        // swap is on it.
        let mut n = self.live.load(Ordering::Relaxed);
        loop {
            if n < u64::from(self.max_keys) {
                match self.live.compare_exchange_weak(
                    n,
                    n + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => return Ok(()),
                    Err(now) => n = now,
                }
                continue;
            }
            let evicted = self.sweep(guard);
            // Relaxed: as above. Another evictor may have made room
            // meanwhile, even if this sweep found nothing.
            n = self.live.load(Ordering::Relaxed);
            if evicted == 0 && n >= u64::from(self.max_keys) {
                self.counts.incr(FULL);
                return Err(KeyedRejected::Full {
                    max_keys: self.max_keys,
                });
            }
        }
    }

    /// Gives back a place taken by `reserve`, or held by an entry just
    /// retired (a retired entry is dead: it may stay in the map until a
    /// remover gets to it, but it no longer counts).
    fn release(&self) {
        // Relaxed: see `reserve`.
        self.live.fetch_sub(1, Ordering::Relaxed);
    }

    /// Removes `key`'s entry if it is retired (the evictor that retired it
    /// and any caller that finds it retired race to; one succeeds).
    fn remove_retired(&self, key: &[u8], guard: &Guard<'_>) {
        self.map.remove_if(key, Entry::retired, guard);
    }

    /// Retires and removes every idle entry; returns how many. One heavy
    /// fence serves every entry marked in the pass.
    fn sweep(&self, guard: &Guard<'_>) -> usize {
        let now = self.clock.recent();
        let marked: Vec<_> = self
            .map
            .iter(guard)
            .filter_map(|n| Some((n, n.value.mark_if_idle(now, self.idle)?)))
            .collect();
        if marked.is_empty() {
            return 0;
        }
        let fenced = self.fence.heavy();
        let mut retired = 0;
        for (n, attempt) in marked {
            if n.value.settle(attempt, fenced, now, self.idle) {
                // This thread won the retiring swap: the one place the
                // entry's place is given back.
                self.release();
                // Relaxed: a statistic.
                self.evicted.fetch_add(1, Ordering::Relaxed);
                self.remove_retired(n.key(), guard);
                retired += 1;
            }
        }
        retired
    }

    /// Evicts every idle key now (new keys evict when the family is full;
    /// call this periodically to free memory sooner). Returns how many.
    pub fn evict_idle(&self) -> usize {
        let evicted = self.sweep(&self.map.guard());
        // Outside the guard: see `make`.
        self.map.reclaim();
        evicted
    }

    /// Runs `f` on `key`'s breaker, if the key has one (to read it, or to
    /// reset or force it), without making one and without counting a use.
    /// `f` runs inside the map's guard: while it runs, no memory evicted
    /// keys leave behind is freed (nothing waits; it is freed later), so
    /// keep it short.
    pub fn with<R>(&self, key: impl AsRef<[u8]>, f: impl FnOnce(&Breaker<C>) -> R) -> Option<R> {
        let guard = self.map.guard();
        self.map
            .get(key.as_ref(), &guard)
            .filter(|e| !e.retired())
            .map(|e| f(&e.breaker))
    }

    /// The state of `key`'s breaker, if it has one.
    pub fn state(&self, key: impl AsRef<[u8]>) -> Option<State> {
        self.with(key, Breaker::state)
    }

    /// The metrics of `key`'s breaker, if it has one.
    pub fn key_metrics(&self, key: impl AsRef<[u8]>) -> Option<Metrics> {
        self.with(key, Breaker::metrics)
    }

    /// Each live key's breaker name and metrics, sorted by name.
    pub fn snapshot(&self) -> Vec<(Arc<str>, Metrics)> {
        let guard = self.map.guard();
        let mut v: Vec<(Arc<str>, Metrics)> = self
            .map
            .iter(&guard)
            .filter(|n| !n.value.retired())
            .map(|n| (Arc::from(n.value.breaker.name()), n.value.breaker.metrics()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The live keys, in no particular order.
    pub fn keys(&self) -> Vec<Box<[u8]>> {
        let guard = self.map.guard();
        self.map
            .iter(&guard)
            .filter(|n| !n.value.retired())
            .map(|n| n.key().into())
            .collect()
    }

    /// The totals over every key the family ever had. Exact once the
    /// calling threads are joined; during traffic each count is a value it
    /// really had.
    pub fn metrics(&self) -> KeyedMetrics {
        let c = |i| self.counts.total(i);
        KeyedMetrics {
            permitted: c(PERMITTED),
            rejected: c(REJECTED),
            full: c(FULL),
            successes: c(SUCCESSES),
            failures: c(FAILURES),
            ignored: c(IGNORED),
            // Relaxed: statistics.
            created: self.created.load(Ordering::Relaxed),
            evicted: self.evicted.load(Ordering::Relaxed),
            keys: self.len() as u64,
        }
    }

    /// The number of keys alive (and being made): at most `max_keys`.
    pub fn len(&self) -> usize {
        // Relaxed: a reading; see `reserve`.
        self.live.load(Ordering::Relaxed) as usize
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on keys alive at once.
    pub fn max_keys(&self) -> u32 {
        self.max_keys
    }

    /// How long a key must go unused before it may be evicted.
    pub fn idle_timeout(&self) -> Duration {
        Duration::from_nanos(self.idle)
    }

    /// The configuration every key's breaker is made from.
    pub fn config(&self) -> &BreakerConfig {
        &self.config
    }

    /// The prefix of every key's breaker name.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The name of `key`'s breaker: the prefix, then the key (its bytes
    /// read as UTF-8, invalid sequences replaced).
    pub fn name_of(&self, key: impl AsRef<[u8]>) -> String {
        format!("{}{}", self.prefix, String::from_utf8_lossy(key.as_ref()))
    }

    /// The clock the breakers read.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C: Clock + Clone> fmt::Debug for KeyedBreaker<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedBreaker")
            .field("prefix", &self.prefix)
            .field("max_keys", &self.max_keys)
            .field("keys", &self.len())
            .finish_non_exhaustive()
    }
}

/// Permission for one call of one key. Report its outcome like a
/// [`Permit`](super::Permit)'s; dropping it unreported counts as ignored.
/// It keeps its key's breaker from eviction until then.
#[must_use = "dropping a permit records the call as ignored"]
pub struct KeyedPermit<'a, C: Clock + Clone = QuantaClock> {
    family: &'a KeyedBreaker<C>,
    entry: &'a Entry<C>,
    episode: u64,
    start: u64,
}

impl<C: Clock + Clone> KeyedPermit<'_, C> {
    /// Reports `outcome`.
    #[inline]
    pub fn record(self, outcome: Outcome) {
        let this = std::mem::ManuallyDrop::new(self);
        this.family
            .finish(this.entry, this.episode, this.start, outcome);
    }

    /// Reports a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success)
    }

    /// Reports a failure.
    #[inline]
    pub fn failure(self) {
        self.record(Outcome::Failure)
    }

    /// Reports a neutral outcome.
    #[inline]
    pub fn ignore(self) {
        self.record(Outcome::Ignored)
    }

    /// The breaker the call was admitted by.
    pub fn breaker(&self) -> &Breaker<C> {
        &self.entry.breaker
    }

    /// Detaches the permit from the borrow of its family, for bindings
    /// that keep the family behind their own handle. Report it with
    /// [`KeyedBreaker::record`] on the same family; until then it keeps
    /// its key's breaker alive and from eviction.
    pub fn into_ticket(self) -> KeyedTicket {
        let this = std::mem::ManuallyDrop::new(self);
        KeyedTicket {
            family: this.family as *const KeyedBreaker<C> as *const (),
            entry: this.entry as *const Entry<C> as *const (),
            episode: this.episode,
            start: this.start,
        }
    }
}

impl<C: Clock + Clone> Report for KeyedPermit<'_, C> {
    #[inline(always)]
    fn record(self, outcome: Outcome) {
        KeyedPermit::record(self, outcome)
    }
}

impl<C: Clock + Clone> Drop for KeyedPermit<'_, C> {
    fn drop(&mut self) {
        self.family
            .finish(self.entry, self.episode, self.start, Outcome::Ignored);
    }
}

impl<C: Clock + Clone> fmt::Debug for KeyedPermit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedPermit")
            .field("breaker", &self.entry.breaker.name())
            .field("episode", &self.episode)
            .finish()
    }
}

/// A [`KeyedPermit`] detached from the borrow of its family; consumed by
/// [`KeyedBreaker::record`]. Not `Clone`: one report per call. A ticket
/// that is never reported keeps its key from eviction for good.
#[must_use = "a keyed ticket must be reported with KeyedBreaker::record"]
#[derive(Debug)]
pub struct KeyedTicket {
    family: *const (),
    entry: *const (),
    episode: u64,
    start: u64,
}

impl KeyedTicket {
    /// The raw parts, for bindings that must store a ticket in a foreign
    /// struct: `(family address, entry address, episode, start)`.
    pub fn into_parts(self) -> (usize, usize, u64, u64) {
        (
            self.family as usize,
            self.entry as usize,
            self.episode,
            self.start,
        )
    }

    /// Rebuilds a ticket from [`KeyedTicket::into_parts`].
    ///
    /// # Safety
    ///
    /// The parts come from `into_parts` of a ticket that has not been
    /// reported since (a report counts the call finished, after which the
    /// entry may be evicted and freed), and this is the only ticket rebuilt
    /// from them.
    pub unsafe fn from_parts(family: usize, entry: usize, episode: u64, start: u64) -> Self {
        Self {
            family: family as *const (),
            entry: entry as *const (),
            episode,
            start,
        }
    }
}

// SAFETY: a ticket is two addresses and two numbers; the entry it points to
// is `Sync` (atomics and a `Breaker`), and it is only dereferenced by
// `KeyedBreaker::record` on the family that issued it, from any thread.
unsafe impl Send for KeyedTicket {}
// SAFETY: as above; `&KeyedTicket` gives no access to the entry.
unsafe impl Sync for KeyedTicket {}

/// The entry protocol alone, for the loom models in `loom-tests/`: the
/// map's own synchronization (`seize`'s, on std's atomics) is invisible to loom,
/// which would then see entries published by one thread and read by
/// another as racing. The models drive one entry as the family does:
/// calls ask the breaker, run the light fence, check the mark, record and
/// count themselves finished; evictors mark, run the heavy fence, settle.
/// (Under loom both fences are `SeqCst` fences: the fallback protocol, and
/// the model of the `membarrier` one.)
#[cfg(seawall_loom)]
pub mod loom_entry {
    use super::{Breaker, Entry};
    use crate::sync::{Fence, UnsafeCell};
    use crate::{ManualClock, Permit};

    /// One entry, and a cell standing for its memory: an admitted call
    /// reads it, an evictor that retired the entry frees (writes) it, and
    /// loom reports any of those accesses that are not ordered.
    pub struct LoomEntry {
        entry: Entry<ManualClock>,
        fence: Fence,
        memory: UnsafeCell<u64>,
    }

    // SAFETY: the entry is `Sync`; the cell is shared on purpose, every
    // access to it goes through loom, which reports the unordered ones (the
    // model's whole point).
    unsafe impl Sync for LoomEntry {}

    impl LoomEntry {
        /// An entry with nothing in flight, last used at time 0.
        pub fn new(breaker: Breaker<ManualClock>) -> Self {
            Self {
                entry: Entry::new(breaker, 0),
                fence: Fence::new(),
                memory: UnsafeCell::new(0),
            }
        }

        /// A call's admission as `KeyedBreaker::try_acquire` makes it:
        /// `None` if the entry is retired (before or after the breaker
        /// admitted the call) or the breaker refused.
        pub fn admit(&self) -> Option<Permit<'_, ManualClock>> {
            if self.entry.retired() {
                return None;
            }
            let p = self.entry.breaker.try_acquire().ok()?;
            self.fence.light();
            if self.entry.admit() {
                Some(p)
            } else {
                // As the family does: the admission stays in the dead
                // breaker, unreported.
                let _ = p.into_ticket();
                None
            }
        }

        /// `Entry::finish`: the call's last access.
        pub fn finish(&self) {
            self.entry.finish(crate::stripes::thread_stripe())
        }

        /// One entry's sweep: mark, heavy fence, settle.
        pub fn retire_if_idle(&self, now: u64, idle: u64) -> bool {
            match self.entry.mark_if_idle(now, idle) {
                Some(attempt) => self.entry.settle(attempt, self.fence.heavy(), now, idle),
                None => false,
            }
        }

        /// The entry's breaker.
        pub fn breaker(&self) -> &Breaker<ManualClock> {
            &self.entry.breaker
        }

        /// An admitted call's access to the entry's memory.
        pub fn read_memory(&self) -> u64 {
            // SAFETY: loom checks this access against `free`; reads may
            // overlap each other.
            self.memory.with(|p| unsafe { *p })
        }

        /// The evictor's reclamation of the entry's memory.
        pub fn free(&self) {
            // SAFETY: loom checks this access against `read_memory`.
            self.memory.with_mut(|p| unsafe { *p = u64::MAX })
        }
    }
}

/// The map alone, for the loom models in `loom-tests/`: its look-ups,
/// inserts and removals, with guards counted on the stripe a model names,
/// and its reclamation. Every read of a link or node, and every free of
/// one, touches a loom cell (`keyed/table.rs`), so loom reports a read that
/// a free is not ordered after.
#[cfg(seawall_loom)]
pub mod loom_table {
    use super::table::Table;

    /// A map of byte keys to numbers.
    pub struct LoomTable(Table<u64>);

    impl LoomTable {
        /// A map for up to `keys` keys (one bucket for one key: every key
        /// shares the chain).
        pub fn new(keys: u32) -> Self {
            Self(Table::new(keys))
        }

        /// `key`'s value, read under a guard counted as the holder of
        /// `stripe` (`None`: the shared count).
        pub fn get(&self, stripe: Option<usize>, key: &[u8]) -> Option<u64> {
            let guard = self.0.guard_on(stripe);
            self.0.get(key, &guard).copied()
        }

        /// Inserts `value` for `key` unless it has one; `true` if inserted.
        pub fn insert(&self, stripe: Option<usize>, key: &[u8], value: u64) -> bool {
            let guard = self.0.guard_on(stripe);
            self.0.insert(key, value, &guard).is_ok()
        }

        /// Removes `key`; `true` if this call removed it.
        pub fn remove(&self, stripe: Option<usize>, key: &[u8]) -> bool {
            let guard = self.0.guard_on(stripe);
            self.0.remove_if(key, |_| true, &guard)
        }

        /// One reclamation attempt; `true` if something is still waiting.
        pub fn reclaim(&self) -> bool {
            self.0.reclaim()
        }
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests;
