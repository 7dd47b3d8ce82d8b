//! The distributed breaker handle: its fleet settings, creation, state,
//! metrics, commands and fleet status. Its permits are in `permit.rs`.

use std::ffi::c_char;
use std::time::Duration;

use seawall::ConfigError;
use seawall_bindings_support::DynClock;
use seawall_distributed::{DistributedBreaker, FleetConfig, FleetStatus};

use super::coordinator::seawall_coordinator;
use crate::breaker::{seawall_metrics, seawall_state};
use crate::clock::{clock_arg, seawall_manual_clock};
use crate::config::{
    config_arg, config_error, nanos, seawall_breaker_config, write_default, CConfig,
};
use crate::error::{name_arg, put, run, seawall_result, text_out};
use crate::handle;

/// The breaker type behind every handle.
pub(crate) type CFleetBreaker = DistributedBreaker<DynClock>;

/// A circuit breaker whose OPEN and HALF_OPEN are shared by a fleet of
/// instances through the store of a `seawall_coordinator`, on top of a local
/// breaker that keeps deciding on its own: a call is admitted only if both
/// admit. Calls never wait for the store; while it is unreachable the local
/// breaker decides alone. Reference-counted like `seawall_breaker`; every
/// function taking one is thread-safe.
///
/// Its functions (`seawall_distributed_breaker_*`) mirror the local
/// breaker's, with the same permit, rejection, state and metrics types; a
/// permit is reported on the breaker that issued it
/// (`SEAWALL_RESULT_PERMIT_WRONG_BREAKER` otherwise, local or distributed).
pub struct seawall_distributed_breaker {
    _private: [u8; 0],
}

handle::declare!(seawall_distributed_breaker: CFleetBreaker, Shared, "breaker");

/// How the fleet judges one breaker; open times, trial-call limits and
/// trial expiry come from its local `seawall_breaker_config`. Fill it with
/// `seawall_fleet_config_default` (or `seawall_fleet_config_from_local`)
/// and change the fields you need. Durations are in nanoseconds; for the
/// optional settings 0 means "not set", as in `seawall_breaker_config`.
/// `seawall_distributed_breaker_new` checks every field and returns
/// `SEAWALL_RESULT_INVALID_CONFIG`, with a last error naming the field
/// (`fleet.window_ns`), the value and the allowed range.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_fleet_config {
    /// The span of the fleet window: [10 ms, 1 day], default 10 s.
    pub window_ns: u64,
    /// The window's slices: 1..=100, each at least 1 ms; default 10.
    pub buckets: u32,
    /// The calls the fleet window must hold before the rate rules may fire.
    /// At least 1, default 20.
    pub minimum_calls: u32,
    /// The share of failed calls in the fleet window that trips the fleet:
    /// in (0, 1], default 0.5; 0: no rate rule (then
    /// `failure_count_threshold` must be set).
    pub failure_rate_threshold: f64,
    /// Failures in the fleet window that trip the fleet, whatever the
    /// number of calls: 0 (not set, the default) or at least 1.
    pub failure_count_threshold: u32,
    /// Distinct instances that must have reported failures within the
    /// window before the fleet trips: 0 (the default: 2 when the fleet has
    /// 2 or more live instances, else 1) or at least 1.
    pub min_failing_instances: u32,
    /// Failures since the last flush that make the coordinator flush at
    /// once: 0 (the default: `max(1, minimum_calls / 4)`) or at least 1.
    pub urgent_failures: u32,
    /// The share of slow calls in the fleet window that trips the fleet
    /// (slow as the local `slow_call_duration_ns` says, which it requires):
    /// 0 (not set, the default) or in (0, 1].
    pub slow_call_rate_threshold: f64,
    /// How long the breaker's state lives in the store, refreshed by every
    /// write: 0 (the default: the longest of 1 hour, 10 windows and 10
    /// longest open times), or at least the window and the longest open
    /// time.
    pub state_ttl_ns: u64,
}

/// 0 means "not set".
fn optional<T: Default + PartialEq>(v: T) -> Option<T> {
    (v != T::default()).then_some(v)
}

impl From<&FleetConfig> for seawall_fleet_config {
    fn from(c: &FleetConfig) -> Self {
        Self {
            window_ns: nanos(c.window),
            buckets: c.buckets,
            minimum_calls: c.minimum_calls,
            failure_rate_threshold: c.failure_rate_threshold.unwrap_or(0.0),
            failure_count_threshold: c.failure_count_threshold.unwrap_or(0),
            min_failing_instances: c.min_failing_instances.unwrap_or(0),
            urgent_failures: c.urgent_failures.unwrap_or(0),
            slow_call_rate_threshold: c.slow_call_rate_threshold.unwrap_or(0.0),
            state_ttl_ns: c.state_ttl.map_or(0, nanos),
        }
    }
}

impl CConfig for seawall_fleet_config {
    type Core = FleetConfig;

    /// Every field is checked by the breaker's constructor.
    fn to_core(&self) -> Result<FleetConfig, ConfigError> {
        Ok(FleetConfig {
            window: Duration::from_nanos(self.window_ns),
            buckets: self.buckets,
            minimum_calls: self.minimum_calls,
            failure_rate_threshold: optional(self.failure_rate_threshold),
            failure_count_threshold: optional(self.failure_count_threshold),
            min_failing_instances: optional(self.min_failing_instances),
            urgent_failures: optional(self.urgent_failures),
            slow_call_rate_threshold: optional(self.slow_call_rate_threshold),
            state_ttl: optional(self.state_ttl_ns).map(Duration::from_nanos),
        })
    }
}

/// Fills `*out` with the default fleet settings (a 10 s window in 10
/// slices, a 50% failure rate over at least 20 calls, from 2 instances once
/// the fleet has 2).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_config_default(
    out: *mut seawall_fleet_config,
) -> seawall_result {
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<FleetConfig, _>("seawall_fleet_config_default", out) }
}

/// Fills `*out` with the fleet rules that read like the local configuration
/// `*config`: its `minimum_calls`, its failure rate (0.5 when it has none),
/// count and slow-call rules, and its time window when the fleet accepts
/// it (otherwise 10 s in 10 slices); the rest are the defaults. The
/// distributed breaker of the Python package is judged so.
///
/// # Safety
///
/// `config` is NULL or valid; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_fleet_config_from_local(
    config: *const seawall_breaker_config,
    out: *mut seawall_fleet_config,
) -> seawall_result {
    const F: &str = "seawall_fleet_config_from_local";
    run(F, || {
        let fleet = || {
            // SAFETY: `config` is NULL or valid (this function's contract).
            let local = unsafe { config_arg(config, F) }?;
            Ok((&FleetConfig::from_local(&local)).into())
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { put(out, F, "out", fleet) }
    })
}

/// Creates a distributed breaker called `name` (NUL-terminated UTF-8,
/// copied; shared by every instance using the same name in the
/// coordinator's namespace) from the local configuration `*config` (NULL:
/// the defaults) and the fleet settings `*fleet` (NULL: the defaults), on
/// `coordinator`, and writes its handle to `*out`. `clock` is NULL for the
/// production clock or a manual clock (for tests) read by the local
/// breaker. The breaker keeps the coordinator running; release it with
/// `seawall_distributed_breaker_free`. A name the store's keys cannot hold
/// (empty, over 200 bytes, with '{', '}' or control characters) is
/// `SEAWALL_RESULT_INVALID_ARGUMENT`.
///
/// # Safety
///
/// `name` is NULL or a NUL-terminated string; `config` and `fleet` are
/// NULL or valid; `coordinator` and `clock` are NULL or live handles; `out`
/// is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_new(
    name: *const c_char,
    config: *const seawall_breaker_config,
    fleet: *const seawall_fleet_config,
    coordinator: *const seawall_coordinator,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_distributed_breaker,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_new";
    run(F, || {
        // SAFETY: `name` is NULL or NUL-terminated (this function's
        // contract).
        let name = unsafe { name_arg(name, F, "name") }?;
        // SAFETY: `coordinator` and `clock` are NULL or live handles (this
        // function's contract).
        let coordinator = unsafe { handle::borrow(coordinator, F) }?;
        // SAFETY: as above.
        let clock = unsafe { clock_arg(clock, F) }?;
        let make = || {
            // SAFETY: `config` and `fleet` are NULL or valid (this
            // function's contract).
            let config = unsafe { config_arg(config, F) }?;
            // The local settings first, so that a field both structs have
            // (`minimum_calls`) is named for the right one.
            config.validate().map_err(|e| config_error(F, &e))?;
            // SAFETY: as above.
            let fleet = unsafe { super::fleet_arg(fleet, F) }?;
            DistributedBreaker::with_clock(name, config, fleet, coordinator, clock)
                .map_err(|e| super::build_error(F, e, super::fleet_config_error))
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, make) }
    })
}

/// Writes a new handle to the same breaker to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_clone(
    breaker: *const seawall_distributed_breaker,
    out: *mut *const seawall_distributed_breaker,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_distributed_breaker_clone", breaker, out) }
}

/// Releases one handle; the last one stops the breaker's reports to the
/// fleet. `NULL` is a no-op.
///
/// # Safety
///
/// `breaker` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_free(
    breaker: *const seawall_distributed_breaker,
) {
    // SAFETY: `breaker` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_distributed_breaker_free", breaker) }
}

/// Copies the breaker's name into `buf`, as `seawall_breaker_name` does.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `buf` is NULL or valid for `len`
/// bytes; `out_len` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_name(
    breaker: *const seawall_distributed_breaker,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_name";
    run(F, || {
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = unsafe { handle::borrow(breaker, F) }?;
        // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
        // valid for a write (this function's contract).
        unsafe { text_out(F, "name", b.name(), buf, len, out_len) }
    })
}

/// Writes the local configuration the breaker was built with to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_get_config(
    breaker: *const seawall_distributed_breaker,
    out: *mut seawall_breaker_config,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_get_config";
    let f = |b: &CFleetBreaker| b.config().into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, breaker, out, "out", f) }
}

/// Writes the effective state to `*out_state`: a forced local state (an
/// operator's command) wins; otherwise the stricter of the fleet's and the
/// local one.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out_state` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_state(
    breaker: *const seawall_distributed_breaker,
    out_state: *mut seawall_state,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_state";
    let f = |b: &CFleetBreaker| b.state().into();
    // SAFETY: `breaker` is NULL or a live handle, `out_state` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, breaker, out_state, "out_state", f) }
}

/// Writes the local breaker's metrics to `*out`, with the effective state
/// and the calls the fleet rejected added to `rejected`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_metrics(
    breaker: *const seawall_distributed_breaker,
    out: *mut seawall_metrics,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_metrics";
    let f = |b: &CFleetBreaker| (&b.metrics()).into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, breaker, out, "out", f) }
}

/// The body of the commands: `f` on the breaker behind `breaker`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
unsafe fn command(
    func: &'static str,
    breaker: *const seawall_distributed_breaker,
    f: fn(&CFleetBreaker),
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (the caller's contract).
    unsafe { handle::command(func, breaker, f) }
}

/// Opens the breaker here at once and across the fleet (an operator's
/// action) until `seawall_distributed_breaker_reset` or `_force_closed`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_force_open(
    breaker: *const seawall_distributed_breaker,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_force_open";
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe { command(F, breaker, CFleetBreaker::force_open) }
}

/// Admits every call here at once and across the fleet until
/// `seawall_distributed_breaker_reset` or `_force_open`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_force_closed(
    breaker: *const seawall_distributed_breaker,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_force_closed";
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe { command(F, breaker, CFleetBreaker::force_closed) }
}

/// Closes the breaker here at once and across the fleet, with no failures
/// counted and no back-off.
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_reset(
    breaker: *const seawall_distributed_breaker,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_reset";
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe { command(F, breaker, CFleetBreaker::reset) }
}

/// Clears the local breaker's metrics and the count of calls the fleet
/// rejected (not the fleet's counts, nor the state).
///
/// # Safety
///
/// `breaker` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_clear_metrics(
    breaker: *const seawall_distributed_breaker,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_clear_metrics";
    // SAFETY: `breaker` is NULL or a live handle (this function's contract).
    unsafe { command(F, breaker, CFleetBreaker::clear_metrics) }
}

/// What an instance knows of the fleet side of a breaker, for monitoring
/// (the window counts as of the last flush). The epoch is text:
/// `seawall_distributed_breaker_fleet_epoch`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_fleet_status {
    /// The fleet state last learned (CLOSED before anything is known).
    pub state: seawall_state,
    /// True while the store is unreachable: the local breaker decides.
    pub degraded: bool,
    /// The state's generation within its epoch.
    pub generation: u64,
    /// Successes in the fleet window.
    pub window_successes: u64,
    /// Failures in the fleet window.
    pub window_failures: u64,
    /// Distinct instances with failures in the window.
    pub failing_instances: u64,
    /// Instances that reported recently.
    pub live_instances: u64,
    /// Calls the fleet rejected here (not counted by the local breaker).
    pub rejected: u64,
    /// Flushes of outcome counts sent.
    pub flushes: u64,
    /// Fleet trial permits leased to this instance.
    pub trials_granted: u64,
    /// Trial results the store ignored as belonging to an older generation.
    pub fenced: u64,
    /// Flushes that found another instance's settings stored for this
    /// breaker: the fleet disagrees on its configuration (a rolling deploy,
    /// or a mistake).
    pub config_conflicts: u64,
}

impl From<&FleetStatus> for seawall_fleet_status {
    fn from(s: &FleetStatus) -> Self {
        Self {
            state: s.state.into(),
            degraded: s.degraded,
            generation: s.generation,
            window_successes: s.window_successes,
            window_failures: s.window_failures,
            failing_instances: s.failing_instances,
            live_instances: s.live_instances,
            rejected: s.rejected,
            flushes: s.flushes,
            trials_granted: s.trials_granted,
            fenced: s.fenced,
            config_conflicts: s.config_conflicts,
        }
    }
}

/// Writes what this instance knows of the fleet to `*out`.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_fleet_status(
    breaker: *const seawall_distributed_breaker,
    out: *mut seawall_fleet_status,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_fleet_status";
    let f = |b: &CFleetBreaker| (&b.fleet()).into();
    // SAFETY: `breaker` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, breaker, out, "out", f) }
}

/// Copies the fleet state's epoch into `buf`, as `seawall_breaker_name`
/// does: renamed whenever the store lost the state (a restart without
/// persistence, a flush, expiry); empty while none is known.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `buf` is NULL or valid for `len`
/// bytes; `out_len` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_fleet_epoch(
    breaker: *const seawall_distributed_breaker,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_fleet_epoch";
    run(F, || {
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = unsafe { handle::borrow(breaker, F) }?;
        let epoch = b.fleet().epoch;
        // SAFETY: `buf` is NULL or valid for `len` bytes, `out_len` NULL or
        // valid for a write (this function's contract).
        unsafe { text_out(F, "epoch", &epoch, buf, len, out_len) }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_settings_round_trip_through_the_c_struct() {
        let d = FleetConfig::default();
        let c = seawall_fleet_config::from(&d);
        assert_eq!(
            (c.window_ns, c.buckets, c.minimum_calls),
            (10_000_000_000, 10, 20)
        );
        assert_eq!(c.failure_rate_threshold, 0.5);
        assert_eq!(c.to_core().unwrap(), d);
        let every = FleetConfig {
            window: Duration::from_secs(3),
            buckets: 3,
            minimum_calls: 4,
            failure_rate_threshold: None,
            failure_count_threshold: Some(5),
            min_failing_instances: Some(1),
            urgent_failures: Some(2),
            slow_call_rate_threshold: Some(0.25),
            state_ttl: Some(Duration::from_secs(7200)),
        };
        let c = seawall_fleet_config::from(&every);
        assert_eq!(c.failure_rate_threshold, 0.0, "not set");
        assert_eq!(c.to_core().unwrap(), every);
    }
}
