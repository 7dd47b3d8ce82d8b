//! Transition events and the listeners that receive them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use super::state::State;
use crate::sync::{thread_local, AtomicPtr, Ordering};

/// One change of state, delivered once to every listener by the thread whose
/// compare-and-swap made it, after the swap and outside any lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The breaker clock's reading when the transition was made, in
    /// nanoseconds.
    pub at_nanos: u64,
    /// For a trip (CLOSED -> OPEN): the failures that tripped it, the last
    /// one included: the failures in the window when the configuration has
    /// one, else the consecutive failures. 0 for every other transition.
    pub failures: u64,
    /// For an entry into OPEN: how long it stays open before a trial call is
    /// admitted. `None` for every other transition.
    pub retry_after: Option<Duration>,
}

impl Transition {
    /// The `log` level a transition is recorded at: WARN on entering OPEN or
    /// FORCED_OPEN (calls are being rejected), INFO otherwise.
    pub fn level(&self) -> log::Level {
        match self.to {
            State::Open | State::ForcedOpen => log::Level::Warn,
            _ => log::Level::Info,
        }
    }
}

/// Records `t` on the `log` target `seawall` (and, with the `tracing`
/// feature, as a `tracing` event on the same target), with the fields
/// `name`, `from`, `to`, `failures` and `retry_after` (seconds, on entering
/// OPEN). Called once per transition by the thread that made it, before
/// the listeners.
#[cold]
pub(crate) fn record(breaker: &str, t: &Transition) {
    let retry_after = t.retry_after.map(|d| d.as_secs_f64());
    let (from, to) = (t.from.as_str(), t.to.as_str());
    log::log!(
        target: "seawall",
        t.level(),
        name = breaker,
        from = from,
        to = to,
        failures = t.failures,
        retry_after = retry_after;
        "circuit breaker '{breaker}' {from} -> {to}"
    );
    #[cfg(feature = "tracing")]
    {
        macro_rules! event {
            ($level:expr) => {
                tracing::event!(
                    target: "seawall",
                    $level,
                    name = breaker,
                    from = from,
                    to = to,
                    failures = t.failures,
                    retry_after = retry_after,
                    "circuit breaker '{breaker}' {from} -> {to}"
                )
            };
        }
        match t.level() {
            log::Level::Warn => event!(tracing::Level::WARN),
            _ => event!(tracing::Level::INFO),
        }
    }
}

/// Receives transitions. A panic inside `on_transition` is caught and logged;
/// the breaker and the thread that made the transition carry on.
pub trait Listener: Send + Sync {
    /// Called once per transition of the breaker named `breaker`.
    fn on_transition(&self, breaker: &str, transition: Transition);
}

impl<F: Fn(&str, Transition) + Send + Sync> Listener for F {
    fn on_transition(&self, breaker: &str, transition: Transition) {
        self(breaker, transition)
    }
}

/// The listeners of one breaker, in the order they were added: an
/// append-only linked list. Registration links a new node after the last
/// one with a compare-and-swap; delivery walks the list and copies it, then
/// calls each listener, so a listener may itself register listeners or
/// drive the breaker. Nodes are freed only with the list (listeners are
/// never removed), so a walker can never meet a freed node. No lock: a
/// process that forks while other threads register or deliver leaves its
/// child a list it can use.
///
/// A transition caused by a listener (say, one that forces the breaker open
/// on HALF_OPEN) is queued on its thread and delivered once the delivery in
/// progress has reached every listener, so each listener sees the
/// transitions a thread makes in the order it made them.
pub(crate) struct Listeners {
    head: AtomicPtr<Node>,
}

struct Node {
    listener: Arc<dyn Listener>,
    /// The next node, null at the end; set once, by the CAS in `add`.
    next: AtomicPtr<Node>,
}

type Delivery = (Vec<Arc<dyn Listener>>, Arc<str>, Transition);

thread_local! {
    /// `Some` while this thread is delivering: the deliveries queued behind.
    static QUEUE: RefCell<Option<VecDeque<Delivery>>> = RefCell::new(None);
}

fn deliver((list, breaker, t): Delivery) {
    for l in list {
        if catch_unwind(AssertUnwindSafe(|| l.on_transition(&breaker, t))).is_err() {
            log::error!(
                target: "seawall",
                name = &*breaker,
                from = t.from.as_str(),
                to = t.to.as_str();
                "seawall: a transition listener of breaker '{breaker}' panicked on {} -> {}; ignored",
                t.from,
                t.to
            );
        }
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Self {
            head: AtomicPtr::new(ptr::null_mut()),
        }
    }
}

impl Listeners {
    pub(crate) fn add(&self, listener: Arc<dyn Listener>) {
        let node = Box::into_raw(Box::new(Node {
            listener,
            next: AtomicPtr::new(ptr::null_mut()),
        }));
        let mut link = &self.head;
        loop {
            // Release on success: publishes the node's fields to the walkers
            // whose Acquire loads (in `snapshot`, or a failed CAS here) read
            // the link. Acquire on failure: pairs with the Release of the
            // CAS that linked the node found, before its `next` is read.
            match link.compare_exchange(ptr::null_mut(), node, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return,
                // SAFETY: a non-null link points to a node linked by this
                // list, freed only when the list is dropped (not while
                // `&self` is borrowed); Acquire made its fields visible.
                Err(next) => link = unsafe { &(*next).next },
            }
        }
    }

    /// The listeners added so far, in order.
    fn snapshot(&self) -> Vec<Arc<dyn Listener>> {
        let mut list = Vec::new();
        // Acquire: pairs with the Release of the CAS that linked each node.
        let mut p = self.head.load(Ordering::Acquire);
        // SAFETY: as in `add`: a linked node lives as long as the list.
        while let Some(node) = unsafe { p.as_ref() } {
            list.push(Arc::clone(&node.listener));
            // Acquire: as above.
            p = node.next.load(Ordering::Acquire);
        }
        list
    }

    pub(crate) fn notify(&self, breaker: &Arc<str>, t: Transition) {
        let list = self.snapshot();
        if list.is_empty() {
            return;
        }
        let mut next = Some((list, Arc::clone(breaker), t));
        let queued = QUEUE.with(|q| match &mut *q.borrow_mut() {
            Some(queue) => {
                queue.extend(next.take());
                true
            }
            slot @ None => {
                *slot = Some(VecDeque::new());
                false
            }
        });
        if queued {
            return;
        }
        while let Some(d) = next {
            deliver(d);
            next = QUEUE.with(|q| {
                let mut q = q.borrow_mut();
                let d = q.as_mut().and_then(VecDeque::pop_front);
                if d.is_none() {
                    *q = None;
                }
                d
            });
        }
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        // Relaxed: `&mut self`: no other thread can reach the list, and
        // whatever gave this thread exclusive access ordered every `add`
        // before it.
        let mut p = self.head.load(Ordering::Relaxed);
        while !p.is_null() {
            // SAFETY: every node was made by `Box::into_raw` in `add` and is
            // linked exactly once; nothing else frees it.
            let node = unsafe { Box::from_raw(p) };
            // Relaxed: as above.
            p = node.next.load(Ordering::Relaxed);
        }
    }
}
