//! The adaptive limiter handle: a bound on the calls in flight learnt from
//! their latency and errors, through paired acquire/release calls (the
//! release reports how the call went).

use std::time::Duration;

use seawall::{
    AdaptiveLimiter, AdaptiveLimiterConfig, AdaptiveLimiterMetrics, AdaptiveTicket, ConfigError,
    LimitAlgorithm,
};
use seawall_bindings_support::DynClock;

use crate::breaker::permit::outcome_arg;
use crate::clock::{seawall_manual_clock, seawall_timing, timing_of};
use crate::config::{nanos, new_engine, unknown_enum, write_default, CConfig};
use crate::error::{check, fail, run, run_code, seawall_result, Error};
use crate::handle;

/// The limiter type behind every handle.
type CLimiter = AdaptiveLimiter<DynClock>;

/// `seawall_adaptive_limiter_permit.status` of a permit written by an acquire.
const ISSUED: u32 = 0x5EA7_A001;
/// `seawall_adaptive_limiter_permit.status` after its one release.
const RELEASED: u32 = 0x5EA7_A002;

/// An adaptive concurrency limiter: at most `limit` calls in flight, the
/// limit learnt from the calls' latency and errors within `[min_limit,
/// max_limit]`. Reference-counted like `seawall_bulkhead`; every function
/// taking one is thread-safe.
pub struct seawall_adaptive_limiter {
    _private: [u8; 0],
}

handle::declare!(seawall_adaptive_limiter: CLimiter, Shared, "limiter");

/// How an adaptive limiter learns its limit
/// (`seawall_adaptive_limiter_config.algorithm`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_limit_algorithm {
    /// Additive increase on success near the limit, multiplicative decrease
    /// (`backoff_ratio`) on a failure or a call slower than
    /// `latency_threshold_ns`, on every call.
    Aimd = 0,
    /// Netflix's Gradient2: the limit follows the ratio of the long-term to
    /// the short-term average latency, per window of at least `window_ns`
    /// and `window_calls` calls.
    Gradient = 1,
}

/// How an adaptive limiter learns its limit. Fill it with
/// `seawall_adaptive_limiter_config_default` and change the fields you
/// need. The AIMD fields are read by `SEAWALL_LIMIT_ALGORITHM_AIMD` only,
/// the gradient fields by `SEAWALL_LIMIT_ALGORITHM_GRADIENT` only.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_adaptive_limiter_config {
    /// A `seawall_limit_algorithm` (as a number, so that an unknown one is
    /// reported as `SEAWALL_RESULT_INVALID_CONFIG`); default
    /// `SEAWALL_LIMIT_ALGORITHM_GRADIENT`.
    pub algorithm: u32,
    /// The limit before any call. [min_limit, max_limit], default 20.
    pub initial_limit: u32,
    /// The floor. [1, max_limit], default 1.
    pub min_limit: u32,
    /// The ceiling. [min_limit, 16777215], default 200.
    pub max_limit: u32,
    /// AIMD: the factor a drop multiplies the limit by. (0, 1), default 0.9.
    pub backoff_ratio: f64,
    /// AIMD: a call slower than this, in nanoseconds, counts as a drop.
    /// [0, 1 year], default 5 s.
    pub latency_threshold_ns: u64,
    /// Gradient: how much slower than the long-term average the short-term
    /// one may be before the limit shrinks. [1, 100], default 1.5.
    pub tolerance: f64,
    /// Gradient: the weight of a window's new limit. (0, 1], default 0.2.
    pub smoothing: f64,
    /// Gradient: head-room added to `limit * gradient`. [0, 16777215],
    /// default 4.
    pub queue_size: f64,
    /// Gradient: the long-term average's span, in windows. 1..=UINT32_MAX,
    /// default 600.
    pub long_window: u32,
    /// Gradient: the fewest calls in a window. [1, 65535], default 10.
    pub window_calls: u32,
    /// Gradient: the shortest window, in nanoseconds. [0, 1 year],
    /// default 1 s.
    pub window_ns: u64,
    /// A `seawall_timing`, the clock reading an admission records as its
    /// call's start: `SEAWALL_TIMING_EXACT` (default) or
    /// `SEAWALL_TIMING_RECENT`, which spares each admission the hardware
    /// counter read; latencies the limiter measures itself (a release
    /// without a latency) are then off by less than 1 ms either way. As a
    /// number, so that an unknown one is reported as
    /// `SEAWALL_RESULT_INVALID_CONFIG`.
    pub timing: u32,
}

crate::config::mirror_enum!(LimitAlgorithm => seawall_limit_algorithm { Aimd, Gradient });

impl From<&AdaptiveLimiterConfig> for seawall_adaptive_limiter_config {
    fn from(c: &AdaptiveLimiterConfig) -> Self {
        Self {
            algorithm: seawall_limit_algorithm::from(c.algorithm) as u32,
            initial_limit: c.initial_limit,
            min_limit: c.min_limit,
            max_limit: c.max_limit,
            backoff_ratio: c.backoff_ratio,
            latency_threshold_ns: nanos(c.latency_threshold),
            tolerance: c.tolerance,
            smoothing: c.smoothing,
            queue_size: c.queue_size,
            long_window: c.long_window,
            window_calls: c.window_calls,
            window_ns: nanos(c.window),
            timing: seawall_timing::from(c.timing) as u32,
        }
    }
}

impl CConfig for seawall_adaptive_limiter_config {
    type Core = AdaptiveLimiterConfig;

    fn to_core(&self) -> Result<AdaptiveLimiterConfig, ConfigError> {
        let c = self;
        let algorithm = match c.algorithm {
            a if a == seawall_limit_algorithm::Aimd as u32 => LimitAlgorithm::Aimd,
            a if a == seawall_limit_algorithm::Gradient as u32 => LimitAlgorithm::Gradient,
            a => {
                return Err(unknown_enum(
                    "algorithm",
                    a,
                    "one of SEAWALL_LIMIT_ALGORITHM_AIMD (0), _GRADIENT (1)",
                ))
            }
        };
        Ok(AdaptiveLimiterConfig {
            algorithm,
            initial_limit: c.initial_limit,
            min_limit: c.min_limit,
            max_limit: c.max_limit,
            backoff_ratio: c.backoff_ratio,
            latency_threshold: Duration::from_nanos(c.latency_threshold_ns),
            tolerance: c.tolerance,
            smoothing: c.smoothing,
            queue_size: c.queue_size,
            long_window: c.long_window,
            window_calls: c.window_calls,
            window: Duration::from_nanos(c.window_ns),
            timing: timing_of(c.timing)?,
        })
    }
}

/// One slot of an adaptive limiter, written by a successful acquire.
/// Release it exactly once with `seawall_adaptive_limiter_release` (or
/// `_release_latency`) on the limiter that issued it; the release marks it,
/// so releasing the same struct again returns
/// `SEAWALL_RESULT_PERMIT_ALREADY_RELEASED`. Do not copy permits. A permit
/// never released keeps its slot taken for the limiter's lifetime. Treat
/// the fields as opaque.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_adaptive_limiter_permit {
    /// The address of the limiter that issued it.
    pub owner: usize,
    /// Issued or released (internal magic numbers; 0 is "never issued").
    pub status: u32,
    /// Calls in flight just after the admission (this one included).
    pub in_flight: u32,
    /// The admission's time on the limiter's clock, in nanoseconds.
    pub started_ns: u64,
}

/// A snapshot of an adaptive limiter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct seawall_adaptive_metrics {
    /// Calls admitted at once now (the learnt limit, rounded down).
    pub limit: u32,
    /// Calls holding a permit now.
    pub in_flight: u32,
    /// Calls admitted so far (modulo 2^40).
    pub admitted: u64,
    /// Calls refused so far.
    pub rejected: u64,
}

impl From<AdaptiveLimiterMetrics> for seawall_adaptive_metrics {
    fn from(m: AdaptiveLimiterMetrics) -> Self {
        Self {
            limit: m.limit,
            in_flight: m.in_flight,
            admitted: m.admitted,
            rejected: m.rejected,
        }
    }
}

/// Fills `*out` with the default configuration (gradient, limit 20 within
/// [1, 200]).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_config_default(
    out: *mut seawall_adaptive_limiter_config,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<AdaptiveLimiterConfig, _>(F, out) }
}

/// Creates an adaptive limiter from `*config` (NULL for the defaults) and
/// writes its handle to `*out`. `clock` is NULL for the production clock or
/// a manual clock (for tests: calls are timed on it). Release it with
/// `seawall_adaptive_limiter_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_new(
    config: *const seawall_adaptive_limiter_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_adaptive_limiter,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_new";
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, AdaptiveLimiter::with_clock) }
}

/// Writes a new handle to the same limiter to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_clone(
    limiter: *const seawall_adaptive_limiter,
    out: *mut *const seawall_adaptive_limiter,
) -> seawall_result {
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_adaptive_limiter_clone", limiter, out) }
}

/// Releases one limiter handle. `NULL` is a no-op.
///
/// # Safety
///
/// `limiter` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_free(limiter: *const seawall_adaptive_limiter) {
    // SAFETY: `limiter` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_adaptive_limiter_free", limiter) }
}

/// Takes a slot if the calls in flight are below the limit, never waiting:
/// `SEAWALL_RESULT_OK` with `*out_permit` written, or
/// `SEAWALL_RESULT_BULKHEAD_FULL` (an answer, the last error is left
/// alone). Release the permit with `seawall_adaptive_limiter_release`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_permit` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_try_acquire(
    limiter: *const seawall_adaptive_limiter,
    out_permit: *mut seawall_adaptive_limiter_permit,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_try_acquire";
    run_code(F, || {
        // SAFETY: `limiter` is NULL or a live handle (this function's
        // contract).
        let l = match unsafe { handle::borrow(limiter, F) } {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        if let Err(e) = check(out_permit, F, "out_permit") {
            return fail(e);
        }
        match l.try_acquire() {
            Ok(p) => {
                let t = p.detach();
                let token = seawall_adaptive_limiter_permit {
                    owner: std::ptr::from_ref(l) as usize,
                    status: ISSUED,
                    in_flight: t.in_flight,
                    started_ns: t.started,
                };
                // SAFETY: checked non-NULL and aligned above; valid for a
                // write by the contract.
                unsafe { out_permit.write(token) };
                seawall_result::Ok
            }
            Err(_) => seawall_result::BulkheadFull,
        }
    })
}

/// The body of the releases: checks the permit, marks it released, frees
/// its slot and applies the sample.
///
/// # Safety
///
/// As the exported releases.
unsafe fn release_with(
    func: &'static str,
    limiter: *const seawall_adaptive_limiter,
    permit: *mut seawall_adaptive_limiter_permit,
    outcome: u32,
    latency: Option<Duration>,
) -> seawall_result {
    run(func, || {
        // SAFETY: `limiter` is NULL or a live handle (the caller's
        // contract).
        let l = unsafe { handle::borrow(limiter, func) }?;
        check(permit, func, "permit")?;
        let outcome = outcome_arg(func, outcome)?;
        // SAFETY: checked non-NULL and aligned; valid and not shared by the
        // contract.
        let p = unsafe { &mut *permit };
        match p.status {
            ISSUED => {}
            RELEASED => {
                return Err(Error::new(
                    seawall_result::PermitAlreadyReleased,
                    format!("{func}: the permit was already released"),
                ))
            }
            _ => {
                return Err(Error::new(
                    seawall_result::PermitNotIssued,
                    format!("{func}: the permit was never issued by a successful acquire"),
                ))
            }
        }
        if p.owner != std::ptr::from_ref(l) as usize {
            return Err(Error::new(
                seawall_result::PermitWrongBulkhead,
                format!("{func}: the permit was issued by another adaptive limiter"),
            ));
        }
        p.status = RELEASED;
        let ticket = AdaptiveTicket {
            started: p.started_ns,
            in_flight: p.in_flight,
        };
        if l.complete(ticket, outcome, latency) {
            Ok(())
        } else {
            // Only a copy of an already released permit gets here.
            Err(Error::new(
                seawall_result::PermitAlreadyReleased,
                format!("{func}: no call is in flight (a copy of this permit was released)"),
            ))
        }
    })
}

/// Frees the slot `*permit` holds, marks the permit released and teaches
/// the limiter how the call went: `outcome` a `seawall_outcome`
/// (`SEAWALL_OUTCOME_FAILURE` counts as a drop for AIMD,
/// `SEAWALL_OUTCOME_IGNORED` teaches nothing), its latency the time since
/// the acquire on the limiter's clock. Returns
/// `SEAWALL_RESULT_PERMIT_ALREADY_RELEASED` for a second release,
/// `SEAWALL_RESULT_PERMIT_NOT_ISSUED` for a struct no acquire wrote,
/// `SEAWALL_RESULT_PERMIT_WRONG_BULKHEAD` for a permit of another limiter,
/// `SEAWALL_RESULT_INVALID_ARGUMENT` for an unknown outcome; none of them
/// frees anything.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes, and used by one thread at a time.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_release(
    limiter: *const seawall_adaptive_limiter,
    permit: *mut seawall_adaptive_limiter_permit,
    outcome: u32,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_release";
    // SAFETY: `limiter` is NULL or a live handle, `permit` NULL or valid
    // and unshared (this function's contract).
    unsafe { release_with(F, limiter, permit, outcome, None) }
}

/// As `seawall_adaptive_limiter_release`, with the call's latency measured
/// by the caller: `latency_ns` nanoseconds.
///
/// # Safety
///
/// As `seawall_adaptive_limiter_release`.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_release_latency(
    limiter: *const seawall_adaptive_limiter,
    permit: *mut seawall_adaptive_limiter_permit,
    outcome: u32,
    latency_ns: u64,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_release_latency";
    let latency = Some(Duration::from_nanos(latency_ns));
    // SAFETY: `limiter` is NULL or a live handle, `permit` NULL or valid
    // and unshared (this function's contract).
    unsafe { release_with(F, limiter, permit, outcome, latency) }
}

/// Writes the limit now (calls admitted at once) to `*out_limit`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_limit` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_limit(
    limiter: *const seawall_adaptive_limiter,
    out_limit: *mut u32,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_limit";
    // SAFETY: `limiter` is NULL or a live handle, `out_limit` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, limiter, out_limit, "out_limit", CLimiter::limit) }
}

/// Writes a snapshot of the limit and the counts to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_metrics(
    limiter: *const seawall_adaptive_limiter,
    out: *mut seawall_adaptive_metrics,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_metrics";
    let f = |l: &CLimiter| l.metrics().into();
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, limiter, out, "out", f) }
}

/// Writes the configuration the limiter was built with to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_adaptive_limiter_get_config(
    limiter: *const seawall_adaptive_limiter,
    out: *mut seawall_adaptive_limiter_config,
) -> seawall_result {
    const F: &str = "seawall_adaptive_limiter_get_config";
    let f = |l: &CLimiter| l.config().into();
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get(F, limiter, out, "out", f) }
}
