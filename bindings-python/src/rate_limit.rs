//! The GCRA rate limiter as a native class: `check` admits or names the
//! wait; `reserve` decides a caller's wait once.

use std::time::Duration;

use pyo3::prelude::*;

use seawall::{RateLimitConfig, RateLimiter as CoreRateLimiter, Timing};

use seawall_bindings_support::DynClock;

use crate::args::{core_u32, secs, validated};
use crate::clock::{clock_arg, ManualClock};

/// A GCRA rate limiter.
#[pyclass(frozen, module = "seawall._native")]
pub struct RateLimiter(CoreRateLimiter<DynClock>);

/// Seconds as a float, a wait of a few nanoseconds never rounded to 0.0
/// (which means "admitted now").
fn seconds(wait: Duration) -> f64 {
    if wait.is_zero() {
        0.0
    } else {
        wait.as_secs_f64().max(1e-9)
    }
}

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
            Err(r) => seconds(r.retry_after),
        }
    }

    /// Reserves the next call's turn if it comes within `max_wait` seconds
    /// (`None`: any wait up to a year): `(True, wait)` with the turn taken,
    /// the caller sleeping `wait` seconds once (0.0: none) and going ahead;
    /// `(False, wait)` refused, nothing changed, `wait` being the wait that
    /// exceeded `max_wait`.
    #[pyo3(signature = (max_wait = None))]
    fn reserve(&self, max_wait: Option<f64>) -> PyResult<(bool, f64)> {
        let max_wait = match max_wait {
            // Beyond what a `Duration` holds: as good as unbounded.
            Some(s) => secs("max_wait", s).or_else(|e| {
                if s.is_finite() && s > 0.0 {
                    Ok(Duration::MAX)
                } else {
                    Err(e)
                }
            })?,
            None => Duration::MAX,
        };
        Ok(match self.0.reserve(max_wait) {
            Ok(wait) => (true, seconds(wait)),
            Err(r) => (false, seconds(r.retry_after)),
        })
    }
}
