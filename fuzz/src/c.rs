//! The C structs as a C caller fills them: start from the `_default`
//! function's output and set arbitrary fields to arbitrary values.

use std::ptr;

use arbitrary::Arbitrary;
use seawall_ffi::*;

use crate::{Count, Float, Nanos};

/// One field of a `seawall_breaker_config` set to an arbitrary value, the rest
/// keeping what `seawall_breaker_config_default` wrote.
#[derive(Arbitrary, Debug, Clone)]
pub enum BreakerField {
    FailureThreshold(Count),
    TripOnConsecutiveFailures(u8),
    WindowKind(u32),
    WindowSize(Count),
    WindowBuckets(Count),
    WindowLengthNs(Nanos),
    FailureCountThreshold(Count),
    MinimumCalls(Count),
    FailureRateThreshold(Float),
    SlowCallRateThreshold(Float),
    SuccessThreshold(Count),
    HalfOpenMaxCalls(Count),
    HalfOpenSuccessRate(Float),
    TimeoutNs(Nanos),
    HalfOpenTimeoutNs(Nanos),
    TimeoutMultiplier(Float),
    MaxTimeoutNs(Nanos),
    TimeoutJitter(Float),
    SlowCallDurationNs(Nanos),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum RateField {
    Rate(Count),
    Burst(Count),
    PeriodNs(Nanos),
    Timing(u32),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum BulkheadField {
    MaxConcurrent(Count),
    MaxQueueSize(Count),
    TimeoutNs(Nanos),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum BudgetField {
    BudgetPercent(Float),
    MinRequests(Count),
    MaxTokens(Count),
    WindowSizeNs(Nanos),
    TokensPerSecond(Float),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum RetryField {
    Strategy(u32),
    MaxAttempts(Count),
    InitialDelayNs(Nanos),
    MaxDelayNs(Nanos),
    ExponentialBase(Float),
    JitterFactor(Float),
    HasMaxTotalDelay(u8),
    MaxTotalDelayNs(Nanos),
}

/// `seawall_bulkhead_config` as include/seawall.h declares it (the Rust
/// crate does not re-export that struct's type, so the target declares it
/// like a C caller would).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BulkheadConfigC {
    pub max_concurrent: u32,
    pub max_queue_size: u32,
    pub timeout_ns: u64,
}

/// The core's field names as the C structs spell them.
pub fn c_field(field: &str) -> &str {
    match field {
        "timeout" => "timeout_ns",
        "half_open_timeout" => "half_open_timeout_ns",
        "max_timeout" => "max_timeout_ns",
        "slow_call_duration" => "slow_call_duration_ns",
        "window.size" => "window_size",
        "window.length" => "window_length_ns",
        "window.buckets" => "window_buckets",
        "window" => "window_kind",
        "period" => "period_ns",
        "window_size" => "window_size_ns",
        "initial_delay" => "initial_delay_ns",
        "max_delay" => "max_delay_ns",
        "max_total_delay" => "max_total_delay_ns",
        other => other,
    }
}

/// The calling thread's last error message, read with a length query,
/// whole, and truncated (checking the snprintf-style contract each time).
pub fn last_error_message() -> String {
    let mut len = 0usize;
    // SAFETY: NULL buffer with length 0 asks for the length.
    let r = unsafe { seawall_last_error_message(ptr::null_mut(), 0, &mut len) };
    assert_eq!(r, seawall_result::BufferTooSmall, "length query");
    let mut buf = vec![0x55u8; len + 1];
    let mut len2 = 0usize;
    // SAFETY: `buf` holds `len + 1` bytes.
    let r = unsafe { seawall_last_error_message(buf.as_mut_ptr().cast(), buf.len(), &mut len2) };
    assert_eq!((r, len2), (seawall_result::Ok, len), "whole message");
    assert_eq!(buf[len], 0, "NUL-terminated");
    if len > 1 {
        // A truncated read: snprintf-style prefix, NUL-terminated.
        let mut small = vec![0x55u8; len / 2 + 1];
        let mut len3 = 0usize;
        // SAFETY: `small` holds `small.len()` bytes.
        let r = unsafe {
            seawall_last_error_message(small.as_mut_ptr().cast(), small.len(), &mut len3)
        };
        assert_eq!((r, len3), (seawall_result::BufferTooSmall, len));
        let cut = small.iter().position(|b| *b == 0).expect("NUL-terminated");
        assert_eq!(&small[..cut], &buf[..cut], "a prefix of the message");
    }
    buf.truncate(len);
    String::from_utf8(buf).expect("the message is UTF-8")
}

/// A new manual clock (reading 0), which must be made.
pub fn manual_clock_new() -> *const seawall_manual_clock {
    let mut c = ptr::null();
    // SAFETY: `c` is valid for a write.
    let r = unsafe { seawall_manual_clock_new(&mut c) };
    assert_eq!(r, seawall_result::Ok, "seawall_manual_clock_new");
    c
}

/// The C struct `T` as its `_default` function (`default`, given the
/// struct) fills it, then each of `fields` set by `set`.
///
/// # Safety
///
/// `T` is a plain C struct: all-zero bytes are a valid value of it.
unsafe fn with_fields<T, F: Clone>(
    default: impl FnOnce(*mut T) -> seawall_result,
    fields: &[F],
    set: impl Fn(&mut T, F),
) -> T {
    // SAFETY: the caller's promise.
    let mut c: T = unsafe { std::mem::zeroed() };
    assert_eq!(default(&mut c), seawall_result::Ok, "the _default function");
    for f in fields {
        set(&mut c, f.clone());
    }
    c
}

/// The default `seawall_breaker_config` with `fields` set.
pub fn breaker_config(fields: &[BreakerField]) -> seawall_breaker_config {
    // SAFETY: a plain C struct; the closure hands `_default` a live one.
    unsafe {
        with_fields(
            |c| seawall_breaker_config_default(c),
            fields,
            |c, f| match f {
                BreakerField::FailureThreshold(v) => c.failure_threshold = v.0,
                BreakerField::TripOnConsecutiveFailures(v) => c.trip_on_consecutive_failures = v,
                BreakerField::WindowKind(v) => c.window_kind = v % 4,
                BreakerField::WindowSize(v) => c.window_size = v.0,
                BreakerField::WindowBuckets(v) => c.window_buckets = v.0,
                BreakerField::WindowLengthNs(v) => c.window_length_ns = v.0,
                BreakerField::FailureCountThreshold(v) => c.failure_count_threshold = v.0,
                BreakerField::MinimumCalls(v) => c.minimum_calls = v.0,
                BreakerField::FailureRateThreshold(v) => c.failure_rate_threshold = v.0,
                BreakerField::SlowCallRateThreshold(v) => c.slow_call_rate_threshold = v.0,
                BreakerField::SuccessThreshold(v) => c.success_threshold = v.0,
                BreakerField::HalfOpenMaxCalls(v) => c.half_open_max_calls = v.0,
                BreakerField::HalfOpenSuccessRate(v) => c.half_open_success_rate = v.0,
                BreakerField::TimeoutNs(v) => c.timeout_ns = v.0,
                BreakerField::HalfOpenTimeoutNs(v) => c.half_open_timeout_ns = v.0,
                BreakerField::TimeoutMultiplier(v) => c.timeout_multiplier = v.0,
                BreakerField::MaxTimeoutNs(v) => c.max_timeout_ns = v.0,
                BreakerField::TimeoutJitter(v) => c.timeout_jitter = v.0,
                BreakerField::SlowCallDurationNs(v) => c.slow_call_duration_ns = v.0,
            },
        )
    }
}

/// The default `seawall_rate_limit_config` with `fields` set.
pub fn rate_limiter_config(fields: &[RateField]) -> seawall_rate_limit_config {
    // SAFETY: a plain C struct; the closure hands `_default` a live one.
    unsafe {
        with_fields(
            |c| seawall_rate_limit_config_default(c),
            fields,
            |c, f| match f {
                RateField::Rate(v) => c.rate = v.0,
                RateField::Burst(v) => c.burst = v.0,
                RateField::PeriodNs(v) => c.period_ns = v.0,
                RateField::Timing(v) => c.timing = v % 3,
            },
        )
    }
}

/// The default `BulkheadConfigC` with `fields` set.
pub fn bulkhead_config(fields: &[BulkheadField]) -> BulkheadConfigC {
    let default = |c: *mut BulkheadConfigC| unsafe { seawall_bulkhead_config_default(c.cast()) };
    // SAFETY: a plain C struct of the header's layout; the closure hands
    // `_default` a live one.
    unsafe {
        with_fields(default, fields, |c, f| match f {
            BulkheadField::MaxConcurrent(v) => c.max_concurrent = v.0,
            BulkheadField::MaxQueueSize(v) => c.max_queue_size = v.0,
            BulkheadField::TimeoutNs(v) => c.timeout_ns = v.0,
        })
    }
}

/// The default `seawall_retry_budget_config` with `fields` set.
pub fn budget_config(fields: &[BudgetField]) -> seawall_retry_budget_config {
    // SAFETY: a plain C struct; the closure hands `_default` a live one.
    unsafe {
        with_fields(
            |c| seawall_retry_budget_config_default(c),
            fields,
            |c, f| match f {
                BudgetField::BudgetPercent(v) => c.budget_percent = v.0,
                BudgetField::MinRequests(v) => c.min_requests = v.0,
                BudgetField::MaxTokens(v) => c.max_tokens = v.0,
                BudgetField::WindowSizeNs(v) => c.window_size_ns = v.0,
                BudgetField::TokensPerSecond(v) => c.tokens_per_second = v.0,
            },
        )
    }
}

/// The default `seawall_retry_config` with `fields` set.
pub fn retry_config(fields: &[RetryField]) -> seawall_retry_config {
    // SAFETY: a plain C struct; the closure hands `_default` a live one.
    unsafe {
        with_fields(
            |c| seawall_retry_config_default(c),
            fields,
            |c, f| match f {
                RetryField::Strategy(v) => c.strategy = v % 7,
                RetryField::MaxAttempts(v) => c.max_attempts = v.0,
                RetryField::InitialDelayNs(v) => c.initial_delay_ns = v.0,
                RetryField::MaxDelayNs(v) => c.max_delay_ns = v.0,
                RetryField::ExponentialBase(v) => c.exponential_base = v.0,
                RetryField::JitterFactor(v) => c.jitter_factor = v.0,
                RetryField::HasMaxTotalDelay(v) => c.has_max_total_delay = v,
                RetryField::MaxTotalDelayNs(v) => c.max_total_delay_ns = v.0,
            },
        )
    }
}
