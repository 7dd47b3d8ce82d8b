//! Transition events and the listeners that receive them.

use std::panic::{catch_unwind, AssertUnwindSafe};

use std::sync::Arc;

use crate::sync::Mutex;
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
#[derive(Default)]
pub(crate) struct Listeners(Mutex<Vec<Arc<dyn Listener>>>);

impl Listeners {
    pub(crate) fn add(&self, l: Arc<dyn Listener>) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(l);
    }

    pub(crate) fn notify(&self, breaker: &str, t: Transition) {
        let list: Vec<_> = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for l in list {
            if catch_unwind(AssertUnwindSafe(|| l.on_transition(breaker, t))).is_err() {
                log::error!(
                    "seawall: a transition listener of breaker '{breaker}' panicked on {:?} -> {:?}; ignored",
                    t.from,
                    t.to
                );
            }
        }
    }
}
