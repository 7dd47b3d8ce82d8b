//! The C configuration structs through the C constructors, as a C caller
//! would fill them: `seawall_breaker_config` (breaker, also through a registry),
//! `seawall_rate_limit_config`, `seawall_bulkhead_config`,
//! `seawall_retry_budget_config` and `seawall_retry_config` (validate and
//! `seawall_retry_delay`), every field arbitrary, unknown enum values
//! included.
//!
//! Checks: no panic (a caught one would come back as SEAWALL_RESULT_PANIC,
//! and libFuzzer aborts on the panic itself); a struct is accepted exactly
//! when the documented ranges allow it; a refusal is
//! SEAWALL_RESULT_INVALID_CONFIG, leaves `*out` untouched, sets the last
//! error, whose message names an offending field by its C name and can be
//! read whole and truncated; an accepted struct builds a handle that works
//! and reads back as given; `seawall_retry_delay` gives the core's delay.
#![no_main]

use std::ffi::c_char;
use std::ptr;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use seawall::{Backoff, RetryConfig, Timing, Window};
use seawall::{BreakerConfig, BulkheadConfig, RateLimitConfig, RetryBudgetConfig};
use seawall_ffi::*;
use seawall_fuzz::c::{
    c_field, last_error_message, manual_clock_new, BreakerField, BudgetField, BulkheadConfigC,
    BulkheadField, RateField, RetryField,
};
use seawall_fuzz::{
    breaker_verdict, budget_verdict, bulkhead_verdict, rate_limit_verdict, retry_verdict, Count,
    Float, Nanos, Verdict, STRATEGIES,
};

#[derive(Arbitrary, Debug)]
enum Input {
    Breaker {
        fields: Vec<BreakerField>,
        via_registry: bool,
    },
    RateLimiter(Vec<RateField>),
    Bulkhead(Vec<BulkheadField>),
    Budget(Vec<BudgetField>),
    Retry {
        fields: Vec<RetryField>,
        attempt: Count,
        previous: Nanos,
        unit: Float,
    },
}

fuzz_target!(|data: &[u8]| {
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    // SAFETY: every pointer handed to the C functions below is NULL or
    // points to a live local of the right type.
    unsafe {
        match input {
            Input::Breaker {
                fields,
                via_registry,
            } => breaker(&fields, via_registry),
            Input::RateLimiter(fields) => rate_limiter(&fields),
            Input::Bulkhead(fields) => bulkhead(&fields),
            Input::Budget(fields) => budget(&fields),
            Input::Retry {
                fields,
                attempt,
                previous,
                unit,
            } => retry(&fields, attempt.0, previous.0, unit.0),
        }
    }
});

/// A refused struct: INVALID_CONFIG, recorded as the last error, whose
/// message names (as a whole word) one of the fields the oracle blames.
fn check_refusal(what: &str, r: seawall_result, verdict: &Verdict, extra: &[&str]) {
    assert!(
        verdict.may_refuse(),
        "{what}: a valid struct was refused with {r:?} ({})",
        last_error_message()
    );
    assert_eq!(r, seawall_result::InvalidConfig, "{what}: {verdict:?}");
    // SAFETY: no arguments.
    assert_eq!(seawall_last_error(), seawall_result::InvalidConfig);
    let msg = last_error_message();
    let named = msg
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| {
            verdict
                .fields
                .iter()
                .chain(&verdict.maybe)
                .any(|f| c_field(f) == w)
                || extra.contains(&w)
        });
    assert!(
        named,
        "{what}: the message names no offending field ({verdict:?}): {msg}"
    );
}

fn check_accepted(what: &str, r: seawall_result, verdict: &Verdict, config: &dyn std::fmt::Debug) {
    assert!(
        verdict.valid(),
        "{what}: accepted ({r:?}) although {:?} break a rule: {config:?}",
        verdict.fields
    );
    if r != seawall_result::Ok {
        panic!(
            "{what}: a valid struct was refused with {r:?} ({}): {config:?}",
            last_error_message()
        );
    }
}

/// Builds a handle from the C struct `config` through `new` (a constructor
/// given its output): a refusal must be one the oracle allows (see
/// `check_refusal`) and leave the output untouched; an acceptance must be
/// one it allows too. The handle, if built.
fn construct<H>(
    what: &str,
    verdict: &Verdict,
    config: &dyn std::fmt::Debug,
    new: impl FnOnce(*mut *const H) -> seawall_result,
) -> Option<*const H> {
    let sentinel = 0x5EA_F00D as *const H;
    let mut out = sentinel;
    let r = new(&mut out);
    if r != seawall_result::Ok {
        check_refusal(what, r, verdict, &[]);
        assert_eq!(out, sentinel, "{what}: out written on failure");
        return None;
    }
    check_accepted(what, r, verdict, config);
    Some(out)
}

/// What `to_core` must make of the C struct, per the header: 0 is "not set"
/// for the optional fields, a non-zero byte is true. `None` for an unknown
/// `window_kind`.
fn breaker_core(c: &seawall_breaker_config) -> Option<BreakerConfig> {
    let window = match c.window_kind {
        0 => Window::None,
        1 => Window::Count {
            size: c.window_size,
        },
        2 => Window::Time {
            length: Duration::from_nanos(c.window_length_ns),
            buckets: c.window_buckets,
        },
        _ => return None,
    };
    let rate = |r: f64| (r != 0.0).then_some(r);
    let dur = |ns: u64| (ns != 0).then(|| Duration::from_nanos(ns));
    Some(BreakerConfig {
        failure_threshold: c.failure_threshold,
        trip_on_consecutive_failures: c.trip_on_consecutive_failures != 0,
        window,
        failure_count_threshold: (c.failure_count_threshold != 0)
            .then_some(c.failure_count_threshold),
        failure_rate_threshold: rate(c.failure_rate_threshold),
        slow_call_rate_threshold: rate(c.slow_call_rate_threshold),
        minimum_calls: c.minimum_calls,
        success_threshold: c.success_threshold,
        half_open_success_rate: rate(c.half_open_success_rate),
        half_open_max_calls: c.half_open_max_calls,
        timeout: Duration::from_nanos(c.timeout_ns),
        half_open_timeout: Duration::from_nanos(c.half_open_timeout_ns),
        timeout_multiplier: c.timeout_multiplier,
        max_timeout: dur(c.max_timeout_ns),
        timeout_jitter: c.timeout_jitter,
        slow_call_duration: dur(c.slow_call_duration_ns),
        ..BreakerConfig::default()
    })
}

/// Compares two C configs bit for bit (NaN included), after clearing what
/// the header says is ignored for the window kind in use.
fn same_breaker_config(a: &seawall_breaker_config, b: &seawall_breaker_config) -> bool {
    let norm = |c: &seawall_breaker_config| {
        let mut c = *c;
        if c.window_kind != 1 {
            c.window_size = 0;
        }
        if c.window_kind != 2 {
            c.window_length_ns = 0;
            c.window_buckets = 0;
        }
        c.trip_on_consecutive_failures = u8::from(c.trip_on_consecutive_failures != 0);
        for r in [
            &mut c.failure_rate_threshold,
            &mut c.slow_call_rate_threshold,
            &mut c.half_open_success_rate,
        ] {
            if *r == 0.0 {
                *r = 0.0; // -0.0 means "not set" too
            }
        }
        [
            u64::from(c.failure_threshold),
            u64::from(c.trip_on_consecutive_failures),
            u64::from(c.window_kind),
            u64::from(c.window_size),
            u64::from(c.window_buckets),
            c.window_length_ns,
            u64::from(c.failure_count_threshold),
            u64::from(c.minimum_calls),
            c.failure_rate_threshold.to_bits(),
            c.slow_call_rate_threshold.to_bits(),
            u64::from(c.success_threshold),
            u64::from(c.half_open_max_calls),
            c.half_open_success_rate.to_bits(),
            c.timeout_ns,
            c.half_open_timeout_ns,
            c.timeout_multiplier.to_bits(),
            c.max_timeout_ns,
            c.timeout_jitter.to_bits(),
            c.slow_call_duration_ns,
        ]
    };
    norm(a) == norm(b)
}

unsafe fn breaker(fields: &[BreakerField], via_registry: bool) {
    let c = seawall_fuzz::c::breaker_config(fields);
    let core = breaker_core(&c);
    let verdict = match &core {
        Some(core) => breaker_verdict(core),
        None => Verdict::broken("window_kind"),
    };
    let clock = manual_clock_new();
    let mut registry: *const seawall_registry = ptr::null();
    let name = c"fuzz".as_ptr().cast::<c_char>();
    let new = |out| {
        if via_registry {
            assert_eq!(
                seawall_registry_new_with_clock(clock, &mut registry),
                seawall_result::Ok
            );
            seawall_registry_get_or_create(registry, name, &c, out)
        } else {
            seawall_breaker_new_with_clock(name, &c, clock, out)
        }
    };
    match construct("seawall_breaker_config", &verdict, &c, new) {
        None if via_registry => {
            let mut n = 7usize;
            assert_eq!(seawall_registry_count(registry, &mut n), seawall_result::Ok);
            assert_eq!(n, 0, "a refused breaker was registered");
        }
        None => {}
        Some(b) => check_breaker(b, &c),
    }
    seawall_registry_free(registry);
    seawall_manual_clock_free(clock);
}

/// A breaker built from `c` reads it back and admits a call.
unsafe fn check_breaker(b: *const seawall_breaker, c: &seawall_breaker_config) {
    let mut back: seawall_breaker_config = std::mem::zeroed();
    assert_eq!(seawall_breaker_get_config(b, &mut back), seawall_result::Ok);
    assert!(
        same_breaker_config(c, &back),
        "config reads back changed:\n given {c:?}\n  read {back:?}"
    );
    let mut permit: seawall_permit = std::mem::zeroed();
    assert_eq!(
        seawall_breaker_try_acquire(b, &mut permit, ptr::null_mut()),
        seawall_result::Ok,
        "a new breaker admits"
    );
    assert_eq!(
        seawall_breaker_report_success(b, &mut permit),
        seawall_result::Ok
    );
    seawall_breaker_free(b);
}

unsafe fn rate_limiter(fields: &[RateField]) {
    let c = seawall_fuzz::c::rate_limiter_config(fields);
    let verdict = match c.timing {
        0 | 1 => rate_limit_verdict(&RateLimitConfig {
            rate: c.rate,
            burst: c.burst,
            period: Duration::from_nanos(c.period_ns),
            timing: if c.timing == 0 {
                Timing::Exact
            } else {
                Timing::Recent
            },
        }),
        _ => Verdict::broken("timing"),
    };
    let clock = manual_clock_new();
    let new = |out| seawall_rate_limiter_new(&c, clock, out);
    if let Some(l) = construct("seawall_rate_limit_config", &verdict, &c, new) {
        let mut back: seawall_rate_limit_config = std::mem::zeroed();
        assert_eq!(
            seawall_rate_limiter_get_config(l, &mut back),
            seawall_result::Ok
        );
        assert_eq!(back, c, "config reads back changed");
        let mut wait = 0xABu64;
        assert_eq!(seawall_rate_limiter_check(l, &mut wait), seawall_result::Ok);
        assert_eq!(wait, 0xAB, "wait written on success");
        seawall_rate_limiter_free(l);
    }
    seawall_manual_clock_free(clock);
}

unsafe fn bulkhead(fields: &[BulkheadField]) {
    let c = seawall_fuzz::c::bulkhead_config(fields);
    let verdict = bulkhead_verdict(&BulkheadConfig {
        max_concurrent: c.max_concurrent,
        max_queue_size: c.max_queue_size,
        timeout: Duration::from_nanos(c.timeout_ns),
    });
    // The production clock: nothing below waits.
    let new = |out| seawall_bulkhead_new(ptr::from_ref(&c).cast(), ptr::null(), out);
    if let Some(b) = construct("seawall_bulkhead_config", &verdict, &c, new) {
        let mut back: BulkheadConfigC = std::mem::zeroed();
        assert_eq!(
            seawall_bulkhead_get_config(b, ptr::from_mut(&mut back).cast()),
            seawall_result::Ok
        );
        assert_eq!(back, c, "config reads back changed");
        let mut n = 0u32;
        assert_eq!(
            seawall_bulkhead_available_permits(b, &mut n),
            seawall_result::Ok
        );
        assert_eq!(n, c.max_concurrent);
        let mut p: seawall_bulkhead_permit = std::mem::zeroed();
        assert_eq!(seawall_bulkhead_try_acquire(b, &mut p), seawall_result::Ok);
        assert_eq!(seawall_bulkhead_release(b, &mut p), seawall_result::Ok);
        seawall_bulkhead_free(b);
    }
}

unsafe fn budget(fields: &[BudgetField]) {
    let c = seawall_fuzz::c::budget_config(fields);
    let verdict = budget_verdict(&RetryBudgetConfig {
        budget_percent: c.budget_percent,
        min_requests: c.min_requests,
        window_size: Duration::from_nanos(c.window_size_ns),
        tokens_per_second: c.tokens_per_second,
        max_tokens: c.max_tokens,
    });
    let clock = manual_clock_new();
    let new = |out| seawall_retry_budget_new(&c, clock, out);
    if let Some(b) = construct("seawall_retry_budget_config", &verdict, &c, new) {
        let mut back: seawall_retry_budget_config = std::mem::zeroed();
        assert_eq!(
            seawall_retry_budget_get_config(b, &mut back),
            seawall_result::Ok
        );
        assert!(
            back.budget_percent.to_bits() == c.budget_percent.to_bits()
                && back.tokens_per_second.to_bits() == c.tokens_per_second.to_bits()
                && (back.min_requests, back.max_tokens, back.window_size_ns)
                    == (c.min_requests, c.max_tokens, c.window_size_ns),
            "config reads back changed: {c:?} -> {back:?}"
        );
        assert_eq!(
            seawall_retry_budget_record_attempt(b, false),
            seawall_result::Ok
        );
        let mut allowed = false;
        assert_eq!(
            seawall_retry_budget_can_retry(b, &mut allowed),
            seawall_result::Ok
        );
        let mut p = -1.0f64;
        assert_eq!(
            seawall_retry_budget_remaining_percent(b, &mut p),
            seawall_result::Ok
        );
        assert!((0.0..=100.0).contains(&p), "remaining_percent {p}");
        seawall_retry_budget_free(b);
    }
    seawall_manual_clock_free(clock);
}

unsafe fn retry(fields: &[RetryField], attempt: u32, previous: u64, unit: f64) {
    let c = seawall_fuzz::c::retry_config(fields);
    let core = STRATEGIES
        .get(c.strategy as usize)
        .map(|&strategy| RetryConfig {
            strategy,
            max_attempts: c.max_attempts,
            initial_delay: Duration::from_nanos(c.initial_delay_ns),
            max_delay: Duration::from_nanos(c.max_delay_ns),
            exponential_base: c.exponential_base,
            jitter_factor: c.jitter_factor,
            max_total_delay: (c.has_max_total_delay != 0)
                .then(|| Duration::from_nanos(c.max_total_delay_ns)),
        });
    let verdict = match &core {
        Some(core) => retry_verdict(core),
        None => Verdict::broken("strategy"),
    };
    let r = seawall_retry_config_validate(&c);
    let mut delay = 0xABu64;
    let d = seawall_retry_delay(&c, attempt, previous, unit, &mut delay);
    if r != seawall_result::Ok {
        check_refusal("seawall_retry_config (validate)", r, &verdict, &[]);
        check_refusal("seawall_retry_config (delay)", d, &verdict, &[]);
        assert_eq!(delay, 0xAB, "out written on failure");
        return;
    }
    check_accepted("seawall_retry_config", r, &verdict, &c);
    assert_ne!(
        d,
        seawall_result::InvalidConfig,
        "validate accepts what delay refuses: {c:?}"
    );
    if attempt == 0 || !(0.0..1.0).contains(&unit) {
        assert_eq!(
            d,
            seawall_result::InvalidArgument,
            "attempt {attempt}, unit {unit}"
        );
        assert_eq!(seawall_last_error(), seawall_result::InvalidArgument);
        assert_eq!(delay, 0xAB, "out written on failure");
        return;
    }
    assert_eq!(d, seawall_result::Ok);
    assert!(
        delay <= c.max_delay_ns,
        "delay {delay} above max_delay_ns: {c:?}"
    );
    let backoff = Backoff::new(core.expect("valid")).expect("the core accepts it too");
    let expected = backoff.delay(attempt, Duration::from_nanos(previous), unit);
    assert_eq!(
        u128::from(delay),
        expected.as_nanos(),
        "the C face and the core disagree"
    );
}
