//! A queued call: waits on a thread ([`Waiter::wait`]) or as a future, and
//! settles its place when it gives up.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use super::queue::{
    Node, CANCELLED, GRANTED, LEAVING, LEAVING_GRANTED, PASSED, REFUSED, TAKEN, WAITING,
};
use super::{balance, Bulkhead, BulkheadError, BulkheadPermit};
use crate::clock::{Clock, QuantaClock};
use crate::sync::{AtomicBool, Ordering};

/// A call queued in a bulkhead. A release hands it a slot when it reaches
/// the head of the queue; [`Waiter::wait`] blocks (without spinning) until
/// then, its deadline, or a cancellation; [`Waiter::try_acquire`] looks
/// without blocking; awaited as a [`Future`] it is woken by the hand-over
/// (see the module documentation for deadlines of futures). Dropped without
/// a slot, it leaves the queue; a slot handed to it and never taken goes on
/// to the next waiter.
///
/// Every method may be called from any thread; [`Waiter::cancel`] is meant
/// to be called from another thread than the one waiting.
pub struct Waiter<'a, C: Clock = QuantaClock> {
    bulkhead: &'a Bulkhead<C>,
    node: Arc<Node>,
    /// Clock nanoseconds after which the wait gives up.
    deadline: u64,
    cancelled: AtomicBool,
}

/// What a look at the waiter's node found.
enum Look<'a, C: Clock> {
    Done(Result<BulkheadPermit<'a, C>, BulkheadError>),
    /// Still waiting, at clock time `now`.
    Waiting(u64),
}

impl<'a, C: Clock> Waiter<'a, C> {
    pub(super) fn new(bulkhead: &'a Bulkhead<C>, node: Arc<Node>, deadline: u64) -> Self {
        Self {
            bulkhead,
            node,
            deadline,
            cancelled: AtomicBool::new(false),
        }
    }

    /// The deadline, in the bulkhead clock's nanoseconds.
    pub fn deadline(&self) -> u64 {
        self.deadline
    }

    /// Takes the slot handed to this waiter, if one was. Never blocks.
    /// `Err(Full)` means "not yet": the waiter stays queued. Past the
    /// deadline, after a cancellation, or once this waiter has left the
    /// queue (or taken its slot), returns `Timeout` or `Cancelled` instead
    /// (at the deadline a slot handed over by then is still taken).
    pub fn try_acquire(&self) -> Result<BulkheadPermit<'a, C>, BulkheadError> {
        match self.look() {
            Look::Done(r) => r,
            Look::Waiting(_) => Err(BulkheadError::Full),
        }
    }

    fn look(&self) -> Look<'a, C> {
        // Relaxed: `cancel` sets the flag before it leaves and wakes; a
        // stale read only delays this to the next look, which the wake-up
        // causes.
        if self.cancelled.load(Ordering::Relaxed) {
            drop(self.leave(false));
            return Look::Done(Err(BulkheadError::Cancelled));
        }
        // Relaxed: a guess; the swap in `take` decides (and a grant after
        // this read wakes the sleep that follows, or is taken at the
        // deadline).
        match self.node.state.load(Ordering::Relaxed) {
            WAITING => {}
            // Passed on by a concurrent `cancel` if `take` fails.
            GRANTED => return Look::Done(self.take().ok_or_else(|| self.gone())),
            _ => return Look::Done(Err(self.gone())),
        }
        let now = self.bulkhead.clock.now();
        if now >= self.deadline {
            return Look::Done(
                self.leave(true)
                    .ok_or_else(|| self.bulkhead.refused(BulkheadError::Timeout)),
            );
        }
        Look::Waiting(now)
    }

    /// Takes a slot handed to this waiter.
    fn take(&self) -> Option<BulkheadPermit<'a, C>> {
        // Acquire: pairs with the Release of the grant (see "Memory
        // ordering"). Relaxed on failure: not granted.
        self.node
            .state
            .compare_exchange(GRANTED, TAKEN, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| BulkheadPermit {
                bulkhead: self.bulkhead,
            })
    }

    fn gone(&self) -> BulkheadError {
        // Relaxed: see `look`.
        if self.cancelled.load(Ordering::Relaxed) {
            BulkheadError::Cancelled
        } else {
            BulkheadError::Timeout
        }
    }

    /// Leaves the queue (once; later calls do nothing), settling this
    /// waiter's place as the module documentation describes. A slot handed
    /// to it is taken when `take` (at the deadline), else passed on.
    fn leave(&self, take: bool) -> Option<BulkheadPermit<'a, C>> {
        let b = self.bulkhead;
        let state = &self.node.state;
        // Relaxed: a guess for the swaps below.
        let mut s = state.load(Ordering::Relaxed);
        loop {
            let next = match s {
                GRANTED if take => TAKEN,
                GRANTED => PASSED,
                WAITING => LEAVING,
                // Taken, or left already (or leaving in another thread).
                _ => return None,
            };
            // Acquire: a granted slot becomes this thread's (pairs with the
            // grant's Release); LEAVING claims the departure. Relaxed on
            // failure: a new state to judge.
            match state.compare_exchange(s, next, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) if next == LEAVING => break,
                Ok(_) => {
                    self.forget_waker();
                    // Passed on: dropping the permit releases the slot (to
                    // the next waiter, if one is owed a slot).
                    let permit = BulkheadPermit { bulkhead: b };
                    return take.then_some(permit);
                }
                Err(actual) => s = actual,
            }
        }
        self.forget_waker();
        // Out of the balance while waiters are owed nothing (this one no
        // longer waits); else a slot is on its way to every waiter, and
        // this one refuses its own when it comes.
        // Relaxed: a guess for the swap below.
        let mut cur = b.balance.load(Ordering::Relaxed);
        let removed = loop {
            if balance(cur) >= 0 {
                break false;
            }
            // Relaxed: the balance publishes nothing for a departure; the
            // node's state carries the rest. Relaxed on failure: a guess.
            match b.balance.compare_exchange_weak(
                cur,
                cur.wrapping_add(1),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break true,
                Err(actual) => cur = actual,
            }
        };
        let settled = if removed { CANCELLED } else { REFUSED };
        // AcqRel: Release pairs with the server's read of the final state;
        // Acquire (on failure) makes a slot granted meanwhile this thread's.
        match state.compare_exchange(LEAVING, settled, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => {
                if removed {
                    b.queue.count_dead();
                    b.clean();
                }
                None
            }
            Err(actual) => {
                debug_assert_eq!(actual, LEAVING_GRANTED);
                if removed {
                    // Counted out already: the slot is owed to the next
                    // waiter, as it would have been had this one left first.
                    state.store(PASSED, Ordering::Relaxed);
                    b.hand_over();
                    None
                } else if take {
                    // The slot committed to this waiter arrived: keep it.
                    state.store(TAKEN, Ordering::Relaxed);
                    Some(BulkheadPermit { bulkhead: b })
                } else {
                    state.store(PASSED, Ordering::Relaxed);
                    b.give_back();
                    None
                }
            }
        }
    }

    /// Drops the registered waker (a task that left is not woken, and its
    /// waker's references are released now).
    fn forget_waker(&self) {
        drop(self.node.waker.take());
    }

    /// Blocks until a slot is handed to this waiter (and takes it), the
    /// deadline passes on the bulkhead's clock, or [`Waiter::cancel`] is
    /// called. Sleeps on an [`EventCount`](crate::clock::EventCount), woken
    /// by the event that ends the wait: the hand-over, a cancellation, the
    /// deadline (a timed sleep on a real-time clock, the clock's move past
    /// it on a clock moved by hand). No spinning, no polling.
    pub fn wait(&self) -> Result<BulkheadPermit<'a, C>, BulkheadError> {
        let events = self.bulkhead.sleep_on(&self.node);
        loop {
            // Read before the look: a hand-over, cancellation or clock move
            // after this read moves the count, and the sleep returns at
            // once.
            let seen = events.epoch();
            let now = match self.look() {
                Look::Done(r) => return r,
                Look::Waiting(now) => now,
            };
            // A clock moved by hand notifies `events` when it moves; one
            // that follows real time reaches the deadline by a timed sleep.
            let timeout = match self.bulkhead.clock.moves() {
                Some(_) => None,
                None => Some(Duration::from_nanos(self.deadline - now)),
            };
            events.wait(seen, timeout);
        }
    }

    /// Wakes `waker` when this waiter's wait may have ended: a slot handed
    /// over, a cancellation, and on a clock moved by hand any move. Register,
    /// then look ([`Waiter::try_acquire`]): an event after the registration
    /// wakes the task, one before it is seen by the look. For bindings that
    /// drive the wait from their own event loop (the [`Future`]
    /// implementation does both steps in `poll`).
    pub fn register(&self, waker: &Waker) {
        self.node.waker.register(waker);
        if let Some(moves) = self.bulkhead.clock.moves() {
            moves.register_waker(waker);
        }
    }

    /// Makes a [`Waiter::wait`] in progress (or the next look) return
    /// [`BulkheadError::Cancelled`]; the waiter leaves the queue now, and a
    /// slot handed to it at the same moment goes on to the next waiter.
    /// Callable from any thread.
    pub fn cancel(&self) {
        // Relaxed: the departure below (a swap of the node's state) is what
        // other threads act on; the owner reads the flag after the wake-up.
        self.cancelled.store(true, Ordering::Relaxed);
        // Taken before leaving, which forgets it: the task must still learn
        // of the cancellation.
        let task = self.node.waker.take();
        drop(self.leave(false));
        if let Some(task) = task {
            task.wake();
        }
        self.bulkhead.wake(&self.node);
    }
}

impl<'a, C: Clock> Future for Waiter<'a, C> {
    type Output = Result<BulkheadPermit<'a, C>, BulkheadError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.register(cx.waker());
        match self.look() {
            Look::Done(r) => Poll::Ready(r),
            Look::Waiting(_) => Poll::Pending,
        }
    }
}

impl<C: Clock> Drop for Waiter<'_, C> {
    fn drop(&mut self) {
        drop(self.leave(false));
    }
}

impl<C: Clock> fmt::Debug for Waiter<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Waiter")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}
