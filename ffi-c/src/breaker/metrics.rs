//! A breaker's metrics as a C struct.

use crate::config::nanos;
use seawall::Metrics;

use super::{seawall_breaker, seawall_state, CBreaker};
use crate::error::seawall_result;
use crate::handle;

/// A snapshot of a breaker's books. Once the calls that produced it are
/// complete, `permitted == successes + failures + ignored + late` plus the
/// permits still outstanding.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_metrics {
    /// The state, as `seawall_breaker_state` reads it.
    pub state: seawall_state,
    /// Consecutive failures counted toward the trip (CLOSED only, else 0).
    pub consecutive_failures: u32,
    /// Trial successes counted toward closing (HALF_OPEN only, else 0).
    pub trial_successes: u32,
    /// Trial permits outstanding (HALF_OPEN only, else 0).
    pub trial_calls_in_flight: u32,
    /// Permits issued.
    pub permitted: u64,
    /// Successes reported in the episode that issued their permit.
    pub successes: u64,
    /// Failures reported in the episode that issued their permit.
    pub failures: u64,
    /// Neutral outcomes reported in the episode that issued their permit.
    pub ignored: u64,
    /// Outcomes of any kind that arrived after the episode that issued
    /// their permit had ended: counted here only, never toward a decision.
    pub late: u64,
    /// Calls rejected.
    pub rejected: u64,
    /// Successes and failures whose call lasted at least
    /// `slow_call_duration_ns`.
    pub slow_calls: u64,
    /// Whether a window is configured; the `window_*` counts are 0 if not.
    pub has_window: bool,
    /// Successful calls in the window.
    pub window_successes: u64,
    /// Failed calls in the window.
    pub window_failures: u64,
    /// Slow calls (successful or failed) in the window.
    pub window_slow_calls: u64,
    /// Neutral outcomes in the window.
    pub window_ignored: u64,
    /// Entries into CLOSED (trials succeeded, or a reset).
    pub to_closed: u64,
    /// Entries into OPEN (trips and failed trials).
    pub to_open: u64,
    /// Entries into HALF_OPEN.
    pub to_half_open: u64,
    /// Entries into FORCED_OPEN.
    pub to_forced_open: u64,
    /// Entries into FORCED_CLOSED.
    pub to_forced_closed: u64,
    /// Nanoseconds since the last transition (or since creation).
    pub time_in_state_ns: u64,
}

impl From<&Metrics> for seawall_metrics {
    fn from(m: &Metrics) -> Self {
        let w = m.window.unwrap_or_default();
        Self {
            state: m.state.into(),
            consecutive_failures: m.consecutive_failures,
            trial_successes: m.trial_successes,
            trial_calls_in_flight: m.trial_calls_in_flight,
            permitted: m.permitted,
            successes: m.successes,
            failures: m.failures,
            ignored: m.ignored,
            late: m.late,
            rejected: m.rejected,
            slow_calls: m.slow_calls,
            has_window: m.window.is_some(),
            window_successes: w.successes,
            window_failures: w.failures,
            window_slow_calls: w.slow_calls,
            window_ignored: w.ignored,
            to_closed: m.transitions.to_closed,
            to_open: m.transitions.to_open,
            to_half_open: m.transitions.to_half_open,
            to_forced_open: m.transitions.to_forced_open,
            to_forced_closed: m.transitions.to_forced_closed,
            time_in_state_ns: nanos(m.time_in_state),
        }
    }
}

/// Writes a snapshot of the breaker's metrics to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_breaker_metrics(
    breaker: *const seawall_breaker,
    out: *mut seawall_metrics,
) -> seawall_result {
    let f = |b: &CBreaker| (&b.metrics()).into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_breaker_metrics", breaker, out, "out", f) }
}
