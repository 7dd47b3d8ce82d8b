//! The retry budget handle: retries limited to a share of recent requests,
//! shared by every caller of one dependency.

use std::sync::Arc;
use std::time::Duration;

use seawall::{RetryBudget, RetryBudgetConfig};

use crate::clock::{clock_arg, seawall_manual_clock, FfiClock};
use crate::config::{config_error, nanos};
use crate::error::{borrow, check, run, run_value, seawall_result, Error};

/// The budget type behind every handle.
type CBudget = RetryBudget<FfiClock>;

/// A retry budget: lets retries through while they stay below
/// `budget_percent` of the requests of the last `window_size_ns` (a token
/// bucket decides below `min_requests`). Reference-counted like
/// `seawall_breaker`; every function taking one is thread-safe and
/// lock-free.
pub struct seawall_retry_budget {
    _private: [u8; 0],
}

/// How a retry budget limits retries. Fill it with
/// `seawall_retry_budget_config_default` and change the fields you need.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct seawall_retry_budget_config {
    /// The largest share of the window's requests that may be retries, in
    /// percent. [0, 100], default 10.
    pub budget_percent: f64,
    /// Below this many requests in the window the token bucket decides
    /// instead. 0..=1000000000, default 100.
    pub min_requests: u32,
    /// The token bucket's capacity; it starts full. 0..=1000000000, default
    /// 100; 0 forbids retries below `min_requests`.
    pub max_tokens: u32,
    /// The span of recent requests judged, in nanoseconds. [10 ms, 1 year],
    /// default 60 s.
    pub window_size_ns: u64,
    /// The token bucket's refill rate. A finite number in (0, 1e9], fast
    /// enough to refill `max_tokens` within 100 years; default 10.
    pub tokens_per_second: f64,
}

impl From<&RetryBudgetConfig> for seawall_retry_budget_config {
    fn from(c: &RetryBudgetConfig) -> Self {
        Self {
            budget_percent: c.budget_percent,
            min_requests: c.min_requests,
            max_tokens: c.max_tokens,
            window_size_ns: nanos(c.window_size),
            tokens_per_second: c.tokens_per_second,
        }
    }
}

/// The requests and retries a budget's window holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct seawall_retry_budget_counts {
    /// Attempts counted: first attempts and retries.
    pub requests: u64,
    /// Retries counted (granted by `seawall_retry_budget_can_retry` or
    /// recorded with `is_retry`).
    pub retries: u64,
}

/// # Safety
///
/// `b` is NULL or a live handle.
#[inline(always)]
unsafe fn budget<'a>(
    b: *const seawall_retry_budget,
    func: &'static str,
) -> Result<&'a CBudget, Error> {
    // SAFETY: a live handle is a pointer from `Arc::into_raw` of a
    // `CBudget`, valid while the handle is (the caller's contract).
    unsafe { borrow(b.cast::<CBudget>(), func, "budget") }
}

/// Fills `*out` with the default configuration (10 percent of a 60 s
/// window, at least 100 requests, a bucket of 100 tokens refilled at 10 per
/// second).
///
/// # Safety
///
/// `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_config_default(
    out: *mut seawall_retry_budget_config,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_config_default";
    run(F, || {
        check(out, F, "out")?;
        let c = seawall_retry_budget_config::from(&RetryBudgetConfig::default());
        // SAFETY: non-NULL and aligned (checked), valid by the contract.
        unsafe { out.write(c) };
        Ok(())
    })
}

/// Creates a retry budget from `*config` (NULL for the defaults), with an
/// empty window and a full bucket, and writes its handle to `*out`. `clock`
/// is NULL for the production clock or a manual clock (for tests). Release
/// it with `seawall_retry_budget_free`.
///
/// # Safety
///
/// `config` is NULL or valid; `clock` is NULL or a live handle; `out` is
/// NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_new(
    config: *const seawall_retry_budget_config,
    clock: *const seawall_manual_clock,
    out: *mut *const seawall_retry_budget,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_new";
    run(F, || {
        // SAFETY: forwarded contract.
        let clock = unsafe { clock_arg(clock, F) }?;
        check(out, F, "out")?;
        let config = if config.is_null() {
            RetryBudgetConfig::default()
        } else {
            // SAFETY: forwarded contract; non-NULL here.
            let c = unsafe { borrow(config, F, "config") }?;
            RetryBudgetConfig {
                budget_percent: c.budget_percent,
                min_requests: c.min_requests,
                window_size: Duration::from_nanos(c.window_size_ns),
                tokens_per_second: c.tokens_per_second,
                max_tokens: c.max_tokens,
            }
        };
        let b = RetryBudget::with_clock(config, clock).map_err(|e| config_error(F, &e))?;
        let raw = Arc::into_raw(Arc::new(b)).cast::<seawall_retry_budget>();
        // SAFETY: checked non-NULL and aligned; valid by the contract.
        unsafe { out.write(raw) };
        Ok(())
    })
}

/// Writes a new handle to the same budget to `*out`.
///
/// # Safety
///
/// `budget` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_clone(
    budget: *const seawall_retry_budget,
    out: *mut *const seawall_retry_budget,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_clone";
    run(F, || {
        check(budget.cast::<CBudget>(), F, "budget")?;
        check(out, F, "out")?;
        // SAFETY: a live handle is a pointer from `Arc::into_raw` whose
        // count includes the caller's reference.
        unsafe { Arc::increment_strong_count(budget.cast::<CBudget>()) };
        // SAFETY: checked non-NULL and aligned; valid by the contract.
        unsafe { out.write(budget) };
        Ok(())
    })
}

/// Releases one budget handle. `NULL` is a no-op.
///
/// # Safety
///
/// `budget` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_free(budget: *const seawall_retry_budget) {
    run_value("seawall_retry_budget_free", (), || {
        if budget.is_null() {
            return;
        }
        // SAFETY: a live handle came from `Arc::into_raw`; the caller gives
        // up this reference.
        drop(unsafe { Arc::from_raw(budget.cast::<CBudget>()) });
    })
}

/// Counts one attempt: a request, and also a retry when `is_retry`. Report
/// every first attempt with `is_retry = false`; a retry granted by
/// `seawall_retry_budget_can_retry` is already counted (do not record it).
///
/// # Safety
///
/// `budget` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_record_attempt(
    budget: *const seawall_retry_budget,
    is_retry: bool,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_record_attempt";
    run(F, || {
        // SAFETY: forwarded contract.
        let b = unsafe { self::budget(budget, F) }?;
        b.record_attempt(is_retry);
        Ok(())
    })
}

/// Asks for one retry and writes the answer to `*out_allowed`. A granted
/// retry (`true`) is counted at once (as a request and a retry, or below
/// `min_requests` as a token taken): make the attempt without recording it.
///
/// # Safety
///
/// `budget` is NULL or a live handle; `out_allowed` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_can_retry(
    budget: *const seawall_retry_budget,
    out_allowed: *mut bool,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_can_retry";
    run(F, || {
        // SAFETY: forwarded contract.
        let b = unsafe { self::budget(budget, F) }?;
        check(out_allowed, F, "out_allowed")?;
        let allowed = b.can_retry();
        // SAFETY: checked non-NULL and aligned; valid by the contract.
        unsafe { out_allowed.write(allowed) };
        Ok(())
    })
}

/// Writes the share of the retry allowance left, in percent [0, 100], to
/// `*out_percent`: of the window's `budget_percent` share at or above
/// `min_requests`, of the token bucket below it.
///
/// # Safety
///
/// `budget` is NULL or a live handle; `out_percent` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_remaining_percent(
    budget: *const seawall_retry_budget,
    out_percent: *mut f64,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_remaining_percent";
    run(F, || {
        // SAFETY: forwarded contract.
        let b = unsafe { self::budget(budget, F) }?;
        check(out_percent, F, "out_percent")?;
        // SAFETY: checked non-NULL and aligned; valid by the contract.
        unsafe { out_percent.write(b.remaining_percent()) };
        Ok(())
    })
}

/// Writes the requests and retries in the window now to `*out`.
///
/// # Safety
///
/// `budget` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_get_counts(
    budget: *const seawall_retry_budget,
    out: *mut seawall_retry_budget_counts,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_get_counts";
    run(F, || {
        // SAFETY: forwarded contract.
        let b = unsafe { self::budget(budget, F) }?;
        check(out, F, "out")?;
        let c = b.counts();
        // SAFETY: checked non-NULL and aligned; valid by the contract.
        unsafe {
            out.write(seawall_retry_budget_counts {
                requests: c.requests,
                retries: c.retries,
            })
        };
        Ok(())
    })
}

/// Writes the configuration the budget was built with to `*out`.
///
/// # Safety
///
/// `budget` is NULL or a live handle; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_get_config(
    budget: *const seawall_retry_budget,
    out: *mut seawall_retry_budget_config,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_get_config";
    run(F, || {
        // SAFETY: forwarded contract.
        let b = unsafe { self::budget(budget, F) }?;
        check(out, F, "out")?;
        // SAFETY: checked non-NULL and aligned; valid by the contract.
        unsafe { out.write(seawall_retry_budget_config::from(b.config())) };
        Ok(())
    })
}
