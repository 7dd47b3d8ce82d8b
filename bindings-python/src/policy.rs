//! What a call's result counts as, and the Python callbacks run on
//! transitions.

use std::cell::RefCell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use pyo3::PyTraverseError;

use seawall::{Listener, Outcome, State, Transition};

use crate::registered;

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
    /// The outcome of a call that raised `exc`; an error only when user code
    /// run to classify it (`failure_predicate`, an `__instancecheck__`, a
    /// `status_code` property) raised `KeyboardInterrupt` / `SystemExit`.
    pub(crate) fn classify_exception(&self, exc: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        let py = exc.py();
        let Ok(cached) = registered::get(py) else {
            return Ok(Outcome::Ignored);
        };
        // User code can run here too (a metaclass's `__instancecheck__`, a
        // `status_code` property): its ordinary exceptions count as "no",
        // its interrupts propagate.
        let is = |classes: &Py<PyTuple>| -> PyResult<bool> {
            not_interrupted(py, exc.is_instance(classes.bind(py)), false)
        };
        if is(&cached.neutral)? {
            return Ok(Outcome::Ignored);
        }
        if let Some(c) = &self.exclude {
            if is(c)? {
                return Ok(Outcome::Ignored);
            }
        }
        if let Some(c) = &self.track {
            if is(c)? {
                return Ok(Outcome::Failure);
            }
        }
        if !self.codes.is_empty() {
            let code = not_interrupted(py, exc.getattr_opt(intern!(py, "status_code")), None)?;
            if let Some(code) = code {
                if let Ok(code) = code.extract::<i64>() {
                    if self.codes.binary_search(&code).is_ok() {
                        return Ok(Outcome::Failure);
                    }
                }
            }
        }
        if let Some(p) = &self.failure_predicate {
            if predicate(py, p, exc, "failure_predicate")? {
                return Ok(Outcome::Failure);
            }
        }
        Ok(Outcome::Ignored)
    }

    /// The outcome of a call that returned `value`; an error only when
    /// `result_predicate` raised `KeyboardInterrupt` / `SystemExit`.
    #[inline]
    pub(crate) fn classify_result(&self, value: &Bound<'_, PyAny>) -> PyResult<Outcome> {
        match &self.result_predicate {
            None => Ok(Outcome::Success),
            Some(p) => Ok(if predicate(value.py(), p, value, "result_predicate")? {
                Outcome::Failure
            } else {
                Outcome::Success
            }),
        }
    }

    /// Visits the Python objects held (for the owner's `__traverse__`).
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.track)?;
        visit.call(&self.exclude)?;
        visit.call(&self.failure_predicate)?;
        visit.call(&self.result_predicate)
    }
}

/// Calls a user predicate; an ordinary exception inside it is logged and
/// counts as `False`, so a broken predicate never replaces the call's own
/// outcome. `KeyboardInterrupt` and `SystemExit` are returned: the caller
/// releases its permit as neutral and raises them.
fn predicate(py: Python<'_>, p: &Py<PyAny>, arg: &Bound<'_, PyAny>, what: &str) -> PyResult<bool> {
    match p.bind(py).call1((arg,)).and_then(|r| r.is_truthy()) {
        Ok(b) => Ok(b),
        Err(e) if is_interrupt(py, &e) => Err(e),
        Err(e) => {
            registered::log_exception(py, &format!("seawall: {what} raised; treated as False"), e);
            Ok(false)
        }
    }
}

/// `r`'s value; `otherwise` for an ordinary exception, which is dropped;
/// an interrupt is returned.
fn not_interrupted<T>(py: Python<'_>, r: PyResult<T>, otherwise: T) -> PyResult<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if is_interrupt(py, &e) => Err(e),
        Err(_) => Ok(otherwise),
    }
}

/// Whether `e` is one of the exceptions that must never be swallowed:
/// `KeyboardInterrupt` or `SystemExit`.
pub(crate) fn is_interrupt(py: Python<'_>, e: &PyErr) -> bool {
    e.is_instance_of::<PyKeyboardInterrupt>(py) || e.is_instance_of::<PySystemExit>(py)
}

/// Interrupts raised by transition callbacks, which run inside the core
/// (on the thread that made the transition) where they cannot be returned.
/// They are parked here, per thread, and raised by the binding when the core
/// call that made the transition returns ([`take_interrupt`]).
///
/// `PARKED` counts the interrupts parked on all threads, so the check after
/// every core call is one load of a read-mostly word, not a thread-local
/// access.
static PARKED: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static INTERRUPT: RefCell<Option<PyErr>> = const { RefCell::new(None) };
}

/// Parks `e` (an interrupt raised by a callback) for [`take_interrupt`]; the
/// first one parked on a thread wins.
pub(crate) fn park_interrupt(e: PyErr) {
    INTERRUPT.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(e);
            // Relaxed: the parked value is read back by this same thread
            // only; other threads use the count as a hint to look.
            PARKED.fetch_add(1, Ordering::Relaxed);
        }
    });
}

/// The interrupt a callback raised during the core call just made on this
/// thread, if any.
#[inline]
pub(crate) fn take_interrupt() -> Option<PyErr> {
    // Relaxed: see `park_interrupt`; a park made by this thread is visible
    // to it in program order.
    if PARKED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    take_parked()
}

#[cold]
fn take_parked() -> Option<PyErr> {
    let e = INTERRUPT.with(|slot| slot.borrow_mut().take());
    if e.is_some() {
        PARKED.fetch_sub(1, Ordering::Relaxed);
    }
    e
}

/// `Ok(())`, or the parked interrupt as an error.
#[inline]
pub(crate) fn check_interrupt() -> PyResult<()> {
    match take_interrupt() {
        None => Ok(()),
        Some(e) => Err(e),
    }
}

/// Runs a transition callback: an interrupt is parked for the caller, any
/// other exception logged.
fn run_callback(py: Python<'_>, called: PyResult<()>, what: &str, breaker: &str, t: Transition) {
    match called {
        Ok(()) => {}
        Err(e) if is_interrupt(py, &e) => park_interrupt(e),
        Err(e) => {
            let msg = format!(
                "seawall: {what} of circuit breaker '{breaker}' raised on {} -> {}; ignored",
                t.from, t.to
            );
            registered::log_exception(py, &msg, e);
        }
    }
}

/// The configuration's `on_open` / `on_close` / `on_half_open`.
pub(crate) struct Callbacks {
    pub(crate) on_open: Option<Py<PyAny>>,
    pub(crate) on_close: Option<Py<PyAny>>,
    pub(crate) on_half_open: Option<Py<PyAny>>,
}

/// The Python code a breaker handle runs on transitions: its
/// configuration's callbacks and the listeners added through it.
///
/// The core breaker holds these through one [`HookListener`], but the
/// Python objects belong to the handle (`Breaker`) that created them:
/// it shows them to the garbage collector (`__traverse__`) and drops them
/// when it is cleared or freed, which breaks cycles such as a callback that
/// refers back to its breaker. Only transitions read them (under the mutex,
/// which is never held while Python code runs).
#[derive(Default)]
pub(crate) struct Hooks(Mutex<HookList>);

#[derive(Default)]
struct HookList {
    on_open: Option<Py<PyAny>>,
    on_close: Option<Py<PyAny>>,
    on_half_open: Option<Py<PyAny>>,
    listeners: Vec<Py<PyAny>>,
}

impl Hooks {
    pub(crate) fn new(callbacks: Option<Callbacks>) -> Self {
        let mut h = HookList::default();
        if let Some(c) = callbacks {
            h.on_open = c.on_open;
            h.on_close = c.on_close;
            h.on_half_open = c.on_half_open;
        }
        Hooks(Mutex::new(h))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HookList> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add_listener(&self, listener: Py<PyAny>) {
        self.lock().listeners.push(listener);
    }

    /// Visits every Python object held (for `__traverse__`). Never blocks:
    /// the collector may run while another thread holds the lock (to copy
    /// the list); then what it holds is not visited this time, which at
    /// worst delays the collection of a cycle.
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        let Ok(h) = self.0.try_lock() else {
            return Ok(());
        };
        visit.call(&h.on_open)?;
        visit.call(&h.on_close)?;
        visit.call(&h.on_half_open)?;
        for l in &h.listeners {
            visit.call(l)?;
        }
        Ok(())
    }

    /// Drops every Python object held (for `__clear__` and when the handle
    /// is freed); later transitions call nothing.
    pub(crate) fn clear(&self) {
        let taken = std::mem::take(&mut *self.lock());
        drop(taken);
    }
}

/// Reports every transition of one core breaker to the public package
/// (`seawall._events.transition`: the `seawall` logger and the attached
/// `ResilienceMetrics`). Added once per core breaker, by the handle that
/// created it (handles sharing a registry's breaker do not add another), so
/// each transition is reported once. Runs only on transitions.
pub(crate) struct Reporter;

impl Listener for Reporter {
    fn on_transition(&self, breaker: &str, t: Transition) {
        Python::attach(|py| {
            let c = match registered::get(py) {
                Ok(c) => c,
                Err(e) => {
                    return registered::log_exception(py, "seawall: transition not logged", e)
                }
            };
            let retry_after = t.retry_after.map(|d| d.as_secs_f64());
            let args = (
                breaker,
                c.state(py, t.from),
                c.state(py, t.to),
                t.failures,
                retry_after,
            );
            let called = c.on_transition.bind(py).call1(args).map(drop);
            run_callback(py, called, "transition report", breaker, t);
        });
    }
}

/// The core-side listener of one breaker handle: delivers transitions to
/// its [`Hooks`].
pub(crate) struct HookListener(pub(crate) Arc<Hooks>);

impl Listener for HookListener {
    fn on_transition(&self, breaker: &str, t: Transition) {
        Python::attach(|py| {
            // Copied out under the lock; called with it released, so a
            // callback may add listeners or drive the breaker.
            let (cb, listeners) = {
                let h = self.0.lock();
                let cb = match t.to {
                    State::Open | State::ForcedOpen => &h.on_open,
                    State::Closed | State::ForcedClosed => &h.on_close,
                    State::HalfOpen => &h.on_half_open,
                };
                let cb = cb.as_ref().map(|c| c.clone_ref(py));
                let listeners: Vec<Py<PyAny>> =
                    h.listeners.iter().map(|l| l.clone_ref(py)).collect();
                (cb, listeners)
            };
            if let Some(cb) = cb {
                run_callback(py, cb.bind(py).call0().map(drop), "callback", breaker, t);
            }
            if listeners.is_empty() {
                return;
            }
            let c = match registered::get(py) {
                Ok(c) => c,
                Err(e) => return registered::log_exception(py, "seawall: listener not called", e),
            };
            let (from, to) = (c.state(py, t.from), c.state(py, t.to));
            for l in listeners {
                let called = l.bind(py).call1((breaker, &from, &to)).map(drop);
                run_callback(py, called, "listener", breaker, t);
            }
        });
    }
}
