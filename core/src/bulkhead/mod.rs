//! The bulkhead: a bound on the calls in flight, with a bounded wait queue.
//!
//! At most `max_concurrent` calls hold a [`BulkheadPermit`] at once; up to
//! `max_queue_size` more may wait up to `timeout` for one; anything beyond
//! is refused at once.
//!
//! ```
//! use std::time::Duration;
//! use seawall::{Bulkhead, BulkheadConfig, BulkheadError, ManualClock};
//!
//! let config = BulkheadConfig { max_concurrent: 1, max_queue_size: 0, ..Default::default() };
//! let bulkhead = Bulkhead::with_clock(config, ManualClock::new()).unwrap();
//! let permit = bulkhead.try_acquire().unwrap();
//! assert_eq!(bulkhead.try_acquire().unwrap_err(), BulkheadError::Full);
//! drop(permit);
//! assert_eq!(bulkhead.available_permits(), 1);
//! ```
//!
//! # Design
//!
//! One atomic word, the *balance*, holds free slots minus the waiters no
//! slot has been committed to yet: positive, it counts free slots (and
//! nobody waits); zero or negative, every slot is taken and `-balance`
//! calls wait. Taking a free slot is one compare-and-swap that lowers it;
//! so is joining the queue (when the balance is not positive and the queue
//! has room). Releasing a slot raises it by one; when it was negative, a
//! waiter is owed a slot, and the release hands its slot over instead of
//! freeing it (the slot is never free in between, so no newcomer can take
//! it: waiters are served in arrival order and none starves).
//!
//! The hand-over goes through the queue (see `queue.rs`): waiters are
//! nodes in arrival order, and each slot owed goes to the oldest node
//! still waiting, whose own waiter alone is woken: its thread by a futex
//! wake on its own event count (see [`EventCount`]), its task through its
//! [`std::task::Waker`]. No path takes a lock (on Linux) or waits for
//! another thread, so a process that forks while its threads acquire, wait
//! or release leaves its child nothing to block on. A child does not
//! inherit the parent's waiting threads, though: slots its releases hand to
//! them are lost to the child; and a fork that catches a thread serving the
//! queue leaves the child's queue unserved (its waiters end at their
//! deadlines).
//!
//! A waiter that gives up (times out, is cancelled, is dropped) settles
//! its place in one of two ways, decided by one swap of the balance: while
//! the balance is negative it raises it (it no longer waits, and any slot
//! on its way goes on to the next waiter: `CANCELLED`); otherwise every
//! waiter, it included, already has a slot coming, and it leaves that slot
//! to be given back when it arrives (`REFUSED`). A slot handed to it while
//! it was leaving is passed on. So no slot is lost or handed twice, and
//! the counts stay exact.
//!
//! A deadline is on the bulkhead's clock. On a clock that follows real time
//! a thread's sleep is timed to end at the deadline; on a clock that moves
//! by hand ([`Clock::moves`], as [`crate::ManualClock`]) waiters sleep on
//! the clock's own event count instead, which every move of the clock
//! notifies, so a waiter returns `Timeout` as soon as the clock passes its
//! deadline. A waiter awaited as a future is woken by a hand-over or a
//! cancellation, and on a clock moved by hand by every move; on a real-time
//! clock its deadline is checked whenever it is polled, so put it under
//! your runtime's timeout (or call [`Waiter::cancel`]).
//!
//! # Memory ordering
//!
//! Taking a slot is `Acquire` and freeing one `Release`, as in a semaphore:
//! whatever a call did under its permit happens before the next holder's
//! call. A handed-over slot carries that order through the queue: the
//! release's `Release` on the balance and the work word, the server's
//! `Acquire` of the work word and `Release` of the grant, the new holder's
//! `Acquire` of its node's state. Every decision is a read-modify-write of
//! the balance or of a node's state, so the counts never drift.

use std::fmt;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{nanos, Clock, EventCount, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::sync::{AtomicU64, Ordering};

mod queue;
mod waiter;
mod waker;

use queue::Queue;
pub use waiter::Waiter;

/// The largest `max_concurrent` and `max_queue_size`: any `u32` (the
/// balance is a 64-bit signed count, far wider than both).
pub const MAX_PERMITS: u32 = u32::MAX;

/// The balance stored in the word (two's complement).
fn balance(word: u64) -> i64 {
    word as i64
}

/// How a [`Bulkhead`] bounds its calls. The defaults are the original
/// package's `BulkheadConfig`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadConfig {
    /// Calls in flight at once. At least 1, default 10.
    pub max_concurrent: u32,
    /// Calls that may wait for a slot. Any `u32`, default 100; 0 refuses
    /// at once when every slot is taken.
    pub max_queue_size: u32,
    /// How long a waiting call waits before giving up. `[0, 1 year]`,
    /// default 30 s.
    pub timeout: Duration,
}

impl Default for BulkheadConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 10,
            max_queue_size: 100,
            timeout: Duration::from_secs(30),
        }
    }
}

impl BulkheadConfig {
    /// Checks every field against its documented range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.max_concurrent == 0 {
            return Err(ConfigError::new(
                "max_concurrent",
                self.max_concurrent,
                "an integer in [1, 4294967295]",
            ));
        }
        if self.timeout > MAX_DURATION {
            return Err(ConfigError::new(
                "timeout",
                self.timeout,
                "a duration in [0, 365 days]",
            ));
        }
        Ok(())
    }
}

/// Why a bulkhead refused a call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BulkheadError {
    /// Every slot is taken and the queue is full (or has size 0).
    Full,
    /// The call waited its whole timeout without getting a slot.
    Timeout,
    /// The wait was cancelled with [`Waiter::cancel`].
    Cancelled,
}

impl fmt::Display for BulkheadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BulkheadError::Full => "bulkhead is full",
            BulkheadError::Timeout => "timed out waiting for a bulkhead slot",
            BulkheadError::Cancelled => "wait for a bulkhead slot was cancelled",
        })
    }
}

impl std::error::Error for BulkheadError {}

/// A snapshot of a bulkhead, for metrics ([`Bulkhead::metrics`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkheadMetrics {
    /// Slots taken now (handed-over slots included).
    pub in_use: u32,
    /// Calls waiting for a slot now.
    pub queued: u32,
    /// `max_concurrent`.
    pub capacity: u32,
    /// Calls refused: found the bulkhead full, or waited their whole
    /// timeout. (Cancelled waits are not counted.)
    pub rejected: u64,
}

/// A lock-free bulkhead: see the module documentation.
pub struct Bulkhead<C: Clock = QuantaClock> {
    /// Free slots minus waiters owed nothing yet (see "Design"), as an
    /// `i64`.
    balance: CachePadded<AtomicU64>,
    /// Calls refused (full or timed out), for [`Bulkhead::metrics`]: written
    /// only on refusals, on a line of its own so that refusals under load
    /// never touch the lines an admission reads.
    rejected: CachePadded<AtomicU64>,
    queue: Queue,
    max: i64,
    max_queue: i64,
    timeout: u64,
    config: BulkheadConfig,
    clock: C,
}

impl Bulkhead<QuantaClock> {
    /// A bulkhead on the production clock.
    pub fn new(config: BulkheadConfig) -> Result<Self, ConfigError> {
        Self::with_clock(config, QuantaClock)
    }
}

/// What [`Bulkhead::enqueue`] got: a slot at once, or a place in the queue.
#[derive(Debug)]
pub enum Admission<'a, C: Clock = QuantaClock> {
    /// A slot was free.
    Permit(BulkheadPermit<'a, C>),
    /// Every slot was taken; the caller is queued.
    Queued(Waiter<'a, C>),
}

impl<C: Clock> Bulkhead<C> {
    /// A bulkhead on the given clock (deadlines of waiters are read from it).
    pub fn with_clock(config: BulkheadConfig, clock: C) -> Result<Self, ConfigError> {
        config.validate()?;
        let max = i64::from(config.max_concurrent);
        Ok(Self {
            balance: CachePadded::new(AtomicU64::new(max as u64)),
            rejected: CachePadded::new(AtomicU64::new(0)),
            queue: Queue::new(),
            max,
            max_queue: i64::from(config.max_queue_size),
            timeout: nanos(config.timeout),
            config,
            clock,
        })
    }

    /// Takes a slot if one is free, without waiting; a refusal is counted
    /// in [`Bulkhead::metrics`].
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_, C>, BulkheadError> {
        self.try_take()
            .ok_or_else(|| self.refused(BulkheadError::Full))
    }

    /// Takes a slot if one is free, counting no refusal: for bindings that
    /// try this first and then wait (the wait counts a refusal, once).
    #[inline]
    pub fn try_take(&self) -> Option<BulkheadPermit<'_, C>> {
        // Relaxed: a guess for the swap below, which decides.
        let mut cur = self.balance.load(Ordering::Relaxed);
        while balance(cur) > 0 {
            // Acquire on success: pairs with the Release of the release that
            // freed this slot (see "Memory ordering"). Relaxed on failure:
            // the value only feeds the next attempt.
            match self.balance.compare_exchange_weak(
                cur,
                cur.wrapping_sub(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(BulkheadPermit { bulkhead: self }),
                Err(actual) => cur = actual,
            }
        }
        None
    }

    /// Counts a refusal (`Full` or `Timeout`) and hands it back.
    #[cold]
    pub(super) fn refused(&self, e: BulkheadError) -> BulkheadError {
        // Relaxed: a count for metrics; nothing is published through it.
        self.rejected.fetch_add(1, Ordering::Relaxed);
        e
    }

    /// Takes a slot, waiting up to the configured `timeout` for one.
    pub fn acquire(&self) -> Result<BulkheadPermit<'_, C>, BulkheadError> {
        match self.enqueue()? {
            Admission::Permit(p) => Ok(p),
            Admission::Queued(w) => w.wait(),
        }
    }

    /// Takes a slot, waiting up to `timeout` (instead of the configured one).
    pub fn acquire_timeout(
        &self,
        timeout: Duration,
    ) -> Result<BulkheadPermit<'_, C>, BulkheadError> {
        match self.enqueue_until(self.clock.now().saturating_add(nanos(timeout)))? {
            Admission::Permit(p) => Ok(p),
            Admission::Queued(w) => w.wait(),
        }
    }

    /// Takes a slot as a future: ready at once with a free slot (or `Full`),
    /// else when a release hands this call a slot. Dropping the future
    /// leaves the queue. The configured timeout is checked when the future
    /// is polled (and, on a clock moved by hand, every move polls it); on a
    /// real-time clock, nothing polls it at the deadline: wrap it in your
    /// runtime's timeout.
    pub async fn acquire_async(&self) -> Result<BulkheadPermit<'_, C>, BulkheadError> {
        match self.enqueue()? {
            Admission::Permit(p) => Ok(p),
            Admission::Queued(w) => w.await,
        }
    }

    /// Takes a free slot, or queues the caller as a waiter whose deadline is
    /// `timeout` from now, or refuses ([`BulkheadError::Full`]) when the
    /// queue is full. A [`Waiter`] counts in [`Bulkhead::queue_size`] until
    /// a slot is handed to it, it gives up or it is dropped; bindings use it
    /// to wait on a thread or task of their choosing and to cancel from
    /// another.
    pub fn enqueue(&self) -> Result<Admission<'_, C>, BulkheadError> {
        self.enqueue_until(self.clock.now().saturating_add(self.timeout))
    }

    fn enqueue_until(&self, deadline: u64) -> Result<Admission<'_, C>, BulkheadError> {
        // Relaxed: a guess for the swaps below.
        let mut cur = self.balance.load(Ordering::Relaxed);
        loop {
            let b = balance(cur);
            let queued = b <= 0;
            if queued && -b >= self.max_queue {
                return Err(self.refused(BulkheadError::Full));
            }
            // Acquire on success: when taking a slot, as in `try_acquire`;
            // when queueing, harmless (the hand-over orders the slot).
            // Relaxed on failure: a new guess.
            match self.balance.compare_exchange_weak(
                cur,
                cur.wrapping_sub(1),
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) if queued => {
                    let node = self.push(Self::node());
                    return Ok(Admission::Queued(Waiter::new(self, node, deadline)));
                }
                Ok(_) => return Ok(Admission::Permit(BulkheadPermit { bulkhead: self })),
                Err(actual) => cur = actual,
            }
        }
    }

    #[inline]
    fn release(&self) {
        // Release: pairs with the Acquire of whoever takes this slot next
        // (directly, or through the hand-over).
        let prev = self.balance.fetch_add(1, Ordering::Release);
        if balance(prev) < 0 {
            self.hand_over();
        }
    }

    /// Puts back a slot that was committed to a waiter that left (or was
    /// handed to one that passed it on): it goes on to the next waiter owed
    /// one (as a new unit for the line), or it is free.
    fn give_back(&self) {
        // AcqRel: Release as in `release`; Acquire: the slot's history
        // (the hand-over's order) continues from here.
        let prev = self.balance.fetch_add(1, Ordering::AcqRel);
        if balance(prev) < 0 {
            self.hand_over();
        }
    }

    /// Frees a slot whose permit was turned into a count with
    /// [`BulkheadPermit::detach`] (for bindings whose callers pair
    /// `acquire()` and `release()` by hand). Returns `false`, and changes
    /// nothing, when no slot is taken.
    pub fn release_detached(&self) -> bool {
        // Relaxed: a guess for the swap below.
        let mut cur = self.balance.load(Ordering::Relaxed);
        while balance(cur) < self.max {
            // Release on success: as in `release`.
            match self.balance.compare_exchange_weak(
                cur,
                cur.wrapping_add(1),
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if balance(cur) < 0 {
                        self.hand_over();
                    }
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// What a waiting thread sleeps on: the clock's own event count if it
    /// moves by hand (so that its moves wake it), else its node's.
    fn sleep_on<'n>(&'n self, node: &'n queue::Node) -> &'n EventCount {
        self.clock.moves().unwrap_or(&node.events)
    }

    /// Slots free now.
    pub fn available_permits(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        balance(self.balance.load(Ordering::Relaxed)).clamp(0, self.max) as u32
    }

    /// Calls waiting for a slot now (not counting those a slot is already
    /// on its way to).
    pub fn queue_size(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        let b = balance(self.balance.load(Ordering::Relaxed));
        (-b).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// A snapshot for metrics: slots in use, waiters, capacity and the
    /// refusals so far. Each figure is a value it really had; taken during
    /// traffic they may be from slightly different moments.
    pub fn metrics(&self) -> BulkheadMetrics {
        BulkheadMetrics {
            in_use: self.config.max_concurrent - self.available_permits(),
            queued: self.queue_size(),
            capacity: self.config.max_concurrent,
            // Relaxed: see `refused`.
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &BulkheadConfig {
        &self.config
    }

    /// The clock it reads.
    pub fn clock(&self) -> &C {
        &self.clock
    }
}

impl<C: Clock> fmt::Debug for Bulkhead<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bulkhead")
            .field("config", &self.config)
            .field("available", &self.available_permits())
            .field("queued", &self.queue_size())
            .finish_non_exhaustive()
    }
}

/// One slot of a [`Bulkhead`], freed when dropped (or handed to the
/// oldest waiter).
#[must_use = "dropping the permit frees the slot at once"]
pub struct BulkheadPermit<'a, C: Clock = QuantaClock> {
    bulkhead: &'a Bulkhead<C>,
}

impl<C: Clock> BulkheadPermit<'_, C> {
    /// Keeps the slot taken without a guard; free it later with
    /// [`Bulkhead::release_detached`].
    pub fn detach(self) {
        std::mem::forget(self);
    }
}

impl<C: Clock> Drop for BulkheadPermit<'_, C> {
    #[inline]
    fn drop(&mut self) {
        self.bulkhead.release();
    }
}

impl<C: Clock> fmt::Debug for BulkheadPermit<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BulkheadPermit")
    }
}
