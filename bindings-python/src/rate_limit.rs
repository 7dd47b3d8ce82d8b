//! The GCRA rate limiters as native classes: `check` admits or names the
//! wait; `reserve` decides a caller's wait once. `RateLimiter` is one
//! limit; `KeyedRateLimiter` one per key (a `str` or `bytes`), in a fixed
//! table of slots.

use std::sync::Arc;
use std::time::Duration;

use pyo3::prelude::*;

use seawall::{
    KeyedRateLimiter as CoreKeyedRateLimiter, RateLimitConfig, RateLimited,
    RateLimiter as CoreRateLimiter,
};

use seawall_bindings_support::DynClock;

use crate::args::{self, core_u32, secs, validated};
use crate::clock::{clock_arg, ManualClock};

/// A GCRA rate limiter.
#[pyclass(frozen, module = "seawall._native")]
pub struct RateLimiter(Arc<CoreRateLimiter<DynClock>>);

/// A GCRA rate limit per key, keys hashed into a fixed table of slots (as
/// UTF-8 bytes for a `str`, so the same bytes as the C face's keys).
#[pyclass(frozen, module = "seawall._native")]
pub struct KeyedRateLimiter(Arc<CoreKeyedRateLimiter<[u8], DynClock>>);

/// Seconds as a float, a wait of a few nanoseconds never rounded to 0.0
/// (which means "admitted now").
pub(crate) fn seconds(wait: Duration) -> f64 {
    if wait.is_zero() {
        0.0
    } else {
        wait.as_secs_f64().max(1e-9)
    }
}

/// The configuration given to either class's constructor, with the values
/// that did not fit the core's integers recorded in `given` (see
/// [`validated`]).
pub(crate) fn config(
    rate: &Bound<'_, PyAny>,
    period: f64,
    burst: &Bound<'_, PyAny>,
    timing_name: &Bound<'_, PyAny>,
    given: &mut Vec<(&'static str, String)>,
) -> PyResult<RateLimitConfig> {
    Ok(RateLimitConfig {
        rate: core_u32("rate", rate, given)?,
        period: secs("period", period)?,
        burst: core_u32("burst", burst, given)?,
        timing: args::timing(timing_name)?,
    })
}

/// `check`'s answer: 0.0 admitted, else the seconds to wait.
#[inline]
pub(crate) fn check_answer(decision: Result<(), RateLimited>) -> f64 {
    match decision {
        Ok(()) => 0.0,
        Err(r) => seconds(r.retry_after),
    }
}

/// `reserve`'s `max_wait` (`None`: any wait up to a year).
fn max_wait_arg(max_wait: Option<f64>) -> PyResult<Duration> {
    match max_wait {
        // Beyond what a `Duration` holds: as good as unbounded.
        Some(s) => secs("max_wait", s).or_else(|e| {
            if s.is_finite() && s > 0.0 {
                Ok(Duration::MAX)
            } else {
                Err(e)
            }
        }),
        None => Ok(Duration::MAX),
    }
}

/// `reserve`'s answer: `(True, wait)` with the turn taken, `(False, wait)`
/// refused.
#[inline]
fn reserve_answer(decision: Result<Duration, RateLimited>) -> (bool, f64) {
    match decision {
        Ok(wait) => (true, seconds(wait)),
        Err(r) => (false, seconds(r.retry_after)),
    }
}

#[pymethods]
impl RateLimiter {
    #[new]
    #[pyo3(signature = (rate, period, burst, *, timing, clock = None, name = "default"))]
    fn new(
        rate: &Bound<'_, PyAny>,
        period: f64,
        burst: &Bound<'_, PyAny>,
        timing: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
        name: &str,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = config(rate, period, burst, timing, &mut given)?;
        let l = Arc::new(validated(
            CoreRateLimiter::with_clock(config, clock_arg(clock)),
            &given,
        )?);
        crate::telemetry::rate_limiter(name, &l);
        Ok(RateLimiter(l))
    }

    /// 0.0 when the call is admitted, else the seconds to wait before it
    /// would be.
    fn check(&self) -> f64 {
        check_answer(self.0.check())
    }

    /// Reserves the next call's turn if it comes within `max_wait` seconds
    /// (`None`: any wait up to a year): `(True, wait)` with the turn taken,
    /// the caller sleeping `wait` seconds once (0.0: none) and going ahead;
    /// `(False, wait)` refused, nothing changed, `wait` being the wait that
    /// exceeded `max_wait`.
    #[pyo3(signature = (max_wait = None))]
    fn reserve(&self, max_wait: Option<f64>) -> PyResult<(bool, f64)> {
        Ok(reserve_answer(self.0.reserve(max_wait_arg(max_wait)?)))
    }
}

#[pymethods]
impl KeyedRateLimiter {
    #[new]
    #[pyo3(signature = (rate, period, burst, *, slots, timing, clock = None, name = "default"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        rate: &Bound<'_, PyAny>,
        period: f64,
        burst: &Bound<'_, PyAny>,
        slots: &Bound<'_, PyAny>,
        timing: &Bound<'_, PyAny>,
        clock: Option<&Bound<'_, ManualClock>>,
        name: &str,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = config(rate, period, burst, timing, &mut given)?;
        let slots = core_u32("slots", slots, &mut given)?;
        let hasher = Default::default();
        let l = Arc::new(validated(
            CoreKeyedRateLimiter::with_hasher(config, slots, clock_arg(clock), hasher),
            &given,
        )?);
        crate::telemetry::keyed_rate_limiter(name, &l);
        Ok(KeyedRateLimiter(l))
    }

    /// 0.0 when a call for `key` (a `str` or `bytes`) is admitted, else the
    /// seconds to wait before one would be.
    fn check(&self, key: &Bound<'_, PyAny>) -> PyResult<f64> {
        Ok(check_answer(self.0.check_key(args::key("key", key)?)))
    }

    /// `RateLimiter.reserve` for `key`'s slot.
    #[pyo3(signature = (key, max_wait = None))]
    fn reserve(&self, key: &Bound<'_, PyAny>, max_wait: Option<f64>) -> PyResult<(bool, f64)> {
        let key = args::key("key", key)?;
        Ok(reserve_answer(
            self.0.reserve_key(key, max_wait_arg(max_wait)?),
        ))
    }

    /// The number of slots (the count given, rounded up to a power of two).
    #[getter]
    fn slots(&self) -> usize {
        self.0.slots()
    }

    /// Bytes the limiter occupies, its table included: fixed at creation,
    /// whatever keys it sees.
    fn memory_bytes(&self) -> usize {
        self.0.memory_bytes()
    }
}
