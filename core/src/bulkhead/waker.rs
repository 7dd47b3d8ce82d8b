//! The one task waker a queued call may have registered: set by the
//! waiter's owner, taken by whoever wakes it.

use std::task::Waker;

use crate::sync::{AtomicU32, Ordering, UnsafeCell};

/// No one is registering or waking: the cell may be read or written by
/// whoever moves the state away from it.
const IDLE: u32 = 0;
/// The owner is storing a waker into the cell.
const REGISTERING: u32 = 1;
/// Someone is taking the waker out (or asked to, while it was being
/// registered).
const WAKING: u32 = 2;

/// A slot for one [`Waker`]: `register` stores (replaces) it, `take` takes
/// it out to be woken. A `take` that comes while a registration is under
/// way is not lost: the registration sees it and wakes the waker it just
/// stored. Access to the cell is exclusive to whoever moved the state
/// from `IDLE`, so neither side ever waits for the other.
pub(super) struct AtomicWaker {
    state: AtomicU32,
    waker: UnsafeCell<Option<Waker>>,
}

// SAFETY: the cell is touched only by the thread that moved the state from
// IDLE (see the type's documentation); `Waker` is `Send + Sync`.
unsafe impl Sync for AtomicWaker {}
// SAFETY: as above.
unsafe impl Send for AtomicWaker {}

impl AtomicWaker {
    pub(super) fn new() -> Self {
        Self {
            state: AtomicU32::new(IDLE),
            waker: UnsafeCell::new(None),
        }
    }

    /// Stores `waker` (for one owner at a time; a registration racing
    /// another registration keeps one of the two).
    pub(super) fn register(&self, waker: &Waker) {
        // Acquire: pairs with the Release that last returned the state to
        // IDLE, so the cell's previous contents are visible here.
        match self
            .state
            .compare_exchange(IDLE, REGISTERING, Ordering::Acquire, Ordering::Acquire)
        {
            Ok(_) => {
                self.waker.with_mut(|cell| {
                    // SAFETY: the state is REGISTERING, set by this thread:
                    // no other thread touches the cell until it goes back
                    // to IDLE.
                    let cell = unsafe { &mut *cell };
                    if !cell.as_ref().is_some_and(|w| w.will_wake(waker)) {
                        *cell = Some(waker.clone());
                    }
                });
                // AcqRel: Release publishes the cell to the next taker;
                // Acquire (on failure) orders the take below after the
                // waker's flag. Failure means a `take` came meanwhile and
                // left the waker to this thread.
                if self
                    .state
                    .compare_exchange(REGISTERING, IDLE, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // SAFETY: still exclusive: the taker saw REGISTERING and
                    // left the cell alone.
                    let w = self.waker.with_mut(|cell| unsafe { (*cell).take() });
                    // Release: as above.
                    self.state.store(IDLE, Ordering::Release);
                    if let Some(w) = w {
                        w.wake();
                    }
                }
            }
            // A take is under way: it may have missed this waker, so wake it
            // now (the task looks again and registers again).
            Err(WAKING) => waker.wake_by_ref(),
            // Another registration is under way: it stores its waker.
            Err(_) => {}
        }
    }

    /// Takes the registered waker, if any (a registration under way wakes
    /// its own instead).
    pub(super) fn take(&self) -> Option<Waker> {
        // AcqRel: Acquire pairs with the Release of the registration, so
        // the waker stored is visible; Release orders what the caller did
        // before (the grant it wakes for) before a registration that sees
        // WAKING.
        match self.state.fetch_or(WAKING, Ordering::AcqRel) {
            IDLE => {
                // SAFETY: this thread moved the state from IDLE: the cell is
                // its own until the state is cleared below.
                let w = self.waker.with_mut(|cell| unsafe { (*cell).take() });
                // Release: publishes the emptied cell to the next registrant.
                self.state.fetch_and(!WAKING, Ordering::Release);
                w
            }
            _ => None,
        }
    }

    /// Wakes the registered waker, if any.
    pub(super) fn wake(&self) {
        if let Some(w) = self.take() {
            w.wake();
        }
    }
}
