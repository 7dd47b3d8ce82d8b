//! The rate limiter handle: GCRA admission with the wait announced on
//! refusal, and reservations that decide a caller's wait once.

use std::time::Duration;

use seawall::{ConfigError, RateLimitConfig, RateLimited, RateLimiter};
use seawall_bindings_support::DynClock;

use crate::clock::{seawall_manual_clock, seawall_timing, timing_of};
use crate::config::{nanos, new_engine, write_default, CConfig};
use crate::error::{check, check_optional, fail, run_code, seawall_result, Error};
use crate::handle;

/// The limiter type behind every handle.
type CLimiter = RateLimiter<DynClock>;

/// A lock-free rate limiter (GCRA on one atomic word). Reference-counted
/// like `seawall_breaker`; every function taking one is thread-safe.
pub struct seawall_rate_limiter {
    _private: [u8; 0],
}

handle::declare!(seawall_rate_limiter: CLimiter, Shared, "limiter");

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
    /// A `seawall_timing`, the clock reading decisions are made on:
    /// `SEAWALL_TIMING_EXACT` (default) or `SEAWALL_TIMING_RECENT` (the
    /// burst may be larger by the calls of 1 ms, and announced waits up to
    /// 1 ms too long). As a number, so that an unknown one is reported as
    /// `SEAWALL_RESULT_INVALID_CONFIG`.
    pub timing: u32,
}

impl From<&RateLimitConfig> for seawall_rate_limit_config {
    fn from(c: &RateLimitConfig) -> Self {
        Self {
            rate: c.rate,
            burst: c.burst,
            period_ns: nanos(c.period),
            timing: seawall_timing::from(c.timing) as u32,
        }
    }
}

impl CConfig for seawall_rate_limit_config {
    type Core = RateLimitConfig;

    fn to_core(&self) -> Result<RateLimitConfig, ConfigError> {
        Ok(RateLimitConfig {
            rate: self.rate,
            burst: self.burst,
            period: Duration::from_nanos(self.period_ns),
            timing: timing_of(self.timing)?,
        })
    }
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
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, RateLimiter::with_clock) }
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
    // SAFETY: `limiter` is NULL or a live handle (this function's contract).
    let limiter = || unsafe { handle::borrow(limiter, F) };
    // SAFETY: `out_retry_after_ns` is NULL or valid for a write (this
    // function's contract).
    unsafe { check_with(F, limiter, out_retry_after_ns, CLimiter::check) }
}

/// The body of every `_check`: reads the arguments with `args` (the
/// limiter, and the key of a keyed one), checks `out_retry_after_ns`, and
/// answers what `decide` makes of them: `OK`, or `RATE_LIMITED` with the
/// wait written to `*out_retry_after_ns` if it is not NULL.
///
/// # Safety
///
/// `out_retry_after_ns` is NULL or valid for a write.
#[inline(always)]
pub(crate) unsafe fn check_with<A>(
    func: &'static str,
    args: impl FnOnce() -> Result<A, Error>,
    out_retry_after_ns: *mut u64,
    decide: impl FnOnce(A) -> Result<(), RateLimited>,
) -> seawall_result {
    run_code(func, || {
        let checked = args().and_then(|a| {
            check_optional(out_retry_after_ns, func, "out_retry_after_ns")?;
            Ok(a)
        });
        match checked.map(decide) {
            Err(e) => fail(e),
            Ok(Ok(())) => seawall_result::Ok,
            Ok(Err(refused)) => {
                if !out_retry_after_ns.is_null() {
                    // SAFETY: non-NULL, aligned (checked) and valid for a
                    // write (the caller's contract).
                    unsafe { out_retry_after_ns.write(nanos(refused.retry_after)) };
                }
                seawall_result::RateLimited
            }
        }
    })
}

/// The body of every `_reserve`: reads the arguments with `args`, checks
/// `out_wait_ns` (required: the wait is the answer), and answers what
/// `decide` makes of them: `OK` with the wait to sleep, or `RATE_LIMITED`
/// with the wait that exceeded the limit, written to `*out_wait_ns` either
/// way.
///
/// # Safety
///
/// `out_wait_ns` is NULL or valid for a write.
#[inline(always)]
pub(crate) unsafe fn reserve_with<A>(
    func: &'static str,
    args: impl FnOnce() -> Result<A, Error>,
    out_wait_ns: *mut u64,
    decide: impl FnOnce(A) -> Result<Duration, RateLimited>,
) -> seawall_result {
    run_code(func, || {
        let checked = args().and_then(|a| check(out_wait_ns, func, "out_wait_ns").map(|()| a));
        let (code, wait) = match checked.map(decide) {
            Err(e) => return fail(e),
            Ok(Ok(wait)) => (seawall_result::Ok, wait),
            Ok(Err(refused)) => (seawall_result::RateLimited, refused.retry_after),
        };
        // SAFETY: non-NULL, aligned (checked) and valid for a write (the
        // caller's contract).
        unsafe { out_wait_ns.write(nanos(wait)) };
        code
    })
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
    let max_wait = Duration::from_nanos(max_wait_ns);
    // SAFETY: `limiter` is NULL or a live handle (this function's contract).
    let limiter = || unsafe { handle::borrow(limiter, F) };
    let decide = |l: &CLimiter| l.reserve(max_wait);
    // SAFETY: `out_wait_ns` is NULL or valid for a write (this function's
    // contract).
    unsafe { reserve_with(F, limiter, out_wait_ns, decide) }
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
