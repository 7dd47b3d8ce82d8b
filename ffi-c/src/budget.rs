//! The retry budget handle: retries limited to a share of recent requests,
//! shared by every caller of one dependency.

use std::time::Duration;

use seawall::{ConfigError, RetryBudget, RetryBudgetConfig};
use seawall_bindings_support::DynClock;

use crate::clock::seawall_manual_clock;
use crate::config::{nanos, new_engine, write_default, CConfig};
use crate::error::seawall_result;
use crate::handle;

/// The budget type behind every handle.
pub(crate) type CBudget = RetryBudget<DynClock>;

/// A retry budget: lets retries through while they stay below
/// `budget_percent` of the requests of the last `window_size_ns` (a token
/// bucket decides below `min_requests`). Reference-counted like
/// `seawall_breaker`; every function taking one is thread-safe and
/// lock-free.
pub struct seawall_retry_budget {
    _private: [u8; 0],
}

handle::declare!(seawall_retry_budget: CBudget, Shared, "budget");

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

impl CConfig for seawall_retry_budget_config {
    type Core = RetryBudgetConfig;

    fn to_core(&self) -> Result<RetryBudgetConfig, ConfigError> {
        Ok(RetryBudgetConfig {
            budget_percent: self.budget_percent,
            min_requests: self.min_requests,
            window_size: Duration::from_nanos(self.window_size_ns),
            tokens_per_second: self.tokens_per_second,
            max_tokens: self.max_tokens,
        })
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
    // SAFETY: `out` is NULL or valid for a write (this function's contract).
    unsafe { write_default::<RetryBudgetConfig, _>(F, out) }
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
    // SAFETY: `config` is NULL or valid, `clock` NULL or a live handle,
    // `out` NULL or valid for a write (this function's contract).
    unsafe { new_engine(F, config, clock, out, RetryBudget::with_clock) }
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
    // SAFETY: `budget` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::clone_handle("seawall_retry_budget_clone", budget, out) }
}

/// Releases one budget handle. `NULL` is a no-op.
///
/// # Safety
///
/// `budget` is NULL or a live handle, which must not be used afterwards.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_free(budget: *const seawall_retry_budget) {
    // SAFETY: `budget` is NULL or a live handle the caller gives up (this
    // function's contract).
    unsafe { handle::free_handle("seawall_retry_budget_free", budget) }
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
    let f = |b: &CBudget| b.record_attempt(is_retry);
    // SAFETY: `budget` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_retry_budget_record_attempt", budget, f) }
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
    // SAFETY: `budget` is NULL or a live handle, `out_allowed` NULL or valid
    // for a write (this function's contract). `get` asks (and so charges)
    // only once the answer can be written.
    unsafe { handle::get(F, budget, out_allowed, "out_allowed", CBudget::can_retry) }
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
    let f = CBudget::remaining_percent;
    // SAFETY: `budget` is NULL or a live handle, `out_percent` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, budget, out_percent, "out_percent", f) }
}

/// Writes the tokens in the bucket now (the retries it would grant below
/// `min_requests`) to `*out_tokens`.
///
/// # Safety
///
/// `budget` is NULL or a live handle; `out_tokens` is NULL or valid for a
/// write.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_tokens(
    budget: *const seawall_retry_budget,
    out_tokens: *mut u64,
) -> seawall_result {
    const F: &str = "seawall_retry_budget_tokens";
    // SAFETY: `budget` is NULL or a live handle, `out_tokens` NULL or valid
    // for a write (this function's contract).
    unsafe { handle::get(F, budget, out_tokens, "out_tokens", CBudget::tokens) }
}

/// Forgets every request and retry counted and refills the bucket, as if
/// the budget were new. Exact only while no other thread uses the budget.
///
/// # Safety
///
/// `budget` is NULL or a live handle.
#[no_mangle]
pub unsafe extern "C" fn seawall_retry_budget_reset(
    budget: *const seawall_retry_budget,
) -> seawall_result {
    // SAFETY: `budget` is NULL or a live handle (this function's contract).
    unsafe { handle::command("seawall_retry_budget_reset", budget, CBudget::reset) }
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
    let f = |b: &CBudget| {
        let c = b.counts();
        seawall_retry_budget_counts {
            requests: c.requests,
            retries: c.retries,
        }
    };
    // SAFETY: `budget` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_retry_budget_get_counts", budget, out, "out", f) }
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
    let f = |b: &CBudget| b.config().into();
    // SAFETY: `budget` is NULL or a live handle, `out` NULL or valid for a
    // write (this function's contract).
    unsafe { handle::get("seawall_retry_budget_get_config", budget, out, "out", f) }
}
