//! Transition events and the listeners that receive them.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::sync::{thread_local, Mutex};
use crate::State;

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

/// The listeners of one breaker. Registration takes a lock; delivery takes it
/// only long enough to copy the list, then calls each listener unlocked, so a
/// listener may itself register listeners or drive the breaker.
///
/// A transition caused by a listener (say, one that forces the breaker open
/// on HALF_OPEN) is queued on its thread and delivered once the delivery in
/// progress has reached every listener, so each listener sees the
/// transitions a thread makes in the order it made them.
#[derive(Default)]
pub(crate) struct Listeners(Mutex<Vec<Arc<dyn Listener>>>);

type Delivery = (Vec<Arc<dyn Listener>>, Arc<str>, Transition);

thread_local! {
    /// `Some` while this thread is delivering: the deliveries queued behind.
    static QUEUE: RefCell<Option<VecDeque<Delivery>>> = RefCell::new(None);
}

fn deliver((list, breaker, t): Delivery) {
    for l in list {
        if catch_unwind(AssertUnwindSafe(|| l.on_transition(&breaker, t))).is_err() {
            log::error!(
                "seawall: a transition listener of breaker '{breaker}' panicked on {} -> {}; ignored",
                t.from,
                t.to
            );
        }
    }
}

impl Listeners {
    pub(crate) fn add(&self, l: Arc<dyn Listener>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(l);
    }

    pub(crate) fn notify(&self, breaker: &Arc<str>, t: Transition) {
        let list: Vec<_> = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
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
