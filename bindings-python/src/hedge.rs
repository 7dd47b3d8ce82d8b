//! Hedging (the core's `Hedge` and `HedgeCall`): the policy shared by the
//! calls to one dependency, and one call's state machine, which the
//! asyncio driver in `python/seawall/hedge.py` asks when to start extra
//! attempts and which attempt won.

use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyDict;

use seawall::{
    Hedge as CoreHedge, HedgeCall as CoreHedgeCall, HedgeConfig, HedgeDecision, Resolution,
    RetryBudget as CoreRetryBudget, RetryBudgetConfig,
};
use seawall_bindings_support::DynClock;

use crate::args::{core_u32, non_negative_seconds, number, validated, value_error};
use crate::clock::{clock_arg, ManualClock};
use crate::retry::RetryBudget;

type Shared = Arc<CoreHedge<DynClock>>;

/// The hedging policy: the delay before each extra attempt (fixed, or a
/// quantile of recent latencies), `max_hedges`, and the retry budget every
/// extra attempt is drawn from (a default one of its own when `budget` is
/// `None`). `quantile=None`: the fixed `delay`.
#[pyclass(frozen, module = "seawall._native")]
pub struct Hedge(Shared);

#[pymethods]
impl Hedge {
    #[new]
    #[pyo3(signature = (max_hedges, delay, quantile, min_delay, max_delay, window, min_samples, *, name = "default", budget = None, clock = None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        max_hedges: &Bound<'_, PyAny>,
        delay: &Bound<'_, PyAny>,
        quantile: Option<&Bound<'_, PyAny>>,
        min_delay: &Bound<'_, PyAny>,
        max_delay: &Bound<'_, PyAny>,
        window: &Bound<'_, PyAny>,
        min_samples: &Bound<'_, PyAny>,
        name: &str,
        budget: Option<&Bound<'_, RetryBudget>>,
        clock: Option<&Bound<'_, ManualClock>>,
    ) -> PyResult<Self> {
        let mut given = Vec::new();
        let config = HedgeConfig {
            max_hedges: core_u32("max_hedges", max_hedges, &mut given)?,
            delay: non_negative_seconds("delay", delay)?,
            quantile: quantile.map(|q| number("quantile", q)).transpose()?,
            min_delay: non_negative_seconds("min_delay", min_delay)?,
            max_delay: non_negative_seconds("max_delay", max_delay)?,
            window: non_negative_seconds("window", window)?,
            min_samples: core_u32("min_samples", min_samples, &mut given)?,
        };
        let clock = clock_arg(clock);
        let budget = match budget {
            Some(b) => Arc::clone(&b.get().0),
            None => Arc::new(
                CoreRetryBudget::with_clock(RetryBudgetConfig::default(), clock.clone())
                    .expect("the default budget is valid"),
            ),
        };
        let hedge = Arc::new(validated(
            CoreHedge::with_clock(config, budget, clock),
            &given,
        )?);
        crate::telemetry::hedge(name, &hedge);
        Ok(Hedge(hedge))
    }

    /// Starts a call whose first attempt starts now. `idempotent`: whether
    /// it may be hedged at all; `record_first`: count the first attempt in
    /// the budget (not when a retry layer sharing the budget did).
    fn start(&self, idempotent: bool, record_first: bool) -> HedgeCall {
        let now = self.0.now();
        HedgeCall(CoreHedgeCall::new(
            Arc::clone(&self.0),
            now,
            idempotent,
            record_first,
        ))
    }

    /// The delay, in seconds, a call starting now would use.
    fn delay(&self) -> f64 {
        self.0.delay(self.0.now()).as_secs_f64()
    }

    /// `{"calls", "hedges", "refused", "wins"}` (as in
    /// `seawall.snapshot()`).
    fn metrics<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        crate::telemetry::hedge_dict(py, &self.0.metrics())
    }
}

/// One hedged call (the core's `HedgeCall`).
#[pyclass(frozen, module = "seawall._native")]
pub struct HedgeCall(CoreHedgeCall<Shared>);

#[pymethods]
impl HedgeCall {
    /// Seconds until the next extra attempt is due (0.0: now), or `None`
    /// when none will be started.
    fn next_delay(&self) -> Option<f64> {
        self.0
            .next_delay(self.0.hedge().now())
            .map(|d| d.as_secs_f64())
    }

    /// The number of the extra attempt to start now, the seconds to wait
    /// first (a `float`), or `None`: no more (the budget refused, or none
    /// is left).
    fn may_hedge(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let now = self.0.hedge().now();
        Ok(match self.0.may_hedge(now) {
            HedgeDecision::Start(n) => n.into_pyobject(py)?.into_any().unbind(),
            HedgeDecision::Wait(d) => d.as_secs_f64().into_pyobject(py)?.into_any().unbind(),
            HedgeDecision::Refused | HedgeDecision::Done | HedgeDecision::AllFailed => py.None(),
        })
    }

    /// Attempt `attempt` ended, well (`ok`) or not: `"won"`, `"lost"`,
    /// `"pending"` or `"failed"` (see the core's `Resolution`); an attempt
    /// never started, or reported already, raises `ValueError`.
    fn record(&self, attempt: u32, ok: bool) -> PyResult<&'static str> {
        let now = self.0.hedge().now();
        Ok(match self.0.record_attempt_result(attempt, now, ok) {
            Resolution::Won => "won",
            Resolution::Lost => "lost",
            Resolution::Pending => "pending",
            Resolution::Failed => "failed",
            Resolution::Invalid => {
                return Err(value_error(
                    "attempt",
                    attempt,
                    "an attempt this call started and has not reported yet",
                ))
            }
        })
    }

    /// Attempts started, the first one included.
    fn attempts(&self) -> u32 {
        self.0.attempts()
    }
}
