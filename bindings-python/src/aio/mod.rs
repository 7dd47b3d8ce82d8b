//! `acall` and async decorated functions: an awaitable that takes a permit
//! when it is first driven, awaits the protected coroutine, and records its
//! outcome when it finishes.
//!
//! The object speaks the coroutine protocol (`__await__`, `send`, `throw`,
//! `close`), so `collections.abc.Coroutine` recognises it and asyncio accepts
//! it wherever a coroutine is expected (`create_task`, `gather`, `run`).
//! Nothing happens until it is driven, exactly like `async def`: creating one
//! and never awaiting it takes no permit.

use std::sync::Arc;

use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::PyTraverseError;

use seawall::{Outcome, Ticket};

use crate::breaker::{Breaker, Inner};
use crate::guard::Guarded;
use crate::handle::call_fallback;
use crate::policy::take_interrupt;

mod protocol;

use protocol::{awaitable_iter, drive, exception, stop, Input, Step};

enum Stage {
    /// Not driven yet: what to call.
    Start {
        func: Py<PyAny>,
        args: Option<Py<PyTuple>>,
        kwargs: Option<Py<PyDict>>,
    },
    /// Awaiting the protected awaitable under a permit.
    Running {
        iter: Py<PyAny>,
        ticket: Ticket,
    },
    /// Awaiting a fallback's awaitable (no permit: its outcome is not the
    /// dependency's).
    Fallback {
        iter: Py<PyAny>,
    },
    Done,
}

/// How a step of the call ended, short of an exception.
enum Poll<'py> {
    /// A value for the event loop: the call is suspended.
    Yield(Bound<'py, PyAny>),
    /// The call's result: it is over.
    Return(Bound<'py, PyAny>),
}

/// The awaitable returned by `Breaker.acall` and by async functions
/// wrapped by the decorators.
/// Freed objects are kept for reuse: one is allocated per awaited call.
#[pyclass(freelist = 64, module = "seawall._native")]
pub struct AsyncCall {
    inner: Arc<Inner>,
    /// The breaker handle, shown to the garbage collector (see `Guarded`);
    /// `None` once cleared.
    owner: Option<Py<Breaker>>,
    fallback: Option<Py<PyAny>>,
    stage: Stage,
    /// A `with_resilience` first attempt: the function carrying the layer,
    /// and the call's arguments for its `on_error`. Taken when used.
    first: Option<Box<First>>,
}

struct First {
    guard: Py<Guarded>,
    args: Option<Py<PyTuple>>,
    kwargs: Option<Py<PyDict>>,
}

impl AsyncCall {
    pub(crate) fn new(
        owner: Py<Breaker>,
        func: Py<PyAny>,
        args: Option<Py<PyTuple>>,
        kwargs: Option<Py<PyDict>>,
        fallback: Option<Py<PyAny>>,
    ) -> Self {
        AsyncCall {
            inner: Arc::clone(&owner.get().inner),
            owner: Some(owner),
            fallback,
            stage: Stage::Start { func, args, kwargs },
            first: None,
        }
    }

    /// Makes this call the first attempt of `guard`'s layer (see
    /// `FirstAttempt`).
    pub(crate) fn with_first_attempt(mut self, py: Python<'_>, guard: Py<Guarded>) -> Self {
        let (args, kwargs) = match &self.stage {
            Stage::Start { args, kwargs, .. } => (
                args.as_ref().map(|a| a.clone_ref(py)),
                kwargs.as_ref().map(|k| k.clone_ref(py)),
            ),
            _ => (None, None),
        };
        self.first = Some(Box::new(First {
            guard,
            args,
            kwargs,
        }));
        self
    }

    /// The Python object for this call.
    ///
    /// Objects come from the class's freelist, and pyo3 does not hand a
    /// reused object back to the garbage collector (it is untracked when
    /// freed and not tracked again): without tracking it here, whatever the
    /// call holds (the breaker, the function, its arguments) would be
    /// invisible to the collector, and any cycle through it leaked.
    pub(crate) fn into_object(self, py: Python<'_>) -> PyResult<Bound<'_, AsyncCall>> {
        let obj = Bound::new(py, self)?;
        // SAFETY: `obj` is a live, fully initialised instance of a GC type
        // (the class has `__traverse__`) and we are attached. Tracking an
        // object that is already tracked is an error, hence the check.
        unsafe {
            if ffi::PyObject_GC_IsTracked(obj.as_ptr()) == 0 {
                ffi::PyObject_GC_Track(obj.as_ptr().cast());
            }
        }
        Ok(obj)
    }

    /// Drives the call one step; an exception of the first attempt goes to
    /// its layer's `on_error`, whose awaitable the call then drives.
    fn step<'py>(&mut self, py: Python<'py>, input: Input<'py>) -> PyResult<Poll<'py>> {
        if self.first.is_some() {
            return self.step_first(py, input);
        }
        self.advance(py, input)
    }

    /// `step` for a first attempt.
    #[inline(never)]
    fn step_first<'py>(&mut self, py: Python<'py>, input: Input<'py>) -> PyResult<Poll<'py>> {
        // Only what the attempt raised: not a throw into a call that never
        // started, a bad first send, or a reuse after the end.
        let attempt = match (&self.stage, &input) {
            (Stage::Running { .. }, _) => true,
            (Stage::Start { .. }, Input::Send(v)) => v.is_none(),
            _ => false,
        };
        if let (Stage::Start { .. }, true, Some(f)) = (&self.stage, attempt, &self.first) {
            if let Some(layer) = f.guard.get().first() {
                layer.count();
            }
        }
        match self.advance(py, input) {
            Err(e) if attempt => {
                let First {
                    guard,
                    args,
                    kwargs,
                } = *self.first.take().expect("checked above");
                let layer = guard.get().first().expect("set with the call");
                let (args, kwargs) = (
                    args.map(|a| a.into_bound(py)),
                    kwargs.map(|k| k.into_bound(py)),
                );
                let v = layer.recover(py, e, args.as_ref(), kwargs.as_ref())?;
                self.finish_with(py, v)
            }
            r => r,
        }
    }

    /// Drives the call one step.
    fn advance<'py>(&mut self, py: Python<'py>, mut input: Input<'py>) -> PyResult<Poll<'py>> {
        loop {
            match std::mem::replace(&mut self.stage, Stage::Done) {
                Stage::Done => {
                    return Err(match input {
                        Input::Throw(exc) => PyErr::from_value(exc),
                        Input::Send(_) => {
                            PyRuntimeError::new_err("cannot reuse already awaited coroutine")
                        }
                    })
                }
                Stage::Start { func, args, kwargs } => {
                    let (func, args, kwargs) = (
                        func.into_bound(py),
                        args.map(|a| a.into_bound(py)),
                        kwargs.map(|k| k.into_bound(py)),
                    );
                    match input {
                        // Thrown into before it started: like a coroutine, it
                        // ends with that exception and never runs.
                        Input::Throw(exc) => return Err(PyErr::from_value(exc)),
                        Input::Send(v) if !v.is_none() => {
                            return Err(PyTypeError::new_err(
                                "can't send non-None value to a just-started coroutine",
                            ))
                        }
                        Input::Send(_) => {}
                    }
                    let acquired = self.inner.breaker.try_acquire().map(|p| p.into_ticket());
                    if let Some(e) = take_interrupt() {
                        // A transition callback raised an interrupt: the
                        // call is not made (a permit is released as neutral).
                        if let Ok(t) = acquired {
                            self.inner.breaker.record(t, Outcome::Ignored);
                        }
                        return Err(e);
                    }
                    let ticket = match acquired {
                        Ok(p) => p,
                        Err(r) => match self.fallback.as_ref() {
                            Some(fb) => {
                                let v = fb.bind(py).call0()?;
                                match awaitable_iter(&v)? {
                                    Some(iter) => {
                                        self.stage = Stage::Fallback {
                                            iter: iter.unbind(),
                                        };
                                        input = Input::Send(py.None().into_bound(py));
                                        continue;
                                    }
                                    None => return Ok(Poll::Return(v)),
                                }
                            }
                            None => return Err(self.inner.handle.rejection(py, r)),
                        },
                    };
                    let made = match (args, kwargs) {
                        (None, None) => func.call0(),
                        (args, kwargs) => {
                            let args = args.unwrap_or_else(|| PyTuple::empty(py));
                            func.call(args, kwargs.as_ref())
                        }
                    };
                    let awaited = made.and_then(|v| Ok((awaitable_iter(&v)?, v)));
                    match awaited {
                        Ok((Some(iter), _)) => {
                            self.stage = Stage::Running {
                                iter: iter.unbind(),
                                ticket,
                            };
                            input = Input::Send(py.None().into_bound(py));
                        }
                        // Not awaitable: a plain function's result.
                        Ok((None, v)) => return self.returned(py, ticket, v),
                        Err(e) => return self.failed(py, ticket, e),
                    }
                }
                Stage::Running { iter, ticket } => {
                    let it = iter.into_bound(py);
                    match drive(&it, input) {
                        Step::Yielded(y) => {
                            self.stage = Stage::Running {
                                iter: it.unbind(),
                                ticket,
                            };
                            return Ok(Poll::Yield(y));
                        }
                        Step::Returned(v) => return self.returned(py, ticket, v),
                        Step::Raised(e) => return self.failed(py, ticket, e),
                    }
                }
                Stage::Fallback { iter } => {
                    let it = iter.into_bound(py);
                    match drive(&it, input) {
                        Step::Yielded(y) => {
                            self.stage = Stage::Fallback { iter: it.unbind() };
                            return Ok(Poll::Yield(y));
                        }
                        Step::Returned(v) => return Ok(Poll::Return(v)),
                        Step::Raised(e) => return Err(e),
                    }
                }
            }
        }
    }

    fn returned<'py>(
        &mut self,
        _py: Python<'py>,
        ticket: Ticket,
        v: Bound<'py, PyAny>,
    ) -> PyResult<Poll<'py>> {
        match self.inner.handle.policy.classify_result(&v) {
            Ok(outcome) => self.inner.record(ticket, outcome)?,
            Err(interrupt) => {
                self.inner.breaker.record(ticket, Outcome::Ignored);
                return Err(interrupt);
            }
        }
        Ok(Poll::Return(v))
    }

    fn failed<'py>(&mut self, py: Python<'py>, ticket: Ticket, e: PyErr) -> PyResult<Poll<'py>> {
        let outcome = match self.inner.handle.policy.classify_exception(e.value(py)) {
            Ok(o) => o,
            Err(interrupt) => {
                self.inner.breaker.record(ticket, Outcome::Ignored);
                interrupt.set_context(py, Some(e));
                return Err(interrupt);
            }
        };
        self.inner.breaker.record(ticket, outcome);
        if let Some(interrupt) = take_interrupt() {
            interrupt.set_context(py, Some(e));
            return Err(interrupt);
        }
        let fb = match &self.fallback {
            Some(fb) if outcome == Outcome::Failure => fb.bind(py).clone(),
            _ => return Err(e),
        };
        let v = call_fallback(py, &fb, e)?;
        self.finish_with(py, v)
    }

    /// Ends the call with `v`, a fallback's (or a recovery's) result: awaited
    /// first when it is awaitable (its outcome is not the dependency's, so
    /// no permit is involved).
    fn finish_with<'py>(&mut self, py: Python<'py>, v: Bound<'py, PyAny>) -> PyResult<Poll<'py>> {
        match awaitable_iter(&v)? {
            Some(iter) => {
                self.stage = Stage::Fallback {
                    iter: iter.unbind(),
                };
                self.advance(py, Input::Send(py.None().into_bound(py)))
            }
            None => Ok(Poll::Return(v)),
        }
    }

    /// A step as the iterator protocol reports it: the end is
    /// `StopIteration(result)`.
    fn step_iter<'py>(
        &mut self,
        py: Python<'py>,
        input: Input<'py>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match self.step(py, input)? {
            Poll::Yield(y) => Ok(y),
            Poll::Return(v) => Err(stop(v)),
        }
    }
}

/// `tp_as_async->am_send`: how `await` drives the call. The interpreter's
/// `SEND` uses this slot when a type has it, and then a finished call hands
/// its result back directly instead of raising and catching a
/// `StopIteration` (which costs more than everything else an await does).
/// pyo3 has no way to declare the slot, so `install_am_send` writes it into
/// the type object once, at module initialisation.
unsafe extern "C" fn am_send(
    slf: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: the interpreter calls this slot with the thread attached.
    // (pyo3's attach count is not raised: `step` turns every `Py` it lets go
    // of into a `Bound` first, whose drop releases it at once; a `Py`
    // dropped here would merely be released later, by pyo3's pool.)
    let py = unsafe { Python::assume_attached() };
    let (status, out) = {
        let stepped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: `slf` and `arg` are live, non-NULL objects borrowed from
            // the caller for the duration of the call (PyIter_Send's contract).
            let (slf, arg) = unsafe {
                (
                    Bound::from_borrowed_ptr(py, slf),
                    Bound::from_borrowed_ptr(py, arg),
                )
            };
            let call = slf.cast::<AsyncCall>()?;
            let mut call = call.try_borrow_mut()?;
            call.step(py, Input::Send(arg))
        }));
        match stepped {
            Ok(Ok(Poll::Yield(y))) => (ffi::PySendResult::PYGEN_NEXT, y.into_ptr()),
            Ok(Ok(Poll::Return(v))) => (ffi::PySendResult::PYGEN_RETURN, v.into_ptr()),
            Ok(Err(e)) => {
                e.restore(py);
                (ffi::PySendResult::PYGEN_ERROR, std::ptr::null_mut())
            }
            Err(_) => {
                PyRuntimeError::new_err("seawall: internal panic while driving an awaited call")
                    .restore(py);
                (ffi::PySendResult::PYGEN_ERROR, std::ptr::null_mut())
            }
        }
    };
    // SAFETY: `result` is a valid out-pointer supplied by the caller; it
    // receives a new reference (or NULL with an exception set, for errors).
    unsafe { *result = out };
    status
}

/// Installs [`am_send`] on the `AsyncCall` type (see there).
pub(crate) fn install_am_send(ty: &Bound<'_, PyType>) {
    let tp = ty.as_type_ptr();
    // SAFETY: `tp` is the live heap type pyo3 just created for `AsyncCall`,
    // not yet used by any object. For heap types CPython points
    // `tp_as_async` at the `as_async` member of the type's own
    // `PyHeapTypeObject`, writable memory owned by the type; it is non-NULL
    // here because the class defines `__await__`. `PyType_Modified` drops
    // any cached lookups after the change.
    unsafe {
        let am = (*tp).tp_as_async;
        if !am.is_null() {
            (*am).am_send = Some(am_send);
            ffi::PyType_Modified(tp);
        }
    }
}

#[pymethods]
impl AsyncCall {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.step_iter(py, Input::Send(py.None().into_bound(py)))
    }

    fn send<'py>(&mut self, value: Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        let py = value.py();
        self.step_iter(py, Input::Send(value))
    }

    #[pyo3(signature = (typ, val = None, tb = None))]
    fn throw<'py>(
        &mut self,
        typ: &Bound<'py, PyAny>,
        val: Option<&Bound<'py, PyAny>>,
        tb: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = typ.py();
        let exc = exception(typ, val, tb)?;
        self.step_iter(py, Input::Throw(exc))
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.owner)?;
        visit.call(&self.fallback)?;
        if let Some(f) = &self.first {
            visit.call(&f.guard)?;
            visit.call(&f.args)?;
            visit.call(&f.kwargs)?;
        }
        match &self.stage {
            Stage::Start { func, args, kwargs } => {
                visit.call(func)?;
                visit.call(args)?;
                visit.call(kwargs)
            }
            Stage::Running { iter, .. } | Stage::Fallback { iter } => visit.call(iter),
            Stage::Done => Ok(()),
        }
    }

    /// Breaks cycles through this call: a permit still held is released as
    /// neutral, and everything it holds is dropped (it is over).
    fn __clear__(&mut self) {
        if let Stage::Running { ticket, .. } = std::mem::replace(&mut self.stage, Stage::Done) {
            self.inner.breaker.record(ticket, Outcome::Ignored);
        }
        self.fallback = None;
        self.owner = None;
        self.first = None;
    }

    /// Closes the awaited coroutine; the call counts as neutral.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        let (iter, ticket) = match std::mem::replace(&mut self.stage, Stage::Done) {
            Stage::Running { iter, ticket } => (Some(iter), Some(ticket)),
            Stage::Fallback { iter } => (Some(iter), None),
            Stage::Start { .. } | Stage::Done => (None, None),
        };
        if let Some(t) = ticket {
            self.inner.record(t, Outcome::Ignored)?;
        }
        if let Some(iter) = iter {
            if let Some(close) = iter.bind(py).getattr_opt(intern!(py, "close"))? {
                close.call0()?;
            }
        }
        Ok(())
    }
}

impl Drop for AsyncCall {
    fn drop(&mut self) {
        // Abandoned mid-call (never closed): release the permit as neutral so
        // a trial slot is not held until the half-open timeout.
        if let Stage::Running { ticket, .. } = std::mem::replace(&mut self.stage, Stage::Done) {
            self.inner.breaker.record(ticket, Outcome::Ignored);
        }
    }
}
