//! `seawall._native`: the compiled core of the `seawall` Python package.
//!
//! The public package (`python/seawall/`) mirrors the original
//! `shared.resilience` API in pure Python and subclasses the types defined
//! here; this module holds only what must be fast or must touch the core:
//! the breaker and its protected call (sync and async), the decorator
//! wrapper, permits, the manual clock, the registry, and the engines of the
//! other patterns (the retry state machine and the keyed rate limiter among
//! them), and the simulator's command line. Nothing here holds a lock while user code runs, and the module
//! declares that it does not need the GIL.

mod adaptive_limiter;
mod aio;
mod args;
mod breaker;
mod bulkhead;
mod clock;
mod config;
mod fleet;
mod guard;
mod handle;
mod hedge;
mod keyed_breaker;
mod policy;
mod rate_limit;
mod registered;
mod registry;
mod retry;
mod simulate;
mod telemetry;
mod throttle;

use pyo3::prelude::*;

/// Fails the build if a class's Rust value needs more alignment than a
/// Python object gives it. CPython allocates objects 16-byte aligned and
/// PyO3 stores the value inside the object, so a value holding an
/// over-aligned field inline (a `CachePadded` one, 128-aligned on x86_64)
/// would sit misaligned: undefined behaviour, which debug builds abort on.
/// Such a field goes behind a `Box` or an `Arc`.
macro_rules! fits_python_alignment {
    ($($class:ty),* $(,)?) => {
        $(const _: () = assert!(
            std::mem::align_of::<$class>() <= 16,
            concat!(stringify!($class), " needs more alignment than a Python object has")
        );)*
    };
}

fits_python_alignment!(
    breaker::Breaker,
    breaker::Permit,
    aio::AsyncCall,
    guard::Guarded,
    fleet::DistributedBreaker,
    fleet::DistributedPermit,
    fleet::FleetRateLimiter,
    clock::ManualClock,
    registry::Registry,
    retry::Backoff,
    retry::RetryBudget,
    retry::RetryState,
    hedge::Hedge,
    hedge::HedgeCall,
    bulkhead::Bulkhead,
    bulkhead::BulkheadWaiter,
    adaptive_limiter::AdaptiveLimiter,
    adaptive_limiter::AdaptivePermit,
    rate_limit::RateLimiter,
    rate_limit::KeyedRateLimiter,
    keyed_breaker::KeyedBreaker,
    keyed_breaker::KeyedPermit,
    telemetry::RetryStats,
    throttle::AdaptiveThrottler,
    throttle::FaultInjector,
);

#[pymodule(gil_used = false)]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<breaker::Breaker>()?;
    m.add_class::<breaker::Permit>()?;
    m.add_class::<aio::AsyncCall>()?;
    aio::install_am_send(&m.py().get_type::<aio::AsyncCall>());
    m.add_class::<guard::Guarded>()?;
    m.add_class::<fleet::DistributedBreaker>()?;
    m.add_class::<fleet::DistributedPermit>()?;
    m.add_class::<fleet::FleetRateLimiter>()?;
    m.add_class::<clock::ManualClock>()?;
    m.add_class::<registry::Registry>()?;
    m.add_class::<retry::Backoff>()?;
    m.add_class::<retry::RetryBudget>()?;
    m.add_class::<retry::RetryState>()?;
    m.add_class::<hedge::Hedge>()?;
    m.add_class::<hedge::HedgeCall>()?;
    m.add_class::<bulkhead::Bulkhead>()?;
    m.add_class::<bulkhead::BulkheadWaiter>()?;
    m.add_class::<adaptive_limiter::AdaptiveLimiter>()?;
    m.add_class::<adaptive_limiter::AdaptivePermit>()?;
    m.add_class::<rate_limit::RateLimiter>()?;
    m.add_class::<rate_limit::KeyedRateLimiter>()?;
    m.add_class::<keyed_breaker::KeyedBreaker>()?;
    m.add_class::<keyed_breaker::KeyedPermit>()?;
    m.add_class::<throttle::AdaptiveThrottler>()?;
    m.add_class::<throttle::FaultInjector>()?;
    m.add_function(wrap_pyfunction!(config::validate_config, m)?)?;
    m.add_function(wrap_pyfunction!(config::validate_window, m)?)?;
    m.add_function(wrap_pyfunction!(args::attempt_number, m)?)?;
    m.add_function(wrap_pyfunction!(registered::_init, m)?)?;
    for check in [
        wrap_pyfunction!(args::shown, m)?,
        wrap_pyfunction!(args::py_type_error, m)?,
        wrap_pyfunction!(args::check_bool, m)?,
        wrap_pyfunction!(args::check_int, m)?,
        wrap_pyfunction!(args::check_number, m)?,
        wrap_pyfunction!(args::check_seconds, m)?,
        wrap_pyfunction!(args::check_non_negative_seconds, m)?,
        wrap_pyfunction!(args::check_name, m)?,
        wrap_pyfunction!(args::check_fallback, m)?,
    ] {
        m.add_function(check)?;
    }
    m.add_function(wrap_pyfunction!(retry::retry_policies, m)?)?;
    m.add_class::<telemetry::RetryStats>()?;
    m.add_function(wrap_pyfunction!(telemetry::metric_catalog, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::metric_families, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::prometheus_text, m)?)?;
    m.add_function(wrap_pyfunction!(telemetry::snapshot, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::cli_main, m)?)?;
    m.add_function(wrap_pyfunction!(simulate::simulate_json, m)?)?;
    Ok(())
}
