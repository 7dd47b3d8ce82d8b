//! Functions wrapped by a breaker (`@with_circuit_breaker`, `@breaker`): a
//! native callable, so the decorator costs no Python frame per call.

use std::sync::Arc;

use pyo3::exceptions::PyException;
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::PyTraverseError;

use crate::aio::AsyncCall;
use crate::breaker::{Breaker, Inner};
use crate::retry::RetryBudget;

extern "C" {
    // CPython's `types.MethodType` constructor (classobject.h), which pyo3's
    // ffi module does not declare.
    fn PyMethod_New(func: *mut ffi::PyObject, instance: *mut ffi::PyObject) -> *mut ffi::PyObject;
}

/// A function protected by a breaker. It has a `__dict__`, so
/// `functools.update_wrapper` gives it the wrapped function's name, doc and
/// `__wrapped__`, and it binds like a function when used as a method.
#[pyclass(frozen, dict, weakref, module = "seawall._native")]
pub struct Guarded {
    /// `owner`'s state, reached without going through the Python object.
    inner: Arc<Inner>,
    /// The breaker handle: held so that the garbage collector sees the path
    /// from this function to the breaker's callbacks (which may refer back
    /// to the function).
    owner: Py<Breaker>,
    func: Py<PyAny>,
    is_async: bool,
    /// What `with_resilience` puts around a call's first attempt, so that
    /// its success path runs without a Python frame.
    first: Option<FirstAttempt>,
}

/// A call's first attempt as `with_resilience` makes it: counted as a
/// request in a retry budget, and an `Exception` it raises (a failure or a
/// rejection) handed to `on_error(exc, args, kwargs)`, whose result (or
/// awaited result) becomes the call's (the retries and the fallback).
pub(crate) struct FirstAttempt {
    pub(crate) budget: Option<Py<RetryBudget>>,
    pub(crate) on_error: Option<Py<PyAny>>,
}

impl FirstAttempt {
    /// Counts the attempt in the budget.
    pub(crate) fn count(&self) {
        if let Some(b) = &self.budget {
            b.get().record_attempt(false);
        }
    }

    /// `on_error(exc, args, kwargs)` for an `Exception`; anything else (and
    /// everything when there is no `on_error`) propagates as it is.
    pub(crate) fn recover<'py>(
        &self,
        py: Python<'py>,
        e: PyErr,
        args: Option<&Bound<'py, PyTuple>>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &self.on_error {
            Some(on_error) if e.is_instance_of::<PyException>(py) => {
                let args = args.cloned().unwrap_or_else(|| PyTuple::empty(py));
                let kwargs = kwargs.cloned().unwrap_or_else(|| PyDict::new(py));
                on_error.bind(py).call1((e.into_value(py), args, kwargs))
            }
            _ => Err(e),
        }
    }
}

impl Guarded {
    pub(crate) fn new(
        owner: Py<Breaker>,
        func: Py<PyAny>,
        is_async: bool,
        first: Option<FirstAttempt>,
    ) -> Self {
        Guarded {
            inner: Arc::clone(&owner.get().inner),
            owner,
            func,
            is_async,
            first,
        }
    }

    /// The first-attempt layer, if this function has one.
    pub(crate) fn first(&self) -> Option<&FirstAttempt> {
        self.first.as_ref()
    }
}

#[pymethods]
impl Guarded {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let this = slf.get();
        if this.is_async {
            // No arguments: the call is made with the cheaper `call0`.
            let args = (!args.is_empty()).then(|| args.clone().unbind());
            let kwargs = kwargs.filter(|k| !k.is_empty()).map(|k| k.clone().unbind());
            let mut call = AsyncCall::new(
                this.owner.clone_ref(py),
                this.func.clone_ref(py),
                args,
                kwargs,
                None,
            );
            if this.first.is_some() {
                call = call.with_first_attempt(py, slf.clone().unbind());
            }
            return Ok(call.into_object(py)?.into_any());
        }
        let f = this.func.bind(py);
        let Some(first) = &this.first else {
            return this.inner.run(py, None, || f.call(args, kwargs));
        };
        first.count();
        this.inner
            .run(py, None, || f.call(args, kwargs))
            .or_else(|e| first.recover(py, e, Some(args), kwargs))
    }

    fn __get__<'py>(
        slf: &Bound<'py, Self>,
        obj: Option<&Bound<'py, PyAny>>,
        owner: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let _ = owner;
        match obj {
            Some(o) if !o.is_none() => {
                let py = slf.py();
                // SAFETY: both pointers are live objects borrowed for the
                // call and we are attached; PyMethod_New returns a new
                // reference or NULL with an exception set.
                unsafe { Bound::from_owned_ptr_or_err(py, PyMethod_New(slf.as_ptr(), o.as_ptr())) }
            }
            _ => Ok(slf.clone().into_any()),
        }
    }

    /// Whether the wrapped function is awaited under the permit.
    #[getter]
    fn is_async(&self) -> bool {
        self.is_async
    }

    // No `__clear__`: `owner` and `func` never change (the hot path reads
    // them without a lock), and every cycle through them also runs through
    // this object's `__dict__` (cleared by pyo3), a function or the breaker.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)?;
        visit.call(&self.func)?;
        if let Some(first) = &self.first {
            visit.call(&first.budget)?;
            visit.call(&first.on_error)?;
        }
        Ok(())
    }
}
