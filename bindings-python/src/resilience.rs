//! The engines besides the breaker and the retries: the bulkhead and the
//! rate limiter, as thin native classes over the core. The public package
//! (`seawall.resilience`) wraps them in the original interfaces and
//! composes them in `with_resilience`.

use std::sync::Arc;

use pyo3::prelude::*;

use seawall::{
    Admission, Bulkhead as CoreBulkhead, BulkheadConfig, BulkheadError, Clock, RateLimitConfig,
    RateLimiter as CoreRateLimiter, Timing, Waiter,
};

use seawall_bindings_support::duration::nanos_to_seconds;
use seawall_bindings_support::DynClock;

use crate::args::{core_u32, secs, validated};
use crate::clock::{clock_arg, ManualClock};

/// A bulkhead. Slots taken by `try_acquire` / `acquire` / a waiter are
/// counts, freed by `release`.
#[pyclass(frozen, module = "seawall._native")]
pub struct Bulkhead(Arc<CoreBulkhead<DynClock>>);

fn bulkhead_result(r: Result<seawall::BulkheadPermit<'_, DynClock>, BulkheadError>) -> bool {
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
    #[pyo3(signature = (max_concurrent, max_queue_size, timeout, *, clock = None))]
    fn new(
        max_concurrent: &Bound<'_, PyAny>,
        max_queue_size: &Bound<'_, PyAny>,
        timeout: f64,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = BulkheadConfig {
            max_concurrent: core_u32("max_concurrent", max_concurrent, &mut given)?,
            max_queue_size: core_u32("max_queue_size", max_queue_size, &mut given)?,
            timeout: secs("timeout", timeout)?,
        };
        validated(CoreBulkhead::with_clock(config, clock_arg(clock)), &given)
            .map(|b| Bulkhead(Arc::new(b)))
    }

    /// Takes a free slot if there is one; never waits.
    fn try_acquire(&self) -> bool {
        bulkhead_result(self.0.try_acquire())
    }

    /// Takes a slot, waiting (without the GIL) up to `timeout` seconds, or
    /// the configured timeout when `None`. False when full or timed out.
    #[pyo3(signature = (timeout = None))]
    fn acquire(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<bool> {
        let timeout = timeout.map(|t| secs("timeout", t)).transpose()?;
        if let Ok(p) = self.0.try_acquire() {
            p.detach();
            return Ok(true);
        }
        let b = &self.0;
        Ok(py.detach(|| match timeout {
            Some(t) => bulkhead_result(b.acquire_timeout(t)),
            None => bulkhead_result(b.acquire()),
        }))
    }

    /// Frees a slot; false (and nothing changes) when none is taken.
    fn release(&self) -> bool {
        self.0.release_detached()
    }

    /// `True` when a slot was taken at once, `False` when the bulkhead and
    /// its queue are full, else a waiter registered in the queue (with the
    /// configured timeout).
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
            deadline: waiter.deadline(),
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

/// A place in a bulkhead's queue (from `Bulkhead.enqueue`). Dropped or
/// cancelled without a slot, it leaves the queue.
#[pyclass(frozen, module = "seawall._native")]
pub struct BulkheadWaiter {
    // Declared first: dropped before the bulkhead it borrows (see `enqueue`).
    waiter: Waiter<'static, DynClock>,
    deadline: u64,
    bulkhead: Arc<CoreBulkhead<DynClock>>,
}

#[pymethods]
impl BulkheadWaiter {
    /// `True`: a slot was taken (the waiter left the queue); `None`: not
    /// yet, still queued; `False`: the deadline passed or it was cancelled
    /// (it left the queue).
    fn try_acquire(&self) -> Option<bool> {
        match self.waiter.try_acquire() {
            Ok(p) => {
                p.detach();
                Some(true)
            }
            Err(BulkheadError::Full) => None,
            Err(_) => Some(false),
        }
    }

    /// Blocks without the GIL until a slot is taken (true) or the deadline
    /// passes or the waiter is cancelled (false).
    fn wait(&self, py: Python<'_>) -> bool {
        let w = &self.waiter;
        py.detach(|| bulkhead_result(w.wait()))
    }

    /// Leaves the queue (now, or at the next `try_acquire` / `wait`).
    fn cancel(&self) {
        self.waiter.cancel();
        // A cancelled waiter leaves the queue when it next looks; look now.
        // (A permit, which the core never grants once cancelled, would be
        // released by its drop: no slot is stranded either way.)
        drop(self.waiter.try_acquire());
    }

    /// Seconds until the deadline (0 when passed), on the bulkhead's clock.
    fn remaining(&self) -> f64 {
        let now = self.bulkhead.clock().now();
        nanos_to_seconds(self.deadline.saturating_sub(now))
    }
}

/// A GCRA rate limiter.
#[pyclass(frozen, module = "seawall._native")]
pub struct RateLimiter(CoreRateLimiter<DynClock>);

#[pymethods]
impl RateLimiter {
    #[new]
    #[pyo3(signature = (rate, period, burst, *, clock = None))]
    fn new(
        rate: &Bound<'_, PyAny>,
        period: f64,
        burst: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = RateLimitConfig {
            rate: core_u32("rate", rate, &mut given)?,
            period: secs("period", period)?,
            burst: core_u32("burst", burst, &mut given)?,
            timing: Timing::Exact,
        };
        validated(
            CoreRateLimiter::with_clock(config, clock_arg(clock)),
            &given,
        )
        .map(RateLimiter)
    }

    /// 0.0 when the call is admitted, else the seconds to wait before it
    /// would be.
    fn check(&self) -> f64 {
        match self.0.check() {
            Ok(()) => 0.0,
            Err(r) => r.wait.as_secs_f64().max(1e-9),
        }
    }
}
