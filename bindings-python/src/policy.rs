//! What a call's result counts as, and the Python callbacks run on
//! transitions.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use seawall::{Listener, Outcome, State, Transition};

use crate::cache;

/// How exceptions and return values are classified.
///
/// In order: cancellation and interpreter exits (`asyncio.CancelledError`,
/// `KeyboardInterrupt`, `SystemExit`, `GeneratorExit`) are neutral; so are
/// instances of `exclude`. Then an exception is a failure when it is an
/// instance of `track`, or its `status_code` attribute is in `codes`, or
/// `failure_predicate(exc)` is true. Anything else is neutral: it propagates
/// but neither counts as a failure nor resets the failure count.
pub(crate) struct Policy {
    pub(crate) track: Option<Py<PyTuple>>,
    /// Sorted, deduplicated.
    pub(crate) codes: Vec<i64>,
    pub(crate) exclude: Option<Py<PyTuple>>,
    pub(crate) failure_predicate: Option<Py<PyAny>>,
    /// Called with a returned value: true makes the call a failure (the value
    /// is still returned).
    pub(crate) result_predicate: Option<Py<PyAny>>,
}

impl Policy {
    /// The outcome of a call that raised `exc`.
    pub(crate) fn classify_exception(&self, exc: &Bound<'_, PyAny>) -> Outcome {
        let py = exc.py();
        let Ok(cached) = cache::get(py) else {
            return Outcome::Ignored;
        };
        let is = |classes: &Py<PyTuple>| exc.is_instance(classes.bind(py)).unwrap_or(false);
        if is(&cached.neutral) {
            return Outcome::Ignored;
        }
        if self.exclude.as_ref().is_some_and(is) {
            return Outcome::Ignored;
        }
        if self.track.as_ref().is_some_and(is) {
            return Outcome::Failure;
        }
        if !self.codes.is_empty() {
            if let Ok(Some(code)) = exc.getattr_opt(intern!(py, "status_code")) {
                if let Ok(code) = code.extract::<i64>() {
                    if self.codes.binary_search(&code).is_ok() {
                        return Outcome::Failure;
                    }
                }
            }
        }
        if let Some(p) = &self.failure_predicate {
            if predicate(py, p, exc, "failure_predicate") {
                return Outcome::Failure;
            }
        }
        Outcome::Ignored
    }

    /// The outcome of a call that returned `value`.
    #[inline]
    pub(crate) fn classify_result(&self, value: &Bound<'_, PyAny>) -> Outcome {
        match &self.result_predicate {
            None => Outcome::Success,
            Some(p) if predicate(value.py(), p, value, "result_predicate") => Outcome::Failure,
            Some(_) => Outcome::Success,
        }
    }
}

/// Calls a user predicate; an exception inside it is logged and counts as
/// `False`, so a broken predicate never replaces the call's own outcome.
fn predicate(py: Python<'_>, p: &Py<PyAny>, arg: &Bound<'_, PyAny>, what: &str) -> bool {
    match p.bind(py).call1((arg,)).and_then(|r| r.is_truthy()) {
        Ok(b) => b,
        Err(e) => {
            cache::log_exception(py, &format!("seawall: {what} raised; treated as False"), e);
            false
        }
    }
}

/// The configuration's `on_open` / `on_close` / `on_half_open`.
pub(crate) struct Callbacks {
    pub(crate) on_open: Option<Py<PyAny>>,
    pub(crate) on_close: Option<Py<PyAny>>,
    pub(crate) on_half_open: Option<Py<PyAny>>,
}

impl Callbacks {
    pub(crate) fn is_empty(&self) -> bool {
        self.on_open.is_none() && self.on_close.is_none() && self.on_half_open.is_none()
    }
}

impl Listener for Callbacks {
    fn on_transition(&self, breaker: &str, t: Transition) {
        let cb = match t.to {
            State::Open | State::ForcedOpen => &self.on_open,
            State::Closed | State::ForcedClosed => &self.on_close,
            State::HalfOpen => &self.on_half_open,
        };
        let Some(cb) = cb else { return };
        Python::attach(|py| {
            if let Err(e) = cb.bind(py).call0() {
                let msg = format!(
                    "seawall: callback of circuit breaker '{breaker}' raised on {} -> {}; ignored",
                    t.from, t.to
                );
                cache::log_exception(py, &msg, e);
            }
        });
    }
}

/// A listener added from Python: called as `listener(name, old, new)` with
/// `CircuitState` members.
pub(crate) struct PyListener(pub(crate) Py<PyAny>);

impl Listener for PyListener {
    fn on_transition(&self, breaker: &str, t: Transition) {
        Python::attach(|py| {
            let called = cache::get(py).and_then(|c| {
                self.0
                    .bind(py)
                    .call1((breaker, c.state(py, t.from), c.state(py, t.to)))
                    .map(drop)
            });
            if let Err(e) = called {
                let msg = format!(
                    "seawall: listener of circuit breaker '{breaker}' raised on {} -> {}; ignored",
                    t.from, t.to
                );
                cache::log_exception(py, &msg, e);
            }
        });
    }
}
