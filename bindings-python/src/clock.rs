//! The manual clock that Python tests advance by hand, and the clock of an
//! engine built with an optional `clock=` argument (the clock type itself,
//! `DynClock`, is the bindings' shared one).

use pyo3::prelude::*;

use seawall::{Clock, ManualClock as CoreManualClock};
use seawall_bindings_support::duration::{nanos, nanos_to_seconds};
use seawall_bindings_support::DynClock;

use crate::args::non_negative_seconds;

/// The clock named by an optional `clock=` argument: that manual clock, or
/// the production clock.
pub(crate) fn clock_arg(clock: Option<&Bound<'_, ManualClock>>) -> DynClock {
    DynClock::manual_or_quanta(clock.map(|c| &c.get().0))
}

/// A clock that moves only when told to, for testing code that uses
/// breakers (half-open recovery, back-off) without sleeping.
///
/// Pass it as `clock=` to a breaker or to a `Registry`; every breaker given
/// the same clock sees the same time.
#[pyclass(frozen, module = "seawall._native")]
pub struct ManualClock(pub(crate) CoreManualClock);

#[pymethods]
impl ManualClock {
    #[new]
    fn new() -> Self {
        ManualClock(CoreManualClock::new())
    }

    /// Moves the clock forward by `seconds` (a number or a `timedelta`).
    fn advance(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.advance(non_negative_seconds("seconds", seconds)?);
        Ok(())
    }

    /// Sets the clock to `seconds` since its origin, backwards as well as
    /// forwards.
    fn set(&self, seconds: &Bound<'_, PyAny>) -> PyResult<()> {
        self.0.set(nanos(non_negative_seconds("seconds", seconds)?));
        Ok(())
    }

    /// The time in seconds since the clock's origin.
    fn now(&self) -> f64 {
        nanos_to_seconds(self.0.now())
    }

    fn __repr__(&self) -> String {
        format!("ManualClock(now={}s)", self.now())
    }
}
