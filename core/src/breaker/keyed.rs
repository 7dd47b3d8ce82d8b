//! A family of breakers, one per key (host, tenant, endpoint), all made
//! from one configuration, with a bound on the keys alive at once.
//!
//! The map is papaya's lock-free hash map: a look-up hashes the key once
//! and probes a flat table (O(1)), inside a guard that writes only the
//! calling thread's own record; nothing takes a lock, not even an insert
//! or a removal. crossbeam's skip list (the [`Registry`](super::Registry)'s
//! map) costs O(log n) string comparisons and pointer hops per look-up; a
//! fixed table like [`KeyedRateLimiter`](crate::KeyedRateLimiter)'s makes
//! keys share breakers.
//!
//! # Entries, pins and eviction
//!
//! Each entry holds its breaker, the time of its last use and one *use
//! word*: a retired bit, a count of uses (every pin adds one) and the
//! number of pins (calls in flight). A call pins its key's entry (one
//! `fetch_add`) before it asks the breaker, and unpins it (one `fetch_sub`)
//! after its outcome is recorded. An evictor retires an entry with one
//! compare-and-swap from a word it read with no pin, after checking that
//! the entry is idle; any pin in between changes the use count and fails
//! the swap. A retired entry takes no new pin, and is then removed from the
//! map. So an entry is removed, and its memory reclaimed, only with no call
//! in flight: a call that holds a permit always records into the breaker
//! it was admitted by, and that breaker is alive.
//!
//! An entry is *idle* when no call is in flight on it (no pin), it was
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
use crate::stripes::StripedCounts;
use crate::sync::{AtomicU64, Ordering};

/// The most keys a family may keep alive at once.
const MAX_KEYS: u32 = 1 << 20;

/// The use word of an entry: pins (calls in flight) in the low 32 bits,
/// then the retired bit, then a count of uses that wraps off the top.
mod word {
    /// Calls in flight. 2^32 permits of one key alive at once would take
    /// 128 GiB of permits: the count never carries into the retired bit.
    pub(super) const PINS: u64 = (1 << 32) - 1;
    /// Set once, by the evictor that retires the entry; never cleared.
    pub(super) const RETIRED: u64 = 1 << 32;
    /// One use. Uses wrap within their 31 bits, so an evictor's swap
    /// would be fooled only by a multiple of 2^31 pins between its load
    /// and its swap, all of them released again.
    const USE: u64 = 1 << 33;
    /// What one pin adds: a call in flight and a use.
    pub(super) const PIN: u64 = 1 + USE;
}

/// One key's breaker and its use word.
struct Entry<C: Clock> {
    word: AtomicU64,
    /// The family clock's `recent()` at the last pin.
    used: AtomicU64,
    breaker: Breaker<C>,
}

impl<C: Clock> Entry<C> {
    /// Pins the entry for one call, unless it is retired.
    #[inline]
    fn pin(&self) -> bool {
        // Acquire: pairs with the AcqRel swap that retired the entry, so a
        // caller that sees the retired bit also sees the entry as retired
        // everywhere it looks next. Relaxed would do for the pin itself:
        // the entry's memory is kept alive by the map guard the caller
        // holds until the pin is taken.
        let old = self.word.fetch_add(word::PIN, Ordering::Acquire);
        // A pin on a retired entry is harmless: nobody reads its count
        // again, and the entry is on its way out of the map.
        old & word::RETIRED == 0
    }

    /// Ends a call's pin: its last access to the entry.
    #[inline]
    fn unpin(&self) {
        // Release: the call's record into the breaker happens before the
        // evictor's Acquire swap sees no pin, and so before the entry is
        // removed and its memory reclaimed.
        self.word.fetch_sub(1, Ordering::Release);
    }

    /// Records the time of a use, if it moved (the production clock's
    /// `recent()` moves once a millisecond, so a busy key writes it at
    /// most that often).
    #[inline]
    fn touch(&self, now: u64) {
        // Relaxed: a hint for the evictor, which decides on the use word
        // (a use between its reading of this and its swap fails the swap).
        if self.used.load(Ordering::Relaxed) != now {
            self.used.store(now, Ordering::Relaxed);
        }
    }

    fn retired(&self) -> bool {
        // Acquire: as in `pin`.
        self.word.load(Ordering::Acquire) & word::RETIRED != 0
    }

    /// Retires the entry if it is idle at `now`.
    fn retire_if_idle(&self, now: u64, idle: u64) -> bool {
        // Acquire: pairs with the Release `unpin` of every call counted
        // in the word, so their records are done before the entry goes.
        let w = self.word.load(Ordering::Acquire);
        if w & (word::RETIRED | word::PINS) != 0 {
            return false;
        }
        // Relaxed: see `touch`. A clock that stepped back reads as a use
        // just now.
        if now.saturating_sub(self.used.load(Ordering::Relaxed)) < idle {
            return false;
        }
        if !matches!(self.breaker.state(), State::Closed | State::HalfOpen) {
            return false;
        }
        // AcqRel: Acquire as for the load above; Release so that a caller
        // that finds the retired bit (Acquire in `pin`) sees the entry as
        // this evictor left it. Fails if any pin came since the load.
        self.word
            .compare_exchange(w, w | word::RETIRED, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
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

type Map<C> = papaya::HashMap<Box<[u8]>, Entry<C>, foldhash::fast::RandomState>;

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
    map: Map<C>,
    /// Entries in the map that are not retired, plus places reserved by
    /// inserters: at most `max_keys`. (Retired entries wait in the map only
    /// until their evictor, or a caller that finds one, removes it.)
    live: AtomicU64,
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
            map: papaya::HashMap::builder()
                .capacity(max_keys as usize)
                .hasher(foldhash::fast::RandomState::default())
                .build(),
            live: AtomicU64::new(0),
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
    #[inline]
    pub fn try_acquire(&self, key: impl AsRef<[u8]>) -> Result<KeyedPermit<'_, C>, KeyedRejected> {
        let entry = self.pin(key.as_ref())?;
        entry.touch(self.clock.recent());
        match entry.breaker.try_acquire() {
            Ok(p) => {
                self.counts.incr(PERMITTED);
                let (episode, start) = p.into_ticket().into_parts();
                Ok(KeyedPermit {
                    family: self,
                    entry,
                    episode,
                    start,
                })
            }
            Err(r) => {
                entry.unpin();
                self.counts.incr(REJECTED);
                Err(KeyedRejected::Open(r))
            }
        }
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
        // SAFETY: the ticket holds a pin on its entry (issued by this
        // family, checked above), so the entry has not been retired, hence
        // not removed from the map nor reclaimed; the family is alive
        // (`&self`). A ticket is not `Clone`: this is its only report.
        let entry = unsafe { &*ticket.entry.cast::<Entry<C>>() };
        self.finish(entry, ticket.episode, ticket.start, outcome);
    }

    #[inline]
    fn finish(&self, entry: &Entry<C>, episode: u64, start: u64, outcome: Outcome) {
        entry
            .breaker
            .record(Ticket::from_parts(episode, start), outcome);
        self.counts.incr(outcome_count(outcome));
        entry.unpin();
    }

    /// Pins `key`'s entry, making it if there is none.
    #[inline]
    fn pin(&self, key: &[u8]) -> Result<&Entry<C>, KeyedRejected> {
        let guard = self.map.guard();
        let entry = match self.map.get(key, &guard) {
            Some(e) if e.pin() => e,
            _ => self.pin_slow(key, &guard)?,
        };
        let entry: *const Entry<C> = entry;
        // SAFETY: the entry is pinned, so no evictor can retire it (that
        // needs a word with no pin), so it stays in the map and its memory
        // is not reclaimed until the pin is released, which the caller does
        // last; `&self` outlives the returned borrow, as does the map.
        Ok(unsafe { &*entry })
    }

    #[inline(never)]
    fn pin_slow<'g>(
        &self,
        key: &[u8],
        guard: &'g impl papaya::Guard,
    ) -> Result<&'g Entry<C>, KeyedRejected> {
        loop {
            if let Some(e) = self.map.get(key, guard) {
                if e.pin() {
                    return Ok(e);
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
            let entry = Entry {
                // Made pinned: nobody can evict it before its first call.
                word: AtomicU64::new(word::PIN),
                used: AtomicU64::new(self.clock.recent()),
                breaker,
            };
            match self.map.try_insert(key.into(), entry, guard) {
                Ok(e) => {
                    // Relaxed: a statistic.
                    self.created.fetch_add(1, Ordering::Relaxed);
                    return Ok(e);
                }
                // Another caller made this key's breaker first: use it.
                Err(_) => self.release(),
            }
        }
    }

    /// Takes a place for a new entry, evicting idle ones if the bound is
    /// reached.
    fn reserve(&self, guard: &impl papaya::Guard) -> Result<(), KeyedRejected> {
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
    fn remove_retired(&self, key: &[u8], guard: &impl papaya::Guard) {
        let _ = self.map.remove_if(key, |_, e| e.retired(), guard);
    }

    /// Retires and removes every idle entry; returns how many.
    fn sweep(&self, guard: &impl papaya::Guard) -> usize {
        let now = self.clock.recent();
        let mut retired = 0;
        for (k, e) in self.map.iter(guard) {
            if e.retire_if_idle(now, self.idle) {
                // This thread won the retiring swap: the one place the
                // entry's place is given back.
                self.release();
                // Relaxed: a statistic.
                self.evicted.fetch_add(1, Ordering::Relaxed);
                self.remove_retired(k, guard);
                retired += 1;
            }
        }
        retired
    }

    /// Evicts every idle key now (new keys evict when the family is full;
    /// call this periodically to free memory sooner). Returns how many.
    pub fn evict_idle(&self) -> usize {
        self.sweep(&self.map.guard())
    }

    /// Runs `f` on `key`'s breaker, if the key has one (to read it, or to
    /// reset or force it), without making one and without counting a use.
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
            .filter(|(_, e)| !e.retired())
            .map(|(_, e)| (Arc::from(e.breaker.name()), e.breaker.metrics()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// The live keys, in no particular order.
    pub fn keys(&self) -> Vec<Box<[u8]>> {
        let guard = self.map.guard();
        self.map
            .iter(&guard)
            .filter(|(_, e)| !e.retired())
            .map(|(k, _)| k.clone())
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
    /// reported since (a report releases the pin that keeps the entry
    /// alive), and this is the only ticket rebuilt from them.
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
/// map's own synchronization (papaya's plain atomics) is invisible to loom,
/// which would then see entries published by one thread and read by
/// another as racing. The models drive one entry as the family does:
/// calls pin, ask the breaker, record and unpin; evictors retire.
#[cfg(seawall_loom)]
pub mod loom_entry {
    use super::{Breaker, Entry};
    use crate::sync::{AtomicU64, UnsafeCell};
    use crate::ManualClock;

    /// One entry, and a cell standing for its memory: a pinned call reads
    /// it, an evictor that retired the entry frees (writes) it, and loom
    /// reports any of those accesses that are not ordered.
    pub struct LoomEntry {
        entry: Entry<ManualClock>,
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
                entry: Entry {
                    word: AtomicU64::new(0),
                    used: AtomicU64::new(0),
                    breaker,
                },
                memory: UnsafeCell::new(0),
            }
        }

        /// `Entry::pin`.
        pub fn pin(&self) -> bool {
            self.entry.pin()
        }

        /// `Entry::unpin`.
        pub fn unpin(&self) {
            self.entry.unpin()
        }

        /// `Entry::retire_if_idle`.
        pub fn retire_if_idle(&self, now: u64, idle: u64) -> bool {
            self.entry.retire_if_idle(now, idle)
        }

        /// The entry's breaker.
        pub fn breaker(&self) -> &Breaker<ManualClock> {
            &self.entry.breaker
        }

        /// A pinned call's access to the entry's memory.
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

#[cfg(all(test, not(seawall_loom)))]
mod tests;
