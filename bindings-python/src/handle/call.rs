//! The synchronous protected call of every breaker handle, generic over the
//! engine (and so over the permit it hands out).

use pyo3::prelude::*;

use seawall::{Outcome, Report};

use super::{Engine, Handle};
use crate::policy::{check_interrupt, take_interrupt};

/// Runs `f` under a permit of `engine` (or not, if the breaker refused it)
/// and reports what the handle's policy makes of its result or exception.
/// A refused call raises the handle's rejection, or returns `fallback()`;
/// a call that fails returns `fallback()` too, if given.
///
/// Inlined into each handle's call: the permit type is known there and its
/// report compiles to the engine's own. The permit is only a generation
/// stamp: dropping it (a panic) records the call as ignored. No lock is held
/// while `f` runs.
#[inline]
pub(crate) fn protected_call<'py, E: Engine>(
    py: Python<'py>,
    handle: &Handle,
    engine: &E,
    fallback: Option<&Bound<'py, PyAny>>,
    f: impl FnOnce() -> PyResult<Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let permit = match engine.try_acquire() {
        Ok(p) => p,
        Err(r) => {
            check_interrupt()?;
            return match fallback {
                Some(fb) => fb.call0(),
                None => Err(handle.rejection(py, r)),
            };
        }
    };
    // A callback interrupted by `KeyboardInterrupt` / `SystemExit` while
    // the permit was granted (on HALF_OPEN): the call is not made and the
    // permit is released as neutral.
    if let Some(e) = take_interrupt() {
        permit.record(Outcome::Ignored);
        return Err(e);
    }
    match f() {
        Ok(v) => match handle.policy.classify_result(&v) {
            Ok(outcome) => {
                permit.record(outcome);
                check_interrupt()?;
                Ok(v)
            }
            Err(interrupt) => {
                permit.record(Outcome::Ignored);
                Err(interrupt)
            }
        },
        Err(e) => {
            let outcome = match handle.policy.classify_exception(e.value(py)) {
                Ok(o) => o,
                Err(interrupt) => {
                    permit.record(Outcome::Ignored);
                    interrupt.set_context(py, Some(e));
                    return Err(interrupt);
                }
            };
            permit.record(outcome);
            if let Some(interrupt) = take_interrupt() {
                interrupt.set_context(py, Some(e));
                return Err(interrupt);
            }
            match fallback {
                Some(fb) if outcome == Outcome::Failure => call_fallback(py, fb, e),
                _ => Err(e),
            }
        }
    }
}

/// Calls the fallback after a failure; if the fallback raises too, the
/// original exception becomes its `__context__`, as Python would chain it.
pub(crate) fn call_fallback<'py>(
    py: Python<'py>,
    fb: &Bound<'py, PyAny>,
    original: PyErr,
) -> PyResult<Bound<'py, PyAny>> {
    fb.call0()
        .inspect_err(|e| e.set_context(py, Some(original)))
}
