//! # The C ABI of seawall
//!
//! Exports the core (`seawall`) through opaque, reference-counted handles
//! and plain-value structs, so any language with a C FFI can use it with
//! `include/seawall.h` (generated from this crate by cbindgen, see
//! `cbindgen.toml`) and `libseawall_ffi`.
//!
//! Every exported function:
//!
//! * runs its body inside `catch_unwind` (`error::run`), so a panic becomes
//!   `SEAWALL_RESULT_PANIC` instead of unwinding into C;
//! * NULL- and alignment-checks every pointer it is given and validates
//!   every value;
//! * writes its outputs only on success (the text functions, which behave
//!   like `snprintf`, are the documented exception);
//! * records a failure as the calling thread's last error, with details
//!   (answers are not failures and leave it alone).
//!
//! Every `seawall_result` (`error.rs`; numbers are never reused):
//!
//! * `OK` (0);
//! * answers, which say what the engine decided: `REJECTED` (4, the
//!   breaker), `RATE_LIMITED` (11, the rate limiters), `BULKHEAD_FULL` (12)
//!   and `BULKHEAD_TIMEOUT` (13, the bulkhead; `BULKHEAD_FULL` also the
//!   adaptive limiter at its limit), `RETRY_STOPPED` (16, the
//!   retry state), `KEYED_FULL` (17, the keyed breaker);
//! * errors, recorded as the last error: `NULL_PARAMETER` (1),
//!   `INVALID_CONFIG` (2), `INVALID_ARGUMENT` (3), `PERMIT_ALREADY_REPORTED`
//!   (5), `PERMIT_NOT_ISSUED` (6), `PERMIT_WRONG_BREAKER` (7), `NOT_FOUND`
//!   (8), `BUFFER_TOO_SMALL` (9), `PANIC` (10), `PERMIT_ALREADY_RELEASED`
//!   (14), `PERMIT_WRONG_BULKHEAD` (15).
//!
//! What both this crate and the Python module need (the run-time clock,
//! the numbers and names of states and outcomes, duration conversions, the
//! wording of errors) is the `seawall-bindings-support` crate's.
//!
//! Handles are `Arc::into_raw` pointers: `_clone` adds a reference, `_free`
//! drops one. The types behind them are `Send + Sync`, so every function
//! taking a handle is thread-safe. `handle.rs` holds that mechanism once,
//! for every handle type; `error::put` writes every output;
//! `config::new_engine` is the body of every engine's `_new` (clock,
//! `out`, config, core constructor).
//!
//! With the `distributed` feature, `distributed/` exports
//! `seawall-distributed`'s coordinator, distributed breaker and fleet rate
//! limiter, which the header declares under `SEAWALL_DISTRIBUTED`.

#![deny(unsafe_op_in_unsafe_fn)]
// The exported types are named as C sees them.
#![allow(non_camel_case_types)]

mod adaptive_limiter;
mod breaker;
mod budget;
mod bulkhead;
mod clock;
mod config;
#[cfg(feature = "distributed")]
mod distributed;
mod error;
mod fault;
mod handle;
mod hedge;
mod keyed_breaker;
mod keyed_rate_limit;
mod rate_limit;
mod registry;
mod retry;
mod retry_state;
mod telemetry;
mod throttle;

use std::ffi::c_char;

pub use adaptive_limiter::{
    seawall_adaptive_limiter, seawall_adaptive_limiter_clone, seawall_adaptive_limiter_config,
    seawall_adaptive_limiter_config_default, seawall_adaptive_limiter_free,
    seawall_adaptive_limiter_get_config, seawall_adaptive_limiter_limit,
    seawall_adaptive_limiter_metrics, seawall_adaptive_limiter_new,
    seawall_adaptive_limiter_permit, seawall_adaptive_limiter_release,
    seawall_adaptive_limiter_release_latency, seawall_adaptive_limiter_try_acquire,
    seawall_adaptive_metrics, seawall_limit_algorithm,
};
pub use breaker::{
    seawall_breaker, seawall_metrics, seawall_outcome, seawall_permit, seawall_rejection,
    seawall_state, seawall_transition_callback,
};
pub use breaker::{
    seawall_breaker_add_listener, seawall_breaker_clear_metrics, seawall_breaker_clone,
    seawall_breaker_force_closed, seawall_breaker_force_open, seawall_breaker_free,
    seawall_breaker_get_config, seawall_breaker_metrics, seawall_breaker_name, seawall_breaker_new,
    seawall_breaker_new_seeded, seawall_breaker_new_with_clock, seawall_breaker_report,
    seawall_breaker_report_failure, seawall_breaker_report_ignored, seawall_breaker_report_success,
    seawall_breaker_reset, seawall_breaker_state, seawall_breaker_try_acquire, seawall_state_name,
};
pub use budget::{
    seawall_retry_budget, seawall_retry_budget_can_retry, seawall_retry_budget_clone,
    seawall_retry_budget_config, seawall_retry_budget_config_default, seawall_retry_budget_counts,
    seawall_retry_budget_free, seawall_retry_budget_get_config, seawall_retry_budget_get_counts,
    seawall_retry_budget_new, seawall_retry_budget_record_attempt,
    seawall_retry_budget_remaining_percent,
};
pub use bulkhead::{
    seawall_bulkhead, seawall_bulkhead_acquire, seawall_bulkhead_acquire_timeout,
    seawall_bulkhead_available_permits, seawall_bulkhead_clone, seawall_bulkhead_config,
    seawall_bulkhead_config_default, seawall_bulkhead_free, seawall_bulkhead_get_config,
    seawall_bulkhead_new, seawall_bulkhead_permit, seawall_bulkhead_queue_size,
    seawall_bulkhead_release, seawall_bulkhead_try_acquire,
};
pub use clock::{
    seawall_manual_clock, seawall_manual_clock_advance, seawall_manual_clock_free,
    seawall_manual_clock_new, seawall_manual_clock_now, seawall_manual_clock_set, seawall_timing,
};
pub use config::{seawall_breaker_config, seawall_breaker_config_default, seawall_window_kind};
#[cfg(feature = "distributed")]
pub use distributed::*;
pub use error::seawall_result;
pub use fault::{
    seawall_fault, seawall_fault_config, seawall_fault_config_default, seawall_fault_injector,
    seawall_fault_injector_clone, seawall_fault_injector_configure, seawall_fault_injector_decide,
    seawall_fault_injector_free, seawall_fault_injector_get_config,
    seawall_fault_injector_get_metrics, seawall_fault_injector_new,
    seawall_fault_injector_new_seeded, seawall_fault_injector_set_enabled, seawall_fault_kind,
    seawall_fault_metrics,
};
pub use hedge::{
    seawall_hedge, seawall_hedge_call, seawall_hedge_call_free, seawall_hedge_call_may_hedge,
    seawall_hedge_call_new, seawall_hedge_call_next_delay, seawall_hedge_call_record,
    seawall_hedge_config, seawall_hedge_config_default, seawall_hedge_decision,
    seawall_hedge_delay, seawall_hedge_free, seawall_hedge_get_metrics, seawall_hedge_metrics,
    seawall_hedge_new, seawall_hedge_record_latency, seawall_hedge_resolution,
};
pub use keyed_breaker::{
    seawall_keyed_breaker, seawall_keyed_breaker_clone, seawall_keyed_breaker_evict_idle,
    seawall_keyed_breaker_free, seawall_keyed_breaker_key_metrics, seawall_keyed_breaker_metrics,
    seawall_keyed_breaker_new, seawall_keyed_breaker_report, seawall_keyed_breaker_state,
    seawall_keyed_breaker_try_acquire, seawall_keyed_metrics, seawall_keyed_permit,
};
pub use keyed_rate_limit::{
    seawall_keyed_rate_limiter, seawall_keyed_rate_limiter_check, seawall_keyed_rate_limiter_clone,
    seawall_keyed_rate_limiter_free, seawall_keyed_rate_limiter_get_config,
    seawall_keyed_rate_limiter_memory_bytes, seawall_keyed_rate_limiter_new,
    seawall_keyed_rate_limiter_reserve, seawall_keyed_rate_limiter_slots,
};
pub use rate_limit::{
    seawall_rate_limit_config, seawall_rate_limit_config_default, seawall_rate_limiter,
    seawall_rate_limiter_check, seawall_rate_limiter_clone, seawall_rate_limiter_free,
    seawall_rate_limiter_get_config, seawall_rate_limiter_new, seawall_rate_limiter_reserve,
};
pub use registry::{
    seawall_registry, seawall_registry_clone, seawall_registry_count, seawall_registry_for_each,
    seawall_registry_free, seawall_registry_get, seawall_registry_get_or_create,
    seawall_registry_new, seawall_registry_new_with_clock, seawall_registry_remove,
    seawall_registry_visitor,
};
pub use retry::{
    seawall_retry_config, seawall_retry_config_default, seawall_retry_config_validate,
    seawall_retry_delay, seawall_retry_policy, seawall_retry_policy_config, seawall_retry_strategy,
};
pub use retry_state::{
    seawall_retry_state, seawall_retry_state_attempts, seawall_retry_state_begin,
    seawall_retry_state_failed, seawall_retry_state_free, seawall_retry_state_new,
    seawall_retry_state_rejected, seawall_retry_state_total_delay, seawall_retry_stop,
};
pub use telemetry::seawall_registry_prometheus_text;
pub use throttle::{
    seawall_priority, seawall_throttler, seawall_throttler_check, seawall_throttler_clone,
    seawall_throttler_config, seawall_throttler_config_default, seawall_throttler_free,
    seawall_throttler_get_metrics, seawall_throttler_new, seawall_throttler_new_seeded,
    seawall_throttler_record, seawall_throttler_rejection_probability, seawall_throttler_reset,
};

/// The library version, a static NUL-terminated string such as `"0.1.0"`.
#[no_mangle]
pub extern "C" fn seawall_version() -> *const c_char {
    const V: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    error::run_value("seawall_version", V.as_ptr().cast(), || V.as_ptr().cast())
}

/// Writes the fixed description of result code `code` into `buf`
/// (NUL-terminated, snprintf-style) and its length in bytes into `*out_len`
/// (if not NULL). Returns `SEAWALL_RESULT_BUFFER_TOO_SMALL` when the text
/// was truncated (`buf = NULL, len = 0` asks for the length),
/// `SEAWALL_RESULT_INVALID_ARGUMENT` for a number that is not a code. Does
/// not change the last error.
///
/// # Safety
///
/// `buf` is NULL or valid for writes of `len` bytes; `out_len` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_result_message(
    code: u32,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_result_message";
    error::run_value(F, seawall_result::Panic, || {
        let Some(code) = seawall_result::from_u32(code) else {
            return seawall_result::InvalidArgument;
        };
        // SAFETY: `buf` is NULL or valid for writes of `len` bytes,
        // `out_len` NULL or valid for a write (this function's contract).
        let written = unsafe { error::write_text(F, code.message(), buf, len, out_len) };
        // Not recorded: this function leaves the last error alone.
        written.map_or_else(|e| e.code, error::Written::code)
    })
}

/// The code of the last error on the calling thread (`SEAWALL_RESULT_OK` if
/// there was none). Errors are recorded by every function that returns a
/// code other than `SEAWALL_RESULT_OK` and the answers
/// (`SEAWALL_RESULT_REJECTED`, described by its `seawall_rejection`,
/// `_RATE_LIMITED`, `_BULKHEAD_FULL`, `_BULKHEAD_TIMEOUT`, `_RETRY_STOPPED`
/// and `_KEYED_FULL`, which are not errors); other calls leave the last
/// error as it was, like `errno`.
#[no_mangle]
pub extern "C" fn seawall_last_error() -> seawall_result {
    error::run_value("seawall_last_error", seawall_result::Panic, || {
        error::last_error().0
    })
}

/// Writes the message of the last error on the calling thread into `buf`
/// (NUL-terminated, snprintf-style) and its length in bytes into `*out_len`
/// (if not NULL). The message names the function and the argument (for
/// `SEAWALL_RESULT_INVALID_CONFIG` the field), the value given and the
/// allowed values: "seawall_retry_delay: `unit` = 1.5 is not in [0, 1)",
/// "seawall_breaker_new: invalid timeout_ns = 0ns: must be a duration in
/// (0, 365 days]", "seawall_breaker_state: `out_state` is NULL". Returns
/// `SEAWALL_RESULT_BUFFER_TOO_SMALL` when truncated. Does not change the
/// last error (nor does a NULL `buf` with a non-zero `len` or a misaligned
/// `out_len`, which return `SEAWALL_RESULT_NULL_PARAMETER` and
/// `SEAWALL_RESULT_INVALID_ARGUMENT`).
///
/// # Safety
///
/// `buf` is NULL or valid for writes of `len` bytes; `out_len` is NULL or
/// valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_last_error_message(
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> seawall_result {
    const F: &str = "seawall_last_error_message";
    error::run_value(F, seawall_result::Panic, || {
        let (_, msg) = error::last_error();
        // SAFETY: `buf` is NULL or valid for writes of `len` bytes,
        // `out_len` NULL or valid for a write (this function's contract).
        let written = unsafe { error::write_text(F, &msg, buf, len, out_len) };
        // Not recorded: this function must not replace what it reports.
        written.map_or_else(|e| e.code, error::Written::code)
    })
}
