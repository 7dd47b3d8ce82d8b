//! The permits a breaker handle hands out (`Permit`, `DistributedPermit`):
//! one core, generic over the handle class that issued them.

use std::sync::atomic::{AtomicBool, Ordering};

use pyo3::exceptions::PyRuntimeError;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::pyclass::boolean_struct::True;
use pyo3::{PyClass, PyTraverseError};

use seawall::{Outcome, Report};

use super::{Engine, Handle};
use crate::policy::{check_interrupt, is_interrupt, take_interrupt, Policy};

/// A breaker handle class, as the permits it issues see it.
pub(crate) trait Issuer: PyClass<Frozen = True> + Sync {
    /// What the handle drives.
    type Engine: Engine;
    /// The engine a permit reports to (looked up at each report).
    fn engine(&self) -> &Self::Engine;
    /// The policy that classifies a permit's outcome, and the rejection.
    fn handle(&self) -> &Handle;
}

/// The state of a Python permit object: the handle that issued it, the
/// detached permit, and whether its one outcome has been reported. A permit
/// dropped unreported counts as ignored (and frees a trial slot).
pub(crate) struct PermitCore<H: Issuer> {
    /// The breaker handle (held, and shown to the garbage collector).
    owner: Py<H>,
    /// The detached permit's parts (`Engine::detach`), reported at most once.
    parts: <H::Engine as Engine>::Parts,
    /// Set by the one report (or the drop) that takes the parts.
    reported: AtomicBool,
}

impl<H: Issuer> PermitCore<H> {
    /// Takes a permit for one call from the handle `slf`, or raises its
    /// rejection. Never blocks.
    pub(crate) fn acquire(slf: &Bound<'_, H>) -> PyResult<Self> {
        let issuer = slf.get();
        match issuer.engine().try_acquire() {
            Ok(p) => {
                // A transition callback raised an interrupt: no permit is
                // handed out (this one is released as neutral).
                if let Some(e) = take_interrupt() {
                    p.record(Outcome::Ignored);
                    return Err(e);
                }
                Ok(PermitCore {
                    owner: slf.clone().unbind(),
                    parts: H::Engine::detach(p),
                    reported: AtomicBool::new(false),
                })
            }
            Err(r) => {
                check_interrupt()?;
                Err(issuer.handle().rejection(slf.py(), r))
            }
        }
    }

    fn take(&self) -> PyResult<<H::Engine as Engine>::Parts> {
        // Relaxed: the swap only elects the one report; the parts are
        // immutable and the engine orders the outcome itself. No lock: a
        // process may fork while another thread reports.
        if self.reported.swap(true, Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "this permit's outcome was already reported",
            ));
        }
        Ok(self.parts)
    }

    /// Reports `outcome`; raises an interrupt a transition callback raised
    /// meanwhile.
    pub(crate) fn finish(&self, outcome: Outcome) -> PyResult<()> {
        let parts = self.take()?;
        self.owner.get().engine().record_parts(parts, outcome);
        check_interrupt()
    }

    /// Reports the outcome `classify` decides; an interrupt raised while
    /// classifying releases the permit as neutral and propagates. Returns
    /// whether the call counted as a failure.
    fn finish_with(&self, classify: impl FnOnce(&Policy) -> PyResult<Outcome>) -> PyResult<bool> {
        let parts = self.take()?;
        let issuer = self.owner.get();
        match classify(&issuer.handle().policy) {
            Ok(outcome) => {
                issuer.engine().record_parts(parts, outcome);
                check_interrupt()?;
                Ok(outcome == Outcome::Failure)
            }
            Err(interrupt) => {
                issuer.engine().record_parts(parts, Outcome::Ignored);
                Err(interrupt)
            }
        }
    }

    /// Reports the outcome of a call that raised `exc`, classified by the
    /// handle's policy. An interrupt raised while classifying gets `exc` as
    /// its `__context__`.
    pub(crate) fn record_exception(&self, exc: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.finish_with(|p| p.classify_exception(exc))
            .inspect_err(|e| {
                let py = exc.py();
                if is_interrupt(py, e) && !e.value(py).is(exc) {
                    e.set_context(py, Some(PyErr::from_value(exc.clone())));
                }
            })
    }

    /// Reports the outcome of a call that returned `value`.
    pub(crate) fn record_result(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        self.finish_with(|p| p.classify_result(value))
    }

    /// Whether an outcome is still to be reported.
    pub(crate) fn pending(&self) -> bool {
        // Relaxed: see `take`.
        !self.reported.load(Ordering::Relaxed)
    }

    /// Visits the handle (`__traverse__`).
    pub(crate) fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)
    }
}

impl<H: Issuer> Drop for PermitCore<H> {
    fn drop(&mut self) {
        if !*self.reported.get_mut() {
            let engine = self.owner.get().engine();
            engine.record_parts(self.parts, Outcome::Ignored);
        }
    }
}
