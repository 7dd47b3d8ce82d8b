//! The adaptive throttler handle: client-side throttling (Google SRE
//! book), lowest priority shed first. The rule is the core's
//! (`seawall::throttle`).

use std::time::Duration;

use seawall::{
    AdaptiveThrottler, ConfigError, Priority, SeededRandom, ThreadRandom, ThrottleConfig,
};
use seawall_bindings_support::DynClock;

use crate::clock::seawall_manual_clock;
use crate::config::{nanos, new_engine, write_default, CConfig};
use crate::error::{run, seawall_result, Error};
use crate::handle;

/// The throttler type behind every handle.
pub(crate) type CThrottler = AdaptiveThrottler<DynClock>;

/// An adaptive throttler: refuses calls locally, with probability
/// `min(max_rejection_probability, max(0, (requests - K_p * accepts) /
/// (requests + 1)))` over the last `window_ns`, where `K_p = 1 + (k - 1) *
/// w_p` and `w_p` is 2, 1.5, 1 or 0.5 for the priorities critical, high,
/// normal and low. A local refusal counts as a request. Reference-counted
/// like `seawall_breaker`; every function taking one is thread-safe and
/// lock-free.
pub struct seawall_throttler {
    _private: [u8; 0],
}

handle::declare!(seawall_throttler: CThrottler, Shared, "throttler");

/// How important a call is; lower priorities are shed first. Passed as a
/// number, so that an unknown one is reported as
/// `SEAWALL_RESULT_INVALID_ARGUMENT`.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_priority {
    /// Shed last: `K_p = 1 + 2 (k - 1)`.
    Critical = 0,
    /// `K_p = 1 + 1.5 (k - 1)`.
    High = 1,
    /// `K_p = k`.
    Normal = 2,
    /// Shed first: `K_p = 1 + 0.5 (k - 1)`.
    Low = 3,
}

/// How a throttler sheds load. Fill it with
/// `seawall_throttler_config_default` and change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_throttler_config {
    /// The multiplier `K` of a normal call: calls are shed once the
    /// requests pass `K` times the accepts. [1, 1000], default 2.
    pub k: f64,
    /// The highest probability of refusing a call. [0, 1], default 1.
    pub max_rejection_probability: f64,
    /// The span of recent requests judged, in nanoseconds. [10 ms, 1
    /// year], default 120 s.
    pub window_ns: u64,
}

impl From<&ThrottleConfig> for seawall_throttler_config {
    fn from(c: &ThrottleConfig) -> Self {
        Self {
            k: c.k,
            max_rejection_probability: c.max_rejection_probability,
            window_ns: nanos(c.window),
        }
    }
}

impl CConfig for seawall_throttler_config {
    type Core = ThrottleConfig;

    fn to_core(&self) -> Result<ThrottleConfig, ConfigError> {
        Ok(ThrottleConfig {
            k: self.k,
            window: Duration::from_nanos(self.window_ns),
            max_rejection_probability: self.max_rejection_probability,
        })
    }
}

/// A snapshot of a throttler.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_throttler_metrics {
    /// Requests in the window (calls recorded and calls refused locally).
    pub requests: u64,
    /// Requests in the window that the backend accepted.
    pub accepts: u64,
    /// Calls refused locally since the throttler was made.
    pub throttled: u64,
    /// The probability a normal call is refused now.
    pub rejection_probability: f64,
}

/// The core's priority numbered `p`.
fn priority(func: &'static str, p: u32) -> Result<Priority, Error> {
    Priority::ALL
        .get(p as usize)
        .copied()
        .ok_or_else(|| Error::argument(func, "priority", p, "a seawall_priority (0..=3)"))
}

/// Fills `*out` with the default configuration (`k` 2, a 120 s window, no
/// cap).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_config_default(
    out: *mut seawall_throttler_config,
) -> seawall_result {
    const F: &str = "seawall_throttler_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<ThrottleConfig, _>(F, out) }
}

/// Creates a throttler from `*config` (NULL for the defaults), with an
/// empty window, drawing unseeded thread-local numbers, and writes its
/// handle to `*out`. `clock` is NULL for the production clock or a manual
/// clock. Release it with `seawall_throttler_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_new(
    config: *const seawall_throttler_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_throttler,
) -> seawall_result {
    const F: &str = "seawall_throttler_new";
    let build = |c, clock| AdaptiveThrottler::with_clock_and_random(c, clock, ThreadRandom);
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, build) }
}

/// As `seawall_throttler_new`, drawing from a generator seeded with `seed`
/// (every value is a seed): the same config, seed and sequence of calls on
/// a manual clock give the same decisions, from run to run.
///
/// # Safety
///
/// As `seawall_throttler_new`.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_new_seeded(
    config: *const seawall_throttler_config,
    clock: *const seawall_manual_clock,
    seed: u64,
    out: *mut *const seawall_throttler,
) -> seawall_result {
    const F: &str = "seawall_throttler_new_seeded";
    let build =
        |c, clock| AdaptiveThrottler::with_clock_and_random(c, clock, SeededRandom::new(seed));
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, build) }
}

/// Writes a new handle to the same throttler to `*out`.
///
/// # Safety
///
/// `throttler` is NULL or a live handle; `out` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_clone(
    throttler: *const seawall_throttler,
    out: *mut *const seawall_throttler,
) -> seawall_result {
    // SAFETY: `throttler` is NULL or a live handle, `out` NULL or valid for
    // a write (this function's contract).
    unsafe { handle::clone_handle("seawall_throttler_clone", throttler, out) }
}

/// Releases one throttler handle. `NULL` is a no-op.
///
/// # Safety
///
/// `throttler` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_free(throttler: *const seawall_throttler) {
    // SAFETY: `throttler` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_throttler_free", throttler) }
}

/// Asks to send a call of `priority` (a `seawall_priority`) and writes the
/// answer to `*out_refused_with`: 0.0 when admitted (send it, then report
/// its outcome with `seawall_throttler_record`), else the probability it
/// was refused with (do not send it; the refusal is counted as a request).
///
/// # Safety
///
/// `throttler` is NULL or a live handle; `out_refused_with` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_check(
    throttler: *const seawall_throttler,
    priority: u32,
    out_refused_with: *mut f64,
) -> seawall_result {
    const F: &str = "seawall_throttler_check";
    run(F, || {
        // SAFETY: `throttler` is NULL or a live handle (this function's
        // contract).
        let t: &CThrottler = unsafe { handle::borrow(throttler, F) }?;
        let p = self::priority(F, priority)?;
        // SAFETY: `out_refused_with` is NULL or valid for a write (this
        // function's contract); `put` checks it before the check is made.
        unsafe {
            crate::error::put(out_refused_with, F, "out_refused_with", || {
                Ok(match t.check(p) {
                    // The permit's only effect is its record, made by
                    // `seawall_throttler_record`.
                    Ok(_permit) => 0.0,
                    Err(refused) => refused.probability,
                })
            })
        }
    })
}

/// Counts a call that was sent: one request, and one accept when the
/// backend `accepted` it (a refusal for overload, such as HTTP 429 or 503,
/// is not an accept).
///
/// # Safety
///
/// `throttler` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_record(
    throttler: *const seawall_throttler,
    accepted: bool,
) -> seawall_result {
    let f = |t: &CThrottler| t.record(accepted);
    // SAFETY: `throttler` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_throttler_record", throttler, f) }
}

/// Writes the probability a call of `priority` is refused now to
/// `*out_probability`.
///
/// # Safety
///
/// `throttler` is NULL or a live handle; `out_probability` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_rejection_probability(
    throttler: *const seawall_throttler,
    priority: u32,
    out_probability: *mut f64,
) -> seawall_result {
    const F: &str = "seawall_throttler_rejection_probability";
    run(F, || {
        // SAFETY: `throttler` is NULL or a live handle (this function's
        // contract).
        let t: &CThrottler = unsafe { handle::borrow(throttler, F) }?;
        let p = self::priority(F, priority)?;
        // SAFETY: `out_probability` is NULL or valid for a write (this
        // function's contract).
        unsafe {
            crate::error::put(out_probability, F, "out_probability", || {
                Ok(t.rejection_probability(p))
            })
        }
    })
}

/// Writes the window's counts, the calls refused so far and the
/// probability now for a normal call to `*out`.
///
/// # Safety
///
/// `throttler` is NULL or a live handle; `out` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_get_metrics(
    throttler: *const seawall_throttler,
    out: *mut seawall_throttler_metrics,
) -> seawall_result {
    let f = |t: &CThrottler| {
        let m = t.metrics();
        seawall_throttler_metrics {
            requests: m.requests,
            accepts: m.accepts,
            throttled: m.throttled,
            rejection_probability: m.rejection_probability,
        }
    };
    // SAFETY: `throttler` is NULL or a live handle, `out` NULL or valid for
    // a write (this function's contract).
    unsafe { handle::get("seawall_throttler_get_metrics", throttler, out, "out", f) }
}

/// Empties the window. Exact only while no other thread uses the
/// throttler.
///
/// # Safety
///
/// `throttler` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_throttler_reset(
    throttler: *const seawall_throttler,
) -> seawall_result {
    let f = CThrottler::reset;
    // SAFETY: `throttler` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_throttler_reset", throttler, f) }
}
