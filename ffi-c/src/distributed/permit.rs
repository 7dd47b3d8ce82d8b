//! The distributed breaker's permit protocol: the local breaker's
//! (`crate::breaker::permit`) with the same `seawall_permit`, which also
//! carries the fleet trial permit a call may hold (status `ISSUED_TRIAL`,
//! its generation tag in `trial`).

use std::time::Duration;

use seawall::Outcome;
use seawall_distributed::FleetTicket;

use super::breaker::{seawall_distributed_breaker, CFleetBreaker};
use crate::breaker::permit::{outcome_arg, permit_error, rejected, ISSUED, ISSUED_TRIAL, REPORTED};
use crate::breaker::{seawall_permit, seawall_rejection};
use crate::error::{check, check_optional, fail, run_code, seawall_result};
use crate::handle;

/// Asks for permission to make one call: the stricter of the fleet and the
/// local breaker. As `seawall_breaker_try_acquire`: `SEAWALL_RESULT_OK` with
/// `*out_permit` written (report it once with
/// `seawall_distributed_breaker_report_*` on this breaker), or
/// `SEAWALL_RESULT_REJECTED` with `*out_rejection` written if not NULL (an
/// answer: the last error is left alone). Never waits for the store.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `out_permit` is NULL or valid for a
/// write; `out_rejection` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_try_acquire(
    breaker: *const seawall_distributed_breaker,
    out_permit: *mut seawall_permit,
    out_rejection: *mut seawall_rejection,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_try_acquire";
    run_code(F, || {
        // SAFETY: `breaker` is NULL or a live handle (this function's
        // contract).
        let b = match unsafe { handle::borrow(breaker, F) } {
            Ok(b) => b,
            Err(e) => return fail(e),
        };
        // Checked before acquiring, so no permit is taken that could not be
        // handed out.
        if let Err(e) = check(out_permit, F, "out_permit") {
            return fail(e);
        }
        if let Err(e) = check_optional(out_rejection, F, "out_rejection") {
            return fail(e);
        }
        match b.try_acquire() {
            Ok(p) => {
                let (episode, start, trial) = p.into_ticket().into_parts();
                let permit = seawall_permit {
                    episode,
                    status: if trial.is_some() {
                        ISSUED_TRIAL
                    } else {
                        ISSUED
                    },
                    trial: trial.unwrap_or(0),
                    start,
                    owner: b as *const CFleetBreaker as usize,
                };
                // SAFETY: checked non-NULL and aligned; valid by the
                // contract.
                unsafe { out_permit.write(permit) };
                seawall_result::Ok
            }
            // SAFETY: `out_rejection` is NULL or checked aligned, and valid
            // by the contract.
            Err(r) => unsafe { rejected(r, out_rejection) },
        }
    })
}

/// Reports `outcome` for the permit; `duration` overrides the call's
/// measured duration.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes.
#[inline(always)]
unsafe fn report(
    func: &'static str,
    breaker: *const seawall_distributed_breaker,
    permit: *mut seawall_permit,
    outcome: Outcome,
    duration: Option<u64>,
) -> seawall_result {
    // SAFETY: `breaker` is NULL or a live handle (the caller's contract).
    let b = match unsafe { handle::borrow(breaker, func) } {
        Ok(b) => b,
        Err(e) => return fail(e),
    };
    if let Err(e) = check(permit, func, "permit") {
        return fail(e);
    }
    // SAFETY: checked non-NULL and aligned; valid and not otherwise
    // referenced during this call by the contract.
    let p = unsafe { &mut *permit };
    let trial = match p.status {
        ISSUED => None,
        ISSUED_TRIAL => Some(p.trial),
        status => return fail(permit_error(func, status)),
    };
    if p.owner != b as *const CFleetBreaker as usize {
        return fail(permit_error(func, p.status));
    }
    p.status = REPORTED;
    let ticket = FleetTicket::from_parts(p.episode, p.start, trial);
    match duration {
        None => b.record(ticket, outcome),
        Some(d) => b.record_elapsed(ticket, outcome, Duration::from_nanos(d)),
    }
    seawall_result::Ok
}

/// Reports that the call made under `*permit` succeeded, and marks the
/// permit reported.
///
/// # Safety
///
/// `breaker` is NULL or a live handle; `permit` is NULL or valid for reads
/// and writes.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_report_success(
    breaker: *const seawall_distributed_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_report_success";
    // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
    // for reads and writes (this function's contract).
    run_code(F, || unsafe {
        report(F, breaker, permit, Outcome::Success, None)
    })
}

/// Reports that the call made under `*permit` failed, and marks the permit
/// reported. A burst of failures makes the coordinator flush at once.
///
/// # Safety
///
/// As `seawall_distributed_breaker_report_success`.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_report_failure(
    breaker: *const seawall_distributed_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_report_failure";
    // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
    // for reads and writes (this function's contract).
    run_code(F, || unsafe {
        report(F, breaker, permit, Outcome::Failure, None)
    })
}

/// Reports the call made under `*permit` as neither success nor failure
/// (frees a local or fleet trial permit), and marks the permit reported.
///
/// # Safety
///
/// As `seawall_distributed_breaker_report_success`.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_report_ignored(
    breaker: *const seawall_distributed_breaker,
    permit: *mut seawall_permit,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_report_ignored";
    // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
    // for reads and writes (this function's contract).
    run_code(F, || unsafe {
        report(F, breaker, permit, Outcome::Ignored, None)
    })
}

/// As `seawall_breaker_report`: reports `outcome` (a `seawall_outcome`) for
/// a call that lasted `duration_ns` nanoseconds as the caller measured it.
/// An unknown `outcome` returns `SEAWALL_RESULT_INVALID_ARGUMENT` and leaves
/// the permit unreported.
///
/// # Safety
///
/// As `seawall_distributed_breaker_report_success`.
#[no_mangle]
pub unsafe extern "C" fn seawall_distributed_breaker_report(
    breaker: *const seawall_distributed_breaker,
    permit: *mut seawall_permit,
    outcome: u32,
    duration_ns: u64,
) -> seawall_result {
    const F: &str = "seawall_distributed_breaker_report";
    run_code(F, || {
        let outcome = match outcome_arg(F, outcome) {
            Ok(o) => o,
            Err(e) => return fail(e),
        };
        // SAFETY: `breaker` is NULL or a live handle, `permit` NULL or valid
        // for reads and writes (this function's contract).
        unsafe { report(F, breaker, permit, outcome, Some(duration_ns)) }
    })
}
