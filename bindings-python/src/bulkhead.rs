//! The bulkhead as native classes: slots taken by `try_acquire` /
//! `acquire` / a waiter are counts, freed by `release`; a waiter in the
//! queue is handed its slot by the core, which wakes it (a thread blocked in
//! `wait`, or the event loop of a task, through the wake-up it registered
//! with `poll`).

use std::sync::Arc;
use std::task::{Wake, Waker};

use pyo3::prelude::*;

use seawall::{
    Admission, Bulkhead as CoreBulkhead, BulkheadConfig, BulkheadError, BulkheadPermit, Clock,
    Waiter,
};

use seawall_bindings_support::duration::nanos_to_seconds;
use seawall_bindings_support::DynClock;

use crate::args::{core_u32, secs, validated};
use crate::clock::{clock_arg, ManualClock};

/// A bulkhead shared by every handle to it.
#[pyclass(frozen, module = "seawall._native")]
pub struct Bulkhead(Arc<CoreBulkhead<DynClock>>);

/// True with the slot kept as a count, false for any refusal.
fn taken(r: Result<BulkheadPermit<'_, DynClock>, BulkheadError>) -> bool {
    match r {
        Ok(p) => {
            p.detach();
            true
        }
        Err(_) => false,
    }
}

#[pymethods]
impl Bulkhead {
    #[new]
    #[pyo3(signature = (max_concurrent, max_queue_size, timeout, *, clock = None, name = "default"))]
    fn new(
        max_concurrent: &Bound<'_, PyAny>,
        max_queue_size: &Bound<'_, PyAny>,
        timeout: f64,
        clock: Option<&Bound<'_, ManualClock>>,
        name: &str,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = BulkheadConfig {
            max_concurrent: core_u32("max_concurrent", max_concurrent, &mut given)?,
            max_queue_size: core_u32("max_queue_size", max_queue_size, &mut given)?,
            timeout: secs("timeout", timeout)?,
        };
        let b = Arc::new(validated(
            CoreBulkhead::with_clock(config, clock_arg(clock)),
            &given,
        )?);
        crate::telemetry::bulkhead(name, &b);
        Ok(Bulkhead(b))
    }

    /// Takes a free slot if there is one; never waits.
    fn try_acquire(&self) -> bool {
        taken(self.0.try_acquire())
    }

    /// As `try_acquire`, counting no refusal in the metrics: for a caller
    /// that waits next (the wait counts its own refusal).
    fn try_take(&self) -> bool {
        self.0.try_take().map(BulkheadPermit::detach).is_some()
    }

    /// Takes a slot, waiting (without the GIL) up to `timeout` seconds, or
    /// the configured timeout when `None`. False when full or timed out.
    #[pyo3(signature = (timeout = None))]
    fn acquire(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = timeout.map(|t| secs("timeout", t)).transpose()?;
        if let Some(p) = self.0.try_take() {
            p.detach();
            return Ok(true);
        }
        let b = &self.0;
        Ok(py.detach(|| match timeout {
            Some(t) => taken(b.acquire_timeout(t)),
            None => taken(b.acquire()),
        }))
    }

    /// Frees a slot (handing it to the oldest waiter, if any); false (and
    /// nothing changes) when none is taken.
    fn release(&self) -> bool {
        self.0.release_detached()
    }

    /// `True` when a slot was taken at once, `False` when the bulkhead and
    /// its queue are full, else a waiter queued (with the configured
    /// timeout).
    fn enqueue(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let b = Arc::clone(&self.0);
        // SAFETY: the reference points into the heap allocation of the `Arc`
        // `b`, whose address is stable. `BulkheadWaiter` keeps that `Arc` in
        // a field declared after `waiter`, so the waiter (the only holder of
        // this reference) is dropped first and never outlives the bulkhead.
        let bulkhead: &'static CoreBulkhead<DynClock> = unsafe { &*Arc::as_ptr(&b) };
        let waiter = match bulkhead.enqueue() {
            Err(_) => return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind()),
            Ok(Admission::Permit(p)) => {
                p.detach();
                return Ok(true.into_pyobject(py)?.to_owned().into_any().unbind());
            }
            Ok(Admission::Queued(w)) => w,
        };
        let w = BulkheadWaiter {
            waiter,
            bulkhead: b,
        };
        Ok(Bound::new(py, w)?.into_any().unbind())
    }

    fn available_permits(&self) -> u32 {
        self.0.available_permits()
    }

    fn queue_size(&self) -> u32 {
        self.0.queue_size()
    }
}

/// A place in a bulkhead's queue (from `Bulkhead.enqueue`). A release hands
/// it a slot when it is the oldest waiter. Dropped or cancelled without
/// taking a slot, it leaves the queue (passing on a slot handed to it).
#[pyclass(frozen, module = "seawall._native")]
pub struct BulkheadWaiter {
    // Declared first: dropped before the bulkhead it borrows (see `enqueue`).
    waiter: Waiter<'static, DynClock>,
    bulkhead: Arc<CoreBulkhead<DynClock>>,
}

/// `True`: a slot was taken; `None`: not yet, still queued; `False`: the
/// deadline passed or the wait was cancelled (it left the queue).
fn look(r: Result<BulkheadPermit<'_, DynClock>, BulkheadError>) -> Option<bool> {
    match r {
        Ok(p) => {
            p.detach();
            Some(true)
        }
        Err(BulkheadError::Full) => None,
        Err(_) => Some(false),
    }
}

/// Wakes a Python waiter by calling the callable it registered (for an
/// asyncio task, one that schedules the task's future on its own loop with
/// `call_soon_threadsafe`). Called from whichever thread hands the slot
/// over or cancels; it attaches to the interpreter only for the call.
struct PyWake(Py<PyAny>);

impl Wake for PyWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // An interpreter shutting down has no task left to wake.
        Python::try_attach(|py| {
            if let Err(e) = self.0.call0(py) {
                // The waiter's loop is closed: its task cannot be woken
                // (and will never run again); say so rather than lose it.
                e.write_unraisable(py, Some(self.0.bind(py)));
            }
        });
    }
}

#[pymethods]
impl BulkheadWaiter {
    /// `True`: a slot was taken (the waiter left the queue); `None`: not
    /// yet, still queued; `False`: the deadline passed or it was cancelled
    /// (it left the queue).
    fn try_acquire(&self) -> Option<bool> {
        look(self.waiter.try_acquire())
    }

    /// Registers `wake` (a callable taking no arguments) to be called,
    /// from any thread, once when the wait may have ended: a slot handed
    /// over, a cancellation, and on a manual clock any move of it; then
    /// looks, as `try_acquire`. `None` means the caller should wait for
    /// `wake`, and then poll again.
    fn poll(&self, wake: Py<PyAny>) -> Option<bool> {
        self.waiter.register(&Waker::from(Arc::new(PyWake(wake))));
        look(self.waiter.try_acquire())
    }

    /// Blocks without the GIL until a slot is taken (true) or the deadline
    /// passes or the waiter is cancelled (false).
    fn wait(&self, py: Python<'_>) -> bool {
        let w = &self.waiter;
        py.detach(|| taken(w.wait()))
    }

    /// Leaves the queue now (a slot handed to it at the same moment goes on
    /// to the next waiter); a `wait` in progress returns false.
    fn cancel(&self) {
        self.waiter.cancel();
    }

    /// Seconds until the deadline (0 when passed), on the bulkhead's clock.
    fn remaining(&self) -> f64 {
        let now = self.bulkhead.clock().now();
        nanos_to_seconds(self.waiter.deadline().saturating_sub(now))
    }

    /// Seconds until the deadline if the bulkhead's clock follows real time
    /// (a caller waiting in an event loop sets a timer for it); `None` on a
    /// manual clock, whose moves wake the waiter (see `poll`).
    fn deadline_timer(&self) -> Option<f64> {
        match self.bulkhead.clock().moves() {
            Some(_) => None,
            None => Some(self.remaining()),
        }
    }
}
