//! Functions wrapped by a breaker (`@with_circuit_breaker`, `@breaker`): a
//! native callable, so the decorator costs no Python frame per call.

use std::sync::Arc;

use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use pyo3::PyTraverseError;

use crate::aio::AsyncCall;
use crate::breaker::{Breaker, Inner};

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
}

impl Guarded {
    pub(crate) fn new(owner: Py<Breaker>, func: Py<PyAny>, is_async: bool) -> Self {
        Guarded {
            inner: Arc::clone(&owner.get().inner),
            owner,
            func,
            is_async,
        }
    }
}

#[pymethods]
impl Guarded {
    #[pyo3(signature = (*args, **kwargs))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.is_async {
            // No arguments: the call is made with the cheaper `call0`.
            let args = (!args.is_empty()).then(|| args.clone().unbind());
            let kwargs = kwargs.filter(|k| !k.is_empty()).map(|k| k.clone().unbind());
            let call = AsyncCall::new(
                self.owner.clone_ref(py),
                self.func.clone_ref(py),
                args,
                kwargs,
                None,
            );
            return Ok(call.into_object(py)?.into_any());
        }
        let f = self.func.bind(py);
        self.inner.run(py, None, || f.call(args, kwargs))
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
        visit.call(&self.func)
    }
}
