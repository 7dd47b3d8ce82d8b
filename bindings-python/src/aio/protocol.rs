//! The await protocol as `AsyncCall` drives it: sending into or throwing
//! into the awaited iterator, and the values that pass between.

use pyo3::exceptions::{PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};

/// What one step of the awaited iterator did.
pub(super) enum Step<'py> {
    Yielded(Bound<'py, PyAny>),
    Returned(Bound<'py, PyAny>),
    Raised(PyErr),
}

/// What the awaiting code sends in.
pub(super) enum Input<'py> {
    Send(Bound<'py, PyAny>),
    Throw(Bound<'py, PyAny>),
}

/// The end of an awaitable: `StopIteration(v)`.
pub(super) fn stop(v: Bound<'_, PyAny>) -> PyErr {
    PyStopIteration::new_err((v.unbind(),))
}

/// The iterator to drive for `v`, or `None` if `v` is not awaitable.
pub(super) fn awaitable_iter<'py>(v: &Bound<'py, PyAny>) -> PyResult<Option<Bound<'py, PyAny>>> {
    // SAFETY: `v` is a live object (borrowed by the Bound) and we are
    // attached to the interpreter; the check only reads its type pointer.
    if unsafe { ffi::PyCoro_CheckExact(v.as_ptr()) } != 0 {
        // A native coroutine is driven directly (it implements `am_send`),
        // skipping the wrapper object `__await__` would allocate.
        return Ok(Some(v.clone()));
    }
    match v.getattr_opt(intern!(v.py(), "__await__"))? {
        Some(a) => Ok(Some(a.call0()?)),
        None => Ok(None),
    }
}

/// Sends a value into, or throws an exception into, the awaited iterator.
pub(super) fn drive<'py>(iter: &Bound<'py, PyAny>, input: Input<'py>) -> Step<'py> {
    let py = iter.py();
    match input {
        Input::Send(v) => {
            let mut out: *mut ffi::PyObject = std::ptr::null_mut();
            // SAFETY: `iter` and `v` are live objects borrowed for the call and
            // we are attached. `PyIter_Send` stores a new (owned) reference in
            // `out` for PYGEN_NEXT and PYGEN_RETURN, and sets an exception and
            // leaves `out` NULL for PYGEN_ERROR.
            let r = unsafe { ffi::PyIter_Send(iter.as_ptr(), v.as_ptr(), &mut out) };
            if r == ffi::PySendResult::PYGEN_ERROR {
                return Step::Raised(PyErr::fetch(py));
            }
            // SAFETY: for PYGEN_NEXT and PYGEN_RETURN, `out` is the owned,
            // non-NULL reference described above.
            let out = unsafe { Bound::from_owned_ptr(py, out) };
            if r == ffi::PySendResult::PYGEN_NEXT {
                Step::Yielded(out)
            } else {
                Step::Returned(out)
            }
        }
        Input::Throw(exc) => {
            let throw = match iter.getattr_opt(intern!(py, "throw")) {
                Ok(Some(t)) => t,
                // A plain iterator cannot receive it: the exception surfaces
                // at the await, as with `yield from` on such an iterator.
                Ok(None) => return Step::Raised(PyErr::from_value(exc)),
                Err(e) => return Step::Raised(e),
            };
            match throw.call1((exc,)) {
                Ok(y) => Step::Yielded(y),
                Err(e) if e.is_instance_of::<PyStopIteration>(py) => {
                    match e.value(py).getattr(intern!(py, "value")) {
                        Ok(v) => Step::Returned(v),
                        Err(e) => Step::Raised(e),
                    }
                }
                Err(e) => Step::Raised(e),
            }
        }
    }
}

/// The exception instance for `throw(typ, val=None, tb=None)`, normalised as
/// generators do.
pub(super) fn exception<'py>(
    typ: &Bound<'py, PyAny>,
    val: Option<&Bound<'py, PyAny>>,
    tb: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = typ.py();
    let val = val.filter(|v| !v.is_none());
    let exc = if let Ok(t) = typ.cast::<PyType>() {
        match val {
            Some(v) if v.is_instance(t)? => v.clone(),
            Some(v) if v.is_instance_of::<PyTuple>() => t.call1(v.cast::<PyTuple>()?)?,
            Some(v) => t.call1((v,))?,
            None => t.call0()?,
        }
    } else if typ.is_instance_of::<pyo3::exceptions::PyBaseException>() {
        if val.is_some() {
            return Err(PyTypeError::new_err(
                "instance exception may not have a separate value",
            ));
        }
        typ.clone()
    } else {
        return Err(PyTypeError::new_err(
            "exceptions must be classes or instances deriving from BaseException",
        ));
    };
    if let Some(tb) = tb.filter(|t| !t.is_none()) {
        exc.call_method1(intern!(py, "with_traceback"), (tb,))?;
    }
    Ok(exc)
}
