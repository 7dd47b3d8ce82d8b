//! The C ABI driven as a C caller would drive it: the input is a sequence
//! of calls on the exported `seawall_*` functions (handles made, cloned and
//! freed; breakers from arbitrary config structs, alone or in registries;
//! permits acquired and reported, twice, on the wrong breaker, zeroed,
//! forged or copied; manual clocks moved to arbitrary times including near
//! `u64::MAX`; commands; metrics; names with arbitrary bytes and buffer
//! lengths; NULL where the header allows it; rate limiters, bulkheads, retry
//! budgets, back-off and retry states).
//!
//! After every call it checks what include/seawall.h promises:
//! - no crash, no undefined behaviour (ASan), no panic (libFuzzer aborts on
//!   the panic itself, before the catcher would turn it into
//!   SEAWALL_RESULT_PANIC);
//! - the result is one the header documents for that function and
//!   situation;
//! - outputs are written only on success (and the rejection only on
//!   SEAWALL_RESULT_REJECTED);
//! - failures set the last error to their code; successes and answers
//!   (REJECTED, RATE_LIMITED, BULKHEAD_FULL, BULKHEAD_TIMEOUT) leave it;
//! - a breaker's books balance: `permitted == successes + failures +
//!   ignored + late + permits outstanding`, `rejected` counts the
//!   rejections;
//! - a rejection says why and when: FORCED_OPEN exactly when
//!   `until_reset` and `retry_after_ns == UINT64_MAX`; OPEN with a
//!   retry_after in (0, longest open time]; HALF_OPEN within the trial
//!   batch's timeout; after waiting retry_after an OPEN breaker admits a
//!   trial;
//! - a breaker is never stuck OPEN: once the manual clock has moved past the
//!   longest open time (and a trial batch's timeout) a trial is admitted;
//! - a bulkhead counts its slots exactly; a rate limiter's refusal names a
//!   wait after which it admits; a retry budget keeps retries within
//!   requests and its remaining share in [0, 100];
//! - a retry state counts its attempts and total delay exactly, refuses a
//!   report with no attempt in progress, stops for the reasons the header
//!   gives (not retryable, the last attempt, the delay cap, the budget, a
//!   trial beyond `max_delay_ns`) and otherwise grants a delay within
//!   `max_delay_ns` (a breaker wait equal to the trial announced).
//!
//! The clock may be anywhere in `u64`, near `u64::MAX` included (the
//! `HighClock` step goes there directly).
//!
//! The driver is split by concept under `ffi_calls/`: `ops.rs` is the input
//! (its variants are the byte format of the corpus), `model.rs` what the
//! driver holds, `call.rs` the checks every call gets, and one module per
//! handle type (`clock.rs`, `breaker.rs` with `breaker_ops.rs`,
//! `registry.rs`, `rate_limiter.rs`, `bulkhead.rs`, `retry.rs`) plus
//! `errors.rs` for the messages and NULL handles.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seawall_ffi::*;

#[path = "ffi_calls/breaker.rs"]
mod breaker;
#[path = "ffi_calls/breaker_ops.rs"]
mod breaker_ops;
#[path = "ffi_calls/bulkhead.rs"]
mod bulkhead;
#[path = "ffi_calls/call.rs"]
mod call;
#[path = "ffi_calls/clock.rs"]
mod clock;
#[path = "ffi_calls/errors.rs"]
mod errors;
#[path = "ffi_calls/model.rs"]
mod model;
#[path = "ffi_calls/ops.rs"]
mod ops;
#[path = "ffi_calls/rate_limiter.rs"]
mod rate_limiter;
#[path = "ffi_calls/registry.rs"]
mod registry;
#[path = "ffi_calls/retry.rs"]
mod retry;

use call::last;
use model::World;
use ops::Op;

fuzz_target!(|ops: Vec<Op>| {
    let mut w = World::default();
    for op in ops.iter().take(200) {
        // SAFETY: the driver hands the C functions only live handles, NULL,
        // and pointers to live locals of the right types.
        unsafe { step(&mut w, op) };
    }
    // SAFETY: as above.
    unsafe { teardown(&mut w) };
});

unsafe fn teardown(w: &mut World) {
    for b in std::mem::take(&mut w.breakers) {
        unsafe { seawall_breaker_free(b) };
    }
    for r in std::mem::take(&mut w.registries) {
        unsafe { seawall_registry_free(r) };
    }
    for l in std::mem::take(&mut w.limiters) {
        unsafe { seawall_rate_limiter_free(l) };
    }
    for h in std::mem::take(&mut w.bulkheads) {
        unsafe { seawall_bulkhead_free(h) };
    }
    for (s, _) in std::mem::take(&mut w.states) {
        unsafe { seawall_retry_state_free(s) };
    }
    for g in std::mem::take(&mut w.budgets) {
        unsafe { seawall_retry_budget_free(g) };
    }
    for c in std::mem::take(&mut w.clocks) {
        unsafe { seawall_manual_clock_free(c) };
    }
}

/// One call of the input, by the module of its handle type.
unsafe fn step(w: &mut World, op: &Op) {
    let before = last();
    match op {
        Op::ClockNew { .. }
        | Op::ClockFree { .. }
        | Op::ClockAdvance { .. }
        | Op::ClockSet { .. }
        | Op::ClockNow { .. } => unsafe { clock::step(w, op, before) },
        Op::BreakerNew { .. }
        | Op::BreakerClone { .. }
        | Op::BreakerFree { .. }
        | Op::Acquire { .. }
        | Op::Report { .. }
        | Op::ForgePermit { .. }
        | Op::Command { .. }
        | Op::Metrics { .. }
        | Op::State { .. }
        | Op::Name { .. }
        | Op::Config { .. }
        | Op::Listener { .. }
        | Op::Trip { .. }
        | Op::HighClock { .. }
        | Op::NotStuck { .. }
        | Op::WaitRetryAfter { .. } => unsafe { breaker_ops::step(w, op, before) },
        Op::RegistryNew { .. }
        | Op::RegistryClone { .. }
        | Op::RegistryFree { .. }
        | Op::RegistryGetOrCreate { .. }
        | Op::RegistryGet { .. }
        | Op::RegistryRemove { .. }
        | Op::RegistryCount { .. }
        | Op::RegistryForEach { .. } => unsafe { registry::step(w, op, before) },
        Op::LimiterNew { .. }
        | Op::LimiterClone { .. }
        | Op::LimiterFree { .. }
        | Op::LimiterCheck { .. } => unsafe { rate_limiter::step(w, op, before) },
        Op::BulkheadNew { .. }
        | Op::BulkheadClone { .. }
        | Op::BulkheadFree { .. }
        | Op::BulkheadTryAcquire { .. }
        | Op::BulkheadAcquire { .. }
        | Op::BulkheadRelease { .. }
        | Op::BulkheadForge { .. }
        | Op::BulkheadCounts { .. } => unsafe { bulkhead::step(w, op, before) },
        Op::BudgetNew { .. }
        | Op::BudgetClone { .. }
        | Op::BudgetFree { .. }
        | Op::BudgetRecord { .. }
        | Op::BudgetCanRetry { .. }
        | Op::BudgetReport { .. }
        | Op::RetryDelay { .. }
        | Op::RetryStateNew { .. }
        | Op::RetryStateFree { .. }
        | Op::RetryStateBegin { .. }
        | Op::RetryStateFailed { .. }
        | Op::RetryStateRejected { .. } => unsafe { retry::step(w, op, before) },
        Op::ResultMessage { .. }
        | Op::LastErrorMessage { .. }
        | Op::StateName { .. }
        | Op::NullHandle { .. } => unsafe { errors::step(op, before) },
    }
}
