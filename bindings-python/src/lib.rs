//! `seawall._native`: the compiled core of the `seawall` Python package.
//!
//! The public package (`python/seawall/`) mirrors the original
//! `shared.resilience` API in pure Python and subclasses the types defined
//! here; this module holds only what must be fast or must touch the core:
//! the breaker and its protected call (sync and async), the decorator
//! wrapper, permits, the manual clock and the registry. Nothing here holds a
//! lock while user code runs, and the module declares that it does not need
//! the GIL.

mod aio;
mod args;
mod breaker;
mod bulkhead;
mod cache;
mod clock;
mod config;
mod guard;
mod policy;
mod rate_limit;
mod registry;
mod resilience;

use pyo3::prelude::*;

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<breaker::CircuitBreaker>()?;
    m.add_class::<breaker::Permit>()?;
    m.add_class::<aio::AsyncCall>()?;
    aio::install_am_send(&m.py().get_type::<aio::AsyncCall>());
    m.add_class::<guard::Guarded>()?;
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<registry::Registry>()?;
    m.add_class::<resilience::Backoff>()?;
    m.add_class::<resilience::RetryBudget>()?;
    m.add_class::<bulkhead::Bulkhead>()?;
    m.add_class::<bulkhead::BulkheadWaiter>()?;
    m.add_class::<rate_limit::RateLimiter>()?;
    m.add_function(wrap_pyfunction!(config::validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(config::validate_window, m)?)?;
    m.add_function(wrap_pyfunction!(args::attempt_number, m)?)?;
    Ok(())
}
