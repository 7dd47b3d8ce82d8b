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
//! One atomic word holds both counts: the calls in flight (low 32 bits) and
//! the registered waiters (high 32 bits). The fast path is one load and one
//! compare-and-swap to acquire and one `fetch_sub` to release. Only a
//! release that finds waiters registered goes on to wake one of them. No
//! path takes a lock (on Linux; see [`EventCount`]), so a process that forks
//! while its threads acquire, wait or release leaves a bulkhead its child
//! can use.
//!
//! A slot is never handed to a particular waiter: a release frees it, and a
//! woken waiter competes for it like any newcomer (so the queue is not
//! FIFO, and a waiter that loses goes back to sleep until its deadline).
//! That is what makes giving up safe: a waiter that times out, is cancelled
//! or is dropped just removes itself from the count, and cannot strand a
//! slot that was meant for it.
//!
//! Waiters sleep on an [`EventCount`] and no wake-up is lost: a waiter
//! reads the event count, then checks the word, then sleeps only while the
//! count has not moved; a release frees its slot, then moves the count and
//! wakes a sleeper. So the release either happens before the check (and the
//! check sees the free slot) or moves the count before the waiter sleeps
//! (and the sleep returns at once) or wakes it. A cancellation works the
//! same way with its flag.
//!
//! A deadline is on the bulkhead's clock. On a clock that follows real time
//! the sleep is timed to end at the deadline; on a clock that moves by hand
//! ([`Clock::moves`], as [`crate::ManualClock`]) waiters sleep on the
//! clock's own event count instead, which every move of the clock notifies,
//! so a waiter returns `Timeout` as soon as the clock passes its deadline,
//! and releases and cancellations wake every waiter on that clock.
//!
//! # Memory ordering
//!
//! Taking a slot is `Acquire` and freeing one `Release`, as in a semaphore:
//! whatever a call did under its permit happens before the next acquisition
//! of that slot. Registration and removal of waiters are `Relaxed` (the
//! event count's Release/Acquire orders the checks that matter); every
//! decision is a read-modify-write of the one word, so the counts never
//! drift.

use std::fmt;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{nanos, Clock, EventCount, QuantaClock};
use crate::config::{ConfigError, MAX_DURATION};
use crate::sync::{AtomicBool, AtomicU64, Ordering};

/// The largest `max_concurrent` and `max_queue_size`: any `u32` (calls in
/// flight and waiters each have 32 bits of the state word, and both are
/// checked against their limit before they grow).
pub const MAX_PERMITS: u32 = u32::MAX;

const INFLIGHT: u64 = 0xFFFF_FFFF;
const ONE_WAITER: u64 = 1 << 32;

fn inflight(state: u64) -> u64 {
    state & INFLIGHT
}

fn waiters(state: u64) -> u64 {
    state >> 32
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

/// A lock-free bulkhead: see the module documentation.
pub struct Bulkhead<C: Clock = QuantaClock> {
    /// `[waiters: 32 | in flight: 32]`.
    state: CachePadded<AtomicU64>,
    max: u64,
    max_queue: u64,
    timeout: u64,
    /// What waiters sleep on when the clock follows real time (see
    /// [`Bulkhead::events`]); touched only when the state word shows
    /// waiters.
    released: EventCount,
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
    /// Every slot was taken; the caller is registered as a waiter.
    Queued(Waiter<'a, C>),
}

impl<C: Clock> Bulkhead<C> {
    /// A bulkhead on the given clock (deadlines of waiters are read from it).
    pub fn with_clock(config: BulkheadConfig, clock: C) -> Result<Self, ConfigError> {
        config.validate()?;
        Ok(Self {
            state: CachePadded::new(AtomicU64::new(0)),
            max: u64::from(config.max_concurrent),
            max_queue: u64::from(config.max_queue_size),
            timeout: nanos(config.timeout),
            released: EventCount::new(),
            config,
            clock,
        })
    }

    /// Takes a slot if one is free, without waiting.
    #[inline]
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'_, C>, BulkheadError> {
        // Relaxed: a guess for the swap below, which decides.
        let mut cur = self.state.load(Ordering::Relaxed);
        while inflight(cur) < self.max {
            // Acquire on success: pairs with the Release of the `fetch_sub`
            // that freed this slot (see "Memory ordering"). Relaxed on
            // failure: the value only feeds the next attempt.
            match self.state.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Ok(BulkheadPermit { bulkhead: self }),
                Err(actual) => cur = actual,
            }
        }
        Err(BulkheadError::Full)
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

    /// Takes a free slot, or registers the caller as a waiter whose deadline
    /// is `timeout` from now, or refuses ([`BulkheadError::Full`]) when the
    /// queue is full. A [`Waiter`] counts in [`Bulkhead::queue_size`] until
    /// it gets a slot, gives up or is dropped; bindings use it to wait on a
    /// thread of their choosing and to cancel from another.
    pub fn enqueue(&self) -> Result<Admission<'_, C>, BulkheadError> {
        self.enqueue_until(self.clock.now().saturating_add(self.timeout))
    }

    fn enqueue_until(&self, deadline: u64) -> Result<Admission<'_, C>, BulkheadError> {
        // Relaxed: a guess for the swaps below.
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let (next, queued) = if inflight(cur) < self.max {
                (cur + 1, false)
            } else if waiters(cur) < self.max_queue {
                (cur + ONE_WAITER, true)
            } else {
                return Err(BulkheadError::Full);
            };
            // Acquire on success: when taking a slot, as in `try_acquire`;
            // when registering, harmless. Relaxed on failure: a new guess.
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) if queued => {
                    return Ok(Admission::Queued(Waiter {
                        bulkhead: self,
                        deadline,
                        registered: AtomicBool::new(true),
                        cancelled: AtomicBool::new(false),
                    }))
                }
                Ok(_) => return Ok(Admission::Permit(BulkheadPermit { bulkhead: self })),
                Err(actual) => cur = actual,
            }
        }
    }

    /// A registered waiter takes a free slot (and leaves the queue), if one
    /// is free.
    fn take_as_waiter(&self) -> bool {
        // Relaxed: a guess for the swap below.
        let mut cur = self.state.load(Ordering::Relaxed);
        while inflight(cur) < self.max {
            // Acquire on success: as in `try_acquire`.
            match self.state.compare_exchange_weak(
                cur,
                cur + 1 - ONE_WAITER,
                Ordering::Acquire,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// A registered waiter gives up: takes a slot if one is free at this
    /// instant (`true`), else leaves the queue. Decided by one swap, so no
    /// slot is freed "for" a waiter that has already left.
    fn take_or_leave(&self) -> bool {
        // Relaxed: a guess for the swap below.
        let mut cur = self.state.load(Ordering::Relaxed);
        loop {
            let take = inflight(cur) < self.max;
            let next = if take { cur + 1 } else { cur } - ONE_WAITER;
            // Acquire on success: a slot taken here pairs with its release
            // as in `try_acquire`.
            match self
                .state
                .compare_exchange_weak(cur, next, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => return take,
                Err(actual) => cur = actual,
            }
        }
    }

    /// A registered waiter leaves without a slot. If a slot is free and
    /// others still wait, passes on a wake-up this waiter may have absorbed.
    fn leave(&self) {
        // Relaxed: removing a waiter publishes nothing; the lock orders the
        // wake-up below.
        let prev = self.state.fetch_sub(ONE_WAITER, Ordering::Relaxed);
        let now = prev - ONE_WAITER;
        if inflight(now) < self.max && waiters(now) > 0 {
            self.notify_one();
        }
    }

    #[inline]
    fn release(&self) {
        // Release: pairs with the Acquire of whoever takes this slot next.
        let prev = self.state.fetch_sub(1, Ordering::Release);
        if waiters(prev) > 0 {
            self.notify_one();
        }
    }

    /// What this bulkhead's waiters sleep on: the clock's own event count
    /// if it moves by hand (so that its moves wake them), else the
    /// bulkhead's.
    fn events(&self) -> &EventCount {
        self.clock.moves().unwrap_or(&self.released)
    }

    /// Wakes a waiter, after a slot was freed: see "Design".
    #[cold]
    fn notify_one(&self) {
        match self.clock.moves() {
            // Shared with every wait on the clock: wake them all, so that
            // one of this bulkhead's waiters is among them.
            Some(moves) => moves.notify_all(),
            None => self.released.notify_one(),
        }
    }

    /// Frees a slot whose permit was turned into a count with
    /// [`BulkheadPermit::detach`] (for bindings whose callers pair
    /// `acquire()` and `release()` by hand). Returns `false`, and changes
    /// nothing, when no slot is taken.
    pub fn release_detached(&self) -> bool {
        // Relaxed: a guess for the swap below.
        let mut cur = self.state.load(Ordering::Relaxed);
        while inflight(cur) > 0 {
            // Release on success: as in `release`.
            match self.state.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::Release,
                Ordering::Relaxed,
            ) {
                Ok(_) => {
                    if waiters(cur) > 0 {
                        self.notify_one();
                    }
                    return true;
                }
                Err(actual) => cur = actual,
            }
        }
        false
    }

    /// Slots free now.
    pub fn available_permits(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        let cur = self.state.load(Ordering::Relaxed);
        self.max.saturating_sub(inflight(cur)) as u32
    }

    /// Calls waiting for a slot now.
    pub fn queue_size(&self) -> u32 {
        // Relaxed: a snapshot for reporting.
        waiters(self.state.load(Ordering::Relaxed)) as u32
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

/// One slot of a [`Bulkhead`], freed when dropped.
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

/// A call registered in a bulkhead's queue. [`Waiter::wait`] blocks (without
/// spinning) until it gets a slot, its deadline passes or it is cancelled;
/// [`Waiter::try_acquire`] polls. Dropped without a slot, it leaves the queue.
///
/// `wait` and `try_acquire` are meant for one thread at a time (the one
/// that owns the call); `cancel` may come from any thread.
pub struct Waiter<'a, C: Clock = QuantaClock> {
    bulkhead: &'a Bulkhead<C>,
    /// Clock nanoseconds after which the wait gives up.
    deadline: u64,
    /// Still counted in the queue.
    registered: AtomicBool,
    cancelled: AtomicBool,
}

impl<'a, C: Clock> Waiter<'a, C> {
    /// The deadline, in the bulkhead clock's nanoseconds.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Marks this waiter as leaving (once); false if it already left.
    fn unregister(&self) -> bool {
        // Relaxed: the flag is only this waiter's own record of whether it
        // still counts in the queue; the state word is what others read.
        self.registered.swap(false, Ordering::Relaxed)
    }

    /// Takes a slot if one is free now, leaving the queue. Never blocks.
    /// `Err(Full)` means "not yet": the waiter stays queued. After the
    /// deadline, a cancellation, or once this waiter has left the queue,
    /// returns `Timeout` or `Cancelled` instead (at the deadline a slot
    /// free at that instant is still taken).
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'a, C>, BulkheadError> {
        // Relaxed: see `unregister`.
        if !self.registered.load(Ordering::Relaxed) {
            return Err(self.gone());
        }
        if self.cancelled.load(Ordering::Relaxed) {
            self.give_up();
            return Err(BulkheadError::Cancelled);
        }
        if self.bulkhead.clock.now() >= self.deadline {
            return self.timed_out();
        }
        if self.bulkhead.take_as_waiter() {
            self.unregister();
            return Ok(BulkheadPermit {
                bulkhead: self.bulkhead,
            });
        }
        Err(BulkheadError::Full)
    }

    fn gone(&self) -> BulkheadError {
        // Relaxed: see `cancel`.
        if self.cancelled.load(Ordering::Relaxed) {
            BulkheadError::Cancelled
        } else {
            BulkheadError::Timeout
        }
    }

    /// The deadline passed: a slot free at this instant is still taken.
    fn timed_out(&self) -> Result<BulkheadPermit<'a, C>, BulkheadError> {
        if !self.unregister() {
            return Err(self.gone());
        }
        if self.bulkhead.take_or_leave() {
            return Ok(BulkheadPermit {
                bulkhead: self.bulkhead,
            });
        }
        Err(BulkheadError::Timeout)
    }

    fn give_up(&self) {
        if self.unregister() {
            self.bulkhead.leave();
        }
    }

    /// Blocks until a slot is free (and takes it), the deadline passes on
    /// the bulkhead's clock, or [`Waiter::cancel`] is called. Sleeps on an
    /// [`EventCount`], woken by the event that ends the wait: a release, a
    /// cancellation, the deadline (a timed sleep on a real-time clock, the
    /// clock's move past it on a clock moved by hand). No spinning, no
    /// polling.
    pub fn wait(&self) -> Result<BulkheadPermit<'a, C>, BulkheadError> {
        let b = self.bulkhead;
        let events = b.events();
        loop {
            // Read before every check below: a release, cancellation or
            // clock move after this read moves the count, and the sleep
            // returns at once (see "Design").
            let seen = events.epoch();
            // Relaxed: see `unregister`.
            if !self.registered.load(Ordering::Relaxed) {
                return Err(self.gone());
            }
            // Relaxed: `cancel` sets the flag before it notifies; the
            // event count's Release/Acquire makes it visible here whenever
            // `seen` includes that notification.
            if self.cancelled.load(Ordering::Relaxed) {
                self.give_up();
                return Err(BulkheadError::Cancelled);
            }
            if b.take_as_waiter() {
                self.unregister();
                return Ok(BulkheadPermit { bulkhead: b });
            }
            let now = b.clock.now();
            if now >= self.deadline {
                return self.timed_out();
            }
            // A clock moved by hand notifies `events` when it moves; one
            // that follows real time reaches the deadline by a timed sleep.
            let timeout = match b.clock.moves() {
                Some(_) => None,
                None => Some(Duration::from_nanos(self.deadline - now)),
            };
            events.wait(seen, timeout);
        }
    }

    /// Makes a [`Waiter::wait`] in progress (or the next one) return
    /// [`BulkheadError::Cancelled`]; the waiter leaves the queue. Callable
    /// from any thread.
    pub fn cancel(&self) {
        // Relaxed: published by the Release of the notification below (see
        // `wait`).
        self.cancelled.store(true, Ordering::Relaxed);
        // Every sleeper wakes; the others find nothing changed and sleep on.
        self.bulkhead.events().notify_all();
    }
}

impl<C: Clock> Drop for Waiter<'_, C> {
    fn drop(&mut self) {
        self.give_up();
    }
}

impl<C: Clock> fmt::Debug for Waiter<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(seawall_loom)))]
mod tests {
    use super::*;

    #[test]
    fn the_state_word_splits_into_two_counts() {
        let s = 3 * ONE_WAITER + 7;
        assert_eq!((inflight(s), waiters(s)), (7, 3));
        assert_eq!(inflight(s + 1 - ONE_WAITER), 8);
        assert_eq!(waiters(s + 1 - ONE_WAITER), 2);
    }
}
