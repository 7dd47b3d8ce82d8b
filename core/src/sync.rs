//! The one place every atomic, lock and spin hint of the core comes from.
//!
//! Under `cfg(seawall_loom)` the same names resolve to loom's instrumented
//! types, so the loom models in `loom-tests/` exercise the production code
//! paths unchanged.
//!
//! It also holds [`EventCount`], the one way the core puts a thread to
//! sleep. The core takes no lock (on Linux, none at all): a lock held by
//! another thread at the moment a process forks stays locked forever in the
//! child, so every breaker, bulkhead and listener list a child inherits must
//! work without one.

#[cfg(not(seawall_loom))]
pub(crate) use core::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32};
#[cfg(not(seawall_loom))]
pub(crate) use portable_atomic::AtomicU64;

#[cfg(seawall_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU32, AtomicU64};

pub(crate) use core::sync::atomic::Ordering;

mod asymmetric;
pub(crate) use asymmetric::Fence;

#[cfg(not(seawall_loom))]
pub(crate) use std::thread_local;

#[cfg(seawall_loom)]
pub(crate) use loom::cell::UnsafeCell;

/// `core::cell::UnsafeCell` with loom's access API (`with_mut`), so that
/// loom can check that the accesses made through it never race.
#[cfg(not(seawall_loom))]
#[derive(Debug, Default)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(seawall_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer to the value; the caller makes sure no
    /// other access overlaps.
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(seawall_loom)]
pub(crate) use loom::thread_local;

use std::fmt;
use std::task::Waker;
use std::time::Duration;

/// A count of notifications that threads sleep on until it moves: the
/// event count of a wait that is ended by an event, never by polling.
///
/// A waiter reads the count, then checks the condition it waits for, then
/// sleeps only while the count still has the value it read. A notifier
/// first makes the condition true, then bumps the count and wakes sleepers.
/// So a notification either comes before the waiter's read (and the check
/// sees its effect) or moves the count before the waiter sleeps (and the
/// sleep returns at once) or wakes the sleeping waiter: none is lost.
///
/// On Linux the sleep is a futex wait on the count itself: no lock is
/// held by anyone at any time, so a process that forks while other threads
/// wait or notify leaves its child nothing to deadlock on. Elsewhere (and
/// under loom, whose `Condvar::wait_timeout` never times out, so that a
/// lost wake-up shows up as a deadlock) it is a mutex and condition
/// variable held only around the check-and-sleep and the wake-up.
///
/// Clocks that move by hand ([`crate::ManualClock`]) notify one on every
/// move; see [`crate::Clock::moves`].
///
/// Tasks (as opposed to threads) wait on it by registering a
/// [`std::task::Waker`] (`EventCount::register_waker`): the next
/// notification wakes every waker registered before it, once.
pub struct EventCount {
    count: AtomicU32,
    /// Wakers to wake at the next notification: a stack that the
    /// notification takes whole.
    wakers: AtomicPtr<WakerEntry>,
    /// Threads in (or about to enter) a futex wait: a notification that
    /// finds none makes no system call.
    #[cfg(all(not(seawall_loom), target_os = "linux"))]
    sleepers: AtomicU32,
    #[cfg(any(seawall_loom, not(target_os = "linux")))]
    lock: Mutex<()>,
    #[cfg(any(seawall_loom, not(target_os = "linux")))]
    sleepers: Condvar,
}

#[cfg(not(seawall_loom))]
#[cfg(not(target_os = "linux"))]
use std::sync::{Condvar, Mutex};

#[cfg(seawall_loom)]
use loom::sync::{Condvar, Mutex};

impl EventCount {
    /// An event count no thread sleeps on yet.
    pub fn new() -> Self {
        Self {
            count: AtomicU32::new(0),
            wakers: AtomicPtr::new(std::ptr::null_mut()),
            #[cfg(all(not(seawall_loom), target_os = "linux"))]
            sleepers: AtomicU32::new(0),
            #[cfg(any(seawall_loom, not(target_os = "linux")))]
            lock: Mutex::new(()),
            #[cfg(any(seawall_loom, not(target_os = "linux")))]
            sleepers: Condvar::new(),
        }
    }

    /// The count now: read it before checking the condition waited for,
    /// and pass it to [`EventCount::wait`].
    pub(crate) fn epoch(&self) -> u32 {
        // Acquire: pairs with the Release increment in `bump`, so a waiter
        // that reads a notified count also sees what the notifier did
        // before notifying (a freed slot, a cancellation, a clock's time).
        self.count.load(Ordering::Acquire)
    }

    /// Moves the count and wakes every sleeper and every registered waker.
    /// Call it after making the awaited condition true.
    pub fn notify_all(&self) {
        self.bump();
        self.wake(true);
        self.wake_tasks();
    }

    /// Wakes `waker` at the next notification (or at once, if one comes
    /// while it registers). Register, then check the awaited condition: a
    /// notification after the check wakes the task, one before it is seen
    /// by the check. Each registration is woken once; a task registers again
    /// each time it goes back to waiting.
    pub(crate) fn register_waker(&self, waker: &Waker) {
        let entry = Box::into_raw(Box::new(WakerEntry {
            waker: waker.clone(),
            next: std::ptr::null_mut(),
        }));
        // Relaxed: a guess for the swap below.
        let mut head = self.wakers.load(Ordering::Relaxed);
        loop {
            // SAFETY: `entry` came from `Box::into_raw` above and is not
            // shared until the swap below succeeds.
            unsafe { (*entry).next = head };
            // AcqRel: both the push and the notifier's take are swaps of
            // this one pointer. If the take comes later, it takes this
            // entry; if earlier, this swap reads what the take wrote, so
            // the take (and the notifier's bump and moves before it, such
            // as a manual clock's new time) happen before the caller's
            // check. Relaxed on failure: a new guess.
            match self.wakers.compare_exchange_weak(
                head,
                entry,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => return,
                Err(actual) => head = actual,
            }
        }
    }

    /// Takes every registered waker and wakes it.
    fn wake_tasks(&self) {
        // AcqRel: see `register_waker`. Always a swap, even of an empty
        // list: a registration that follows must read it.
        let mut entry = self.wakers.swap(std::ptr::null_mut(), Ordering::AcqRel);
        while !entry.is_null() {
            // SAFETY: every entry was made by `Box::into_raw` in
            // `register_waker`, and the swap above gave this thread the
            // whole list: no one else reaches these entries.
            let e = unsafe { Box::from_raw(entry) };
            entry = e.next;
            e.waker.wake();
        }
    }

    /// Moves the count and wakes one sleeper (at least one, if any sleeps).
    /// For waiters that compete for one thing, each passing on a wake-up it
    /// cannot use.
    pub(crate) fn notify_one(&self) {
        self.bump();
        self.wake(false);
    }

    fn bump(&self) {
        // Release: pairs with the Acquire in `epoch` (see there). SeqCst:
        // on the futex path it also orders the bump before the load of
        // `sleepers` in `wake` (see there). Wrapping: only "moved or not"
        // matters, and the 2^32nd notification during one waiter's check
        // is not a concern.
        self.count.fetch_add(1, Ordering::SeqCst);
    }
}

#[cfg(all(not(seawall_loom), target_os = "linux"))]
impl EventCount {
    /// Sleeps while the count is `seen`, at most `timeout` (`None`: until
    /// notified). May return early (a signal, a stale wake-up): callers
    /// re-check their condition and call again.
    pub(crate) fn wait(&self, seen: u32, timeout: Option<Duration>) {
        let ts = timeout.map(|d| libc::timespec {
            tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
            // Below 10^9: fits every `c_long`.
            tv_nsec: d.subsec_nanos() as libc::c_long,
        });
        let ts = ts.as_ref().map_or(std::ptr::null(), std::ptr::from_ref);
        // SeqCst, with the SeqCst bump and load in `bump`/`wake`: either the
        // notifier's load sees this sleeper (and wakes it), or it read the
        // count before this increment in the single order of SeqCst
        // operations, so its bump comes before the fence below, and the
        // futex's own read of the count, after the fence, sees the moved
        // count and returns at once.
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        // SAFETY: FUTEX_WAIT reads the aligned `u32` behind `as_ptr` (alive
        // for the call: `self` is borrowed) and compares it with `seen`
        // atomically with going to sleep; `ts` is NULL or points to a
        // `timespec` that outlives the call. The result (woken, value
        // changed, timed out, interrupted) needs no handling: the caller
        // re-checks.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.count.as_ptr(),
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                seen,
                ts,
            );
        }
        // Relaxed: only counts; a stale count just costs a notifier one
        // needless system call.
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
    }

    fn wake(&self, all: bool) {
        // SeqCst: see `wait`. No sleeper: nothing to wake, no system call
        // (a manual clock notifies on every move).
        if self.sleepers.load(Ordering::SeqCst) == 0 {
            return;
        }
        let n: libc::c_int = if all { libc::c_int::MAX } else { 1 };
        // SAFETY: FUTEX_WAKE only uses the address as a key to find the
        // threads sleeping on it; the word is alive (borrowed).
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                self.count.as_ptr(),
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                n,
            );
        }
    }
}

#[cfg(any(seawall_loom, not(target_os = "linux")))]
impl EventCount {
    /// Sleeps while the count is `seen`, at most `timeout` (`None`: until
    /// notified). May return early: callers re-check and call again.
    pub(crate) fn wait(&self, seen: u32, timeout: Option<Duration>) {
        let guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Checked under the lock that `wake` takes after the count moved:
        // a notification either moved the count before this check or
        // wakes this sleep.
        if self.epoch() != seen {
            return;
        }
        match timeout {
            Some(t) => drop(self.sleepers.wait_timeout(guard, t)),
            None => drop(self.sleepers.wait(guard)),
        }
    }

    fn wake(&self, all: bool) {
        let _guard = self
            .lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if all {
            self.sleepers.notify_all();
        } else {
            self.sleepers.notify_one();
        }
    }
}

/// One registered waker (see [`EventCount::register_waker`]).
struct WakerEntry {
    waker: Waker,
    next: *mut WakerEntry,
}

impl Drop for EventCount {
    fn drop(&mut self) {
        // Acquire: pairs with the registration's swap; this is the last
        // access to the list.
        let mut entry = self.wakers.swap(std::ptr::null_mut(), Ordering::Acquire);
        while !entry.is_null() {
            // SAFETY: as in `wake_tasks`; nobody else holds the count.
            let e = unsafe { Box::from_raw(entry) };
            entry = e.next;
        }
    }
}

/// A value put on the heap the first time it is needed and kept until its
/// owner is dropped: a pointer that one compare-and-swap sets, once. For
/// parts that most instances never use (a breaker's transition counts, a
/// cleared counter's baseline), so that they cost a pointer until then. No
/// lock: threads racing to make the value each build one, one swap wins and
/// the others drop theirs.
pub(crate) struct OnceBox<T> {
    ptr: AtomicPtr<T>,
    /// Owns a `T` (for drop check and the auto traits' bounds).
    _owns: std::marker::PhantomData<Box<T>>,
}

impl<T> OnceBox<T> {
    /// Empty: nothing allocated.
    pub(crate) fn new() -> Self {
        Self {
            ptr: AtomicPtr::new(std::ptr::null_mut()),
            _owns: std::marker::PhantomData,
        }
    }

    /// The value, if it has been made.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the Release of the winning swap in
        // `get_or_init`, so the value is seen fully built.
        let p = self.ptr.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::into_raw` in
        // `get_or_init`, is never replaced, and is freed only by `drop`,
        // which cannot run while `self` is borrowed.
        unsafe { p.as_ref() }
    }

    /// The value, made with `make` if it is not there yet. If allocating
    /// fails, `handle_alloc_error` is called, as for every `Box`.
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> T) -> &T {
        match self.get() {
            Some(v) => v,
            None => self.init(make),
        }
    }

    #[cold]
    #[inline(never)]
    fn init(&self, make: impl FnOnce() -> T) -> &T {
        let fresh = Box::into_raw(Box::new(make()));
        // Release on success: publishes the built value (pairs with the
        // Acquire in `get`). Acquire on failure: the winner's value is read
        // instead, so it must be seen built.
        match self.ptr.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            // SAFETY: `fresh` is now owned by `self` (see `get`).
            Ok(_) => unsafe { &*fresh },
            Err(winner) => {
                // SAFETY: `fresh` came from `Box::into_raw` above and was
                // never shared; `winner` is owned by `self` (see `get`).
                unsafe {
                    drop(Box::from_raw(fresh));
                    &*winner
                }
            }
        }
    }
}

impl<T> Drop for OnceBox<T> {
    fn drop(&mut self) {
        // Acquire: as in `get`; this is the last access.
        let p = self.ptr.load(Ordering::Acquire);
        if !p.is_null() {
            // SAFETY: made by `Box::into_raw` in `init` and owned by `self`,
            // which nobody else can reach any more.
            drop(unsafe { Box::from_raw(p) });
        }
    }
}

impl Default for EventCount {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EventCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventCount").finish_non_exhaustive()
    }
}
