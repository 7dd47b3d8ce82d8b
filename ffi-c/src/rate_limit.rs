//! The rate limiter handle: GCRA admission with the wait announced on
//! refusal, and reservations that decide a caller's wait once.

use std::time::Duration;

use seawall::{RateLimitConfig, RateLimited, RateLimiter, Timing};
use seawall_bindings_support::DynClock;

use crate::clock::{clock_arg, seawall_manual_clock};
use crate::config::{config_error, config_or_default, nanos, unknown_enum, write_default};
use crate::error::{check, check_optional, fail, run, run_code, seawall_result, Error};
use crate::handle::{self, Handle, Shared};

/// The clock reading a rate limiter decides on
/// (`seawall_rate_limit_config.timing`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum seawall_rate_timing {
    /// The exact clock reading (the default).
    Exact = 0,
    /// The cheap "recent" reading, which lags by up to 1 ms (the burst may
    /// be larger by the calls of 1 ms, and announced waits up to 1 ms too
    /// long).
    Recent = 1,
}

/// The limiter type behind every handle.
type CLimiter = RateLimiter<DynClock>;

/// A lock-free rate limiter (GCRA on one atomic word). Reference-counted
/// like `seawall_breaker`; every function taking one is thread-safe.
pub struct seawall_rate_limiter {
    _private: [u8; 0],
}

impl Handle for seawall_rate_limiter {
    type Inner = CLimiter;
    type Kind = Shared;
    const NAME: &'static str = "limiter";
}

/// How many calls a rate limiter admits. Fill it with
/// `seawall_rate_limit_config_default` and change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_rate_limit_config {
    /// Calls admitted per `period_ns`, on average. 1..=1000000000, default
    /// 100.
    pub rate: u32,
    /// Calls that may be admitted back to back after a quiet spell.
    /// 1..=1000000000 (1: strictly spaced), and at most 100 years of calls
    /// at `rate` per `period_ns`; default 100.
    pub burst: u32,
    /// The span `rate` refers to, in nanoseconds: (0, 1 year] and at least
    /// `rate`. Default 1 s.
    pub period_ns: u64,
    /// A `seawall_rate_timing`: `SEAWALL_RATE_TIMING_EXACT` (default) or
    /// `SEAWALL_RATE_TIMING_RECENT` (as a number, so that an unknown one is
    /// reported as `SEAWALL_RESULT_INVALID_CONFIG`).
    pub timing: u32,
}

impl From<&RateLimitConfig> for seawall_rate_limit_config {
    fn from(c: &RateLimitConfig) -> Self {
        Self {
            rate: c.rate,
            burst: c.burst,
            period_ns: nanos(c.period),
            timing: match c.timing {
                Timing::Exact => seawall_rate_timing::Exact,
                Timing::Recent => seawall_rate_timing::Recent,
            } as u32,
        }
    }
}

/// The core configuration `*c` describes, validated.
pub(crate) fn to_core(
    c: &seawall_rate_limit_config,
    func: &'static str,
) -> Result<RateLimitConfig, Error> {
    let timing = match c.timing {
        t if t == seawall_rate_timing::Exact as u32 => Timing::Exact,
        t if t == seawall_rate_timing::Recent as u32 => Timing::Recent,
        other => {
            let e = unknown_enum(
                "timing",
                other,
                "SEAWALL_RATE_TIMING_EXACT (0) or SEAWALL_RATE_TIMING_RECENT (1)",
            );
            return Err(config_error(func, &e));
        }
    };
    let core = RateLimitConfig {
        rate: c.rate,
        burst: c.burst,
        period: Duration::from_nanos(c.period_ns),
        timing,
    };
    core.validate().map_err(|e| config_error(func, &e))?;
    Ok(core)
}

/// Fills `*out` with the default configuration (100 calls per second,
/// bursts of 100, exact timing).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limit_config_default(
    out: *mut seawall_rate_limit_config,
) -> seawall_result {
    const F: &str = "seawall_rate_limit_config_default";
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<RateLimitConfig, _>(F, out) }
}

/// Creates a rate limiter from `*config` (NULL for the defaults), with its
/// full burst available, and writes its handle to `*out`. `clock` is NULL
/// for the production clock or a manual clock (for tests). Release it with
/// `seawall_rate_limiter_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limiter_new(
    config: *const seawall_rate_limit_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_rate_limiter,
) -> seawall_result {
    const F: &str = "seawall_rate_limiter_new";
    run(F, || {
        // SAFETY: `clock` is NULL or a live handle (this function's
        // contract).
        let clock = unsafe { clock_arg(clock, F) }?;
        let make = || {
            let convert = |c: &seawall_rate_limit_config| to_core(c, F);
            // SAFETY: `config` is NULL or valid (this function's contract).
            let config = unsafe { config_or_default(config, F, convert) }?;
            RateLimiter::with_clock(config, clock).map_err(|e| config_error(F, &e))
        };
        // SAFETY: `out` is NULL or valid for a write (this function's
        // contract).
        unsafe { handle::new_handle(F, out, make) }
    })
}

/// Writes a new handle to the same limiter to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limiter_clone(
    limiter: *const seawall_rate_limiter,
    out: *mut *const seawall_rate_limiter,
) -> seawall_result {
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_rate_limiter_clone", limiter, out) }
}

/// Releases one limiter handle. `NULL` is a no-op.
///
/// # Safety
///
/// `limiter` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limiter_free(limiter: *const seawall_rate_limiter) {
    // SAFETY: `limiter` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_rate_limiter_free", limiter) }
}

/// Admits one call now (`SEAWALL_RESULT_OK`), or refuses it with
/// `SEAWALL_RESULT_RATE_LIMITED` and writes the nanoseconds until a call
/// would be admitted to `*out_retry_after_ns` (if not NULL; nothing is written on
/// success). A refusal is an answer, not an error: the last error is left
/// as it was, and a refused call changes nothing.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_retry_after_ns` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limiter_check(
    limiter: *const seawall_rate_limiter,
    out_retry_after_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_rate_limiter_check";
    run_code(F, || {
        // SAFETY: `limiter` is NULL or a live handle (this function's
        // contract).
        let l = match unsafe { handle::borrow(limiter, F) } {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        if let Err(e) = check_optional(out_retry_after_ns, F, "out_retry_after_ns") {
            return fail(e);
        }
        // SAFETY: NULL or aligned (checked) and valid for a write (this
        // function's contract).
        unsafe { answer_check(l.check(), out_retry_after_ns) }
    })
}

/// The answer of a `_check`: `OK`, or `RATE_LIMITED` with the wait written
/// to `*out_retry_after_ns` if it is not NULL.
///
/// # Safety
///
/// `out_retry_after_ns` is NULL, or aligned and valid for a write.
#[inline(always)]
pub(crate) unsafe fn answer_check(
    decision: Result<(), RateLimited>,
    out_retry_after_ns: *mut u64,
) -> seawall_result {
    match decision {
        Ok(()) => seawall_result::Ok,
        Err(refused) => {
            if !out_retry_after_ns.is_null() {
                // SAFETY: non-NULL, aligned and valid (the caller's
                // contract).
                unsafe { out_retry_after_ns.write(nanos(refused.retry_after)) };
            }
            seawall_result::RateLimited
        }
    }
}

/// The answer of a `_reserve`: `OK` with the wait to sleep, or
/// `RATE_LIMITED` with the wait that exceeded the limit, written to
/// `*out_wait_ns` either way.
///
/// # Safety
///
/// `out_wait_ns` is non-NULL, aligned and valid for a write.
#[inline(always)]
pub(crate) unsafe fn answer_reserve(
    decision: Result<Duration, RateLimited>,
    out_wait_ns: *mut u64,
) -> seawall_result {
    let (code, wait) = match decision {
        Ok(wait) => (seawall_result::Ok, wait),
        Err(refused) => (seawall_result::RateLimited, refused.retry_after),
    };
    // SAFETY: non-NULL, aligned and valid (the caller's contract).
    unsafe { out_wait_ns.write(nanos(wait)) };
    code
}

/// Reserves the next call's turn if it comes within `max_wait_ns`
/// nanoseconds, deciding the wait once: `SEAWALL_RESULT_OK` with the
/// nanoseconds to sleep before the call written to `*out_wait_ns` (0: go
/// now); the turn is taken, so sleep that long once and go ahead, with no
/// second check. `SEAWALL_RESULT_RATE_LIMITED` refuses the call when its
/// wait would exceed `max_wait_ns` (or one year, the longest reservation),
/// writes that wait to `*out_wait_ns` and changes nothing (an answer, not an
/// error: the last error is left as it was). A reserved turn is spent even
/// if the caller then gives up: reserve only calls that will run.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out_wait_ns` is NULL or valid for a
/// write (NULL is refused with `SEAWALL_RESULT_NULL_PARAMETER`: the wait
/// is the answer).
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limiter_reserve(
    limiter: *const seawall_rate_limiter,
    max_wait_ns: u64,
    out_wait_ns: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_rate_limiter_reserve";
    run_code(F, || {
        // SAFETY: `limiter` is NULL or a live handle (this function's
        // contract).
        let l = match unsafe { handle::borrow(limiter, F) } {
            Ok(l) => l,
            Err(e) => return fail(e),
        };
        if let Err(e) = check(out_wait_ns, F, "out_wait_ns") {
            return fail(e);
        }
        let decision = l.reserve(Duration::from_nanos(max_wait_ns));
        // SAFETY: non-NULL and aligned (checked); valid for a write (this
        // function's contract).
        unsafe { answer_reserve(decision, out_wait_ns) }
    })
}

/// Writes the configuration the limiter was built with to `*out`.
///
/// # Safety
///
/// `limiter` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_rate_limiter_get_config(
    limiter: *const seawall_rate_limiter,
    out: *mut seawall_rate_limit_config,
) -> seawall_result {
    let f = |l: &CLimiter| l.config().into();
    // SAFETY: `limiter` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_rate_limiter_get_config", limiter, out, "out", f) }
}
